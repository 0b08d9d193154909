"""The one training loop for heads on cached frozen-encoder features.

Why one loop: every head × encoder × task comparison must differ only in the head and the
features, never in the optimiser, the strand handling or the stopping rule. Protocol:

* features are array-likes of shape (n, 2, bins, dim), float16, axis 1 = [canonical, reverse
  complement] (as `crelens.cache.EmbeddingCache.rows` returns them); batches are converted to
  float32 on the fly, so a memory-mapped cache is never materialised in float32;
* AdamW; every batch takes one optimiser step on the canonical features and then one on the
  reverse-complement features with the same labels (strand augmentation);
* loss: MSE averaged over outputs (regression) or cross-entropy (classification); a per-row
  `sample_weight` gives the weighted mean sum(w·loss)/sum(w) over each batch;
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
import torch.nn.functional as F
from torch import nn

from .metrics import macro_auroc, pearson

logger = logging.getLogger(__name__)

TASKS = ("regression", "classification")


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
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")


def _check_features(features, name: str) -> None:
    shape = getattr(features, "shape", None)
    if shape is None or len(shape) != 4 or shape[1] != 2:
        raise ValueError(f"{name} must have shape (n, 2, bins, dim), got {shape}")


def _batch(features, idx: np.ndarray, device) -> torch.Tensor:
    """Rows `idx` of the (n, 2, bins, dim) features as float32 (n_idx, 2, bins, dim)."""
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


def _loss(out: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None, task: str) -> torch.Tensor:
    if task == "classification":
        per_row = F.cross_entropy(out, target, reduction="none")
    else:
        if out.shape != target.shape:
            raise ValueError(f"model outputs {tuple(out.shape)} but targets are {tuple(target.shape)}")
        per_row = F.mse_loss(out, target, reduction="none").mean(1)
    if weight is None:
        return per_row.mean()
    return (per_row * weight).sum() / weight.sum().clamp_min(1e-12)


def _emit(log) -> Callable[[str], None]:
    if log is None:
        return logger.info
    if isinstance(log, logging.Logger):
        return log.info
    return log


def train_head(
    model: nn.Module,
    features_train,
    y_train,
    features_val,
    y_val,
    *,
    task: str,
    lr: float = 1e-3,
    weight_decay: float = 1e-6,
    batch_size: int = 64,
    max_epochs: int = 50,
    patience: int = 5,
    seed: int = 0,
    sample_weight=None,
    log: Callable[[str], None] | logging.Logger | None = None,
) -> TrainResult:
    """Train `model` (see the module docstring for the protocol) and return its best epoch.

    Stops after `patience` epochs without a strict improvement of the validation metric (an
    undefined, NaN metric never counts as one) or after `max_epochs`. On return the model holds
    the best epoch's weights, which `TrainResult.best_state` also holds as a copy. `log` is a
    callable taking one line, a `logging.Logger`, or None (this module's logger at INFO).
    """
    _check_task(task)
    _check_features(features_train, "features_train")
    _check_features(features_val, "features_val")
    if max_epochs < 1 or patience < 1 or batch_size < 1:
        raise ValueError("max_epochs, patience and batch_size must be positive")
    y_tr = _targets(y_train, task)
    n = features_train.shape[0]
    if len(y_tr) != n:
        raise ValueError(f"{n} training rows but {len(y_tr)} labels")
    if features_val.shape[0] != len(np.asarray(y_val)):
        raise ValueError(f"{features_val.shape[0]} validation rows but {len(np.asarray(y_val))} labels")
    weights = None
    if sample_weight is not None:
        weights = np.asarray(sample_weight, dtype=np.float32).ravel()
        if weights.shape != (n,):
            raise ValueError(f"sample_weight must have {n} entries, got {weights.shape}")
        if (weights < 0).any() or not np.isfinite(weights).all():
            raise ValueError("sample_weight must be finite and non-negative")
    emit = _emit(log)
    device = _device(model)
    y_all = torch.from_numpy(y_tr).to(device)
    w_all = None if weights is None else torch.from_numpy(weights).to(device)

    rows = []
    best_state, best_epoch, best_metric = None, 0, float("nan")
    since_best = 0
    with deterministic(seed):
        generator = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
        for epoch in range(1, max_epochs + 1):
            started = time.perf_counter()
            model.train()
            order = torch.randperm(n, generator=generator).numpy()
            total, count = 0.0, 0
            for lo in range(0, n, batch_size):
                # sorted within the batch: contiguous reads from a memory-mapped cache
                idx = np.sort(order[lo : lo + batch_size])
                x = _batch(features_train, idx, device)
                t = torch.as_tensor(idx, device=device)
                target = y_all[t]
                weight = None if w_all is None else w_all[t]
                for strand in (0, 1):  # canonical step, then reverse-complement step
                    optimizer.zero_grad(set_to_none=True)
                    loss = _loss(model(x[:, strand]), target, weight, task)
                    loss.backward()
                    optimizer.step()
                    total += float(loss.detach()) * len(idx)
                    count += len(idx)
            train_loss = total / max(count, 1)
            metric = validation_metric(y_val, predict(model, features_val, task), task)
            seconds = time.perf_counter() - started
            rows.append({"epoch": epoch, "train_loss": train_loss, "val_metric": metric, "seconds": seconds})
            improved = best_state is None or (not math.isnan(metric) and (math.isnan(best_metric) or metric > best_metric))
            if improved:
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                best_epoch, best_metric = epoch, metric
                since_best = 0
            else:
                since_best += 1
            emit(f"epoch {epoch:3d}  train_loss {train_loss:.5f}  val_{'pearson' if task == 'regression' else 'macro_auroc'} "
                 f"{metric:.4f}  {seconds:.2f}s{'  *' if improved else ''}")
            if since_best >= patience:
                emit(f"early stop after epoch {epoch}: no improvement for {patience} epochs (best epoch {best_epoch})")
                break
    model.load_state_dict(best_state)
    curve = pd.DataFrame(rows, columns=["epoch", "train_loss", "val_metric", "seconds"])
    return TrainResult(best_state=best_state, best_epoch=best_epoch, best_metric=best_metric, curve=curve)
