"""Adapter heads: shapes, parameter counts, and what each pooling can and cannot see."""

from __future__ import annotations

import numpy as np
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
    assert set(HEAD_KINDS) == {"flatten", "sum", "mean", "max", "center", "mlp1024", "conv"}
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
    bins = 200  # conv: 128 detectors of 9 bins, max over 10 windows of 20, 256 hidden units
    conv = norm + (DIM * 128 * 9 + 128) + (128 * 10 * 256 + 256) + (256 * OUT + OUT)
    assert n_params(build_head("conv", bins, DIM, OUT)) == conv


@pytest.mark.parametrize("kind", ["flatten", "mean", "center", "mlp1024"])
def test_pool_bins_average_the_input_first(kind):
    """A head with pool_bins on a fine input equals the same head on the input averaged into bins."""
    torch.manual_seed(0)
    fine = build_head(kind, 20, DIM, OUT, pool_bins=5).eval()
    torch.manual_seed(0)
    coarse = build_head(kind, 5, DIM, OUT).eval()
    x = features(bins=20)
    averaged = x.reshape(4, 5, 4, DIM).mean(2)
    torch.testing.assert_close(fine(x), coarse(averaged))
    assert n_params(fine) == n_params(coarse)
    with pytest.raises(ValueError, match="pool_bins"):
        build_head(kind, 5, DIM, OUT, pool_bins=6)


def test_conv_head_sees_a_motif_anywhere_and_where_it_is():
    """A pattern over neighbouring bins changes the output wherever it is put, and its place matters."""
    torch.manual_seed(0)
    head = build_head("conv", 60, DIM, OUT).eval()
    base = torch.zeros(1, 60, DIM)
    motif = torch.randn(9, DIM)
    outputs = []
    for start in (2, 25, 48):
        x = base.clone()
        x[0, start : start + 9] = motif
        outputs.append(head(x))
    assert all(not torch.allclose(out, head(base)) for out in outputs)
    assert not torch.allclose(outputs[0], outputs[2])


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


def test_averaged_rows_give_the_prediction_of_the_full_rows():
    """Training on rows averaged once equals what the head computes from full rows itself."""
    from crelens.models.heads import averaged_rows

    torch.manual_seed(0)
    head = build_head("flatten", 40, DIM, OUT, pool_bins=8).eval()
    rows = np.random.default_rng(0).normal(size=(5, 2, 40, DIM)).astype(np.float16)
    averaged = averaged_rows(rows, 8)
    assert averaged.shape == (5, 2, 8, DIM) and averaged.dtype == np.float32
    with torch.no_grad():
        full = head(torch.from_numpy(rows[:, 0].astype(np.float32)))
        once = head(torch.from_numpy(averaged[:, 0]))
    torch.testing.assert_close(full, once, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match=r"\(B, 8 or 40, 8\)"):
        head(torch.zeros(2, 20, DIM))
