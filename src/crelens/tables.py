"""Tidy tables on disk: Parquet for model-ready data, TSV for everything a person reads.

Why one reader and one writer: every stage passes tables to the next, and the same conventions
(atomic writes, no index column, "\n" line ends, 6 significant digits in TSV, empty cells as
NaN) keep reruns byte-identical and every file readable by the next rule.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from crelens.atomic import atomic_open, atomic_path
from crelens.errors import InputError


def write_table(frame: pd.DataFrame, path) -> None:
    """Write a tidy table atomically: Parquet for `.parquet`, TSV (optionally .gz) otherwise."""
    path = Path(path)
    if path.suffix == ".parquet":
        with atomic_path(path, suffix=".parquet") as tmp:
            frame.to_parquet(tmp, index=False, engine="pyarrow")
    else:
        with atomic_open(path, "w") as handle:
            frame.to_csv(handle, sep="\t", index=False, lineterminator="\n", float_format="%.6g")


def read_table(path) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise InputError(path, "file does not exist")
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, sep="\t", keep_default_na=False, na_values=[""])
