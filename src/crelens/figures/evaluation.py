"""The model comparison's figures (rule compare_models): bars with CIs, scatter, curves, confusion."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from crelens.figures.style import save  # noqa: E402
from crelens.names import DISTILLED_MODELS  # noqa: E402


def _model_colour(model: str) -> str:
    if model.startswith("head_"):
        return "#4C72B0"
    if model == "malinois":
        return "#C44E52"
    if model == "noise_ceiling":
        return "#333333"
    if model == "kmer_ridge":
        return "#8C8C8C"
    return "#55A868"  # attention baselines and the joint pipeline


def comparison_bars(table: pd.DataFrame, panels: list[tuple[str, str, str]], path) -> None:
    """One panel per (task, test_set, metric): every model's value with its 95% CI.

    Blue: heads on the frozen encoder; red: Malinois; green: seed baselines trained from scratch;
    the dashed line is the noise ceiling (synthetic data), the best any model can reach.
    """
    fig, axes = plt.subplots(
        1, len(panels), figsize=(4.2 * len(panels), 0.32 * table["model"].nunique() + 1.8), squeeze=False
    )
    for ax, (task, test_set, metric) in zip(axes[0], panels):
        rows = table[(table.task == task) & (table.test_set == test_set) & (table.metric == metric)]
        ceiling = rows[rows.model == "noise_ceiling"]
        rows = rows[rows.model != "noise_ceiling"].sort_values("value")
        y = np.arange(len(rows))
        err = np.vstack([rows.value - rows.ci_low, rows.ci_high - rows.value]).clip(min=0)
        ax.barh(y, rows.value, xerr=err, color=[_model_colour(m) for m in rows.model], capsize=2, alpha=0.9)
        ax.set_yticks(y, rows.model, fontsize=8)
        if len(ceiling):
            ax.axvline(float(ceiling.value.iloc[0]), color="black", linestyle="--", linewidth=1, label="noise ceiling")
            ax.legend(loc="lower right", fontsize=7)
        ax.set(xlabel=metric.replace("_", " "), title=f"{task} · {test_set}")
    fig.tight_layout()
    save(fig, path)


def prediction_scatter(frames: dict[str, pd.DataFrame], cells: list[str], path) -> None:
    """Predicted vs measured activity on the ID test set, one row per model, one column per cell."""
    fig, axes = plt.subplots(len(frames), len(cells), figsize=(3.6 * len(cells), 3.4 * len(frames)), squeeze=False)
    for r, (model, frame) in enumerate(frames.items()):
        frame = frame[frame.test_set == "id"]
        for c, cell in enumerate(cells):
            ax = axes[r, c]
            x, y = frame[f"measured_{cell}"], frame[f"pred_{cell}"]
            ax.scatter(x, y, s=5, alpha=0.5, color=_model_colour(model), linewidths=0)
            ok = x.notna() & y.notna()
            r_value = float(np.corrcoef(x[ok], y[ok])[0, 1]) if ok.sum() > 2 else float("nan")
            lo, hi = np.nanmin([x.min(), y.min()]), np.nanmax([x.max(), y.max()])
            ax.plot([lo, hi], [lo, hi], color="black", linewidth=0.6, linestyle=":")
            ax.set(title=f"{model} · {cell}  r = {r_value:.3f}", xlabel="measured log2 activity", ylabel="predicted")
    fig.tight_layout()
    save(fig, path)


def training_curves(curves: dict[tuple[str, str], pd.DataFrame], path) -> None:
    """Validation metric per epoch for every trained model, one panel per task (joint: own panel).

    Each model has its own colour (the paper figures' palette). Distilled students are dashed:
    their validation metric is the Pearson correlation with their teacher's outputs, not with the
    labels.
    """
    from crelens.figures.paper import MODEL_COLOURS

    tasks = sorted({task for task, _ in curves})
    fig, axes = plt.subplots(1, len(tasks), figsize=(6.5 * len(tasks), 4.6), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for (t, model), curve in sorted(curves.items()):
            if t != task or "epoch" not in curve:  # the k-mer reference is fitted, not trained by epochs
                continue
            student = model in DISTILLED_MODELS
            ax.plot(
                curve.epoch,
                curve.val_metric,
                marker=".",
                linestyle="--" if student else "-",
                label=f"{model} (vs teacher)" if student else model,
                color=MODEL_COLOURS.get(model, _model_colour(model)),
                alpha=0.85,
            )
            best = curve.val_metric.idxmax() if curve.val_metric.notna().any() else None
            if best is not None:
                ax.plot(curve.epoch[best], curve.val_metric[best], "k*", markersize=6)
        ylabel = {"mpra": "validation mean Pearson", "epi": "validation macro-AUROC"}.get(
            task, "mean validation metric"
        )
        ax.set(xlabel="epoch", ylabel=ylabel, title=f"{task} (★ = restored best epoch)")
        ax.legend(fontsize=6, ncol=2, loc="lower right")
    fig.tight_layout()
    save(fig, path)


def confusion_matrices(frames: dict[str, pd.DataFrame], path) -> None:
    """Row-normalised EPI confusion matrices (true class × predicted class) per model."""
    n = len(frames)
    cols = min(4, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 3.1 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, (model, frame) in zip(axes.flat, frames.items()):
        classes = [c[len("prob_") :] for c in frame.columns if c.startswith("prob_")]
        truth = frame.label_id.to_numpy()
        predicted = frame[[f"prob_{c}" for c in classes]].to_numpy().argmax(1)
        matrix = np.zeros((len(classes), len(classes)))
        np.add.at(matrix, (truth, predicted), 1)
        matrix /= matrix.sum(1, keepdims=True).clip(min=1)
        ax.imshow(matrix, vmin=0, vmax=1, cmap="Blues")
        for i in range(len(classes)):
            for j in range(len(classes)):
                ax.text(
                    j,
                    i,
                    f"{matrix[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if matrix[i, j] > 0.6 else "black",
                )
        ax.set_xticks(range(len(classes)), classes, rotation=45, fontsize=7)
        ax.set_yticks(range(len(classes)), classes, fontsize=7)
        ax.set_title(f"{model} (acc {np.mean(truth == predicted):.2f})", fontsize=8)
    fig.supxlabel("predicted class")
    fig.supylabel("true class")
    fig.tight_layout()
    save(fig, path)
