"""Fit one adapter head on cached encoder features for one task, and save what the report needs.

Tasks: `mpra` (regression, one output per cell type, rows of results/datasets/mpra.parquet)
and `epi` (enhancer / promoter / intergenic classification, results/datasets/epi.parquet).
The cache rows are in table order (the cache is built from the table), which is checked.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import torch
from safetensors.torch import save_file

from .atomic import atomic_open, atomic_path
from .cache import EmbeddingCache
from .errors import InputError
from .io import read_table, write_table
from .models.heads import build_head
from .training import train_head

log = logging.getLogger(__name__)

TASKS = {"mpra": "regression", "epi": "classification"}


def task_targets(table, task: str, cells: list[str]) -> tuple[np.ndarray, np.ndarray | None]:
    """Targets (float (n, cells) or int labels) and optional per-row weights."""
    if task == "mpra":
        return table[cells].to_numpy(np.float32), None
    weights = table["weight"].to_numpy(np.float32) if "weight" in table else None
    return table["label_id"].to_numpy(np.int64), weights


def fit_head(task: str, kind: str, table_path, manifest_path, cells: list[str], settings: dict, seed: int,
             weights_out, metrics_out, curve_out, threads: int = 1) -> dict:
    torch.set_num_threads(threads)
    if task not in TASKS:
        raise InputError(None, f"unknown task {task!r}; expected one of {sorted(TASKS)}")
    table = read_table(table_path)
    cache = EmbeddingCache(manifest_path)
    ids = list(table["seq_id"])
    if cache.seq_ids != ids:
        raise InputError(manifest_path, f"cache rows do not match {table_path} (rebuild the cache)")
    y, weight = task_targets(table, task, cells)
    split = table["split"].to_numpy()
    train, val = np.flatnonzero(split == "train"), np.flatnonzero(split == "val")
    _, _, bins, dim = cache.shape
    n_out = y.shape[1] if TASKS[task] == "regression" else int(y.max()) + 1
    torch.manual_seed(seed)
    model = build_head(kind, bins, dim, n_out, dropout=settings["dropout"])
    result = train_head(
        model, cache.rows(train), y[train], cache.rows(val), y[val], task=TASKS[task],
        lr=settings["lr"], weight_decay=settings["weight_decay"], batch_size=settings["batch_size"],
        max_epochs=settings["max_epochs"], patience=settings["patience"], seed=seed,
        sample_weight=None if weight is None else weight[train], log=log.info,
    )
    with atomic_path(weights_out, suffix=".safetensors") as tmp:
        save_file({k: v.contiguous() for k, v in result.best_state.items()}, str(tmp),
                  metadata={"task": task, "head": kind, "bins": str(bins), "dim": str(dim), "outputs": str(n_out)})
    write_table(result.curve, curve_out)
    metrics = {
        "task": task, "head": kind, "best_epoch": int(result.best_epoch),
        "val_metric": "mean_pearson" if TASKS[task] == "regression" else "macro_auroc",
        "val_value": float(result.best_metric), "epochs_run": int(len(result.curve)),
        "n_train": int(len(train)), "n_val": int(len(val)), "bins": int(bins), "dim": int(dim), "outputs": int(n_out),
        "parameters": int(sum(p.numel() for p in model.parameters())),
    }
    with atomic_open(metrics_out) as out:
        json.dump(metrics, out, indent=1, sort_keys=True)
    log.info("%s/%s: best epoch %d, val %s %.4f", task, kind, metrics["best_epoch"], metrics["val_metric"], metrics["val_value"])
    return metrics
