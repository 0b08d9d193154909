"""Train the joint pipeline (one attention trunk for MPRA and EPI) from scratch."""

from crelens.fit import fit_joint
from crelens.runlog import logged

with logged(snakemake.log[0]):
    fit_joint(
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
