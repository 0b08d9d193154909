"""Fit one model for one task (or the joint model for both) and save what evaluation and the report need.

Tasks: `mpra` (regression, one output per cell type, rows of results/datasets/mpra.parquet)
and `epi` (enhancer / promoter / intergenic classification, results/datasets/epi.parquet).

- Heads read the frozen-encoder cache; its rows are in table order (the cache is built from the
  table), which is checked.
- Heads of the `full` / `finetune` modes (heads.aug_mode) read one-hot MPRA constructs widened
  by the shift range and run the encoder on every step (`crelens.models.in_loop`).
- Models trained from scratch (Malinois, attention baselines, joint) read one-hot sequences of
  the same table, with Malinois' reverse-complement augmentation (`strands="random"`).

Every fit writes the checkpoint (`crelens.models.registry` format: weights + spec), a metrics
JSON (best epoch, validation metric, parameter count, FLOPs per sequence, training time) and the
learning curve (TSV). All share `crelens.models.training`'s loop, splits and stopping rule.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time

import numpy as np
import pandas as pd
import torch

from crelens.atomic import atomic_open
from crelens.encoder.cache import EmbeddingCache
from crelens.errors import InputError
from crelens.models.augment import augmentation
from crelens.models.distill import fit_scorer, teacher_outputs, warm_start
from crelens.models.flops import count_flops
from crelens.models.heads import averaged_rows
from crelens.models.kmer import fit_kmer_model
from crelens.models.registry import build_model, load_model, save_model
from crelens.models.training import TaskData, TrainResult, train_model, train_tasks
from crelens.names import (
    DISTILLED_MODELS,
    HEAD_MODELS,
    IN_LOOP_MODES,
    JOINT,
    KMER,
    SCRATCH_MODELS,
    TASK_KINDS,
    TEACHER,
    head_name,
)
from crelens.parameters import count_parameters
from crelens.sequences import one_hot_strands, variable_span
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


def _head_spec(name: str, kind: str, task: str, y: np.ndarray, bins: int, dim: int, settings: dict) -> dict:
    """Checkpoint spec of a head reading (bins, dim) features, as the cache holds them."""
    spec = {
        "model": name,
        "task": task,
        "outputs": n_outputs(task, y),
        "bins": int(bins),
        "dim": int(dim),
        "dropout": settings["dropout"],
    }
    if kind != "conv":  # the pooled kinds average the cache's bins into heads.bins first
        spec["pool_bins"] = min(int(settings.get("bins", bins)), int(bins))
    return spec


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
    spec = _head_spec(name, kind, task, y, bins, dim, settings)
    torch.manual_seed(seed)
    model = build_model(spec)
    _announce(spec, model, len(train), len(val))
    started = time.perf_counter()
    rows_train, rows_val = cache.rows(train), cache.rows(val)
    if "pool_bins" in spec:  # averaged once, as the head itself averages full rows when predicting
        rows_train, rows_val = averaged_rows(rows_train, spec["pool_bins"]), averaged_rows(rows_val, spec["pool_bins"])
    result = train_model(
        model,
        rows_train,
        y[train],
        rows_val,
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
    metrics.update(
        {
            "head": kind,
            "bins": int(bins),
            "pool_bins": spec.get("pool_bins"),
            "dim": int(dim),
            "outputs": spec["outputs"],
        }
    )
    return _write_outputs(model, spec, result, metrics, weights_out, metrics_out, curve_out)


def run_train_head_in_loop(
    task: str,
    kind: str,
    mode: str,
    table_path,
    encoder_folder,
    cells: list[str],
    settings: dict,
    in_loop: dict,
    seed: int,
    weights_out,
    metrics_out,
    curve_out,
    shifted_out,
    *,
    bins: int,
    n_as: str = "pad",
    threads: int = 1,
) -> dict:
    """A head of `kind` trained with the encoder in the loop (`mode` full or finetune) on MPRA.

    Every step crops each training row's window at a random shift of up to ±in_loop.max_shift nt
    inside its construct and on a random strand (`strands="random"`), and runs the encoder on it:
    frozen (`full`; the checkpoint is the head alone, predicting from the cache) or trained at
    lr · in_loop.encoder_lr_scale (`finetune`; the checkpoint holds encoder + head). Validation
    reads the unshifted windows. `shifted_out` records the first training batch as the model saw
    it (shift and window), to show that shifts bring in plasmid sequence, not padding.
    """
    from crelens.encoder.hub import load_caduceus
    from crelens.models.in_loop import EncoderHead, FlankShift, encoder_change, shifted_training_inputs, window_text

    torch.set_num_threads(threads)
    _check_task(task)
    if mode not in IN_LOOP_MODES:
        raise InputError(None, f"unknown training mode {mode!r}; the encoder runs in the loop in {IN_LOOP_MODES}")
    if task != "mpra":
        raise InputError(
            None, "the encoder-in-the-loop modes shift MPRA inserts inside their construct: task mpra only"
        )
    name = head_name(kind, mode)
    if name not in HEAD_MODELS:
        raise InputError(None, f"unknown head kind {kind!r}; expected one of {sorted(set(HEAD_MODELS.values()))}")
    table = read_table(table_path)
    y, _ = task_targets(table, task, cells)
    train, val = _splits(table, table_path)
    max_shift = int(in_loop["max_shift"])
    try:
        x_train = shifted_training_inputs(table["insert"].iloc[train], table["sequence"].iloc[train], max_shift)
    except ValueError as exc:
        raise InputError(table_path, str(exc)) from None
    x_val = one_hot_inputs(table.iloc[val], table_path)
    reference = load_caduceus(encoder_folder)  # kept unchanged, to measure what training changed
    spec = _head_spec(name, kind, task, y, bins, reference.config.d_model, settings)
    spec.update({"aug_mode": mode, "max_shift": max_shift})
    if mode == "finetune":
        spec.update({"encoder_config": reference.config.to_hf_dict("Caduceus"), "n_as": n_as})
    torch.manual_seed(seed)
    head = build_model({**spec, "model": head_name(kind)})
    model = EncoderHead(copy.deepcopy(reference), head, bins, n_as, train_encoder=mode == "finetune")
    _announce(spec, model, len(train), len(val))
    shift = FlankShift(max_shift, x_val.shape[-1])
    first_batch = {}

    def augment(view, generator):
        cropped = shift(view, generator)
        if not first_batch:
            first_batch.update(offsets=shift.last_offsets.clone(), windows=cropped.detach().cpu())
        return cropped

    lr, scale = settings["lr"], in_loop["encoder_lr_scale"]
    started = time.perf_counter()
    result = train_model(
        model,
        x_train,
        y[train],
        x_val,
        y[val],
        task=TASK_KINDS[task],
        strands="random",
        optimizer=lambda m: torch.optim.AdamW(
            m.parameter_groups(lr, scale), lr=lr, weight_decay=settings["weight_decay"]
        ),
        batch_size=settings["batch_size"],
        max_epochs=in_loop["max_epochs"],
        patience=in_loop["patience"],
        seed=seed,
        augment=augment,
        log=log.info,
    )
    change = encoder_change(model, reference)
    log.info("encoder weights changed by at most %.3g (%s)", change, "trained" if mode == "finetune" else "frozen")
    metrics = _metrics(
        spec,
        result,
        len(train),
        len(val),
        time.perf_counter() - started,
        _flops(head, torch.zeros(1, bins, spec["dim"])),
        model if mode == "finetune" else head,
    )
    metrics.update(
        {
            "head": kind,
            "aug_mode": mode,
            "max_shift": max_shift,
            "encoder_lr_scale": scale if mode == "finetune" else 0.0,
            "encoder_max_change": change,
            "flops_counted": "head only (the encoder's are not counted, as for every head)",
        }
    )
    offsets = first_batch["offsets"].numpy()
    shifted = pd.DataFrame(
        {
            "example": np.arange(len(offsets)),
            "shift": offsets - max_shift,
            "window": [window_text(w) for w in first_batch["windows"]],
        }
    )
    write_table(shifted, shifted_out)
    saved = model if mode == "finetune" else head
    return _write_outputs(saved, spec, result, metrics, weights_out, metrics_out, curve_out)


def _metrics(spec: dict, result, n_train: int, n_val: int, seconds: float, flops: int, model) -> dict:
    """metrics.json of a trained model. The training time goes to the log (and the job's
    benchmark file), not here: metrics.json is reproduced byte for byte."""
    task = spec.get("task", JOINT)
    log.info("trained %s for %s in %.1f s", spec["model"], task, seconds)
    return {
        "model": spec["model"],
        "task": task,
        "best_epoch": int(result.best_epoch),
        "val_metric": VAL_METRIC[TASK_KINDS[task]] if task in TASK_KINDS else "mean_of_task_metrics",
        "val_value": float(result.best_metric),
        "epochs_run": int(len(result.curve)),
        "n_train": int(n_train),
        "n_val": int(n_val),
        "parameters": count_parameters(model, trainable=True),
        "flops_per_sequence": int(flops),
    }


LR_SCALING = {"none": lambda ratio: 1.0, "sqrt": math.sqrt, "linear": lambda ratio: ratio}


def malinois_lr(recipe: dict) -> float:
    """The published learning rate, scaled from its batch size (1076) to the one used here.

    The published rate was tuned for batches of `reference_batch_size`; smaller batches give
    noisier gradients, so the rate shrinks by `lr_scaling` of the batch-size ratio (square root by
    default: Adam's update noise grows like 1/sqrt(batch)).
    """
    ratio = recipe["batch_size"] / recipe.get("reference_batch_size", recipe["batch_size"])
    return recipe["lr"] * LR_SCALING[recipe.get("lr_scaling", "none")](ratio)


def scratch_optimizer(name: str, settings: dict, lr_groups=None):
    """Optimiser factory: Malinois' published Adam settings, AdamW for the attention baselines."""
    if name == "malinois":
        recipe = settings["malinois"]
        return lambda model: torch.optim.Adam(
            model.parameters(),
            lr=malinois_lr(recipe),
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


def per_task(value, task: str):
    """A setting given once (`16`) or per task (`{mpra: 16, epi: 8}`): its value for `task`."""
    return value[task] if isinstance(value, dict) else value


def _longest(value) -> int:
    """The largest of a per-task setting (the joint model trains both tasks at once)."""
    return max(value.values()) if isinstance(value, dict) else value


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
    recipe = settings["malinois"] if name == "malinois" else settings["attention"]
    batch_size = recipe.get("batch_size", settings["batch_size"])
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
        max_epochs=per_task(recipe.get("max_epochs", settings["max_epochs"]), task),
        patience=recipe.get("patience", settings["patience"]),
        seed=seed,
        sample_weight=None if weight is None else weight[train],
        schedule=recipe.get("schedule", "constant"),
        augment=augmentation(recipe),
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
        # the joint model's own schedule length when set (it trains both tasks, so an epoch costs
        # two), else the attention baselines'
        max_epochs=settings["joint"].get(
            "max_epochs", _longest(settings["attention"].get("max_epochs", settings["max_epochs"]))
        ),
        patience=settings["joint"].get("patience", settings["attention"].get("patience", settings["patience"])),
        seed=seed,
        schedule=settings["attention"].get("schedule", "constant"),
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


def run_train_kmer(
    task: str,
    table_path,
    cells: list[str],
    settings: dict,
    seed: int,
    weights_out,
    metrics_out,
    curve_out,
    threads: int = 1,
) -> dict:
    """The k-mer reference (`kmer_ridge`) for one task: k and penalty chosen on validation.

    The curve holds one row per (k, penalty) fitted instead of one per epoch.
    """
    torch.set_num_threads(threads)
    _check_task(task)
    table = read_table(table_path)
    y, _ = task_targets(table, task, cells)
    train, val = _splits(table, table_path)
    x = one_hot_inputs(table, table_path)
    span = variable_span(list(table["sequence"].iloc[train]))
    started = time.perf_counter()
    model, curve = fit_kmer_model(
        x[train],
        y[train],
        x[val],
        y[val],
        TASK_KINDS[task],
        ks=settings["ks"],
        penalties=settings["penalties"],
        span=span,
        seed=seed,
    )
    best = curve.iloc[int(curve.val_metric.to_numpy().argmax())]
    spec = {
        "model": KMER,
        "task": task,
        "outputs": model.n_outputs,
        "length": int(x.shape[-1]),
        "k": model.k,
        "span": list(model.span),
    }
    result = TrainResult(model.state_dict(), 1, float(best.val_metric), curve)
    metrics = _metrics(
        spec,
        result,
        len(train),
        len(val),
        time.perf_counter() - started,
        _flops(model, torch.zeros(1, 4, spec["length"])),
        model,
    )
    metrics.update({"k": model.k, "penalty": float(best.penalty), "span": list(model.span)})
    return _write_outputs(model, spec, result, metrics, weights_out, metrics_out, curve_out)


def run_train_distilled(
    task: str,
    name: str,
    table_path,
    teacher_path,
    cells: list[str],
    settings: dict,
    seed: int,
    weights_out,
    metrics_out,
    curve_out,
    threads: int = 1,
) -> dict:
    """A sparse-attention student of the full-attention teacher (`crelens.models.distill`).

    The student has the teacher's architecture with attention restricted to its top-k scored
    positions; it starts from the teacher's weights and a scorer fitted to the teacher's saliency,
    then learns the teacher's strand-averaged outputs (activities for MPRA, class logits for EPI)
    by mean squared error. Early stopping on the Pearson correlation with the teacher on the
    validation split (fidelity); the labels are never used.
    """
    torch.set_num_threads(threads)
    _check_task(task)
    if name not in DISTILLED_MODELS:
        raise InputError(None, f"unknown student {name!r}; expected one of {sorted(DISTILLED_MODELS)}")
    teacher, teacher_spec = load_model(teacher_path)
    if teacher_spec["model"] != TEACHER:
        raise InputError(teacher_path, f"the teacher must be {TEACHER!r}, got {teacher_spec['model']!r}")
    table = read_table(table_path)
    train, val = _splits(table, table_path)
    x = one_hot_inputs(table, table_path)
    length = int(x.shape[-1])
    if length != teacher_spec["length"]:
        raise InputError(
            teacher_path, f"the teacher takes {teacher_spec['length']}-nt inputs, {table_path} has {length}"
        )
    recipe = settings["distillation"]
    started = time.perf_counter()
    targets = teacher_outputs(teacher, x)
    spec = {
        "model": name,
        "task": task,
        "outputs": int(targets.shape[1]),
        "length": length,
        "options": dict(teacher_spec["options"]),
        "teacher": TEACHER,
    }
    torch.manual_seed(seed)
    model = build_model(spec)
    warm_start(model, teacher)
    sample = np.random.default_rng(seed).permutation(train)[: recipe["scorer_rows"]]
    r2 = fit_scorer(model, teacher, x[np.sort(sample)])
    _announce(spec, model, len(train), len(val))
    log.info("warm start from the teacher; scorer fitted to its saliency on %d rows (R² %.3f)", len(sample), r2)
    result = train_model(
        model,
        x[train],
        targets[train],
        x[val],
        targets[val],
        task="regression",
        loss="mse",
        strands="random",
        lr=recipe["lr"],
        weight_decay=settings["attention"]["weight_decay"],
        batch_size=settings["batch_size"],
        max_epochs=recipe["max_epochs"],
        patience=recipe["patience"],
        seed=seed,
        schedule="cosine",
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
    metrics.update(
        {
            "val_metric": "pearson_with_teacher",
            "scorer_r2": round(r2, 4),
            "teacher_flops_per_sequence": _flops(teacher, torch.zeros(1, 4, length)),
        }
    )
    return _write_outputs(model, spec, result, metrics, weights_out, metrics_out, curve_out)
