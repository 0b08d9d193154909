"""Model-ready data sets from the sources: EPI classification, MPRA regression, test sets.

The same code runs on simulated and downloaded files. Every table is tidy (one row per
sequence) with the schema documented in docs/data.md; later rules read only these tables.
"""

from __future__ import annotations

import logging
import re
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError
from .io import Contigs, read_ccres, read_lentimpra, read_promoters, read_table
from .sequences import gc_fraction, mpra_construct, n_fraction, reverse_complement, strip_adaptors

log = logging.getLogger(__name__)

EPI_CLASSES = ("enhancer", "promoter", "intergenic")
SPLITS = ("train", "val", "test")


# ------------------------------------------------------------------------------------- splits


def check_splits(splits: dict, chromosomes: list[str]) -> None:
    """Validation and test chromosomes must be kept chromosomes and must not overlap."""
    val, test = list(splits["val"]), list(splits["test"])
    both = sorted(set(val) & set(test))
    if both:
        raise InputError(None, f"config splits: {both} are in both val and test")
    unknown = sorted(set(val + test) - set(chromosomes))
    if unknown:
        raise InputError(None, f"config splits name chromosomes {unknown} that are not in config chromosomes")
    if not set(chromosomes) - set(val) - set(test):
        raise InputError(None, "config splits leave no chromosome for training")


def assign_split(chroms: pd.Series, splits: dict) -> pd.Series:
    split = pd.Series("train", index=chroms.index)
    split[chroms.isin(splits["val"])] = "val"
    split[chroms.isin(splits["test"])] = "test"
    return split


def canonical(seq: str) -> str:
    """Strand-independent key: a sequence and its reverse complement are the same molecule."""
    seq = seq.upper()
    return min(seq, reverse_complement(seq))


def drop_cross_split_duplicates(frame: pd.DataFrame, column: str = "sequence", what: str = "") -> pd.DataFrame:
    """Remove val/test rows whose sequence (either strand) also occurs in train; then dedupe.

    Identical sequences across splits would let a model score by memory, not by learning.
    """
    key = frame[column].map(canonical)
    in_train = set(key[frame.split == "train"])
    leak = (frame.split != "train") & key.isin(in_train)
    if leak.any():
        log.info("%s: dropped %d val/test sequences identical to a training sequence", what, int(leak.sum()))
    frame = frame[~leak]
    key = key[~leak]
    dup = key.duplicated(keep="first")
    if dup.any():
        log.info("%s: dropped %d duplicate sequences within a split", what, int(dup.sum()))
    return frame[~dup].reset_index(drop=True)


def drop_homologous(frame: pd.DataFrame, column: str, homology: dict, workdir, what: str) -> pd.DataFrame:
    """Optional HashFrag filter: test sequences homologous to any training sequence are removed."""
    if not homology.get("enabled"):
        return frame
    from .homology import homologous_test_ids, require_blast

    require_blast("datasets.homology")
    train = dict(zip(frame.seq_id[frame.split == "train"], frame[column][frame.split == "train"]))
    test = dict(zip(frame.seq_id[frame.split == "test"], frame[column][frame.split == "test"]))
    with tempfile.TemporaryDirectory(prefix="crelens-hashfrag-") as scratch:
        flagged = homologous_test_ids(train, test, workdir or scratch, score_threshold=homology["score_threshold"], log=log.info)
    log.info("%s: HashFrag removed %d of %d test sequences homologous to train", what, len(flagged), len(test))
    return frame[~frame.seq_id.isin(flagged)].reset_index(drop=True)


# ---------------------------------------------------------------------------------------- EPI


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


def build_epi(genome_fa, contigs_tsv, promoters_bed, ccres_bed, gaps_bed, cfg: dict, splits: dict, seed: int, homology: dict | None = None, workdir=None) -> pd.DataFrame:
    """Enhancer / promoter / intergenic windows with sequences and chromosome splits."""
    from pyfaidx import Fasta

    width = cfg["window_bp"]
    contigs = Contigs.from_table(contigs_tsv)
    promoters = read_promoters(promoters_bed, contigs)
    ccres = read_ccres(ccres_bed, contigs)
    gaps = pd.read_csv(gaps_bed, sep="\t", names=["chrom", "start", "end"], dtype={"chrom": str})

    prom = _windows(promoters, promoters.tss, width).assign(label="promoter", seq_id=promoters.name)
    dels = ccres[ccres.ccre_class == "dELS"]
    enh = _windows(dels, (dels.start + dels.end) // 2, width).assign(label="enhancer", seq_id=dels.ccre_id, strand="+")
    enh = _drop_overlapping(enh, prom, "enhancer windows overlapping a promoter window")
    n_intergenic = int(round(cfg["intergenic_per_class"] * (len(prom) + len(enh)) / 2))
    inter = shuffle_intergenic(n_intergenic, width, contigs, [ccres, prom, gaps], seed)
    inter = inter.assign(label="intergenic", strand="+", seq_id=[f"INT_{c}_{s}" for c, s in zip(inter.chrom, inter.start)])

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
    order = ["seq_id", "label", "label_id", "split", "chrom", "start", "end", "strand", "gc", "n_share", "weight", "sequence"]
    return frame.sort_values(["split", "label_id", "chrom", "start"], key=_split_order).reset_index(drop=True)[order]


def _split_order(column: pd.Series) -> pd.Series:
    return column.map({s: i for i, s in enumerate(SPLITS)}) if column.name == "split" else column


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


# --------------------------------------------------------------------------------------- MPRA


def read_mpra_tables(tables: dict[str, str], contigs: Contigs, cfg: dict) -> pd.DataFrame:
    """Wide table: one row per tested sequence (forward orientation insert) x one column per cell."""
    target = cfg["target"]
    merged = None
    for cell, path in tables.items():
        raw = read_lentimpra(path, contigs)
        raw["insert"] = raw.seq.map(strip_adaptors)
        plus = raw[raw.strand == "+"].set_index("seq_id")
        minus = raw[raw.strand == "-"].set_index("seq_id")
        only_minus = minus.index.difference(plus.index)
        flipped = minus.loc[only_minus].assign(insert=lambda d: d["insert"].map(reverse_complement))
        per_seq = pd.concat([plus, flipped])
        per_seq = per_seq[["chromosome", "start", "end", "insert", target]].rename(columns={target: cell})
        if merged is None:
            merged = per_seq
        else:
            how = "inner" if cfg["require_all_cells"] else "outer"
            merged = merged.join(per_seq[[cell]], how=how)
            for column in ("chromosome", "start", "end", "insert"):  # fill from this cell on outer joins
                merged[column] = merged[column].fillna(per_seq[column])
    merged = merged.reset_index().rename(columns={"index": "seq_id", "chromosome": "chrom"})
    if merged.empty:
        raise InputError(next(iter(tables.values())), "no sequence is measured in every cell type (datasets.mpra.require_all_cells)")
    return merged.sort_values("seq_id").reset_index(drop=True)


def build_mpra(tables: dict[str, str], contigs_tsv, cfg: dict, splits: dict, cells: list[str], homology: dict | None = None, workdir=None, variant_truth=None):
    """MPRA regression set plus its SNV-pair and OOD test sets.

    - genomic, non-variant sequences → the regression set, split by chromosome (ID test = test split);
    - variant rows (seq_id matching datasets.mpra.variant_pattern) whose reference is on a
      test chromosome → SNV pairs (delta = alt - ref, per cell);
    - sequences without genomic coordinates (designed or control sequences) → the OOD set.
    """
    contigs = Contigs.from_table(contigs_tsv)
    wide = read_mpra_tables(tables, contigs, cfg)
    length = cfg["input_length"]
    try:
        wide["sequence"] = wide["insert"].map(lambda s: mpra_construct(s.upper(), length))
    except ValueError as exc:
        raise InputError(None, f"datasets.mpra.input_length: {exc}") from exc
    pattern = re.compile(cfg["variant_pattern"])
    parsed = wide.seq_id.map(pattern.match)
    is_variant = parsed.notna()
    has_coords = wide.chrom.fillna("") != ""

    mpra = wide[~is_variant & has_coords].copy()
    mpra["start"] = mpra.start.astype(int)
    mpra["end"] = mpra.end.astype(int)
    mpra["split"] = assign_split(mpra.chrom, splits)
    mpra = drop_cross_split_duplicates(mpra, what="MPRA")
    if homology:
        mpra = drop_homologous(mpra, "insert", homology, workdir, "MPRA")
    for split in SPLITS:
        if not (mpra.split == split).any():
            raise InputError(None, f"MPRA set has no sequence in the {split} split: check config splits against the data")
    mpra = mpra.sort_values(["split", "chrom", "start", "seq_id"], key=_split_order).reset_index(drop=True)

    ood = wide[~is_variant & ~has_coords].copy().assign(split="ood")
    train_keys = set(mpra["insert"][mpra.split == "train"].map(canonical))
    ood = ood[~ood["insert"].map(canonical).isin(train_keys)].reset_index(drop=True)

    variants = wide[is_variant].copy()
    groups = pd.DataFrame([m.groupdict() for m in parsed[is_variant]], index=variants.index)
    variants = variants.join(groups)
    refs = mpra.set_index("seq_id")
    variants = variants[variants.ref_id.isin(refs.index)]
    variants = variants[variants.ref_id.map(refs.split) == "test"]
    pairs = pd.DataFrame(
        {
            "pair_id": variants.seq_id.to_numpy(),
            "ref_id": variants.ref_id.to_numpy(),
            "chrom": variants.ref_id.map(refs.chrom).to_numpy(),
            "offset": variants.offset.astype(int).to_numpy(),
            "ref": variants.ref.to_numpy(),
            "alt": variants.alt.to_numpy(),
            "ref_sequence": variants.ref_id.map(refs.sequence).to_numpy(),
            "alt_sequence": variants.sequence.to_numpy(),
        }
    )
    for cell in cells:
        pairs[f"{cell}_ref"] = variants.ref_id.map(refs[cell]).to_numpy()
        pairs[f"{cell}_alt"] = variants[cell].to_numpy()
        pairs[f"{cell}_delta"] = (pairs[f"{cell}_alt"] - pairs[f"{cell}_ref"]).round(6)
    if variant_truth is not None:
        truth = read_table(variant_truth).set_index("variant_id")
        pairs["hits_motif"] = pairs.pair_id.map(truth.hits_motif).astype("boolean")
    pairs = pairs.sort_values("pair_id").reset_index(drop=True)

    columns = ["seq_id", "split", "chrom", "start", "end", *cells, "insert", "sequence"]
    ood = ood.assign(chrom="", start=-1, end=-1)[columns]
    return mpra[columns], pairs, ood


# -------------------------------------------------------------------------------- truth sites


def truth_sites(truth_bed, designed_bed, epi: pd.DataFrame, mpra: pd.DataFrame, ood: pd.DataFrame, input_length: int) -> pd.DataFrame:
    """Planted motif instances in the coordinates of each data set's stored `sequence`.

    Attribution and motif checks compare against these positions. Only instances wholly
    inside a sequence count; MPRA positions include the left flank.
    """
    names = ["chrom", "start", "end", "motif_id", "score", "strand", "motif_name", "tf_family", "element", "element_type"]
    planted = pd.read_csv(truth_bed, sep="\t", comment="#", names=names, dtype={"chrom": str})
    designed = pd.read_csv(designed_bed, sep="\t", comment="#", names=names, dtype={"chrom": str})
    rows = []

    def add(dataset, seq_id, sites, origin, shift):
        for s in sites.itertuples():
            rows.append((dataset, seq_id, s.start - origin + shift, s.end - origin + shift, s.strand, s.motif_id, s.motif_name, s.tf_family, s.score))

    for dataset, frame in (("epi", epi), ("mpra", mpra)):
        for chrom, group in frame.groupby("chrom"):
            sites = planted[planted.chrom == chrom]
            for row in group.itertuples():
                if dataset == "epi":
                    lo, hi, shift = row.start, row.end, 0
                else:
                    lo, hi, shift = row.start, row.start + len(row.insert), (input_length - len(row.insert)) // 2
                add(dataset, row.seq_id, sites[(sites.start >= lo) & (sites.end <= hi)], lo, shift)
    for seq_id, insert in zip(ood.seq_id, ood["insert"]):
        add("ood", seq_id, designed[designed.chrom == seq_id], 0, (input_length - len(insert)) // 2)
    out = pd.DataFrame(rows, columns=["dataset", "seq_id", "start", "end", "strand", "motif_id", "motif_name", "tf_family", "score"])
    return out.sort_values(["dataset", "seq_id", "start"]).reset_index(drop=True)
