"""The EPI classification set (crelens.datasets.epi): windows, class balance, weights, empty classes."""

from __future__ import annotations

import numpy as np
import pytest

from crelens.datasets.epi import build_epi
from crelens.errors import InputError
from crelens.names import EPI_CLASSES


def test_epi_windows_and_balance(built):
    config, _, _, epi, *_ = built
    width = config["datasets"]["epi"]["window_bp"]
    assert ((epi.end - epi.start) == width).all() and (epi.sequence.str.len() == width).all()
    assert epi.seq_id.is_unique
    counts = epi.groupby(["split", "label"]).size().unstack()
    assert list(counts.columns) == sorted(EPI_CLASSES)
    assert (counts.nunique(axis=1) == 1).all()  # downsampled: equal classes within each split
    assert (epi.n_share == 0).all()
    assert dict(zip(epi.label, epi.label_id)) == {c: i for i, c in enumerate(EPI_CLASSES)}


def test_epi_weight_mode_and_empty_class(built):
    config, _, paths, *_ = built
    cfg = dict(config["datasets"]["epi"], balance="weight")
    weighted = build_epi(
        paths["genome"], paths["contigs"], paths["promoters"], paths["ccres"], paths["gaps"], cfg, config["splits"], 7
    )
    for _, part in weighted.groupby("split"):
        per_class = part.groupby("label").weight.sum()
        assert np.allclose(per_class, per_class.iloc[0], rtol=1e-4)
    cfg = dict(config["datasets"]["epi"], min_class_size=100000)
    with pytest.raises(InputError, match=r"EPI class '\w+' has \d+ sequences in the \w+ split"):
        build_epi(
            paths["genome"],
            paths["contigs"],
            paths["promoters"],
            paths["ccres"],
            paths["gaps"],
            cfg,
            config["splits"],
            7,
        )


def test_an_empty_source_bed_is_blamed_on_the_file(built, tmp_path):
    config, _, paths, *_ = built
    args = (paths["gaps"], config["datasets"]["epi"], config["splits"], 7)
    empty = tmp_path / "promoters.bed"
    empty.write_text("")
    with pytest.raises(InputError, match="no promoter on the kept chromosomes") as caught:
        build_epi(paths["genome"], paths["contigs"], empty, paths["ccres"], *args)
    assert caught.value.path == str(empty)
    with pytest.raises(InputError, match="no dELS cCRE") as caught:
        build_epi(paths["genome"], paths["contigs"], paths["promoters"], empty, *args)
    assert caught.value.path == str(empty)
