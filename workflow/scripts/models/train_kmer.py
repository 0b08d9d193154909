"""Fit the k-mer reference model (kmer_ridge) of one task; k and penalty chosen on validation."""

from crelens.models.fit import run_train_kmer
from crelens.runlog import logged

with logged(snakemake.log[0]):
    run_train_kmer(
        snakemake.wildcards.task,
        snakemake.input.table,
        snakemake.params.cells,
        snakemake.params.settings,
        snakemake.params.seed,
        snakemake.output.weights,
        snakemake.output.metrics,
        snakemake.output.curve,
        threads=snakemake.threads,
    )
