"""Per-row losses: Malinois' L1 + KL mix against a hand computation, and its properties."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from crelens.models.losses import LOSSES, cross_entropy_per_row, l1_kl_mixed, l1_kl_mixed_per_row, mse_per_row

PRED = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5], [0.0, 0.0, 0.0], [3.0, 1.0, 2.0]])
TARGET = np.array([[1.0, -0.5, 1.0], [1.5, 0.2, 0.1], [2.0, -1.0, 0.5], [2.5, 2.5, 0.0]])


def hand_l1_kl(pred: np.ndarray, target: np.ndarray, l1_w=1.0, kl_w=5.0, per_cell_mean=True) -> np.ndarray:
    """Per-row loss in numpy, written from the definition."""

    def log_softmax(z):
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    log_p, log_q = log_softmax(target), log_softmax(pred)
    terms = np.exp(log_p) * (log_p - log_q)
    kl = terms.mean(axis=1) if per_cell_mean else terms.sum(axis=1)
    l1 = np.abs(pred - target).mean(axis=1)
    return (l1_w * l1 + kl_w * kl) / (l1_w + kl_w)


def t(a) -> torch.Tensor:
    return torch.tensor(a, dtype=torch.float64)


def test_l1_kl_mixed_matches_hand_computation():
    per_row = l1_kl_mixed_per_row(t(PRED), t(TARGET))
    np.testing.assert_allclose(per_row.numpy(), hand_l1_kl(PRED, TARGET), rtol=1e-12)
    assert float(l1_kl_mixed(t(PRED), t(TARGET))) == pytest.approx(hand_l1_kl(PRED, TARGET).mean(), rel=1e-12)
    other = l1_kl_mixed_per_row(t(PRED), t(TARGET), l1_weight=2.0, kl_weight=0.5)
    np.testing.assert_allclose(other.numpy(), hand_l1_kl(PRED, TARGET, 2.0, 0.5), rtol=1e-12)
    batchmean = l1_kl_mixed_per_row(t(PRED), t(TARGET), kl_reduction="batchmean")
    np.testing.assert_allclose(batchmean.numpy(), hand_l1_kl(PRED, TARGET, per_cell_mean=False), rtol=1e-12)


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides")
def test_default_reduction_equals_torch_mean_composition():
    """boda2's L1KLmixed(reduction='mean', alpha=1, beta=5) is built from these torch losses."""
    pred, target = t(PRED), t(TARGET)
    l1 = F.l1_loss(pred, target, reduction="mean")
    kl = F.kl_div(F.log_softmax(pred, -1), F.log_softmax(target, -1), reduction="mean", log_target=True)
    assert float(l1_kl_mixed(pred, target)) == pytest.approx(float((l1 + 5 * kl) / 6), rel=1e-12)


def test_zero_when_prediction_equals_target():
    x = t(TARGET)
    assert torch.allclose(l1_kl_mixed_per_row(x, x.clone()), torch.zeros(len(x), dtype=x.dtype), atol=1e-15)
    assert float(l1_kl_mixed(x, x.clone())) == pytest.approx(0.0, abs=1e-15)


def test_kl_term_ignores_a_shift_of_all_cells():
    """Only the cell profile enters the KL term: pred + c per row changes the L1 term only."""
    pred, target = t(PRED), t(TARGET)
    shift = t([[3.0], [-2.0], [0.7], [10.0]])
    kl_only = l1_kl_mixed_per_row(pred, target, l1_weight=0.0, kl_weight=1.0)
    kl_shifted = l1_kl_mixed_per_row(pred + shift, target, l1_weight=0.0, kl_weight=1.0)
    torch.testing.assert_close(kl_only, kl_shifted, rtol=1e-12, atol=1e-12)
    assert not torch.allclose(l1_kl_mixed_per_row(pred, target), l1_kl_mixed_per_row(pred + shift, target))


def test_per_row_mean_equals_reduced_loss_and_gradients_flow():
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(16, 3, generator=g, requires_grad=True)
    target = torch.randn(16, 3, generator=g)
    per_row = l1_kl_mixed_per_row(pred, target)
    assert per_row.shape == (16,)
    torch.testing.assert_close(per_row.mean(), l1_kl_mixed(pred, target))
    l1_kl_mixed(pred, target).backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all()


def test_registry_and_small_helpers():
    assert set(LOSSES) == {"mse", "cross_entropy", "l1_kl_mixed"}
    pred, target = t(PRED), t(TARGET)
    for name in ("mse", "l1_kl_mixed"):
        assert LOSSES[name](pred, target).shape == (4,)
    np.testing.assert_allclose(mse_per_row(pred, target).numpy(), ((PRED - TARGET) ** 2).mean(axis=1))
    labels = torch.tensor([2, 0, 1, 0])
    torch.testing.assert_close(cross_entropy_per_row(pred, labels), F.cross_entropy(pred, labels, reduction="none"))
    assert LOSSES["cross_entropy"](pred, labels).shape == (4,)


def test_shape_and_argument_checks():
    with pytest.raises(ValueError, match="one shape"):
        l1_kl_mixed_per_row(torch.zeros(4, 3), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="one shape"):
        mse_per_row(torch.zeros(4), torch.zeros(4))
    with pytest.raises(ValueError, match="kl_reduction"):
        l1_kl_mixed(torch.zeros(4, 3), torch.zeros(4, 3), kl_reduction="sum")
    with pytest.raises(ValueError, match="weights"):
        l1_kl_mixed(torch.zeros(4, 3), torch.zeros(4, 3), l1_weight=0.0, kl_weight=0.0)
