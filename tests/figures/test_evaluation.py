"""The model comparison's figures (crelens.figures.evaluation): what each panel shows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crelens.figures import evaluation as figure_module


@pytest.fixture
def capture(captured_figures):
    return captured_figures(figure_module)


def metric_rows(models, values, task="mpra", test_set="id", metric="pearson_mean"):
    return pd.DataFrame(
        {
            "model": models,
            "task": task,
            "test_set": test_set,
            "metric": metric,
            "value": values,
            "ci_low": np.asarray(values) - 0.05,
            "ci_high": np.asarray(values) + 0.05,
        }
    )


def test_bars_sort_models_and_mark_the_noise_ceiling(tmp_path, capture):
    table = pd.concat(
        [
            metric_rows(["head_mean", "malinois", "noise_ceiling"], [0.3, 0.6, 0.9]),
            metric_rows(["head_mean", "malinois"], [0.7, 0.8], task="epi", metric="accuracy"),
        ]
    )
    figure_module.comparison_bars(
        table, [("mpra", "id", "pearson_mean"), ("epi", "id", "accuracy")], tmp_path / "b.png"
    )
    (fig,) = capture
    mpra, epi = fig.axes
    assert [t.get_text() for t in mpra.get_yticklabels()] == ["head_mean", "malinois"]  # ascending value
    assert [p.get_width() for p in mpra.patches] == pytest.approx([0.3, 0.6])
    assert [line.get_xdata()[0] for line in mpra.get_lines() if line.get_linestyle() == "--"] == [0.9]
    assert mpra.get_title() == "mpra · id" and epi.get_title() == "epi · id"
    assert not [line for line in epi.get_lines() if line.get_linestyle() == "--"]  # no ceiling for EPI


def test_scatter_titles_carry_the_pearson_of_the_id_test_set(tmp_path, capture):
    rng = np.random.default_rng(0)
    measured = rng.normal(size=50)
    frame = pd.DataFrame(
        {
            "test_set": ["id"] * 40 + ["ood"] * 10,
            "measured_K562": measured,
            "pred_K562": measured + rng.normal(scale=0.5, size=50),
        }
    )
    figure_module.prediction_scatter({"malinois": frame}, ["K562"], tmp_path / "s.png")
    (fig,) = capture
    r = np.corrcoef(frame.measured_K562[:40], frame.pred_K562[:40])[0, 1]
    assert fig.axes[0].get_title() == f"malinois · K562  r = {r:.3f}"
    assert len(fig.axes[0].collections[0].get_offsets()) == 40


def test_training_curves_star_the_restored_epoch(tmp_path, capture):
    curve = pd.DataFrame({"epoch": [1, 2, 3, 4], "val_metric": [0.2, 0.5, 0.4, 0.3]})
    figure_module.training_curves({("mpra", "malinois"): curve, ("epi", "head_mean"): curve}, tmp_path / "c.png")
    (fig,) = capture
    assert [ax.get_title() for ax in fig.axes] == ["epi (★ = restored best epoch)", "mpra (★ = restored best epoch)"]
    stars = [line for line in fig.axes[1].get_lines() if line.get_marker() == "*"]
    assert [(s.get_xdata()[0], s.get_ydata()[0]) for s in stars] == [(2, 0.5)]


def test_confusion_matrices_are_row_normalised(tmp_path, capture):
    frame = pd.DataFrame(
        {
            "label_id": [0, 0, 0, 0, 1, 1],
            "prob_enhancer": [0.9, 0.9, 0.9, 0.1, 0.2, 0.9],
            "prob_promoter": [0.1, 0.1, 0.1, 0.9, 0.8, 0.1],
        }
    )
    figure_module.confusion_matrices({"head_mean": frame}, tmp_path / "m.png")
    (fig,) = capture
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.images[0].get_array(), [[0.75, 0.25], [0.5, 0.5]])
    assert ax.get_title() == "head_mean (acc 0.67)"
