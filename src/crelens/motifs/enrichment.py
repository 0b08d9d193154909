"""Motif enrichment in attribution seqlets against a background, per motif and per TF family.

Why per family as well: JASPAR holds several near-identical profiles per TF family (ETS, bHLH,
…), so one planted motif makes many profiles "significant"; recall and false discoveries are
only well defined after collapsing profiles into families.

Redundancy: with `motifs.best_hit_only`, each region counts only for its best-matching JASPAR
profile (lowest FIMO p), the usual way of annotating a seqlet with one motif; otherwise every
profile that matches counts (JASPAR's near-duplicates then all light up together).

Statistics per (group, motif or family): a 2×2 table of regions (seqlets vs background) ×
(has a match vs not); the odds ratio and p-value of a one-sided Fisher exact test for
enrichment (scipy.stats.fisher_exact, alternative="greater", as HOMER/AME test enrichment),
then Benjamini–Hochberg q-values across the motifs of a group
(scipy.stats.false_discovery_control).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy import stats

from crelens.attribution.store import read_attributions
from crelens.data.jaspar import motif_table
from crelens.motifs.attributions import cropped, groups_of
from crelens.motifs.seqlets import (
    SEQLET_COLUMNS,
    call_seqlets,
    low_attribution_background,
    region_sequences,
    scan,
    shuffled_background,
)
from crelens.tables import write_table

log = logging.getLogger(__name__)

COLUMNS = [
    "group",
    "level",
    "motif_id",
    "motif_name",
    "family",
    "seqlets_with",
    "seqlets",
    "background_with",
    "background",
    "odds_ratio",
    "pvalue",
    "qvalue",
]


def fisher_rows(counts: pd.DataFrame) -> pd.DataFrame:
    """Add odds_ratio, pvalue (one-sided, enrichment) and qvalue (BH) to per-motif counts.

    counts columns: seqlets_with, seqlets, background_with, background (one row per motif).
    """
    out = counts.copy()
    odds, pvalues = [], []
    for row in counts.itertuples():
        table = [
            [row.seqlets_with, row.seqlets - row.seqlets_with],
            [row.background_with, row.background - row.background_with],
        ]
        result = stats.fisher_exact(table, alternative="greater")
        odds.append(float(result.statistic))
        pvalues.append(float(result.pvalue))
    out["odds_ratio"] = odds
    out["pvalue"] = pvalues
    out["qvalue"] = stats.false_discovery_control(np.asarray(pvalues)) if pvalues else []
    return out


def enrichment(
    seqlet_hits: pd.DataFrame,
    n_seqlets: int,
    background_hits: pd.DataFrame,
    n_background: int,
    motifs: pd.DataFrame,
    group: str = "all",
) -> pd.DataFrame:
    """Enrichment rows of one group, by motif (level "motif") and by family (level "family").

    seqlet_hits / background_hits: one row per (region_id, motif_id) with a match (duplicates
    ignored); motifs: motif_id, motif_name, family for every tested motif (motifs without hits
    are tested too, with zero counts).
    """
    if n_seqlets < 1 or n_background < 1:
        raise ValueError(f"group {group!r}: needs seqlets and background regions, got {n_seqlets} and {n_background}")
    motifs = motifs.drop_duplicates("motif_id").reset_index(drop=True)
    family_of = dict(zip(motifs.motif_id, motifs.family))

    def regions_with(hits: pd.DataFrame, key: str) -> pd.Series:
        if hits.empty:
            return pd.Series(dtype=int)
        keyed = hits.assign(key=hits.motif_id.map(family_of) if key == "family" else hits.motif_id)
        return keyed.drop_duplicates(["region_id", "key"]).groupby("key").size()

    frames = []
    for level in ("motif", "family"):
        if level == "motif":
            table = motifs[["motif_id", "motif_name", "family"]].copy()
            keys = table.motif_id
        else:
            names = motifs.groupby("family", sort=True).motif_name.apply(lambda s: "|".join(sorted(set(s))))
            table = pd.DataFrame({"motif_id": names.index, "motif_name": names.to_numpy(), "family": names.index})
            keys = table.family
        fg, bg = regions_with(seqlet_hits, level), regions_with(background_hits, level)
        table["seqlets_with"] = keys.map(fg).fillna(0).astype(int).to_numpy()
        table["seqlets"] = n_seqlets
        table["background_with"] = keys.map(bg).fillna(0).astype(int).to_numpy()
        table["background"] = n_background
        table = fisher_rows(table)
        table.insert(0, "level", level)
        table.insert(0, "group", group)
        frames.append(table)
    return pd.concat(frames, ignore_index=True)[COLUMNS]


def _hits_by_region(hits: pd.DataFrame, key_to_id: dict[str, str], prefix: str, best_only: bool) -> pd.DataFrame:
    if best_only and len(hits):
        hits = hits.sort_values(["region_idx", "pvalue", "motif_key"], kind="stable").drop_duplicates("region_idx")
    return pd.DataFrame(
        {"region_id": [f"{prefix}{i}" for i in hits.region_idx], "motif_id": hits.motif_key.map(key_to_id).to_numpy()}
    )


def enrichment_for(
    stored_by_task: dict[str, dict], matrices: dict, meta: pd.DataFrame, settings: dict, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(enrichment rows of every group, seqlets table) for one attribution source."""
    key_to_id = dict(zip(meta.key, meta.motif_id))
    tables, seqlet_rows = [], []
    for task, stored in stored_by_task.items():
        sequences, all_relevance, offset = cropped(stored)
        log.info(
            "%s: motif analysis on positions %d–%d (the span that varies between sequences)",
            task,
            offset,
            offset + len(sequences[0]),
        )
        for group, k, rows in groups_of(task, stored):
            if not len(rows):
                continue
            relevance = all_relevance[rows, k].astype(np.float64)
            seqlets = call_seqlets(
                relevance,
                threshold=settings["seqlet_pvalue"],
                min_len=settings["min_seqlet_len"],
                max_len=settings["max_seqlet_len"],
                flank=settings["seqlet_flank"],
            )
            group_seqs = [sequences[i] for i in rows]
            fg_seqs = region_sequences(seqlets, group_seqs)
            if settings["background"] == "shuffled":
                bg_seqs = shuffled_background(fg_seqs, seed)
            else:
                bg_seqs = region_sequences(low_attribution_background(seqlets, relevance, seed), group_seqs)
            log.info(
                "%s: %d sequences, %d seqlets, %d background regions", group, len(rows), len(fg_seqs), len(bg_seqs)
            )
            if not fg_seqs or not bg_seqs:
                log.warning("%s: no seqlets or no background: group skipped", group)
                continue
            best = settings["best_hit_only"]
            fg = _hits_by_region(scan(fg_seqs, matrices, settings["fimo_pvalue"]), key_to_id, "s", best)
            bg = _hits_by_region(scan(bg_seqs, matrices, settings["fimo_pvalue"]), key_to_id, "b", best)
            tables.append(enrichment(fg, len(fg_seqs), bg, len(bg_seqs), meta, group=group))
            seqlet_rows.append(
                seqlets.assign(
                    group=group,
                    seq_id=[str(stored["seq_id"][rows[i]]) for i in seqlets.example_idx],
                    start=seqlets.start + offset,
                    end=seqlets.end + offset,
                    length=len(stored["sequence"][0]),
                    span_start=offset,
                    span_end=offset + len(group_seqs[0]),
                )
            )
    if not tables:  # a legitimate result (e.g. a model that relies on nothing), reported as empty tables
        log.warning("no group had seqlets and background: the enrichment table is empty")
        return pd.DataFrame(columns=COLUMNS), pd.DataFrame(columns=[*SEQLET_COLUMNS, "group", "seq_id", "length"])
    return pd.concat(tables, ignore_index=True), pd.concat(seqlet_rows, ignore_index=True)


def run_motif_enrichment(
    attribution_paths: dict[str, str], meme_path, release: str, settings: dict, seed: int, out_enrichment, out_seqlets
) -> None:
    """The `motif_enrichment` job of one attribution source (task → attribution file)."""
    stored = {task: read_attributions(path) for task, path in attribution_paths.items()}
    matrices, meta = motif_table(meme_path, release)
    table, seqlets = enrichment_for(stored, matrices, meta, settings, seed)
    write_table(table, out_enrichment)
    write_table(seqlets, out_seqlets)
    significant = table[(table.level == "family") & (table.qvalue < settings["qvalue"])]
    log.info(
        "%d significant families (q < %g) over %d groups",
        significant.family.nunique(),
        settings["qvalue"],
        table.group.nunique(),
    )
