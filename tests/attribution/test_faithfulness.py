"""Faithfulness (crelens.attribution.faithfulness): perturbation curves, ΔA^F, planted-motif scores, the per-sequence rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from crelens.attribution.baselines import grad_x_input
from crelens.attribution.explained import ExplainedModel, OneHotModel
from crelens.attribution.faithfulness import (
    area,
    average_precision,
    delta_af,
    faithfulness,
    motif_scores,
    perturbation_curve,
    removal_counts,
    summarise,
)
from crelens.attribution.summary import paired_differences
from crelens.metrics import auroc
from crelens.sequences import one_hot

from helpers import random_sequences

SEQS = ["ACGTACGTAC", "TTGCAAGGCA"]
LENGTH = 10
IMPORTANT = [2, 5, 7]
BIAS = 0.5


class PositionModel(ExplainedModel):
    """Linear over one-hot rows: f(x) = Σ_l weight[l]·(any base present at l) + bias."""

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.weight = nn.Parameter(weight.double())  # (L,)
        self.bias = nn.Parameter(torch.tensor(BIAS, dtype=torch.float64))
        self.output_names = ["y"]

    def inputs(self, seqs: list[str]) -> torch.Tensor:
        return torch.from_numpy(np.stack([one_hot(s) for s in seqs])).double()

    @property
    def base_vectors(self) -> torch.Tensor:
        return torch.eye(4, dtype=torch.float64)

    @property
    def removed_vector(self) -> torch.Tensor:
        return torch.zeros(4, dtype=torch.float64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.sum(-1) * self.weight).sum(-1, keepdim=True) + self.bias


def important_model() -> PositionModel:
    weight = torch.zeros(LENGTH)
    weight[IMPORTANT] = 1.0
    return PositionModel(weight)


def test_removal_counts_run_from_nothing_to_everything():
    counts = removal_counts(10, 20)
    assert counts[0] == 0 and counts[-1] == 10 and len(counts) == 21
    assert (counts.diff() >= 0).all()
    assert removal_counts(10, 5).tolist() == [0, 2, 4, 6, 8, 10]
    assert removal_counts(3, 2).tolist() == [0, 2, 3]  # 1.5 rounds half up


def test_curves_of_true_relevance_are_exact():
    model = important_model()
    x = model.inputs(SEQS)
    relevance = grad_x_input(model, x, 0)
    morf = perturbation_curve(model, x, relevance, 0, "morf", steps=10)
    lerf = perturbation_curve(model, x, relevance, 0, "lerf", steps=10)
    expected_morf = torch.tensor([3, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0], dtype=torch.float64) + BIAS
    expected_lerf = torch.tensor([3, 3, 3, 3, 3, 3, 3, 3, 2, 1, 0], dtype=torch.float64) + BIAS
    torch.testing.assert_close(morf, expected_morf.expand(2, -1))
    torch.testing.assert_close(lerf, expected_lerf.expand(2, -1))


def test_faithful_relevance_has_positive_delta_and_reversed_negative():
    model = important_model()
    x = model.inputs(SEQS)
    relevance = grad_x_input(model, x, 0)
    morf = perturbation_curve(model, x, relevance, 0, "morf")
    lerf = perturbation_curve(model, x, relevance, 0, "lerf")
    assert (area(morf) < area(lerf)).all()
    assert (delta_af(model, x, relevance, 0) > 0).all()
    assert (delta_af(model, x, -relevance, 0) < 0).all()


def test_curve_ends_are_model_output_and_all_removed_output():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv1d(4, 3, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(3, 2)
    )
    model = OneHotModel(net.double(), ["a", "b"])
    x = model.inputs(SEQS)
    relevance = torch.randn(2, LENGTH, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for order in ("morf", "lerf"):
        curve = perturbation_curve(model, x, relevance, 1, order, steps=7)
        assert curve.shape == (2, 8)
        with torch.no_grad():
            torch.testing.assert_close(curve[:, 0], model(x)[:, 1])
            all_removed = model.removed_vector.expand_as(x)
            torch.testing.assert_close(curve[:, -1], model(all_removed)[:, 1])
        torch.testing.assert_close(perturbation_curve(model, x, relevance, 1, order, steps=7, batch_size=3), curve)


def test_ties_are_removed_in_position_order():
    weight = torch.arange(1.0, LENGTH + 1)  # position l is worth l+1
    model = PositionModel(weight)
    x = model.inputs(SEQS[:1])
    flat = torch.zeros(1, LENGTH, dtype=torch.float64)
    morf = perturbation_curve(model, x, flat, 0, "morf", steps=LENGTH)
    lerf = perturbation_curve(model, x, flat, 0, "lerf", steps=LENGTH)
    torch.testing.assert_close(morf, lerf)
    removed_first = torch.cumsum(torch.cat([torch.zeros(1), weight]), 0).double()
    torch.testing.assert_close(morf[0], weight.sum().double() + BIAS - removed_first)


def test_unknown_order_is_rejected():
    model = important_model()
    x = model.inputs(SEQS)
    with pytest.raises(ValueError):
        perturbation_curve(model, x, torch.zeros(2, LENGTH), 0, "random")


def test_area_of_constant_and_linear_curves():
    torch.testing.assert_close(area(torch.full((3, 21), 2.5)), torch.full((3,), 2.5, dtype=torch.float64))
    torch.testing.assert_close(area(torch.linspace(1, 0, 11)[None]), torch.tensor([0.5], dtype=torch.float64))


def test_motif_scores_of_perfect_relevance():
    mask = np.zeros((2, 8), dtype=bool)
    mask[0, 2:4] = True
    mask[1, 5:8] = True
    relevance = np.where(mask, -3.0, 0.1)  # negative but large: |relevance| counts
    aurocs, auprcs = motif_scores(relevance, mask)
    np.testing.assert_array_equal(aurocs, [1.0, 1.0])
    np.testing.assert_array_equal(auprcs, [1.0, 1.0])


def test_motif_scores_nan_without_both_classes():
    relevance = np.random.default_rng(0).normal(size=(2, 5))
    mask = np.array([[False] * 5, [True] * 5])
    aurocs, auprcs = motif_scores(relevance, mask)
    assert np.isnan(aurocs).all() and np.isnan(auprcs).all()


def test_average_precision_by_hand():
    # ranks: + (P=1, R=1/2), −, + (P=2/3, R=1) → AP = 1/2·1 + 1/2·2/3
    assert average_precision([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(5 / 6)
    # tie at 0.5 enters together: thresholds 0.9 (P=0,R=0), 0.5 (P=1/3,R=1/2), 0.1 (P=1/2,R=1)
    assert average_precision([0, 1, 0, 1], [0.9, 0.5, 0.5, 0.1]) == pytest.approx(0.5 / 3 + 0.25)
    assert np.isnan(average_precision([0, 0], [0.1, 0.2]))


def test_motif_scores_match_metrics_auroc_and_hand_ap():
    rng = np.random.default_rng(1)
    relevance = rng.normal(size=(3, 12))
    mask = rng.random((3, 12)) < 0.4
    aurocs, auprcs = motif_scores(relevance, mask)
    for i in range(3):
        assert aurocs[i] == pytest.approx(auroc(mask[i], np.abs(relevance[i])))
        assert auprcs[i] == pytest.approx(average_precision(mask[i], np.abs(relevance[i])))
    relevance = np.array([[0.9, -0.8, 0.7, 0.1]])
    assert motif_scores(relevance, np.array([[True, False, True, False]]))[1][0] == pytest.approx(5 / 6)


def test_summarise_means_cis_and_order():
    rng = np.random.default_rng(2)
    rows = []
    for method in ("lrp", "ism"):
        for metric in ("delta_af", "auroc"):
            for v in rng.normal(size=30):
                rows.append((method, metric, v))
    rows.append(("ism", "auroc", np.nan))
    rows.append(("random", "auroc", np.nan))
    per_sequence = pd.DataFrame(rows, columns=["method", "metric", "value"])
    summary = summarise(per_sequence, n_boot=200, level=0.9, seed=0)
    assert list(summary.columns) == ["method", "metric", "value", "ci_low", "ci_high", "n"]
    assert summary["method"].tolist() == ["lrp", "lrp", "ism", "ism", "random"]
    assert summary["metric"].tolist()[:2] == ["delta_af", "auroc"]
    finite = summary.iloc[:4]
    assert (finite["ci_low"] <= finite["value"]).all() and (finite["value"] <= finite["ci_high"]).all()
    assert finite["n"].tolist() == [30, 30, 30, 30]
    ism_auroc = per_sequence.query("method == 'ism' and metric == 'auroc'")["value"].dropna()
    assert summary.iloc[3]["value"] == pytest.approx(ism_auroc.mean())
    assert summary.iloc[4]["n"] == 0 and np.isnan(summary.iloc[4]["value"])


def test_faithfulness_rows_for_a_planted_position():
    """A one-hot linear model that only reads position 5: true relevance beats random."""

    class Reader(torch.nn.Module):
        def forward(self, x):  # (B, 4, L)
            return x[:, :, 5].sum(1, keepdim=True) * 2.0

    model = OneHotModel(Reader(), ["K562"]).float()
    model.register_parameter("dummy", torch.nn.Parameter(torch.zeros(1)))
    s = random_sequences(4, 20, seed=3)
    truth = np.zeros((4, 1, 20), np.float32)
    truth[:, 0, 5] = 1
    base = {
        "seq_id": np.array([f"s{i}" for i in range(4)]),
        "sequence": np.array(s),
        "output": np.array(["K562"]),
        "prediction": np.ones((4, 1), np.float32),
        "label_id": np.full(4, -1),
    }
    stored = {
        "truth": {**base, "relevance": truth},
        "random": {**base, "relevance": np.random.default_rng(0).normal(size=(4, 1, 20)).astype(np.float32)},
    }
    sites = pd.DataFrame({"seq_id": base["seq_id"], "start": 5, "end": 6, "motif_name": "GATA1"})
    motifs = [{"name": "GATA1", "program": "K562", "effect": {"K562": 1.0}}]
    scores, curves = faithfulness(model, stored, "mpra", steps=4, batch_size=8, sites=sites, design_motifs=motifs)
    mean = scores.groupby(["method", "metric"]).value.mean()
    assert mean["truth", "motif_auroc"] == 1.0
    assert mean["truth", "delta_af"] > mean["random", "delta_af"]
    assert set(curves.order) == {"morf", "lerf"}
    diff = paired_differences(scores.assign(method=scores.method.replace({"truth": "lrp"})), n_boot=50)
    assert (diff[diff.metric == "motif_auroc"].difference > 0).all()
