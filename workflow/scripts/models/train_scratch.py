"""Train Malinois or an attention baseline from scratch on one-hot sequences."""

from crelens.models.fit import run_train_scratch
from crelens.runlog import logged

with logged(snakemake.log[0]):
    run_train_scratch(
        snakemake.wildcards.task,
        snakemake.wildcards.scratch,
        snakemake.input.table,
        snakemake.params.cells,
        snakemake.params.settings,
        snakemake.params.seed,
        snakemake.output.weights,
        snakemake.output.metrics,
        snakemake.output.curve,
        threads=snakemake.threads,
    )
