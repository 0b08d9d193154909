"""Data sets: windows, constructs, leak-free splits, test sets and truth positions."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from crelens.datasets import (
    EPI_CLASSES,
    build_epi,
    build_mpra,
    canonical,
    check_splits,
    drop_cross_split_duplicates,
    truth_sites,
)
from crelens.errors import InputError
from crelens.genome import prepare_genome
from crelens.motifs_db import jaspar_motifs
from crelens.sequences import MPRA_DOWNSTREAM_FLANK, MPRA_UPSTREAM_FLANK, reverse_complement
from crelens.simulate import OUTPUTS, PlantedMotif, encode, mpra_file


@pytest.fixture(scope="module")
def built(simulated, tmp_path_factory):
    config, src = simulated
    out = tmp_path_factory.mktemp("datasets")
    prepare_genome(src / OUTPUTS["genome"], out / "genome.fa", out / "contigs.tsv", out / "gaps.bed", config["chromosomes"])
    paths = {
        "genome": out / "genome.fa",
        "contigs": out / "contigs.tsv",
        "gaps": out / "gaps.bed",
        "promoters": src / OUTPUTS["promoters"],
        "ccres": src / OUTPUTS["ccres"],
        "tables": {c: src / mpra_file(c) for c in config["datasets"]["cells"]},
    }
    epi = build_epi(paths["genome"], paths["contigs"], paths["promoters"], paths["ccres"], paths["gaps"], config["datasets"]["epi"], config["splits"], 7)
    mpra, snv, ood = build_mpra(
        paths["tables"], paths["contigs"], config["datasets"]["mpra"], config["splits"], config["datasets"]["cells"],
        variant_truth=src / OUTPUTS["truth_variants"],
    )
    return config, src, paths, epi, mpra, snv, ood


def test_splits_are_leak_free(built):
    config, _, _, epi, mpra, snv, _ = built
    for frame in (epi, mpra):
        chroms_per_split = frame.groupby("split").chrom.agg(set)
        splits = list(chroms_per_split.index)
        for i, a in enumerate(splits):
            for b in splits[i + 1 :]:
                assert not chroms_per_split[a] & chroms_per_split[b]
        assert set(frame.chrom[frame.split == "val"]) <= set(config["splits"]["val"])
        assert set(frame.chrom[frame.split == "test"]) == set(config["splits"]["test"])
        keys = frame.sequence.map(canonical)
        train = set(keys[frame.split == "train"])
        assert not train & set(keys[frame.split != "train"])  # either strand
    assert set(snv.chrom) <= set(config["splits"]["test"])


def test_epi_windows_and_balance(built):
    config, _, _, epi, *_ = built
    width = config["datasets"]["epi"]["window_bp"]
    assert ((epi.end - epi.start) == width).all() and (epi.sequence.str.len() == width).all()
    assert epi.seq_id.is_unique
    counts = epi.groupby(["split", "label"]).size().unstack()
    assert list(counts.columns) == sorted(EPI_CLASSES)
    assert (counts.nunique(axis=1) == 1).all()  # downsampled: equal classes within each split
    assert (epi.n_share == 0).all()
    assert dict(zip(epi.label, epi.label_id)) == {c: i for i, c in enumerate(EPI_CLASSES)}


def test_epi_weight_mode_and_empty_class(built):
    config, _, paths, *_ = built
    cfg = dict(config["datasets"]["epi"], balance="weight")
    weighted = build_epi(paths["genome"], paths["contigs"], paths["promoters"], paths["ccres"], paths["gaps"], cfg, config["splits"], 7)
    for _, part in weighted.groupby("split"):
        per_class = part.groupby("label").weight.sum()
        assert np.allclose(per_class, per_class.iloc[0], rtol=1e-4)
    cfg = dict(config["datasets"]["epi"], min_class_size=100000)
    with pytest.raises(InputError, match=r"EPI class '\w+' has \d+ sequences in the \w+ split"):
        build_epi(paths["genome"], paths["contigs"], paths["promoters"], paths["ccres"], paths["gaps"], cfg, config["splits"], 7)


def test_mpra_constructs_carry_the_flanks(built):
    config, _, _, _, mpra, snv, ood = built
    length = config["datasets"]["mpra"]["input_length"]
    for frame in (mpra, ood):
        assert (frame.sequence.str.len() == length).all()
        assert frame.sequence.str.startswith(MPRA_UPSTREAM_FLANK).all()
        assert frame.sequence.str.endswith(MPRA_DOWNSTREAM_FLANK).all()
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
            assert getattr(row, f"{cell}_delta") == pytest.approx(getattr(row, f"{cell}_alt") - getattr(row, f"{cell}_ref"), abs=1e-5)


def test_truth_sites_point_at_the_planted_sequence(built):
    config, src, _, epi, mpra, _, ood = built
    sites = truth_sites(src / OUTPUTS["truth_motifs"], src / OUTPUTS["truth_designed"], epi, mpra, ood, config["datasets"]["mpra"]["input_length"])
    assert set(sites.dataset) == {"epi", "mpra", "ood"}
    ids = sorted(set(sites.motif_id))
    motifs = {m.id: PlantedMotif(m, "x", {}, False) for m in jaspar_motifs("JASPAR2024", ids)}
    frames = {"epi": epi.set_index("seq_id"), "mpra": mpra.set_index("seq_id"), "ood": ood.set_index("seq_id")}
    for row in sites.groupby("dataset").head(150).itertuples():
        seq = frames[row.dataset].at[row.seq_id, "sequence"]
        strength = motifs[row.motif_id].strength(encode(seq[row.start : row.end]), row.strand)
        assert abs(1000 * strength - row.score) <= 1, row


def test_cross_split_duplicates_are_removed_on_either_strand():
    seq = "ACGTTGCAAGGCTTAA"
    frame = pd.DataFrame(
        {
            "seq_id": ["a", "b", "c", "d"],
            "split": ["train", "test", "val", "test"],
            "sequence": [seq, reverse_complement(seq), seq.lower(), "TTTTGGGGCCCCAAAA"],
        }
    )
    kept = drop_cross_split_duplicates(frame)
    assert list(kept.seq_id) == ["a", "d"]


def test_split_configuration_errors():
    chroms = ["chr1", "chr2", "chr3"]
    with pytest.raises(InputError, match="both val and test"):
        check_splits({"val": ["chr2"], "test": ["chr2"]}, chroms)
    with pytest.raises(InputError, match="not in config chromosomes"):
        check_splits({"val": ["chr2"], "test": ["chr9"]}, chroms)
    with pytest.raises(InputError, match="no chromosome for training"):
        check_splits({"val": ["chr1"], "test": ["chr2", "chr3"]}, chroms)


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


def test_homology_filter_removes_test_copies_of_training_sequences(built, tmp_path):
    pytest.importorskip("hashFrag")
    from crelens.datasets import drop_homologous
    from crelens.homology import blast_available

    if not blast_available():
        pytest.skip("BLAST+ (blastn/makeblastdb) not on PATH; install ncbi-blast+")
    *_, mpra, _, _ = built
    frame = mpra[["seq_id", "split", "insert"]].copy()
    train_insert = frame["insert"][frame.split == "train"].iloc[0]
    mutated = train_insert[:100] + ("A" if train_insert[100] != "A" else "C") + train_insert[101:]
    frame.loc[len(frame)] = ["copy_of_train", "test", mutated]
    kept = drop_homologous(frame, "insert", {"enabled": True, "score_threshold": 60}, tmp_path, "MPRA")
    assert "copy_of_train" not in set(kept.seq_id)
    assert (kept.split == "test").sum() >= (frame.split == "test").sum() - 5  # unrelated test sequences stay


def test_homology_filter_without_blast_says_what_to_install(built, monkeypatch):
    import shutil

    from crelens.datasets import drop_homologous

    *_, mpra, _, _ = built
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    with pytest.raises(InputError, match="ncbi-blast"):
        drop_homologous(mpra.head(20), "insert", {"enabled": True, "score_threshold": 60}, None, "MPRA")
