"""Caduceus through transformers (crelens.encoder.transformers_models): a snapshot folder with the
published key set and random values loads with AutoModelForMaskedLM after `import crelens`, without
trust_remote_code, gives crelens' numbers, and survives save_pretrained."""

from __future__ import annotations

import json
import warnings

import pytest
import torch
import transformers

from crelens.encoder.caduceus import CaduceusConfig, CaduceusForMaskedLM
from crelens.encoder.hub import load_caduceus
from crelens.encoder.tokenizer import CaduceusTokenizer

from helpers import published_config_json, random_checkpoint_state, write_folder


def snapshot(tmp_path, rcps: bool, d_model=16, n_layer=2, backbone=False):
    """A published-layout folder (config.json with auto_map + model.safetensors without aliases)."""
    config = published_config_json(d_model=d_model, n_layer=n_layer, rcps=rcps)
    model = CaduceusForMaskedLM(CaduceusConfig.from_hf_dict(config), init=False)
    state = random_checkpoint_state(model)
    if backbone:
        config["architectures"] = ["Caduceus"]
        state = {k.removeprefix("caduceus."): v for k, v in state.items() if k.startswith("caduceus.")}
    return write_folder(tmp_path / ("ps" if rcps else "ph"), config, state)


def ids(batch=2, length=48):
    seqs = ["".join("ACGT"[(i * 7 + j * 3 + i * j) % 4] for j in range(length)) for i in range(batch)]
    return CaduceusTokenizer().encode(seqs)


@pytest.mark.parametrize(("rcps", "size"), [(True, (256, 16)), (False, (16, 2))], ids=["PS-published-size", "PH-small"])
def test_auto_masked_lm_loads_the_published_layout_and_round_trips(tmp_path, rcps, size):
    folder = snapshot(tmp_path, rcps, *size)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "missing keys" report, no remote-code prompt
        model, info = transformers.AutoModelForMaskedLM.from_pretrained(folder, output_loading_info=True)
    assert type(model).__name__ == "CaduceusTransformersForMaskedLM"
    if size == (256, 16):
        assert sum(p.numel() for p in model.parameters()) == 7_725_312  # the published model's count
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    model.eval()
    x = ids()
    reference = load_caduceus(folder)
    with torch.no_grad():
        ours, theirs = reference(x), model(input_ids=x).logits
    assert torch.allclose(theirs, ours, atol=1e-6, rtol=0), (theirs - ours).abs().max()

    layer = model.caduceus.backbone.layers[1].mixer
    layer = layer.submodule if rcps else layer
    assert layer.mamba_rev.in_proj.weight is layer.mamba_fwd.in_proj.weight  # aliases re-tied, not copies
    head = model.lm_head.lm_head.weight if rcps else model.lm_head.weight
    embedding = model.caduceus.backbone.embeddings.word_embeddings
    assert head is (embedding.embedding.weight if rcps else embedding.weight)

    saved = model.save_pretrained(tmp_path / "saved") or tmp_path / "saved"
    written = json.loads((saved / "config.json").read_text())
    assert written["model_type"] == "caduceus" and "auto_map" not in written
    from safetensors.torch import load_file

    assert set(load_file(saved / "model.safetensors")) == set(load_file(folder / "model.safetensors"))
    again = transformers.AutoModelForMaskedLM.from_pretrained(saved).eval()
    with torch.no_grad():
        assert torch.equal(again(input_ids=x).logits, theirs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every field transformers writes is known to crelens' loader
        assert torch.allclose(load_caduceus(saved)(x), ours, atol=1e-6, rtol=0)


def test_auto_model_loads_the_bare_backbone(tmp_path):
    folder = snapshot(tmp_path, rcps=True, backbone=True)
    model, info = transformers.AutoModel.from_pretrained(folder, output_loading_info=True)
    assert type(model).__name__ == "CaduceusTransformersModel" and not info["missing_keys"], info
    x = ids()
    with torch.no_grad():
        hidden = model.eval()(input_ids=x).last_hidden_state
        assert torch.allclose(hidden, load_caduceus(folder)(x), atol=1e-6, rtol=0)
        assert torch.equal(model.crelens_model()(x), hidden)  # one implementation, shared parameters


def test_masked_lm_loss_ignores_unmasked_positions(tmp_path):
    model = transformers.AutoModelForMaskedLM.from_pretrained(snapshot(tmp_path, rcps=True)).eval()
    x = ids()
    labels = torch.full_like(x, -100)
    labels[:, 5] = x[:, 5]
    out = model(input_ids=x, labels=labels)
    expected = torch.nn.functional.cross_entropy(out.logits[:, 5], x[:, 5])
    assert torch.allclose(out.loss, expected)


def test_mambalrp_explains_a_transformers_loaded_backbone_with_conservation(tmp_path):
    """The LRP rules act on the same modules: relevance of a head on the transformers model's
    backbone is conserved as on a crelens-loaded one."""
    from crelens.attribution.explained import CaduceusHeadModel
    from crelens.attribution.lrp import conservation_frame, lrp
    from crelens.models.heads import build_head

    model = transformers.AutoModel.from_pretrained(snapshot(tmp_path, rcps=True, backbone=True))
    torch.manual_seed(0)
    explained = CaduceusHeadModel(model.backbone, build_head("mean", 4, 16, 2), 4, ["K562", "HepG2"]).double().eval()
    seqs = ["".join("ACGT"[(i * 5 + j * j) % 4] for j in range(40)) for i in range(3)]
    result = lrp(explained, explained.inputs(seqs))
    frame = conservation_frame(result, ["a", "b", "c"], explained.output_names)
    assert frame["rel_err"].max() < 1e-10
