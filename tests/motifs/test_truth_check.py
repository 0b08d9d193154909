"""Recall and false share of planted families (crelens.motifs.truth_check)."""

import numpy as np
import pandas as pd

from crelens.motifs.truth_check import denovo_truth, planted_families, truth_check


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


def test_planted_families_follow_the_explained_outputs():
    sites = pd.DataFrame({"motif_name": ["GATA1", "HNF4A", "CTCF"], "tf_family": ["GATA", "HNF4", "CTCF"]})
    design = [
        {"name": "GATA1", "program": "K562", "effect": {"K562": 0.9}},
        {"name": "HNF4A", "program": "HepG2", "effect": {"K562": 0.0}},
        {"name": "CTCF", "program": "insulator", "effect": {"K562": 0.0}},
    ]
    assert planted_families({"mpra": {"output": np.array(["K562"])}}, sites, design) == {"GATA"}


def test_denovo_truth_counts_matched_families():
    matches = pd.DataFrame(
        {"pattern": ["p0", "p1", "p2"], "pval0": [1e-5, 1e-4, 0.5], "family0": ["GATA", "ETS", "SOX"]}
    )
    check = denovo_truth(matches, {"GATA", "HNF4"}, match_pvalue=0.05).set_index("metric")
    assert check.loc["denovo_recall", "value"] == 0.5
    assert check.loc["denovo_false_share", "value"] == 0.5
    empty = denovo_truth(pd.DataFrame(columns=["pattern", "pval0", "family0"]), {"GATA"}, 0.05).set_index("metric")
    assert empty.loc["denovo_recall", "value"] == 0.0
