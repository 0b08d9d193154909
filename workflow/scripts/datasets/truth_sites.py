"""Map planted motifs (simulation truth) into each data set's sequence coordinates."""

from crelens.datasets.truth_sites import run_truth_sites
from crelens.runlog import logged

with logged(snakemake.log[0]):
    run_truth_sites(
        snakemake.input.planted,
        snakemake.input.designed,
        snakemake.input.epi,
        snakemake.input.mpra,
        snakemake.input.ood,
        snakemake.params.input_length,
        snakemake.output[0],
    )
