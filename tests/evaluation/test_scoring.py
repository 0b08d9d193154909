"""Metrics with bootstrap CIs (crelens.evaluation.scoring): values equal scipy's, CIs bracket them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from crelens.evaluation.predictions import epi_predictions, mpra_predictions
from crelens.evaluation.scoring import METRIC_COLUMNS, score

from helpers import mpra_test_tables, oracle

CELLS = ["K562", "HepG2"]


@pytest.fixture
def tables():
    return mpra_test_tables()


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
    epi = pd.DataFrame(
        {
            "seq_id": [f"e{i}" for i in range(90)],
            "split": "test",
            "label": np.repeat(["enhancer", "promoter", "intergenic"], 30),
            "label_id": np.repeat([0, 1, 2], 30),
        }
    )
    probs = np.eye(3)[epi.label_id] * 0.6 + rng.random((90, 3)) * 0.5

    frame = epi_predictions(lambda key, rows: probs[rows], epi)
    assert [c for c in frame.columns if c.startswith("prob_")] == ["prob_enhancer", "prob_promoter", "prob_intergenic"]
    scored = score(frame, "epi", n_boot=100).set_index("metric")
    assert scored.loc["accuracy", "value"] == pytest.approx(np.mean(probs.argmax(1) == epi.label_id))
    assert {"macro_f1", "macro_auroc", "auroc_enhancer", "auroc_promoter", "auroc_intergenic"} <= set(scored.index)


def test_vectorised_task_metrics_equal_the_loop():
    """mean Pearson, argmax accuracy and macro-F1 score every resample exactly as one at a time."""
    from crelens.evaluation.scoring import _argmax_accuracy, _argmax_macro_f1, mean_pearson

    rng = np.random.default_rng(7)
    n = 60
    y = rng.normal(size=(n, 3))
    p = y + rng.normal(size=(n, 3))
    labels = rng.integers(0, 4, n)
    probs = rng.dirichlet(np.ones(4), n)
    idx = rng.integers(0, n, size=(100, n))
    cases = [(mean_pearson, y, p), (_argmax_accuracy, labels, probs), (_argmax_macro_f1(4), labels, probs)]
    for metric, a, b in cases:
        loop = np.array([metric(a[i], b[i]) for i in idx])
        np.testing.assert_allclose(metric.resampled(idx, a, b), loop, atol=1e-12)
