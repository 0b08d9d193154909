"""Encoder benchmark: measured side by side in one run, printed as ratios; JSON on the last line.

  python benchmarks/encoder.py [--reps 3] [--scan-batches 4,8] [--batch 8] [--length 600]

- selective scan: chunked `selective_scan` vs the per-step definition `selective_scan_sequential`
  (L=600, D=512, N=16 — one direction of one layer of the published d_model=256 model), time
  and speed-up, plus their maximum relative difference;
- encoder: sequences per second of the published 7.7M-parameter PS configuration
  (d_model 256, 16 layers, rcps) on this machine's CPU, torch.inference_mode, random weights.

Timings are the minimum over `--reps` runs after one warm-up (the machine is shared; the minimum
is the least disturbed run); medians are printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import torch
import torch.nn.functional as F

from crelens.models.caduceus import CaduceusConfig, CaduceusForMaskedLM, count_parameters
from crelens.models.scan import selective_scan, selective_scan_sequential


def timed(fn, reps: int) -> tuple[float, float]:
    """(min, median) wall seconds of `fn()` over `reps` runs after one warm-up run."""
    fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def scan_inputs(batch: int, dim: int, length: int, n_state: int):
    """Magnitudes of a trained Mamba: Δ = softplus(N(-4, 1)), A = -(1..N)."""
    g = torch.Generator().manual_seed(0)
    u = torch.randn(batch, dim, length, generator=g)
    delta = F.softplus(torch.randn(batch, dim, length, generator=g) - 4)
    A = -torch.arange(1, n_state + 1, dtype=torch.float32).repeat(dim, 1)
    B = torch.randn(batch, n_state, length, generator=g)
    C = torch.randn(batch, n_state, length, generator=g)
    return u, delta, A, B, C, torch.ones(dim)


def bench_scan(args) -> dict:
    results = {}
    for batch in args.scan_batches:
        inputs = scan_inputs(batch, 512, args.length, 16)
        with torch.inference_mode():
            seq_min, seq_med = timed(lambda: selective_scan_sequential(*inputs), args.reps)
            fast_min, fast_med = timed(lambda: selective_scan(*inputs), args.reps)
            reference = selective_scan_sequential(*inputs)
            rel_diff = float((selective_scan(*inputs) - reference).abs().max() / reference.abs().max())
        key = f"B{batch}"
        results[key] = {
            "shape": {"batch": batch, "d_inner": 512, "length": args.length, "d_state": 16},
            "sequential_s": seq_min,
            "chunked_s": fast_min,
            "speedup": seq_min / fast_min,
            "sequential_median_s": seq_med,
            "chunked_median_s": fast_med,
            "max_rel_diff": rel_diff,
        }
        print(
            f"scan L={args.length} D=512 N=16 B={batch}: per-step loop {seq_min * 1e3:7.1f} ms "
            f"(median {seq_med * 1e3:.1f}), chunked {fast_min * 1e3:6.1f} ms (median {fast_med * 1e3:.1f}) "
            f"-> {seq_min / fast_min:.2f}x; max rel diff {rel_diff:.1e}"
        )
    return results


def bench_encoder(args) -> dict:
    config = CaduceusConfig(d_model=256, n_layer=16, rcps=True)  # the published PS configuration
    model = CaduceusForMaskedLM(config).eval()
    ids = torch.randint(7, 11, (args.batch, args.length), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        enc_min, enc_med = timed(lambda: model.caduceus(ids), args.reps)
    result = {
        "parameters": count_parameters(model),
        "batch": args.batch,
        "length": args.length,
        "seconds_per_batch": enc_min,
        "seconds_per_batch_median": enc_med,
        "sequences_per_s": args.batch / enc_min,
        "bp_per_s": args.batch * args.length / enc_min,
    }
    print(
        f"encoder PS d256 L16 ({result['parameters']:,} params), batch {args.batch} x {args.length} bp: "
        f"{enc_min:.2f} s/batch (median {enc_med:.2f}) -> {result['sequences_per_s']:.2f} seq/s, "
        f"{result['bp_per_s']:,.0f} bp/s"
    )
    return result


def bench_cache_write(args) -> dict:
    """Cache write throughput with a zero-cost encoder (pure I/O + float16 conversion), beside the
    default pretrained encoder's throughput: the ratio says how far caching is from I/O-bound."""
    import tempfile

    import numpy as np

    from crelens.cache import write_cache

    n, bins, dim = 4096, 24, 256
    block = np.random.default_rng(0).standard_normal((args.batch, bins, dim)).astype(np.float32)
    ids = [f"s{i}" for i in range(n)]
    seqs = ["A" * args.length] * n
    with tempfile.TemporaryDirectory() as tmp:
        seconds, _ = timed(lambda: write_cache(tmp + f"/{time.perf_counter_ns()}", ids, seqs, lambda b: block[: len(b)], lambda b: block[: len(b)],
                                               identity={}, shard_size=1024, batch_size=args.batch), 1)
    mb = n * 2 * bins * dim * 2 / 1e6
    config = CaduceusConfig(d_model=64, n_layer=2, rcps=True)  # config/config.yaml encoder.pretrain
    model = CaduceusForMaskedLM(config).eval()
    from crelens.models.caduceus import encode_rc_invariant

    ids_t = torch.randint(7, 11, (32, args.length), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        enc_s, _ = timed(lambda: encode_rc_invariant(model, ids_t), args.reps)
    encoder_rate = 32 / enc_s / 2  # both strands per cached sequence
    result = {"sequences_per_s_io_only": n / seconds, "mb_per_s": mb / seconds,
              "default_encoder_sequences_per_s": encoder_rate, "io_share_of_cache_time": encoder_rate / (n / seconds)}
    print(f"cache write (I/O only): {n / seconds:,.0f} sequences/s, {mb / seconds:.0f} MB/s; default encoder caches "
          f"{encoder_rate:.1f} sequences/s -> writing is {100 * result['io_share_of_cache_time']:.2f}% of cache time")
    return result


# Sections, run in this order; each returns a JSON-able dict stored under its name.
SECTIONS = [("scan", bench_scan), ("encoder", bench_encoder), ("cache_write", bench_cache_write)]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--scan-batches", type=lambda s: [int(x) for x in s.split(",")], default=[4, 8])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=600)
    args = parser.parse_args(argv)

    summary = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
        }
    }
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores")
    for name, section in SECTIONS:
        summary[name] = section(args)
    largest = f"B{max(args.scan_batches)}"
    summary["scan_speedup_vs_loop"] = summary["scan"][largest]["speedup"]
    summary["scan_max_rel_err"] = max(r["max_rel_diff"] for r in summary["scan"].values())
    summary["encoder_seqs_per_s_600bp"] = summary["encoder"]["sequences_per_s"]
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
