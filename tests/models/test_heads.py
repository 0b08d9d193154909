"""Adapter heads: shapes, parameter counts, and what each pooling can and cannot see."""

from __future__ import annotations

import pytest
import torch

from crelens.models.heads import build_head
from crelens.names import HEAD_KINDS

BINS, DIM, OUT = 5, 8, 3


def features(batch=4, bins=BINS, dim=DIM, seed=0):
    return torch.randn(batch, bins, dim, generator=torch.Generator().manual_seed(seed))


def n_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("kind", HEAD_KINDS)
@pytest.mark.parametrize("bins", [1, 4, 5])
def test_output_shape(kind, bins):
    torch.manual_seed(0)
    head = build_head(kind, bins, DIM, OUT)
    assert head(features(bins=bins)).shape == (4, OUT)


def test_head_kinds_complete():
    assert set(HEAD_KINDS) == {"flatten", "sum", "mean", "max", "center", "mlp1024"}
    with pytest.raises(ValueError):
        build_head("attention", BINS, DIM, OUT)


def test_rejects_wrong_feature_shape():
    head = build_head("mean", BINS, DIM, OUT)
    with pytest.raises(ValueError):
        head(features(bins=BINS + 1))


def test_parameter_counts_match_formula():
    norm = 2 * DIM
    flatten = norm + (BINS * DIM * 512 + 512) + (512 * 512 + 512) + (512 * OUT + OUT)
    assert n_params(build_head("flatten", BINS, DIM, OUT)) == flatten
    for pooled in ("sum", "mean", "max", "center"):
        assert n_params(build_head(pooled, BINS, DIM, OUT)) == norm + (DIM * 512 + 512) + (512 * 512 + 512) + (
            512 * OUT + OUT
        )
    mlp = norm + (DIM * 1024 + 1024) + (1024 * OUT + OUT)
    assert n_params(build_head("mlp1024", BINS, DIM, OUT)) == mlp


@pytest.mark.parametrize("kind", ["sum", "mean", "max", "mlp1024"])
def test_order_free_pooling_is_invariant_to_bin_reversal(kind):
    torch.manual_seed(0)
    head = build_head(kind, BINS, DIM, OUT).eval()
    x = features()
    torch.testing.assert_close(head(x), head(x.flip(1)))


def test_flatten_sees_bin_order():
    torch.manual_seed(0)
    head = build_head("flatten", BINS, DIM, OUT).eval()
    x = features()
    assert not torch.allclose(head(x), head(x.flip(1)))


@pytest.mark.parametrize("bins, used", [(5, [2]), (4, [1, 2]), (1, [0]), (2, [0, 1])])
def test_center_uses_only_middle_bins(bins, used):
    torch.manual_seed(0)
    head = build_head("center", bins, DIM, OUT).eval()
    x = features(bins=bins)
    other = [i for i in range(bins) if i not in used]
    changed = x.clone()
    changed[:, other] = torch.randn(4, len(other), DIM) * 10
    torch.testing.assert_close(head(x), head(changed))
    moved = x.clone()
    moved[:, used[0]] += torch.linspace(-1.0, 1.0, DIM)  # not a constant shift: LayerNorm removes those
    assert not torch.allclose(head(x), head(moved))


def test_center_even_bins_is_mean_of_two_middle():
    torch.manual_seed(0)
    head = build_head("center", 4, DIM, OUT).eval()
    x = features(bins=4)
    normed = head.norm(x)
    expected = head.mlp((normed[:, 1] + normed[:, 2]) / 2)
    torch.testing.assert_close(head(x), expected)


def test_dropout_only_in_training_mode():
    torch.manual_seed(0)
    head = build_head("mlp1024", BINS, DIM, OUT, dropout=0.5)
    x = features()
    head.eval()
    torch.testing.assert_close(head(x), head(x))
    head.train()
    assert not torch.allclose(head(x), head(x))
