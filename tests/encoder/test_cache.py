"""Embedding cache: shards + manifest, memory-mapped reading, byte-identical resume."""

from __future__ import annotations

import json

import numpy as np
import pytest

from crelens.encoder.cache import EmbeddingCache, write_cache
from crelens.errors import InputError
from crelens.sequences import one_hot, reverse_complement

BINS, DIM = 4, 3


def fake_encode(seqs):
    """Deterministic stand-in for an encoder: per-bin base composition plus a constant."""
    out = []
    for s in seqs:
        x = one_hot(s)
        bins = x.reshape(BINS, -1, 4).mean(axis=1)[:, :DIM] + 0.1
        out.append(bins)
    return np.stack(out)


def fake_encode_rc(seqs):
    return fake_encode([reverse_complement(s) for s in seqs])


@pytest.fixture
def table():
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 40)) for _ in range(30)]
    return [f"s{i}" for i in range(30)], seqs


def test_cache_round_trip(table, tmp_path):
    ids, seqs = table
    manifest = write_cache(
        tmp_path, ids, seqs, fake_encode, fake_encode_rc, identity={"encoder": "fake"}, shard_size=8, batch_size=4
    )
    assert manifest["shape"] == [30, 2, BINS, DIM] and len(manifest["shards"]) == 4
    cache = EmbeddingCache(tmp_path / "manifest.json", verify=True)
    rows = cache.by_ids(["s3", "s29", "s8"])
    assert rows.dtype == np.float16
    expected = fake_encode([seqs[3], seqs[29], seqs[8]])
    assert np.allclose(rows[:, 0], expected, atol=1e-3)
    assert np.allclose(rows[:, 1], fake_encode_rc([seqs[3], seqs[29], seqs[8]]), atol=1e-3)
    with pytest.raises(InputError, match="not in the cache"):
        cache.by_ids(["nope"])


def test_killed_job_resumes_byte_identical(table, tmp_path):
    ids, seqs = table
    whole = tmp_path / "whole"
    write_cache(whole, ids, seqs, fake_encode, fake_encode_rc, identity={"encoder": "fake"}, shard_size=8, batch_size=4)

    calls = {"n": 0}

    def dies_midway(batch):
        calls["n"] += 1
        if calls["n"] == 5:  # inside the third shard
            raise KeyboardInterrupt("killed")
        return fake_encode(batch)

    resumed = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        write_cache(
            resumed, ids, seqs, dies_midway, fake_encode_rc, identity={"encoder": "fake"}, shard_size=8, batch_size=4
        )
    assert not (resumed / "manifest.json").exists()
    assert sorted(p.name for p in resumed.glob("shard_*.npy")) == ["shard_00000.npy", "shard_00001.npy"]
    assert not list(resumed.glob("*.part*"))

    recomputed = []
    write_cache(
        resumed,
        ids,
        seqs,
        lambda b: recomputed.append(len(b)) or fake_encode(b),
        fake_encode_rc,
        identity={"encoder": "fake"},
        shard_size=8,
        batch_size=4,
    )
    assert sum(recomputed) == 30 - 16  # the two complete shards were reused
    for name in ["manifest.json"] + [f"shard_{i:05d}.npy" for i in range(4)]:
        assert (whole / name).read_bytes() == (resumed / name).read_bytes(), name


def test_other_identity_clears_old_shards(table, tmp_path):
    ids, seqs = table
    write_cache(tmp_path, ids, seqs, fake_encode, fake_encode_rc, identity={"encoder": "a"}, shard_size=8, batch_size=4)
    calls = []
    write_cache(
        tmp_path,
        ids,
        seqs,
        lambda b: calls.append(1) or fake_encode(b),
        fake_encode_rc,
        identity={"encoder": "b"},
        shard_size=8,
        batch_size=4,
    )
    assert len(calls) == 30 // 4 + 1  # everything recomputed
    assert json.loads((tmp_path / "manifest.json").read_text())["identity"]["encoder"] == "b"


def test_corrupt_shard_is_detected(table, tmp_path):
    ids, seqs = table
    write_cache(
        tmp_path, ids, seqs, fake_encode, fake_encode_rc, identity={"encoder": "fake"}, shard_size=8, batch_size=4
    )
    shard = tmp_path / "shard_00001.npy"
    data = bytearray(shard.read_bytes())
    data[-1] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(InputError, match="checksum differs .* rerun the cache_embeddings job") as caught:
        EmbeddingCache(tmp_path / "manifest.json")  # every reader verifies by default
    assert caught.value.path == str(shard)
    shard.unlink()
    with pytest.raises(InputError, match="cache shard is missing") as caught:
        EmbeddingCache(tmp_path / "manifest.json")
    assert caught.value.path == str(shard)


def test_duplicate_ids_are_refused(table, tmp_path):
    ids, seqs = table
    with pytest.raises(InputError, match="duplicate"):
        write_cache(
            tmp_path, ["x"] * len(ids), seqs, fake_encode, fake_encode_rc, identity={}, shard_size=8, batch_size=4
        )
