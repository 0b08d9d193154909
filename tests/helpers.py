"""Small inputs and assertions several test modules share."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crelens.errors import InputError

ORACLE_CELLS = ["K562", "HepG2"]


def random_sequences(n: int, length: int = 40, seed: int = 0) -> list[str]:
    """`n` uniform random ACGT sequences of one length, reproducible from `seed`."""
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), length)) for _ in range(n)]


def expect_input_error(call, path, problem: str, line: int | None = None) -> InputError:
    """Run `call`; it must raise InputError naming `path`, `line` (if given) and `problem` (regex)."""
    with pytest.raises(InputError) as info:
        call()
    err = info.value
    message = str(err)
    assert str(path) in message, message
    assert err.path == str(path)
    if line is not None:
        assert err.line == line, message
        assert f"line {line}:" in message, message
    else:
        assert err.line is None, message
    assert re.search(problem, message), message
    return err


def mpra_test_tables() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(MPRA, SNV pairs, OOD) tables of random activities for two cell types (K562, HepG2)."""
    rng = np.random.default_rng(0)
    n = 60
    mpra = pd.DataFrame(
        {
            "seq_id": [f"s{i}" for i in range(n)],
            "split": ["test"] * 40 + ["train"] * 20,
            "K562": rng.normal(size=n),
            "HepG2": rng.normal(size=n),
        }
    )
    snv = pd.DataFrame(
        {
            "pair_id": [f"s{i}__5A>G" for i in range(12)],
            "ref_id": [f"s{i}" for i in range(12)],
            "K562_delta": rng.normal(size=12),
            "HepG2_delta": rng.normal(size=12),
        }
    )
    ood = pd.DataFrame(
        {"seq_id": [f"D{i}" for i in range(15)], "K562": rng.normal(size=15), "HepG2": rng.normal(size=15)}
    )
    return mpra, snv, ood


def oracle(mpra, snv, ood, noise=0.3, seed=1):
    """predict_rows that returns the measured values plus noise (alt carries the measured delta)."""
    rng = np.random.default_rng(seed)

    def predict_rows(key, rows):
        if key == "mpra":
            values = mpra[ORACLE_CELLS].to_numpy()[rows]
        elif key == "mpra_ood":
            values = ood[ORACLE_CELLS].to_numpy()[rows]
        elif key == "mpra_snv_ref":
            values = np.ones((len(rows), 2))
        else:
            values = 1 + snv[[f"{c}_delta" for c in ORACLE_CELLS]].to_numpy()[rows]
        return values + noise * rng.normal(size=values.shape)

    return predict_rows


def selection_table() -> pd.DataFrame:
    """Twelve random sequences, eight of them in the test split, labels alternating 0 / 1."""
    s = random_sequences(12)
    return pd.DataFrame(
        {
            "seq_id": [f"s{i}" for i in range(12)],
            "sequence": s,
            "split": ["test"] * 8 + ["train"] * 4,
            "label_id": [0, 1] * 6,
        }
    )


def vcf_spec_genome(path) -> Path:
    """A FASTA of chromosome 20 (20 kb, seeded) carrying the REF bases of the two SNVs of the VCF
    4.2 specification's example (tests/fixtures/vcf42_spec_example.vcf): G at 14370, T at 17330."""
    rng = np.random.default_rng(1)
    seq = list(rng.choice(list("ACGT"), 20000))
    seq[14370 - 1], seq[17330 - 1] = "G", "T"
    path = Path(path)
    path.write_text(">20\n" + "".join(seq) + "\n")
    return path
