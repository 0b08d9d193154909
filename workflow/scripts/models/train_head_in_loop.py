"""Train one head with the encoder in the loop (heads.aug_mode full or finetune)."""

import os

from crelens.models.fit import run_train_head_in_loop
from crelens.runlog import logged

with logged(snakemake.log[0]):
    run_train_head_in_loop(
        snakemake.wildcards.task,
        snakemake.wildcards.head,
        snakemake.wildcards.aug,
        snakemake.input.table,
        os.path.dirname(snakemake.input.encoder),
        snakemake.params.cells,
        snakemake.params.settings,
        snakemake.params.in_loop,
        snakemake.params.seed,
        snakemake.output.weights,
        snakemake.output.metrics,
        snakemake.output.curve,
        snakemake.output.shifted,
        bins=snakemake.params.bins,
        n_as=snakemake.params.n_as,
        threads=snakemake.threads,
    )
