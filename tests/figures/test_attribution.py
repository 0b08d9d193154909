"""The attribution stage's figures (crelens.figures.attribution): conservation, curves, bars, logos."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crelens.figures import attribution as figure_module


@pytest.fixture
def capture(captured_figures):
    return captured_figures(figure_module)


def test_conservation_scatter_adds_the_absorbed_share(tmp_path, capture):
    explained = np.array([1.0, 2.0, 3.0])
    frame = pd.DataFrame(
        {
            "task": "mpra",
            "model": "head_mean",
            "explained": explained,
            "relevance_sum": explained - 0.5,
            "absorbed_bias": [0.5, 0.5, 0.5],
            "rel_err": [1e-16, 2e-16, 3e-16],
        }
    )
    figure_module.conservation_scatter(frame, tmp_path / "c.png")
    (fig,) = capture
    left, right = (ax.collections[0].get_offsets() for ax in fig.axes)
    np.testing.assert_allclose(left[:, 1], explained - 0.5)
    np.testing.assert_allclose(right[:, 1], explained)  # on the identity line
    assert fig.axes[1].get_title() == "max relative error 3.0e-16"


def test_perturbation_curves_average_over_outputs(tmp_path, capture):
    rows = [
        {"method": m, "output": o, "order": order, "fraction": f, "value": v + (0.2 if o == "HepG2" else 0.0)}
        for m in ("lrp", "random")
        for o in ("K562", "HepG2")
        for order in ("morf", "lerf")
        for f, v in ((0.0, 1.0), (0.5, 0.5 if m == "lrp" else 0.9), (1.0, 0.0))
    ]
    figure_module.perturbation_curves(pd.DataFrame(rows), tmp_path / "p.png")
    (fig,) = capture
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    np.testing.assert_allclose(lines["lrp"].get_ydata(), [1.1, 0.6, 0.1])
    assert fig.axes[0].get_title().startswith("most relevant first")


def test_faithfulness_bars_one_row_per_model_and_chance_for_auroc(tmp_path, capture):
    table = pd.DataFrame(
        {
            "task": "mpra",
            "model": ["head_mean"] * 4 + ["malinois"] * 2,
            "method": ["lrp", "ism", "lrp", "ism", "ism", "ism"],
            "metric": ["delta_af", "delta_af", "motif_auroc", "motif_auroc", "delta_af", "motif_auroc"],
            "value": [0.3, 0.2, 0.9, 0.8, 0.1, 0.7],
            "ci_low": 0.0,
            "ci_high": 1.0,
        }
    )
    figure_module.faithfulness_bars(table, tmp_path / "f.png")
    (fig,) = capture
    assert [ax.get_title() for ax in fig.axes] == [
        "mpra · head_mean: delta af",
        "mpra · head_mean: motif auroc",
        "mpra · malinois: delta af",
        "mpra · malinois: motif auroc",
    ]
    assert [p.get_width() for p in fig.axes[1].patches] == pytest.approx([0.9, 0.8])
    assert [line.get_xdata()[0] for line in fig.axes[1].get_lines() if line.get_linestyle() == ":"] == [0.5]


def test_logos_place_relevance_on_the_observed_base_and_shade_motifs(tmp_path, capture):
    example = {
        "seq_id": "s1",
        "method": "lrp",
        "sequence": "ACGTAC",
        "relevance": np.array([0.1, -0.2, 0.3, 0.0, 0.5, 0.1]),
        "start": 200,
        "motifs": [(2, 5, "GATA1")],
        "output": "K562",
        "prediction": 1.25,
    }
    figure_module.attribution_logos([example, {**example, "method": "ism"}], tmp_path / "l.png")
    (fig,) = capture
    ax = fig.axes[0]
    assert ax.get_title(loc="left") == "s1 · K562 (prediction 1.25), positions 200–206"
    assert [t.get_text() for t in ax.texts] == ["GATA1"]
    shaded = [p for p in ax.patches if abs(p.get_facecolor()[0] - 1.0) < 1e-6 and p.get_facecolor()[3] < 0.5]
    assert len(shaded) == 1
    assert ax.get_ylim()[0] < 0 < ax.get_ylim()[1]  # negative and positive relevance both drawn
    assert fig.axes[1].get_ylabel() == "ism"
