"""Parameters of torch models: how many there are, and whether a weights file fits a model.

Why one module: parameter counts appear in logs, the model table and the published-size tests,
and must mean the same everywhere (a tied Parameter counts once; `trainable` says whether frozen
ones count). The Caduceus, Malinois and crelens checkpoint loaders must all refuse a file the
same way — every missing, unexpected and wrongly shaped key named in one message — so that a
user can fix a mismatched checkpoint from the error alone.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from crelens.errors import InputError

SHOW = 5  # keys named per problem in error messages


def count_parameters(model: nn.Module, *, trainable: bool) -> int:
    """Number of parameters of `model`, each tied Parameter once; with `trainable`, only those
    that require a gradient (a frozen encoder's are then not counted)."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable))


def few(items: Iterable[str]) -> str:
    """At most SHOW items, comma-separated, with a count of the rest."""
    items = list(items)
    shown = ", ".join(items[:SHOW])
    return shown + (f", … (+{len(items) - SHOW} more)" if len(items) > SHOW else "")


def key_problems(state: dict, expected: dict, required: Iterable[str]) -> list[str]:
    """Missing (of `required`), unexpected (not in `expected`) and wrongly shaped keys, as messages."""
    required = list(required)
    missing = [k for k in required if k not in state]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        f"{k} {tuple(state[k].shape)} (model expects {tuple(expected[k].shape)})"
        for k in expected
        if k in state and state[k].shape != expected[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"missing {len(missing)} key(s): {few(missing)}")
    if unexpected:
        problems.append(f"unexpected {len(unexpected)} key(s): {few(unexpected)}")
    if mismatched:
        problems.append(f"shape mismatch in {len(mismatched)} key(s): {few(mismatched)}")
    return problems


def check_finite(state: dict, path) -> None:
    """Refuse NaN or infinite values in any floating-point tensor of `state`."""
    for key, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise InputError(path, f"{key} contains NaN or infinite values")
