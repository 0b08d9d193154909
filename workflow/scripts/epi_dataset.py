"""Build the enhancer / promoter / intergenic classification set."""

from crelens.datasets import build_epi
from crelens.io import write_table
from crelens.runlog import logged

with logged(snakemake.log[0]) as log:
    epi = build_epi(
        snakemake.input.genome,
        snakemake.input.contigs,
        snakemake.input.promoters,
        snakemake.input.ccres,
        snakemake.input.gaps,
        snakemake.params.epi,
        snakemake.params.splits,
        snakemake.params.seed,
        homology=snakemake.params.homology,
    )
    write_table(epi, snakemake.output[0])
    log.info("EPI set:\n%s", epi.groupby(["split", "label"]).size().to_string())
