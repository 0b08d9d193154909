"""Cache frozen-encoder features of one data set column (canonical + reverse complement)."""

from pathlib import Path

from crelens.encoder.features import run_cache_embeddings
from crelens.runlog import logged

with logged(snakemake.log[0]):
    cache = snakemake.params.cache
    run_cache_embeddings(
        snakemake.input.table,
        snakemake.params.column,
        Path(snakemake.input.weights).parent,
        snakemake.output[0],
        bins=cache["bins"],
        shard_size=cache["shard_size"],
        batch_size=cache["batch_size"],
        n_as=snakemake.params.n_as,
        threads=snakemake.threads,
    )
