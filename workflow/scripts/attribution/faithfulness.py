"""Perturbation curves (MoRF/LeRF) and planted-motif recovery of every attribution method."""

from crelens.attribution.faithfulness import run_faithfulness
from crelens.runlog import logged

with logged(snakemake.log[0]):
    run_faithfulness(
        snakemake.wildcards.task,
        snakemake.input.weights,
        snakemake.params.attributions,
        snakemake.output.scores,
        snakemake.output.curves,
        table_path=snakemake.input.table,
        cells=snakemake.params.cells,
        settings=snakemake.params.settings,
        n_as=snakemake.params.n_as,
        encoder_folder=snakemake.params.encoder_folder,
        sites_path=snakemake.input.get("sites"),
        design_motifs=snakemake.params.motifs,
        threads=snakemake.threads,
    )
