"""Attribution benchmark: MambaLRP, Integrated Gradients and ISM against one forward pass; JSON last line.

  python benchmarks/bench_lrp.py [--d-model 128] [--layers 4] [--length 600] [--batch 8]
                                 [--dtype float32] [--ig-steps 32] [--reps 3]

Measured side by side in one run on a PS Caduceus (random weights, published layer design) +
a mean-pooling adapter head, explaining one output of a batch:

- forward: the model's prediction (both strands, as the workflow predicts), no gradients;
- lrp: `crelens.attribution.lrp.lrp` — one forward under the MambaLRP rules and one backward;
- ig: captum Integrated Gradients with `--ig-steps` steps (steps forwards + backwards);
- ism: 3·L mutant forwards per sequence. Timing every mutant at L = 600 would take minutes, so
  the time of `--ism-mutants` mutant forwards (batched as the workflow does) is measured and
  scaled by 3·L / ism-mutants — a measured per-forward cost times the exact count.

Ratios are per batch: `lrp_over_forward` (goal ≤ 3), `ig_over_forward`, `ism_over_forward`.
Timings are the minimum over `--reps` runs after one warm-up.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch
from timing import best_of

from crelens.attribution.baselines import integrated_gradients, ism_all_outputs
from crelens.attribution.explained import CaduceusHeadModel
from crelens.attribution.lrp import lrp
from crelens.encoder.caduceus import Caduceus, CaduceusConfig
from crelens.models.heads import build_head


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--length", type=int, default=600)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--bins", type=int, default=24)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--ig-steps", type=int, default=32)
    parser.add_argument("--ism-mutants", type=int, default=128)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()

    torch.manual_seed(0)
    dtype = getattr(torch, args.dtype)
    config = CaduceusConfig(d_model=args.d_model, n_layer=args.layers, rcps=True)
    model = (
        CaduceusHeadModel(
            Caduceus(config).backbone, build_head("mean", args.bins, args.d_model, 3), args.bins, ["a", "b", "c"]
        )
        .to(dtype)
        .eval()
    )
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), args.length)) for _ in range(args.batch)]
    x = model.inputs(seqs)

    def forward():
        with torch.no_grad():
            model(x)

    def explain():
        lrp(model, x, outputs=[0])

    def ig():
        integrated_gradients(model, x, 0, steps=args.ig_steps, internal_batch_size=args.batch * 4)

    mutants = x[:1].expand(args.ism_mutants, -1, -1)

    def ism_part():
        with torch.no_grad():
            model(mutants)

    t_forward = best_of(forward, args.reps)
    t_lrp = best_of(explain, args.reps)
    t_ig = best_of(ig, max(1, args.reps - 2))
    t_mutants = best_of(ism_part, max(1, args.reps - 2))
    t_ism = t_mutants * (3 * args.length * args.batch) / args.ism_mutants
    # one small real ISM call proves the scaled cost is that of the real function
    small = model.inputs([s[:64] for s in seqs[:1]])
    start = time.perf_counter()
    ism_all_outputs(model, small, batch_size=args.ism_mutants)
    t_small = time.perf_counter() - start

    print(
        f"CaduceusHeadModel PS d_model={args.d_model} layers={args.layers} L={args.length} batch={args.batch} "
        f"{args.dtype}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}"
    )
    print(f"  forward          {t_forward * 1e3:9.1f} ms")
    print(f"  MambaLRP         {t_lrp * 1e3:9.1f} ms   {t_lrp / t_forward:6.2f}× forward")
    print(f"  IG ({args.ig_steps} steps)    {t_ig * 1e3:9.1f} ms   {t_ig / t_forward:6.2f}× forward")
    print(
        f"  ISM (3·L mutants) {t_ism * 1e3:8.1f} ms   {t_ism / t_forward:6.1f}× forward "
        f"(from {args.ism_mutants} mutant forwards in {t_mutants * 1e3:.1f} ms)"
    )
    print(f"  real ISM call on 1 × 64 nt: {t_small * 1e3:.1f} ms")
    print(
        json.dumps(
            {
                "lrp_over_forward": round(t_lrp / t_forward, 3),
                "ig_over_forward": round(t_ig / t_forward, 3),
                "ism_over_forward": round(t_ism / t_forward, 1),
                "forward_ms": round(t_forward * 1e3, 2),
                "lrp_ms": round(t_lrp * 1e3, 2),
                "ig_ms": round(t_ig * 1e3, 2),
                "ism_ms_scaled": round(t_ism * 1e3, 1),
                "d_model": args.d_model,
                "layers": args.layers,
                "length": args.length,
                "batch": args.batch,
                "dtype": args.dtype,
            }
        )
    )


if __name__ == "__main__":
    main()
