"""Keep the configured chromosomes of the source genome; validate, index, list gaps."""

from crelens.data.genome import run_prepare_genome
from crelens.runlog import logged

with logged(snakemake.log[0]):
    run_prepare_genome(
        snakemake.input[0],
        snakemake.output.fasta,
        snakemake.output.contigs,
        snakemake.output.gaps,
        snakemake.params.chromosomes,
    )
