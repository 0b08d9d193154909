"""Summary table and overview figure of the data sets."""

from crelens.datasets.overview import run_datasets_summary
from crelens.runlog import logged

with logged(snakemake.log[0]):
    run_datasets_summary(
        dict(snakemake.input.items()),
        snakemake.params.cells,
        snakemake.output.table,
        snakemake.output.figure,
    )
