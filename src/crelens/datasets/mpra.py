"""The MPRA regression set and its test sets: ID (test chromosomes), SNV pairs and OOD.

lentiMPRA inserts (adaptors removed, forward orientation) are padded with the Malinois MPRA
flanks to the model input length; one activity column per cell type. The table schemas are in
docs/data.md.
"""

from __future__ import annotations

import logging
import re

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
    mpra = drop_cross_split_duplicates(mpra, what="MPRA")
    if homology:
        mpra = drop_homologous(mpra, "insert", homology, workdir, "MPRA")
    for split in SPLITS:
        if not (mpra.split == split).any():
            raise InputError(
                None, f"MPRA set has no sequence in the {split} split: check config splits against the data"
            )
    mpra = mpra.sort_values(["split", "chrom", "start", "seq_id"], key=split_order).reset_index(drop=True)

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
):
    """The `mpra_dataset` job: write the MPRA set, its SNV pairs and its OOD set (`outputs`: mpra, snv, ood)."""
    mpra, snv, ood = build_mpra(tables, contigs_tsv, cfg, splits, cells, homology=homology, variant_truth=variant_truth)
    write_table(mpra, outputs["mpra"])
    write_table(snv, outputs["snv"])
    write_table(ood, outputs["ood"])
    log.info("MPRA %s; SNV pairs %d; OOD %d", mpra.split.value_counts().to_dict(), len(snv), len(ood))
    return mpra, snv, ood
