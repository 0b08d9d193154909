"""The attribution stage's tables and figures (crelens.attribution.summary)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crelens.attribution.store import write_attributions
from crelens.attribution.summary import conservation_tables, paired_differences, run_summarise_attribution
from crelens.tables import read_table, write_table

OUTPUTS = ["K562", "HepG2"]
DESIGN = [{"name": "GATA1", "program": "K562", "effect": {"K562": 0.9, "HepG2": 0.0}}]


def stored(n=4, length=30, seed=0, lrp=True, rel_err=1e-15):
    rng = np.random.default_rng(seed)
    relevance = rng.normal(size=(n, 2, length)).astype(np.float32)
    arrays = {
        "seq_id": np.array([f"s{i}" for i in range(n)]),
        "sequence": np.array(["".join(rng.choice(list("ACGT"), length)) for _ in range(n)]),
        "output": np.array(OUTPUTS),
        "relevance": relevance,
        "prediction": rng.normal(size=(n, 2)).astype(np.float32),
        "label_id": np.full(n, -1),
    }
    if lrp:
        arrays["relevance_sum"] = relevance.sum(-1).astype(np.float64)
        arrays["absorbed_bias"] = np.full((n, 2), 0.25)
        arrays["explained"] = arrays["relevance_sum"] + 0.25
        arrays["rel_err"] = np.full((n, 2), rel_err)
        arrays["rel_err"][0, 0] = rel_err * 10  # the worst sequence
    return arrays


def test_conservation_tables_summarise_each_file_and_keep_every_sequence(tmp_path):
    write_attributions(tmp_path / "a.npz", stored(), {"dtype": "float64"})
    write_attributions(tmp_path / "b.npz", stored(seed=1, rel_err=1e-12), {"dtype": "float64"})
    summary, per_sequence = conservation_tables(
        {"mpra/head_mean/test": tmp_path / "a.npz", "mpra/head_mean/top": tmp_path / "b.npz"}
    )
    assert list(summary.selection) == ["test", "top"]
    assert summary.max_rel_err.tolist() == pytest.approx([1e-14, 1e-11])
    assert summary.n.tolist() == [8, 8]  # sequences x outputs
    assert len(per_sequence) == 16 and {"task", "model", "selection", "dtype", "absorbed_bias"} <= set(per_sequence)


def test_paired_differences_are_lrp_minus_each_method():
    scores = pd.DataFrame(
        {
            "method": ["lrp"] * 5 + ["ism"] * 5,
            "seq_id": [f"s{i}" for i in range(5)] * 2,
            "metric": "delta_af",
            "value": [0.5, 0.6, 0.7, 0.6, 0.5, 0.1, 0.2, 0.1, 0.2, 0.1],
        }
    )
    diff = paired_differences(scores, n_boot=200).set_index("method")
    assert diff.loc["ism", "difference"] == pytest.approx(0.44)
    assert diff.loc["ism", "ci_low"] > 0 and diff.loc["ism", "n"] == 5
    assert paired_differences(scores[scores.method == "ism"]).empty  # no reference, no rows


def test_the_job_writes_tables_and_figures(tmp_path):
    for method in ("lrp", "ism"):
        write_attributions(tmp_path / f"{method}.npz", stored(lrp=method == "lrp"), {"dtype": "float64"})
    scores = pd.DataFrame(
        [
            {"method": m, "seq_id": f"s{i}", "metric": metric, "value": v + (0.1 if m == "lrp" else 0.0)}
            for m in ("lrp", "ism")
            for i in range(4)
            for metric, v in (("delta_af", 0.2 + 0.01 * i), ("motif_auroc", 0.7))
        ]
    )
    write_table(scores, tmp_path / "scores.tsv")
    curves = pd.DataFrame(
        [
            {"method": m, "output": "K562", "order": o, "fraction": f, "value": 1 - f}
            for m in ("lrp", "ism")
            for o in ("morf", "lerf")
            for f in (0.0, 0.5, 1.0)
        ]
    )
    write_table(curves, tmp_path / "curves.tsv")
    sites = pd.DataFrame({"dataset": "mpra", "seq_id": ["s0"], "start": [3], "end": [9], "motif_name": ["GATA1"]})
    write_table(sites, tmp_path / "sites.parquet")
    names = ["conservation", "conservation_per_sequence", "faithfulness", "faithfulness_all", "paired"]
    figures = ["conservation_figure", "curves_figure", "faithfulness_figure", "logos_figure"]
    outputs = {name: tmp_path / "out" / f"{name}.tsv" for name in names} | {
        name: tmp_path / "out" / f"{name}.png" for name in figures
    }
    run_summarise_attribution(
        {"mpra/head_mean/test": tmp_path / "lrp.npz"},
        {"mpra/head_mean": tmp_path / "scores.tsv"},
        {"mpra/head_mean": tmp_path / "curves.tsv"},
        {"lrp": tmp_path / "lrp.npz", "ism": tmp_path / "ism.npz"},
        {"task": "mpra", "model": "head_mean"},
        outputs,
        n_boot=50,
        level=0.95,
        seed=0,
        logos=2,
        sites_path=tmp_path / "sites.parquet",
        design_motifs=DESIGN,
    )
    headline = read_table(outputs["faithfulness"]).set_index(["method", "metric"])
    assert headline.loc[("lrp", "motif_auroc"), "value"] == pytest.approx(0.8)
    assert list(read_table(outputs["faithfulness"]).columns) == ["method", "metric", "value", "ci_low", "ci_high", "n"]
    paired = read_table(outputs["paired"]).set_index(["method", "metric"])
    assert paired.loc[("ism", "delta_af"), "difference"] == pytest.approx(0.1)
    for name in figures:
        assert outputs[name].read_bytes()[:4] == b"\x89PNG", name


def test_logos_show_insert_windows_that_hold_a_planted_motif():
    from crelens.attribution.summary import LOGO_WINDOW, _logo_examples

    rng = np.random.default_rng(4)
    left, right = "A" * 200, "C" * 200  # constant flanks, as in an MPRA construct
    inserts = ["".join(rng.choice(list("ACGT"), 200)) for _ in range(3)]
    sequences = [left + s + right for s in inserts]
    relevance = np.zeros((3, 2, 600), np.float32)
    relevance[:, 0, 450:470] = 5.0  # the strongest signal lies in the right flank, where nothing can act
    relevance[:, 0, 330:340] = 1.0
    base = {
        "seq_id": np.array(["s0", "s1", "s2"]),
        "sequence": np.array(sequences),
        "output": np.array(OUTPUTS),
        "prediction": np.array([[3.0, 0], [2.0, 0], [1.0, 0]], np.float32),
        "label_id": np.full(3, -1),
    }
    stored = {"lrp": {**base, "relevance": relevance}, "ism": {**base, "relevance": relevance}}
    sites = pd.DataFrame(
        {"seq_id": ["s1", "s1"], "start": [330, 260], "end": [340, 268], "motif_name": ["GATA1", "CTCF"]}
    )
    design = DESIGN + [{"name": "CTCF", "program": "insulator", "effect": {"K562": 0.0, "HepG2": 0.0}}]
    examples = _logo_examples(stored, 2, sites, "mpra", design)
    assert [e["seq_id"] for e in examples] == ["s1", "s1"]  # only s1 holds a motif acting on K562
    first = examples[0]
    assert 200 <= first["start"] and first["start"] + len(first["sequence"]) <= 400
    assert len(first["sequence"]) == LOGO_WINDOW
    assert [name for *_, name in first["motifs"]] == ["GATA1"]  # CTCF acts on nothing: not marked
    without_truth = _logo_examples(stored, 1, None, "mpra", None)
    assert 200 <= without_truth[0]["start"] and without_truth[0]["start"] + LOGO_WINDOW <= 400
