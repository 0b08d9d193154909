"""Faithfulness and ground-truth scores of attributions.

Why: an explanation is only useful if it points at what the model actually uses (faithfulness:
removing the most relevant nucleotides first should change the output fastest) and, on
synthetic data, at the motifs that were planted (AUROC/AUPRC against the planted positions).

Protocol (MambaLRP, Jafari et al. 2024): remove positions in Most-Relevant-First (MoRF) and
Least-Relevant-First (LeRF) order, track the explained output ``f(x)[:, output]`` (the model's
raw output, no link function applied), and report ΔA^F = A_LeRF − A_MoRF. *Removal* replaces
the position's input row by ``model.removed_vector``, i.e. the input of the nucleotide N
(all-zero one-hot for CNNs; the N/pad token embedding for Caduceus).
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from ..metrics import auroc, bootstrap_ci
from .baselines import explaining

if TYPE_CHECKING:
    from .explained import ExplainedModel

ORDERS = ("morf", "lerf")


# --------------------------------------------------------------------------- perturbation curves


def removal_counts(length: int, steps: int) -> torch.Tensor:
    """(steps+1,) number of positions removed at step k: round(k·L/steps), half up; 0 … L."""
    k = torch.arange(steps + 1)
    return torch.div(2 * k * length + steps, 2 * steps, rounding_mode="floor")


def removal_ranks(relevance: torch.Tensor, order: str) -> torch.Tensor:
    """(B, L) rank at which each position is removed (0 = first).

    Stable sort, so tied relevances are removed in position order and curves are deterministic.
    """
    if order not in ORDERS:
        raise ValueError(f"unknown order {order!r}; expected one of {ORDERS}")
    key = -relevance if order == "morf" else relevance
    sequence = torch.argsort(key.float(), dim=1, stable=True)
    ranks = torch.empty_like(sequence)
    ranks.scatter_(1, sequence, torch.arange(sequence.shape[1], device=sequence.device).expand_as(sequence))
    return ranks


@torch.no_grad()
def perturbation_curve(
    model: ExplainedModel,
    x: torch.Tensor,
    relevance: torch.Tensor,
    output: int,
    order: str = "morf",
    steps: int = 20,
    batch_size: int = 64,
) -> torch.Tensor:
    """(B, steps+1) output after removing the round(k·L/steps) first positions in ``order``.

    Column 0 is f(x); the last column is f of the all-removed input. The B·(steps+1) perturbed
    inputs are built and run ``batch_size`` at a time.
    """
    n_batch, length = x.shape[:2]
    ranks = removal_ranks(torch.as_tensor(relevance, device=x.device), order)  # (B, L)
    counts = removal_counts(length, steps).to(x.device)  # (S,)
    removed = model.removed_vector.to(x.device, x.dtype)
    seq_idx = torch.arange(n_batch, device=x.device).repeat_interleave(steps + 1)
    step_idx = torch.arange(steps + 1, device=x.device).repeat(n_batch)
    out = torch.empty(seq_idx.numel(), dtype=x.dtype, device=x.device)
    with explaining(model):
        for start in range(0, seq_idx.numel(), batch_size):
            b, k = seq_idx[start : start + batch_size], step_idx[start : start + batch_size]
            drop = ranks[b] < counts[k][:, None]  # (chunk, L)
            batch = torch.where(drop[..., None], removed, x[b])
            out[start : start + batch_size] = model(batch)[:, output].to(x.dtype)
    return out.reshape(n_batch, steps + 1)


def area(curve: torch.Tensor) -> torch.Tensor:
    """(B,) area under each curve over the removed fraction [0, 1] (trapezoid on a uniform grid),
    i.e. its mean height, so areas are comparable across ``steps``."""
    curve = curve.double()
    steps = curve.shape[-1] - 1
    if steps == 0:
        return curve[..., 0]
    return (curve.sum(-1) - 0.5 * (curve[..., 0] + curve[..., -1])) / steps


def delta_af(
    model: ExplainedModel,
    x: torch.Tensor,
    relevance: torch.Tensor,
    output: int,
    steps: int = 20,
    batch_size: int = 64,
) -> torch.Tensor:
    """(B,) ΔA^F = A_LeRF − A_MoRF per sequence: higher = removing what the relevance ranks first
    hurts the output more than removing what it ranks last, i.e. more faithful."""
    lerf = perturbation_curve(model, x, relevance, output, "lerf", steps, batch_size)
    morf = perturbation_curve(model, x, relevance, output, "morf", steps, batch_size)
    return area(lerf) - area(morf)


# --------------------------------------------------------------------------- planted motifs


def average_precision(y_true, score) -> float:
    """Step-wise average precision Σ_n (R_n − R_{n−1}) P_n over distinct score thresholds
    (scikit-learn's definition, tied scores enter together); NaN scores are dropped and NaN is
    returned without positives."""
    y = np.asarray(y_true).ravel().astype(bool)
    s = np.asarray(score, dtype=float).ravel()
    keep = ~np.isnan(s)
    y, s = y[keep], s[keep]
    if not y.any():
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    y, s = y[order], s[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), y.size - 1]
    tp = np.cumsum(y)[last_of_tie]
    precision = tp / (last_of_tie + 1)
    recall = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def motif_scores(relevance: np.ndarray, motif_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per sequence, AUROC and AUPRC of |relevance| for positions inside planted motifs.

    |relevance| because a motif can be repressive (negative relevance) and still be found.
    NaN for a sequence with no motif position or only motif positions (one class only).
    """
    relevance = np.abs(np.asarray(relevance, dtype=float))
    motif_mask = np.asarray(motif_mask, dtype=bool)
    if relevance.shape != motif_mask.shape:
        raise ValueError(f"shape mismatch: relevance {relevance.shape} vs mask {motif_mask.shape}")
    n = relevance.shape[0]
    aurocs, auprcs = np.full(n, np.nan), np.full(n, np.nan)
    for i, (r, m) in enumerate(zip(relevance, motif_mask)):
        if m.any() and not m.all():
            aurocs[i], auprcs[i] = auroc(m, r), average_precision(m, r)
    return aurocs, auprcs


def motif_mask(sites: pd.DataFrame, seq_ids: list[str], length: int) -> np.ndarray:
    """(n, L) bool: True inside any site of the sequence (0-based, end exclusive), clipped to
    [0, L). Sites of sequences not in ``seq_ids`` are ignored."""
    rows = defaultdict(list)
    for i, seq_id in enumerate(seq_ids):
        rows[seq_id].append(i)
    mask = np.zeros((len(seq_ids), length), dtype=bool)
    for seq_id, start, end in sites[["seq_id", "start", "end"]].itertuples(index=False):
        lo, hi = max(int(start), 0), min(int(end), length)
        for i in rows.get(seq_id, ()):
            mask[i, lo:hi] = True
    return mask


# --------------------------------------------------------------------------- summary


def summarise(per_sequence: pd.DataFrame, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Mean per (method, metric) over sequences with a percentile bootstrap CI of the mean.

    NaN values (undefined scores) are dropped and ``n`` counts the rest. Rows follow the order in
    which methods, then metrics, first appear.
    """
    columns = ["method", "metric", "value", "ci_low", "ci_high", "n"]
    rows = []
    for method in pd.unique(per_sequence["method"]):
        of_method = per_sequence[per_sequence["method"] == method]
        for metric in pd.unique(of_method["metric"]):
            values = of_method.loc[of_method["metric"] == metric, "value"].to_numpy(dtype=float)
            values = values[~np.isnan(values)]
            if values.size:
                value, low, high = bootstrap_ci(np.mean, values, n_boot=n_boot, level=level, seed=seed)
            else:
                value = low = high = float("nan")
            rows.append((method, metric, value, low, high, int(values.size)))
    return pd.DataFrame(rows, columns=columns)
