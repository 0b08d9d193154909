"""A user's own MPRA table (crelens.data.table): formats, adaptors, and each bad input named."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest

from crelens.data.table import read_activity_table
from crelens.errors import InputError
from crelens.sequences import LENTIMPRA_ADAPTOR_3, LENTIMPRA_ADAPTOR_5

SPEC = {"sequence": "seq", "id": "name", "activity": {"K562": "k562"}, "adaptors": "auto"}
ROWS = pd.DataFrame(
    {
        "name": ["a", "b", "c"],
        "seq": [LENTIMPRA_ADAPTOR_5 + "ACGTACGTAA" + LENTIMPRA_ADAPTOR_3, "acgtnacgta", "GGGGCCCCAA"],
        "k562": ["0.5", "-1.25", "2"],
        "fold": ["train", "val", "test"],
    }
)


def write(tmp_path, frame: pd.DataFrame, name: str = "lib.tsv"):
    path = tmp_path / name
    if name.endswith(".parquet"):
        frame.to_parquet(path)
    elif name.endswith(".gz"):
        with gzip.open(path, "wt") as out:
            frame.to_csv(out, sep="," if ".csv" in name else "\t", index=False)
    else:
        frame.to_csv(path, sep="," if name.endswith(".csv") else "\t", index=False)
    return path


@pytest.mark.parametrize("name", ["lib.tsv", "lib.csv", "lib.tsv.gz", "lib.csv.gz", "lib.parquet"])
def test_every_format_reads_the_same_rows(tmp_path, name):
    table = read_activity_table(write(tmp_path, ROWS, name), SPEC)
    assert list(table.seq_id) == ["a", "b", "c"]
    assert list(table["insert"]) == ["ACGTACGTAA", "ACGTNACGTA", "GGGGCCCCAA"]  # adaptors gone, upper case
    assert table.K562.tolist() == [0.5, -1.25, 2.0]
    assert list(table.line) == [2, 3, 4] and not table.designed.any()


def test_adaptors_none_keeps_them_and_row_numbers_are_ids(tmp_path):
    table = read_activity_table(write(tmp_path, ROWS), {**SPEC, "id": None, "adaptors": "none"})
    assert table["insert"][0].startswith(LENTIMPRA_ADAPTOR_5)
    assert list(table.seq_id) == ["row1", "row2", "row3"]


def test_own_adaptors_are_stripped(tmp_path):
    rows = ROWS.assign(seq=["TTTACGTCCC", "TTTGGGGCCC", "AAAA"])
    table = read_activity_table(write(tmp_path, rows), {**SPEC, "adaptors": ["ttt", "CCC"]})
    assert list(table["insert"]) == ["ACGT", "GGGG", "AAAA"]


@pytest.mark.parametrize(
    ("change", "spec", "message", "line"),
    [
        (None, {"activity": {"K562": "k562_lfc"}}, "no column 'k562_lfc'", 1),
        (None, {"sequence": "sequence"}, "no column 'sequence'", 1),
        (("seq", 1, "ACGUACGT"), {}, "letter 'U' at position 4", 3),
        (("name", 2, "a"), {}, "duplicate id 'a' (first on line 2)", 4),
        (("k562", 1, "NaN"), {}, "not a finite number: 'NaN'", 3),
        (("k562", 2, "inf"), {}, "not a finite number: 'inf'", 4),
        (("k562", 0, "high"), {}, "not a finite number: 'high'", 2),
        (("seq", 2, ""), {}, "empty sequence", 4),
    ],
)
def test_bad_input_names_file_line_and_problem(tmp_path, change, spec, message, line):
    rows = ROWS.copy()
    if change:
        column, row, value = change
        rows.loc[row, column] = value
    path = write(tmp_path, rows)
    with pytest.raises(InputError) as caught:
        read_activity_table(path, {**SPEC, **spec})
    assert caught.value.path == str(path) and caught.value.line == line
    assert message in str(caught.value)


def test_missing_empty_and_unknown_reference(tmp_path):
    with pytest.raises(InputError, match="file does not exist"):
        read_activity_table(tmp_path / "none.tsv", SPEC)
    (tmp_path / "empty.tsv").write_text("")
    with pytest.raises(InputError, match="empty"):
        read_activity_table(tmp_path / "empty.tsv", SPEC)
    (tmp_path / "header.tsv").write_text("name\tseq\tk562\n")
    with pytest.raises(InputError, match="no rows"):
        read_activity_table(tmp_path / "header.tsv", SPEC)
    rows = ROWS.assign(ref=["", "a", "zz"])
    with pytest.raises(InputError, match="variant_of names 'zz'") as caught:
        read_activity_table(write(tmp_path, rows), {**SPEC, "variant_of": "ref"})
    assert caught.value.line == 4


def test_designed_and_fold_columns(tmp_path):
    rows = ROWS.assign(designed=["no", "TRUE", "0"])
    spec = {**SPEC, "designed": "designed", "split": {"column": "fold", "val": ["val"], "test": ["test"]}}
    table = read_activity_table(write(tmp_path, rows), spec)
    assert table.designed.tolist() == [False, True, False] and list(table.fold) == ["train", "val", "test"]
    with pytest.raises(InputError, match="designed must be true or false, got 'maybe'"):
        read_activity_table(write(tmp_path, rows.assign(designed=["maybe", "1", "0"])), spec)


def test_a_real_lentimpra_table_reads_with_its_own_column_names():
    """Six rows of MPRA-LegNet's WTC11 test table (tests/fixtures/README.md): 230-nt oligos."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "fixtures/legnet_wtc11_test_head.tsv"
    table = read_activity_table(path, {"sequence": "seq", "activity": {"WTC11": "mean_value"}, "adaptors": "auto"})
    assert len(table) == 6 and list(table.seq_id) == [f"row{i}" for i in range(1, 7)]
    assert (table["insert"].str.len() == 200).all()  # the adaptors are gone, the element is left
    assert table.WTC11.tolist() == [-0.135, 0.214, 1.182, 1.311, -0.24, -0.579]
