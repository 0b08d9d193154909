"""The run's reference genome: the configured chromosomes of a source FASTA, validated and indexed.

Real hg38 carries alt haplotypes, chrY, chrM and unplaced contigs; the run keeps the configured
chromosomes and records every source contig so annotation readers can tell a dropped
contig (skip) from an unknown one (error).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pandas as pd

from crelens.atomic import atomic_open
from crelens.data.formats import iter_fasta, n_runs, write_fasta
from crelens.errors import InputError
from crelens.tables import write_table

log = logging.getLogger(__name__)


def run_prepare_genome(source, fasta_out, contigs_out, gaps_out, chromosomes: list[str]) -> dict[str, int]:
    """Stream `source` (plain or gzip FASTA), keep `chromosomes`, write FASTA + .fai, contigs, gaps.

    Returns kept chromosome lengths. Every record is validated (see `crelens.data.formats.iter_fasta`).
    """
    wanted = set(chromosomes)
    contigs: list[dict] = []
    gaps: list[tuple[str, int, int]] = []
    started = time.monotonic()

    def kept_records():
        total = 0
        for name, seq in iter_fasta(source):
            contigs.append({"contig": name, "length": len(seq), "kept": name in wanted})
            total += len(seq)
            if name in wanted:
                gaps.extend((name, s, e) for s, e in n_runs(seq))
                log.info(
                    "%s: %d bp kept (%.1f Mbp read, %.1f Mbp/s)",
                    name,
                    len(seq),
                    total / 1e6,
                    total / 1e6 / max(time.monotonic() - started, 1e-9),
                )
                yield name, seq

    lengths = write_fasta(kept_records(), fasta_out)
    missing = [c for c in chromosomes if c not in lengths]
    if missing:
        Path(fasta_out).unlink(missing_ok=True)
        Path(str(fasta_out) + ".fai").unlink(missing_ok=True)
        raise InputError(source, f"configured chromosomes {missing} are not in this FASTA")
    write_table(pd.DataFrame(contigs), contigs_out)
    with atomic_open(gaps_out, "w") as out:
        for name, start, end in gaps:
            out.write(f"{name}\t{start}\t{end}\n")
    log.info("kept %d of %d contigs; %d gap intervals", len(lengths), len(contigs), len(gaps))
    return lengths
