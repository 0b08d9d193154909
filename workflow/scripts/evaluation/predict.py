"""Score new inputs (a FASTA, or a VCF on a genome) with a trained model; relevance on request."""

from pathlib import Path

from crelens.evaluation.new_sequences import run_predict
from crelens.runlog import logged

with logged(snakemake.log[0]):
    settings = snakemake.params.predict
    run_predict(
        snakemake.input.sequences,
        dict(snakemake.output.items()),
        model_path=snakemake.input.weights,
        model_name=settings["model"],
        task=settings["task"],
        table_path=snakemake.input.table,
        cells=snakemake.params.cells,
        length=snakemake.params.length,
        genome_path=snakemake.input.get("genome"),
        encoder_folder=Path(snakemake.input.encoder).parent if "encoder" in snakemake.input.keys() else None,
        bins=snakemake.params.bins,
        n_as=snakemake.params.n_as,
        relevance_method=settings["method"] if settings["relevance"] else None,
        settings=snakemake.params.settings,
        seed=snakemake.params.seed,
        threads=snakemake.threads,
    )
