"""Build the MPRA regression set and its SNV-pair and OOD test sets."""

from crelens.datasets import build_mpra
from crelens.io import write_table
from crelens.runlog import logged

with logged(snakemake.log[0]) as log:
    cells = snakemake.params.cells
    mpra, snv, ood = build_mpra(
        {cell: snakemake.input[f"mpra_{cell}"] for cell in cells},
        snakemake.input.contigs,
        snakemake.params.mpra,
        snakemake.params.splits,
        cells,
        homology=snakemake.params.homology,
        variant_truth=snakemake.input.get("variant_truth"),
    )
    write_table(mpra, snakemake.output.mpra)
    write_table(snv, snakemake.output.snv)
    write_table(ood, snakemake.output.ood)
    log.info("MPRA %s; SNV pairs %d; OOD %d", mpra.split.value_counts().to_dict(), len(snv), len(ood))
