"""Score trained models on the held-out test sets, with bootstrap CIs and paired comparisons.

Why one module: every model (heads on the frozen encoder, Malinois, the seed baselines, and
on synthetic data the noise ceiling) is turned into the same *predictions frame* and scored by
the same code, so the comparison table differs only in the model.

Test sets
---------
* MPRA `id`: rows of the MPRA table on the test chromosomes; Pearson and Spearman per cell type
  and the mean Pearson over cell types.
* MPRA `snv`: variant pairs; the prediction is alt − ref, scored against the measured
  difference (Pearson of deltas, as in the Gosai et al. benchmark).
* MPRA `ood`: designed sequences without genomic origin (out of distribution).
* EPI `id`: EPI windows on the test chromosomes; accuracy, macro-F1, per-class and macro AUROC.

Predictions frame: one row per (test_set, seq_id) with `measured_<cell>` / `pred_<cell>`
(regression) or `label_id` / `prob_<class>` (classification). Predictions average both strands.

Statistics: each metric gets a 95% percentile bootstrap CI over sequences
(`crelens.metrics.bootstrap_ci`); models are compared with the best model of each test set by a
paired bootstrap on the same sequences, Holm-corrected within each test set.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch

from .metrics import (
    accuracy,
    auroc,
    bootstrap_ci,
    holm,
    macro_auroc,
    macro_f1,
    paired_bootstrap,
    pearson,
    spearman,
)
from .cache import CACHE_TABLES, EmbeddingCache
from .errors import InputError
from .io import read_table, write_table
from .models.registry import is_head, load_model, task_view
from .sequences import one_hot_strands
from .training import predict

log = logging.getLogger(__name__)

MPRA_TEST_SETS = ("id", "snv", "ood")
EPI_TEST_SETS = ("id",)
TEST_SETS = {"mpra": MPRA_TEST_SETS, "epi": EPI_TEST_SETS}
METRIC_COLUMNS = ["model", "task", "test_set", "metric", "value", "ci_low", "ci_high"]
# The metric a paired comparison uses per task (one per test set keeps the family small).
PRIMARY_METRIC = {"mpra": "pearson_mean", "epi": "macro_auroc"}
NOISE_CEILING = "noise_ceiling"
TASK_KIND = {"mpra": "regression", "epi": "classification"}

# predict_rows(table_key, row_indices) -> strand-averaged predictions (n, outputs); table keys
# are those of `crelens.cache.CACHE_TABLES` (mpra, mpra_ood, mpra_snv_ref, mpra_snv_alt, epi).
PredictRows = Callable[[str, np.ndarray], np.ndarray]


def _regression_frame(test_set: str, seq_ids, measured: np.ndarray, pred: np.ndarray, cells: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame({"test_set": test_set, "seq_id": list(seq_ids)})
    for j, cell in enumerate(cells):
        frame[f"measured_{cell}"] = np.asarray(measured[:, j], dtype=np.float64)
        frame[f"pred_{cell}"] = np.asarray(pred[:, j], dtype=np.float64)
    return frame


def mpra_predictions(predict_rows: PredictRows, mpra: pd.DataFrame, snv: pd.DataFrame, ood: pd.DataFrame, cells: list[str]) -> pd.DataFrame:
    """Predictions frame for the three MPRA test sets."""
    test = np.flatnonzero(mpra["split"].to_numpy() == "test")
    parts = [_regression_frame("id", mpra["seq_id"].iloc[test], mpra[cells].to_numpy()[test],
                               predict_rows("mpra", test), cells)]
    rows = np.arange(len(snv))
    delta = predict_rows("mpra_snv_alt", rows) - predict_rows("mpra_snv_ref", rows)
    parts.append(_regression_frame("snv", snv["pair_id"], snv[[f"{c}_delta" for c in cells]].to_numpy(), delta, cells))
    parts.append(_regression_frame("ood", ood["seq_id"], ood[cells].to_numpy(), predict_rows("mpra_ood", np.arange(len(ood))), cells))
    return pd.concat(parts, ignore_index=True)


def epi_classes(epi: pd.DataFrame) -> list[str]:
    """Class names in label_id order."""
    pairs = epi[["label_id", "label"]].drop_duplicates().sort_values("label_id")
    if list(pairs["label_id"]) != list(range(len(pairs))) or pairs["label"].duplicated().any():
        raise ValueError("EPI labels must map one-to-one onto label ids 0..k-1")
    return list(pairs["label"])


def epi_predictions(predict_rows: PredictRows, epi: pd.DataFrame) -> pd.DataFrame:
    """Predictions frame (class probabilities) for the EPI test set."""
    classes = epi_classes(epi)
    test = np.flatnonzero(epi["split"].to_numpy() == "test")
    probs = predict_rows("epi", test)
    if probs.shape != (len(test), len(classes)):
        raise ValueError(f"expected ({len(test)}, {len(classes)}) class probabilities, got {probs.shape}")
    frame = pd.DataFrame({"test_set": "id", "seq_id": epi["seq_id"].iloc[test].to_numpy(),
                          "label_id": epi["label_id"].iloc[test].to_numpy()})
    for j, name in enumerate(classes):
        frame[f"prob_{name}"] = probs[:, j].astype(np.float64)
    return frame


def noise_ceiling_predictions(truth: pd.DataFrame, variants: pd.DataFrame, mpra: pd.DataFrame, snv: pd.DataFrame,
                              ood: pd.DataFrame, cells: list[str]) -> pd.DataFrame:
    """The simulator's noise-free activity scored as if it were a model: the best any model can do.

    `truth` is truth/mpra_activity.tsv (`<cell>_true` per seq_id, orientation-averaged) and
    `variants` truth/variants.tsv (`<cell>_true_delta` per variant_id = SNV pair_id).
    """
    true = truth.set_index("seq_id")
    true_delta = variants.set_index("variant_id")

    def lookup(frame, ids, columns, what):
        missing = pd.Index(ids).difference(frame.index)
        if len(missing):
            raise ValueError(f"{len(missing)} {what} have no truth, e.g. {list(missing[:3])}")
        return frame.loc[list(ids), columns].to_numpy(np.float64)

    def predict_rows(key: str, rows: np.ndarray) -> np.ndarray:
        if key == "mpra":
            return lookup(true, mpra["seq_id"].iloc[rows], [f"{c}_true" for c in cells], "MPRA sequences")
        if key == "mpra_ood":
            return lookup(true, ood["seq_id"].iloc[rows], [f"{c}_true" for c in cells], "OOD sequences")
        if key == "mpra_snv_alt":
            return lookup(true_delta, snv["pair_id"].iloc[rows], [f"{c}_true_delta" for c in cells], "SNV pairs")
        if key == "mpra_snv_ref":
            return np.zeros((len(rows), len(cells)))
        raise KeyError(key)

    return mpra_predictions(predict_rows, mpra, snv, ood, cells)


def mean_pearson(y: np.ndarray, p: np.ndarray) -> float:
    """Mean over columns of the per-column Pearson (NaN columns skipped)."""
    values = [pearson(y[:, j], p[:, j]) for j in range(y.shape[1])]
    finite = [v for v in values if not np.isnan(v)]
    return float(np.mean(finite)) if finite else float("nan")


def _argmax_accuracy(labels, probs) -> float:
    return accuracy(labels, probs.argmax(1))


def _argmax_macro_f1(n_classes: int):
    return lambda labels, probs: macro_f1(labels, probs.argmax(1), classes=range(n_classes))


def _row(metric: str, estimate: tuple[float, float, float]) -> dict:
    value, low, high = estimate
    return {"metric": metric, "value": value, "ci_low": low, "ci_high": high}


def _arrays(task: str, frame: pd.DataFrame) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(cell or class names, targets, predictions) of one test set's predictions frame.

    MPRA: measured (n, cells) and predicted (n, cells); EPI: label ids (n,) and class
    probabilities (n, classes).
    """
    if task == "mpra":
        cells = [c[len("measured_"):] for c in frame.columns if c.startswith("measured_")]
        return (cells, frame[[f"measured_{c}" for c in cells]].to_numpy(np.float64),
                frame[[f"pred_{c}" for c in cells]].to_numpy(np.float64))
    if task == "epi":
        classes = [c[len("prob_"):] for c in frame.columns if c.startswith("prob_")]
        return classes, frame["label_id"].to_numpy(), frame[[f"prob_{c}" for c in classes]].to_numpy(np.float64)
    raise ValueError(f"unknown task {task!r}")


def score(predictions: pd.DataFrame, task: str, *, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Metric rows (task, test_set, metric, value, ci_low, ci_high) for one model's predictions."""
    boot = {"n_boot": n_boot, "level": level, "seed": seed}
    rows = []
    for test_set, frame in predictions.groupby("test_set", sort=False):
        names, y, p = _arrays(task, frame)
        scored = []
        if task == "mpra":
            for j, cell in enumerate(names):
                scored.append(_row(f"pearson_{cell}", bootstrap_ci(pearson, y[:, j], p[:, j], **boot)))
                scored.append(_row(f"spearman_{cell}", bootstrap_ci(spearman, y[:, j], p[:, j], **boot)))
            scored.append(_row("pearson_mean", bootstrap_ci(mean_pearson, y, p, **boot)))
        else:
            scored.append(_row("accuracy", bootstrap_ci(_argmax_accuracy, y, p, **boot)))
            scored.append(_row("macro_f1", bootstrap_ci(_argmax_macro_f1(len(names)), y, p, **boot)))
            scored.append(_row("macro_auroc", bootstrap_ci(macro_auroc, y, p, **boot)))
            for j, name in enumerate(names):
                one_vs_rest = lambda lab, pr, j=j: auroc(lab == j, pr[:, j])  # noqa: E731
                scored.append(_row(f"auroc_{name}", bootstrap_ci(one_vs_rest, y, p, **boot)))
        rows += [{**row, "test_set": test_set} for row in scored]
    out = pd.DataFrame(rows, columns=["test_set", "metric", "value", "ci_low", "ci_high"])
    out.insert(0, "task", task)
    return out[["task", "test_set", "metric", "value", "ci_low", "ci_high"]]


# The function behind PRIMARY_METRIC[task], on the arrays `_arrays` returns.
PRIMARY_FUNCTION = {"mpra": mean_pearson, "epi": macro_auroc}


def paired_comparisons(predictions: dict[str, pd.DataFrame], task: str, *, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Each model against the best model of each test set, on the same sequences.

    The best model is the one with the highest primary metric (the noise ceiling is not a model
    and is left out). p-values come from a paired bootstrap of the metric difference and are
    Holm-adjusted within each test set (one family per test set).
    """
    models = [m for m in predictions if m != NOISE_CEILING]
    rows = []
    for test_set in TEST_SETS[task]:
        frames = {}
        for model in models:
            frame = predictions[model]
            frame = frame[frame["test_set"] == test_set].set_index("seq_id")
            if not frame.empty:
                frames[model] = frame
        if len(frames) < 2:
            continue
        ids = sorted(set.intersection(*(set(f.index) for f in frames.values())))
        if any(len(f) != len(ids) for f in frames.values()):
            raise ValueError(f"{task}/{test_set}: models were scored on different sequences")
        metric = PRIMARY_FUNCTION[task]
        scored = {m: _arrays(task, f.loc[ids].reset_index())[1:] for m, f in frames.items()}
        best = max(scored, key=lambda m: (metric(*scored[m]), m))
        y, p_best = scored[best]
        family = []
        for model in sorted(scored):
            if model == best:
                continue
            result = paired_bootstrap(metric, y, p_best, scored[model][1], n_boot=n_boot, seed=seed)
            family.append({"task": task, "test_set": test_set, "metric": PRIMARY_METRIC[task], "best": best, "model": model,
                           "delta": result["delta"], "ci_low": result["low"], "ci_high": result["high"],
                           "pvalue": result["pvalue"]})
        adjusted = holm([r["pvalue"] for r in family])
        for r, q in zip(family, adjusted):
            r["pvalue_holm"] = float(q)
        rows += family
    columns = ["task", "test_set", "metric", "best", "model", "delta", "ci_low", "ci_high", "pvalue", "pvalue_holm"]
    return pd.DataFrame(rows, columns=columns)


def motif_hit_shares(importance: np.ndarray, seq_ids, sites: pd.DataFrame, top_share: float = 0.05) -> pd.DataFrame:
    """Per sequence: the share of its most-attended positions that fall on planted motifs.

    For each sequence with at least one planted motif (`sites`: seq_id, start, end in sequence
    coordinates), the top `top_share` of positions by `importance` (B, L) are compared with the
    union of its motif intervals. `chance` is the motif-covered share of positions: what a
    model attending at random would score. Returns columns seq_id, hit_share, chance.
    """
    importance = np.asarray(importance)
    n, length = importance.shape
    k = max(1, int(round(top_share * length)))
    by_id = {key: g for key, g in sites.groupby("seq_id")}
    rows = []
    for i, seq_id in enumerate(seq_ids):
        group = by_id.get(seq_id)
        if group is None:
            continue
        mask = np.zeros(length, dtype=bool)
        for start, end in zip(group["start"], group["end"]):
            mask[max(0, int(start)):min(length, int(end))] = True
        top = np.argsort(-importance[i], kind="stable")[:k]
        rows.append({"seq_id": seq_id, "hit_share": float(mask[top].mean()), "chance": float(mask.mean())})
    return pd.DataFrame(rows, columns=["seq_id", "hit_share", "chance"])


def motif_hit_rows(shares: pd.DataFrame, task: str, *, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Metric rows: mean hit share of top-attended positions, the chance level, and their ratio."""
    rows = []
    if len(shares):
        hit, chance = shares["hit_share"].to_numpy(), shares["chance"].to_numpy()
        boot = {"n_boot": n_boot, "level": level, "seed": seed}
        rows.append(_row("attention_motif_hit_rate", bootstrap_ci(np.mean, hit, **boot)))
        rows.append(_row("attention_motif_chance_rate", bootstrap_ci(np.mean, chance, **boot)))
        rows.append(_row("attention_motif_enrichment", bootstrap_ci(lambda h, c: np.mean(h) / np.mean(c), hit, chance, **boot)))
    out = pd.DataFrame(rows, columns=["metric", "value", "ci_low", "ci_high"])
    out.insert(0, "test_set", "id")
    out.insert(0, "task", task)
    return out


# --------------------------------------------------------------------------- running a trained model


def head_predictor(model, task: str, caches: dict) -> PredictRows:
    """predict_rows for a head: strand-averaged predictions from the cached features."""
    kind = TASK_KIND[task]
    return lambda key, rows: predict(model, caches[key].rows(np.asarray(rows)), kind)


def one_hot_predictor(model, task: str, tables: dict) -> PredictRows:
    """predict_rows for a one-hot model: forward and full reverse complement averaged (Malinois)."""
    kind = TASK_KIND[task]

    def predict_rows(key: str, rows: np.ndarray) -> np.ndarray:
        frame, column = tables[key]
        return predict(model, one_hot_strands(frame[column].iloc[np.asarray(rows)]), kind)

    return predict_rows


def test_set_predictions(predict_rows: PredictRows, task: str, tables: dict, cells: list[str]) -> pd.DataFrame:
    if task == "mpra":
        return mpra_predictions(predict_rows, tables["mpra"][0], tables["mpra_snv_ref"][0], tables["mpra_ood"][0], cells)
    return epi_predictions(predict_rows, tables["epi"][0])


def attention_importance(model, inputs: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """(n, L) attention received per position, averaged over both strands (RC mapped back)."""
    out = []
    with torch.no_grad():
        for lo in range(0, len(inputs), batch_size):
            x = torch.from_numpy(np.asarray(inputs[lo:lo + batch_size], dtype=np.float32))
            forward = model.position_importance(x[:, 0])
            reverse = model.position_importance(x[:, 1]).flip(-1)
            out.append(((forward + reverse) / 2).numpy())
    return np.concatenate(out) if out else np.zeros((0, inputs.shape[-1]))


TASK_TABLES = {"mpra": ("mpra", "mpra_snv_ref", "mpra_snv_alt", "mpra_ood"), "epi": ("epi",)}


def _load_tables(task: str, table_paths: dict) -> dict:
    """{cache-table key: (frame, sequence column)} for the task's test sets."""
    frames = {}
    out = {}
    for key in TASK_TABLES[task]:
        name, column = CACHE_TABLES[key]
        if name not in frames:
            if name not in table_paths:
                raise InputError(None, f"evaluation of task {task!r} needs the {name!r} table")
            frames[name] = read_table(table_paths[name])
        out[key] = (frames[name], column)
    return out


def _write(predictions: pd.DataFrame, metrics: pd.DataFrame, predictions_out, metrics_out) -> None:
    for row in metrics[metrics.metric.isin(["pearson_mean", "accuracy", "macro_auroc", "attention_motif_enrichment"])].itertuples():
        log.info("%s %s/%s %s = %.4f [%.4f, %.4f]", row.model, row.task, row.test_set, row.metric, row.value,
                 row.ci_low, row.ci_high)
    write_table(predictions, predictions_out)
    write_table(metrics[METRIC_COLUMNS], metrics_out)


def evaluate_model(task: str, model_name: str, weights, table_paths: dict, cells: list[str], settings: dict, seed: int,
                   predictions_out, metrics_out, *, cache_paths: dict | None = None, sites_path=None, threads: int = 1) -> pd.DataFrame:
    """Predict every test set of `task` with a trained model and score it (metric rows with CIs).

    Heads read the cached features (`cache_paths`: {cache-table key: manifest}); other models
    one-hot sequences. Attention models also get the share of their top-attended positions
    on planted motifs when `sites_path` (results/datasets/truth_sites.parquet) is given.
    """
    torch.set_num_threads(threads)
    model, spec = load_model(weights)
    if spec["model"] != model_name:
        raise InputError(weights, f"checkpoint holds model {spec['model']!r}, expected {model_name!r}")
    view = task_view(model, task)
    tables = _load_tables(task, table_paths)
    if is_head(model_name):
        if not cache_paths:
            raise InputError(weights, "a head is evaluated on cached features: cache manifests are needed")
        caches = {key: EmbeddingCache(cache_paths[key]) for key in TASK_TABLES[task]}
        for key, cache in caches.items():
            if cache.seq_ids != list(tables[key][0][_id_column(key)]):
                raise InputError(cache_paths[key], f"cache rows do not match the {key} table (rebuild the cache)")
        predict_rows = head_predictor(view, task, caches)
    else:
        predict_rows = one_hot_predictor(view, task, tables)
    predictions = test_set_predictions(predict_rows, task, tables, cells)
    boot = {"n_boot": settings["n_boot"], "level": settings["level"], "seed": seed}
    metrics = score(predictions, task, **boot)
    if sites_path is not None and hasattr(view, "position_importance"):
        frame = tables[task][0]
        test = np.flatnonzero(frame["split"].to_numpy() == "test")
        sites = read_table(sites_path)
        sites = sites[sites["dataset"] == task]
        importance = attention_importance(view, one_hot_strands(frame["sequence"].iloc[test]))
        shares = motif_hit_shares(importance, frame["seq_id"].iloc[test], sites, settings["motif_top_share"])
        metrics = pd.concat([metrics, motif_hit_rows(shares, task, **boot)], ignore_index=True)
    metrics.insert(0, "model", model_name)
    _write(predictions, metrics, predictions_out, metrics_out)
    return metrics


def _id_column(key: str) -> str:
    return "pair_id" if key.startswith("mpra_snv") else "seq_id"


def evaluate_noise_ceiling(truth_activity, truth_variants, table_paths: dict, cells: list[str], settings: dict, seed: int,
                           predictions_out, metrics_out) -> pd.DataFrame:
    """Score the simulator's noise-free activity like a model: the `noise_ceiling` rows."""
    tables = _load_tables("mpra", table_paths)
    predictions = noise_ceiling_predictions(read_table(truth_activity), read_table(truth_variants), tables["mpra"][0],
                                            tables["mpra_snv_ref"][0], tables["mpra_ood"][0], cells)
    metrics = score(predictions, "mpra", n_boot=settings["n_boot"], level=settings["level"], seed=seed)
    metrics.insert(0, "model", NOISE_CEILING)
    _write(predictions, metrics, predictions_out, metrics_out)
    return metrics
