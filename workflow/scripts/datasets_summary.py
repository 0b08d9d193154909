"""Summary table and overview figure of the data sets."""

from crelens.io import read_table, write_table
from crelens.plots import datasets_overview
from crelens.runlog import logged
from crelens.summary import datasets_summary

with logged(snakemake.log[0]):
    tables = {key: read_table(path) for key, path in snakemake.input.items()}
    cells = snakemake.params.cells
    summary = datasets_summary(
        tables["epi"], tables["mpra"], tables["snv"], tables["ood"], cells, tables.get("ceiling")
    )
    write_table(summary, snakemake.output.table)
    datasets_overview(
        tables["epi"], tables["mpra"], tables["snv"], tables["ood"], cells,
        snakemake.output.figure, tables.get("sites"),
    )
