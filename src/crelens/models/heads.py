"""Small adapter heads trained on cached frozen-encoder features of shape (B, bins, dim).

Why: the encoder stays frozen (its features are cached once, see `crelens.encoder.cache`), so all that is
trained per task is a small head. The Boda-style heads are `LayerNorm(dim) → pool → 512 → 512 →
out` with ReLU in between; they differ only in how bins are pooled, which is the comparison of
interest (does position matter, or only the bag of bins?). `mlp1024` (the seed comparison's
"mlp1024-dropout") is a wider, regularised single-hidden-layer baseline over mean-pooled features.
`conv` reads the features at the cache's full resolution with a convolution, as the probing
heads of Tang et al. 2024 ("Evaluating the representational power of pre-trained DNA language
models for regulatory genomics", bioRxiv 10.1101/2024.02.29.582810) do: a motif is a pattern over
neighbouring nucleotides, which averaging them into coarse bins destroys.

Input resolution: the cache may hold more bins than a pooled head uses (per nucleotide, for the
`conv` head); `pool_bins` then averages groups of neighbouring cache bins first, exactly as
pooling the per-nucleotide features into `pool_bins` bins would.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from crelens.names import HEAD_KINDS, POOLINGS

HIDDEN = 512
# The conv head: motif detectors over CONV_KERNEL neighbouring bins, max-pooled over windows of
# CONV_POOL bins, then a small MLP that keeps where in the sequence a motif was found.
CONV_CHANNELS = 128
CONV_KERNEL = 9
CONV_POOL = 20
CONV_HIDDEN = 256


def average_bins(x: torch.Tensor, bins: int) -> torch.Tensor:
    """(B, n, dim) → (B, bins, dim): mean over groups of neighbouring bins (identity for n == bins)."""
    if x.shape[1] == bins:
        return x
    return F.adaptive_avg_pool1d(x.transpose(1, 2), bins).transpose(1, 2)


def averaged_rows(rows: np.ndarray, bins: int, chunk: int = 2048) -> np.ndarray:
    """Cache rows (n, 2, n_bins, dim) averaged into `bins` bins once, float32, by `average_bins`.

    Why: a pooled head trained on the cache's per-nucleotide rows would average every batch in
    every epoch; averaging once gives the head exactly the input its own `average_bins` computes
    from the full rows at prediction time (same function on the same float32 values).
    """
    n, strands, n_bins, dim = rows.shape
    if n_bins == bins:
        return np.asarray(rows, dtype=np.float32)
    out = np.empty((n, strands, bins, dim), dtype=np.float32)
    for lo in range(0, n, chunk):
        x = torch.from_numpy(np.asarray(rows[lo : lo + chunk], dtype=np.float32)).reshape(-1, n_bins, dim)
        out[lo : lo + chunk] = average_bins(x, bins).reshape(-1, strands, bins, dim).numpy()
    return out


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
    optimiser settings work for all of them. Inputs of `bins` bins are first averaged into
    `pool_bins` (default: all of them).
    """

    def __init__(self, pooling: str, bins: int, dim: int, n_outputs: int, pool_bins: int | None = None):
        super().__init__()
        self.bins, self.dim, self.n_outputs = bins, dim, n_outputs
        self.pool_bins = _pool_bins(bins, pool_bins)
        self.norm = nn.LayerNorm(dim)
        self.pool = Pool(pooling, self.pool_bins, dim)
        self.mlp = nn.Sequential(
            nn.Linear(self.pool.out_features, HIDDEN),
            nn.ReLU(),
            nn.Linear(HIDDEN, HIDDEN),
            nn.ReLU(),
            nn.Linear(HIDDEN, n_outputs),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, (self.bins, self.pool_bins), self.dim)
        return self.mlp(self.pool(self.norm(average_bins(x, self.pool_bins))))


class MLPDropoutHead(nn.Module):
    """`norm → mean pool → Linear(dim, 1024) → ReLU → Dropout(p) → Linear(1024, out)`.

    A wider but shallower baseline whose dropout regularises small training sets.
    """

    def __init__(self, bins: int, dim: int, n_outputs: int, dropout: float = 0.1, pool_bins: int | None = None):
        super().__init__()
        self.bins, self.dim, self.n_outputs = bins, dim, n_outputs
        self.pool_bins = _pool_bins(bins, pool_bins)
        self.norm = nn.LayerNorm(dim)
        self.pool = Pool("mean", self.pool_bins, dim)
        self.mlp = nn.Sequential(
            nn.Linear(dim, 1024),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(1024, n_outputs),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, (self.bins, self.pool_bins), self.dim)
        return self.mlp(self.pool(self.norm(average_bins(x, self.pool_bins))))


class ConvHead(nn.Module):
    """`norm → Conv1d(dim → 128, 9 bins) → ReLU → max over windows of 20 bins → 256 → out`.

    The convolution learns motif detectors on the encoder's features; max pooling keeps the
    strongest match per window, and the MLP over the windows keeps coarse position (motif effects
    depend on where in the insert a motif sits). All layers are Linear/Conv/LayerNorm/ReLU/max,
    so MambaLRP's rules cover the head (`crelens.encoder.lrp_rules`).
    """

    def __init__(self, bins: int, dim: int, n_outputs: int, dropout: float = 0.1):
        super().__init__()
        self.bins, self.dim, self.n_outputs = bins, dim, n_outputs
        self.windows = max(1, bins // CONV_POOL)
        self.norm = nn.LayerNorm(dim)
        self.conv = nn.Conv1d(dim, CONV_CHANNELS, CONV_KERNEL, padding="same")
        self.mlp = nn.Sequential(
            nn.Linear(CONV_CHANNELS * self.windows, CONV_HIDDEN),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(CONV_HIDDEN, n_outputs),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.bins, self.dim)
        hits = F.relu(self.conv(self.norm(x).transpose(1, 2)))  # (B, channels, bins)
        return self.mlp(F.adaptive_max_pool1d(hits, self.windows).flatten(1))


def _pool_bins(bins: int, pool_bins: int | None) -> int:
    pool_bins = bins if pool_bins is None else int(pool_bins)
    if not 1 <= pool_bins <= bins:
        raise ValueError(f"pool_bins must be in 1..{bins} (the input bins), got {pool_bins}")
    return pool_bins


def _check_input(x: torch.Tensor, bins: int | tuple[int, ...], dim: int) -> None:
    """Features of `bins` bins (a pooled head also takes them already averaged into its pool_bins)."""
    allowed = sorted(set(bins)) if isinstance(bins, tuple) else [bins]
    if x.ndim != 3 or x.shape[1] not in allowed or x.shape[2] != dim:
        shown = " or ".join(str(b) for b in allowed)
        raise ValueError(f"expected features (B, {shown}, {dim}), got {tuple(x.shape)}")


def build_head(
    kind: str, bins: int, dim: int, n_outputs: int, dropout: float = 0.1, pool_bins: int | None = None
) -> nn.Module:
    """Head of `kind` (one of `HEAD_KINDS`) mapping (B, bins, dim) features to (B, n_outputs).

    `dropout` affects `mlp1024` and `conv`; `pool_bins` the pooled kinds (`conv` reads every bin).
    Outputs are raw: regression values, or class logits.
    """
    if n_outputs < 1:
        raise ValueError(f"n_outputs must be positive, got {n_outputs}")
    if kind == "mlp1024":
        return MLPDropoutHead(bins, dim, n_outputs, dropout, pool_bins)
    if kind == "conv":
        return ConvHead(bins, dim, n_outputs, dropout)
    if kind in POOLINGS:
        return AdapterHead(kind, bins, dim, n_outputs, pool_bins)
    raise ValueError(f"unknown head kind {kind!r}; expected one of {HEAD_KINDS}")
