"""Unit tests of crelens.atomic: write-then-rename, clean failure, reproducible gzip, permissions."""

from __future__ import annotations

import gzip
import os
import stat

import pytest

from crelens.atomic import atomic_open, atomic_path


class Boom(RuntimeError):
    pass


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir())


def test_atomic_path_success_renames(tmp_path):
    target = tmp_path / "sub" / "out.txt"  # parent created on demand
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent
        assert tmp != target
        assert ".part" in tmp.name
        assert not target.exists()
        tmp.write_text("hello\n")
    assert target.read_text() == "hello\n"
    assert _leftovers(target.parent) == ["out.txt"]


def test_atomic_path_keeps_suffix(tmp_path):
    with atomic_path(tmp_path / "t.parquet", suffix=".parquet") as tmp:
        assert tmp.name.endswith(".part.parquet")
        tmp.write_bytes(b"x")
    assert (tmp_path / "t.parquet").read_bytes() == b"x"


def test_atomic_path_failure_leaves_nothing(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(Boom):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise Boom()
    assert not target.exists()
    assert _leftovers(tmp_path) == []


def test_atomic_open_success(tmp_path):
    target = tmp_path / "out.txt"
    with atomic_open(target) as handle:
        handle.write("a\tb\n")
        assert not target.exists()
    assert target.read_text() == "a\tb\n"
    assert _leftovers(tmp_path) == ["out.txt"]


def test_atomic_open_binary(tmp_path):
    target = tmp_path / "out.bin"
    with atomic_open(target, "wb") as handle:
        handle.write(b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"


@pytest.mark.parametrize("name", ["out.txt", "out.txt.gz"])
def test_atomic_open_failure_leaves_nothing(tmp_path, name):
    target = tmp_path / name
    with pytest.raises(Boom):
        with atomic_open(target) as handle:
            handle.write("partial line\n" * 1000)
            raise Boom()
    assert not target.exists()
    assert not any(".part" in p for p in _leftovers(tmp_path))
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("name", ["out.txt", "out.txt.gz"])
def test_existing_target_untouched_on_failure(tmp_path, name):
    target = tmp_path / name
    target.write_bytes(b"previous result")
    before = target.stat().st_mtime_ns
    with pytest.raises(Boom):
        with atomic_open(target) as handle:
            handle.write("new content\n")
            raise Boom()
    assert target.read_bytes() == b"previous result"
    assert target.stat().st_mtime_ns == before
    assert _leftovers(tmp_path) == [name]


def test_existing_target_replaced_on_success(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with atomic_open(target) as handle:
        handle.write("new")
    assert target.read_text() == "new"


def test_gzip_is_reproducible_and_decompresses(tmp_path):
    text = "".join(f"line {i}\tvalue\n" for i in range(500))
    first, second = tmp_path / "a" / "x.tsv.gz", tmp_path / "b" / "x.tsv.gz"
    with atomic_open(first) as handle:
        handle.write(text)
    with atomic_open(second) as handle:
        handle.write(text)
    raw = first.read_bytes()
    assert raw[:2] == b"\x1f\x8b"
    assert raw == second.read_bytes()
    assert raw[4:8] == b"\x00\x00\x00\x00"  # header mtime is 0
    assert gzip.decompress(raw).decode() == text
    assert len(raw) < len(text)


def test_gzip_binary_mode(tmp_path):
    target = tmp_path / "x.bin.gz"
    with atomic_open(target, "wb") as handle:
        handle.write(b"abc" * 100)
    assert gzip.decompress(target.read_bytes()) == b"abc" * 100


def test_gzip_text_keeps_newlines(tmp_path):
    target = tmp_path / "x.txt.gz"
    with atomic_open(target) as handle:
        handle.write("a\nb\n")
    assert gzip.decompress(target.read_bytes()) == b"a\nb\n"


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_permissions_respect_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        with atomic_open(tmp_path / "plain.txt") as handle:
            handle.write("x")
        with atomic_open(tmp_path / "packed.txt.gz") as handle:
            handle.write("x")
        with atomic_path(tmp_path / "raw.bin") as tmp:
            tmp.write_bytes(b"x")
    finally:
        os.umask(old)
    expected = 0o666 & ~umask
    for name in ("plain.txt", "packed.txt.gz", "raw.bin"):
        mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
        assert mode == expected, (name, oct(mode))
        if umask != 0o077:
            assert mode != 0o600
