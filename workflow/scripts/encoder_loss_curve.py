"""Figure of the encoder's pretraining loss curve."""

from crelens.io import read_table
from crelens.plots import loss_curve
from crelens.runlog import logged

with logged(snakemake.log[0]):
    loss_curve(read_table(snakemake.input[0]), snakemake.output[0])
