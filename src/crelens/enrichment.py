"""Motif enrichment in attribution seqlets against a background, per motif and per TF family.

Why per family as well: JASPAR holds several near-identical profiles per TF family (ETS, bHLH,
…), so one planted motif makes many profiles "significant"; recall and false discoveries are
only well defined after collapsing profiles into families.

Statistics per (group, motif or family): a 2×2 table of regions (seqlets vs background) ×
(has a match vs not); the odds ratio and p-value of a one-sided Fisher exact test for
enrichment (scipy.stats.fisher_exact, alternative="greater", as HOMER/AME test enrichment),
then Benjamini–Hochberg q-values across the motifs of a group
(scipy.stats.false_discovery_control).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

COLUMNS = ["group", "level", "motif_id", "motif_name", "family", "seqlets_with", "seqlets", "background_with",
           "background", "odds_ratio", "pvalue", "qvalue"]


def fisher_rows(counts: pd.DataFrame) -> pd.DataFrame:
    """Add odds_ratio, pvalue (one-sided, enrichment) and qvalue (BH) to per-motif counts.

    counts columns: seqlets_with, seqlets, background_with, background (one row per motif).
    """
    out = counts.copy()
    odds, pvalues = [], []
    for row in counts.itertuples():
        table = [[row.seqlets_with, row.seqlets - row.seqlets_with],
                 [row.background_with, row.background - row.background_with]]
        result = stats.fisher_exact(table, alternative="greater")
        odds.append(float(result.statistic))
        pvalues.append(float(result.pvalue))
    out["odds_ratio"] = odds
    out["pvalue"] = pvalues
    out["qvalue"] = stats.false_discovery_control(np.asarray(pvalues)) if pvalues else []
    return out


def enrichment(seqlet_hits: pd.DataFrame, n_seqlets: int, background_hits: pd.DataFrame, n_background: int,
               motifs: pd.DataFrame, group: str = "all") -> pd.DataFrame:
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


def components(family: str) -> set[str]:
    """The TF families of a JASPAR family label; a heterodimer's label joins two with "::"."""
    return {part for part in family.split("::") if part}


def shares_component(family: str, planted: set[str]) -> bool:
    """True when `family` and a planted family have a TF family in common (a GATA1::TAL1 dimer
    profile reports planted GATA and TAL1 sites; it is not a false discovery)."""
    mine = components(family)
    return any(mine & components(p) for p in planted)


def truth_check(table: pd.DataFrame, planted_families: set[str], alpha: float = 0.05) -> pd.DataFrame:
    """Recall of planted families among significant families (q < alpha) and the share of
    significant families that were not planted, over all groups together.

    A planted family is recalled when a significant family shares a TF family with it (dimer
    profiles count for their parts), and a significant family is false when it shares none with
    any planted family.
    """
    families = table[(table.level == "family") & (table.qvalue < alpha)]
    significant = set(families.family)
    recalled = {p for p in planted_families if shares_component(p, significant)}
    false = {f for f in significant if not shares_component(f, planted_families)}
    recall = len(recalled) / len(planted_families) if planted_families else float("nan")
    false_share = len(false) / len(significant) if significant else 0.0
    return pd.DataFrame([
        {"metric": "recall", "value": recall, "n": len(planted_families), "detail": ",".join(sorted(recalled))},
        {"metric": "false_share", "value": false_share, "n": len(significant), "detail": ",".join(sorted(false))},
    ])
