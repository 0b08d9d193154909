"""Enrichment statistics: Fisher/BH equal scipy's; planted motifs are enriched, absent ones not."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from crelens.enrichment import enrichment, fisher_rows, truth_check

MOTIFS = pd.DataFrame({"motif_id": ["M1", "M2", "M3", "M4"], "motif_name": ["GATA1", "GATA2", "HNF4A", "SOX2"],
                       "family": ["GATA", "GATA", "HNF4", "SOX"]})


def hits(pairs):
    return pd.DataFrame(pairs, columns=["region_id", "motif_id"])


def test_fisher_and_bh_equal_scipy():
    counts = pd.DataFrame({"seqlets_with": [30, 5, 0], "seqlets": [100, 100, 100],
                           "background_with": [10, 5, 3], "background": [200, 200, 200]})
    out = fisher_rows(counts)
    for row, result in zip(counts.itertuples(), out.itertuples()):
        ref = stats.fisher_exact([[row.seqlets_with, row.seqlets - row.seqlets_with],
                                  [row.background_with, row.background - row.background_with]], alternative="greater")
        assert result.pvalue == pytest.approx(ref.pvalue) and result.odds_ratio == pytest.approx(ref.statistic)
    assert np.allclose(out.qvalue, stats.false_discovery_control(out.pvalue.to_numpy()))


def test_planted_motif_is_enriched_and_absent_one_is_not():
    rng = np.random.default_rng(0)
    fg = [(f"s{i}", "M1") for i in range(40)]  # GATA1 in 40 of 50 seqlets
    fg += [(f"s{i}", "M4") for i in rng.choice(50, 2, replace=False)]  # SOX2 at background rate
    bg = [(f"b{i}", "M1") for i in range(10)] + [(f"b{i}", "M4") for i in rng.choice(500, 20, replace=False)]
    table = enrichment(hits(fg), 50, hits(bg), 500, MOTIFS, group="K562")
    motif = table[table.level == "motif"].set_index("motif_name")
    assert motif.loc["GATA1", "qvalue"] < 1e-10 and motif.loc["GATA1", "odds_ratio"] > 10
    assert motif.loc["SOX2", "qvalue"] > 0.05
    assert motif.loc["HNF4A", "seqlets_with"] == 0 and motif.loc["HNF4A", "pvalue"] == 1.0
    family = table[table.level == "family"].set_index("family")
    assert set(family.index) == {"GATA", "HNF4", "SOX"}
    assert family.loc["GATA", "motif_name"] == "GATA1|GATA2"


def test_family_counts_regions_once():
    table = enrichment(hits([("s1", "M1"), ("s1", "M2"), ("s1", "M1")]), 2, hits([]), 10, MOTIFS)
    family = table[table.level == "family"].set_index("family")
    assert family.loc["GATA", "seqlets_with"] == 1


def test_truth_check_recall_and_false_share():
    table = pd.DataFrame({"level": ["family"] * 3, "family": ["GATA", "SOX", "ETS"], "qvalue": [0.001, 0.2, 0.01]})
    check = truth_check(table, {"GATA", "SOX"}).set_index("metric")
    assert check.loc["recall", "value"] == 0.5
    assert check.loc["false_share", "value"] == 0.5


def test_dimer_profiles_count_for_their_parts():
    table = pd.DataFrame({"level": ["family"] * 2, "family": ["GATA::Tal", "Jun"], "qvalue": [0.001, 0.01]})
    check = truth_check(table, {"GATA", "Fos::Jun"}).set_index("metric")
    assert check.loc["recall", "value"] == 1.0  # GATA via the dimer, Fos::Jun via Jun
    assert check.loc["false_share", "value"] == 0.0


def test_empty_group_is_refused():
    with pytest.raises(ValueError, match="needs seqlets"):
        enrichment(hits([]), 0, hits([]), 10, MOTIFS, group="HepG2")
