"""What the encoder in the loop costs: a `full` and a `finetune` step against a cache step; JSON last line.

  python benchmarks/bench_in_loop.py [--encoder results/encoder/pretrained] [--kinds conv mean]
                                     [--batch 64] [--length 200] [--max-shift 15] [--reps 5]

Measured side by side in one run, one optimiser step of batch `--batch` each (forward, loss,
backward, AdamW step), for each head kind:

- cache step (heads.aug_mode no_shift): the head on cached features (batch, bins, d_model);
- full step: a shifted window cropped from the flanked one-hot batch (`FlankShift`), the frozen
  encoder run on it without gradients, the head trained on its pooled features;
- finetune step: the same with the encoder trained too (its backward pass included).

The encoder is the one in `--encoder` (a Caduceus folder, e.g. the default run's
results/encoder/pretrained) or, without it, a randomly initialised one of the default
pretraining shape (d_model 64, 2 layers, PS): the cost does not depend on the weights.
Ratios are what a user pays per step for the modes; an epoch of `full`/`finetune` also
validates by running the encoder (the cache epoch reads the cache). Minimum over `--reps` runs
after one warm-up.
"""

from __future__ import annotations

import argparse
import json
import platform

import numpy as np
import torch
from timing import best_of

from crelens.encoder.caduceus import Caduceus, CaduceusConfig
from crelens.encoder.hub import load_caduceus
from crelens.models.heads import build_head
from crelens.models.in_loop import EncoderHead, FlankShift
from crelens.sequences import one_hot_strands


def step(model, optimizer, x, y) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()
    optimizer.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default=None, help="Caduceus folder (default: random d64 × 2 PS)")
    parser.add_argument("--kinds", nargs="+", default=["conv", "mean"])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--length", type=int, default=200)
    parser.add_argument("--bins", type=int, default=200, help="cache bins (the default config: 200)")
    parser.add_argument("--max-shift", type=int, default=15)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    def encoder():
        if args.encoder:
            return load_caduceus(args.encoder)
        return Caduceus(CaduceusConfig(d_model=64, n_layer=2, rcps=True))

    dim = encoder().config.d_model
    rng = np.random.default_rng(0)
    width = args.length + 2 * args.max_shift
    flanked = torch.from_numpy(
        one_hot_strands(["".join(rng.choice(list("ACGT"), width)) for _ in range(args.batch)])[:, 0]
    ).float()
    features = torch.randn(args.batch, args.bins, dim)
    y = torch.randn(args.batch, 3)
    shift, generator = FlankShift(args.max_shift, args.length), torch.Generator().manual_seed(0)
    result = {"cache_ms": {}, "full_ms": {}, "finetune_ms": {}, "full_over_cache": {}, "finetune_over_cache": {}}
    print(
        f"one step of batch {args.batch}, {args.length}-nt windows (±{args.max_shift}), {args.bins} bins × {dim}, "
        f"{args.threads} thread(s)"
    )
    for kind in args.kinds:
        head = build_head(kind, args.bins, dim, 3, pool_bins=None if kind == "conv" else 20)
        optimizer = torch.optim.AdamW(head.parameters(), lr=1e-3)
        cache = best_of(lambda head=head, opt=optimizer: step(head, opt, features, y), args.reps)
        times = {"cache": cache}
        for mode in ("full", "finetune"):
            model = EncoderHead(
                encoder(), build_head(kind, args.bins, dim, 3), args.bins, train_encoder=mode == "finetune"
            )
            optimizer = torch.optim.AdamW(model.parameter_groups(1e-3, 0.1), lr=1e-3)
            times[mode] = best_of(
                lambda model=model, opt=optimizer: step(model, opt, shift(flanked, generator), y), args.reps
            )
        for mode, seconds in times.items():
            result[f"{mode}_ms"][kind] = round(seconds * 1e3, 2)
        result["full_over_cache"][kind] = round(times["full"] / cache, 1)
        result["finetune_over_cache"][kind] = round(times["finetune"] / cache, 1)
        print(
            f"{kind:>8}: cache {cache * 1e3:8.1f} ms   full {times['full'] * 1e3:8.1f} ms "
            f"({times['full'] / cache:6.1f} × cache)   finetune {times['finetune'] * 1e3:8.1f} ms "
            f"({times['finetune'] / cache:6.1f} × cache, {times['finetune'] / times['full']:.2f} × full)"
        )
    result.update(
        {
            "batch": args.batch,
            "length": args.length,
            "max_shift": args.max_shift,
            "bins": args.bins,
            "dim": dim,
            "encoder": args.encoder or "random d64 x 2 PS",
            "threads": args.threads,
            "torch": torch.__version__,
            "machine": platform.machine(),
        }
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
