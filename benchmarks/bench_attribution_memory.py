"""Peak memory of the gradient baselines, whole batch against chunked, measured side by side.

  python benchmarks/bench_attribution_memory.py [--d-model 64] [--layers 2] [--length 200]
                                                [--batch 16] [--ig-steps 32] [--samples 16]
                                                [--chunk 64]

Each measurement runs in a fresh subprocess (peak RSS, `ru_maxrss`, is a high-water mark of the
process) on a PS Caduceus (random weights) + a mean-pooling head, the workflow's `attribute`
job shape: Integrated Gradients with `--ig-steps` steps and SmoothGrad with `--samples` noisy
copies, explaining one output of a batch, once with every path point / noisy copy in one pass
(the job before chunking) and once with at most `--chunk` inputs per forward/backward
(`attribution.chunk`). Prints one line per case and the ratios; JSON last line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys


def measure(args, method: str, chunk: int | None) -> float:
    """Peak RSS (MB) of a subprocess that explains one batch with `method`."""
    code = f"""
import resource, torch
from crelens.attribution.baselines import integrated_gradients, smoothgrad
from crelens.attribution.explained import CaduceusHeadModel
from crelens.encoder.caduceus import Caduceus, CaduceusConfig
from crelens.models.heads import build_head
torch.set_num_threads(1)
torch.manual_seed(0)
config = CaduceusConfig(d_model={args.d_model}, n_layer={args.layers}, rcps=True)
model = CaduceusHeadModel(Caduceus(config).backbone, build_head("mean", 20, {args.d_model}, 3), 20, ["a", "b", "c"]).eval()
seqs = ["".join("ACGT"[(i * 7 + j * 3) % 4] for j in range({args.length})) for i in range({args.batch})]
x = model.inputs(seqs)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if "{method}" == "integrated_gradients":
    integrated_gradients(model, x, 0, steps={args.ig_steps}, internal_batch_size={chunk})
else:
    chunk = {chunk}
    smoothgrad(model, x, 0, samples={args.samples}, samples_batch_size=None if chunk is None else max(1, chunk // x.shape[0]))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, before / 1024)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    peak, _ = map(float, out.stdout.split())
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--d-model", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--length", type=int, default=200)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--ig-steps", type=int, default=32)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--chunk", type=int, default=64)
    args = parser.parse_args()
    result = {"args": vars(args)}
    for method in ("integrated_gradients", "smoothgrad"):
        whole = measure(args, method, None)
        chunked = measure(args, method, args.chunk)
        result[method] = {"whole_mb": round(whole), "chunked_mb": round(chunked), "ratio": round(whole / chunked, 2)}
        print(
            f"{method:22s} whole batch {whole:8.0f} MB   chunks of {args.chunk}: {chunked:8.0f} MB   {whole / chunked:.2f}x"
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
