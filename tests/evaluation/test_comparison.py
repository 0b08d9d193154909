"""The comparison report (crelens.evaluation.comparison): every model in one table, tests and costs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from crelens.evaluation.comparison import markdown_summary, run_compare_models
from crelens.evaluation.scoring import METRIC_COLUMNS, score
from crelens.tables import read_table, write_table

CELLS = ["K562"]


def mpra_predictions(noise, seed):
    rng = np.random.default_rng(seed)
    measured = np.random.default_rng(0).normal(size=60)
    return pd.DataFrame(
        {
            "test_set": "id",
            "seq_id": [f"s{i}" for i in range(60)],
            "measured_K562": measured,
            "pred_K562": measured + noise * rng.normal(size=60),
        }
    )


def epi_predictions(flip, seed):
    rng = np.random.default_rng(seed)
    labels = np.arange(60) % 3
    probs = np.eye(3)[labels] * 0.8 + 0.1
    wrong = rng.random(60) < flip
    probs[wrong] = np.roll(probs[wrong], 1, axis=1)
    frame = pd.DataFrame({"test_set": "id", "seq_id": [f"e{i}" for i in range(60)], "label_id": labels})
    for j, name in enumerate(["enhancer", "promoter", "intergenic"]):
        frame[f"prob_{name}"] = probs[:, j]
    return frame


@pytest.fixture
def inputs(tmp_path):
    frames = {
        "mpra/head_mean": mpra_predictions(1.0, 1),
        "mpra/head_mean_full": mpra_predictions(0.4, 6),
        "mpra/malinois": mpra_predictions(0.3, 2),
        "mpra/noise_ceiling": mpra_predictions(0.0, 3),
        "epi/head_mean": epi_predictions(0.4, 4),
        "epi/malinois": epi_predictions(0.1, 5),
    }
    metrics, predictions, train, curves = {}, {}, {}, {}
    for key, frame in frames.items():
        task, model = key.split("/")
        predictions[key] = tmp_path / f"{task}_{model}_p.parquet"
        write_table(frame, predictions[key])
        rows = score(frame, task, n_boot=20)
        rows.insert(0, "model", model)
        metrics[key] = tmp_path / f"{task}_{model}_m.tsv"
        write_table(rows[METRIC_COLUMNS], metrics[key])
        if model == "noise_ceiling":
            continue
        train[key] = tmp_path / f"{task}_{model}.json"
        train[key].write_text(
            json.dumps(
                {
                    "parameters": 1000 if model == "head_mean" else 4_107_183,
                    "flops_per_sequence": 2e6,
                    "best_epoch": 3,
                    "epochs_run": 5,
                    "val_metric": "x",
                    "val_value": 0.5,
                }
            )
        )
        curves[key] = tmp_path / f"{task}_{model}_c.tsv"
        write_table(pd.DataFrame({"epoch": [1, 2], "val_metric": [0.3, 0.4], "train_loss": [1.0, 0.9]}), curves[key])
    outputs = {
        name: tmp_path / "out" / file
        for name, file in {
            "comparison_tsv": "comparison.tsv",
            "comparison_md": "comparison.md",
            "paired_tsv": "paired.tsv",
            "models_tsv": "models.tsv",
            "aug_modes_tsv": "aug_modes.tsv",
            "distillation_tsv": "distillation.tsv",
            "bars_png": "bars.png",
            "scatter_png": "scatter.png",
            "curves_png": "curves.png",
            "confusion_png": "confusion.png",
        }.items()
    }
    return metrics, predictions, train, curves, outputs


def test_comparison_orders_models_tests_against_the_best_and_lists_costs(inputs):
    metrics, predictions, train, curves, outputs = inputs
    run_compare_models(metrics, predictions, train, curves, CELLS, {"n_boot": 200}, 0, outputs)
    table = read_table(outputs["comparison_tsv"])
    assert list(table.columns) == METRIC_COLUMNS
    mpra = table[(table.task == "mpra") & (table.metric == "pearson_mean")]
    # heads, Malinois, the ceiling last
    assert list(mpra.model) == ["head_mean", "head_mean_full", "malinois", "noise_ceiling"]
    paired = read_table(outputs["paired_tsv"]).set_index(["task", "model"])
    assert paired.loc[("mpra", "head_mean"), "best"] == "malinois"  # the ceiling is not a model
    assert paired.loc[("mpra", "head_mean"), "delta"] > 0 and paired.loc[("mpra", "head_mean"), "pvalue_holm"] < 0.05
    costs = read_table(outputs["models_tsv"])
    assert set(costs.model) == {"head_mean", "head_mean_full", "malinois"}
    markdown = outputs["comparison_md"].read_text()
    assert "4,107,183" in markdown and "## Paired comparisons" in markdown
    for name in ("bars_png", "scatter_png", "curves_png", "confusion_png"):
        assert outputs[name].read_bytes()[:4] == b"\x89PNG", name


def test_heads_with_the_encoder_in_the_loop_are_paired_with_the_same_head_on_the_cache(inputs):
    metrics, predictions, train, curves, outputs = inputs
    run_compare_models(metrics, predictions, train, curves, CELLS, {"n_boot": 200}, 0, outputs)
    modes = read_table(outputs["aug_modes_tsv"])
    assert len(modes) == 1  # one in-loop head, one MPRA test set in the inputs; EPI has none
    row = modes.iloc[0]
    assert (row.model, row.aug_mode, row.reference, row.test_set) == ("head_mean_full", "full", "head_mean", "id")
    assert row.value > row.reference_value and row.delta == pytest.approx(row.value - row.reference_value)
    assert row.ci_low > 0 and row.pvalue_holm < 0.05  # noise 0.4 against 1.0 on 60 sequences
    assert "encoder in the loop" in outputs["comparison_md"].read_text()


def test_a_metric_table_without_the_columns_is_named(inputs, tmp_path):
    metrics, predictions, train, curves, outputs = inputs
    bad = tmp_path / "bad.tsv"
    write_table(pd.DataFrame({"model": ["x"], "value": [1.0]}), bad)
    with pytest.raises(Exception, match="bad.tsv: metric tables lack columns"):
        run_compare_models({"mpra/x": bad}, predictions, train, curves, CELLS, {"n_boot": 50}, 0, outputs)


def test_markdown_formats_values_with_cis_and_missing_as_blank():
    table = pd.DataFrame(
        [
            {
                "model": "malinois",
                "task": "mpra",
                "test_set": "id",
                "metric": "pearson_mean",
                "value": 0.5,
                "ci_low": 0.4,
                "ci_high": 0.6,
            }
        ]
    )
    costs = pd.DataFrame([{"model": "malinois", "parameters": 10, "flops_per_sequence": 3e6}])
    line = markdown_summary(table, costs).splitlines()[2]
    assert line.startswith("| malinois | 0.500 [0.400, 0.600] |") and line.endswith("| 10 | 3.0 M |")


def test_distillation_table_reports_fidelity_flop_reduction_and_motif_overlap():
    from crelens.evaluation.comparison import distillation_table

    rows = [
        ("attention", "pearson_mean", 0.80),
        ("sparse_distilled_10", "pearson_mean", 0.78),
        ("sparse_distilled_10", "attention_motif_enrichment", 3.5),
        ("sparse_distilled_10", "attention_motif_pvalue", 1e-4),
        ("malinois", "pearson_mean", 0.70),
    ]
    table = pd.DataFrame(
        [
            {"model": m, "task": "mpra", "test_set": "id", "metric": k, "value": v, "ci_low": v, "ci_high": v}
            for m, k, v in rows
        ]
    )
    costs = pd.DataFrame(
        {
            "model": ["attention", "sparse_distilled_10", "malinois"],
            "task": "mpra",
            "flops_per_sequence": [1e8, 8e6, 3e8],
        }
    )
    (row,) = distillation_table(table, costs).to_dict("records")
    assert row["student"] == "sparse_distilled_10" and row["teacher"] == "attention" and row["metric"] == "pearson_mean"
    assert row["fidelity"] == pytest.approx(0.78 / 0.80)
    assert row["flop_reduction"] == pytest.approx(0.92)
    assert (row["motif_enrichment"], row["motif_pvalue"]) == (3.5, 1e-4)
