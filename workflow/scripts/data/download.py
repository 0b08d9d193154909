"""Download one source file: checksummed, retried, written atomically."""

from crelens.data.download import run_download
from crelens.runlog import logged

with logged(snakemake.log[0]):
    run_download(
        snakemake.params.url,
        snakemake.output[0],
        md5=snakemake.params.md5,
        sha256=snakemake.params.sha256,
        max_bytes=snakemake.params.max_bytes,
        retries=snakemake.params.retries,
        timeout=snakemake.params.timeout,
    )
