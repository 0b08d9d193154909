"""Per-row training losses, so the training loop can weight rows (sum(w·loss)/sum(w)).

Every entry of `LOSSES` maps (out, target) → a (B,) tensor; the unweighted loss is its mean.
`l1_kl_mixed` is Malinois' training loss (boda2 `L1KLmixed` with alpha=1, beta=5, reduction
'mean'; sjgosai/boda2 `boda/model/loss_functions.py`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

KL_REDUCTIONS = ("mean", "batchmean")


def mse_per_row(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared error averaged over outputs: (B, n) → (B,)."""
    _check_regression(out, target)
    return (out - target).pow(2).mean(-1)


def cross_entropy_per_row(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of logits (B, classes) against integer labels (B,) → (B,)."""
    return F.cross_entropy(out, target, reduction="none")


def l1_kl_mixed_per_row(
    pred: torch.Tensor,
    target: torch.Tensor,
    l1_weight: float = 1.0,
    kl_weight: float = 5.0,
    kl_reduction: str = "mean",
) -> torch.Tensor:
    """Malinois' loss per row: (l1_weight·L1 + kl_weight·KL) / (l1_weight + kl_weight), (B, cells) → (B,).

    L1 is |pred − target| averaged over cells. KL compares the cell-type profiles, with
    p = softmax(target) and q = softmax(pred) over the cell axis (dim=-1):
    Σ_cells p·(log p − log q). It ignores a shift of all cells of a row, so it rewards getting
    the *cell specificity* right, which L1 alone would underweight.

    Reduction matters: torch's `KLDivLoss(reduction='mean')` divides by the number of elements
    (rows × cells), `'batchmean'` by rows only, a factor of n_cells (3) between them. boda2's
    L1KLmixed passes its `reduction` (default 'mean', which Malinois used) to both
    `L1Loss` and `KLDivLoss(log_target=True)` (boda2 `boda/model/loss_functions.py`, read to
    check). We follow it by default: `kl_reduction="mean"` makes each row's KL the mean over
    cells (sum / n_cells), so the batch mean of this equals boda2's value exactly.
    `kl_reduction="batchmean"` keeps the mathematical KL (sum over cells) instead.
    """
    _check_regression(pred, target)
    if kl_reduction not in KL_REDUCTIONS:
        raise ValueError(f"unknown kl_reduction {kl_reduction!r}; expected one of {KL_REDUCTIONS}")
    if l1_weight < 0 or kl_weight < 0 or l1_weight + kl_weight <= 0:
        raise ValueError(f"weights must be non-negative with a positive sum, got {l1_weight}, {kl_weight}")
    l1 = (pred - target).abs().mean(-1)
    log_p = F.log_softmax(target, dim=-1)
    log_q = F.log_softmax(pred, dim=-1)
    kl_terms = log_p.exp() * (log_p - log_q)
    kl = kl_terms.mean(-1) if kl_reduction == "mean" else kl_terms.sum(-1)
    return (l1_weight * l1 + kl_weight * kl) / (l1_weight + kl_weight)


def l1_kl_mixed(
    pred: torch.Tensor,
    target: torch.Tensor,
    l1_weight: float = 1.0,
    kl_weight: float = 5.0,
    kl_reduction: str = "mean",
) -> torch.Tensor:
    """Scalar Malinois loss: the mean over rows of `l1_kl_mixed_per_row` (see there)."""
    return l1_kl_mixed_per_row(pred, target, l1_weight, kl_weight, kl_reduction).mean()


def _check_regression(out: torch.Tensor, target: torch.Tensor) -> None:
    if out.shape != target.shape or out.ndim != 2:
        raise ValueError(
            f"expected outputs and targets of one shape (batch, n_outputs), got {tuple(out.shape)} and {tuple(target.shape)}"
        )


LOSSES = {
    "mse": mse_per_row,
    "cross_entropy": cross_entropy_per_row,
    "l1_kl_mixed": l1_kl_mixed_per_row,
}
