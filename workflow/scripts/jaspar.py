"""Export the run's JASPAR motif database in MEME format."""

from crelens.motifs_db import export_jaspar
from crelens.runlog import logged

with logged(snakemake.log[0]) as log:
    source = snakemake.input[0] if snakemake.input else None
    count = export_jaspar(snakemake.output[0], snakemake.params.release, source)
    log.info("wrote %d motifs (%s)", count, source or f"pyjaspar {snakemake.params.release}")
