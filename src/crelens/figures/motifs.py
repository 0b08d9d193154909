"""The motif stage's figures (rule summarise_motifs): volcano, seqlet positions, motif logos."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from crelens.figures.style import save  # noqa: E402


def enrichment_volcano(families: pd.DataFrame, qvalue: float, path) -> None:
    """log2 odds ratio vs −log10 q of every TF family, one panel per group; significant labelled."""
    groups = list(pd.unique(families.group)) or ["(no seqlets)"]
    cols = min(3, len(groups))
    rows = (len(groups) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.8 * rows), squeeze=False)
    for ax in axes.flat[len(groups) :]:
        ax.axis("off")
    for ax, group in zip(axes.flat, groups):
        rows_ = families[families.group == group]
        odds = np.log2(rows_.odds_ratio.clip(lower=1 / 64, upper=64).replace(0, 1 / 64))
        score = -np.log10(rows_.qvalue.clip(lower=1e-300))
        significant = rows_.qvalue < qvalue
        ax.scatter(odds[~significant], score[~significant], s=8, color="#BBBBBB", linewidths=0)
        ax.scatter(odds[significant], score[significant], s=14, color="#C44E52", linewidths=0)
        # labels at the same height stacked downwards one line apart and turned inwards on the
        # right, so that families with equal counts (equal q) stay readable inside the panel
        labelled: dict[float, int] = {}  # labels so far at each height
        for row in rows_[significant].nsmallest(6, "qvalue").itertuples():
            point = (np.log2(np.clip(row.odds_ratio, 1 / 64, 64)), -np.log10(max(row.qvalue, 1e-300)))
            height = round(point[1], 1)
            stacked = labelled.get(height, 0)
            labelled[height] = stacked + 1
            right = point[0] > 0
            ax.annotate(
                str(row.family)[:28],
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
