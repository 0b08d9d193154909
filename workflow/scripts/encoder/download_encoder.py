"""Download a pinned revision of published Caduceus weights."""

from pathlib import Path

from crelens.encoder.hub import run_download_encoder
from crelens.runlog import logged

with logged(snakemake.log[0]):
    run_download_encoder(
        snakemake.params.repo_id,
        snakemake.params.revision,
        Path(snakemake.output.weights).parent,
    )
