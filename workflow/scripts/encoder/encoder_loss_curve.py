"""Figure of the encoder's pretraining loss curve."""

from crelens.figures.encoder import run_encoder_loss_curve
from crelens.runlog import logged

with logged(snakemake.log[0]):
    run_encoder_loss_curve(snakemake.input[0], snakemake.output[0])
