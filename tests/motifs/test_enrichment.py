"""Motif enrichment in seqlets (crelens.motifs.enrichment): Fisher/BH equal scipy, planted enriched, absent not."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from crelens.motifs.enrichment import enrichment, enrichment_for, fisher_rows

MOTIFS = pd.DataFrame(
    {
        "motif_id": ["M1", "M2", "M3", "M4"],
        "motif_name": ["GATA1", "GATA2", "HNF4A", "SOX2"],
        "family": ["GATA", "GATA", "HNF4", "SOX"],
    }
)


def hits(pairs):
    return pd.DataFrame(pairs, columns=["region_id", "motif_id"])


def test_fisher_and_bh_equal_scipy():
    counts = pd.DataFrame(
        {
            "seqlets_with": [30, 5, 0],
            "seqlets": [100, 100, 100],
            "background_with": [10, 5, 3],
            "background": [200, 200, 200],
        }
    )
    out = fisher_rows(counts)
    for row, result in zip(counts.itertuples(), out.itertuples()):
        ref = stats.fisher_exact(
            [
                [row.seqlets_with, row.seqlets - row.seqlets_with],
                [row.background_with, row.background - row.background_with],
            ],
            alternative="greater",
        )
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


def test_empty_group_is_refused():
    with pytest.raises(ValueError, match="needs seqlets"):
        enrichment(hits([]), 0, hits([]), 10, MOTIFS, group="HepG2")


GATA = "AGATAAGA"
GATA_PROBS = np.full((4, 8), 0.02)
for i, base in enumerate(GATA):
    GATA_PROBS["ACGT".index(base), i] = 0.94
SOX_PROBS = np.full((4, 8), 0.02)
for i, base in enumerate("ACAAAGGC"):
    SOX_PROBS["ACGT".index(base), i] = 0.94
MATRICES = {"MA0035.5 GATA1": GATA_PROBS, "MA0143.5 SOX2": SOX_PROBS}
META = pd.DataFrame(
    {
        "motif_id": ["MA0035.5", "MA0143.5"],
        "motif_name": ["GATA1", "SOX2"],
        "family": ["C4-GATA-related", "SOX-related"],
        "key": list(MATRICES),
    }
)
SETTINGS = {
    "seqlet_pvalue": 0.01,
    "min_seqlet_len": 4,
    "max_seqlet_len": 25,
    "seqlet_flank": 3,
    "background": "low_attribution",
    "fimo_pvalue": 1e-4,
    "best_hit_only": True,
    "qvalue": 0.05,
}


def toy_stored(n=60, length=160, seed=0):
    """MPRA-like attributions: GATA planted in every sequence, relevance high on it, noise elsewhere."""
    rng = np.random.default_rng(seed)
    seqs, relevance = [], np.zeros((n, 1, length), np.float32)
    for i in range(n):
        seq = list(rng.choice(list("ACGT"), length))
        pos = int(rng.integers(20, length - 30))
        seq[pos : pos + 8] = GATA
        seqs.append("".join(seq))
        relevance[i, 0] = rng.normal(0, 0.05, length)
        relevance[i, 0, pos : pos + 8] += rng.uniform(0.8, 1.2)
    return {
        "seq_id": np.array([f"s{i}" for i in range(n)]),
        "sequence": np.array(seqs),
        "output": np.array(["K562"]),
        "relevance": relevance,
        "prediction": np.zeros((n, 1), np.float32),
        "label_id": np.full(n, -1),
    }


def test_planted_motif_family_is_enriched_and_the_absent_one_is_not():
    table, seqlets = enrichment_for({"mpra": toy_stored()}, MATRICES, META, SETTINGS, seed=0)
    assert len(seqlets) >= 50
    family = table[table.level == "family"].set_index("family")
    assert family.loc["C4-GATA-related", "qvalue"] < 1e-6
    assert family.loc["SOX-related", "qvalue"] > 0.05
    shuffled, _ = enrichment_for({"mpra": toy_stored()}, MATRICES, META, {**SETTINGS, "background": "shuffled"}, seed=0)
    assert shuffled.set_index(["level", "family"]).loc[("family", "C4-GATA-related"), "qvalue"] < 1e-6
