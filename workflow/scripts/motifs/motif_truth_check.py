"""Recall and false-discovery share of planted motif families (synthetic truth)."""

from crelens.motifs.truth_check import run_motif_truth_check
from crelens.runlog import logged

with logged(snakemake.log[0]):
    run_motif_truth_check(
        snakemake.input.enrichment,
        snakemake.input.matches,
        snakemake.params.attributions,
        snakemake.input.sites,
        snakemake.params.motifs,
        snakemake.params.settings,
        snakemake.output[0],
    )
