"""The comparison report: every model × test set with CIs, paired tests, costs, and the figures.

Inputs are what the `evaluate` and training rules wrote; nothing is recomputed except the paired
tests (which need every model's predictions side by side) and the figures.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from crelens.atomic import atomic_open
from crelens.errors import InputError
from crelens.evaluation.paired import mode_comparisons, paired_comparisons
from crelens.evaluation.scoring import METRIC_COLUMNS, PRIMARY_METRIC
from crelens.figures.evaluation import comparison_bars, confusion_matrices, prediction_scatter, training_curves
from crelens.names import DISTILLED_MODELS, KMER, NOISE_CEILING, TEACHER
from crelens.tables import read_table, write_table

# The panels of the bar chart and the columns of the Markdown summary.
SUMMARY = [
    ("mpra", "id", "pearson_mean"),
    ("mpra", "snv", "pearson_mean"),
    ("mpra", "ood", "pearson_mean"),
    ("epi", "id", "accuracy"),
    ("epi", "id", "macro_auroc"),
]


def _fmt(value: float, low: float, high: float) -> str:
    if not np.isfinite(value):
        return "n/a"
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{value:.3f}"
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def markdown_summary(table: pd.DataFrame, costs: pd.DataFrame) -> str:
    """Model × headline metric with 95% CIs, plus parameters and FLOPs, as a Markdown table."""
    models = list(dict.fromkeys(table["model"]))
    present = set(zip(table["task"], table["test_set"], table["metric"]))
    summary = [key for key in SUMMARY if key in present]  # an MPRA-only run has no EPI columns
    header = (
        ["model"] + [f"{task} {test_set} {metric}" for task, test_set, metric in summary] + ["parameters", "FLOPs/seq"]
    )
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    costs = costs.groupby("model").agg({"parameters": "max", "flops_per_sequence": "max"})
    for model in models:
        cells = [model]
        for task, test_set, metric in summary:
            row = table[
                (table.model == model) & (table.task == task) & (table.test_set == test_set) & (table.metric == metric)
            ]
            cells.append(_fmt(*row[["value", "ci_low", "ci_high"]].iloc[0]) if len(row) else "")
        if model in costs.index:
            params, flops = costs.loc[model]
            cells += [
                f"{int(params):,}" if pd.notna(params) else "",
                f"{flops / 1e6:,.1f} M" if pd.notna(flops) else "",
            ]
        else:
            cells += ["", ""]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _model_order(models) -> list[str]:
    """Heads first, then the k-mer reference, Malinois, the seed baselines, the noise ceiling last."""

    def key(m):
        group = {KMER: 1, "malinois": 2, NOISE_CEILING: 4}.get(m, 0 if m.startswith("head_") else 3)
        return (group, m)

    return sorted(set(models), key=key)


def run_compare_models(
    metrics_paths: list,
    predictions_paths: dict,
    train_metrics_paths: dict,
    curve_paths: dict,
    cells: list[str],
    settings: dict,
    seed: int,
    outputs: dict,
    notes: list[str] = (),
) -> pd.DataFrame:
    """The `compare_models` job: comparison.{tsv,md}, paired_tests.tsv, models.tsv and the figures
    named in `outputs`.

    predictions_paths: {(task, model) or "task/model": path}; train_metrics_paths / curve_paths: the same
    (the joint model's files appear under both tasks). outputs: keys comparison_tsv, comparison_md,
    paired_tsv, models_tsv, aug_modes_tsv, bars_png, scatter_png, curves_png, and optionally
    confusion_png (runs with an EPI task) and distillation_tsv. aug_modes_tsv holds each head of the
    full / finetune modes against the same head on the cache (empty when heads.aug_mode is no_shift).
    """
    predictions_paths, train_metrics_paths, curve_paths = (
        {_split_key(k): v for k, v in d.items()} for d in (predictions_paths, train_metrics_paths, curve_paths)
    )
    metrics_paths = list(metrics_paths.values()) if isinstance(metrics_paths, dict) else list(metrics_paths)
    table = pd.concat([read_table(p) for p in metrics_paths], ignore_index=True)
    missing = [c for c in METRIC_COLUMNS if c not in table]
    if missing:
        raise InputError(metrics_paths[0], f"metric tables lack columns {missing}")
    order = {m: i for i, m in enumerate(_model_order(table["model"]))}
    table = table.sort_values(
        ["task", "test_set", "model"], key=lambda s: s.map(order) if s.name == "model" else s, kind="stable"
    ).reset_index(drop=True)[METRIC_COLUMNS]
    write_table(table, outputs["comparison_tsv"])

    predictions = {key: read_table(path) for key, path in predictions_paths.items()}
    paired = []
    for task in PRIMARY_METRIC:
        frames = {model: frame for (t, model), frame in predictions.items() if t == task}
        if frames:
            paired.append(paired_comparisons(frames, task, n_boot=settings["n_boot"], seed=seed))
    paired = pd.concat(paired, ignore_index=True) if paired else pd.DataFrame()
    write_table(paired, outputs["paired_tsv"])
    modes = pd.concat(
        [
            mode_comparisons(
                {m: f for (t, m), f in predictions.items() if t == task}, task, n_boot=settings["n_boot"], seed=seed
            )
            for task in PRIMARY_METRIC
        ],
        ignore_index=True,
    )
    write_table(modes, outputs["aug_modes_tsv"])

    cost_rows = []
    for (task, model), path in train_metrics_paths.items():
        info = json.loads(Path(path).read_text())
        cost_rows.append(
            {
                "model": model,
                "task": task,
                "parameters": info.get("parameters"),
                "flops_per_sequence": info.get("flops_per_sequence"),
                "best_epoch": info.get("best_epoch"),
                "epochs_run": info.get("epochs_run"),
                "val_metric": info.get("val_metric"),
                "val_value": info.get("val_value"),
            }
        )
    costs = pd.DataFrame(cost_rows).sort_values(
        ["task", "model"], key=lambda s: s.map(order) if s.name == "model" else s, kind="stable"
    )
    write_table(costs, outputs["models_tsv"])
    if "distillation_tsv" in outputs:
        write_table(distillation_table(table, costs), outputs["distillation_tsv"])

    with atomic_open(outputs["comparison_md"]) as out:
        out.write("# Model comparison (test sets, 95% bootstrap CIs)\n\n")
        for note in notes:  # what this run leaves out, and why
            out.write(f"> {note}\n\n")
        out.write(markdown_summary(table, costs))
        if len(modes):
            out.write("\n## Heads with the encoder in the loop against the same head on the cache (paired)\n\n")
            out.write(
                "| task | test set | model | no_shift | mode | Δ [95% CI] | p (Holm) |\n|---|---|---|---|---|---|---|\n"
            )
            for r in modes.itertuples():
                out.write(
                    f"| {r.task} | {r.test_set} | {r.model} | {r.reference_value:.3f} | {r.value:.3f} | "
                    f"{_fmt(r.delta, r.ci_low, r.ci_high)} | {r.pvalue_holm:.3g} |\n"
                )
        if len(paired):
            out.write("\n## Paired comparisons with the best model of each test set (Holm-adjusted)\n\n")
            out.write("| task | test set | best | model | Δ metric [95% CI] | p (Holm) |\n|---|---|---|---|---|---|\n")
            for r in paired.itertuples():
                out.write(
                    f"| {r.task} | {r.test_set} | {r.best} | {r.model} | {_fmt(r.delta, r.ci_low, r.ci_high)} | "
                    f"{r.pvalue_holm:.3g} |\n"
                )

    comparison_bars(
        table, [p for p in SUMMARY if ((table.task == p[0]) & (table.test_set == p[1])).any()], outputs["bars_png"]
    )
    mpra = {m: f for (t, m), f in predictions.items() if t == "mpra" and m != NOISE_CEILING}
    best_head = _best(table, "mpra", lambda m: m.startswith("head_"))
    chosen = {m: mpra[m] for m in (best_head, "malinois") if m in mpra}
    prediction_scatter(chosen or dict(list(mpra.items())[:1]), cells, outputs["scatter_png"])
    training_curves({key: read_table(path) for key, path in curve_paths.items()}, outputs["curves_png"])
    epi = {m: predictions[("epi", m)] for m in _model_order(m for t, m in predictions if t == "epi")}
    if "confusion_png" in outputs:  # runs without an EPI task have no confusion figure
        confusion_matrices(epi, outputs["confusion_png"])
    return table


def _best(table: pd.DataFrame, task: str, keep) -> str | None:
    rows = table[(table.task == task) & (table.test_set == "id") & (table.metric == PRIMARY_METRIC[task])]
    rows = rows[rows.model.map(keep)]
    return None if rows.empty else str(rows.sort_values("value", ascending=False).model.iloc[0])


def _split_key(key) -> tuple[str, str]:
    if isinstance(key, str):
        task, _, model = key.partition("/")
        return task, model
    return tuple(key)


DISTILLATION_COLUMNS = [
    "task",
    "student",
    "teacher",
    "metric",
    "teacher_value",
    "student_value",
    "fidelity",
    "teacher_flops",
    "student_flops",
    "flop_reduction",
    "motif_enrichment",
    "motif_pvalue",
]


def distillation_table(table: pd.DataFrame, costs: pd.DataFrame) -> pd.DataFrame:
    """Each distilled student against its teacher: test-set fidelity (student / teacher primary
    metric), FLOP reduction (1 − student / teacher FLOPs per sequence) and how much its selected
    positions overlap planted motifs (enrichment over chance, Wilcoxon p)."""
    value = table.set_index(["task", "test_set", "model", "metric"]).value
    flops = costs.set_index(["task", "model"]).flops_per_sequence
    rows = []
    for task, student in costs[["task", "model"]].itertuples(index=False):
        if student not in DISTILLED_MODELS:
            continue
        metric = PRIMARY_METRIC[task]

        def get(model, name, task=task):
            return float(value.get((task, "id", model, name), np.nan))

        teacher_value, student_value = get(TEACHER, metric), get(student, metric)
        teacher_flops, student_flops = float(flops.get((task, TEACHER), np.nan)), float(flops[(task, student)])
        rows.append(
            {
                "task": task,
                "student": student,
                "teacher": TEACHER,
                "metric": metric,
                "teacher_value": teacher_value,
                "student_value": student_value,
                "fidelity": student_value / teacher_value if teacher_value else np.nan,
                "teacher_flops": teacher_flops,
                "student_flops": student_flops,
                "flop_reduction": 1 - student_flops / teacher_flops if teacher_flops else np.nan,
                "motif_enrichment": get(student, "attention_motif_enrichment"),
                "motif_pvalue": get(student, "attention_motif_pvalue"),
            }
        )
    return pd.DataFrame(rows, columns=DISTILLATION_COLUMNS)
