"""Predict the test sets with one trained model and score them with bootstrap CIs."""

from crelens.evaluation.evaluate import run_evaluate
from crelens.runlog import logged

with logged(snakemake.log[0]):
    run_evaluate(
        snakemake.wildcards.task,
        snakemake.wildcards.model,
        snakemake.input.weights,
        snakemake.params.tables,
        snakemake.params.cells,
        snakemake.params.settings,
        snakemake.params.seed,
        snakemake.output.predictions,
        snakemake.output.metrics,
        cache_paths=snakemake.params.caches,
        sites_path=snakemake.input.get("sites"),
        threads=snakemake.threads,
    )
