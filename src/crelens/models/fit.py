"""Fit one model for one task (or the joint model for both) and save what evaluation and the report need.

Tasks: `mpra` (regression, one output per cell type, rows of results/datasets/mpra.parquet)
and `epi` (enhancer / promoter / intergenic classification, results/datasets/epi.parquet).

- Heads read the frozen-encoder cache; its rows are in table order (the cache is built from the
  table), which is checked.
- Models trained from scratch (Malinois, attention baselines, joint) read one-hot sequences of
  the same table, with Malinois' reverse-complement augmentation (`strands="random"`).

Every fit writes the checkpoint (`crelens.models.registry` format: weights + spec), a metrics
JSON (best epoch, validation metric, parameter count, FLOPs per sequence, training time) and the
learning curve (TSV). All share `crelens.models.training`'s loop, splits and stopping rule.
"""

from __future__ import annotations

import json
import logging
import time

import numpy as np
import torch

from crelens.atomic import atomic_open
from crelens.encoder.cache import EmbeddingCache
from crelens.errors import InputError
from crelens.models.flops import count_flops
from crelens.models.registry import build_model, save_model
from crelens.models.training import TaskData, train_model, train_tasks
from crelens.names import HEAD_MODELS, JOINT, SCRATCH_MODELS, TASK_KINDS
from crelens.parameters import count_parameters
from crelens.sequences import one_hot_strands
from crelens.tables import read_table, write_table

log = logging.getLogger(__name__)

VAL_METRIC = {"regression": "mean_pearson", "classification": "macro_auroc"}


def _check_task(task: str) -> None:
    if task not in TASK_KINDS:
        raise InputError(None, f"unknown task {task!r}; expected one of {sorted(TASK_KINDS)}")


def task_targets(table, task: str, cells: list[str]) -> tuple[np.ndarray, np.ndarray | None]:
    """Targets (float (n, cells) or int labels) and optional per-row weights."""
    if task == "mpra":
        missing = [c for c in cells if c not in table]
        if missing:
            raise InputError(None, f"the MPRA table has no column for cell types {missing}")
        return table[cells].to_numpy(np.float32), None
    weights = table["weight"].to_numpy(np.float32) if "weight" in table else None
    return table["label_id"].to_numpy(np.int64), weights


def n_outputs(task: str, y: np.ndarray) -> int:
    return int(y.shape[1]) if TASK_KINDS[task] == "regression" else int(y.max()) + 1


def _splits(table, path) -> tuple[np.ndarray, np.ndarray]:
    split = table["split"].to_numpy()
    train, val = np.flatnonzero(split == "train"), np.flatnonzero(split == "val")
    if len(train) == 0 or len(val) == 0:
        raise InputError(path, f"need training and validation rows, got {len(train)} train and {len(val)} val")
    return train, val


def _write_outputs(model, spec: dict, result, metrics: dict, weights_out, metrics_out, curve_out) -> dict:
    save_model(model, spec, weights_out)
    write_table(result.curve, curve_out)
    with atomic_open(metrics_out) as out:
        json.dump(metrics, out, indent=1, sort_keys=True)
    log.info(
        "%s: best epoch %d, validation %.4f, %d parameters",
        spec["model"],
        metrics["best_epoch"],
        metrics["val_value"],
        metrics["parameters"],
    )
    return metrics


def _announce(spec: dict, model, n_train: int, n_val: int) -> None:
    log.info(
        "training %s for %s: %s parameters, %d training and %d validation rows, %d threads",
        spec["model"],
        spec.get("task", "mpra + epi"),
        f"{count_parameters(model, trainable=True):,}",
        n_train,
        n_val,
        torch.get_num_threads(),
    )


def _flops(model, example: torch.Tensor, **kwargs) -> int:
    model.eval()
    return int(count_flops(model, example, **kwargs))


def run_train_head(
    task: str,
    kind: str,
    table_path,
    manifest_path,
    cells: list[str],
    settings: dict,
    seed: int,
    weights_out,
    metrics_out,
    curve_out,
    threads: int = 1,
) -> dict:
    """An adapter head of `kind` on the frozen-encoder cache (strands="both", AdamW)."""
    torch.set_num_threads(threads)
    _check_task(task)
    name = f"head_{kind}"
    if name not in HEAD_MODELS:
        raise InputError(None, f"unknown head kind {kind!r}; expected one of {sorted(HEAD_MODELS.values())}")
    table = read_table(table_path)
    cache = EmbeddingCache(manifest_path)
    if cache.seq_ids != list(table["seq_id"]):
        raise InputError(manifest_path, f"cache rows do not match {table_path} (rebuild the cache)")
    y, weight = task_targets(table, task, cells)
    train, val = _splits(table, table_path)
    _, _, bins, dim = cache.shape
    spec = {
        "model": name,
        "task": task,
        "outputs": n_outputs(task, y),
        "bins": int(bins),
        "dim": int(dim),
        "dropout": settings["dropout"],
    }
    torch.manual_seed(seed)
    model = build_model(spec)
    _announce(spec, model, len(train), len(val))
    started = time.perf_counter()
    result = train_model(
        model,
        cache.rows(train),
        y[train],
        cache.rows(val),
        y[val],
        task=TASK_KINDS[task],
        lr=settings["lr"],
        weight_decay=settings["weight_decay"],
        batch_size=settings["batch_size"],
        max_epochs=settings["max_epochs"],
        patience=settings["patience"],
        seed=seed,
        sample_weight=None if weight is None else weight[train],
        log=log.info,
    )
    metrics = _metrics(
        spec,
        result,
        len(train),
        len(val),
        time.perf_counter() - started,
        _flops(model, torch.zeros(1, bins, dim)),
        model,
    )
    metrics.update({"head": kind, "bins": int(bins), "dim": int(dim), "outputs": spec["outputs"]})
    return _write_outputs(model, spec, result, metrics, weights_out, metrics_out, curve_out)


def _metrics(spec: dict, result, n_train: int, n_val: int, seconds: float, flops: int, model) -> dict:
    task = spec.get("task", JOINT)
    return {
        "model": spec["model"],
        "task": task,
        "best_epoch": int(result.best_epoch),
        "val_metric": VAL_METRIC[TASK_KINDS[task]] if task in TASK_KINDS else "mean_of_task_metrics",
        "val_value": float(result.best_metric),
        "epochs_run": int(len(result.curve)),
        "n_train": int(n_train),
        "n_val": int(n_val),
        "train_seconds": round(float(seconds), 2),
        "parameters": count_parameters(model, trainable=True),
        "flops_per_sequence": int(flops),
    }


def scratch_optimizer(name: str, settings: dict, lr_groups=None):
    """Optimiser factory: Malinois' published Adam settings, AdamW for the attention baselines."""
    if name == "malinois":
        recipe = settings["malinois"]
        return lambda model: torch.optim.Adam(
            model.parameters(),
            lr=recipe["lr"],
            betas=tuple(recipe["betas"]),
            weight_decay=recipe["weight_decay"],
            amsgrad=recipe["amsgrad"],
        )
    recipe = settings["attention"]
    return lambda model: torch.optim.AdamW(
        lr_groups(model) if lr_groups else model.parameters(), lr=recipe["lr"], weight_decay=recipe["weight_decay"]
    )


def _attention_options(settings: dict) -> dict:
    return {k: settings["attention"][k] for k in ("d_model", "n_heads", "kernel", "dropout")}


def one_hot_inputs(table, path) -> np.ndarray:
    try:
        return one_hot_strands(table["sequence"])
    except ValueError as exc:
        raise InputError(path, str(exc)) from None


def run_train_scratch(
    task: str,
    name: str,
    table_path,
    cells: list[str],
    settings: dict,
    seed: int,
    weights_out,
    metrics_out,
    curve_out,
    threads: int = 1,
) -> dict:
    """Malinois or an attention baseline trained from scratch on one-hot sequences of one task."""
    torch.set_num_threads(threads)
    _check_task(task)
    if name not in SCRATCH_MODELS:
        raise InputError(None, f"unknown model {name!r}; expected one of {SCRATCH_MODELS}")
    table = read_table(table_path)
    y, weight = task_targets(table, task, cells)
    train, val = _splits(table, table_path)
    x = one_hot_inputs(table, table_path)
    length = int(x.shape[-1])
    spec = {
        "model": name,
        "task": task,
        "outputs": n_outputs(task, y),
        "length": length,
        "options": {} if name == "malinois" else _attention_options(settings),
    }
    torch.manual_seed(seed)
    model = build_model(spec)
    loss = settings["malinois"]["loss"] if name == "malinois" and TASK_KINDS[task] == "regression" else None
    batch_size = settings["malinois"]["batch_size"] if name == "malinois" else settings["batch_size"]
    _announce(spec, model, len(train), len(val))
    started = time.perf_counter()
    result = train_model(
        model,
        x[train],
        y[train],
        x[val],
        y[val],
        task=TASK_KINDS[task],
        loss=loss,
        strands="random",
        optimizer=scratch_optimizer(name, settings),
        batch_size=batch_size,
        max_epochs=settings["max_epochs"],
        patience=settings["patience"],
        seed=seed,
        sample_weight=None if weight is None else weight[train],
        log=log.info,
    )
    metrics = _metrics(
        spec,
        result,
        len(train),
        len(val),
        time.perf_counter() - started,
        _flops(model, torch.zeros(1, 4, length)),
        model,
    )
    return _write_outputs(model, spec, result, metrics, weights_out, metrics_out, curve_out)


def run_train_joint(
    mpra_path,
    epi_path,
    cells: list[str],
    settings: dict,
    seed: int,
    weights_out,
    metrics_out,
    curve_out,
    threads: int = 1,
) -> dict:
    """The joint pipeline: one attention trunk for MPRA and EPI with task embeddings and heads.

    Differential learning rates: the shared trunk learns at lr · trunk_lr_scale, the
    task-specific parts at lr. Early stopping on the mean of the two validation metrics.
    """
    torch.set_num_threads(threads)
    data = {}
    for task, path in (("mpra", mpra_path), ("epi", epi_path)):
        table = read_table(path)
        y, weight = task_targets(table, task, cells)
        train, val = _splits(table, path)
        data[task] = (one_hot_inputs(table, path), y, weight, train, val)
    lengths = {task: int(d[0].shape[-1]) for task, d in data.items()}
    if len(set(lengths.values())) != 1:
        raise InputError(epi_path, f"the joint model needs one sequence length, got {lengths}")
    length = lengths["mpra"]
    spec = {
        "model": JOINT,
        "outputs": {task: n_outputs(task, d[1]) for task, d in data.items()},
        "length": length,
        "options": _attention_options(settings),
    }
    torch.manual_seed(seed)
    model = build_model(spec)
    tasks = []
    for task, (x, y, weight, train, val) in data.items():
        tasks.append(
            TaskData(
                model.for_task(task),
                x[train],
                y[train],
                x[val],
                y[val],
                TASK_KINDS[task],
                sample_weight=None if weight is None else weight[train],
            )
        )
    lr, scale = settings["attention"]["lr"], settings["joint"]["trunk_lr_scale"]
    _announce(spec, model, sum(t.n for t in tasks), sum(t.inputs_val.shape[0] for t in tasks))
    started = time.perf_counter()
    result = train_tasks(
        model,
        tasks,
        strands="random",
        optimizer=scratch_optimizer(JOINT, settings, lr_groups=lambda m: m.parameter_groups(lr, scale)),
        batch_size=settings["batch_size"],
        max_epochs=settings["max_epochs"],
        patience=settings["patience"],
        seed=seed,
        log=log.info,
    )
    flops = _flops(model.for_task("mpra"), torch.zeros(1, 4, length))
    metrics = _metrics(
        spec,
        result,
        sum(len(d[3]) for d in data.values()),
        sum(len(d[4]) for d in data.values()),
        time.perf_counter() - started,
        flops,
        model,
    )
    metrics["tasks"] = list(data)
    return _write_outputs(model, spec, result, metrics, weights_out, metrics_out, curve_out)
