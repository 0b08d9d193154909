"""One exception for bad input (crelens.errors): the message names the file, the line and the problem."""

from __future__ import annotations

import pytest

from crelens.errors import InputError


def test_message_names_file_line_and_problem(tmp_path):
    err = InputError(tmp_path / "peaks.bed", "start > end", line=12)
    assert str(err) == f"{tmp_path / 'peaks.bed'}, line 12: start > end"
    assert (err.path, err.line, err.problem) == (str(tmp_path / "peaks.bed"), 12, "start > end")


def test_without_a_file_the_configuration_is_blamed():
    err = InputError(None, "splits: chr7 is in both val and test")
    assert str(err) == "configuration: splits: chr7 is in both val and test"
    assert err.path is None and err.line is None


def test_is_a_value_error():
    with pytest.raises(ValueError):
        raise InputError("x.tsv", "bad")
