"""Train a sparse-attention student on the full-attention teacher's outputs (distillation)."""

from crelens.models.fit import run_train_distilled
from crelens.runlog import logged

with logged(snakemake.log[0]):
    run_train_distilled(
        snakemake.wildcards.task,
        snakemake.wildcards.student,
        snakemake.input.table,
        snakemake.input.teacher,
        snakemake.params.cells,
        snakemake.params.settings,
        snakemake.params.seed,
        snakemake.output.weights,
        snakemake.output.metrics,
        snakemake.output.curve,
        threads=snakemake.threads,
    )
