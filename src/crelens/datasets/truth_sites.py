"""Planted motifs (the offline world's truth) in each data set's sequence coordinates.

The simulator records planted instances in genome coordinates (and designed sequences' own
coordinates); attribution, evaluation and motif checks need them in the coordinates of the
stored `sequence` of each data set row, MPRA flanks included.
"""

from __future__ import annotations

import logging

import pandas as pd

from crelens.data.formats import read_planted_motifs
from crelens.tables import read_table, write_table

log = logging.getLogger(__name__)


def truth_sites(
    truth_bed, designed_bed, epi: pd.DataFrame, mpra: pd.DataFrame, ood: pd.DataFrame, input_length: int
) -> pd.DataFrame:
    """Planted motif instances in the coordinates of each data set's stored `sequence`.

    Attribution and motif checks compare against these positions. Only instances wholly
    inside a sequence count; MPRA positions include the left flank.
    """
    planted = read_planted_motifs(truth_bed)
    designed = read_planted_motifs(designed_bed)
    rows = []

    def add(dataset, seq_id, sites, origin, shift):
        for s in sites.itertuples():
            rows.append(
                (
                    dataset,
                    seq_id,
                    s.start - origin + shift,
                    s.end - origin + shift,
                    s.strand,
                    s.motif_id,
                    s.motif_name,
                    s.tf_family,
                    s.score,
                )
            )

    for dataset, frame in (("epi", epi), ("mpra", mpra)):
        for chrom, group in frame.groupby("chrom"):
            sites = planted[planted.chrom == chrom]
            for row in group.itertuples():
                if dataset == "epi":
                    lo, hi, shift = row.start, row.end, 0
                else:
                    lo, hi, shift = row.start, row.start + len(row.insert), (input_length - len(row.insert)) // 2
                add(dataset, row.seq_id, sites[(sites.start >= lo) & (sites.end <= hi)], lo, shift)
    for seq_id, insert in zip(ood.seq_id, ood["insert"]):
        add("ood", seq_id, designed[designed.chrom == seq_id], 0, (input_length - len(insert)) // 2)
    out = pd.DataFrame(
        rows, columns=["dataset", "seq_id", "start", "end", "strand", "motif_id", "motif_name", "tf_family", "score"]
    )
    return out.sort_values(["dataset", "seq_id", "start"]).reset_index(drop=True)


def run_truth_sites(truth_bed, designed_bed, epi_path, mpra_path, ood_path, input_length: int, out) -> pd.DataFrame:
    """The `truth_sites` job: map the planted motifs into the EPI, MPRA and OOD sequences."""
    sites = truth_sites(
        truth_bed, designed_bed, read_table(epi_path), read_table(mpra_path), read_table(ood_path), input_length
    )
    write_table(sites, out)
    log.info("truth sites per data set: %s", sites.dataset.value_counts().to_dict())
    return sites
