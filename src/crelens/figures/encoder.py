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
    """Masked-LM loss per step (training, smoothed) and on held-out validation windows."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.plot(curve.step, curve.train_loss, color="#BBBBBB", linewidth=0.8, label="train (per step)")
    smooth = curve.train_loss.rolling(max(1, len(curve) // 20), min_periods=1).mean()
    ax.plot(curve.step, smooth, color="#4C72B0", label="train (moving mean)")
    val = curve.dropna(subset=["val_loss"])
    ax.plot(val.step, val.val_loss, "o-", color="#C44E52", label="validation chromosomes")
    ax.axhline(np.log(4), linestyle=":", color="black", linewidth=0.8, label="uniform guess (ln 4)")
    ax.set(xlabel="step", ylabel="masked-LM cross-entropy (nats)", title="Caduceus pretraining")
    ax.legend()
    fig.tight_layout()
    save(fig, path)


def run_encoder_loss_curve(curve_path, out) -> None:
    """The `encoder_loss_curve` job: the figure of the pretraining loss curve table."""
    loss_curve(read_table(curve_path), out)
