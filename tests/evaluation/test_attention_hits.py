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
