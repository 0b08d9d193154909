"""Score the simulator's noise-free activity like a model (synthetic data only)."""

from crelens.evaluation.evaluate import run_evaluate_noise_ceiling
from crelens.runlog import logged

with logged(snakemake.log[0]):
    run_evaluate_noise_ceiling(
        snakemake.input.truth,
        snakemake.input.variants,
        snakemake.params.tables,
        snakemake.params.cells,
        snakemake.params.settings,
        snakemake.params.seed,
        snakemake.output.predictions,
        snakemake.output.metrics,
    )
