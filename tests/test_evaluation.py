"""Scoring test sets: metrics equal scipy's, SNV deltas, the noise ceiling, paired tests, motif hits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from crelens.evaluation import (
    METRIC_COLUMNS,
    epi_predictions,
    motif_hit_rows,
    motif_hit_shares,
    mpra_predictions,
    noise_ceiling_predictions,
    paired_comparisons,
    score,
)

CELLS = ["K562", "HepG2"]


@pytest.fixture
def tables():
    rng = np.random.default_rng(0)
    n = 60
    mpra = pd.DataFrame({"seq_id": [f"s{i}" for i in range(n)], "split": ["test"] * 40 + ["train"] * 20,
                         "K562": rng.normal(size=n), "HepG2": rng.normal(size=n)})
    snv = pd.DataFrame({"pair_id": [f"s{i}__5A>G" for i in range(12)], "ref_id": [f"s{i}" for i in range(12)],
                        "K562_delta": rng.normal(size=12), "HepG2_delta": rng.normal(size=12)})
    ood = pd.DataFrame({"seq_id": [f"D{i}" for i in range(15)], "K562": rng.normal(size=15), "HepG2": rng.normal(size=15)})
    return mpra, snv, ood


def oracle(mpra, snv, ood, noise=0.3, seed=1):
    """predict_rows that returns the measured values plus noise (alt carries the measured delta)."""
    rng = np.random.default_rng(seed)

    def predict_rows(key, rows):
        if key == "mpra":
            values = mpra[CELLS].to_numpy()[rows]
        elif key == "mpra_ood":
            values = ood[CELLS].to_numpy()[rows]
        elif key == "mpra_snv_ref":
            values = np.ones((len(rows), 2))
        else:
            values = 1 + snv[[f"{c}_delta" for c in CELLS]].to_numpy()[rows]
        return values + noise * rng.normal(size=values.shape)

    return predict_rows


def test_mpra_predictions_cover_three_test_sets_and_snv_is_a_delta(tables):
    mpra, snv, ood = tables
    frame = mpra_predictions(oracle(*tables, noise=0.0), mpra, snv, ood, CELLS)
    assert frame.groupby("test_set").size().to_dict() == {"id": 40, "snv": 12, "ood": 15}
    delta = frame[frame.test_set == "snv"]
    np.testing.assert_allclose(delta.pred_K562, snv.K562_delta)  # alt − ref, the ref's 1 cancels


def test_score_matches_scipy_and_cis_bracket(tables):
    frame = mpra_predictions(oracle(*tables), *tables, CELLS)
    scored = score(frame, "mpra", n_boot=200, seed=0)
    assert list(scored.columns) == METRIC_COLUMNS[1:]
    rows = frame[frame.test_set == "id"]
    row = scored[(scored.test_set == "id") & (scored.metric == "pearson_K562")].iloc[0]
    assert row.value == pytest.approx(stats.pearsonr(rows.measured_K562, rows.pred_K562)[0])
    assert row.ci_low < row.value < row.ci_high
    spear = scored[(scored.test_set == "ood") & (scored.metric == "spearman_HepG2")].iloc[0]
    ood = frame[frame.test_set == "ood"]
    assert spear.value == pytest.approx(stats.spearmanr(ood.measured_HepG2, ood.pred_HepG2)[0])
    mean = scored[(scored.test_set == "snv") & (scored.metric == "pearson_mean")].iloc[0]
    per_cell = scored[(scored.test_set == "snv") & scored.metric.isin(["pearson_K562", "pearson_HepG2"])].value
    assert mean.value == pytest.approx(per_cell.mean())


def test_epi_scores():
    rng = np.random.default_rng(0)
    epi = pd.DataFrame({"seq_id": [f"e{i}" for i in range(90)], "split": "test",
                        "label": np.repeat(["enhancer", "promoter", "intergenic"], 30), "label_id": np.repeat([0, 1, 2], 30)})
    probs = np.eye(3)[epi.label_id] * 0.6 + rng.random((90, 3)) * 0.5

    frame = epi_predictions(lambda key, rows: probs[rows], epi)
    assert [c for c in frame.columns if c.startswith("prob_")] == ["prob_enhancer", "prob_promoter", "prob_intergenic"]
    scored = score(frame, "epi", n_boot=100).set_index("metric")
    assert scored.loc["accuracy", "value"] == pytest.approx(np.mean(probs.argmax(1) == epi.label_id))
    assert {"macro_f1", "macro_auroc", "auroc_enhancer", "auroc_promoter", "auroc_intergenic"} <= set(scored.index)


def test_noise_ceiling_uses_the_truth(tables):
    mpra, snv, ood = tables
    truth = pd.concat([mpra[["seq_id", "K562", "HepG2"]], ood[["seq_id", "K562", "HepG2"]]]).rename(
        columns={"K562": "K562_true", "HepG2": "HepG2_true"})
    variants = snv.rename(columns={"pair_id": "variant_id", "K562_delta": "K562_true_delta", "HepG2_delta": "HepG2_true_delta"})
    frame = noise_ceiling_predictions(truth, variants, mpra, snv, ood, CELLS)
    scored = score(frame, "mpra", n_boot=20)
    assert np.allclose(scored[scored.metric.str.startswith("pearson")].value, 1.0)
    with pytest.raises(ValueError, match="have no truth"):
        noise_ceiling_predictions(truth.iloc[5:], variants, mpra, snv, ood, CELLS)


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
