"""Paired comparisons with the best model (crelens.evaluation.paired)."""

from __future__ import annotations

import pytest

from crelens.evaluation.paired import paired_comparisons
from crelens.evaluation.predictions import mpra_predictions

from helpers import mpra_test_tables, oracle

CELLS = ["K562", "HepG2"]


@pytest.fixture
def tables():
    return mpra_test_tables()


def test_paired_comparisons_find_the_better_model(tables):
    good = mpra_predictions(oracle(*tables, noise=0.1, seed=1), *tables, CELLS)
    bad = mpra_predictions(oracle(*tables, noise=2.0, seed=2), *tables, CELLS)
    same = mpra_predictions(oracle(*tables, noise=2.0, seed=3), *tables, CELLS)
    result = paired_comparisons({"good": good, "bad": bad, "bad2": same}, "mpra", n_boot=300)
    assert set(result.test_set) == {"id", "snv", "ood"}
    assert (result.best == "good").all()
    id_rows = result[result.test_set == "id"]
    assert (id_rows.delta > 0).all() and (id_rows.pvalue_holm < 0.05).all()
    assert (result.pvalue_holm >= result.pvalue - 1e-12).all()


def test_paired_comparisons_refuse_different_sequences(tables):
    a = mpra_predictions(oracle(*tables), *tables, CELLS)
    b = a.iloc[3:]
    with pytest.raises(ValueError, match="different sequences"):
        paired_comparisons({"a": b, "b": a}, "mpra", n_boot=10)
