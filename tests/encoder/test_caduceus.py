"""Caduceus modules: published parameter counts and names, mixer semantics, RC equivariance,
the fused-add-norm quirk of the released PS model, initialisation, configuration parsing."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from crelens.encoder.caduceus import (
    Caduceus,
    CaduceusConfig,
    CaduceusForMaskedLM,
    Mamba,
    RCPSMambaBlock,
    encode_rc_invariant,
    flip_lc,
    rc_invariant_features,
    swap_halves,
)
from crelens.encoder.scan import selective_scan_sequential
from crelens.encoder.tokenizer import complement_map_tensor, reverse_complement_ids
from crelens.errors import InputError
from crelens.parameters import count_parameters

RTOL, ATOL = 6e-4, 2e-3  # fp32 tolerances of the official RC-equivariance tests
CM = complement_map_tensor()

PUBLISHED_HF_CONFIG = {
    "architectures": ["CaduceusForMaskedLM"],
    "model_type": "caduceus",
    "d_model": 256,
    "n_layer": 16,
    "vocab_size": 16,
    "pad_vocab_size_multiple": 8,
    "ssm_cfg": {
        "d_state": 16,
        "d_conv": 4,
        "expand": 2,
        "dt_rank": "auto",
        "dt_min": 0.001,
        "dt_max": 0.1,
        "dt_init": "random",
        "dt_scale": 1.0,
        "dt_init_floor": 1e-4,
        "conv_bias": True,
        "bias": False,
        "use_fast_path": True,
    },
    "rms_norm": True,
    "residual_in_fp32": False,
    "fused_add_norm": True,
    "norm_epsilon": 1e-5,
    "initializer_cfg": {"initializer_range": 0.02, "n_residuals_per_layer": 1, "rescale_prenorm_residual": True},
    "bidirectional": True,
    "bidirectional_strategy": "add",
    "bidirectional_weight_tie": True,
    "rcps": True,
    "complement_map": {str(i): int(CM[i]) for i in range(16)},
}


def small_config(rcps=True, **kw):
    return CaduceusConfig(d_model=32, n_layer=2, rcps=rcps, **kw)


@torch.no_grad()
def randomize(model, seed=0):
    """Non-trivial weights everywhere, norm weights far from 1, still a sane (finite) network."""
    g = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        noise = torch.randn(p.shape, generator=g)
        if name.endswith("norm.weight") or name.endswith("norm_f.weight") or name.endswith("submodule.weight"):
            p.copy_(1 + 0.5 * noise)
        elif name.endswith("A_log"):
            p.add_(0.3 * noise)
        elif name.endswith("dt_proj.bias"):
            p.copy_(-3 + 0.5 * noise)
        elif name.endswith(".D"):
            p.copy_(1 + 0.3 * noise)
        else:
            p.copy_(noise * (1.0 / math.sqrt(max(p.shape[-1], 1))))
    return model


def random_ids(batch=2, length=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(7, 11, (batch, length), generator=g)


# --- parameter counts and names -------------------------------------------------------------


@pytest.mark.parametrize("rcps", [True, False])
@pytest.mark.parametrize(
    "d_model, n_layer, expected",
    [(256, 16, 7_725_312), (256, 4, 1_934_592), (118, 4, 470_702)],
)
def test_published_parameter_counts(rcps, d_model, n_layer, expected):
    # RCPS shares parameters between strands, so PS and PH of the same size have equal counts.
    model = CaduceusForMaskedLM(CaduceusConfig(d_model=d_model, n_layer=n_layer, rcps=rcps), init=False)
    assert count_parameters(model, trainable=False) == expected
    assert count_parameters(model.caduceus, trainable=False) == expected  # the LM head is tied to the embedding


def test_per_layer_parameter_count():
    model = Caduceus(CaduceusConfig(d_model=256, n_layer=1, rcps=True), init=False)
    layer = model.backbone.layers[0]
    mixer = layer.mixer.submodule
    assert count_parameters(mixer.mamba_fwd, trainable=False) == 437_760
    assert count_parameters(layer, trainable=False) == 482_560


def test_ps_key_names_and_aliases():
    model = CaduceusForMaskedLM(small_config(rcps=True))
    keys = set(model.state_dict())
    prefix = "caduceus.backbone."
    assert {
        prefix + "embeddings.word_embeddings.complement_map",
        prefix + "embeddings.word_embeddings.embedding.weight",
        prefix + "layers.0.norm.weight",
        prefix + "norm_f.weight",
        prefix + "layers.1.mixer.submodule.mamba_fwd.A_log",
        prefix + "layers.1.mixer.submodule.mamba_rev.dt_proj.bias",
        "lm_head.complement_map",
    } <= keys
    aliases = model.alias_keys()
    assert set(aliases) == {
        f"{prefix}layers.{i}.mixer.submodule.mamba_rev.{p}.weight" for i in range(2) for p in ("in_proj", "out_proj")
    } | {"lm_head.lm_head.weight"}
    assert aliases["lm_head.lm_head.weight"] == prefix + "embeddings.word_embeddings.embedding.weight"
    layer = model.caduceus.backbone.layers[0].mixer.submodule
    assert layer.mamba_rev.in_proj.weight is layer.mamba_fwd.in_proj.weight
    assert layer.mamba_rev.out_proj.weight is layer.mamba_fwd.out_proj.weight
    assert layer.mamba_rev.conv1d.weight is not layer.mamba_fwd.conv1d.weight
    assert model.lm_head.lm_head.weight is model.caduceus.backbone.embeddings.word_embeddings.embedding.weight


def test_ph_key_names_and_base_model_prefix():
    model = CaduceusForMaskedLM(small_config(rcps=False))
    keys = set(model.state_dict())
    assert "caduceus.backbone.embeddings.word_embeddings.weight" in keys
    assert "caduceus.backbone.layers.0.mixer.mamba_fwd.in_proj.weight" in keys
    assert not any("complement_map" in k for k in keys)
    assert set(model.alias_keys()) == {
        f"caduceus.backbone.layers.{i}.mixer.mamba_rev.{p}.weight" for i in range(2) for p in ("in_proj", "out_proj")
    } | {"lm_head.weight"}
    base = Caduceus(small_config(rcps=True))
    assert all(k.startswith("backbone.") for k in base.state_dict())


# --- mixer semantics -------------------------------------------------------------------------


def reference_mamba(m: Mamba, h: torch.Tensor) -> torch.Tensor:
    """The sheet's formula written out, with the sequential scan."""
    L = h.shape[1]
    xz = h @ m.in_proj.weight.T
    x, z = xz[..., : m.d_inner], xz[..., m.d_inner :]
    x = F.conv1d(
        x.transpose(1, 2), m.conv1d.weight, m.conv1d.bias, padding=m.conv1d.weight.shape[-1] - 1, groups=m.d_inner
    )
    x = F.silu(x[..., :L])  # (B, E, L)
    x_dbl = x.transpose(1, 2) @ m.x_proj.weight.T
    dt, B, C = torch.split(x_dbl, [m.dt_rank, m.d_state, m.d_state], dim=-1)
    dt = dt @ m.dt_proj.weight.T
    delta = F.softplus(dt + m.dt_proj.bias).transpose(1, 2)
    y = selective_scan_sequential(x, delta, -torch.exp(m.A_log), B.transpose(1, 2), C.transpose(1, 2), m.D)
    y = y * F.silu(z.transpose(1, 2))
    return y.transpose(1, 2) @ m.out_proj.weight.T


def test_mamba_mixer_matches_formula():
    torch.manual_seed(0)
    cfg = small_config()
    mixer = Mamba(cfg.d_model, cfg.ssm_cfg)
    randomize(mixer)
    h = torch.randn(2, 40, cfg.d_model)
    with torch.no_grad():
        torch.testing.assert_close(mixer(h), reference_mamba(mixer, h), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("reverse", [False, True])
def test_mamba_mixer_gradients_match_formula(reverse):
    """Gradients through our conv, scan Function and gate equal those of the plain formula."""
    cfg = small_config()
    mixer = randomize(Mamba(cfg.d_model, cfg.ssm_cfg), seed=12)
    h = torch.randn(2, 23, cfg.d_model, requires_grad=True)
    weights = torch.randn(2, 23, cfg.d_model)
    params = [h, *mixer.parameters()]
    ours = torch.autograd.grad((mixer(h, reverse=reverse) * weights).sum(), params)
    if reverse:
        ref_out = reference_mamba(mixer, h.flip(1)).flip(1)
    else:
        ref_out = reference_mamba(mixer, h)
    expected = torch.autograd.grad((ref_out * weights).sum(), params)
    names = ["input"] + [n for n, _ in mixer.named_parameters()]
    for name, a, e in zip(names, ours, expected):
        torch.testing.assert_close(a, e, rtol=1e-4, atol=1e-5 * e.abs().max().item(), msg=name)


def test_mamba_reverse_is_flip_conjugate():
    cfg = small_config()
    mixer = randomize(Mamba(cfg.d_model, cfg.ssm_cfg), seed=2)
    h = torch.randn(2, 33, cfg.d_model)
    with torch.no_grad():
        expected = reference_mamba(mixer, h.flip(1)).flip(1)
        torch.testing.assert_close(mixer(h, reverse=True), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("weight_tie, strategy", [(True, "add"), (False, "add"), (True, "ew_multiply")])
def test_bidirectional_semantics(weight_tie, strategy):
    cfg = small_config(rcps=False, bidirectional_weight_tie=weight_tie, bidirectional_strategy=strategy)
    model = randomize(Caduceus(cfg))
    wrapper = model.backbone.layers[0].mixer
    assert wrapper.shares_projections() == weight_tie
    h = torch.randn(1, 30, 32)
    with torch.no_grad():
        fwd = reference_mamba(wrapper.mamba_fwd, h)
        rev = reference_mamba(wrapper.mamba_rev, h.flip(1)).flip(1)
        expected = fwd + rev if strategy == "add" else fwd * rev
        torch.testing.assert_close(wrapper(h), expected, rtol=1e-5, atol=1e-5)


def test_unidirectional_model():
    model = randomize(CaduceusForMaskedLM(small_config(rcps=True, bidirectional=False)))
    assert not any("mamba_rev" in k for k in model.state_dict())
    ids = random_ids()
    with torch.no_grad():
        torch.testing.assert_close(
            model(reverse_complement_ids(ids)).flip(1)[..., CM], model(ids), rtol=RTOL, atol=ATOL
        )


# --- RC equivariance -------------------------------------------------------------------------


@pytest.mark.parametrize("random_weights", [False, True])
def test_ps_backbone_and_logits_are_rc_equivariant(random_weights):
    torch.manual_seed(1)
    model = CaduceusForMaskedLM(small_config(rcps=True))
    if random_weights:
        randomize(model, seed=3)
    ids = random_ids()
    rc = reverse_complement_ids(ids)
    with torch.no_grad():
        out, out_rc = model.caduceus(ids), model.caduceus(rc)
        assert out.shape == (2, 50, 64)
        torch.testing.assert_close(out_rc, flip_lc(out), rtol=RTOL, atol=ATOL)
        logits, logits_rc = model(ids), model(rc)
        assert logits.shape == (2, 50, 16)
        torch.testing.assert_close(logits, logits_rc.flip(1)[..., CM], rtol=RTOL, atol=ATOL)


def test_ps_per_nucleotide_feature_is_strand_invariant():
    model = randomize(Caduceus(small_config(rcps=True)), seed=4)
    ids = random_ids(length=37)
    with torch.no_grad():
        f = rc_invariant_features(model(ids), 32)
        f_rc = rc_invariant_features(model(reverse_complement_ids(ids)), 32)
        assert f.shape == (2, 37, 32)
        torch.testing.assert_close(f_rc.flip(1), f, rtol=RTOL, atol=ATOL)  # f(rc x)[L-1-i] == f(x)[i]
        torch.testing.assert_close(encode_rc_invariant(model, ids), f)


def test_ph_is_rc_invariant_only_by_conjoining():
    model = randomize(CaduceusForMaskedLM(small_config(rcps=False)), seed=5)
    ids = random_ids()
    rc = reverse_complement_ids(ids)
    with torch.no_grad():
        out, out_rc = model.caduceus(ids), model.caduceus(rc)
        assert out.shape == (2, 50, 32)
        assert (out_rc.flip(1) - out).abs().max() > 10 * ATOL  # a plain model is not equivariant
        f, f_rc = encode_rc_invariant(model, ids), encode_rc_invariant(model, rc)
        torch.testing.assert_close(f_rc.flip(1), f, rtol=RTOL, atol=ATOL)
        torch.testing.assert_close(f, rc_invariant_features(out, 32, out_rc))


def test_rc_invariant_features_rejects_wrong_widths():
    with pytest.raises(ValueError, match="hidden_rc"):
        rc_invariant_features(torch.zeros(1, 5, 32), 32)
    with pytest.raises(ValueError, match="conjoining"):
        rc_invariant_features(torch.zeros(1, 5, 64), 32, torch.zeros(1, 5, 64))


# --- fused vs unfused add-norm ---------------------------------------------------------------


def unfused_copy(model, rcps):
    """Same weights in a fused_add_norm=False model (PS norm keys gain `.submodule`)."""
    cfg = small_config(rcps=rcps, fused_add_norm=False)
    other = CaduceusForMaskedLM(cfg, init=False)
    state = {}
    for key, value in model.state_dict().items():
        if rcps and (key.endswith(".norm.weight") or key.endswith("norm_f.weight")):
            key = key.replace("norm.weight", "norm.submodule.weight").replace(
                "norm_f.weight", "norm_f.submodule.weight"
            )
        state[key] = value
    other.load_state_dict(state, strict=True)
    return other


def test_ps_fused_differs_from_unfused_and_both_are_equivariant():
    fused = randomize(CaduceusForMaskedLM(small_config(rcps=True)), seed=6)
    unfused = unfused_copy(fused, rcps=True)
    assert "caduceus.backbone.layers.0.norm.submodule.weight" in unfused.state_dict()
    ids = random_ids()
    rc = reverse_complement_ids(ids)
    with torch.no_grad():
        a, b = fused.caduceus(ids), unfused.caduceus(ids)
        assert (a - b).abs().max() > 100 * ATOL, "fused and unfused PS blocks must be different functions"
        torch.testing.assert_close(unfused.caduceus(rc), flip_lc(b), rtol=RTOL, atol=ATOL)


def test_ps_fused_block_is_unfused_block_on_swapped_halves():
    cfg = small_config(rcps=True)
    fused = RCPSMambaBlock(32, Caduceus(cfg).backbone.layers[0].mixer.submodule, 1e-5, fused_add_norm=True)
    unfused = RCPSMambaBlock(32, fused.mixer.submodule, 1e-5, fused_add_norm=False)
    randomize(fused, seed=7)
    unfused.norm.submodule.weight = fused.norm.weight
    h, r = torch.randn(2, 20, 64), torch.randn(2, 20, 64)
    with torch.no_grad():
        h_f, r_f = fused(h, r)
        h_u, r_u = unfused(swap_halves(h), swap_halves(r))
        torch.testing.assert_close(h_f, h_u)
        torch.testing.assert_close(r_f, r_u)
        h0_f, _ = fused(h)  # layer 0: no residual
        h0_u, _ = unfused(swap_halves(h))
        torch.testing.assert_close(h0_f, h0_u)


def test_ph_fused_equals_unfused():
    fused = randomize(CaduceusForMaskedLM(small_config(rcps=False)), seed=8)
    unfused = unfused_copy(fused, rcps=False)
    ids = random_ids()
    with torch.no_grad():
        torch.testing.assert_close(fused(ids), unfused(ids), rtol=0, atol=0)


# --- initialisation, training sanity, embeddings input --------------------------------------


def test_mamba_style_initialisation():
    cfg = CaduceusConfig(d_model=64, n_layer=4, rcps=True)
    model = CaduceusForMaskedLM(cfg)
    mixer = model.caduceus.backbone.layers[0].mixer.submodule.mamba_fwd
    n = cfg.ssm_cfg.d_state
    torch.testing.assert_close(mixer.A_log.data, torch.log(torch.arange(1, n + 1.0)).repeat(mixer.d_inner, 1))
    assert torch.all(mixer.D.data == 1)
    dt = F.softplus(mixer.dt_proj.bias.data)
    assert dt.min() >= cfg.ssm_cfg.dt_init_floor * 0.999 and dt.max() <= cfg.ssm_cfg.dt_max * 1.001
    bound = mixer.dt_rank**-0.5
    assert mixer.dt_proj.weight.abs().max() <= bound
    # out_proj: Kaiming-uniform bound 1/sqrt(fan_in), scaled by 1/sqrt(n_layer)
    assert mixer.out_proj.weight.abs().max() <= 1 / math.sqrt(mixer.d_inner) / math.sqrt(cfg.n_layer) + 1e-7
    emb = model.caduceus.backbone.embeddings.word_embeddings.embedding.weight
    assert 0.01 < emb.std().item() < 0.04
    assert torch.all(model.caduceus.backbone.norm_f.weight.data == 1)


def test_gradients_reach_every_parameter():
    """In float64, so that "reaches" means far above round-off (~1e-16 of the largest gradient),
    not a round-off residue of a gradient that is zero analytically."""
    model = CaduceusForMaskedLM(small_config(rcps=True)).double()
    ids = random_ids(length=24)
    loss = F.cross_entropy(model(ids).flatten(0, 1), ids.flatten())
    loss.backward()
    largest = max(p.grad.abs().max().item() for p in model.parameters())
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().max() > 1e-8 * largest, name


def test_inputs_embeds_equals_ids():
    model = randomize(Caduceus(small_config(rcps=True)), seed=9)
    ids = random_ids(length=16)
    with torch.no_grad():
        embeds = model.backbone.embeddings(ids)
        assert embeds.shape == (2, 16, 64)
        torch.testing.assert_close(model(inputs_embeds=embeds), model(ids))


# --- configuration ---------------------------------------------------------------------------


def test_from_hf_dict_published_fields():
    cfg = CaduceusConfig.from_hf_dict(PUBLISHED_HF_CONFIG)
    assert (cfg.d_model, cfg.n_layer, cfg.rcps, cfg.fused_add_norm) == (256, 16, True, True)
    assert cfg.ssm_cfg.rank(cfg.d_model) == 16
    assert cfg.padded_vocab_size == 16 and cfg.hidden_size == 512
    assert torch.equal(cfg.complement_map_tensor(), CM)
    again = CaduceusConfig.from_hf_dict(cfg.to_hf_dict())
    assert again == cfg


def test_vocab_padding():
    cfg = CaduceusConfig(d_model=8, n_layer=1, vocab_size=12)
    assert cfg.padded_vocab_size == 16


@pytest.mark.parametrize(
    "change, message",
    [
        ({"rms_norm": False}, "rms_norm"),
        ({"bidirectional_strategy": "concat"}, "bidirectional_strategy"),
        ({"ssm_cfg": {"dt_init": "fancy"}}, "dt_init"),
        ({"d_model": 0}, "d_model"),
        ({"fused_add_norm": "yes"}, "fused_add_norm"),
        ({"complement_map": {"7": 10}}, "involution"),
        ({"model_type": "mamba"}, "model_type"),
    ],
)
def test_from_hf_dict_rejects_unsupported_values(change, message):
    data = dict(PUBLISHED_HF_CONFIG)
    data.update(change)
    with pytest.raises(InputError, match=message):
        CaduceusConfig.from_hf_dict(data, source="config.json")


def test_from_hf_dict_warns_on_unknown_field():
    data = dict(PUBLISHED_HF_CONFIG, some_new_field=1)
    with pytest.warns(UserWarning, match="some_new_field"):
        CaduceusConfig.from_hf_dict(data)


def test_load_pretrained_gives_the_masked_lm_with_a_backbone(tmp_path):
    from crelens.encoder.caduceus import CaduceusConfig, CaduceusForMaskedLM, load_pretrained
    from crelens.encoder.hub import save_caduceus

    torch.manual_seed(0)
    for rcps in (True, False):
        model = CaduceusForMaskedLM(CaduceusConfig(d_model=8, n_layer=2, rcps=rcps))
        save_caduceus(model, tmp_path / str(rcps))
        loaded = load_pretrained(tmp_path / str(rcps))
        assert not loaded.training
        ids = torch.randint(7, 11, (2, 30))
        assert loaded(ids).shape == (2, 30, 16)
        hidden = loaded.backbone(ids)
        assert hidden.shape == (2, 30, 16 if rcps else 8)
        assert not any(k.startswith("backbone.") for k in loaded.state_dict())
        # a backbone-only checkpoint still gives the masked-LM (the head is tied to the embedding)
        save_caduceus(model.caduceus, tmp_path / f"base{rcps}")
        base = load_pretrained(tmp_path / f"base{rcps}")
        torch.testing.assert_close(base(ids), loaded(ids))
