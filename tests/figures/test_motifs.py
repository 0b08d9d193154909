"""The motif stage's figures (crelens.figures.motifs): volcano, seqlet positions, motif logos."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crelens.figures import motifs as figure_module


@pytest.fixture
def capture(captured_figures):
    return captured_figures(figure_module)


def families(group="mpra:K562"):
    return pd.DataFrame(
        {
            "group": group,
            "family": ["GATA", "SOX", "ETS", "bHLH"],
            "odds_ratio": [8.0, 1.0, 0.25, 4.0],
            "qvalue": [1e-6, 0.5, 0.9, 0.01],
        }
    )


def test_volcano_labels_only_significant_families(tmp_path, capture):
    figure_module.enrichment_volcano(pd.concat([families(), families("mpra:HepG2")]), 0.05, tmp_path / "v.png")
    (fig,) = capture
    ax = fig.axes[0]
    assert ax.get_title() == "mpra:K562: 2 families q < 0.05"
    assert sorted(t.get_text() for t in ax.texts) == ["GATA", "bHLH"]
    # per colour (not significant, significant): finite points, infinite on the right, on the left
    significant = ax.collections[3].get_offsets()
    np.testing.assert_allclose(sorted(significant[:, 0]), [2.0, 3.0])  # log2 odds of bHLH, GATA
    assert len(fig.axes) == 2


def test_volcano_marks_infinite_odds_wraps_long_names_and_says_when_a_group_is_empty(tmp_path, capture):
    table = families()
    table.loc[0, ["family", "odds_ratio"]] = ["Three-zinc finger Kruppel-related factors", np.inf]
    empty = pd.DataFrame(columns=table.columns)
    figure_module.enrichment_volcano(table, 0.05, tmp_path / "v.png")
    (fig,) = capture
    ax = fig.axes[0]
    triangles = ax.collections[4].get_offsets()  # significant and infinite (on the right)
    assert triangles.tolist() == [[6.0, 6.0]] and ax.collections[4].get_paths()
    assert ax.get_legend().get_texts()[0].get_text().startswith("infinite odds ratio")
    label = next(t.get_text() for t in ax.texts if "Kruppel" in t.get_text())
    assert label.replace("\n", " ") == "Three-zinc finger Kruppel-related factors"  # wrapped, not cut
    figure_module.enrichment_volcano(empty.assign(group="epi:promoter").iloc[:0], 0.05, tmp_path / "e.png")
    assert not capture[1].axes[0].axison and "no seqlets" in capture[1].axes[0].texts[0].get_text()


def test_seqlet_positions_are_fractions_of_the_sequence(tmp_path, capture):
    seqlets = pd.DataFrame({"group": "mpra:K562", "start": [290, 300], "end": [310, 320], "length": 600})
    figure_module.seqlet_positions(seqlets, tmp_path / "s.png")
    (fig,) = capture
    ax = fig.axes[0]
    heights = ax.patches[0].get_path().vertices[:, 1]
    assert heights.max() == 2  # both centres (0.5 and 0.517) fall in one of the 40 bins
    assert ax.get_legend().get_texts()[0].get_text() == "mpra:K562 (2)"


def test_motif_logos_pair_a_jaspar_family_with_its_de_novo_pattern(tmp_path, capture):
    probs = np.full((4, 6), 0.1)
    probs[0] = 0.7
    table = pd.DataFrame(
        {
            "level": "motif",
            "motif_id": ["MA0035.5", "MA0143.5"],
            "motif_name": ["GATA1", "SOX2"],
            "family": ["GATA", "SOX"],
            "group": "mpra:K562",
            "qvalue": [1e-5, 1e-3],
        }
    )
    meta = pd.DataFrame({"motif_id": ["MA0035.5", "MA0143.5"], "key": ["MA0035.5 GATA1", "MA0143.5 SOX2"]})
    matrices = {"MA0035.5 GATA1": probs, "MA0143.5 SOX2": probs}
    matches = pd.DataFrame(
        {"pattern": ["pos_patterns.pattern_0"], "n_seqlets": [40], "pval0": [1e-4], "family0": ["GATA"]}
    )
    patterns = {"pos_patterns.pattern_0": probs.T}
    figure_module.motif_logos(table, matrices, meta, matches, patterns, 0.05, tmp_path / "m.png")
    (fig,) = capture
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0] == "MA0035.5 GATA1 (GATA) · mpra:K562 · q=1.0e-05"
    assert titles[1] == "de novo pos_patterns.pattern_0 (40 seqlets) · TOMTOM p=1.0e-04"
    assert [t.get_text() for t in fig.axes[3].texts] == ["no de novo pattern matched to this family"]


def test_no_enriched_motif_says_so(tmp_path, capture):
    empty = pd.DataFrame(columns=["level", "motif_id", "motif_name", "family", "group", "qvalue"])
    figure_module.motif_logos(
        empty, {}, pd.DataFrame(columns=["motif_id", "key"]), pd.DataFrame(), {}, 0.05, tmp_path / "m.png"
    )
    (fig,) = capture
    assert [t.get_text() for t in fig.axes[0].texts] == ["no JASPAR motif enriched at q < 0.05"]
