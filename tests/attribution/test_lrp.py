"""MambaLRP on the full Caduceus encoder + every head type (float64)."""

import numpy as np
import pytest
import torch

from crelens.attribution.explained import CaduceusHeadModel
from crelens.attribution.lrp import conservation_frame, conservation_summary, lrp
from crelens.encoder.caduceus import Caduceus, CaduceusConfig
from crelens.models.heads import build_head
from crelens.names import HEAD_KINDS
from crelens.sequences import reverse_complement

BINS, LENGTH = 6, 48


def random_seqs(n, seed):
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), LENGTH)) for _ in range(n)]


def build(kind, rcps=True, biases=True, seed=0):
    torch.manual_seed(seed)
    config = CaduceusConfig(d_model=8, n_layer=2, rcps=rcps, ssm_cfg={"d_state": 4, "bias": True})
    backbone = Caduceus(config).backbone
    model = CaduceusHeadModel(backbone, build_head(kind, BINS, 8, 3), BINS, ["K562", "HepG2", "WTC11"]).double().eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("bias") and "dt_proj" not in name:  # dt_proj's bias only feeds detached Δ
                param.normal_(0, 0.3) if biases else param.zero_()
    return model


@pytest.mark.parametrize("rcps", [True, False], ids=["PS", "PH"])
@pytest.mark.parametrize("kind", HEAD_KINDS)
def test_accounting_identity_holds_with_biases(kind, rcps):
    model = build(kind, rcps)
    seqs = random_seqs(3, 1)
    result = lrp(model, model.inputs(seqs))
    frame = conservation_frame(result, [f"s{i}" for i in range(3)], model.output_names)
    assert len(frame) == 9
    assert frame["rel_err"].max() < 1e-10
    # the biases really take a share (the identity is not trivially Σ R = f)
    absorbed = frame.filter(like="absorbed_").abs().sum(axis=1)
    assert (absorbed > 1e-3).all()
    assert {"absorbed_encoder_conv_bias", "absorbed_head_bias"} <= set(frame.columns)
    # explained value = the normal forward
    with torch.no_grad():
        normal = model(model.inputs(seqs))
    assert torch.allclose(result.explained, normal, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", HEAD_KINDS)
def test_relevance_sums_to_the_output_when_biases_are_zero(kind):
    model = build(kind, biases=False)
    result = lrp(model, model.inputs(random_seqs(2, 2)))
    total = result.relevance.sum(-1)
    assert torch.allclose(total, result.explained, rtol=1e-6, atol=1e-12)
    for value in result.absorbed.values():
        assert value.abs().max() < 1e-12


@pytest.mark.parametrize("rcps", [True, False], ids=["PS", "PH"])
def test_relevance_is_reverse_complement_consistent(rcps):
    model = build("flatten", rcps)
    seqs = random_seqs(2, 3)
    forward = lrp(model, model.inputs(seqs)).relevance
    reverse = lrp(model, model.inputs([reverse_complement(s) for s in seqs])).relevance
    assert torch.allclose(reverse, forward.flip(-1), rtol=1e-9, atol=1e-12)


def test_lrp_mode_off_gives_bit_identical_outputs():
    model = build("mean")
    x = model.inputs(random_seqs(2, 4))
    with torch.no_grad():
        before = model(x)
    lrp(model, x)
    with torch.no_grad():
        after = model(x)
    assert torch.equal(before, after)
    assert all(p.requires_grad for p in model.parameters())


def test_rules_change_the_explanation_relative_to_gradient_x_input():
    """Plain Gradient×Input breaks conservation on this model; LRP keeps it."""
    model = build("mean", biases=False)
    x = model.inputs(random_seqs(2, 5)).requires_grad_(True)
    out = model(x)[:, 0]
    (grad,) = torch.autograd.grad(out.sum(), x)
    gxi = (x * grad).sum((1, 2)).detach()
    assert ((gxi - out.detach()).abs() / out.detach().abs()).max() > 1e-3
    result = lrp(model, x.detach(), outputs=[0])
    assert torch.allclose(result.relevance.sum(-1)[:, 0], out.detach(), rtol=1e-9)


def test_epsilon_rule_on_the_full_model_is_accounted():
    model = build("max")
    result = lrp(model, model.inputs(random_seqs(2, 6)), epsilon=0.1)
    frame = conservation_frame(result, ["a", "b"], model.output_names)
    assert frame["rel_err"].max() < 1e-10
    assert (frame["absorbed_epsilon"].abs() > 0).all()


def test_conservation_summary_reports_the_worst_sequence():
    model = build("sum")
    frame = conservation_frame(lrp(model, model.inputs(random_seqs(2, 7))), ["a", "b"], model.output_names)
    summary = conservation_summary(frame, "lrp", "float64")
    assert list(summary.columns[:4]) == ["method", "dtype", "n", "max_rel_err"]
    assert summary.loc[0, "n"] == 6 and summary.loc[0, "max_rel_err"] == frame["rel_err"].max()


def test_model_without_rules_is_refused():
    from crelens.attribution.explained import OneHotModel

    cnn = OneHotModel(torch.nn.Sequential(torch.nn.Conv1d(4, 2, 3), torch.nn.Flatten()), ["a"])
    with pytest.raises(ValueError, match="grad_x_input"):
        lrp(cnn, cnn.inputs(random_seqs(1, 8)))
