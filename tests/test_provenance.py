"""Unit tests of crelens.provenance: code fingerprints and derived seeds."""

from __future__ import annotations

import re

import pytest

import crelens.provenance as provenance
from crelens.provenance import code_version, derive_seed


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    pkg = tmp_path / "crelens"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "alpha.py").write_text("A = 1\n")
    (pkg / "beta.py").write_text("B = 2\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "inner.py").write_text("C = 3\n")
    (pkg / "notes.txt").write_text("not a module\n")
    monkeypatch.setattr(provenance, "_PACKAGE", pkg)
    return pkg


def test_real_package_stable_and_hex():
    first = code_version("io", "sequences")
    assert re.fullmatch(r"[0-9a-f]{16}", first)
    assert code_version("io", "sequences") == first
    assert code_version("sequences", "io") == first  # order does not matter
    assert code_version("io", "io", "sequences") == first  # nor repetition
    assert code_version("io") != first


def test_stable_and_differs_between_sets(fake_package):
    a = code_version("alpha")
    assert code_version("alpha") == a
    assert code_version("beta") != a
    assert code_version("alpha", "beta") not in (a, code_version("beta"))
    assert code_version("beta", "alpha") == code_version("alpha", "beta")


def test_changes_with_module_bytes(fake_package):
    before = code_version("alpha", "beta")
    only_beta = code_version("beta")
    (fake_package / "alpha.py").write_text("A = 1 \n")  # one byte more
    after = code_version("alpha", "beta")
    assert after != before
    assert code_version("beta") == only_beta  # unrelated set unchanged
    (fake_package / "alpha.py").write_text("A = 1\n")
    assert code_version("alpha", "beta") == before


def test_name_is_part_of_fingerprint(fake_package):
    (fake_package / "gamma.py").write_text("A = 1\n")  # same bytes as alpha.py
    assert code_version("gamma") != code_version("alpha")


def test_subpackage_and_dotted_names(fake_package):
    whole = code_version("sub")
    assert code_version("sub") == whole
    (fake_package / "sub" / "inner.py").write_text("C = 4\n")
    assert code_version("sub") != whole
    dotted = code_version("sub.inner")
    (fake_package / "sub" / "inner.py").write_text("C = 5\n")
    assert code_version("sub.inner") != dotted
    (fake_package / "sub" / "new.py").write_text("D = 1\n")  # a new file in a subpackage counts
    before_new = code_version("sub")
    (fake_package / "sub" / "new.py").write_text("D = 2\n")
    assert code_version("sub") != before_new


@pytest.mark.parametrize("name", ["nonexistent", "notes", "alpha.missing"])
def test_unknown_module(fake_package, name):
    with pytest.raises(ValueError, match=f"no crelens module named '{re.escape(name)}'"):
        code_version(name)


def test_unknown_module_real_package():
    with pytest.raises(ValueError, match="no crelens module"):
        code_version("io", "no_such_module")


def test_derive_seed_deterministic():
    assert derive_seed(1, "split") == derive_seed(1, "split")
    value = derive_seed(20261122, "simulate")
    assert isinstance(value, int)
    assert 0 <= value < 2**32


def test_derive_seed_depends_on_purpose_and_seed():
    seeds = {derive_seed(7, p) for p in ("genome", "mpra", "noise", "split", "train", "")}
    assert len(seeds) == 6
    assert derive_seed(7, "mpra") != derive_seed(8, "mpra")
    # the separator keeps (seed, purpose) pairs apart: "12:3" vs "1:23"
    assert derive_seed(12, "3") != derive_seed(1, "23")


def test_derive_seed_usable_by_numpy():
    import numpy as np

    a = np.random.default_rng(derive_seed(3, "x")).random(3)
    b = np.random.default_rng(derive_seed(3, "x")).random(3)
    assert (a == b).all()
