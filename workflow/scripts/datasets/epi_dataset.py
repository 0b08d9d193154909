"""Build the enhancer / promoter / intergenic classification set."""

from crelens.datasets.epi import run_epi_dataset
from crelens.runlog import logged

with logged(snakemake.log[0]):
    run_epi_dataset(
        snakemake.input.genome,
        snakemake.input.contigs,
        snakemake.input.promoters,
        snakemake.input.ccres,
        snakemake.input.gaps,
        snakemake.params.epi,
        snakemake.params.splits,
        snakemake.params.seed,
        snakemake.output[0],
        homology=snakemake.params.homology,
    )
