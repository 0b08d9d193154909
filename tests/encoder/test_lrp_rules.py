"""Each MambaLRP rule conserves relevance on a single layer (float64): Σ inputs·∂̃out/∂inputs,
plus what the ledger's absorbers took, equals the output that is explained."""

import pytest
import torch
from torch import nn

from crelens.encoder import caduceus as cad
from crelens.encoder.caduceus import BiMambaWrapper, Mamba, SSMConfig
from crelens.encoder.lrp_rules import Ledger, active, lrp_mode


@pytest.fixture(autouse=True)
def float64():
    """Conservation is checked in float64 (restored afterwards for the other test modules)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def conserved(fn, x, modules=(), epsilon=0.0, seed=0):
    """(explained g·f(x), Σ x·∂̃/∂x + absorbed) under the LRP rules, for a random output weighting g."""
    x = x.detach().clone().requires_grad_(True)
    with lrp_mode(*modules, epsilon=epsilon) as ledger:
        out = fn(x)
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed))
    explained = (g * out).sum()
    leaves = [leaf for _, leaf in ledger.leaves]
    grads = torch.autograd.grad(explained, [x, *leaves], allow_unused=True)
    total = (x * grads[0]).sum()
    for leaf, grad in zip(leaves, grads[1:]):
        if grad is not None:
            total = total + (leaf * grad).sum()
    return explained.detach(), total.detach()


def rel(a, b):
    return float((a - b).abs() / a.abs().clamp_min(1e-300))


@pytest.fixture
def x():
    return torch.randn(3, 11, 8, generator=torch.Generator().manual_seed(1))


def test_silu_identity_rule(x):
    explained, total = conserved(cad.silu, x, modules=[nn.Identity()])
    assert rel(explained, total) < 1e-12


def test_rms_norm_ln_rule(x):
    weight = torch.randn(8)
    explained, total = conserved(lambda v: cad.rms_norm(v, weight, 1e-5), x, modules=[nn.Identity()])
    assert rel(explained, total) < 1e-12


def test_gate_half_rule_on_two_linear_paths(x):
    w1, w2 = torch.randn(8, 8), torch.randn(8, 8)
    explained, total = conserved(lambda v: cad.gate(v @ w1, v @ w2), x, modules=[nn.Identity()])
    assert rel(explained, total) < 1e-12


def test_plain_gradient_does_not_conserve_the_gate(x):
    """Without the rules Gradient×Input of y·silu(z) is not the output: the rules are needed."""
    w1, w2 = torch.randn(8, 8), torch.randn(8, 8)
    v = x.clone().requires_grad_(True)
    out = cad.gate(v @ w1, v @ w2).sum()
    (grad,) = torch.autograd.grad(out, v)
    assert rel(out.detach(), (v * grad).sum().detach()) > 0.1


def test_mamba_mixer_with_the_ssm_rule():
    torch.manual_seed(0)
    mixer = Mamba(8, SSMConfig(d_state=4, conv_bias=False))
    h = torch.randn(2, 13, 8)
    for reverse in (False, True):
        explained, total = conserved(lambda v, reverse=reverse: mixer(v, reverse=reverse), h, modules=[mixer])
        assert rel(explained, total) < 1e-10


def test_mamba_conv_bias_is_absorbed_and_accounted():
    torch.manual_seed(0)
    mixer = Mamba(8, SSMConfig(d_state=4, conv_bias=True, bias=True))
    with torch.no_grad():
        mixer.conv1d.bias.normal_()
        mixer.in_proj.bias.normal_()
        mixer.out_proj.bias.normal_()
    explained, total = conserved(mixer, torch.randn(2, 13, 8), modules=[mixer])
    assert rel(explained, total) < 1e-10


@pytest.mark.parametrize("strategy", ["add", "ew_multiply"])
@pytest.mark.parametrize("tie", [True, False])
def test_bidirectional_wrapper(strategy, tie):
    torch.manual_seed(0)
    wrapper = BiMambaWrapper(8, SSMConfig(d_state=4, bias=True), strategy=strategy, weight_tie=tie)
    with torch.no_grad():
        for name, p in wrapper.named_parameters():
            if name.endswith("bias") and "dt_proj" not in name:
                p.normal_()
    explained, total = conserved(wrapper, torch.randn(2, 9, 8), modules=[wrapper])
    assert rel(explained, total) < 1e-10


def test_linear_and_layer_norm_biases(x):
    net = nn.Sequential(nn.LayerNorm(8), nn.Linear(8, 5), nn.ReLU(), nn.Linear(5, 3))
    with torch.no_grad():
        net[0].bias.normal_()
        net[0].weight.normal_()
    explained, total = conserved(net, x, modules=[net])
    assert rel(explained, total) < 1e-12


def test_epsilon_rule_is_accounted(x):
    net = nn.Sequential(nn.Linear(8, 5), nn.ReLU(), nn.Linear(5, 3))
    explained, total = conserved(net, x, modules=[net], epsilon=0.5)
    assert rel(explained, total) < 1e-12
    # the ε share is logged as its own absorber
    with lrp_mode(net, epsilon=0.5) as ledger:
        net(x)
    assert any(name.endswith("(epsilon)") for name, _ in ledger.leaves)


def test_mode_is_restored_and_values_unchanged(x):
    net = nn.Sequential(nn.LayerNorm(8), nn.Linear(8, 3))
    before = net(x)
    with lrp_mode(net):
        assert active() is not None
        assert not any(p.requires_grad for p in net.parameters())
        inside = net(x)
    assert active() is None
    assert all(p.requires_grad for p in net.parameters())
    assert torch.allclose(inside, before, rtol=0, atol=1e-14)
    assert torch.equal(net(x), before)


def test_ledger_folds_stacked_batches():
    ledger = Ledger()
    leaf = ledger.absorber("b", torch.ones(4, 1, 2))  # two stacked copies of a batch of 2
    absorbed = ledger.absorbed([torch.arange(8.0).reshape(4, 1, 2)], batch=2)
    # rows 0 and 2 belong to sample 0, rows 1 and 3 to sample 1
    assert absorbed["b"].tolist() == [0 + 1 + 4 + 5, 2 + 3 + 6 + 7]
    with pytest.raises(ValueError, match="whole number"):
        ledger.absorbed([torch.ones(4, 1, 2)], batch=3)
    assert leaf.requires_grad


def test_negative_epsilon_is_refused():
    with pytest.raises(ValueError, match="epsilon"):
        Ledger(epsilon=-1)
