"""The data sets' overview figure (crelens.figures.datasets): every panel a biologist checks."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crelens.figures import datasets as figure_module


def test_overview_shows_classes_gc_activity_cells_snvs_and_planted_sites(built, tmp_path, captured_figures):
    config, src, _, epi, mpra, snv, ood = built
    cells = config["datasets"]["cells"]
    figures = captured_figures(figure_module)
    sites = pd.DataFrame({"motif_name": ["GATA1", "GATA1", "SOX2"], "dataset": ["epi", "mpra", "ood"]})
    figure_module.datasets_overview(epi, mpra, snv, ood, cells, tmp_path / "o.png", sites)
    (fig,) = figures
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0] == "EPI sequences per split and class"
    assert titles[1].startswith("GC content per EPI class")
    assert titles[2] == f"MPRA activity ({len(mpra)} sequences)"
    r = mpra[[cells[0], cells[1]]].corr().iloc[0, 1]
    assert titles[3] == f"Cell-type specificity: {cells[0]} vs {cells[1]} (r = {r:.2f})"
    assert titles[4] == f"SNV pairs: measured Δ activity in {cells[0]} (n = {len(snv)})"
    assert titles[5] == "Planted motif instances inside data-set sequences"
    # the class-count bars hold the table's counts: 3 classes x 3 splits
    bars = [patch.get_height() for patch in fig.axes[0].patches]
    expected = epi.groupby(["label", "split"]).size()
    assert sorted(bars) == sorted(expected.to_numpy().tolist())
    # stacked site counts per motif: GATA1 twice, SOX2 once
    widths = [patch.get_width() for patch in fig.axes[5].patches if patch.get_width() > 0]
    assert sorted(widths) == [1, 1, 1]
    assert np.isfinite(r)


def test_one_cell_and_no_sites_leave_those_panels_empty(built, tmp_path, captured_figures):
    config, _, _, epi, mpra, snv, ood = built
    cells = config["datasets"]["cells"][:1]
    figures = captured_figures(figure_module)
    figure_module.datasets_overview(epi, mpra, snv.iloc[:0], ood, cells, tmp_path / "o.png")
    (fig,) = figures
    assert not fig.axes[3].axison  # no second cell to compare with
    assert fig.axes[4].get_title().endswith("(n = 0)")
