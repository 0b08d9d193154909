"""Homology filtering of test sequences with HashFrag (needs BLAST+ and the hashFrag package)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from crelens.datasets import homology
from crelens.errors import InputError

SEQ_LEN = 200
_COMPLEMENT = str.maketrans("ACGT", "TGCA")


def _revcomp(seq: str) -> str:
    return seq.translate(_COMPLEMENT)[::-1]


def _mutate(seq: str, fraction: float, rng) -> str:
    """Point substitutions at `fraction` of positions, each to a different base."""
    chars = list(seq)
    positions = rng.choice(len(chars), size=int(round(fraction * len(chars))), replace=False)
    for pos in positions:
        chars[pos] = rng.choice([b for b in "ACGT" if b != chars[pos]])
    return "".join(chars)


@pytest.fixture(scope="module")
def hashfrag_ready():
    """Skip (not fail) where the optional homology stack is not installed."""
    pytest.importorskip("hashFrag", reason="hashFrag not installed (pip install 'crelens[homology]')")
    if not homology.blast_available():
        pytest.skip("BLAST+ (blastn/makeblastdb) not on PATH; install ncbi-blast+")


@pytest.fixture(scope="module")
def dataset():
    rng = np.random.default_rng(20240611)

    def random_seq():
        return "".join(rng.choice(list("ACGT"), size=SEQ_LEN))

    train = {f"train_{i}": random_seq() for i in range(50)}
    test = {f"random_{i}": random_seq() for i in range(20)}
    test["identical"] = train["train_0"]
    test["revcomp"] = _revcomp(train["train_1"])
    test["mutated_5pct"] = _mutate(train["train_2"], 0.05, rng)
    test["mutated_5pct_revcomp"] = _revcomp(_mutate(train["train_3"], 0.05, rng))
    return train, test


@pytest.fixture(scope="module")
def flagged(hashfrag_ready, dataset, tmp_path_factory):
    train, test = dataset
    workdir = tmp_path_factory.mktemp("homology") / "work"
    messages = []
    result = homology.homologous_test_ids(train, test, workdir, log=messages.append)
    return result, workdir, messages


def test_identical_sequence_is_flagged(flagged):
    assert "identical" in flagged[0]


def test_reverse_complement_is_flagged(flagged):
    assert "revcomp" in flagged[0]
    assert "mutated_5pct_revcomp" in flagged[0]


def test_point_mutants_are_flagged(flagged):
    assert "mutated_5pct" in flagged[0]


def test_unrelated_random_sequences_are_not_flagged(flagged):
    assert not {i for i in flagged[0] if i.startswith("random_")}
    assert flagged[0] == {"identical", "revcomp", "mutated_5pct", "mutated_5pct_revcomp"}


def test_pairs_file_names_original_ids_and_strand(flagged):
    _, workdir, messages = flagged
    rows = [line.split("\t") for line in (workdir / "homologous_pairs.tsv").read_text().splitlines()[1:]]
    by_test = {r[0]: r for r in rows}
    assert by_test["identical"][1:3] == ["train_0", "+"]
    assert by_test["revcomp"][1:3] == ["train_1", "-"]
    assert float(by_test["identical"][3]) == SEQ_LEN
    assert any("4 of 24" in m for m in messages)


def test_odd_ids_and_shell_unsafe_workdir(hashfrag_ready, dataset, tmp_path):
    """User ids with spaces/`|` and a workdir with a space must not reach HashFrag's shell commands."""
    train, _ = dataset
    train = {"chr1:1-200 | peak A": train["train_0"], "x_Reversed": train["train_1"]}
    test = {"t one": train["chr1:1-200 | peak A"], "t|two": _revcomp(train["x_Reversed"]), "t3": "ACGT" * 50}
    workdir = tmp_path / "has space" / "work"
    assert homology.homologous_test_ids(train, test, workdir) == {"t one", "t|two"}
    assert (workdir / "homologous_pairs.tsv").exists()


def test_empty_inputs_return_empty(hashfrag_ready, tmp_path):
    assert homology.homologous_test_ids({}, {"a": "ACGT" * 50}, tmp_path / "w") == set()


def test_require_blast_without_blastn(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda *args, **kwargs: None)
    assert not homology.blast_available()
    with pytest.raises(InputError, match="ncbi-blast\\+") as info:
        homology.require_blast()
    assert "datasets.homology.enabled" in str(info.value)
    assert "`blastn`" in str(info.value)
    with pytest.raises(InputError, match="ncbi-blast\\+"):
        homology.homologous_test_ids({"a": "A" * 200}, {"b": "A" * 200}, "unused")


def test_require_blast_names_config_path(monkeypatch):
    monkeypatch.setenv("PATH", "")
    with pytest.raises(InputError) as info:
        homology.require_blast(config_path="config/tiny.yaml")
    assert info.value.path == "config/tiny.yaml"
    assert "ncbi-blast+" in info.value.problem
