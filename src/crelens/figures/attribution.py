"""The attribution stage's figures (rule summarise_attribution): conservation, faithfulness, logos."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from crelens.figures.style import METHOD_COLOURS, save  # noqa: E402


def conservation_scatter(frame: pd.DataFrame, path) -> None:
    """Σ relevance vs the explained output (MambaLRP paper's conservation plot), per task/model.

    Left: nucleotides only (what a logo shows); right: nucleotides + the itemised bias/ε share,
    which must sit on the identity line.
    """
    absorbed = frame.filter(like="absorbed_").sum(axis=1)
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2))
    for ax, (y, title) in zip(
        axes,
        [
            (frame.relevance_sum, "Σ nucleotide relevance"),
            (frame.relevance_sum + absorbed, "Σ relevance + absorbed (biases, ε)"),
        ],
    ):
        for (task, model), group in frame.assign(y=y).groupby(["task", "model"]):
            ax.scatter(group.explained, group.y, s=8, alpha=0.6, linewidths=0, label=f"{task} · {model}")
        lo, hi = float(np.nanmin(frame.explained)), float(np.nanmax(frame.explained))
        ax.plot([lo, hi], [lo, hi], "k:", linewidth=0.8)
        ax.set(xlabel="explained output f(x)", ylabel=title)
    axes[1].set_title(f"max relative error {frame.rel_err.max():.1e}", fontsize=9)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    save(fig, path)


def perturbation_curves(curves: pd.DataFrame, path) -> None:
    """Mean model output as the most (MoRF) / least (LeRF) relevant nucleotides are replaced by N."""
    orders = [
        ("morf", "most relevant first (MoRF) — steeper is better"),
        ("lerf", "least relevant first (LeRF) — flatter is better"),
    ]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    mean = curves.groupby(["method", "order", "fraction"], sort=False)["value"].mean().reset_index()
    for ax, (order, title) in zip(axes, orders):
        for method, group in mean[mean.order == order].groupby("method", sort=False):
            ax.plot(group.fraction, group.value, marker=".", label=method, color=METHOD_COLOURS.get(method))
        ax.set(title=title, xlabel="share of nucleotides removed", ylabel="mean model output")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    save(fig, path)


def faithfulness_bars(table: pd.DataFrame, path) -> None:
    """ΔA^F and (synthetic) motif AUROC/AUPRC per method with 95% CIs, one row per task · model."""
    metrics = [m for m in ("delta_af", "motif_auroc", "motif_auprc") if m in set(table.metric)]
    groups = list(table.groupby(["task", "model"], sort=False))
    fig, axes = plt.subplots(len(groups), len(metrics), figsize=(4 * len(metrics), 2.6 * len(groups)), squeeze=False)
    for r, ((task, model), group) in enumerate(groups):
        for c, metric in enumerate(metrics):
            ax = axes[r, c]
            rows = group[group.metric == metric]
            y = np.arange(len(rows))
            err = np.vstack([rows.value - rows.ci_low, rows.ci_high - rows.value]).clip(min=0)
            ax.barh(y, rows.value, xerr=err, color=[METHOD_COLOURS.get(m, "#333333") for m in rows.method], capsize=2)
            ax.set_yticks(y, rows.method, fontsize=7)
            if metric == "motif_auroc":
                ax.axvline(0.5, color="black", linestyle=":", linewidth=0.8)
            ax.set_title(f"{task} · {model}: {metric.replace('_', ' ')}", fontsize=9)
    fig.tight_layout()
    save(fig, path)


def attribution_logos(examples: list[dict], path) -> None:
    """Attribution logos of example sequences: one row per (sequence, method), window around the
    strongest signal; planted motifs (synthetic truth) shaded.

    examples: dicts with seq_id, method, sequence (window), relevance (window,), start (window
    offset), motifs [(start, end, name)] in window coordinates, output, prediction.
    """
    import logomaker

    fig, axes = plt.subplots(len(examples), 1, figsize=(14, 1.6 * len(examples)), squeeze=False)
    for ax, ex in zip(axes[:, 0], examples):
        matrix = pd.DataFrame(0.0, index=range(len(ex["sequence"])), columns=list("ACGT"))
        for i, base in enumerate(ex["sequence"].upper()):
            if base in "ACGT":
                matrix.loc[i, base] = ex["relevance"][i]
        logomaker.Logo(matrix, ax=ax, color_scheme="classic")
        for start, end, name in ex["motifs"]:
            ax.axvspan(start - 0.5, end - 0.5, color="#FFD54F", alpha=0.35, linewidth=0)
            ax.text((start + end) / 2, ax.get_ylim()[1], name, ha="center", va="top", fontsize=6)
        ax.axhline(0, color="black", linewidth=0.4)
        ax.set_xticks([])
        ax.set_ylabel(ex["method"], fontsize=7)
        ax.set_title(
            f"{ex['seq_id']} · {ex['output']} (prediction {ex['prediction']:.2f}), "
            f"positions {ex['start']}–{ex['start'] + len(ex['sequence'])}",
            fontsize=8,
            loc="left",
        )
    fig.tight_layout()
    save(fig, path)
