"""The primary source's enrichment table and truth check, and the motif figures."""

from crelens.motifs.summary import run_summarise_motifs
from crelens.runlog import logged

with logged(snakemake.log[0]):
    run_summarise_motifs(dict(snakemake.input.items()), dict(snakemake.output.items()), qvalue=snakemake.params.qvalue)
