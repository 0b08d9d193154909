"""The stage's JASPAR motif database (MEME), validated by reading it back."""

from crelens.motifs_db import export_jaspar
from crelens.runlog import logged

with logged(snakemake.log[0]):
    export_jaspar(snakemake.output[0], snakemake.params.release, meme_source=snakemake.input[0])
