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

import logging
import time

import numpy as np
import pandas as pd
import torch

from crelens.attribution.baselines import explaining
from crelens.attribution.explained import ExplainedModel, load_explained
from crelens.attribution.selection import output_names
from crelens.attribution.store import read_attributions
from crelens.metrics import auroc, bootstrap_ci
from crelens.planted import relevant_motifs, site_mask
from crelens.tables import read_table, write_table

log = logging.getLogger(__name__)

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


# --------------------------------------------------------------------------- the job


def _explained_outputs(task: str, stored: dict) -> list[tuple[int, np.ndarray]]:
    """(output index, rows) pairs to score: every cell type for MPRA; for EPI each sequence's
    own class logit (the prediction a biologist asks about)."""
    n = len(stored["seq_id"])
    if task == "mpra":
        return [(k, np.arange(n)) for k in range(len(stored["output"]))]
    labels = stored["label_id"]
    return [(int(k), np.flatnonzero(labels == k)) for k in np.unique(labels) if k >= 0]


def faithfulness(
    model: ExplainedModel,
    stored: dict[str, dict],
    task: str,
    *,
    steps: int,
    batch_size: int,
    sites: pd.DataFrame | None = None,
    design_motifs: list[dict] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-sequence faithfulness rows (method, seq_id, metric, value) and mean MoRF/LeRF curves.

    Metrics per sequence (averaged over the explained outputs): area_morf, area_lerf, delta_af
    (= area_lerf − area_morf, removal = the N nucleotide of the model's input) and on synthetic
    data motif_auroc / motif_auprc of |relevance| against the planted relevant motif positions.
    """
    reference = next(iter(stored.values()))
    for method, arrays in stored.items():
        if not np.array_equal(arrays["seq_id"], reference["seq_id"]):
            raise ValueError(f"{method}: attributions are of other sequences than {next(iter(stored))}")
    seq_ids = list(reference["seq_id"])
    x = model.inputs(list(reference["sequence"]))
    length = x.shape[1]
    rows, curves = [], []
    for method, arrays in stored.items():
        per_metric: dict[str, np.ndarray] = {}
        counts = np.zeros(len(seq_ids))
        started = time.monotonic()
        for k, idx in _explained_outputs(task, arrays):
            if not len(idx):
                continue
            relevance = torch.as_tensor(arrays["relevance"][idx, k], dtype=x.dtype)
            scores = {}
            for order in ("morf", "lerf"):
                curve = perturbation_curve(model, x[idx], relevance, k, order, steps, batch_size)
                scores[f"area_{order}"] = area(curve).cpu().numpy()
                mean_curve = curve.double().mean(0).cpu().numpy()
                curves += [
                    {
                        "method": method,
                        "output": str(arrays["output"][k]),
                        "order": order,
                        "fraction": j / steps,
                        "value": float(v),
                    }
                    for j, v in enumerate(mean_curve)
                ]
            scores["delta_af"] = scores["area_lerf"] - scores["area_morf"]
            if sites is not None and design_motifs is not None:
                names = relevant_motifs(task, str(arrays["output"][k]), design_motifs)
                mask = site_mask(sites[sites["motif_name"].isin(names)], [seq_ids[i] for i in idx], length)
                scores["motif_auroc"], scores["motif_auprc"] = motif_scores(relevance.abs().cpu().numpy(), mask)
            for metric, values in scores.items():
                total = per_metric.setdefault(metric, np.zeros(len(seq_ids)))
                total[idx] += np.nan_to_num(values, nan=0.0)
                per_metric.setdefault(f"{metric}__n", np.zeros(len(seq_ids)))[idx] += ~np.isnan(values)
            counts[idx] += 1
        log.info("%s: perturbation curves of %d sequences in %.1f s", method, len(seq_ids), time.monotonic() - started)
        for metric in [m for m in per_metric if not m.endswith("__n")]:
            n = per_metric[f"{metric}__n"]
            mean = np.where(n > 0, per_metric[metric] / np.maximum(n, 1), np.nan)
            rows += [
                {"method": method, "seq_id": s, "metric": metric, "value": float(v)} for s, v in zip(seq_ids, mean)
            ]
    return pd.DataFrame(rows), pd.DataFrame(curves)


def run_faithfulness(
    task: str,
    model_path,
    attribution_paths: dict,
    out_scores,
    out_curves,
    *,
    table_path,
    cells: list[str],
    settings: dict,
    n_as: str = "pad",
    encoder_folder=None,
    sites_path=None,
    design_motifs: list[dict] | None = None,
    threads: int = 1,
) -> None:
    """One `faithfulness` job: perturbation curves (and motif recovery) of every method."""
    torch.set_num_threads(threads)
    names = output_names(task, read_table(table_path), cells)
    model = load_explained(model_path, task, names, encoder_folder=encoder_folder, n_as=n_as, dtype="float32")
    stored = {method: read_attributions(path) for method, path in attribution_paths.items()}
    sites = None
    if sites_path:
        sites = read_table(sites_path)
        sites = sites[sites["dataset"] == task]
    scores, curves = faithfulness(
        model,
        stored,
        task,
        steps=settings["perturbation_steps"],
        batch_size=settings["batch_size"] * 4,
        sites=sites,
        design_motifs=design_motifs,
    )
    write_table(scores, out_scores)
    write_table(curves, out_curves)
