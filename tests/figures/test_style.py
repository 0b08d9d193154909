"""Saving report figures (crelens.figures.style): atomic, closed, byte-identical on rerun."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

from crelens.figures.style import CLASS_COLOURS, METHOD_COLOURS, SPLIT_COLOURS, save
from crelens.names import ATTRIBUTION_METHODS, EPI_CLASSES, SPLITS

from snakemake_runner import part_files


def figure():
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1, 2], [1, 0, 1])
    ax.set_title("a figure")
    return fig


def test_save_writes_a_png_and_closes_the_figure(tmp_path):
    fig = figure()
    save(fig, tmp_path / "out" / "a.png")
    assert (tmp_path / "out/a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert fig.number not in plt.get_fignums()


def test_saving_twice_is_byte_identical(tmp_path):
    save(figure(), tmp_path / "a.png")
    save(figure(), tmp_path / "b.png")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_a_failed_save_leaves_nothing(tmp_path, monkeypatch):
    fig = figure()

    def broken(*args, **kwargs):
        raise RuntimeError("renderer failed")

    monkeypatch.setattr(fig, "savefig", broken)
    with pytest.raises(RuntimeError, match="renderer failed"):
        save(fig, tmp_path / "a.png")
    assert not (tmp_path / "a.png").exists()
    assert part_files(tmp_path) == []


def test_every_split_class_and_method_has_a_colour():
    assert set(SPLITS) <= set(SPLIT_COLOURS)
    assert set(EPI_CLASSES) == set(CLASS_COLOURS)
    assert set(ATTRIBUTION_METHODS) == set(METHOD_COLOURS)
