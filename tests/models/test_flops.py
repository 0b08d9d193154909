"""FLOP counting (crelens.models.flops): what the counter counts (and does not), and exact analytic counts
for the attention baselines."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from crelens.models.attention import AttentionModel, JointModel, SparseAttentionModel, keep_count
from crelens.models.flops import count_flops


def onehot(batch=2, length=600):
    ids = torch.randint(0, 4, (batch, length), generator=torch.Generator().manual_seed(0))
    return F.one_hot(ids, 4).float().transpose(1, 2)


class Attend(nn.Module):
    def __init__(self, fused):
        super().__init__()
        self.fused = fused

    def forward(self, q):
        if self.fused:
            return F.scaled_dot_product_attention(q, q, q)
        return torch.softmax(q @ q.transpose(-2, -1) / q.shape[-1] ** 0.5, -1) @ q


def block_flops(t, d, mult=4):
    """One pre-LN block on t tokens: qkv, QKᵀ + AV (over all heads), output projection, FFN."""
    return 2 * t * d * 3 * d + 2 * 2 * t * t * d + 2 * t * d * d + 2 * 2 * t * d * mult * d


def dense_flops(length, d, kernel, n_outputs):
    conv = 2 * d * length * 4 * kernel
    pool = 2 * length * d  # attention-pool scorer
    return conv + block_flops(length, d) + pool + 2 * 2 * d * n_outputs


def sparse_flops(length, d, kernel, n_outputs, k):
    conv = 2 * d * length * 4 * kernel
    scorer = 2 * length * d
    return conv + scorer + block_flops(k, d) + 2 * k * d + 2 * 2 * d * n_outputs


@pytest.mark.parametrize("batch", [1, 7])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_counts_multiply_adds_twice_and_not_the_bias(batch, bias):
    assert count_flops(nn.Linear(10, 3, bias=bias), torch.randn(batch, 10)) == 2 * 10 * 3


@pytest.mark.parametrize("padding,l_out", [("same", 20), (0, 16)])
def test_conv1d_matches_analytic_count(padding, l_out):
    conv = nn.Conv1d(4, 8, 5, padding=padding)
    assert count_flops(conv, torch.randn(3, 4, 20)) == 2 * 8 * l_out * 4 * 5


def test_elementwise_ops_and_softmax_are_not_counted():
    model = nn.Sequential(nn.ReLU(), nn.Softmax(-1), nn.LayerNorm(10), nn.Dropout(0.5))
    assert count_flops(model, torch.randn(2, 10)) == 0


def test_fused_cpu_attention_counts_like_the_explicit_products():
    q = torch.randn(2, 4, 50, 16)
    expected = 2 * (2 * 4 * 50 * 50 * 16)  # QKᵀ and AV, per example
    assert count_flops(Attend(fused=False), q) == expected
    assert count_flops(Attend(fused=True), q) == expected


@pytest.mark.parametrize("return_attention", [False, True])
def test_attention_model_flops_are_analytic(return_attention):
    model = AttentionModel(3).eval()
    flops = count_flops(model, onehot(), return_attention=return_attention)
    assert flops == dense_flops(600, 64, 15, 3) == 155_827_968


@pytest.mark.parametrize("keep_share", [0.05, 0.10, 0.20])
def test_sparse_model_flops_are_analytic(keep_share):
    model = SparseAttentionModel(3, keep_share).eval()
    k = keep_count(keep_share, 600)
    assert count_flops(model, onehot()) == sparse_flops(600, 64, 15, 3, k)


def test_dense_costs_more_than_sparse_and_sparse_grows_with_keep_share():
    x = onehot()
    dense = count_flops(AttentionModel(3), x)
    sparse = [count_flops(SparseAttentionModel(3, s), x) for s in (0.05, 0.10, 0.20)]
    assert sparse[0] < sparse[1] < sparse[2] < dense
    joint = JointModel({"a": 3, "b": 2})
    assert count_flops(joint, x, task="a") == dense  # same trunk and head size
    assert count_flops(joint.for_task("a"), x) == dense


def test_count_flops_keeps_training_mode_and_needs_a_batch():
    model = AttentionModel(2, length=10, d_model=8, n_heads=2, kernel=3).train()
    count_flops(model, onehot(length=10))
    assert model.training
    with pytest.raises(ValueError, match="batch"):
        count_flops(model, torch.zeros(0, 4, 10))
