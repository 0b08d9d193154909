"""The motif stage's figures (rule summarise_motifs): volcano, seqlet positions, motif logos."""

from __future__ import annotations

import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from crelens.figures.style import save  # noqa: E402


def enrichment_volcano(families: pd.DataFrame, qvalue: float, path) -> None:
    """log2 odds ratio vs −log10 q of every TF family, one panel per group; significant labelled.

    Odds ratios are drawn within ±6 (log2 64); an infinite one (a family found in seqlets and never
    in the background, or the reverse) sits on the edge as a triangle. Family names are wrapped,
    never cut; a group without any tested family says so instead of drawing empty axes.
    """
    groups = list(pd.unique(families.group)) or ["(no seqlets)"]
    cols = min(3, len(groups))
    rows = (len(groups) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.8 * cols, 4.0 * rows), squeeze=False)
    for ax in axes.flat[len(groups) :]:
        ax.axis("off")
    for ax, group in zip(axes.flat, groups):
        rows_ = families[families.group == group]
        if rows_.empty:
            ax.axis("off")
            ax.text(0.5, 0.5, f"{group}\nno motif family tested\n(no seqlets)", ha="center", va="center", fontsize=9)
            continue
        ratio = rows_.odds_ratio.astype(float).to_numpy()
        infinite = ~np.isfinite(ratio) | (ratio <= 0)
        odds = np.log2(np.clip(np.where(ratio > 0, ratio, 1 / 64), 1 / 64, 64))
        score = -np.log10(rows_.qvalue.clip(lower=1e-300)).to_numpy()
        significant = (rows_.qvalue < qvalue).to_numpy()
        for chosen, colour, size in ((~significant, "#BBBBBB", 8), (significant, "#C44E52", 14)):
            finite = chosen & ~infinite
            ax.scatter(odds[finite], score[finite], s=size, color=colour, linewidths=0)
            for side, marker in ((odds > 0, ">"), (odds <= 0, "<")):  # pointing off the axis it lies beyond
                edge = chosen & infinite & side
                ax.scatter(odds[edge], score[edge], s=size * 2.5, color=colour, marker=marker, linewidths=0)
        if infinite.any():
            ax.scatter([], [], s=20, color="#777777", marker=">", label="infinite odds ratio (drawn at ±6)")
            ax.legend(fontsize=6, loc="lower left")
        # labels at the same height stacked downwards one line apart and turned inwards on the
        # right, so that families with equal counts (equal q) stay readable inside the panel
        labelled: dict[float, int] = {}  # labels so far at each height
        order = np.argsort(rows_.qvalue.to_numpy(), kind="stable")
        for k in [k for k in order if significant[k]][:6]:
            point = (odds[k], score[k])
            height = round(point[1], 1)
            stacked = labelled.get(height, 0)
            labelled[height] = stacked + 2  # wrapped names take up to two lines
            right = point[0] > 0
            ax.annotate(
                textwrap.fill(str(rows_.family.iloc[k]), 22),
                point,
                fontsize=6,
                xytext=(-3 if right else 3, -8 * stacked),
                textcoords="offset points",
                ha="right" if right else "left",
                va="top",
            )
        ax.set_xlim(-7, 7)
        ax.axhline(-np.log10(qvalue), color="black", linestyle=":", linewidth=0.8)
        ax.set(
            title=f"{group}: {int(significant.sum())} families q < {qvalue}",
            xlabel="log2 odds ratio (seqlets vs background)",
            ylabel="−log10 q",
        )
    fig.tight_layout()
    save(fig, path)


def seqlet_positions(seqlets: pd.DataFrame, path) -> None:
    """Where seqlets sit along the sequence, per group (MPRA: the insert is the central 200 nt)."""
    groups = list(pd.unique(seqlets.group))
    fig, ax = plt.subplots(figsize=(8, 3.8))
    if not groups:
        ax.text(0.5, 0.5, "no seqlets", ha="center")
    for group in groups:
        rows = seqlets[seqlets.group == group]
        centre = (rows.start + rows.end) / 2 / rows.length
        ax.hist(centre, bins=40, range=(0, 1), histtype="step", linewidth=1.2, label=f"{group} ({len(rows)})")
    ax.set(
        xlabel="seqlet centre (fraction of the sequence)", ylabel="seqlets", title="Positional distribution of seqlets"
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    save(fig, path)


def _information_logo(ax, probs: np.ndarray, title: str) -> None:
    """Information-content logo of a (w, 4) probability matrix."""
    import logomaker

    probs = np.clip(probs, 1e-9, None)
    probs = probs / probs.sum(1, keepdims=True)
    info = probs * (2 + (probs * np.log2(probs)).sum(1, keepdims=True))
    logomaker.Logo(pd.DataFrame(info, columns=list("ACGT")), ax=ax, color_scheme="classic")
    ax.set_ylim(0, 2)
    ax.set_xticks([])
    ax.set_title(title, fontsize=7)


def motif_logos(
    table: pd.DataFrame,
    matrices: dict,
    meta: pd.DataFrame,
    matches: pd.DataFrame,
    patterns: dict,
    qvalue: float,
    path,
    top: int = 6,
) -> None:
    """The most enriched JASPAR families (best profile's logo) next to the de novo pattern matched
    to that family, if TF-MoDISco found one."""
    motifs = table[(table.level == "motif") & (table.qvalue < qvalue)].sort_values("qvalue")
    best = motifs.drop_duplicates("family").head(top)
    key_of = dict(zip(meta.motif_id, meta.key))
    by_family = {}
    if len(matches) and "family0" in matches:
        for row in matches.itertuples():
            by_family.setdefault(row.family0, row)
    n = max(1, len(best))
    fig, axes = plt.subplots(n, 2, figsize=(8, 1.5 * n), squeeze=False)
    if best.empty:
        for ax in axes.flat:
            ax.axis("off")
        axes[0, 0].text(0, 0.5, f"no JASPAR motif enriched at q < {qvalue}", fontsize=9)
    for (left, right), row in zip(axes, best.itertuples()):
        _information_logo(
            left,
            np.asarray(matrices[key_of[row.motif_id]]).T,
            f"{row.motif_id} {row.motif_name} ({row.family}) · {row.group} · q={row.qvalue:.1e}",
        )
        match = by_family.get(row.family)
        if match is not None and match.pattern in patterns:
            _information_logo(
                right,
                patterns[match.pattern],
                f"de novo {match.pattern} ({match.n_seqlets} seqlets) · TOMTOM p={float(match.pval0):.1e}",
            )
        else:
            right.axis("off")
            right.text(0.05, 0.5, "no de novo pattern matched to this family", fontsize=7)
    fig.tight_layout()
    save(fig, path)
