"""Tidy tables on disk (crelens.tables): Parquet and TSV round trips, NaN cells, missing files."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from crelens.tables import read_table, write_table

from helpers import expect_input_error

# ----------------------------------------------------------------------------------- tables


def _frame():
    return pd.DataFrame(
        {
            "name": ["a", "b", "NA", "c d"],
            "count": [1, 2, 3, -4],
            "value": [0.5, 1.0 / 3.0, -2.25e-7, 1234567.0],
            "flag": [True, False, True, False],
        }
    )


def test_table_round_trip_parquet(tmp_path):
    frame = _frame()
    path = tmp_path / "t.parquet"
    write_table(frame, path)
    assert list(tmp_path.iterdir()) == [path]
    pd.testing.assert_frame_equal(read_table(path), frame)


@pytest.mark.parametrize("name", ["t.tsv", "t.tsv.gz"])
def test_table_round_trip_tsv(tmp_path, name):
    frame = _frame()
    path = tmp_path / name
    write_table(frame, path)
    assert list(tmp_path.iterdir()) == [path]
    back = read_table(path)
    assert list(back.columns) == list(frame.columns)
    assert back.name.tolist() == frame.name.tolist()  # "NA" stays a string
    assert back["count"].tolist() == frame["count"].tolist()
    assert back.flag.tolist() == frame.flag.tolist()
    np.testing.assert_allclose(back.value, frame.value, rtol=1e-5)
    if name.endswith(".gz"):
        raw = path.read_bytes()
        assert raw[:2] == b"\x1f\x8b"
        write_table(frame, tmp_path / "again.tsv.gz")
        assert (tmp_path / "again.tsv.gz").read_bytes() == raw
        assert gzip.decompress(raw).decode().splitlines()[0] == "name\tcount\tvalue\tflag"


def test_table_tsv_empty_cell_is_nan(tmp_path):
    path = tmp_path / "t.tsv"
    write_table(pd.DataFrame({"a": ["x", None], "b": [1.0, float("nan")]}), path)
    back = read_table(path)
    assert back.a.tolist()[0] == "x" and pd.isna(back.a.tolist()[1])
    assert pd.isna(back.b[1])


def test_read_table_missing(tmp_path):
    path = tmp_path / "t.parquet"
    expect_input_error(lambda: read_table(path), path, "does not exist")
