"""Encoder benchmark: measured side by side in one run, printed as ratios; JSON on the last line.

  python benchmarks/bench_caduceus.py [--reps 3] [--scan-batches 4,8] [--batch 8] [--length 600]
                                      [--sections scan,encoder,cache_write]

  (`--sections scan` runs the selective-scan comparison alone, in about a minute.)

- selective scan, L=600, D=512, N=16 (one direction of one layer of the published d_model=256
  model; inputs in the layout the mixer passes them: transposed views of (B, L, ·) tensors):
  the per-step definition `selective_scan_sequential` ("loop"), the pure-PyTorch chunked
  implementation (CRELENS_SCAN_KERNEL=torch) and the fused numba kernel (=fused, the default),
  forward (inference) and forward+backward (gradients of u, Δ, A, B, C, D, as in masked-LM
  training), with their speed-ups over the loop and their maximum relative difference from it;
  the first fused call (numba import and compile, or load from its on-disk cache) is timed too;
- encoder: sequences per second of the published 7.7M-parameter PS configuration
  (d_model 256, 16 layers, rcps) on this machine's CPU, torch.inference_mode, random weights.

Timings are the minimum over `--reps` runs after one warm-up, the implementations interleaved
rep by rep (the machine is shared; the minimum is the least disturbed run); medians are printed
too.
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

from crelens.encoder import scan
from crelens.encoder.caduceus import CaduceusConfig, CaduceusForMaskedLM
from crelens.encoder.ops import fused
from crelens.encoder.scan import selective_scan, selective_scan_sequential
from crelens.parameters import count_parameters


def timed(fn, reps: int) -> tuple[float, float]:
    """(min, median) wall seconds of `fn()` over `reps` runs after one warm-up run."""
    fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def timed_interleaved(fns: dict, reps: dict) -> dict:
    """{name: (min, median)} wall seconds, one warm-up each, then the functions in turn per rep
    (`reps[name]` runs of each), so that a disturbance hits all of them alike."""
    times = {name: [] for name in fns}
    for fn in fns.values():
        fn()
    for rep in range(max(reps.values())):
        for name, fn in fns.items():
            if rep < reps[name]:
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    return {name: (min(t), statistics.median(t)) for name, t in times.items()}


def scan_inputs(batch: int, dim: int, length: int, n_state: int):
    """Magnitudes of a trained Mamba: Δ = softplus(N(-4, 1)), A = -(1..N); u, Δ, B, C are
    transposed views of (batch, length, ·) tensors, as the mixer passes them."""
    g = torch.Generator().manual_seed(0)
    u = torch.randn(batch, length, dim, generator=g).transpose(1, 2)
    delta = F.softplus(torch.randn(batch, length, dim, generator=g) - 4).transpose(1, 2)
    A = -torch.arange(1, n_state + 1, dtype=torch.float32).repeat(dim, 1)
    B = torch.randn(batch, length, n_state, generator=g).transpose(1, 2)
    C = torch.randn(batch, length, n_state, generator=g).transpose(1, 2)
    return u, delta, A, B, C, torch.ones(dim)


def _with_kernel(name: str, fn):
    """fn run with scan.KERNEL = name (the loop ignores it)."""

    def run(*args):
        previous, scan.KERNEL = scan.KERNEL, name
        try:
            return fn(*args)
        finally:
            scan.KERNEL = previous

    return run


def _rel(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return float((actual - expected).abs().max() / expected.abs().max())


def bench_scan(args) -> dict:
    paths = {"loop": selective_scan_sequential, "torch": _with_kernel("torch", selective_scan)}
    first_call_s = None
    if fused.kernels() is not None:
        paths["fused"] = _with_kernel("fused", selective_scan)
        tiny = [t.requires_grad_() for t in scan_inputs(1, 16, 8, 4)]
        start = time.perf_counter()  # compile or cache load of the float32 forward and backward kernels
        paths["fused"](*tiny).sum().backward()
        first_call_s = time.perf_counter() - start
        print(
            f"fused kernel: first call (forward+backward, float32) {first_call_s:.2f} s (numba compile or cache load)"
        )
    else:
        print(f"fused kernel unavailable ({fused.build_error()!r}); comparing the loop and the chunked path")
    results = {"kernel_first_call_s": first_call_s}
    for batch in args.scan_batches:
        inputs = scan_inputs(batch, 512, args.length, 16)
        with torch.inference_mode():
            forward = timed_interleaved(
                {name: (lambda fn=fn, x=inputs: fn(*x)) for name, fn in paths.items()}, dict.fromkeys(paths, args.reps)
            )
            reference = selective_scan_sequential(*inputs)
            forward_err = {name: _rel(paths[name](*inputs), reference) for name in paths if name != "loop"}

        leaves = [t.detach().clone().requires_grad_() for t in inputs]
        g = torch.Generator().manual_seed(1)  # the gradient of y in the mixer's layout too (of a transposed view)
        grad_y = torch.randn(batch, args.length, 512, generator=g).transpose(1, 2)

        def forward_backward(fn, leaves=leaves, grad_y=grad_y):
            return torch.autograd.grad(fn(*leaves), leaves, grad_y)

        backward = timed_interleaved(
            {name: (lambda fn=fn: forward_backward(fn)) for name, fn in paths.items()},
            {name: (max(1, args.reps - 1) if name == "loop" else args.reps) for name in paths},
        )
        grads_ref = forward_backward(selective_scan_sequential)
        backward_err = {
            name: max(_rel(a, e) for a, e in zip(forward_backward(paths[name]), grads_ref))
            for name in paths
            if name != "loop"
        }
        key = f"B{batch}"
        entry = {"shape": {"batch": batch, "d_inner": 512, "length": args.length, "d_state": 16}}
        for name in paths:
            entry[f"{name}_forward_s"], entry[f"{name}_forward_median_s"] = forward[name]
            entry[f"{name}_forward_backward_s"], entry[f"{name}_forward_backward_median_s"] = backward[name]
            if name != "loop":
                entry[f"{name}_forward_speedup"] = forward["loop"][0] / forward[name][0]
                entry[f"{name}_forward_backward_speedup"] = backward["loop"][0] / backward[name][0]
                entry[f"{name}_max_rel_diff"] = forward_err[name]
                entry[f"{name}_grad_max_rel_diff"] = backward_err[name]
        results[key] = entry
        shape = f"L={args.length} D=512 N=16 B={batch}"
        for label, timing in (("forward", forward), ("fwd+bwd", backward)):
            print(
                f"scan {shape} {label:8s}: "
                + ", ".join(
                    f"{name} {timing[name][0] * 1e3:7.1f} ms (median {timing[name][1] * 1e3:.1f})" for name in paths
                )
            )
        for name in paths:
            if name != "loop":
                print(
                    f"scan {shape} {name:5s} vs loop: forward {entry[f'{name}_forward_speedup']:.1f}x, "
                    f"fwd+bwd {entry[f'{name}_forward_backward_speedup']:.1f}x; max rel diff "
                    f"{forward_err[name]:.1e} (gradients {backward_err[name]:.1e})"
                )
    return results


def bench_encoder(args) -> dict:
    config = CaduceusConfig(d_model=256, n_layer=16, rcps=True)  # the published PS configuration
    model = CaduceusForMaskedLM(config).eval()
    ids = torch.randint(7, 11, (args.batch, args.length), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        enc_min, enc_med = timed(lambda: model.caduceus(ids), args.reps)
    result = {
        "parameters": count_parameters(model, trainable=False),
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

    from crelens.encoder.cache import write_cache

    n, bins, dim = 4096, 24, 256
    block = np.random.default_rng(0).standard_normal((args.batch, bins, dim)).astype(np.float32)
    ids = [f"s{i}" for i in range(n)]
    seqs = ["A" * args.length] * n
    with tempfile.TemporaryDirectory() as tmp:
        seconds, _ = timed(
            lambda: write_cache(
                tmp + f"/{time.perf_counter_ns()}",
                ids,
                seqs,
                lambda b: block[: len(b)],
                lambda b: block[: len(b)],
                identity={},
                shard_size=1024,
                batch_size=args.batch,
            ),
            1,
        )
    mb = n * 2 * bins * dim * 2 / 1e6
    config = CaduceusConfig(d_model=64, n_layer=2, rcps=True)  # config/config.yaml encoder.pretrain
    model = CaduceusForMaskedLM(config).eval()
    from crelens.encoder.caduceus import encode_rc_invariant

    ids_t = torch.randint(7, 11, (32, args.length), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        enc_s, _ = timed(lambda: encode_rc_invariant(model, ids_t), args.reps)
    encoder_rate = 32 / enc_s / 2  # both strands per cached sequence
    result = {
        "sequences_per_s_io_only": n / seconds,
        "mb_per_s": mb / seconds,
        "default_encoder_sequences_per_s": encoder_rate,
        "io_share_of_cache_time": encoder_rate / (n / seconds),
    }
    print(
        f"cache write (I/O only): {n / seconds:,.0f} sequences/s, {mb / seconds:.0f} MB/s; default encoder caches "
        f"{encoder_rate:.1f} sequences/s -> writing is {100 * result['io_share_of_cache_time']:.2f}% of cache time"
    )
    return result


# Sections, run in this order; each returns a JSON-able dict stored under its name.
SECTIONS = [("scan", bench_scan), ("encoder", bench_encoder), ("cache_write", bench_cache_write)]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--scan-batches", type=lambda s: [int(x) for x in s.split(",")], default=[4, 8])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=600)
    parser.add_argument(
        "--sections",
        type=lambda s: s.split(","),
        default=[name for name, _ in SECTIONS],
        help="comma-separated subset of: " + ",".join(name for name, _ in SECTIONS),
    )
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
        if name in args.sections:
            summary[name] = section(args)
    if "scan" in summary:
        entry = summary["scan"][f"B{max(args.scan_batches)}"]
        best = "fused" if "fused_forward_s" in entry else "torch"
        summary["scan_kernel"] = best  # what selective_scan uses on CPU unless CRELENS_SCAN_KERNEL says otherwise
        summary["scan_speedup_vs_loop"] = entry[f"{best}_forward_speedup"]
        summary["scan_backward_speedup_vs_loop"] = entry[f"{best}_forward_backward_speedup"]
        fast = [r for k, r in summary["scan"].items() if k.startswith("B")]
        summary["scan_max_rel_err"] = max(r[f"{best}_max_rel_diff"] for r in fast)
        summary["scan_grad_max_rel_err"] = max(r[f"{best}_grad_max_rel_diff"] for r in fast)
    if "encoder" in summary:
        summary["encoder_seqs_per_s_600bp"] = summary["encoder"]["sequences_per_s"]
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
