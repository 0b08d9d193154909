"""TF-MoDISco lite on one attribution source; patterns matched to JASPAR; HTML report."""

from crelens.motif_analysis import run_denovo
from crelens.runlog import logged

with logged(snakemake.log[0]):
    run_denovo(
        snakemake.params.attributions,
        snakemake.input.meme,
        snakemake.params.release,
        snakemake.params.settings,
        snakemake.output.h5,
        snakemake.output.matches,
        snakemake.output.report,
    )
