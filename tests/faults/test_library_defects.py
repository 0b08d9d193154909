"""Defects of issue 16 that no input file can provoke, checked on the library directly.

9: the memory of one attribution job: Integrated Gradients and SmoothGrad run their inputs in
   chunks of attribution.chunk (the job's peak memory; measured by
   benchmarks/bench_attribution_memory.py, which tests may not assert).
10: a dead parameter that a test caught only through round-off: every parameter of the attention
   models gets a gradient far above float64 round-off.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from crelens.attribution.attribute import attribute
from crelens.models.attention import AttentionModel, JointModel, SparseAttentionModel

from helpers import ATTRIBUTE_SETTINGS, selection_table, tiny_head_model


@pytest.fixture
def head_model():
    return tiny_head_model()


def test_9_chunks_bound_the_passes_without_changing_integrated_gradients(head_model, monkeypatch):
    """attribution.chunk caps the inputs of one forward/backward pass; IG's result is the same whole
    or chunked."""
    sizes = []
    original = head_model.forward

    def spy(x):
        sizes.append(x.shape[0])
        return original(x)

    chosen = selection_table().head(4).assign(label_id=-1)
    whole = attribute(head_model, chosen, "integrated_gradients", {**ATTRIBUTE_SETTINGS, "chunk": None}, seed=0)
    monkeypatch.setattr(head_model, "forward", spy)
    chunked = attribute(head_model, chosen, "integrated_gradients", {**ATTRIBUTE_SETTINGS, "chunk": 6}, seed=0)
    assert sizes and max(sizes) <= 6
    np.testing.assert_allclose(chunked["relevance"], whole["relevance"], rtol=1e-5, atol=1e-7)
    sizes.clear()
    attribute(head_model, chosen, "smoothgrad", {**ATTRIBUTE_SETTINGS, "chunk": 2}, seed=0)  # 2 copies of 2 rows
    assert sizes and max(sizes) <= 2


def attention_model(kind: str) -> torch.nn.Module:
    torch.manual_seed(0)
    settings = {"length": 40, "d_model": 16, "n_heads": 2, "kernel": 5}
    if kind == "dense":
        return AttentionModel(3, **settings)
    if kind == "sparse":
        return SparseAttentionModel(3, 0.25, **settings)
    return JointModel({"activity": 3, "class": 2}, **settings)


@pytest.mark.parametrize("kind", ["dense", "sparse", "joint"])
def test_10_every_parameter_gets_a_gradient_far_above_round_off(kind):
    """In float64 round-off is ~1e-16 of the largest gradient; a parameter the output does not
    depend on (such as a bias shifting every logit of a softmax equally) stays at that level."""
    model = attention_model(kind).double()
    ids = torch.randint(0, 4, (3, 40), generator=torch.Generator().manual_seed(0))
    x = F.one_hot(ids, 4).double().transpose(1, 2).contiguous()
    if kind == "joint":
        (model(x, "activity").pow(2).sum() + model(x, "class").pow(2).sum()).backward()
    else:
        model(x).pow(2).sum().backward()
    largest = max(p.grad.abs().max().item() for p in model.parameters() if p.grad is not None)
    dead = [name for name, p in model.named_parameters() if p.grad is None or p.grad.abs().max() < 1e-8 * largest]
    assert not dead, f"parameters without a real gradient: {dead}"
