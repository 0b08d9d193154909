"""Evaluation metrics with uncertainty, in plain numpy/scipy.

One module so that MPRA regression (Pearson/Spearman) and EPI classification
(AUROC, accuracy, macro-F1) are scored, bootstrapped and compared the same way
everywhere, without a scikit-learn dependency.

Conventions
-----------
* Correlations drop pairs where either value is NaN and return NaN when fewer
  than 3 pairs remain or either side is constant: an undefined score must stay
  visibly undefined rather than become 0.
* AUROC is the Mann–Whitney U statistic with average ranks, so a tie between a
  positive and a negative counts 1/2 (constant scores give exactly 0.5). It is
  NaN when only one class is present.
* Macro-F1 uses F1 = 2·TP / (2·TP + FP + FN) per class, 0 when that denominator
  is 0. The classes averaged are ``classes`` when given, otherwise the union of
  the classes seen in ``labels`` and ``predicted`` (the scikit-learn default).
  A class that is listed in ``classes`` but never occurs in either array
  therefore scores 0 and pulls the mean down; pass ``classes=None`` to average
  only over the classes that occur.
* Resampling functions take ``metric(*arrays) -> float`` and resample rows
  jointly with one index matrix drawn from ``numpy.random.default_rng(seed)``,
  so results are reproducible for a seed. Resamples where the metric is NaN
  (e.g. a bootstrap sample with one class only) are skipped.
* A metric may carry a ``resampled(idx, *arrays) -> (n_boot,)`` attribute that scores every
  row of an index matrix at once (`vectorised`). The bootstrap uses it when the arrays hold no
  NaN, so 1,000 resamples cost a few array operations instead of 1,000 Python calls; it gives
  the same values as the loop (tested), which stays the definition.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats

Metric = Callable[..., float]


# --------------------------------------------------------------------------- vectorised resamples

_CHUNK = 256  # resamples scored per block: bounds memory at 256 x n values per array


def vectorised(resampled: Callable[..., np.ndarray]) -> Callable[[Metric], Metric]:
    """Attach `resampled(idx, *arrays)`, the all-resamples-at-once version, to a metric."""

    def attach(metric: Metric) -> Metric:
        metric.resampled = resampled
        return metric

    return attach


def _rowwise_pearson(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Pearson r of each row pair of (B, n) arrays; NaN where a row is constant (as `pearson`)."""
    constant = (np.ptp(y, axis=1) == 0) | (np.ptp(p, axis=1) == 0)
    y = y - y.mean(axis=1, keepdims=True)
    p = p - p.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (y * p).sum(axis=1) / np.sqrt((y * y).sum(axis=1) * (p * p).sum(axis=1))
    r = np.clip(r, -1.0, 1.0)  # scipy clips round-off beyond ±1 too
    r[constant] = np.nan
    return r


def _rows_correlation(idx, y, p, ranks: bool) -> np.ndarray:
    y = np.asarray(y, dtype=float).ravel()
    p = np.asarray(p, dtype=float).ravel()
    if y.size < 3:
        return np.full(len(idx), np.nan)
    out = []
    for start in range(0, len(idx), _CHUNK):
        block = idx[start : start + _CHUNK]
        yb, pb = y[block], p[block]
        if ranks:
            yb, pb = stats.rankdata(yb, axis=1), stats.rankdata(pb, axis=1)
        out.append(_rowwise_pearson(yb, pb))
    return np.concatenate(out)


def _rows_auroc(idx, labels, score) -> np.ndarray:
    """`auroc` of every resample: Mann–Whitney U from average ranks, NaN when a class is absent."""
    labels = np.asarray(labels).ravel().astype(bool)
    score = np.asarray(score, dtype=float).ravel()
    out = []
    for start in range(0, len(idx), _CHUNK):
        block = idx[start : start + _CHUNK]
        positive = labels[block]
        ranks = stats.rankdata(score[block], axis=1)
        n_pos = positive.sum(axis=1).astype(float)
        n_neg = positive.shape[1] - n_pos
        with np.errstate(invalid="ignore", divide="ignore"):
            u = (ranks * positive).sum(axis=1) - n_pos * (n_pos + 1) / 2.0
            out.append(np.where((n_pos == 0) | (n_neg == 0), np.nan, u / (n_pos * n_neg)))
    return np.concatenate(out)


# --------------------------------------------------------------------------- correlations


def _paired_finite(y, p) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=float).ravel()
    p = np.asarray(p, dtype=float).ravel()
    if y.shape != p.shape:
        raise ValueError(f"length mismatch: {y.shape[0]} targets vs {p.shape[0]} predictions")
    keep = ~(np.isnan(y) | np.isnan(p))
    return y[keep], p[keep]


def _correlation(y, p, fn) -> float:
    y, p = _paired_finite(y, p)
    if y.size < 3 or np.ptp(y) == 0 or np.ptp(p) == 0:
        return float("nan")
    return float(fn(y, p)[0])


@vectorised(lambda idx, y, p: _rows_correlation(idx, y, p, ranks=False))
def pearson(y, p) -> float:
    """Pearson r over non-NaN pairs; NaN if < 3 pairs or a side is constant (r undefined)."""
    return _correlation(y, p, stats.pearsonr)


@vectorised(lambda idx, y, p: _rows_correlation(idx, y, p, ranks=True))
def spearman(y, p) -> float:
    """Spearman rho over non-NaN pairs; robust to monotone miscalibration of MPRA predictions."""
    return _correlation(y, p, stats.spearmanr)


# --------------------------------------------------------------------------- classification


@vectorised(lambda idx, y, s: _rows_auroc(idx, y, s))
def auroc(y_true, score) -> float:
    """AUROC as the Mann–Whitney U / (n_pos·n_neg), ties counted 1/2 via average ranks.

    Exact and O(n log n); NaN scores are dropped, NaN is returned when a class is missing.
    """
    y = np.asarray(y_true).ravel()
    s = np.asarray(score, dtype=float).ravel()
    if y.shape != s.shape:
        raise ValueError(f"length mismatch: {y.shape[0]} labels vs {s.shape[0]} scores")
    keep = ~np.isnan(s)
    y, s = y[keep].astype(bool), s[keep]
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = stats.rankdata(s)  # average ranks for ties
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def per_class_auroc(labels, probs, classes: Sequence | None = None) -> dict:
    """One-vs-rest AUROC per class; column j of ``probs`` scores ``classes[j]`` (default 0..k-1)."""
    labels = np.asarray(labels).ravel()
    probs = np.asarray(probs, dtype=float)
    if probs.ndim != 2 or probs.shape[0] != labels.shape[0]:
        raise ValueError(f"probs must be (n, k) with n={labels.shape[0]}, got {probs.shape}")
    if classes is None:
        classes = list(range(probs.shape[1]))
    if len(classes) != probs.shape[1]:
        raise ValueError(f"{len(classes)} classes for {probs.shape[1]} probability columns")
    return {c: auroc(labels == c, probs[:, j]) for j, c in enumerate(classes)}


def nanmean_rows(columns: list[np.ndarray]) -> np.ndarray:
    """Mean over columns skipping NaN, NaN where every column is NaN (as the scalar metrics)."""
    stacked = np.stack(columns, axis=1)
    finite = np.isfinite(stacked)
    total = np.where(finite, stacked, 0.0).sum(axis=1)
    count = finite.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def _rows_macro_auroc(idx, labels, probs) -> np.ndarray:
    labels = np.asarray(labels).ravel()
    probs = np.asarray(probs, dtype=float)
    return nanmean_rows([_rows_auroc(idx, labels == j, probs[:, j]) for j in range(probs.shape[1])])


@vectorised(_rows_macro_auroc)
def macro_auroc(labels, probs, classes: Sequence | None = None) -> float:
    """Unweighted one-vs-rest mean, so rare classes (e.g. enhancers) count as much as common ones.

    Classes whose AUROC is undefined (absent from ``labels``) are left out of the mean.
    """
    values = np.array(list(per_class_auroc(labels, probs, classes).values()), dtype=float)
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def accuracy(labels, predicted) -> float:
    """Share of exact matches; NaN on empty input."""
    labels = np.asarray(labels).ravel()
    predicted = np.asarray(predicted).ravel()
    if labels.shape != predicted.shape:
        raise ValueError(f"length mismatch: {labels.shape[0]} labels vs {predicted.shape[0]} predictions")
    return float(np.mean(labels == predicted)) if labels.size else float("nan")


def per_class_f1(labels, predicted, classes: Sequence | None = None) -> dict:
    """F1 = 2TP/(2TP+FP+FN) per class, 0 when undefined (see module conventions)."""
    labels = np.asarray(labels).ravel()
    predicted = np.asarray(predicted).ravel()
    if labels.shape != predicted.shape:
        raise ValueError(f"length mismatch: {labels.shape[0]} labels vs {predicted.shape[0]} predictions")
    if classes is None:
        classes = np.union1d(labels, predicted).tolist()
    out = {}
    for c in classes:
        t, q = labels == c, predicted == c
        tp = np.sum(t & q)
        denom = 2 * tp + np.sum(~t & q) + np.sum(t & ~q)
        out[c] = float(2 * tp / denom) if denom else 0.0
    return out


def macro_f1(labels, predicted, classes: Sequence | None = None) -> float:
    """Unweighted mean of per-class F1, so a model cannot score well by ignoring a minority class."""
    values = list(per_class_f1(labels, predicted, classes).values())
    return float(np.mean(values)) if values else float("nan")


# --------------------------------------------------------------------------- resampling


def _as_rows(arrays) -> tuple[list[np.ndarray], int]:
    arrays = [np.asarray(a) for a in arrays]
    if not arrays:
        raise ValueError("need at least one array to resample")
    n = arrays[0].shape[0]
    if any(a.shape[0] != n for a in arrays):
        raise ValueError(f"arrays differ in length: {[a.shape[0] for a in arrays]}")
    if n == 0:
        raise ValueError("cannot resample empty arrays")
    return arrays, n


def _has_nan(a: np.ndarray) -> bool:
    return a.dtype.kind == "f" and bool(np.isnan(a).any())


def _scores_of_resamples(metric: Metric, idx: np.ndarray, arrays: list[np.ndarray]) -> np.ndarray:
    """metric on each row of the index matrix: vectorised when it can be, else one call per row."""
    resampled = getattr(metric, "resampled", None)
    if resampled is not None and not any(_has_nan(a) for a in arrays):
        return np.asarray(resampled(idx, *arrays), dtype=float)
    return np.array([metric(*(a[i] for a in arrays)) for i in idx], dtype=float)


def bootstrap_ci(
    metric: Metric, *arrays, n_boot: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """Percentile bootstrap CI: (estimate on all rows, low, high).

    Rows are resampled jointly (targets and predictions stay paired) from one
    (n_boot, n) index matrix; NaN resamples are skipped, and low/high are NaN if none is left.
    """
    arrays, n = _as_rows(arrays)
    estimate = float(metric(*arrays))
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    boots = _scores_of_resamples(metric, idx, arrays)
    boots = boots[~np.isnan(boots)]
    if boots.size == 0:
        return estimate, float("nan"), float("nan")
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(boots, [alpha, 1.0 - alpha])
    return estimate, float(low), float(high)


def _two_sided_from_deltas(delta: float, deltas: np.ndarray) -> float:
    """Twice the +1-corrected share of resampled deltas on the other side of 0, capped at 1."""
    if deltas.size == 0 or np.isnan(delta):
        return float("nan")
    if delta > 0:
        count = np.sum(deltas <= 0)
    elif delta < 0:
        count = np.sum(deltas >= 0)
    else:
        return 1.0
    return float(min(1.0, 2.0 * (count + 1) / (deltas.size + 1)))


def paired_bootstrap(metric: Metric, y, pred_a, pred_b, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> dict:
    """Compare two models on the same rows: CI and p-value of metric(a) - metric(b).

    Both models are scored on the *same* resample each time, so row difficulty
    cancels out and the test is far more sensitive than comparing two separate CIs.
    """
    (y, pred_a, pred_b), n = _as_rows([y, pred_a, pred_b])
    delta = float(metric(y, pred_a) - metric(y, pred_b))
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    deltas = _scores_of_resamples(metric, idx, [y, pred_a]) - _scores_of_resamples(metric, idx, [y, pred_b])
    deltas = deltas[~np.isnan(deltas)]
    if deltas.size:
        alpha = (1.0 - level) / 2.0
        low, high = (float(v) for v in np.quantile(deltas, [alpha, 1.0 - alpha]))
    else:
        low = high = float("nan")
    return {"delta": delta, "low": low, "high": high, "pvalue": _two_sided_from_deltas(delta, deltas)}


def permutation_test_paired(metric: Metric, y, pred_a, pred_b, n_perm: int = 1000, seed: int = 0) -> dict:
    """Exchangeability test of H0 "a and b are interchangeable": swap a/b per row at random.

    Two-sided p = (#|perm delta| >= |observed delta| + 1) / (n_valid + 1), never 0.
    Returns dict(delta, pvalue).
    """
    (y, pred_a, pred_b), n = _as_rows([y, pred_a, pred_b])
    delta = float(metric(y, pred_a) - metric(y, pred_b))
    swap = np.random.default_rng(seed).random((n_perm, n)) < 0.5
    shape = (n,) + (1,) * (pred_a.ndim - 1)  # broadcast a per-row swap over (n, k) probabilities
    perm = []
    for s in swap:
        s = s.reshape(shape)
        a, b = np.where(s, pred_b, pred_a), np.where(s, pred_a, pred_b)
        perm.append(metric(y, a) - metric(y, b))
    perm = np.array(perm, dtype=float)
    perm = perm[~np.isnan(perm)]
    if np.isnan(delta) or perm.size == 0:
        return {"delta": delta, "pvalue": float("nan")}
    # Tiny tolerance so floating-point noise in an exactly-equal permutation still counts as extreme.
    count = np.sum(np.abs(perm) >= abs(delta) - 1e-12)
    return {"delta": delta, "pvalue": float((count + 1) / (perm.size + 1))}


# --------------------------------------------------------------------------- multiple testing


def _pvalue_vector(pvalues) -> np.ndarray:
    p = np.asarray(pvalues, dtype=float)
    if p.ndim != 1:
        raise ValueError(f"p-values must be one-dimensional, got shape {p.shape}")
    if np.any((p < 0) | (p > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    return p


def _adjusted(pvalues, step) -> np.ndarray:
    """Apply `step(sorted_p, m)` to the non-NaN p-values; NaN entries stay NaN and are not counted."""
    p = _pvalue_vector(pvalues)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    if ok.size == 0:
        return out
    order = ok[np.argsort(p[ok], kind="mergesort")]
    out[order] = np.minimum(step(p[order], ok.size), 1.0)
    return out


def holm(pvalues) -> np.ndarray:
    """Holm step-down adjusted p-values: family-wise error control without independence.

    NaN entries stay NaN and do not count towards the number of tests.
    """
    return _adjusted(pvalues, lambda p, m: np.maximum.accumulate((m - np.arange(m)) * p))


def benjamini_hochberg(pvalues) -> np.ndarray:
    """Benjamini–Hochberg step-up adjusted p-values (false discovery rate), as scipy's 'bh'.

    NaN entries stay NaN and do not count towards the number of tests.
    """
    return _adjusted(pvalues, lambda p, m: np.minimum.accumulate((p * m / np.arange(1, m + 1))[::-1])[::-1])
