"""Train the joint pipeline (one attention trunk for MPRA and EPI) from scratch."""

from crelens.models.fit import run_train_joint
from crelens.runlog import logged

with logged(snakemake.log[0]):
    run_train_joint(
        snakemake.input.mpra,
        snakemake.input.epi,
        snakemake.params.cells,
        snakemake.params.settings,
        snakemake.params.seed,
        snakemake.output.weights,
        snakemake.output.metrics,
        snakemake.output.curve,
        threads=snakemake.threads,
    )
