"""The MPRA set and its test sets (crelens.datasets.mpra): constructs with flanks, SNV pairs, joins, splits."""

from __future__ import annotations

import copy

import pandas as pd
import pytest

from crelens.datasets.mpra import build_mpra
from crelens.errors import InputError
from crelens.sequences import MPRA_DOWNSTREAM_FLANK, MPRA_UPSTREAM_FLANK


def test_mpra_constructs_carry_the_flanks(built):
    config, _, _, _, mpra, snv, ood = built
    length = config["datasets"]["mpra"]["input_length"]
    left = (length - 200) // 2  # the 200-nt insert, padded with the flanks' nearest bases
    upstream = MPRA_UPSTREAM_FLANK[len(MPRA_UPSTREAM_FLANK) - left :] if left else ""
    downstream = MPRA_DOWNSTREAM_FLANK[: length - 200 - left]
    for frame in (mpra, ood):
        assert (frame.sequence.str.len() == length).all()
        assert frame.sequence.str.startswith(upstream).all()
        assert frame.sequence.str.endswith(downstream).all()
        assert frame[config["datasets"]["cells"]].notna().all().all()
    assert (ood.chrom == "").all() and (ood.split == "ood").all()
    assert set(mpra.split) == {"train", "val", "test"}


def test_snv_pairs_differ_at_the_variant_only(built):
    config, *_, snv, _ = built
    flank = (config["datasets"]["mpra"]["input_length"] - 200) // 2
    assert len(snv) > 5 and snv.hits_motif.notna().all()
    for row in snv.itertuples():
        diff = [i for i, (a, b) in enumerate(zip(row.ref_sequence, row.alt_sequence)) if a != b]
        assert diff == [flank + row.offset]
        assert row.ref_sequence[diff[0]] == row.ref and row.alt_sequence[diff[0]] == row.alt
        for cell in config["datasets"]["cells"]:
            assert getattr(row, f"{cell}_delta") == pytest.approx(
                getattr(row, f"{cell}_alt") - getattr(row, f"{cell}_ref"), abs=1e-5
            )


def test_outer_join_keeps_partly_measured_sequences(built):
    config, _, paths, _, mpra, *_ = built
    cfg = dict(config["datasets"]["mpra"], require_all_cells=False)
    outer, _, _ = build_mpra(paths["tables"], paths["contigs"], cfg, config["splits"], config["datasets"]["cells"])
    assert len(outer) >= len(mpra)
    assert outer[config["datasets"]["cells"]].isna().any().any()  # the tiny world drops a few per cell


def test_mpra_without_test_chromosome_rows_stops(built, tmp_path):
    config, _, paths, *_ = built
    splits = copy.deepcopy(config["splits"])
    splits["test"] = ["chr21"]
    splits["val"] = ["chr19"]
    tables = {}
    for cell, path in paths["tables"].items():
        frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
        tables[cell] = tmp_path / f"no_chr21_{cell}.tsv"
        frame[frame.chromosome != "chr21"].to_csv(tables[cell], sep="\t", index=False)
    with pytest.raises(InputError, match="no sequence in the test split"):
        build_mpra(tables, paths["contigs"], config["datasets"]["mpra"], splits, config["datasets"]["cells"])
