"""The one training loop: heads on cached frozen-encoder features and models trained from scratch.

Why one loop: every head × encoder × task comparison, and every comparison with a model trained
from scratch (Malinois, attention baselines, the joint pipeline), must differ only in the model
and its inputs, never in the strand handling, the validation metric or the stopping rule. Protocol:

* inputs are array-likes of shape (n, 2, ...), axis 1 = [canonical, reverse complement]: cached
  features (n, 2, bins, dim) float16 as `crelens.cache.EmbeddingCache.rows` returns them, or
  one-hot DNA (n, 2, 4, L) from `crelens.sequences.one_hot_strands`; batches are converted to
  float32 on the fly, so a memory-mapped cache is never materialised in float32;
* `strands="both"` (heads, the seed protocol): every batch takes one optimiser step on the
  canonical inputs and then one on the reverse-complement inputs with the same labels;
  `strands="random"` (Malinois' reverse-complement augmentation): one step per batch, each row's
  strand drawn at random;
* optimiser: AdamW(lr, weight_decay) unless the caller passes its own (Malinois' Adam settings,
  the joint pipeline's per-group learning rates); `schedule="cosine"` warms each group's
  learning rate up linearly over the first `WARMUP_SHARE` of the steps of `max_epochs`, then
  decays it along a cosine to 10 % (a steady start and small final steps make validation scores
  stable from epoch to epoch; "constant" keeps it fixed);
* augmentation: an optional `augment(batch, generator)` (`crelens.models.augment`) changes each
  training batch after the strand is chosen, never the validation rows;
* loss: a per-row loss from `crelens.losses.LOSSES` (default MSE averaged over outputs for
  regression, cross-entropy for classification); a per-row `sample_weight` gives the weighted
  mean sum(w·loss)/sum(w) over each batch;
* a final batch of one row is merged into the previous batch (BatchNorm cannot train on one row);
* validation predictions average the two strands (softmax probabilities for classification);
  early stopping on mean Pearson over outputs (regression) or macro-AUROC (classification);
* deterministic for a seed: `torch.manual_seed(seed)` (for initialisation-free randomness such as
  dropout) inside `torch.random.fork_rng`, a seeded `torch.Generator` for shuffling, and
  `torch.use_deterministic_algorithms(True)` for the duration of the call; the caller's global
  RNG state and determinism setting are restored afterwards. The head's initial weights are the
  caller's: build it under a fixed seed for fully reproducible runs.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn

from crelens.metrics import macro_auroc, pearson
from crelens.models.losses import LOSSES

logger = logging.getLogger(__name__)

KINDS = ("regression", "classification")  # the learning problems of `crelens.names.TASK_KINDS`


@dataclass
class TrainResult:
    """Best-epoch weights (a detached copy), where they came from, and the learning curve."""

    best_state: dict
    best_epoch: int
    best_metric: float
    curve: pd.DataFrame = field(repr=False)


@contextlib.contextmanager
def deterministic(seed: int):
    """Seed torch and enable deterministic algorithms, restoring RNG state and setting on exit."""
    previous = torch.are_deterministic_algorithms_enabled()
    previous_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(previous, warn_only=previous_warn)


def _check_task(task: str) -> None:
    if task not in KINDS:
        raise ValueError(f"task must be one of {KINDS}, got {task!r}")


def _check_features(features, name: str) -> None:
    shape = getattr(features, "shape", None)
    if shape is None or len(shape) < 3 or shape[1] != 2:
        raise ValueError(
            f"{name} must have shape (n, 2, ...) with axis 1 = [canonical, reverse complement], got {shape}"
        )


def _batch(features, idx: np.ndarray, device) -> torch.Tensor:
    """Rows `idx` of the (n, 2, ...) inputs as float32 (n_idx, 2, ...)."""
    if isinstance(features, torch.Tensor):
        block = features[torch.as_tensor(idx, dtype=torch.long)]
    else:
        block = torch.from_numpy(np.ascontiguousarray(features[idx]))
    return block.to(device=device, dtype=torch.float32)


def _device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _targets(y, task: str) -> np.ndarray:
    y = np.asarray(y)
    if task == "classification":
        if y.ndim != 1:
            raise ValueError(f"classification labels must be 1-D integers, got shape {y.shape}")
        return y.astype(np.int64)
    y = y.astype(np.float32)
    return y.reshape(len(y), -1)


@torch.no_grad()
def predict(model: nn.Module, features, task: str, batch_size: int = 256) -> np.ndarray:
    """Strand-averaged predictions: mean of canonical and reverse-complement outputs.

    For one-hot inputs this is Malinois' inference rule (forward and full-construct reverse
    complement averaged); for cached features it is the same rule on the encoder's two strands.

    Regression: (n, n_outputs) values; classification: (n, n_classes) softmax probabilities
    (probabilities, not logits, are averaged). The model is put in eval mode and left there.
    """
    _check_task(task)
    _check_features(features, "features")
    model.eval()
    device = _device(model)
    n = features.shape[0]
    out = []
    for lo in range(0, n, batch_size):
        x = _batch(features, np.arange(lo, min(n, lo + batch_size)), device)
        canonical, reverse = model(x[:, 0]), model(x[:, 1])
        if task == "classification":
            canonical, reverse = canonical.softmax(-1), reverse.softmax(-1)
        out.append(((canonical + reverse) / 2).cpu().numpy())
    if not out:
        return np.zeros((0, getattr(model, "n_outputs", 0)), dtype=np.float32)
    return np.concatenate(out).astype(np.float32)


def validation_metric(y, pred: np.ndarray, task: str) -> float:
    """Mean Pearson over outputs (regression, NaN outputs skipped) or macro-AUROC (classification)."""
    _check_task(task)
    if task == "classification":
        return macro_auroc(np.asarray(y), pred)
    y = _targets(y, task)
    values = np.array([pearson(y[:, j], pred[:, j]) for j in range(y.shape[1])], dtype=float)
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def _emit(log) -> Callable[[str], None]:
    if log is None:
        return logger.info
    if isinstance(log, logging.Logger):
        return log.info
    return log


def _batches(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Consecutive batches of `order`, each sorted (contiguous reads from a memory-mapped cache);
    a trailing batch of one row joins the previous one."""
    bounds = list(range(0, len(order), batch_size)) + [len(order)]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] == 1:
        del bounds[-2]
    return [np.sort(order[lo:hi]) for lo, hi in zip(bounds[:-1], bounds[1:])]


@dataclass
class TaskData:
    """One task's training and validation data, as the loop consumes it.

    `model` maps a (B, ...) input batch to outputs for this task: the model itself for a
    single-task model, a task view of a joint model otherwise.
    """

    model: nn.Module
    inputs_train: object
    y_train: object
    inputs_val: object
    y_val: object
    task: str
    loss: str | None = None
    sample_weight: object = None

    def __post_init__(self):
        _check_task(self.task)
        _check_features(self.inputs_train, "inputs_train")
        _check_features(self.inputs_val, "inputs_val")
        self.y_train = _targets(self.y_train, self.task)
        n = self.inputs_train.shape[0]
        if len(self.y_train) != n:
            raise ValueError(f"{n} training rows but {len(self.y_train)} labels")
        if self.inputs_val.shape[0] != len(np.asarray(self.y_val)):
            raise ValueError(f"{self.inputs_val.shape[0]} validation rows but {len(np.asarray(self.y_val))} labels")
        self.loss = self.loss or ("mse" if self.task == "regression" else "cross_entropy")
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; expected one of {sorted(LOSSES)}")
        if self.sample_weight is not None:
            weights = np.asarray(self.sample_weight, dtype=np.float32).ravel()
            if weights.shape != (n,):
                raise ValueError(f"sample_weight must have {n} entries, got {weights.shape}")
            if (weights < 0).any() or not np.isfinite(weights).all():
                raise ValueError("sample_weight must be finite and non-negative")
            self.sample_weight = weights

    @property
    def n(self) -> int:
        return int(self.inputs_train.shape[0])

    def batch_loss(self, x: torch.Tensor, idx: np.ndarray, device) -> torch.Tensor:
        t = torch.as_tensor(idx)
        target = torch.as_tensor(self.y_train[idx], device=device)
        out = self.model(x)
        if self.task == "regression" and out.shape != target.shape:
            raise ValueError(f"model outputs {tuple(out.shape)} but targets are {tuple(target.shape)}")
        per_row = LOSSES[self.loss](out, target)
        if self.sample_weight is None:
            return per_row.mean()
        weight = torch.from_numpy(self.sample_weight)[t].to(device)
        return (per_row * weight).sum() / weight.sum().clamp_min(1e-12)

    def validate(self) -> float:
        return validation_metric(self.y_val, predict(self.model, self.inputs_val, self.task), self.task)


STRANDS = ("both", "random")
SCHEDULES = ("constant", "cosine")
WARMUP_SHARE = 0.05


def lr_factor(step: int, total: int, schedule: str) -> float:
    """Multiplier of the base learning rate at optimiser step `step` of `total` (0-based)."""
    if schedule == "constant":
        return 1.0
    warmup = max(1, int(round(WARMUP_SHARE * total)))
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


def train_model(
    model: nn.Module,
    inputs_train,
    y_train,
    inputs_val,
    y_val,
    *,
    task: str,
    loss: str | None = None,
    strands: str = "both",
    optimizer: Callable[[nn.Module], torch.optim.Optimizer] | None = None,
    lr: float = 1e-3,
    weight_decay: float = 1e-6,
    batch_size: int = 64,
    max_epochs: int = 50,
    patience: int = 5,
    seed: int = 0,
    sample_weight=None,
    schedule: str = "constant",
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    log: Callable[[str], None] | logging.Logger | None = None,
) -> TrainResult:
    """Train `model` on one task (see the module docstring for the protocol); return its best epoch.

    Stops after `patience` epochs without a strict improvement of the validation metric (an
    undefined, NaN metric never counts as one) or after `max_epochs`. On return the model holds
    the best epoch's weights, which `TrainResult.best_state` also holds as a copy. `log` is a
    callable taking one line, a `logging.Logger`, or None (this module's logger at INFO).
    """
    data = TaskData(model, inputs_train, y_train, inputs_val, y_val, task, loss, sample_weight)
    return train_tasks(
        model,
        [data],
        strands=strands,
        optimizer=optimizer,
        lr=lr,
        weight_decay=weight_decay,
        batch_size=batch_size,
        max_epochs=max_epochs,
        patience=patience,
        seed=seed,
        schedule=schedule,
        augment=augment,
        log=log,
    )


def train_tasks(
    model: nn.Module,
    tasks: list[TaskData],
    *,
    strands: str = "both",
    optimizer: Callable[[nn.Module], torch.optim.Optimizer] | None = None,
    lr: float = 1e-3,
    weight_decay: float = 1e-6,
    batch_size: int = 64,
    max_epochs: int = 50,
    patience: int = 5,
    seed: int = 0,
    schedule: str = "constant",
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    log: Callable[[str], None] | logging.Logger | None = None,
) -> TrainResult:
    """The loop itself, for one task or several sharing `model` (the joint pipeline).

    With several tasks, each epoch interleaves their shuffled batches round-robin (the
    shorter task's batches run out first), and the validation metric that drives early stopping
    is the mean of the tasks' metrics (each in [-1, 1] or [0, 1], so none dominates by scale);
    the curve keeps each task's metric as `val_<i>` columns too.
    """
    if strands not in STRANDS:
        raise ValueError(f"strands must be one of {STRANDS}, got {strands!r}")
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if max_epochs < 1 or patience < 1 or batch_size < 1:
        raise ValueError("max_epochs, patience and batch_size must be positive")
    if not tasks:
        raise ValueError("no task to train")
    emit = _emit(log)
    device = _device(model)
    metric_name = (
        "pearson"
        if len(tasks) == 1 and tasks[0].task == "regression"
        else ("macro_auroc" if len(tasks) == 1 else "mean_metric")
    )
    rows = []
    best_state, best_epoch, best_metric = None, 0, float("nan")
    since_best = 0
    with deterministic(seed):
        generator = torch.Generator().manual_seed(seed)
        if optimizer is None:
            # fused: one kernel for all parameters (about 1.5x faster steps for small heads on CPU)
            opt = torch.optim.AdamW(
                model.parameters(), lr=lr, weight_decay=weight_decay, fused=device.type in ("cpu", "cuda")
            )
        else:
            opt = optimizer(model)
        base_lrs = [group["lr"] for group in opt.param_groups]
        views_per_batch = 2 if strands == "both" else 1
        steps_per_epoch = views_per_batch * sum(len(_batches(np.arange(t.n), batch_size)) for t in tasks)
        total_steps, step = max_epochs * steps_per_epoch, 0
        for epoch in range(1, max_epochs + 1):
            started = time.perf_counter()
            model.train()
            order = []
            per_task = [_batches(torch.randperm(t.n, generator=generator).numpy(), batch_size) for t in tasks]
            for position in range(max(len(b) for b in per_task)):
                order += [(k, b[position]) for k, b in enumerate(per_task) if position < len(b)]
            total, count = 0.0, 0
            for k, idx in order:
                data = tasks[k]
                x = _batch(data.inputs_train, idx, device)
                if strands == "both":  # canonical step, then reverse-complement step
                    views = [x[:, 0], x[:, 1]]
                else:  # one step, each row on a random strand
                    pick = torch.randint(0, 2, (len(idx),), generator=generator).to(device)
                    views = [x[torch.arange(len(idx), device=device), pick]]
                for view in views:
                    factor = lr_factor(step, total_steps, schedule)
                    for group, base in zip(opt.param_groups, base_lrs):
                        group["lr"] = base * factor
                    step += 1
                    opt.zero_grad(set_to_none=True)
                    if augment is not None:  # training batches only; validation sees the data as it is
                        view = augment(view, generator)
                    loss = data.batch_loss(view, idx, device)
                    if not torch.isfinite(loss):  # NaN or inf in the data or a diverged model
                        raise FloatingPointError(
                            f"non-finite training loss ({float(loss.detach())}) at epoch {epoch}, step {step}; "
                            f"batch rows {sorted(int(i) for i in idx)[:20]} of the training set"
                        )
                    loss.backward()
                    opt.step()
                    total += float(loss.detach()) * len(idx)
                    count += len(idx)
            train_loss = total / max(count, 1)
            task_metrics = [t.validate() for t in tasks]
            finite = [m for m in task_metrics if not math.isnan(m)]
            metric = float(np.mean(finite)) if len(finite) == len(task_metrics) else float("nan")
            seconds = time.perf_counter() - started
            # wall-clock seconds go to the log only: curve.tsv is reproduced byte for byte
            row = {"epoch": epoch, "train_loss": train_loss, "val_metric": metric}
            if len(tasks) > 1:
                row.update({f"val_{i}": m for i, m in enumerate(task_metrics)})
            rows.append(row)
            improved = best_state is None or (
                not math.isnan(metric) and (math.isnan(best_metric) or metric > best_metric)
            )
            if improved:
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                best_epoch, best_metric = epoch, metric
                since_best = 0
            else:
                since_best += 1
            emit(
                f"epoch {epoch:3d}  train_loss {train_loss:.5f}  val_{metric_name} {metric:.4f}  "
                f"{seconds:.2f}s ({count / max(seconds, 1e-9):.0f} rows/s){'  *' if improved else ''}"
            )
            if since_best >= patience:
                emit(f"early stop after epoch {epoch}: no improvement for {patience} epochs (best epoch {best_epoch})")
                break
    model.load_state_dict(best_state)
    columns = ["epoch", "train_loss", "val_metric"] + (
        [f"val_{i}" for i in range(len(tasks))] if len(tasks) > 1 else []
    )
    curve = pd.DataFrame(rows, columns=columns)
    return TrainResult(best_state=best_state, best_epoch=best_epoch, best_metric=best_metric, curve=curve)
