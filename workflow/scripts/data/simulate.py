"""Simulate the offline world (genome, annotations, lentiMPRA tables, truth)."""

from crelens.data.simulate import run_simulate
from crelens.runlog import logged

with logged(snakemake.log[0]):
    run_simulate(
        snakemake.params.synthetic,
        chrom_sizes=snakemake.input.sizes,
        jaspar_release=snakemake.params.release,
        cells=snakemake.params.cells,
        chromosomes=snakemake.params.chromosomes,
        variant_chromosomes=snakemake.params.variant_chromosomes,
        seed=snakemake.params.seed,
        outdir=snakemake.params.outdir,
    )
