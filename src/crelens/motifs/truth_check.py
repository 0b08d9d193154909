"""Are the planted TF families found? Recall and false share against the offline world's truth.

Families, not profiles: JASPAR holds several near-identical profiles per TF family, so recall
and false discoveries are only well defined per family; a heterodimer's family label joins its
parts with "::" and counts for each part. Only planted motifs that act on the explained outputs
are expected (an inactive motif, and CTCF, must not be found).
"""

from __future__ import annotations

import logging

import pandas as pd

from crelens.attribution.store import read_attributions
from crelens.planted import relevant_motifs
from crelens.tables import read_table, write_table

log = logging.getLogger(__name__)


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
    return pd.DataFrame(
        [
            {"metric": "recall", "value": recall, "n": len(planted_families), "detail": ",".join(sorted(recalled))},
            {"metric": "false_share", "value": false_share, "n": len(significant), "detail": ",".join(sorted(false))},
        ]
    )


def planted_families(stored_by_task: dict[str, dict], sites: pd.DataFrame, design_motifs: list[dict]) -> set[str]:
    """Families of the planted motifs that act on the explained outputs (the answer key)."""
    families = set()
    for task, stored in stored_by_task.items():
        for output in stored["output"]:
            names = relevant_motifs(task, str(output), design_motifs)
            families |= set(sites.loc[sites.motif_name.isin(names), "tf_family"])
    return families


def denovo_truth(matches: pd.DataFrame, planted: set[str], match_pvalue: float) -> pd.DataFrame:
    """Recall / false share of the JASPAR families that de novo patterns match (TOMTOM p < match_pvalue)."""
    pvalues = pd.to_numeric(matches["pval0"], errors="coerce") if "pval0" in matches else pd.Series(dtype=float)
    found = set(matches.loc[pvalues < match_pvalue, "family0"]) - {""}
    recalled = {p for p in planted if shares_component(p, found)}
    false = {f for f in found if not shares_component(f, planted)}
    return pd.DataFrame(
        [
            {
                "metric": "denovo_recall",
                "value": len(recalled) / len(planted) if planted else float("nan"),
                "n": len(planted),
                "detail": ",".join(sorted(recalled)),
            },
            {
                "metric": "denovo_false_share",
                "value": len(false) / len(found) if found else 0.0,
                "n": len(found),
                "detail": ",".join(sorted(false)),
            },
        ]
    )


def run_motif_truth_check(
    enrichment_path, matches_path, attribution_paths: dict[str, str], sites_path, design_motifs, settings: dict, out
) -> None:
    """Synthetic truth: are the planted families recovered (seqlet enrichment and de novo)?"""
    stored = {task: read_attributions(path) for task, path in attribution_paths.items()}
    planted = planted_families(stored, read_table(sites_path), design_motifs)
    check = pd.concat(
        [
            truth_check(read_table(enrichment_path), planted, alpha=settings["qvalue"]),
            denovo_truth(read_table(matches_path), planted, settings["modisco"]["match_pvalue"]),
        ],
        ignore_index=True,
    )
    write_table(check, out)
    for row in check.itertuples():
        log.info("truth check %s = %.3f over %d (%s)", row.metric, row.value, row.n, row.detail)
