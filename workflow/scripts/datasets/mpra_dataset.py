"""Build the MPRA regression set and its SNV-pair and OOD test sets."""

from crelens.datasets.mpra import run_mpra_dataset
from crelens.runlog import logged

with logged(snakemake.log[0]):
    cells = snakemake.params.cells
    table = snakemake.params.table
    run_mpra_dataset(
        {"table": snakemake.input.table} if table else {cell: snakemake.input[f"mpra_{cell}"] for cell in cells},
        snakemake.input.get("contigs"),
        snakemake.params.mpra,
        snakemake.params.splits,
        cells,
        dict(snakemake.output.items()),
        homology=snakemake.params.homology,
        variant_truth=snakemake.input.get("variant_truth"),
        table_spec=table,
        seed=snakemake.params.seed,
    )
