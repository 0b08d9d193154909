"""The pretraining loss curve (crelens.figures.encoder): training, validation and the uniform guess."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from crelens.figures import encoder as figure_module
from crelens.tables import write_table


def curve(motifs: bool = False) -> pd.DataFrame:
    steps = np.arange(1, 41)
    evaluated = steps % 10 == 0
    frame = pd.DataFrame(
        {
            "step": steps,
            "train_loss": 1.4 - 0.004 * steps,
            "val_loss": np.where(evaluated, 1.35 - 0.002 * steps, np.nan),
            "composition_loss": 1.34,
        }
    )
    if motifs:
        frame["val_accuracy_motif"] = np.where(evaluated, 0.3 + 0.01 * steps, np.nan)
        frame["val_accuracy_background"] = np.where(evaluated, 0.3, np.nan)
    return frame


def test_curve_draws_training_validation_and_the_uniform_guess(tmp_path, captured_figures):
    figures = captured_figures(figure_module)
    figure_module.loss_curve(curve(), tmp_path / "c.png")
    (fig,) = figures
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert set(lines) == {
        "train (per step)",
        "train (moving mean)",
        "validation chromosomes",
        "base composition of each window",
        "uniform guess (ln 4)",
    }
    assert lines["base composition of each window"].get_ydata()[0] == 1.34
    assert len(fig.axes) == 1  # no planted motifs known: no accuracy panel
    assert list(lines["validation chromosomes"].get_xdata()) == [10, 20, 30, 40]
    assert lines["uniform guess (ln 4)"].get_ydata()[0] == math.log(4)


def test_job_reads_the_curve_table_and_writes_the_png(tmp_path):
    write_table(curve(), tmp_path / "curve.tsv")
    figure_module.run_encoder_loss_curve(tmp_path / "curve.tsv", tmp_path / "loss_curve.png")
    assert (tmp_path / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_with_planted_motifs_the_accuracy_inside_motifs_is_drawn_against_background(tmp_path, captured_figures):
    figures = captured_figures(figure_module)
    figure_module.loss_curve(curve(motifs=True), tmp_path / "c.png")
    (fig,) = figures
    assert fig.axes[1].get_title() == "Does the encoder know the motifs?"
    lines = {line.get_label(): line for line in fig.axes[1].get_lines()}
    np.testing.assert_allclose(lines["inside planted motifs"].get_ydata(), [0.4, 0.5, 0.6, 0.7])
    np.testing.assert_allclose(lines["background positions"].get_ydata(), [0.3] * 4)
