"""Map planted motifs (simulation truth) into each data set's sequence coordinates."""

from crelens.datasets import truth_sites
from crelens.io import read_table, write_table
from crelens.runlog import logged

with logged(snakemake.log[0]) as log:
    sites = truth_sites(
        snakemake.input.planted,
        snakemake.input.designed,
        read_table(snakemake.input.epi),
        read_table(snakemake.input.mpra),
        read_table(snakemake.input.ood),
        snakemake.params.input_length,
    )
    write_table(sites, snakemake.output[0])
    log.info("truth sites per data set: %s", sites.dataset.value_counts().to_dict())
