"""The primary attribution source's truth check as the stage's headline table."""

from crelens.io import read_table, write_table
from crelens.runlog import logged

with logged(snakemake.log[0]):
    write_table(read_table(snakemake.input[0]), snakemake.output[0])
