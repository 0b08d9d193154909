"""The planted truth of the offline world, as the later stages ask it.

Two questions recur in evaluation, attribution and motif analysis, and each has one answer here:
which positions of a sequence hold a planted motif (`site_mask`), and which planted motifs a
faithful model must rely on for one output (`relevant_motifs`). Sites are the rows of
`results/datasets/truth_sites.parquet` (seq_id, start, end in sequence coordinates, motif_name,
...); motif designs are the `data.synthetic.design.motifs` entries of the config.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd


def site_mask(sites: pd.DataFrame, seq_ids: list[str], length: int) -> np.ndarray:
    """(n, L) bool: True inside any site of the sequence (0-based, end exclusive), clipped to
    [0, L). Sites of sequences not in ``seq_ids`` are ignored."""
    rows = defaultdict(list)
    for i, seq_id in enumerate(seq_ids):
        rows[seq_id].append(i)
    mask = np.zeros((len(seq_ids), length), dtype=bool)
    for seq_id, start, end in sites[["seq_id", "start", "end"]].itertuples(index=False):
        lo, hi = max(int(start), 0), min(int(end), length)
        for i in rows.get(seq_id, ()):
            mask[i, lo:hi] = True
    return mask


def relevant_motifs(task: str, output: str, design_motifs: list[dict]) -> set[str]:
    """Planted motifs that a faithful explanation of `output` should highlight.

    MPRA: motifs with a non-zero effect in that cell type (an inactive motif is planted but must
    not be relevant); EPI: every class-programme motif, not the inert insulator (CTCF).
    """
    if task == "mpra":
        return {m["name"] for m in design_motifs if m["effect"].get(output, 0) != 0}
    return {m["name"] for m in design_motifs if m.get("program") != "insulator"}
