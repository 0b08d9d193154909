"""Data-stage benchmark: measured side by side in one run, printed as ratios; JSON on the last line.

  python benchmarks/bench_data.py [--scale 0.003]

- simulate: simulated genome bp per second;
- FASTA validation: `crelens.data.formats.iter_fasta` (streaming, validating) vs reading the same file's
  lines without any check — the price of validation;
- prepare_genome: end-to-end MB/s (validate + write FASTA/.fai + gaps);
- EPI set: windows per second (bedtools shuffle, pyfaidx extraction, leak checks, balancing).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from crelens.data.formats import iter_fasta  # noqa: E402
from crelens.data.genome import run_prepare_genome  # noqa: E402
from crelens.datasets.epi import build_epi  # noqa: E402
from crelens.names import SYNTHETIC_OUTPUTS as OUTPUTS  # noqa: E402

from conftest import load_config, run_simulation  # noqa: E402


def timed(fn, repeat: int = 3):
    best = float("inf")
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=0.003, help="data.synthetic.genome_scale")
    args = parser.parse_args()
    config = load_config({"data": {"synthetic": {"genome_scale": args.scale, "mpra": {"elements": 500}}}})
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sim_s, summary = timed(lambda: run_simulation(config, tmp / "sim"), repeat=1)
        fasta = tmp / "sim" / OUTPUTS["genome"]
        size_mb = fasta.stat().st_size / 1e6

        def plain():
            with open(fasta) as handle:
                return sum(len(line) for line in handle)

        plain_s, _ = timed(plain)
        validate_s, _ = timed(lambda: sum(len(s) for _, s in iter_fasta(fasta)))
        out = tmp / "prep"
        prep_s, _ = timed(
            lambda: run_prepare_genome(fasta, out / "g.fa", out / "c.tsv", out / "gaps.bed", config["chromosomes"])
        )
        epi_s, epi = timed(
            lambda: build_epi(
                out / "g.fa",
                out / "c.tsv",
                tmp / "sim" / OUTPUTS["promoters"],
                tmp / "sim" / OUTPUTS["ccres"],
                out / "gaps.bed",
                config["datasets"]["epi"],
                config["splits"],
                1,
            ),
            repeat=1,
        )
    result = {
        "genome_bp": summary["genome_bp"],
        "simulate_s": round(sim_s, 3),
        "simulate_mbp_per_s": round(summary["genome_bp"] / sim_s / 1e6, 3),
        "fasta_plain_read_mb_per_s": round(size_mb / plain_s, 1),
        "fasta_validated_mb_per_s": round(size_mb / validate_s, 1),
        "validation_cost_ratio": round(validate_s / plain_s, 2),
        "prepare_genome_mb_per_s": round(size_mb / prep_s, 1),
        "epi_windows": len(epi),
        "epi_windows_per_s": round(len(epi) / epi_s, 1),
    }
    print(
        f"simulate          {result['simulate_mbp_per_s']:8.2f} Mbp/s   ({summary['genome_bp'] / 1e6:.2f} Mbp in {sim_s:.2f} s)"
    )
    print(
        f"FASTA read        {result['fasta_plain_read_mb_per_s']:8.1f} MB/s plain, {result['fasta_validated_mb_per_s']:.1f} MB/s validated "
        f"-> validation costs {result['validation_cost_ratio']:.2f}x a plain read"
    )
    print(f"prepare_genome    {result['prepare_genome_mb_per_s']:8.1f} MB/s")
    print(f"EPI set           {result['epi_windows_per_s']:8.1f} windows/s ({len(epi)} windows)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
