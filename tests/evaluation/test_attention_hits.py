"""Attention on planted motifs (crelens.evaluation.attention_hits)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crelens.evaluation.attention_hits import motif_hit_rows, motif_hit_shares


def test_motif_hit_shares():
    sites = pd.DataFrame({"seq_id": ["a", "a", "b"], "start": [10, 50, 0], "end": [20, 60, 10]})
    importance = np.zeros((3, 100))
    importance[0, 10:15] = 1  # top 5 positions all on the first motif
    importance[1, 90:95] = 1  # b: all off its motif
    shares = motif_hit_shares(importance, ["a", "b", "c"], sites, top_share=0.05)
    assert list(shares.seq_id) == ["a", "b"]  # c has no planted motif
    assert list(shares.hit_share) == [1.0, 0.0]
    assert list(shares.chance) == [0.2, 0.1]
    rows = motif_hit_rows(shares, "mpra", n_boot=20).set_index("metric")
    assert rows.loc["attention_motif_hit_rate", "value"] == 0.5
    assert rows.loc["attention_motif_enrichment", "value"] == pytest.approx(0.5 / 0.15)


def test_overlap_pvalue_is_small_when_attention_prefers_motifs_and_one_without_a_difference():
    from crelens.evaluation.attention_hits import overlap_pvalue

    rng = np.random.default_rng(0)
    chance = rng.uniform(0.05, 0.15, 30)
    assert overlap_pvalue(chance + rng.uniform(0.2, 0.4, 30), chance) < 0.01
    assert overlap_pvalue(chance - rng.uniform(0.0, 0.05, 30), chance) > 0.5
    assert overlap_pvalue(chance, chance) == 1.0
    shares = pd.DataFrame({"seq_id": [f"s{i}" for i in range(30)], "hit_share": chance + 0.3, "chance": chance})
    rows = motif_hit_rows(shares, "mpra", n_boot=20).set_index("metric")
    assert rows.loc["attention_motif_pvalue", "value"] < 0.01 and np.isnan(rows.loc["attention_motif_pvalue", "ci_low"])
