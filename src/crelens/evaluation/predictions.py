"""Score trained models on the held-out test sets, with bootstrap CIs and paired comparisons.

Why one frame: every model (heads on the frozen encoder, Malinois, the seed baselines, and
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

from collections.abc import Callable

import numpy as np
import pandas as pd

from crelens.errors import InputError
from crelens.models.training import predict
from crelens.names import CACHE_TABLES, TASK_KINDS, TASK_TABLES
from crelens.sequences import one_hot_strands
from crelens.tables import read_table

# predict_rows(table_key, row_indices) -> strand-averaged predictions (n, outputs); table keys
# are those of `crelens.names.CACHE_TABLES` (mpra, mpra_ood, mpra_snv_ref, mpra_snv_alt, epi).
PredictRows = Callable[[str, np.ndarray], np.ndarray]


def _regression_frame(test_set: str, seq_ids, measured: np.ndarray, pred: np.ndarray, cells: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame({"test_set": test_set, "seq_id": list(seq_ids)})
    for j, cell in enumerate(cells):
        frame[f"measured_{cell}"] = np.asarray(measured[:, j], dtype=np.float64)
        frame[f"pred_{cell}"] = np.asarray(pred[:, j], dtype=np.float64)
    return frame


def mpra_predictions(
    predict_rows: PredictRows, mpra: pd.DataFrame, snv: pd.DataFrame, ood: pd.DataFrame, cells: list[str]
) -> pd.DataFrame:
    """Predictions frame for the three MPRA test sets."""
    test = np.flatnonzero(mpra["split"].to_numpy() == "test")
    parts = [
        _regression_frame(
            "id", mpra["seq_id"].iloc[test], mpra[cells].to_numpy()[test], predict_rows("mpra", test), cells
        )
    ]
    rows = np.arange(len(snv))
    delta = predict_rows("mpra_snv_alt", rows) - predict_rows("mpra_snv_ref", rows)
    parts.append(_regression_frame("snv", snv["pair_id"], snv[[f"{c}_delta" for c in cells]].to_numpy(), delta, cells))
    parts.append(
        _regression_frame(
            "ood", ood["seq_id"], ood[cells].to_numpy(), predict_rows("mpra_ood", np.arange(len(ood))), cells
        )
    )
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
    frame = pd.DataFrame(
        {
            "test_set": "id",
            "seq_id": epi["seq_id"].iloc[test].to_numpy(),
            "label_id": epi["label_id"].iloc[test].to_numpy(),
        }
    )
    for j, name in enumerate(classes):
        frame[f"prob_{name}"] = probs[:, j].astype(np.float64)
    return frame


def noise_ceiling_predictions(
    truth: pd.DataFrame,
    variants: pd.DataFrame,
    mpra: pd.DataFrame,
    snv: pd.DataFrame,
    ood: pd.DataFrame,
    cells: list[str],
) -> pd.DataFrame:
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


def head_predictor(model, task: str, caches: dict) -> PredictRows:
    """predict_rows for a head: strand-averaged predictions from the cached features."""
    kind = TASK_KINDS[task]
    return lambda key, rows: predict(model, caches[key].rows(np.asarray(rows)), kind)


def one_hot_predictor(model, task: str, tables: dict) -> PredictRows:
    """predict_rows for a one-hot model: forward and full reverse complement averaged (Malinois)."""
    kind = TASK_KINDS[task]

    def predict_rows(key: str, rows: np.ndarray) -> np.ndarray:
        frame, column = tables[key]
        return predict(model, one_hot_strands(frame[column].iloc[np.asarray(rows)]), kind)

    return predict_rows


def test_set_predictions(predict_rows: PredictRows, task: str, tables: dict, cells: list[str]) -> pd.DataFrame:
    if task == "mpra":
        return mpra_predictions(
            predict_rows, tables["mpra"][0], tables["mpra_snv_ref"][0], tables["mpra_ood"][0], cells
        )
    return epi_predictions(predict_rows, tables["epi"][0])


def load_tables(task: str, table_paths: dict) -> dict:
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


def id_column(key: str) -> str:
    return "pair_id" if key.startswith("mpra_snv") else "seq_id"
