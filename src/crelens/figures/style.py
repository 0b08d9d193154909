"""What every report figure shares: one way to save, and one colour per split, class and method.

Report figures are PNGs written atomically, without software metadata (so reruns are
byte-identical), each closed after saving. The paper figures (`crelens.figures.paper`) add a
fixed journal style on top of these colours.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from crelens.atomic import atomic_path  # noqa: E402

SPLIT_COLOURS = {"train": "#4C72B0", "val": "#DD8452", "test": "#55A868", "ood": "#C44E52"}
DATASET_COLOURS = {"epi": "#8172B3", "mpra": "#4C72B0", "ood": "#C44E52"}
CLASS_COLOURS = {"enhancer": "#8172B3", "promoter": "#DA8BC3", "intergenic": "#8C8C8C"}
METHOD_COLOURS = {
    "lrp": "#C44E52",
    "grad_x_input": "#4C72B0",
    "integrated_gradients": "#55A868",
    "smoothgrad": "#8172B3",
    "ism": "#DD8452",
    "random": "#8C8C8C",
}


def save(fig, path, dpi: int = 150) -> None:
    """Write `fig` to `path` atomically (format from the suffix) and close it."""
    suffix = "." + str(path).rsplit(".", 1)[-1]
    with atomic_path(path, suffix=suffix) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", metadata={"Software": None} if suffix == ".png" else None)
    plt.close(fig)
