"""Paper figures: one function per figure, drawn from results tables with one fixed style.

Each figure function takes tables that are already read and returns `(source, figure)`:
`source` is a tidy frame holding exactly the numbers drawn, so every panel can be checked
(and redrawn elsewhere) from the TSV written next to the PDF and PNG. Nothing is recomputed
from models here; the per-stage report figures are the other modules of `crelens.figures`.

The style lives in one place (`STYLE`, sizes in `WIDTH`, colours per model / method) and is
applied from matplotlib's defaults, so a user's matplotlibrc cannot change a paper figure.
"""

from __future__ import annotations

import functools
import logging
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.style  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from crelens.atomic import atomic_path  # noqa: E402
from crelens.figures.style import CLASS_COLOURS, METHOD_COLOURS, SPLIT_COLOURS  # noqa: E402
from crelens.names import HEAD_KINDS, NOISE_CEILING, head_name  # noqa: E402
from crelens.tables import read_table, write_table  # noqa: E402

log = logging.getLogger(__name__)
# Type 42 embedding subsets fonts with fontTools, which logs every glyph table at INFO.
logging.getLogger("fontTools").setLevel(logging.WARNING)

# Journal column widths in inches (single ≈ 89 mm, 1.5 ≈ 120 mm, double ≈ 183 mm).
WIDTH = {"single": 3.5, "one_and_half": 4.7, "double": 7.2}
PNG_DPI = 300

# Applied on top of matplotlib's defaults. Type 42 keeps text editable in Illustrator/Inkscape;
# DejaVu Sans ships with matplotlib, so the glyphs (and the files) are the same on every machine.
STYLE = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "mathtext.fontset": "dejavusans",
    "font.size": 7,
    "axes.titlesize": 7,
    "axes.labelsize": 7,
    "xtick.labelsize": 6,
    "ytick.labelsize": 6,
    "legend.fontsize": 6,
    "legend.title_fontsize": 6,
    "legend.frameon": False,
    "figure.titlesize": 8,
    "axes.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.major.size": 2.5,
    "ytick.major.size": 2.5,
    "lines.linewidth": 1.0,
    "lines.markersize": 3,
    "errorbar.capsize": 0,
    "figure.dpi": 100,
    "figure.constrained_layout.use": True,
    "savefig.dpi": PNG_DPI,
    "savefig.facecolor": "white",
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "none",
    "svg.hashsalt": "crelens",
}

# One colour per model, the same in every figure: heads in blues, Malinois red, attention
# baselines in greens, the joint pipeline purple. Unknown models fall back to grey.
MODEL_COLOURS = {
    "head_flatten": "#9ECAE1",
    "head_sum": "#6BAED6",
    "head_mean": "#2171B5",
    "head_max": "#4292C6",
    "head_center": "#08519C",
    "head_mlp1024": "#08306B",
    "head_conv": "#6A51A3",
    "malinois": "#C44E52",
    "attention": "#238B45",
    "sparse_attention_5": "#41AB5D",
    "sparse_attention_10": "#74C476",
    "sparse_attention_20": "#A1D99B",
    "sparse_distilled_5": "#D9A21B",
    "sparse_distilled_10": "#E6B83A",
    "sparse_distilled_20": "#F2CE6B",
    "joint": "#8172B3",
    "kmer_ridge": "#8C8C8C",
    "noise_ceiling": "#333333",
}


def _shade(colour: str, towards: int, share: float) -> str:
    """`colour` moved `share` of the way to white (towards=255) or black (0)."""
    rgb = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(c + (towards - c) * share):02X}" for c in rgb)


# A head trained with the encoder in the loop: its kind's colour, lighter (full) or darker (finetune).
MODEL_COLOURS.update(
    {
        head_name(kind, mode): _shade(MODEL_COLOURS[head_name(kind)], towards, 0.4)
        for kind in HEAD_KINDS
        for mode, towards in (("full", 255), ("finetune", 0))
    }
)
METHOD_LABELS = {
    "lrp": "LRP",
    "grad_x_input": "Gradient × input",
    "integrated_gradients": "Integrated gradients",
    "smoothgrad": "SmoothGrad",
    "ism": "ISM",
    "random": "Random",
}
OTHER = "#999999"
SNV_COLOUR = "#937860"


def _paper_style(function):
    """Draw in STYLE on top of matplotlib's defaults, whoever calls (workflow, notebook, test)."""

    @functools.wraps(function)
    def styled(*args, **kwargs):
        with matplotlib.style.context(STYLE, after_reset=True):
            return function(*args, **kwargs)

    return styled


def _colour(colours: dict, key: str) -> str:
    return colours.get(key, OTHER)


def _panel_label(ax, letter: str) -> None:
    """Bold panel letter outside the top-left corner of the axes, as journals ask."""
    ax.text(-0.02, 1.02, letter, transform=ax.transAxes, ha="right", va="bottom", fontsize=9, fontweight="bold")


def _new_figure(width: str, height: float):
    return plt.figure(figsize=(WIDTH[width], height))


def _points_with_ci(ax, y, rows: pd.DataFrame, colours: list[str]) -> None:
    """Point estimates with their 95% CI as horizontal whiskers (CIs may be missing)."""
    low = (rows["value"] - rows["ci_low"]).clip(lower=0).fillna(0)
    high = (rows["ci_high"] - rows["value"]).clip(lower=0).fillna(0)
    for yi, value, lo, hi, colour in zip(y, rows["value"], low, high, colours):
        ax.errorbar(value, yi, xerr=[[lo], [hi]], fmt="o", color=colour, markersize=3.2, elinewidth=0.9)


# ------------------------------------------------------------------------------- figures


@_paper_style
def data_overview(summary: pd.DataFrame):
    """Sequences per split: EPI per class, MPRA per test set (ID splits, OOD designs, SNV pairs).

    From results/datasets/summary.tsv (rows with statistic `n`), so the figure shows the counts
    the models were trained and tested on, not a recount.
    """
    n = summary[summary["statistic"] == "n"]
    splits = ["train", "val", "test"]
    epi = n[n["dataset"] == "epi"].copy()
    present = set(epi["group"])
    classes = [c for c in CLASS_COLOURS if c in present] + sorted(present - set(CLASS_COLOURS))
    epi = epi.assign(
        panel="a",
        order=epi["split"].map({s: i for i, s in enumerate(splits)}),
        class_order=epi["group"].map({c: i for i, c in enumerate(classes)}),
    )
    epi = epi.sort_values(["order", "class_order"], kind="stable")

    mpra_sets = [
        ("mpra", "train", "all", "train"),
        ("mpra", "val", "all", "val"),
        ("mpra", "test", "all", "test"),
        ("ood", "ood", "all", "OOD designs"),
        ("snv", "test", "all", "SNV pairs"),
    ]
    rows = []
    for dataset, split, group, label in mpra_sets:
        hit = n[(n["dataset"] == dataset) & (n["split"] == split) & (n["group"] == group)]
        if len(hit):
            rows.append(
                {
                    "panel": "b",
                    "dataset": dataset,
                    "split": split,
                    "group": group,
                    "label": label,
                    "n": int(hit["value"].iloc[0]),
                }
            )
    mpra = pd.DataFrame(rows, columns=["panel", "dataset", "split", "group", "label", "n"])

    fig = _new_figure("double", 2.3)
    ax_epi, ax_mpra = fig.subplots(1, 2, width_ratios=[1.2, 1])
    width = 0.8 / max(1, len(classes))
    for i, cls in enumerate(classes):
        rows_ = epi[epi["group"] == cls]
        x = rows_["order"].to_numpy() + (i - (len(classes) - 1) / 2) * width
        bars = ax_epi.bar(x, rows_["value"], width=width * 0.95, color=_colour(CLASS_COLOURS, cls), label=cls)
        ax_epi.bar_label(bars, fmt="%d", fontsize=5, padding=1)
    ax_epi.set_xticks(range(len(splits)), splits)
    ax_epi.set(ylabel="sequences", title="EPI: sequences per split and class")
    ax_epi.legend(loc="upper right")
    ax_epi.margins(y=0.12)
    _panel_label(ax_epi, "a")

    colours = [
        SNV_COLOUR if d == "snv" else SPLIT_COLOURS.get(s, OTHER) for d, s in zip(mpra["dataset"], mpra["split"])
    ]
    bars = ax_mpra.bar(range(len(mpra)), mpra["n"], color=colours, width=0.7)
    ax_mpra.bar_label(bars, fmt="%d", fontsize=5, padding=1)
    ax_mpra.set_xticks(range(len(mpra)), mpra["label"])
    ax_mpra.set(ylabel="sequences (SNVs: pairs)", title="MPRA: sequences per split and test set")
    ax_mpra.margins(y=0.12)
    _panel_label(ax_mpra, "b")

    source = pd.concat(
        [
            epi.assign(label=epi["group"], n=epi["value"].astype(int))[
                ["panel", "dataset", "split", "group", "label", "n"]
            ],
            mpra,
        ],
        ignore_index=True,
    )
    return source, fig


# (task, test set, metric, panel title)
COMPARISON_PANELS = [
    ("mpra", "id", "pearson_mean", "MPRA test\nmean Pearson r"),
    ("mpra", "snv", "pearson_mean", "MPRA SNV effects\nmean Pearson r"),
    ("mpra", "ood", "pearson_mean", "MPRA OOD designs\nmean Pearson r"),
    ("epi", "id", "accuracy", "EPI test\naccuracy"),
    ("epi", "id", "macro_auroc", "EPI test\nmacro-AUROC"),
]


@_paper_style
def model_comparison(comparison: pd.DataFrame):
    """Every model's test-set score with its 95% bootstrap CI, on a shared model axis.

    The noise ceiling (synthetic data: the simulator's noise-free activity scored like a model)
    is drawn as a line with its CI band: no model can be expected to beat it.
    """
    panels = [
        p
        for p in COMPARISON_PANELS
        if ((comparison["task"] == p[0]) & (comparison["test_set"] == p[1]) & (comparison["metric"] == p[2])).any()
    ]
    if not panels:
        raise ValueError("the comparison table has none of the metrics of the model_comparison figure")
    models = [m for m in dict.fromkeys(comparison["model"]) if m != NOISE_CEILING]
    y_of = {m: i for i, m in enumerate(models)}

    fig = _new_figure("double", 1.0 + 0.14 * len(models))
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    parts = []
    for ax, letter, (task, test_set, metric, title) in zip(axes, "abcdefgh", panels):
        rows = comparison[
            (comparison["task"] == task) & (comparison["test_set"] == test_set) & (comparison["metric"] == metric)
        ]
        ceiling = rows[rows["model"] == NOISE_CEILING]
        rows = rows[rows["model"] != NOISE_CEILING]
        rows = rows.iloc[np.argsort(rows["model"].map(y_of).to_numpy(), kind="stable")]
        _points_with_ci(ax, rows["model"].map(y_of), rows, [_colour(MODEL_COLOURS, m) for m in rows["model"]])
        if len(ceiling):
            c = ceiling.iloc[0]
            if np.isfinite(c["ci_low"]) and np.isfinite(c["ci_high"]):
                ax.axvspan(c["ci_low"], c["ci_high"], color="#DDDDDD", linewidth=0, zorder=0)
            ax.axvline(c["value"], color=MODEL_COLOURS[NOISE_CEILING], linestyle="--", linewidth=0.7, zorder=1)
        if task == "mpra" or metric == "macro_auroc":
            ax.axvline(0.5 if metric == "macro_auroc" else 0, color="#BBBBBB", linewidth=0.5, zorder=0)
        ax.set_title(title)
        ax.set_xlabel({"pearson_mean": "r", "accuracy": "accuracy", "macro_auroc": "AUROC"}.get(metric, metric))
        ax.grid(axis="y", color="#EEEEEE", linewidth=0.5)
        ax.set_axisbelow(True)
        _panel_label(ax, letter)
        parts.append(pd.concat([rows, ceiling]).assign(panel=letter))
    axes[0].set_yticks(range(len(models)), models)
    axes[0].set_ylim(len(models) - 0.5, -0.5)  # first model on top
    if (comparison["model"] == NOISE_CEILING).any():
        handles = [
            (
                Patch(color="#DDDDDD", linewidth=0),
                Line2D([], [], color=MODEL_COLOURS[NOISE_CEILING], linestyle="--", linewidth=0.7),
            )
        ]
        fig.legend(
            handles,
            ["noise ceiling (95% CI): the simulator's noise-free activity scored like a model"],
            loc="outside lower center",
        )
    source = pd.concat(parts, ignore_index=True)[
        ["panel", "task", "test_set", "metric", "model", "value", "ci_low", "ci_high"]
    ]
    return source, fig


@_paper_style
def faithfulness(scores: pd.DataFrame, curves: pd.DataFrame | None = None, primary: dict | None = None):
    """ΔA^F (LeRF minus MoRF area; higher = more faithful) per attribution method with 95% CIs,
    one panel per explained task · model, and the primary model's mean MoRF/LeRF curves.

    scores: results/attribution/faithfulness_all.tsv; curves: the curves.tsv of `primary`
    ({"task", "model"}, the model the attribution stage reports), optional.
    """
    primary = primary or {"task": "", "model": ""}
    primary_name = f"{primary['task'].upper()} · {primary['model']}" if primary["model"] else ""
    scores = scores[scores["metric"] == "delta_af"]
    if scores.empty:
        raise ValueError("the faithfulness table has no delta_af rows")
    groups = list(dict.fromkeys(zip(scores["task"], scores["model"])))
    methods = [m for m in METHOD_LABELS if m in set(scores["method"])]
    methods += [m for m in dict.fromkeys(scores["method"]) if m not in methods]
    y_of = {m: i for i, m in enumerate(methods)}

    fig = _new_figure("double", 1.0 + 0.16 * len(methods) + (2.0 if curves is not None else 0))
    top, bottom = (
        fig.subfigures(2, 1, height_ratios=[1.0 + 0.16 * len(methods), 2.0]) if curves is not None else (fig, None)
    )
    axes = top.subplots(1, len(groups), sharey=True, squeeze=False)[0]
    parts = []
    letters = iter("abcdefghijkl")
    for ax, (task, model) in zip(axes, groups):
        letter = next(letters)
        rows = scores[(scores["task"] == task) & (scores["model"] == model)]
        rows = rows.iloc[np.argsort(rows["method"].map(y_of).to_numpy(), kind="stable")]
        _points_with_ci(ax, rows["method"].map(y_of), rows, [_colour(METHOD_COLOURS, m) for m in rows["method"]])
        ax.axvline(0, color="#BBBBBB", linewidth=0.5, zorder=0)
        ax.set_title(f"{task.upper()} · {model}")
        ax.set_xlabel(r"$\Delta A^F$ (LeRF − MoRF area)")
        _panel_label(ax, letter)
        parts.append(rows.assign(panel=letter, order="", fraction=np.nan))
    axes[0].set_yticks(range(len(methods)), [METHOD_LABELS.get(m, m) for m in methods])
    axes[0].set_ylim(len(methods) - 0.5, -0.5)

    if curves is not None:
        mean = curves.groupby(["method", "order", "fraction"], sort=False)["value"].mean().reset_index()
        ax_morf, ax_lerf = bottom.subplots(1, 2, sharey=True)
        for ax, order, title in (
            (ax_morf, "morf", "MoRF: most relevant removed first"),
            (ax_lerf, "lerf", "LeRF: least relevant removed first"),
        ):
            letter = next(letters)
            rows = mean[mean["order"] == order]
            for method in sorted(dict.fromkeys(rows["method"]), key=lambda m: y_of.get(m, len(y_of))):
                line = rows[rows["method"] == method]
                ax.plot(
                    line["fraction"],
                    line["value"],
                    marker="o",
                    markersize=2,
                    color=_colour(METHOD_COLOURS, method),
                    label=METHOD_LABELS.get(method, method),
                )
            ax.set(title=title, xlabel="share of nucleotides replaced by N")
            _panel_label(ax, letter)
            parts.append(rows.assign(panel=letter, task=primary["task"], model=primary["model"], metric="mean_output"))
        ax_morf.set_ylabel(f"mean output of {primary_name}" if primary_name else "mean model output")
        ax_lerf.legend(loc="center left", bbox_to_anchor=(1.0, 0.5))
    columns = ["panel", "task", "model", "method", "metric", "order", "fraction", "value", "ci_low", "ci_high"]
    source = pd.concat(parts, ignore_index=True).reindex(columns=columns)
    return source, fig


SELECTION_MARKERS = {"test": "o", "top": "^", "snv": "s", "all": "D"}
TASK_COLOURS = {"mpra": "#4C72B0", "epi": "#DD8452"}


@_paper_style
def conservation(conservation: pd.DataFrame):
    """LRP conservation: Σ nucleotide relevance, and Σ relevance + what biases absorbed, against
    the explained output f(x). The second must sit on the identity line (rel. error shown).

    From results/attribution/conservation_per_sequence.tsv (one row per sequence and output).
    """
    frame = conservation.copy()
    absorbed = frame.filter(like="absorbed_").sum(axis=1)
    frame = frame.assign(absorbed=absorbed, relevance_plus_absorbed=frame["relevance_sum"] + absorbed)
    values = frame[["explained", "relevance_sum", "relevance_plus_absorbed"]].to_numpy(dtype=float)
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    lo, hi = lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)

    fig = _new_figure("one_and_half", 2.4)
    axes = fig.subplots(1, 2)
    for ax, letter, column, ylabel in (
        (axes[0], "a", "relevance_sum", "Σ nucleotide relevance"),
        (axes[1], "b", "relevance_plus_absorbed", "Σ relevance + absorbed (biases)"),
    ):
        ax.plot([lo, hi], [lo, hi], color="black", linestyle=":", linewidth=0.6, zorder=0)
        for (task, selection), group in frame.groupby(["task", "selection"], sort=False):
            ax.scatter(
                group["explained"],
                group[column],
                s=5,
                linewidths=0,
                alpha=0.7,
                color=_colour(TASK_COLOURS, task),
                marker=SELECTION_MARKERS.get(selection, "o"),
                label=f"{task.upper()} · {selection}",
            )
        ax.set(xlabel="explained output f(x)", ylabel=ylabel, xlim=(lo, hi), ylim=(lo, hi))
        # MPRA outputs are O(1), EPI logits O(10): symlog keeps both visible (y = x stays straight)
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_yscale("symlog", linthresh=1.0)
        ax.set_aspect("equal", adjustable="box")
        _panel_label(ax, letter)
    axes[1].set_title(f"max relative error {frame['rel_err'].max():.1e}")
    axes[0].legend(loc="upper left", markerscale=1.5, handletextpad=0.2)
    columns = [
        "task",
        "model",
        "selection",
        "seq_id",
        "output",
        "explained",
        "relevance_sum",
        "absorbed",
        "relevance_plus_absorbed",
        "rel_err",
    ]
    return frame[columns].reset_index(drop=True), fig


TRUTH_LABELS = {
    "recall": "planted families found\n(JASPAR enrichment)",
    "false_share": "enriched families\nnot planted",
    "denovo_recall": "planted families found\n(de novo motifs)",
    "denovo_false_share": "de novo motifs\nnot planted",
}


def _dot_size(neg_log10_q):
    return 6 + 8 * neg_log10_q


def _group_label(group: str) -> str:
    """'mpra:K562' → 'MPRA · K562' (the TSV keeps the group as the enrichment table names it)."""
    task, _, name = group.partition(":")
    return f"{task.upper()} · {name}" if name else group


def _short(name: str, width: int = 26) -> str:
    """A family name on at most two lines (the TSV keeps it whole)."""
    return "\n".join(textwrap.wrap(name, width, max_lines=2, placeholder="…"))


@_paper_style
def motif_enrichment(enrichment: pd.DataFrame, truth: pd.DataFrame | None = None, qvalue: float = 0.05, top: int = 12):
    """TF-family enrichment of seqlets per group (cell type / EPI class) as a dot matrix, and on
    synthetic data how many planted families were recovered (truth check).

    Rows are the `top` families with the smallest q (then p) in any group, significant or not,
    among families any seqlet or background window matched: colour = log2 odds ratio (clipped
    to ±4; no background hit gives +4), size = −log10 q, black ring = q < `qvalue`.
    """
    families = enrichment[enrichment["level"] == "family"]
    groups = list(dict.fromkeys(families["group"]))
    matched = families.dropna(subset=["odds_ratio"])  # NaN: no seqlet and no background hit
    best = (
        matched.groupby("family")
        .agg(q=("qvalue", "min"), p=("pvalue", "min"))
        .reset_index()
        .sort_values(["q", "p", "family"], kind="stable")
    )
    chosen = list(best["family"].head(top))
    rows = families[families["family"].isin(chosen)].copy()
    log2_or = np.log2(rows["odds_ratio"].astype(float).replace(0, 2.0**-4)).clip(-4, 4)
    rows = rows.assign(
        log2_odds_ratio=log2_or,
        neg_log10_q=(-np.log10(rows["qvalue"].clip(lower=1e-10))).clip(0, 10) + 0.0,  # no −0
        significant=rows["qvalue"] < qvalue,
        x=rows["group"].map({g: i for i, g in enumerate(groups)}),
        y=rows["family"].map({f: i for i, f in enumerate(chosen)}),
    )

    with_truth = truth is not None and len(truth)
    fig = _new_figure("double", max(2.4, 0.9 + 0.2 * len(chosen)))
    if with_truth:
        ax, ax_truth = fig.subplots(1, 2, width_ratios=[2.3, 1])
    else:
        ax, ax_truth = fig.subplots(1, 1), None
    shown = rows.dropna(subset=["log2_odds_ratio"])
    dots = ax.scatter(
        shown["x"],
        shown["y"],
        s=_dot_size(shown["neg_log10_q"]),
        c=shown["log2_odds_ratio"],
        cmap="RdBu_r",
        vmin=-4,
        vmax=4,
        edgecolors=np.where(shown["significant"], "black", "#BBBBBB"),
        linewidths=np.where(shown["significant"], 0.6, 0.25),
    )
    if not chosen:
        ax.text(0.5, 0.5, "no seqlet matched a JASPAR family", transform=ax.transAxes, ha="center", va="center")
    ax.set_xticks(range(len(groups)), [_group_label(g) for g in groups], rotation=30, ha="right")
    ax.set_yticks(range(len(chosen)), [_short(f) for f in chosen])
    ax.set_xlim(-0.6, len(groups) - 0.4)
    ax.set_ylim(max(1, len(chosen)) - 0.5, -0.5)
    ax.set_title(f"TF-family enrichment in seqlets (ring: q < {qvalue:g})")
    ax.grid(color="#EEEEEE", linewidth=0.5)
    ax.set_axisbelow(True)
    bar = fig.colorbar(dots, ax=ax, shrink=0.4, aspect=12, pad=0.02, anchor=(0.0, 0.0))
    bar.set_label("log2 odds ratio", fontsize=6)
    bar.ax.tick_params(labelsize=5)
    for q in (1, 3, 10):
        ax.scatter([], [], s=_dot_size(q), color="#999999", label=f"{q}")
    ax.legend(title="−log10 q", loc="upper left", bbox_to_anchor=(1.02, 1.0), labelspacing=0.9, borderaxespad=0)
    _panel_label(ax, "a")
    columns = [
        "panel",
        "group",
        "family",
        "odds_ratio",
        "log2_odds_ratio",
        "qvalue",
        "neg_log10_q",
        "significant",
        "metric",
        "value",
        "n",
    ]
    parts = [rows.assign(panel="a").sort_values(["y", "x"])]

    if with_truth:
        truth = truth[truth["metric"].isin(TRUTH_LABELS)]
        truth = truth.iloc[np.argsort(truth["metric"].map(list(TRUTH_LABELS).index).to_numpy(), kind="stable")]
        y = np.arange(len(truth))
        colours = ["#55A868" if "recall" in m else "#C44E52" for m in truth["metric"]]
        bars = ax_truth.barh(y, truth["value"], color=colours, height=0.6)
        ax_truth.bar_label(
            bars, labels=[f"{v:.2f} (n={int(n)})" for v, n in zip(truth["value"], truth["n"])], fontsize=5, padding=2
        )
        ax_truth.set_yticks(y, [TRUTH_LABELS[m] for m in truth["metric"]])
        ax_truth.set_xlim(0, 1.35)
        ax_truth.set_xticks([0, 0.5, 1])
        ax_truth.set_ylim(len(truth) - 0.5, -0.5)
        ax_truth.set(xlabel="share", title="Truth check (synthetic)")
        _panel_label(ax_truth, "b")
        parts.append(truth.assign(panel="b"))
    source = pd.concat(parts, ignore_index=True).reindex(columns=columns)
    return source, fig


# name → figure function; the workflow's FIGURES (rules/common.smk) names each one's tables.
FIGURE_FUNCTIONS = {
    "data_overview": data_overview,
    "model_comparison": model_comparison,
    "faithfulness": faithfulness,
    "conservation": conservation,
    "motif_enrichment": motif_enrichment,
}


# --------------------------------------------------------------------------- writing


def write_figure(name: str, source: pd.DataFrame, fig, folder) -> dict[str, Path]:
    """Write `<folder>/<name>.{pdf,png,tsv}`, each atomically, and close the figure.

    Timestamps and software versions are left out of the metadata so a rerun on the same
    machine writes byte-identical files (Snakemake then sees nothing new downstream).
    """
    folder = Path(folder)
    paths = {kind: folder / f"{name}.{kind}" for kind in ("pdf", "png", "tsv")}
    try:
        with matplotlib.rc_context(STYLE):
            with atomic_path(paths["pdf"], suffix=".pdf") as tmp:
                fig.savefig(tmp, format="pdf", metadata={"CreationDate": None, "Creator": None, "Producer": None})
            with atomic_path(paths["png"], suffix=".png") as tmp:
                fig.savefig(tmp, format="png", dpi=PNG_DPI, metadata={"Software": None})
    finally:
        plt.close(fig)
    write_table(source, paths["tsv"])
    log.info("figure %s: %s (+ .png, .tsv with %d rows)", name, paths["pdf"], len(source))
    return paths


def draw(name: str, tables: dict[str, pd.DataFrame], **settings):
    """`(source, figure)` of one named figure, drawn in the paper style."""
    if name not in FIGURE_FUNCTIONS:
        raise ValueError(f"unknown figure {name!r}; known figures: {', '.join(FIGURE_FUNCTIONS)}")
    return FIGURE_FUNCTIONS[name](**tables, **settings)


def run_paper_figure(name: str, inputs: dict, out_prefix, settings: dict | None = None) -> dict[str, Path]:
    """Read `inputs` ({argument: table path}), draw figure `name`, write `<out_prefix>.{pdf,png,tsv}`."""
    if name not in FIGURE_FUNCTIONS:
        raise ValueError(f"unknown figure {name!r}; known figures: {', '.join(FIGURE_FUNCTIONS)}")
    tables = {key: read_table(path) for key, path in inputs.items()}
    source, fig = draw(name, tables, **(settings or {}))
    out_prefix = Path(out_prefix)
    return write_figure(out_prefix.name, source, fig, out_prefix.parent)
