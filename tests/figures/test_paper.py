"""Paper figures: each function draws from small hand-made tables and returns the numbers it drew;
write_figure writes PDF + PNG + TSV, byte-identical on a rerun."""

from __future__ import annotations

import math

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from crelens.figures import paper as figures
from crelens.tables import read_table, write_table

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _summary() -> pd.DataFrame:
    rows = []
    for split, n in (("train", 80), ("val", 9), ("test", 7)):
        for cls in ("enhancer", "promoter", "intergenic"):
            rows += [("epi", split, cls, "n", n), ("epi", split, cls, "mean_gc", 0.4)]
        rows += [("mpra", split, "all", "n", 10 * n), ("mpra", split, "K562", "mean_activity", 0.1)]
    rows += [
        ("ood", "ood", "all", "n", 30),
        ("snv", "test", "all", "n", 12),
        ("snv", "test", "hits_motif", "n", 6),
        ("mpra", "all", "K562", "noise_ceiling_pearson", 0.93),
    ]
    return pd.DataFrame(rows, columns=["dataset", "split", "group", "statistic", "value"])


def _comparison() -> pd.DataFrame:
    rows = []
    for i, model in enumerate(["head_mean", "malinois", "joint", "noise_ceiling"]):
        for test_set in ("id", "snv", "ood"):
            value = 0.9 if model == "noise_ceiling" else 0.2 + 0.1 * i
            rows.append((model, "mpra", test_set, "pearson_mean", value, value - 0.05, value + 0.05))
            rows.append((model, "mpra", test_set, "pearson_K562", value, value - 0.05, value + 0.05))
        if model != "noise_ceiling":
            rows.append((model, "epi", "id", "accuracy", 0.5 + 0.1 * i, 0.45 + 0.1 * i, 0.55 + 0.1 * i))
            rows.append((model, "epi", "id", "macro_auroc", 0.6 + 0.1 * i, float("nan"), float("nan")))
    return pd.DataFrame(rows, columns=["model", "task", "test_set", "metric", "value", "ci_low", "ci_high"])


def _scores() -> pd.DataFrame:
    rows = []
    for model, methods in (("head_mean", ["lrp", "grad_x_input", "random"]), ("malinois", ["grad_x_input", "random"])):
        for j, method in enumerate(methods):
            value = 1.0 - 0.5 * j
            rows.append(("mpra", model, method, "delta_af", value, value - 0.2, value + 0.1, 4))
            rows.append(("mpra", model, method, "motif_auroc", 0.5, 0.4, 0.6, 4))
    return pd.DataFrame(rows, columns=["task", "model", "method", "metric", "value", "ci_low", "ci_high", "n"])


def _curves() -> pd.DataFrame:
    rows = []
    for method in ("lrp", "grad_x_input", "random"):
        for output, shift in (("K562", 0.0), ("HepG2", 1.0)):
            for order in ("morf", "lerf"):
                for fraction in (0.0, 0.5, 1.0):
                    rows.append((method, output, order, fraction, shift + fraction))
    return pd.DataFrame(rows, columns=["method", "output", "order", "fraction", "value"])


def _conservation() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "task": ["mpra", "mpra", "epi"],
            "model": ["head_mean"] * 3,
            "selection": ["test", "snv", "test"],
            "seq_id": ["a", "b", "c"],
            "output": ["K562", "K562", "enhancer"],
            "explained": [1.0, -0.5, 12.0],
            "relevance_sum": [0.75, -0.25, 10.0],
            "absorbed_head_bias": [0.25, -0.125, 1.5],
            "absorbed_encoder_conv_bias": [0.0, -0.125, 0.5],
            "rel_err": [0.0, 1e-16, 2e-16],
            "dtype": ["float64"] * 3,
        }
    )


def _enrichment() -> pd.DataFrame:
    rows = []
    families = {"Ets-related": (4.0, 1e-6), "GATA": (math.inf, 0.01), "SOX": (0.5, 0.2), "NR": (float("nan"), 1.0)}
    for group in ("mpra:K562", "epi:promoter"):
        for family, (odds, q) in families.items():
            rows.append((group, "family", family, family, family, odds, q, q))
            rows.append((group, "motif", "MA0001.1", "X", family, odds, q, q))
    return pd.DataFrame(
        rows, columns=["group", "level", "motif_id", "motif_name", "family", "odds_ratio", "pvalue", "qvalue"]
    )


def _truth() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "metric": ["recall", "false_share", "denovo_recall", "denovo_false_share"],
            "value": [0.5, 0.25, 0.25, 0.0],
            "n": [4, 4, 4, 1],
            "detail": ["a", "b", "c", ""],
        }
    )


TABLES = {
    "data_overview": lambda: {"summary": _summary()},
    "model_comparison": lambda: {"comparison": _comparison()},
    "faithfulness": lambda: {"scores": _scores(), "curves": _curves()},
    "conservation": lambda: {"conservation": _conservation()},
    "motif_enrichment": lambda: {"enrichment": _enrichment(), "truth": _truth()},
}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_every_figure_has_test_tables():
    assert set(TABLES) == set(figures.FIGURE_FUNCTIONS)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_figure_returns_its_numbers_and_a_figure_of_fixed_width(name):
    source, fig = figures.draw(name, TABLES[name]())
    assert isinstance(fig, Figure)
    assert isinstance(source, pd.DataFrame) and len(source) > 0
    assert fig.get_figwidth() in figures.WIDTH.values()
    assert type(fig.get_layout_engine()).__name__ == "ConstrainedLayoutEngine"  # the paper style applied


def test_drawing_leaves_the_global_style_alone():
    before = dict(matplotlib.rcParams)
    figures.draw("data_overview", TABLES["data_overview"]())
    assert dict(matplotlib.rcParams) == before


def test_data_overview_counts():
    source, _ = figures.data_overview(_summary())
    epi = source[source.panel == "a"].set_index(["split", "group"]).n
    assert epi[("train", "promoter")] == 80 and epi[("test", "intergenic")] == 7 and len(epi) == 9
    mpra = source[source.panel == "b"].set_index("label").n
    assert mpra.to_dict() == {"train": 800, "val": 90, "test": 70, "OOD designs": 30, "SNV pairs": 12}


def test_model_comparison_has_each_panel_and_the_noise_ceiling():
    source, _ = figures.model_comparison(_comparison())
    assert list(dict.fromkeys(source.panel)) == ["a", "b", "c", "d", "e"]
    assert set(source.metric) == {"pearson_mean", "accuracy", "macro_auroc"}  # per-cell metrics are not drawn
    a = source[source.panel == "a"].set_index("model")
    assert a.loc["noise_ceiling", "value"] == 0.9 and a.loc["malinois", "ci_high"] == pytest.approx(0.35)
    assert "noise_ceiling" not in set(source[source.task == "epi"].model)


def test_model_comparison_without_any_drawn_metric_is_an_error():
    with pytest.raises(ValueError, match="model_comparison"):
        figures.model_comparison(_comparison().assign(metric="spearman_K562"))


def test_faithfulness_scores_and_mean_curves():
    source, _ = figures.faithfulness(_scores(), _curves(), primary={"task": "mpra", "model": "head_mean"})
    scores = source[source.metric == "delta_af"]
    assert len(scores) == 5 and set(scores.panel) == {"a", "b"}
    assert scores.set_index(["model", "method"]).value[("head_mean", "grad_x_input")] == 0.5
    curves = source[source.metric == "mean_output"]
    assert set(curves.panel) == {"c", "d"} and len(curves) == 3 * 2 * 3
    # the mean over outputs (K562: fraction, HepG2: fraction + 1)
    row = curves[(curves.method == "lrp") & (curves.order == "morf") & (curves.fraction == 0.5)]
    assert float(row.value.iloc[0]) == pytest.approx(1.0)
    assert set(curves.model) == {"head_mean"}


def test_faithfulness_without_curves():
    source, _ = figures.faithfulness(_scores())
    assert set(source.panel) == {"a", "b"}


def test_conservation_adds_the_absorbed_share():
    source, _ = figures.conservation(_conservation())
    assert np.allclose(source.relevance_plus_absorbed, source.explained)
    assert source.absorbed.tolist() == [0.25, -0.25, 2.0]


def test_motif_enrichment_families_and_truth():
    source, _ = figures.motif_enrichment(_enrichment(), _truth(), qvalue=0.05, top=2)
    dots = source[source.panel == "a"]
    assert list(dict.fromkeys(dots.family)) == ["Ets-related", "GATA"]  # the two smallest q
    assert set(dots.group) == {"mpra:K562", "epi:promoter"}
    gata = dots[dots.family == "GATA"].iloc[0]
    assert gata.log2_odds_ratio == 4 and gata.neg_log10_q == pytest.approx(2) and gata.significant
    assert dots[dots.family == "Ets-related"].log2_odds_ratio.iloc[0] == pytest.approx(2)
    truth = source[source.panel == "b"]
    assert truth.set_index("metric").value.to_dict() == _truth().set_index("metric").value.to_dict()


def test_motif_enrichment_without_truth_check_has_one_panel():
    source, fig = figures.motif_enrichment(_enrichment(), None)
    assert set(source.panel) == {"a"}
    assert "NR" not in set(source.family)  # no seqlet or background window matched it


def test_motif_enrichment_shows_the_best_families_when_none_is_significant():
    table = _enrichment().assign(qvalue=1.0)
    source, _ = figures.motif_enrichment(table, None, top=2)
    assert list(dict.fromkeys(source.family)) == ["Ets-related", "GATA"]  # by p when every q is 1
    assert not source.significant.any()
    source, _ = figures.motif_enrichment(table.assign(odds_ratio=float("nan")), None)
    assert source.empty  # nothing matched: the panel says so


def test_write_figure_writes_pdf_png_and_a_tsv_that_reads_back(tmp_path):
    source, fig = figures.draw("model_comparison", TABLES["model_comparison"]())
    paths = figures.write_figure("comparison", source, fig, tmp_path / "out")
    assert paths == {kind: tmp_path / "out" / f"comparison.{kind}" for kind in ("pdf", "png", "tsv")}
    pdf = paths["pdf"].read_bytes()
    assert pdf.startswith(b"%PDF") and b"FontFile2" in pdf and b"Type3" not in pdf  # TrueType: text stays editable
    assert paths["png"].read_bytes()[:8] == PNG_MAGIC
    back = read_table(paths["tsv"])
    pd.testing.assert_frame_equal(back, source.reset_index(drop=True), check_dtype=False, rtol=1e-5)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "comparison.pdf",
        "comparison.png",
        "comparison.tsv",
    ]
    assert plt.get_fignums() == []  # the figure is closed


@pytest.mark.parametrize("name", sorted(TABLES))
def test_writing_twice_is_byte_identical(name, tmp_path):
    for folder in ("first", "second"):
        source, fig = figures.draw(name, TABLES[name]())
        figures.write_figure(name, source, fig, tmp_path / folder)
    for kind in ("pdf", "png", "tsv"):
        first = (tmp_path / "first" / f"{name}.{kind}").read_bytes()
        assert first and first == (tmp_path / "second" / f"{name}.{kind}").read_bytes(), kind


def test_run_figure_reads_tables_and_writes_under_the_prefix(tmp_path):
    inputs = {}
    for key, frame in TABLES["motif_enrichment"]().items():
        inputs[key] = tmp_path / f"{key}.tsv"
        write_table(frame, inputs[key])
    paths = figures.run_paper_figure("motif_enrichment", inputs, tmp_path / "figs" / "motifs", {"qvalue": 0.05})
    assert [p.name for p in paths.values()] == ["motifs.pdf", "motifs.png", "motifs.tsv"]
    assert all(p.stat().st_size > 0 for p in paths.values())


@pytest.mark.parametrize(
    "call", [lambda: figures.draw("volcano", {}), lambda: figures.run_paper_figure("volcano", {}, "unused/volcano")]
)
def test_unknown_figure_name_is_a_clear_error(call):
    with pytest.raises(ValueError, match=r"unknown figure 'volcano'; known figures: data_overview, model_comparison"):
        call()


def test_every_model_has_its_own_colour():
    from crelens.figures.paper import MODEL_COLOURS
    from crelens.names import MODEL_NAMES, NOISE_CEILING

    assert set(MODEL_NAMES) | {NOISE_CEILING} <= set(MODEL_COLOURS)
    assert len(set(MODEL_COLOURS.values())) == len(MODEL_COLOURS)
