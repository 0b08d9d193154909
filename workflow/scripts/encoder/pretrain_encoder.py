"""Pretrain a small Caduceus (masked LM) on the training chromosomes, or on a table's training rows."""

from pathlib import Path

from crelens.encoder.pretrain import run_pretrain_encoder
from crelens.runlog import logged

with logged(snakemake.log[0]):
    run_pretrain_encoder(
        snakemake.input.get("genome"),
        snakemake.input.get("contigs"),
        snakemake.params.splits,
        snakemake.params.pretrain,
        snakemake.params.seed,
        snakemake.params.n_as,
        Path(snakemake.output.weights).parent,
        snakemake.output.curve,
        promoters_bed=snakemake.input.get("promoters"),
        ccres_bed=snakemake.input.get("ccres"),
        planted_bed=snakemake.input.get("planted"),
        threads=snakemake.threads,
        table=snakemake.input.get("table"),
    )
