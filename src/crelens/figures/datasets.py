"""The data sets' overview figure (rule datasets_summary)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from crelens.figures.style import CLASS_COLOURS, DATASET_COLOURS, SPLIT_COLOURS, save  # noqa: E402
from crelens.sequences import gc_fraction  # noqa: E402


def datasets_overview(
    epi: pd.DataFrame | None,
    mpra: pd.DataFrame,
    snv: pd.DataFrame,
    ood: pd.DataFrame,
    cells: list[str],
    path,
    sites: pd.DataFrame | None = None,
) -> None:
    """What a biologist checks before training: class sizes, GC confounds, activity ranges, test sets."""
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))

    if epi is not None:
        ax = axes[0, 0]
        counts = epi.groupby(["split", "label"]).size().unstack(fill_value=0).reindex(["train", "val", "test"])
        counts.plot.bar(ax=ax, color=[CLASS_COLOURS[c] for c in counts.columns], rot=0)
        ax.set(title="EPI sequences per split and class", xlabel="", ylabel="sequences")

        ax = axes[0, 1]
        bins = np.linspace(0.2, 0.85, 40)
        for label, group in epi.groupby("label"):
            ax.hist(group.gc, bins=bins, alpha=0.55, label=label, color=CLASS_COLOURS[label], density=True)
        ax.set(title="GC content per EPI class (a confound to beat)", xlabel="GC fraction", ylabel="density")
        ax.legend()
    else:  # an MPRA-only run (a user's table without a genome): its splits and GC instead
        ax = axes[0, 0]
        counts = mpra.split.value_counts().reindex(["train", "val", "test"], fill_value=0)
        ax.bar(counts.index, counts.to_numpy(), color=[SPLIT_COLOURS[s] for s in counts.index])
        ax.set(title="MPRA sequences per split (no EPI set in this run)", ylabel="sequences")

        ax = axes[0, 1]
        gc = mpra["insert"].map(gc_fraction)
        for split in ("train", "val", "test"):
            values = gc[mpra.split == split]
            ax.hist(values, bins=40, alpha=0.55, label=split, color=SPLIT_COLOURS[split], density=True)
        ax.set(title="GC content of the MPRA inserts per split", xlabel="GC fraction", ylabel="density")
        ax.legend()

    ax = axes[0, 2]
    bins = np.linspace(np.nanmin(mpra[cells].to_numpy()), np.nanmax(mpra[cells].to_numpy()), 40)
    for cell in cells:
        ax.hist(mpra[cell].dropna(), bins=bins, histtype="step", linewidth=1.6, label=cell)
    ax.set(title=f"MPRA activity ({len(mpra)} sequences)", xlabel="log2 activity", ylabel="sequences")
    ax.legend()

    ax = axes[1, 0]
    if len(cells) >= 2:
        a, b = cells[0], cells[1]
        for split, group in mpra.groupby("split"):
            ax.scatter(group[a], group[b], s=4, alpha=0.5, color=SPLIT_COLOURS[split], label=split)
        r = mpra[[a, b]].corr().iloc[0, 1]
        ax.set(title=f"Cell-type specificity: {a} vs {b} (r = {r:.2f})", xlabel=a, ylabel=b)
        ax.legend(markerscale=3)
    else:
        ax.axis("off")

    ax = axes[1, 1]
    cell = cells[0]
    if len(snv):
        if "hits_motif" in snv and snv.hits_motif.notna().any():
            for hit, group in snv.groupby("hits_motif"):
                ax.hist(
                    group[f"{cell}_delta"],
                    bins=30,
                    alpha=0.6,
                    label="variant hits a planted motif" if hit else "variant misses motifs",
                )
            ax.legend()
        else:
            ax.hist(snv[f"{cell}_delta"], bins=30)
    ax.set(
        title=f"SNV pairs: measured Δ activity in {cell} (n = {len(snv)})", xlabel="alt − ref (log2)", ylabel="pairs"
    )

    ax = axes[1, 2]
    if sites is not None and len(sites):
        table = sites.groupby(["motif_name", "dataset"]).size().unstack(fill_value=0)
        table = table.loc[table.sum(axis=1).sort_values().index]
        table.plot.barh(ax=ax, stacked=True, color=[DATASET_COLOURS.get(d, "#999999") for d in table.columns])
        ax.set(title="Planted motif instances inside data-set sequences", xlabel="instances", ylabel="")
    else:
        gc_id = mpra["insert"].map(lambda s: (s.count("G") + s.count("C")) / len(s))
        gc_ood = (
            ood["insert"].map(lambda s: (s.count("G") + s.count("C")) / len(s)) if len(ood) else pd.Series(dtype=float)
        )
        ax.hist(gc_id, bins=30, alpha=0.6, density=True, label="MPRA (genomic)")
        if len(gc_ood):
            ax.hist(gc_ood, bins=30, alpha=0.6, density=True, label="OOD")
        ax.set(title="Insert GC: in-distribution vs OOD", xlabel="GC fraction")
        ax.legend()
    fig.tight_layout()
    save(fig, path)
