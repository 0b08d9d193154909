"""The primary source's enrichment table and truth check, and the motif figures."""

from crelens.motif_analysis import run_summary
from crelens.runlog import logged

with logged(snakemake.log[0]):
    run_summary(dict(snakemake.input.items()), dict(snakemake.output.items()), qvalue=snakemake.params.qvalue)
