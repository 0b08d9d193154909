"""TF-MoDISco lite on one attribution source; patterns matched to JASPAR; HTML report."""

from crelens.motifs.denovo import run_denovo_motifs
from crelens.runlog import logged

with logged(snakemake.log[0]):
    run_denovo_motifs(
        snakemake.params.attributions,
        snakemake.input.meme,
        snakemake.params.release,
        snakemake.params.settings,
        snakemake.output.h5,
        snakemake.output.matches,
        snakemake.output.report,
    )
