"""Predictions frames (crelens.evaluation.predictions): three MPRA test sets, SNV deltas, the noise ceiling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crelens.evaluation.predictions import mpra_predictions, noise_ceiling_predictions
from crelens.evaluation.scoring import score

from helpers import mpra_test_tables, oracle

CELLS = ["K562", "HepG2"]


@pytest.fixture
def tables():
    return mpra_test_tables()


def test_mpra_predictions_cover_three_test_sets_and_snv_is_a_delta(tables):
    mpra, snv, ood = tables
    frame = mpra_predictions(oracle(*tables, noise=0.0), mpra, snv, ood, CELLS)
    assert frame.groupby("test_set").size().to_dict() == {"id": 40, "snv": 12, "ood": 15}
    delta = frame[frame.test_set == "snv"]
    np.testing.assert_allclose(delta.pred_K562, snv.K562_delta)  # alt − ref, the ref's 1 cancels


def test_noise_ceiling_uses_the_truth(tables):
    mpra, snv, ood = tables
    truth = pd.concat([mpra[["seq_id", "K562", "HepG2"]], ood[["seq_id", "K562", "HepG2"]]]).rename(
        columns={"K562": "K562_true", "HepG2": "HepG2_true"}
    )
    variants = snv.rename(
        columns={"pair_id": "variant_id", "K562_delta": "K562_true_delta", "HepG2_delta": "HepG2_true_delta"}
    )
    frame = noise_ceiling_predictions(truth, variants, mpra, snv, ood, CELLS)
    scored = score(frame, "mpra", n_boot=20)
    assert np.allclose(scored[scored.metric.str.startswith("pearson")].value, 1.0)
    with pytest.raises(ValueError, match="have no truth"):
        noise_ceiling_predictions(truth.iloc[5:], variants, mpra, snv, ood, CELLS)
