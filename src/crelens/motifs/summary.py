"""The motif stage's headline: the primary source's enrichment and truth check, and the figures."""

from __future__ import annotations

from crelens.data.jaspar import motif_table
from crelens.figures.motifs import enrichment_volcano, motif_logos, seqlet_positions
from crelens.motifs.denovo import read_patterns
from crelens.tables import read_table, write_table


def run_summarise_motifs(inputs: dict, outputs: dict, *, qvalue: float) -> None:
    """The `summarise_motifs` job: the primary source's enrichment table (and, on synthetic data,
    its truth check) as the stage's headline tables, and the figures.

    inputs: enrichment, seqlets, matches (de novo), modisco (h5), meme, and truth_check when the
    truth is known; outputs: enrichment, volcano, logos, positions, and truth_check likewise.
    """
    table = read_table(inputs["enrichment"])
    write_table(table, outputs["enrichment"])
    if "truth_check" in inputs:
        write_table(read_table(inputs["truth_check"]), outputs["truth_check"])
    enrichment_volcano(table[table.level == "family"], qvalue, outputs["volcano"])
    seqlet_positions(read_table(inputs["seqlets"]), outputs["positions"])
    matrices, meta = motif_table(inputs["meme"], None)
    motif_logos(
        table, matrices, meta, read_table(inputs["matches"]), read_patterns(inputs["modisco"]), qvalue, outputs["logos"]
    )
