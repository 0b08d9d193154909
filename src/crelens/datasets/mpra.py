"""The MPRA regression set and its test sets: ID (test chromosomes), SNV pairs and OOD.

lentiMPRA inserts (adaptors removed, forward orientation) are padded with the Malinois MPRA
flanks to the model input length; one activity column per cell type. The table schemas are in
docs/data.md.
"""

from __future__ import annotations

import logging
import re
import tempfile

import pandas as pd

from crelens.data.formats import Contigs, read_lentimpra
from crelens.datasets.splits import assign_split, canonical, drop_cross_split_duplicates, drop_homologous, split_order
from crelens.errors import InputError
from crelens.names import SPLITS
from crelens.sequences import mpra_construct, reverse_complement, strip_adaptors
from crelens.tables import read_table, write_table

log = logging.getLogger(__name__)


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
        raise InputError(
            next(iter(tables.values())), "no sequence is measured in every cell type (datasets.mpra.require_all_cells)"
        )
    return merged.sort_values("seq_id").reset_index(drop=True)


def build_mpra(
    tables: dict[str, str],
    contigs_tsv,
    cfg: dict,
    splits: dict,
    cells: list[str],
    homology: dict | None = None,
    workdir=None,
    variant_truth=None,
):
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
    mpra = _without_leaks(
        mpra,
        "sequence",
        homology,
        workdir,
        lambda split: InputError(
            None, f"MPRA set has no sequence in the {split} split: check config splits against the data"
        ),
    )
    mpra = mpra.sort_values(["split", "chrom", "start", "seq_id"], key=split_order).reset_index(drop=True)
    ood = _unseen(wide[~is_variant & ~has_coords], mpra)

    variants = wide[is_variant].copy()
    groups = pd.DataFrame([m.groupdict() for m in parsed[is_variant]], index=variants.index)
    variants = variants.join(groups)
    pairs = snv_pairs(variants, mpra, cells)
    if variant_truth is not None:
        truth = read_table(variant_truth).set_index("variant_id")
        pairs["hits_motif"] = pairs.pair_id.map(truth.hits_motif).astype("boolean")
    pairs = pairs.sort_values("pair_id").reset_index(drop=True)

    columns = ["seq_id", "split", "chrom", "start", "end", *cells, "insert", "sequence"]
    ood = ood.assign(chrom="", start=-1, end=-1)[columns]
    return mpra[columns], pairs, ood


def _without_leaks(mpra: pd.DataFrame, column: str, homology, workdir, empty_split) -> pd.DataFrame:
    """The leak checks every MPRA set gets, whatever split it: sequences identical to a training
    one (either strand) leave val/test, optionally HashFrag homologs leave test; then no split may
    be empty (`empty_split(split)` is the error to raise)."""
    mpra = drop_cross_split_duplicates(mpra, column=column, what="MPRA")
    if homology:
        mpra = drop_homologous(mpra, "insert", homology, workdir, "MPRA")
    for split in SPLITS:
        if not (mpra.split == split).any():
            raise empty_split(split)
    return mpra


def _unseen(ood: pd.DataFrame, mpra: pd.DataFrame) -> pd.DataFrame:
    """The OOD set without sequences that are in training (either strand)."""
    train_keys = set(mpra["insert"][mpra.split == "train"].map(canonical))
    ood = ood.assign(split="ood")
    return ood[~ood["insert"].map(canonical).isin(train_keys)].reset_index(drop=True)


def _snv_of(ref: str, alt: str):
    """(offset, ref base, alt base) of a single substitution, or None if alt is not one."""
    if len(ref) != len(alt):
        return None
    diff = [i for i, (a, b) in enumerate(zip(ref, alt)) if a != b]
    return (diff[0], ref[diff[0]], alt[diff[0]]) if len(diff) == 1 else None


def build_mpra_table(
    path, spec: dict, cfg: dict, splits: dict, cells: list[str], seed: int, homology=None, workdir=None
):
    """MPRA set, SNV pairs and OOD set from a user's table (`data.source: table`).

    Splits, in order of precedence: the table's own fold column (`data.table.split`); its
    chromosome column with the config's chromosome splits; else a deterministic split of whole
    groups of near-duplicate sequences (HashFrag when BLAST+ is installed, shared k-mers
    otherwise; `data.table.holdout` shares), so near-copies never sit on both sides.
    Rows with `variant_of` set are SNVs of that row (ID-test references only, as on the download
    path); rows marked `designed` are the OOD set.
    """
    from crelens.data.table import read_activity_table
    from crelens.datasets.splits import group_split, hashfrag_groups, kmer_groups, split_from_column

    table = read_activity_table(path, spec)
    length = cfg["input_length"]
    long = table["insert"].str.len() > length
    if long.any():
        row = table[long].iloc[0]
        raise InputError(
            path,
            f"sequence {row.seq_id!r} is {len(row.insert)} nt, longer than the model input "
            f"(datasets.mpra.input_length: {length})",
            int(row.line),
        )
    table["sequence"] = table["insert"].map(lambda s: mpra_construct(s, length))
    table["start"], table["end"] = -1, -1
    is_variant = table.variant_of != ""
    mpra = table[~is_variant & ~table.designed].copy()
    if spec.get("split"):
        mpra["split"] = split_from_column(mpra.fold, spec["split"])
        how = f"column {spec['split']['column']!r}"
    elif spec.get("chromosome"):
        missing = mpra.chrom == ""
        if missing.any():
            raise InputError(
                path, f"empty chromosome in column {spec['chromosome']!r}", int(mpra.line[missing].iloc[0])
            )
        mpra["split"] = assign_split(mpra.chrom, splits)
        how = "chromosomes (config splits)"
    else:
        from crelens.datasets.homology import blast_available

        similarity = spec["similarity"]
        if blast_available() and similarity["method"] in ("auto", "hashfrag"):
            with tempfile.TemporaryDirectory(prefix="crelens-groups-") as scratch:
                groups = hashfrag_groups(
                    list(mpra.seq_id), list(mpra["insert"]), workdir or scratch, similarity["score_threshold"]
                )
            how = "groups of HashFrag homologs"
        elif similarity["method"] == "hashfrag":
            raise InputError(None, "data.table.similarity.method is hashfrag, but BLAST+ (blastn) is not installed")
        else:
            groups = kmer_groups(list(mpra["insert"]), similarity["k"], similarity["min_shared"])
            how = f"groups of near-duplicates (shared {similarity['k']}-mers)"
        mpra["split"] = group_split(mpra["insert"], groups, spec["holdout"], seed).to_numpy()
        log.info("%s: %d groups of %d sequences", how, len(set(groups)), len(mpra))
    log.info("split by %s: %s", how, mpra.split.value_counts().to_dict())
    mpra = _without_leaks(
        mpra,
        "insert",
        homology,
        workdir,
        lambda split: InputError(
            path, f"the {split} split is empty (split by {how}); give more rows or other split settings"
        ),
    )
    mpra = mpra.sort_values(["split", "chrom", "seq_id"], key=split_order).reset_index(drop=True)
    ood = _unseen(table[table.designed & ~is_variant], mpra)

    variants = table[is_variant].copy()
    inserts = table.set_index("seq_id")["insert"]
    snvs = [_snv_of(inserts[r.variant_of], r.insert) for r in variants.itertuples()]
    for row, snv in zip(variants.itertuples(), snvs):
        if snv is None:
            raise InputError(
                path, f"{row.seq_id!r} is not a single-nucleotide variant of {row.variant_of!r} (variant_of)", row.line
            )
    variants["ref_id"] = variants.variant_of
    variants["offset"] = [snv[0] for snv in snvs]
    variants["ref"] = [snv[1] for snv in snvs]
    variants["alt"] = [snv[2] for snv in snvs]
    pairs = snv_pairs(variants, mpra, cells).sort_values("pair_id").reset_index(drop=True)

    columns = ["seq_id", "split", "chrom", "start", "end", *cells, "insert", "sequence"]
    return mpra[columns], pairs, ood[columns]


def snv_pairs(variants: pd.DataFrame, mpra: pd.DataFrame, cells: list[str]) -> pd.DataFrame:
    """SNV pairs whose reference is an ID-test sequence; `variants` has seq_id, ref_id, offset,
    ref, alt, sequence and one column per cell (the alt's activity)."""
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
    return pairs


def run_mpra_dataset(
    tables: dict[str, str],
    contigs_tsv,
    cfg: dict,
    splits: dict,
    cells: list[str],
    outputs: dict,
    *,
    homology: dict | None = None,
    variant_truth=None,
    table_spec: dict | None = None,
    seed: int = 0,
):
    """The `mpra_dataset` job: write the MPRA set, its SNV pairs and its OOD set (`outputs`: mpra, snv, ood).

    `tables` maps cells to lentiMPRA files, or, with `table_spec` (`data.source: table`), holds
    the user's one table under the key "table".
    """
    if table_spec is not None:
        mpra, snv, ood = build_mpra_table(tables["table"], table_spec, cfg, splits, cells, seed, homology=homology)
    else:
        mpra, snv, ood = build_mpra(
            tables, contigs_tsv, cfg, splits, cells, homology=homology, variant_truth=variant_truth
        )
    write_table(mpra, outputs["mpra"])
    write_table(snv, outputs["snv"])
    write_table(ood, outputs["ood"])
    log.info("MPRA %s; SNV pairs %d; OOD %d", mpra.split.value_counts().to_dict(), len(snv), len(ood))
    return mpra, snv, ood
