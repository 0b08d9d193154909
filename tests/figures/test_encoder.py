"""The pretraining loss curve (crelens.figures.encoder): training, validation and the uniform guess."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from crelens.figures import encoder as figure_module
from crelens.tables import write_table


def curve() -> pd.DataFrame:
    steps = np.arange(1, 41)
    return pd.DataFrame(
        {
            "step": steps,
            "train_loss": 1.4 - 0.004 * steps,
            "val_loss": np.where(steps % 10 == 0, 1.35 - 0.002 * steps, np.nan),
        }
    )


def test_curve_draws_training_validation_and_the_uniform_guess(tmp_path, captured_figures):
    figures = captured_figures(figure_module)
    figure_module.loss_curve(curve(), tmp_path / "c.png")
    (fig,) = figures
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert set(lines) == {"train (per step)", "train (moving mean)", "validation chromosomes", "uniform guess (ln 4)"}
    assert list(lines["validation chromosomes"].get_xdata()) == [10, 20, 30, 40]
    assert lines["uniform guess (ln 4)"].get_ydata()[0] == math.log(4)


def test_job_reads_the_curve_table_and_writes_the_png(tmp_path):
    write_table(curve(), tmp_path / "curve.tsv")
    figure_module.run_encoder_loss_curve(tmp_path / "curve.tsv", tmp_path / "loss_curve.png")
    assert (tmp_path / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
