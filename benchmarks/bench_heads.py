"""Heads benchmark: one training epoch of each head against reading the cache once; JSON last line.

  python benchmarks/bench_heads.py [--rows 2769] [--bins 24] [--dim 128] [--reps 3]

Measured side by side in one run, on a cache of the default workflow's shape (the MPRA table:
2,769 sequences × 2 strands × 24 bins × 128 features, float16) written to a temporary folder
with `crelens.cache.write_cache`:

- cache read: `EmbeddingCache.rows` over every row, warm (page cache) and cold (page cache of
  the shards dropped with posix_fadvise(DONTNEED) first, i.e. from disk);
- one epoch of `crelens.training.train_model` per head kind (both strands per batch, batch 64,
  the default settings), plus the validation pass it includes;
- `epoch_over_cache_read`: the slowest head's epoch divided by the cold read (the issue's goal
  is ≤ 2: training should cost about what reading the features costs).

Timings are the minimum over `--reps` runs after one warm-up.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from timing import best_of

from crelens.encoder.cache import EmbeddingCache, write_cache
from crelens.models.heads import build_head
from crelens.models.training import train_model
from crelens.names import HEAD_KINDS


def drop_page_cache(folder: Path) -> None:
    for path in folder.glob("*.npy"):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def make_cache(folder: Path, rows: int, bins: int, dim: int) -> float:
    """Write a cache of random features; returns the write throughput in MB/s."""
    rng = np.random.default_rng(0)
    ids = [f"s{i}" for i in range(rows)]
    start = time.perf_counter()
    write_cache(
        folder,
        ids,
        ["A"] * rows,
        lambda seqs: rng.standard_normal((len(seqs), bins, dim), dtype=np.float32),
        lambda seqs: rng.standard_normal((len(seqs), bins, dim), dtype=np.float32),
        identity={"benchmark": True},
        shard_size=1024,
        batch_size=256,
    )
    seconds = time.perf_counter() - start
    return rows * 2 * bins * dim * 2 / 1e6 / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2769)
    parser.add_argument("--bins", type=int, default=24)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "cache"
        write_mb_s = make_cache(folder, args.rows, args.bins, args.dim)
        cache = EmbeddingCache(folder / "manifest.json")
        every = np.arange(args.rows)
        megabytes = args.rows * 2 * args.bins * args.dim * 2 / 1e6
        warm = best_of(lambda: cache.rows(every), args.reps)

        def cold_read():
            drop_page_cache(folder)
            return cache.rows(every)

        cold = best_of(cold_read, args.reps)
        print(
            f"cache: {args.rows} rows × 2 strands × {args.bins} bins × {args.dim} float16 = {megabytes:.1f} MB "
            f"(written at {write_mb_s:.0f} MB/s)"
        )
        print(
            f"read once: warm {warm * 1e3:.1f} ms ({megabytes / warm:.0f} MB/s), cold {cold * 1e3:.1f} ms "
            f"({megabytes / cold:.0f} MB/s)"
        )

        rng = np.random.default_rng(1)
        n_val = args.rows // 10
        train_rows, val_rows = every[n_val:], every[:n_val]
        y = rng.standard_normal((args.rows, 3)).astype(np.float32)
        features_train, features_val = cache.rows(train_rows), cache.rows(val_rows)
        epochs = {}
        for kind in HEAD_KINDS:

            def one_epoch(kind=kind):
                torch.manual_seed(0)
                head = build_head(kind, args.bins, args.dim, 3)
                train_model(
                    head,
                    features_train,
                    y[train_rows],
                    features_val,
                    y[val_rows],
                    task="regression",
                    max_epochs=1,
                    patience=1,
                    batch_size=64,
                    log=lambda line: None,
                )

            epochs[kind] = best_of(one_epoch, args.reps)
            print(
                f"epoch {kind:>8}: {epochs[kind] * 1e3:8.1f} ms  = {epochs[kind] / cold:6.2f} × cold read, "
                f"{epochs[kind] / warm:7.2f} × warm read"
            )
    slowest = max(epochs, key=epochs.get)
    result = {
        "epoch_over_cache_read": round(epochs[slowest] / cold, 3),
        "epoch_over_warm_cache_read": round(epochs[slowest] / warm, 3),
        "slowest_head": slowest,
        "epoch_ms": {k: round(v * 1e3, 2) for k, v in epochs.items()},
        "cache_read_cold_ms": round(cold * 1e3, 2),
        "cache_read_warm_ms": round(warm * 1e3, 2),
        "cache_write_mb_s": round(write_mb_s, 1),
        "rows": args.rows,
        "bins": args.bins,
        "dim": args.dim,
        "threads": args.threads,
        "torch": torch.__version__,
        "machine": platform.machine(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
