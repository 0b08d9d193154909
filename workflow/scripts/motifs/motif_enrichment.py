"""Seqlets from one attribution source, scanned against JASPAR, enrichment vs background."""

from crelens.motifs.enrichment import run_motif_enrichment
from crelens.runlog import logged

with logged(snakemake.log[0]):
    run_motif_enrichment(
        snakemake.params.attributions,
        snakemake.input.meme,
        snakemake.params.release,
        snakemake.params.settings,
        snakemake.params.seed,
        snakemake.output.enrichment,
        snakemake.output.seqlets,
    )
