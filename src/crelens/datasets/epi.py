"""The EPI classification set: enhancer, promoter and intergenic windows of the genome.

Promoters are EPDnew TSS windows (strand-aware), enhancers SCREEN dELS centres, intergenic
windows are placed by `bedtools shuffle` away from every cCRE, promoter window and gap. The
table schema is in docs/data.md.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from crelens.data.formats import Contigs, read_ccres, read_promoters
from crelens.datasets.splits import assign_split, drop_cross_split_duplicates, drop_homologous, split_order
from crelens.errors import InputError
from crelens.names import EPI_CLASSES, SPLITS
from crelens.sequences import gc_fraction, n_fraction
from crelens.tables import write_table

log = logging.getLogger(__name__)


def _windows(frame: pd.DataFrame, centre: pd.Series, width: int) -> pd.DataFrame:
    start = centre - width // 2
    return frame.assign(start=start, end=start + width)


def shuffle_intergenic(n: int, width: int, contigs: Contigs, exclude: list[pd.DataFrame], seed: int) -> pd.DataFrame:
    """`n` windows placed by `bedtools shuffle` on kept chromosomes, avoiding every excluded interval.

    Exclusions: all cCREs, promoter windows and assembly gaps, so "intergenic" means no
    annotated regulatory element and no N.
    """
    import pybedtools

    with tempfile.TemporaryDirectory(prefix="crelens-shuffle-") as tmp:
        genome = Path(tmp) / "genome.sizes"
        genome.write_text("".join(f"{c}\t{contigs.lengths[c]}\n" for c in contigs.kept))
        excl = pd.concat([e[["chrom", "start", "end"]] for e in exclude if len(e)], ignore_index=True)
        excl_bed = pybedtools.BedTool.from_dataframe(excl.sort_values(["chrom", "start"])).merge()
        first = contigs.kept[0]
        seeds = pybedtools.BedTool("".join(f"{first}\t0\t{width}\n" for _ in range(n)), from_string=True)
        placed = seeds.shuffle(g=str(genome), excl=excl_bed.fn, seed=seed, noOverlapping=True, chrom=False)
        out = placed.to_dataframe(names=["chrom", "start", "end"], dtype={"chrom": str})
        pybedtools.helpers.cleanup()
    return out


def build_epi(
    genome_fa,
    contigs_tsv,
    promoters_bed,
    ccres_bed,
    gaps_bed,
    cfg: dict,
    splits: dict,
    seed: int,
    homology: dict | None = None,
    workdir=None,
) -> pd.DataFrame:
    """Enhancer / promoter / intergenic windows with sequences and chromosome splits."""
    from pyfaidx import Fasta

    width = cfg["window_bp"]
    contigs = Contigs.from_table(contigs_tsv)
    promoters = read_promoters(promoters_bed, contigs)
    ccres = read_ccres(ccres_bed, contigs)
    # An empty source is the file's fault, not the configuration's: say so before splitting.
    if promoters.empty:
        raise InputError(promoters_bed, "no promoter on the kept chromosomes (empty promoter BED?)")
    if not (ccres.ccre_class == "dELS").any():
        raise InputError(ccres_bed, "no dELS cCRE (enhancer) on the kept chromosomes (empty cCRE BED?)")
    gaps = pd.read_csv(gaps_bed, sep="\t", names=["chrom", "start", "end"], dtype={"chrom": str})

    prom = _windows(promoters, promoters.tss, width).assign(label="promoter", seq_id=promoters.name)
    dels = ccres[ccres.ccre_class == "dELS"]
    enh = _windows(dels, (dels.start + dels.end) // 2, width).assign(label="enhancer", seq_id=dels.ccre_id, strand="+")
    enh = _drop_overlapping(enh, prom, "enhancer windows overlapping a promoter window")
    n_intergenic = int(round(cfg["intergenic_per_class"] * (len(prom) + len(enh)) / 2))
    inter = shuffle_intergenic(n_intergenic, width, contigs, [ccres, prom, gaps], seed)
    inter = inter.assign(
        label="intergenic", strand="+", seq_id=[f"INT_{c}_{s}" for c, s in zip(inter.chrom, inter.start)]
    )

    cols = ["seq_id", "label", "chrom", "start", "end", "strand"]
    frame = pd.concat([prom[cols], enh[cols], inter[cols]], ignore_index=True)
    inside = (frame.start >= 0) & (frame.end <= frame.chrom.map(contigs.lengths))
    if (~inside).any():
        log.info("EPI: dropped %d windows that run off a chromosome end", int((~inside).sum()))
    frame = frame[inside].reset_index(drop=True)
    fasta = Fasta(str(genome_fa), as_raw=True, sequence_always_upper=True, rebuild=False)
    frame["sequence"] = [fasta[c][s:e] for c, s, e in zip(frame.chrom, frame.start, frame.end)]
    frame["n_share"] = frame.sequence.map(n_fraction)
    too_many_n = frame.n_share > cfg["max_n_share"]
    if too_many_n.any():
        log.info("EPI: dropped %d windows with more than %.1f%% N", int(too_many_n.sum()), 100 * cfg["max_n_share"])
    frame = frame[~too_many_n]
    frame["split"] = assign_split(frame.chrom, splits)
    frame = drop_cross_split_duplicates(frame, what="EPI")
    if homology:
        frame = drop_homologous(frame, "sequence", homology, workdir, "EPI")
    frame = balance_classes(frame, cfg, seed)
    frame["label_id"] = frame.label.map({c: i for i, c in enumerate(EPI_CLASSES)}).astype("int8")
    frame["gc"] = frame.sequence.map(gc_fraction).round(4)
    order = [
        "seq_id",
        "label",
        "label_id",
        "split",
        "chrom",
        "start",
        "end",
        "strand",
        "gc",
        "n_share",
        "weight",
        "sequence",
    ]
    return frame.sort_values(["split", "label_id", "chrom", "start"], key=split_order).reset_index(drop=True)[order]


def _drop_overlapping(frame: pd.DataFrame, other: pd.DataFrame, what: str) -> pd.DataFrame:
    keep = np.ones(len(frame), dtype=bool)
    for chrom, group in frame.groupby("chrom"):
        o = other[other.chrom == chrom].sort_values("start")
        if o.empty:
            continue
        starts, ends = o.start.to_numpy(), o.end.to_numpy()
        idx = np.searchsorted(starts, group.end.to_numpy())  # intervals starting before our end
        max_end = np.maximum.accumulate(ends)
        hit = (idx > 0) & (max_end[np.maximum(idx - 1, 0)] > group.start.to_numpy())
        keep[frame.index.get_indexer(group.index[hit])] = False
    if (~keep).any():
        log.info("EPI: dropped %d %s", int((~keep).sum()), what)
    return frame[keep]


def balance_classes(frame: pd.DataFrame, cfg: dict, seed: int) -> pd.DataFrame:
    """Per split: downsample every class to the smallest, or keep all and add inverse-frequency weights."""
    for split in SPLITS:
        counts = frame.label[frame.split == split].value_counts()
        for label in EPI_CLASSES:
            if counts.get(label, 0) < cfg["min_class_size"]:
                raise InputError(
                    None,
                    f"EPI class '{label}' has {counts.get(label, 0)} sequences in the {split} split "
                    f"(datasets.epi.min_class_size = {cfg['min_class_size']}): an empty or tiny class cannot be learned or scored",
                )
    rng = np.random.default_rng(seed)
    parts = []
    for split in SPLITS:
        part = frame[frame.split == split]
        counts = part.label.value_counts()
        if cfg["balance"] == "downsample":
            n = counts.min()
            for label in EPI_CLASSES:
                rows = part[part.label == label]
                parts.append(rows.iloc[np.sort(rng.choice(len(rows), size=n, replace=False))].assign(weight=1.0))
        else:
            parts.append(part.assign(weight=part.label.map(len(part) / (len(counts) * counts)).round(6)))
    return pd.concat(parts, ignore_index=True)


def run_epi_dataset(
    genome_fa,
    contigs_tsv,
    promoters_bed,
    ccres_bed,
    gaps_bed,
    cfg: dict,
    splits: dict,
    seed: int,
    out,
    *,
    homology: dict | None = None,
) -> pd.DataFrame:
    """The `epi_dataset` job: build the EPI set and write it."""
    epi = build_epi(genome_fa, contigs_tsv, promoters_bed, ccres_bed, gaps_bed, cfg, splits, seed, homology=homology)
    write_table(epi, out)
    log.info("EPI set:\n%s", epi.groupby(["split", "label"]).size().to_string())
    return epi
