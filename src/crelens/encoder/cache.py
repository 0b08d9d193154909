"""Frozen-encoder embedding cache: float16 shards on disk, a manifest, resumable writing.

Why: heads train for many epochs on features of a frozen encoder; computing those features
once (on a GPU node) and memory-mapping them makes head training I/O-bound instead of
encoder-bound. Layout of a cache folder:

    manifest.json           the rule's output; written last, so its presence means "complete"
    state.json              fingerprint of what is being computed (encoder, inputs, settings)
    shard_00000.npy …       float16 arrays (rows, 2, bins, dim): [:, 0] canonical, [:, 1] reverse complement

Each shard is written atomically, and batches never straddle shards, so a job killed mid-way
restarts from the last complete shard and ends byte-identical to an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from crelens.atomic import atomic_open, atomic_path
from crelens.errors import InputError

log = logging.getLogger(__name__)

FORMAT = "crelens-embedding-cache/1"

# encode(sequences) -> float32 array (B, bins, dim) for the canonical strand, and the same for
# the reverse complement; the cache does not know which model produced them.
Encoder = Callable[[Sequence[str]], np.ndarray]


def sha256_file(path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(identity: dict) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def shard_name(index: int) -> str:
    return f"shard_{index:05d}.npy"


def write_cache(
    folder,
    seq_ids: Sequence[str],
    sequences: Sequence[str],
    encode_canonical: Encoder,
    encode_reverse: Encoder,
    *,
    identity: dict,
    shard_size: int = 1024,
    batch_size: int = 32,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Fill `folder` with shards for all sequences, reusing complete shards of the same identity.

    `identity` describes everything that determines the numbers (encoder weights digest,
    input table digest, pooling, dtype); a folder holding another identity is cleared first.
    Returns the manifest (also written to `folder/manifest.json`).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if len(seq_ids) != len(sequences):
        raise ValueError("seq_ids and sequences differ in length")
    if len(set(seq_ids)) != len(seq_ids):
        raise InputError(folder, "duplicate sequence IDs in the table to cache")
    if shard_size % batch_size:
        raise ValueError("shard_size must be a multiple of batch_size (batches never straddle shards)")
    settings = dict(
        identity,
        shard_size=shard_size,
        batch_size=batch_size,
        n=len(seq_ids),
        seq_ids_sha256=hashlib.sha256("\n".join(seq_ids).encode()).hexdigest(),
    )
    key = fingerprint(settings)
    manifest_path = folder / "manifest.json"
    manifest_path.unlink(missing_ok=True)  # no longer complete until rewritten
    state_path = folder / "state.json"
    if not state_path.exists() or json.loads(state_path.read_text()).get("fingerprint") != key:
        for stale in folder.glob("shard_*.npy"):
            stale.unlink()
        with atomic_open(state_path) as out:
            json.dump({"fingerprint": key, "settings": settings}, out, indent=1, sort_keys=True)

    n = len(sequences)
    n_shards = max(1, -(-n // shard_size))
    shards = []
    started = time.monotonic()
    computed = 0
    for index in range(n_shards):
        lo, hi = index * shard_size, min(n, (index + 1) * shard_size)
        path = folder / shard_name(index)
        if path.exists():
            log.info("shard %d/%d already complete, reused", index + 1, n_shards)
        else:
            parts = []
            for b in range(lo, hi, batch_size):
                batch = list(sequences[b : min(hi, b + batch_size)])
                canonical = np.asarray(encode_canonical(batch), dtype=np.float32)
                reverse = np.asarray(encode_reverse(batch), dtype=np.float32)
                parts.append(np.stack([canonical, reverse], axis=1).astype(np.float16))
                computed += len(batch)
                if progress:
                    progress(computed, n)
            array = np.concatenate(parts) if parts else np.zeros((0, 2, 0, 0), np.float16)
            with atomic_path(path, suffix=".npy") as tmp:
                np.save(tmp, array, allow_pickle=False)
            elapsed = time.monotonic() - started
            log.info(
                "shard %d/%d written: %d sequences, %.1f sequences/s",
                index + 1,
                n_shards,
                hi - lo,
                computed / max(elapsed, 1e-9),
            )
        header = np.load(path, mmap_mode="r")
        if header.shape[0] != hi - lo or header.dtype != np.float16:
            raise InputError(path, f"shard has shape {header.shape} / {header.dtype}, expected {hi - lo} float16 rows")
        shards.append({"file": path.name, "start": lo, "stop": hi, "sha256": sha256_file(path)})
    first = np.load(folder / shards[0]["file"], mmap_mode="r")
    manifest = {
        "format": FORMAT,
        "n": n,
        "shape": [n, 2, int(first.shape[2]), int(first.shape[3])],
        "dtype": "float16",
        "layout": "(sequence, strand [canonical, reverse complement], bin, feature)",
        "seq_ids": list(seq_ids),
        "shards": shards,
        "identity": settings,
    }
    with atomic_open(manifest_path) as out:
        json.dump(manifest, out, indent=1, sort_keys=True)
    return manifest


class EmbeddingCache:
    """Read-only, memory-mapped view of a complete cache (what head training reads); every shard
    is checked against the manifest's SHA-256 when the cache is opened (`verify=False` skips it)."""

    def __init__(self, manifest_path, verify: bool = True):
        manifest_path = Path(manifest_path)
        if not manifest_path.exists():
            raise InputError(manifest_path, "embedding cache manifest does not exist (cache incomplete?)")
        self.manifest = json.loads(manifest_path.read_text())
        if self.manifest.get("format") != FORMAT:
            raise InputError(manifest_path, f"not a {FORMAT} manifest")
        self.folder = manifest_path.parent
        self.seq_ids = self.manifest["seq_ids"]
        self.index = {s: i for i, s in enumerate(self.seq_ids)}
        self.shards = []
        for shard in self.manifest["shards"]:
            path = self.folder / shard["file"]
            rebuild = f"delete {self.folder} and rerun the cache_embeddings job to rebuild it"
            if not path.exists():
                raise InputError(path, f"cache shard is missing; {rebuild}")
            # Shards are tens of MB (about a second per GB to hash), so checking them on every open
            # costs little and catches a shard altered or truncated after the manifest was written.
            if verify and sha256_file(path) != shard["sha256"]:
                raise InputError(path, f"shard checksum differs from the manifest (modified or corrupt); {rebuild}")
            self.shards.append((shard["start"], shard["stop"], np.load(path, mmap_mode="r")))
        self.shape = tuple(self.manifest["shape"])

    def __len__(self) -> int:
        return self.shape[0]

    def rows(self, indices: np.ndarray) -> np.ndarray:
        """float16 array (len(indices), 2, bins, dim) for row numbers in manifest order."""
        indices = np.asarray(indices)
        out = np.empty((len(indices), *self.shape[1:]), dtype=np.float16)
        for start, stop, array in self.shards:
            mask = (indices >= start) & (indices < stop)
            if mask.any():
                out[mask] = array[indices[mask] - start]
        return out

    def by_ids(self, seq_ids: Sequence[str]) -> np.ndarray:
        try:
            return self.rows(np.array([self.index[s] for s in seq_ids]))
        except KeyError as exc:
            raise InputError(self.folder / "manifest.json", f"sequence {exc.args[0]!r} is not in the cache") from None
