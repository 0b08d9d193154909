"""What a biologist checks before training: the data sets in one table and one figure.

The table (counts, GC and activity per split and group, the noise ceiling) is what the paper's
data overview is drawn from; the figure shows class sizes, the GC confound of promoters,
activity ranges and the test sets.
"""

from __future__ import annotations

import pandas as pd

from crelens.figures.datasets import datasets_overview
from crelens.sequences import gc_fraction
from crelens.tables import read_table, write_table


def datasets_summary(
    epi: pd.DataFrame | None,
    mpra: pd.DataFrame,
    snv: pd.DataFrame,
    ood: pd.DataFrame,
    cells: list[str],
    ceiling: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per (dataset, split, group, statistic)."""
    rows = []
    for (split, label), group in epi.groupby(["split", "label"]) if epi is not None else ():
        rows += [("epi", split, label, "n", len(group)), ("epi", split, label, "mean_gc", group.gc.mean())]
    for name, frame in (("mpra", mpra), ("ood", ood)):
        for split, group in frame.groupby("split"):
            rows.append((name, split, "all", "n", len(group)))
            rows.append((name, split, "all", "mean_gc", group["insert"].map(gc_fraction).mean()))
            for cell in cells:
                rows += [
                    (name, split, cell, "mean_activity", group[cell].mean()),
                    (name, split, cell, "sd_activity", group[cell].std()),
                ]
    rows.append(("snv", "test", "all", "n", len(snv)))
    if "hits_motif" in snv:
        rows.append(("snv", "test", "hits_motif", "n", int(snv.hits_motif.sum())))
    for cell in cells:
        if len(snv):
            rows.append(("snv", "test", cell, "sd_delta", snv[f"{cell}_delta"].std()))
    if ceiling is not None:
        for row in ceiling.itertuples():
            rows.append(("mpra", "all", row.cell, "noise_ceiling_pearson", row.ceiling_pearson))
    out = pd.DataFrame(rows, columns=["dataset", "split", "group", "statistic", "value"])
    out["value"] = out.value.astype(float).round(6)
    return out


def run_datasets_summary(tables: dict, cells: list[str], table_out, figure_out) -> pd.DataFrame:
    """The `datasets_summary` job. `tables`: paths of mpra, snv, ood, epi (absent in an MPRA-only
    run), and sites, ceiling on synthetic data."""
    frames = {key: read_table(path) for key, path in tables.items()}
    summary = datasets_summary(
        frames.get("epi"), frames["mpra"], frames["snv"], frames["ood"], cells, frames.get("ceiling")
    )
    write_table(summary, table_out)
    datasets_overview(
        frames.get("epi"), frames["mpra"], frames["snv"], frames["ood"], cells, figure_out, frames.get("sites")
    )
    return summary
