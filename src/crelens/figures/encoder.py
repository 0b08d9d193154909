"""The encoder's pretraining loss curve (rule encoder_loss_curve)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from crelens.figures.style import save  # noqa: E402
from crelens.tables import read_table  # noqa: E402


def loss_curve(curve: pd.DataFrame, path) -> None:
    """What the encoder learned: masked-LM loss against what base composition alone gives, and
    (when the planted motifs are known) masked-token accuracy inside motifs against background."""
    motifs = "val_accuracy_motif" in curve and curve.val_accuracy_motif.notna().any()
    fig, axes = plt.subplots(1, 2 if motifs else 1, figsize=(11 if motifs else 6.5, 4), squeeze=False)
    ax = axes[0, 0]
    ax.plot(curve.step, curve.train_loss, color="#BBBBBB", linewidth=0.8, label="train (per step)")
    smooth = curve.train_loss.rolling(max(1, len(curve) // 20), min_periods=1).mean()
    ax.plot(curve.step, smooth, color="#4C72B0", label="train (moving mean)")
    val = curve.dropna(subset=["val_loss"])
    ax.plot(val.step, val.val_loss, "o-", color="#C44E52", label="validation chromosomes")
    if "composition_loss" in curve:
        ax.axhline(
            float(curve.composition_loss.iloc[0]),
            linestyle="--",
            color="#55A868",
            linewidth=1,
            label="base composition of each window",
        )
    ax.axhline(np.log(4), linestyle=":", color="black", linewidth=0.8, label="uniform guess (ln 4)")
    ax.set(xlabel="step", ylabel="masked-LM cross-entropy (nats)", title="Caduceus pretraining: masked-LM loss")
    ax.legend(fontsize=7)
    if motifs:
        ax = axes[0, 1]
        accuracy = curve.dropna(subset=["val_accuracy_motif"])
        ax.plot(accuracy.step, accuracy.val_accuracy_motif, "o-", color="#C44E52", label="inside planted motifs")
        ax.plot(accuracy.step, accuracy.val_accuracy_background, "o-", color="#8C8C8C", label="background positions")
        ax.set(
            xlabel="step",
            ylabel="masked-token accuracy (validation)",
            title="Does the encoder know the motifs?",
        )
        ax.legend(fontsize=7)
    fig.tight_layout()
    save(fig, path)


def run_encoder_loss_curve(curve_path, out) -> None:
    """The `encoder_loss_curve` job: the figure of the pretraining loss curve table."""
    loss_curve(read_table(curve_path), out)
