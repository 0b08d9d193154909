"""The MPRA set and its test sets (crelens.datasets.mpra): constructs with flanks, SNV pairs, joins, splits."""

from __future__ import annotations

import copy

import pandas as pd
import pytest

from crelens.config import TABLE_DEFAULTS
from crelens.datasets.mpra import build_mpra, build_mpra_table
from crelens.errors import InputError
from crelens.sequences import MPRA_DOWNSTREAM_FLANK, MPRA_UPSTREAM_FLANK

from library_table import library


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


# ------------------------------------------------------------------ a user's own table


def _table_spec(**extra) -> dict:
    spec = {**TABLE_DEFAULTS, "path": "lib.tsv", "sequence": "seq", "id": "name"}
    spec["activity"] = {"K562": "k562_log2fc", "HepG2": "hepg2_log2fc"}
    spec.update(variant_of="ref_name", designed="is_designed", **extra)
    return spec


@pytest.fixture
def library_file(tmp_path):
    path = tmp_path / "lib.tsv"
    library().to_csv(path, sep="\t", index=False)
    return path


CFG = {"input_length": 200, "target": "averaged_expression"}
SPLITS = {"val": ["chr19"], "test": ["chr7"]}


def test_table_with_fold_column_gives_the_three_test_sets(library_file):
    spec = _table_spec(split={"column": "fold", "val": ["val"], "test": ["test"]})
    mpra, snv, ood = build_mpra_table(library_file, spec, CFG, SPLITS, ["K562", "HepG2"], seed=1)
    raw = pd.read_csv(library_file, sep="\t", keep_default_na=False, dtype=str)
    genomic = raw[(raw.ref_name == "") & (raw.is_designed == "false")].set_index("name")
    assert (mpra.split == mpra.seq_id.map(genomic.fold)).all()  # the user's folds, as given
    assert (mpra.sequence.str.len() == 200).all() and (mpra["insert"].str.len() == 150).all()
    assert len(ood) == 20 and (ood.split == "ood").all()
    assert len(snv) == 12
    for row in snv.itertuples():
        assert row.ref_sequence[25 + row.offset] == row.ref and row.alt_sequence[25 + row.offset] == row.alt
        diff = [i for i, (a, b) in enumerate(zip(row.ref_sequence, row.alt_sequence)) if a != b]
        assert diff == [25 + row.offset]


def test_table_without_folds_splits_whole_groups_of_near_copies(library_file):
    spec = _table_spec(similarity={"method": "kmer", "k": 12, "min_shared": 0.3, "score_threshold": 60})
    mpra, _, _ = build_mpra_table(library_file, spec, CFG, SPLITS, ["K562", "HepG2"], seed=1)
    split = mpra.set_index("seq_id").split
    near = [s for s in split.index if s.startswith("near")]
    assert near and all(split[n] == split[n.replace("near", "seq")] for n in near)
    again, _, _ = build_mpra_table(library_file, spec, CFG, SPLITS, ["K562", "HepG2"], seed=1)
    assert again.equals(mpra)


def test_table_errors_name_the_row(library_file, tmp_path):
    with pytest.raises(InputError, match="longer than the model input") as caught:
        build_mpra_table(library_file, _table_spec(), {**CFG, "input_length": 100}, SPLITS, ["K562"], seed=1)
    assert caught.value.line == 2
    raw = pd.read_csv(library_file, sep="\t", keep_default_na=False, dtype=str)
    raw.loc[raw.ref_name != "", "seq"] = raw.seq[0]  # a "variant" that is another sequence entirely
    bad = tmp_path / "bad.tsv"
    raw.to_csv(bad, sep="\t", index=False)
    with pytest.raises(InputError, match="not a single-nucleotide variant"):
        build_mpra_table(bad, _table_spec(), CFG, SPLITS, ["K562"], seed=1)
    spec = _table_spec(split={"column": "fold", "val": ["nothing"], "test": ["test"]})
    with pytest.raises(InputError, match="the val split is empty"):
        build_mpra_table(library_file, spec, CFG, SPLITS, ["K562"], seed=1)
