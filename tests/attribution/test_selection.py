"""Which sequences are explained (crelens.attribution.selection): seeded, from the test split, ranked, paired."""

import numpy as np
import pandas as pd
import pytest

from crelens.attribution.selection import select_sequences

from helpers import selection_table


@pytest.fixture
def table():
    return selection_table()


def test_test_selection_is_seeded_and_from_the_test_split(table):
    a = select_sequences("mpra", "test", table, 5, seed=1)
    b = select_sequences("mpra", "test", table, 5, seed=1)
    assert a.equals(b) and len(a) == 5
    assert set(a.seq_id) <= set(table.seq_id[table.split == "test"])
    epi = select_sequences("epi", "test", table, 4, seed=1)
    assert sorted(epi.label_id) == [0, 0, 1, 1]  # stratified by class


def test_all_selection_takes_every_test_sequence(table):
    chosen = select_sequences("epi", "all", table, 2, seed=0)
    assert list(chosen.seq_id) == [f"s{i}" for i in range(8)]


def test_top_selection_ranks_predictions(table):
    predictions = pd.DataFrame(
        {
            "test_set": "id",
            "seq_id": [f"s{i}" for i in range(8)],
            "pred_K562": np.arange(8.0),
            "pred_HepG2": np.arange(8.0),
        }
    )
    top = select_sequences("mpra", "top", table, 3, seed=0, predictions=predictions)
    assert list(top.seq_id) == ["s7", "s6", "s5"]


def test_snv_selection_pairs_ref_and_alt():
    snv = pd.DataFrame({"pair_id": ["p1", "p2"], "ref_sequence": ["ACGT", "AAAA"], "alt_sequence": ["ACGA", "AAAT"]})
    chosen = select_sequences("mpra", "snv", pd.DataFrame(), 5, seed=0, snv=snv)
    assert list(chosen.seq_id) == ["p1:ref", "p1:alt", "p2:ref", "p2:alt"]
    with pytest.raises(ValueError, match="MPRA"):
        select_sequences("epi", "snv", pd.DataFrame(), 5, seed=0, snv=snv)
