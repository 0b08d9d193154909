"""Explain one model's predictions with one attribution method (LRP or a baseline)."""

from crelens.attribution.attribute import run_attribute
from crelens.runlog import logged

with logged(snakemake.log[0]):
    run_attribute(
        snakemake.wildcards.task,
        snakemake.wildcards.model,
        snakemake.wildcards.method,
        snakemake.wildcards.selection,
        snakemake.input.weights,
        snakemake.input.table,
        snakemake.output[0],
        cells=snakemake.params.cells,
        settings=snakemake.params.settings,
        seed=snakemake.params.seed,
        n_as=snakemake.params.n_as,
        encoder_folder=snakemake.params.encoder_folder,
        snv_path=snakemake.input.get("snv"),
        predictions_path=snakemake.input.get("predictions"),
        threads=snakemake.threads,
    )
