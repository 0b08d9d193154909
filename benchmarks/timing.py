"""Timing helper shared by the benchmarks (run them from the repository root)."""

from __future__ import annotations

import time


def best_of(fn, reps: int) -> float:
    """Minimum wall time of `reps` calls of `fn` after one warm-up call (compilation, caches)."""
    fn()
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best
