"""Attribution baselines on models whose exact attributions are known by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from crelens.attribution.baselines import (
    METHODS,
    grad_x_input,
    integrated_gradients,
    integrated_gradients_with_delta,
    ism,
    ism_all_outputs,
    observed_bases,
    random_relevance,
    smoothgrad,
)
from crelens.attribution.explained import ExplainedModel, OneHotModel
from crelens.sequences import one_hot

SEQS = ["ACGTACGTAC", "TTGCANGGCA", "GGGCCCAAAT"]
LENGTH = 10


class ToyModel(ExplainedModel):
    """f_o(x) = act(Σ_{l,c} x[l,c]·W[o,l,c] + b_o) over one-hot rows; act = identity or tanh."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, nonlinear: bool = False, removed: float = 0.0):
        super().__init__()
        self.weight = nn.Parameter(weight)  # (n_outputs, L, 4)
        self.bias = nn.Parameter(bias)
        self.nonlinear = nonlinear
        self.removed = removed
        self.output_names = [f"out{i}" for i in range(weight.shape[0])]

    def inputs(self, seqs: list[str]) -> torch.Tensor:
        rows = np.stack([one_hot(s) for s in seqs])
        rows[rows.sum(-1) == 0] = self.removed
        return torch.from_numpy(rows).to(self.dtype)

    @property
    def base_vectors(self) -> torch.Tensor:
        return torch.eye(4, dtype=self.dtype)

    @property
    def removed_vector(self) -> torch.Tensor:
        return torch.full((4,), self.removed, dtype=self.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = torch.einsum("blc,olc->bo", x, self.weight) + self.bias
        return torch.tanh(z) if self.nonlinear else z


def toy(nonlinear: bool = False, removed: float = 0.0, scale: float = 1.0) -> ToyModel:
    g = torch.Generator().manual_seed(0)
    weight = scale * torch.randn(2, LENGTH, 4, generator=g, dtype=torch.float64)
    return ToyModel(weight, torch.tensor([0.3, -0.2], dtype=torch.float64), nonlinear, removed)


def conv_model() -> OneHotModel:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv1d(4, 3, 5, padding=2), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(3, 2)
    )
    return OneHotModel(net.double(), ["a", "b"])


@pytest.mark.parametrize("output", [0, 1])
def test_grad_x_input_of_linear_model_is_weight_of_observed_base(output):
    model = toy()
    x = model.inputs(SEQS)
    expected = (x * model.weight[output]).sum(-1).detach()
    torch.testing.assert_close(grad_x_input(model, x, output), expected, rtol=0, atol=1e-12)


def test_ig_completeness_and_convergence():
    model = toy(nonlinear=True, scale=0.5)
    x = model.inputs(SEQS)
    gap = (model(x) - model(torch.zeros_like(x)))[:, 0].detach()
    deltas = {}
    for steps in (2, 4, 64):
        relevance, delta = integrated_gradients_with_delta(model, x, 0, steps=steps)
        assert relevance.shape == (3, LENGTH) and delta.shape == (3,)
        # captum's delta is exactly the completeness error of the returned relevance
        torch.testing.assert_close(relevance.sum(1) - gap, delta, rtol=0, atol=1e-9)
        deltas[steps] = delta.abs().max().item()
    assert deltas[64] < 1e-8
    assert deltas[64] < deltas[4] < deltas[2]


def test_ig_midpoint_rule_converges_too():
    model = toy(nonlinear=True, scale=0.5)
    x = model.inputs(SEQS)
    coarse = integrated_gradients_with_delta(model, x, 1, steps=4, method="riemann_middle")[1].abs().max()
    fine = integrated_gradients_with_delta(model, x, 1, steps=64, method="riemann_middle")[1].abs().max()
    assert fine < coarse / 100 and fine < 1e-3


def test_ig_removed_baseline_explains_gap_to_all_removed_input():
    model = toy(nonlinear=True, removed=0.25, scale=0.5)
    x = model.inputs(SEQS)
    all_removed = model.removed_vector.expand_as(x)
    gap = (model(x) - model(all_removed))[:, 0].detach()
    relevance = integrated_gradients(model, x, 0, steps=64, baseline="removed")
    torch.testing.assert_close(relevance.sum(1), gap, rtol=0, atol=1e-8)
    # and it differs from the zero baseline, which explains another gap
    assert not torch.allclose(relevance, integrated_gradients(model, x, 0, steps=64))
    with pytest.raises(ValueError):
        integrated_gradients(model, x, 0, baseline="mean")


def test_ism_of_linear_model_is_weight_minus_mean_of_alternatives():
    model = toy()
    x = model.inputs(SEQS)
    w = model.weight[1].detach()  # (L, 4)
    expected = torch.empty(3, LENGTH, dtype=torch.float64)
    for b, seq in enumerate(SEQS):
        for i, base in enumerate(seq):
            if base == "N":  # f(x) has no term at i; all four bases are alternatives
                expected[b, i] = -w[i].mean()
            else:
                j = "ACGT".index(base)
                others = [k for k in range(4) if k != j]
                expected[b, i] = w[i, j] - w[i, others].mean()
    torch.testing.assert_close(ism(model, x, 1), expected, rtol=0, atol=1e-12)


def test_ism_batching_does_not_change_result():
    model = conv_model()
    x = model.inputs(SEQS)
    full = ism(model, x, 0, batch_size=1000)
    assert full.shape == (3, LENGTH)
    torch.testing.assert_close(ism(model, x, 0, batch_size=7), full, rtol=0, atol=1e-12)


def test_observed_bases_detects_n_rows():
    model = toy(removed=0.25)
    bases = observed_bases(model, model.inputs(["ACGTN"]))
    assert bases.tolist() == [[0, 1, 2, 3, 4]]


def test_smoothgrad_is_deterministic_and_leaves_global_rng_alone():
    model = conv_model()
    x = model.inputs(SEQS)
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    first = smoothgrad(model, x, 1, samples=8, noise=0.2, seed=5)
    after = torch.rand(3)
    torch.testing.assert_close(before, after)  # the caller's random stream is untouched
    torch.testing.assert_close(smoothgrad(model, x, 1, samples=8, noise=0.2, seed=5), first, rtol=0, atol=0)
    assert not torch.allclose(smoothgrad(model, x, 1, samples=8, noise=0.2, seed=6), first)
    assert first.shape == (3, LENGTH)


@pytest.mark.parametrize("make", [toy, conv_model])
def test_smoothgrad_without_noise_is_grad_x_input(make):
    model = make()
    x = model.inputs(SEQS)
    torch.testing.assert_close(smoothgrad(model, x, 0, samples=4, noise=0.0), grad_x_input(model, x, 0))


def test_smoothgrad_batches_samples_identically():
    model = conv_model()
    x = model.inputs(SEQS)
    a = smoothgrad(model, x, 0, samples=6, noise=0.1, seed=1)
    b = smoothgrad(model, x, 0, samples=6, noise=0.1, seed=1, samples_batch_size=6)
    torch.testing.assert_close(a, b)


def test_random_relevance_is_reproducible():
    model = toy()
    x = model.inputs(SEQS)
    a = random_relevance(model, x, 0, seed=3)
    assert a.shape == (3, LENGTH) and a.dtype == x.dtype
    torch.testing.assert_close(random_relevance(model, x, 1, seed=3), a, rtol=0, atol=0)
    assert not torch.allclose(random_relevance(model, x, 0, seed=4), a)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_gives_detached_per_nucleotide_relevance_and_restores_model(name):
    model = conv_model()
    model.train()
    flags = [p.requires_grad for p in model.parameters()]
    x = model.inputs(SEQS)
    relevance = METHODS[name](model, x, 1)
    assert relevance.shape == (3, LENGTH)
    assert relevance.dtype == x.dtype and not relevance.requires_grad
    assert torch.isfinite(relevance).all()
    assert model.training and [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters())


def test_methods_names():
    assert set(METHODS) == {"grad_x_input", "integrated_gradients", "smoothgrad", "ism", "random"}


def test_float32_input_keeps_dtype():
    model = conv_model().float()
    x = model.inputs(SEQS)
    assert x.dtype == torch.float32
    for name in ("grad_x_input", "ism", "integrated_gradients"):
        assert METHODS[name](model, x, 0).dtype == torch.float32


def test_ism_mutates_only_the_given_positions():
    model = conv_model()
    x = model.inputs(SEQS)
    full = ism_all_outputs(model, x)
    inner = ism_all_outputs(model, x, positions=(3, 7))
    torch.testing.assert_close(inner[..., 3:7], full[..., 3:7])
    assert inner[..., :3].abs().sum() == 0 and inner[..., 7:].abs().sum() == 0
