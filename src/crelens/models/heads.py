"""Small adapter heads trained on cached frozen-encoder features of shape (B, bins, dim).

Why: the encoder stays frozen (its features are cached once, see `crelens.encoder.cache`), so all that is
trained per task is a small head. The Boda-style heads are `LayerNorm(dim) → pool → 512 → 512 →
out` with ReLU in between; they differ only in how bins are pooled, which is the comparison of
interest (does position matter, or only the bag of bins?). `mlp1024` (the seed comparison's
"mlp1024-dropout") is a wider, regularised single-hidden-layer baseline over mean-pooled features.
"""

from __future__ import annotations

import torch
from torch import nn

from crelens.names import HEAD_KINDS, POOLINGS

HIDDEN = 512


class Pool(nn.Module):
    """(B, bins, dim) → (B, features).

    `sum`/`mean`/`max` ignore bin order (so a bin-reversed reverse-complement strand pools the
    same); `flatten` keeps every position; `center` keeps only the middle bin(s), where the
    regulatory element sits in a centred window.
    """

    def __init__(self, kind: str, bins: int, dim: int):
        super().__init__()
        if kind not in POOLINGS:
            raise ValueError(f"unknown pooling {kind!r}; expected one of {POOLINGS}")
        if bins < 1 or dim < 1:
            raise ValueError(f"bins and dim must be positive, got bins={bins}, dim={dim}")
        self.kind, self.bins, self.dim = kind, bins, dim
        self.out_features = bins * dim if kind == "flatten" else dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "flatten":
            return x.flatten(1)
        if self.kind == "sum":
            return x.sum(1)
        if self.kind == "mean":
            return x.mean(1)
        if self.kind == "max":
            return x.amax(1)
        # center: the middle bin, or the mean of the two middle bins for an even count
        mid = self.bins // 2
        if self.bins % 2:
            return x[:, mid]
        return 0.5 * (x[:, mid - 1] + x[:, mid])

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, bins={self.bins}, dim={self.dim}"


class AdapterHead(nn.Module):
    """`norm → pool → 512 → 512 → out` (Boda-style): LayerNorm over dim, ReLU between linears.

    The norm puts features of different encoders on one scale before pooling, so the same
    optimiser settings work for all of them.
    """

    def __init__(self, pooling: str, bins: int, dim: int, n_outputs: int):
        super().__init__()
        self.bins, self.dim, self.n_outputs = bins, dim, n_outputs
        self.norm = nn.LayerNorm(dim)
        self.pool = Pool(pooling, bins, dim)
        self.mlp = nn.Sequential(
            nn.Linear(self.pool.out_features, HIDDEN),
            nn.ReLU(),
            nn.Linear(HIDDEN, HIDDEN),
            nn.ReLU(),
            nn.Linear(HIDDEN, n_outputs),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.bins, self.dim)
        return self.mlp(self.pool(self.norm(x)))


class MLPDropoutHead(nn.Module):
    """`norm → mean pool → Linear(dim, 1024) → ReLU → Dropout(p) → Linear(1024, out)`.

    A wider but shallower baseline whose dropout regularises small training sets.
    """

    def __init__(self, bins: int, dim: int, n_outputs: int, dropout: float = 0.1):
        super().__init__()
        self.bins, self.dim, self.n_outputs = bins, dim, n_outputs
        self.norm = nn.LayerNorm(dim)
        self.pool = Pool("mean", bins, dim)
        self.mlp = nn.Sequential(
            nn.Linear(dim, 1024),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(1024, n_outputs),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.bins, self.dim)
        return self.mlp(self.pool(self.norm(x)))


def _check_input(x: torch.Tensor, bins: int, dim: int) -> None:
    if x.ndim != 3 or x.shape[1] != bins or x.shape[2] != dim:
        raise ValueError(f"expected features (B, {bins}, {dim}), got {tuple(x.shape)}")


def build_head(kind: str, bins: int, dim: int, n_outputs: int, dropout: float = 0.1) -> nn.Module:
    """Head of `kind` (one of `HEAD_KINDS`) mapping (B, bins, dim) features to (B, n_outputs).

    `dropout` only affects `mlp1024`. Outputs are raw: regression values, or class logits.
    """
    if n_outputs < 1:
        raise ValueError(f"n_outputs must be positive, got {n_outputs}")
    if kind == "mlp1024":
        return MLPDropoutHead(bins, dim, n_outputs, dropout)
    if kind in POOLINGS:
        return AdapterHead(kind, bins, dim, n_outputs)
    raise ValueError(f"unknown head kind {kind!r}; expected one of {HEAD_KINDS}")
