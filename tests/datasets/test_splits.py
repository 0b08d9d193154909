"""Chromosome splits and leak checks (crelens.datasets.splits): no chromosome or sequence crosses splits."""

from __future__ import annotations

import pandas as pd
import pytest

from crelens.datasets.splits import canonical, drop_cross_split_duplicates
from crelens.errors import InputError
from crelens.sequences import reverse_complement


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


def test_homology_filter_removes_test_copies_of_training_sequences(built, tmp_path):
    pytest.importorskip("hashFrag")
    from crelens.datasets.homology import blast_available
    from crelens.datasets.splits import drop_homologous

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

    from crelens.datasets.splits import drop_homologous

    *_, mpra, _, _ = built
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    with pytest.raises(InputError, match="ncbi-blast"):
        drop_homologous(mpra.head(20), "insert", {"enabled": True, "score_threshold": 60}, None, "MPRA")
