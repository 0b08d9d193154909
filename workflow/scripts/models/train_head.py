"""Train one adapter head on cached encoder features."""

from crelens.models.fit import run_train_head
from crelens.runlog import logged

with logged(snakemake.log[0]):
    run_train_head(
        snakemake.wildcards.task,
        snakemake.wildcards.head,
        snakemake.input.table,
        snakemake.input.cache,
        snakemake.params.cells,
        snakemake.params.settings,
        snakemake.params.seed,
        snakemake.output.weights,
        snakemake.output.metrics,
        snakemake.output.curve,
        threads=snakemake.threads,
    )
