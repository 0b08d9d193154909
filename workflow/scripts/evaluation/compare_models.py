"""Collect every model's evaluation into the comparison table, paired tests and figures."""

from crelens.evaluation.comparison import run_compare_models
from crelens.runlog import logged

with logged(snakemake.log[0]):
    run_compare_models(
        snakemake.params.metrics,
        snakemake.params.predictions,
        snakemake.params.train_metrics,
        snakemake.params.curves,
        snakemake.params.cells,
        snakemake.params.settings,
        snakemake.params.seed,
        {
            "comparison_tsv": snakemake.output.comparison,
            "comparison_md": snakemake.output.markdown,
            "paired_tsv": snakemake.output.paired,
            "models_tsv": snakemake.output.models,
            "aug_modes_tsv": snakemake.output.aug_modes,
            "distillation_tsv": snakemake.output.distillation,
            "bars_png": snakemake.output.bars,
            "scatter_png": snakemake.output.scatter,
            "curves_png": snakemake.output.curves,
            **({"confusion_png": snakemake.output.confusion} if "confusion" in snakemake.output.keys() else {}),
        },
        notes=snakemake.params.notes,
    )
