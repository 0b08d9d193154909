"""The `evaluate` and `evaluate_noise_ceiling` jobs: predict every test set, score, write.

Heads read the cached features, other models one-hot sequences; attention models also get the
share of their top-attended positions on planted motifs. The noise ceiling scores the
simulator's noise-free activity like a model.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch

from crelens.encoder.cache import EmbeddingCache
from crelens.errors import InputError
from crelens.evaluation.attention_hits import attention_importance, motif_hit_rows, motif_hit_shares
from crelens.evaluation.predictions import (
    head_predictor,
    id_column,
    load_tables,
    noise_ceiling_predictions,
    one_hot_predictor,
    test_set_predictions,
)
from crelens.evaluation.scoring import METRIC_COLUMNS, score
from crelens.models.registry import load_model, task_view
from crelens.names import NOISE_CEILING, TASK_TABLES, reads_cache
from crelens.sequences import one_hot_strands
from crelens.tables import read_table, write_table

log = logging.getLogger(__name__)


def _write(predictions: pd.DataFrame, metrics: pd.DataFrame, predictions_out, metrics_out) -> None:
    for row in metrics[
        metrics.metric.isin(["pearson_mean", "accuracy", "macro_auroc", "attention_motif_enrichment"])
    ].itertuples():
        log.info(
            "%s %s/%s %s = %.4f [%.4f, %.4f]",
            row.model,
            row.task,
            row.test_set,
            row.metric,
            row.value,
            row.ci_low,
            row.ci_high,
        )
    write_table(predictions, predictions_out)
    write_table(metrics[METRIC_COLUMNS], metrics_out)


def run_evaluate(
    task: str,
    model_name: str,
    weights,
    table_paths: dict,
    cells: list[str],
    settings: dict,
    seed: int,
    predictions_out,
    metrics_out,
    *,
    cache_paths: dict | None = None,
    sites_path=None,
    threads: int = 1,
) -> pd.DataFrame:
    """Predict every test set of `task` with a trained model and score it (metric rows with CIs).

    Heads read the cached features (`cache_paths`: {cache-table key: manifest}); other models,
    and fine-tuned heads (which run their own encoder), one-hot sequences. Attention models also
    get the share of their top-attended positions
    on planted motifs when `sites_path` (results/datasets/truth_sites.parquet) is given.
    """
    torch.set_num_threads(threads)
    model, spec = load_model(weights)
    if spec["model"] != model_name:
        raise InputError(weights, f"checkpoint holds model {spec['model']!r}, expected {model_name!r}")
    view = task_view(model, task)
    tables = load_tables(task, table_paths)
    if reads_cache(model_name):
        if not cache_paths:
            raise InputError(weights, "a head is evaluated on cached features: cache manifests are needed")
        caches = {key: EmbeddingCache(cache_paths[key]) for key in TASK_TABLES[task]}
        for key, cache in caches.items():
            if cache.seq_ids != list(tables[key][0][id_column(key)]):
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


def run_evaluate_noise_ceiling(
    truth_activity,
    truth_variants,
    table_paths: dict,
    cells: list[str],
    settings: dict,
    seed: int,
    predictions_out,
    metrics_out,
) -> pd.DataFrame:
    """Score the simulator's noise-free activity like a model: the `noise_ceiling` rows."""
    tables = load_tables("mpra", table_paths)
    predictions = noise_ceiling_predictions(
        read_table(truth_activity),
        read_table(truth_variants),
        tables["mpra"][0],
        tables["mpra_snv_ref"][0],
        tables["mpra_ood"][0],
        cells,
    )
    metrics = score(predictions, "mpra", n_boot=settings["n_boot"], level=settings["level"], seed=seed)
    metrics.insert(0, "model", NOISE_CEILING)
    _write(predictions, metrics, predictions_out, metrics_out)
    return metrics
