"""Metrics of one model's predictions frame, each with a percentile bootstrap CI over sequences.

MPRA test sets: Pearson and Spearman per cell type and the mean Pearson over cell types (for
SNV pairs, of the predicted against the measured alt − ref). EPI: accuracy, macro-F1, per-class
and macro AUROC. `PRIMARY_METRIC` is the one metric per task that model comparisons use.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crelens.metrics import (
    accuracy,
    auroc,
    bootstrap_ci,
    macro_auroc,
    macro_f1,
    nanmean_rows,
    pearson,
    spearman,
    vectorised,
)

METRIC_COLUMNS = ["model", "task", "test_set", "metric", "value", "ci_low", "ci_high"]
# The metric a paired comparison uses per task (one per test set keeps the family small).
PRIMARY_METRIC = {"mpra": "pearson_mean", "epi": "macro_auroc"}


def _rows_mean_pearson(idx, y, p) -> np.ndarray:
    return nanmean_rows([pearson.resampled(idx, y[:, j], p[:, j]) for j in range(y.shape[1])])


@vectorised(_rows_mean_pearson)
def mean_pearson(y: np.ndarray, p: np.ndarray) -> float:
    """Mean over columns of the per-column Pearson (NaN columns skipped)."""
    values = [pearson(y[:, j], p[:, j]) for j in range(y.shape[1])]
    finite = [v for v in values if not np.isnan(v)]
    return float(np.mean(finite)) if finite else float("nan")


@vectorised(lambda idx, labels, probs: (labels[idx] == probs.argmax(1)[idx]).mean(axis=1))
def _argmax_accuracy(labels, probs) -> float:
    return accuracy(labels, probs.argmax(1))


def _argmax_macro_f1(n_classes: int):
    def resampled(idx, labels, probs) -> np.ndarray:
        truth, predicted = labels[idx], probs.argmax(1)[idx]
        f1 = []
        for c in range(n_classes):
            t, q = truth == c, predicted == c
            tp = (t & q).sum(axis=1)
            denom = 2 * tp + (~t & q).sum(axis=1) + (t & ~q).sum(axis=1)
            f1.append(np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0))
        return np.mean(f1, axis=0)

    return vectorised(resampled)(lambda labels, probs: macro_f1(labels, probs.argmax(1), classes=range(n_classes)))


def _one_vs_rest_auroc(j: int):
    """AUROC of class j against the rest, with its all-resamples-at-once form."""
    resampled = vectorised(lambda idx, labels, probs: auroc.resampled(idx, labels == j, probs[:, j]))
    return resampled(lambda labels, probs: auroc(labels == j, probs[:, j]))


def metric_row(metric: str, estimate: tuple[float, float, float]) -> dict:
    """One row of a metric table from a (value, ci_low, ci_high) estimate."""
    value, low, high = estimate
    return {"metric": metric, "value": value, "ci_low": low, "ci_high": high}


def target_arrays(task: str, frame: pd.DataFrame) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(cell or class names, targets, predictions) of one test set's predictions frame.

    MPRA: measured (n, cells) and predicted (n, cells); EPI: label ids (n,) and class
    probabilities (n, classes).
    """
    if task == "mpra":
        cells = [c[len("measured_") :] for c in frame.columns if c.startswith("measured_")]
        return (
            cells,
            frame[[f"measured_{c}" for c in cells]].to_numpy(np.float64),
            frame[[f"pred_{c}" for c in cells]].to_numpy(np.float64),
        )
    if task == "epi":
        classes = [c[len("prob_") :] for c in frame.columns if c.startswith("prob_")]
        return classes, frame["label_id"].to_numpy(), frame[[f"prob_{c}" for c in classes]].to_numpy(np.float64)
    raise ValueError(f"unknown task {task!r}")


def score(
    predictions: pd.DataFrame, task: str, *, n_boot: int = 1000, level: float = 0.95, seed: int = 0
) -> pd.DataFrame:
    """Metric rows (task, test_set, metric, value, ci_low, ci_high) for one model's predictions."""
    boot = {"n_boot": n_boot, "level": level, "seed": seed}
    rows = []
    for test_set, frame in predictions.groupby("test_set", sort=False):
        names, y, p = target_arrays(task, frame)
        scored = []
        if task == "mpra":
            for j, cell in enumerate(names):
                scored.append(metric_row(f"pearson_{cell}", bootstrap_ci(pearson, y[:, j], p[:, j], **boot)))
                scored.append(metric_row(f"spearman_{cell}", bootstrap_ci(spearman, y[:, j], p[:, j], **boot)))
            scored.append(metric_row("pearson_mean", bootstrap_ci(mean_pearson, y, p, **boot)))
        else:
            scored.append(metric_row("accuracy", bootstrap_ci(_argmax_accuracy, y, p, **boot)))
            scored.append(metric_row("macro_f1", bootstrap_ci(_argmax_macro_f1(len(names)), y, p, **boot)))
            scored.append(metric_row("macro_auroc", bootstrap_ci(macro_auroc, y, p, **boot)))
            for j, name in enumerate(names):
                scored.append(metric_row(f"auroc_{name}", bootstrap_ci(_one_vs_rest_auroc(j), y, p, **boot)))
        rows += [{**row, "test_set": test_set} for row in scored]
    out = pd.DataFrame(rows, columns=["test_set", "metric", "value", "ci_low", "ci_high"])
    out.insert(0, "task", task)
    return out[["task", "test_set", "metric", "value", "ci_low", "ci_high"]]


# The function behind PRIMARY_METRIC[task], on the arrays `target_arrays` returns.
PRIMARY_FUNCTION = {"mpra": mean_pearson, "epi": macro_auroc}
