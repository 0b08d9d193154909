"""Chromosome splits and leak checks (crelens.datasets.splits): no chromosome or sequence crosses splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crelens.datasets.splits import (
    canonical,
    drop_cross_split_duplicates,
    group_split,
    kmer_groups,
    split_from_column,
)
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


# ------------------------------------------------------------------ splits without chromosomes


def _random(n: int, length: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), length)) for _ in range(n)]


def test_kmer_groups_join_near_copies_and_reverse_complements_only():
    seqs = _random(30, 150, 0)
    seqs.append(seqs[0][:75] + ("A" if seqs[0][75] != "A" else "C") + seqs[0][76:])  # one substitution
    seqs.append(reverse_complement(seqs[1]))  # the other strand of the same molecule
    seqs.append(seqs[2][:40])  # a fragment: all its k-mers are in seqs[2]
    groups = kmer_groups(seqs, k=12, min_shared=0.3)
    assert groups[30] == groups[0] and groups[31] == groups[1] and groups[32] == groups[2]
    assert len(set(groups)) == 30  # the 30 random sequences stay apart


def test_kmer_groups_ignore_constant_parts():
    adaptor = "GATTACAGATTACACCGGTTAAGG"
    seqs = [adaptor + s for s in _random(20, 100, 1)]
    assert len(set(kmer_groups(seqs, k=12, min_shared=0.3))) == 20


def test_group_split_is_deterministic_by_content_and_keeps_groups_together():
    seqs = pd.Series(_random(400, 60, 2))
    groups = [i // 2 for i in range(400)]  # pairs
    split = group_split(seqs, groups, {"val": 0.1, "test": 0.1}, seed=7)
    assert set(split) == {"train", "val", "test"}
    assert all(split[i] == split[i + 1] for i in range(0, 400, 2))
    shuffled = seqs.sample(frac=1, random_state=0)
    again = group_split(shuffled, [groups[i] for i in shuffled.index], {"val": 0.1, "test": 0.1}, seed=7)
    assert (again.sort_index() == split).all()  # row order does not matter
    assert not (group_split(seqs, groups, {"val": 0.1, "test": 0.1}, seed=8) == split).all()
    shares = split.value_counts(normalize=True)
    assert 0.04 < shares["val"] < 0.2 and 0.04 < shares["test"] < 0.2


def test_split_from_column_maps_string_and_integer_folds():
    folds = pd.Series(["1", "2", "3", "9", "10"])
    assert list(split_from_column(folds, {"val": [9], "test": ["10"]})) == ["train"] * 3 + ["val", "test"]
