"""Export the run's JASPAR motif database in MEME format."""

from crelens.data.jaspar import run_jaspar
from crelens.runlog import logged

with logged(snakemake.log[0]):
    run_jaspar(snakemake.output[0], snakemake.params.release, snakemake.input[0] if snakemake.input else None)
