"""The frozen encoder's features, as the heads see them, written into the embedding cache.

Features are the per-nucleotide RC-invariant Caduceus outputs (`encode_rc_invariant`),
mean-pooled into a fixed number of bins; the cache stores them for the sequence and for its
reverse complement (head training takes one step on each).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from crelens.encoder.cache import sha256_file, write_cache
from crelens.encoder.caduceus import encode_rc_invariant
from crelens.encoder.hub import load_caduceus
from crelens.encoder.tokenizer import CaduceusTokenizer
from crelens.sequences import reverse_complement
from crelens.tables import read_table

log = logging.getLogger(__name__)


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class Features:
    """Pooled RC-invariant features of a frozen encoder for batches of DNA strings.

    The features of a reverse complement are those of the sequence with the bins reversed: the
    per-nucleotide features are RC-invariant (f(rc x)[L-1-i] = f(x)[i], exact for a PS model and
    for conjoined PH outputs) and adaptive pooling is symmetric. So `reverse` of the batch just
    encoded reuses it instead of running the encoder again (half the cost of a cache).
    """

    def __init__(self, model_folder, bins: int, n_as: str):
        self.model = load_caduceus(model_folder, device=device()).eval()
        self.tokenizer = CaduceusTokenizer(n_as=n_as)
        self.bins = bins
        self.dim = self.model.config.d_model
        self._last: tuple[list[str], np.ndarray] | None = None

    @torch.inference_mode()
    def __call__(self, seqs: list[str]) -> np.ndarray:
        ids = self.tokenizer.encode(seqs).to(device())
        per_base = encode_rc_invariant(self.model, ids).float()  # (B, L, D)
        pooled = torch.nn.functional.adaptive_avg_pool1d(per_base.transpose(1, 2), self.bins)
        features = pooled.transpose(1, 2).cpu().numpy()
        self._last = (list(seqs), features)
        return features

    def reverse(self, seqs: list[str]) -> np.ndarray:
        if self._last is not None and self._last[0] == list(seqs):
            return self._last[1][:, ::-1].copy()
        return self([reverse_complement(s) for s in seqs])


def encoder_identity(model_folder) -> dict:
    model_folder = Path(model_folder)
    return {
        "encoder_config": json.loads((model_folder / "config.json").read_text()),
        "encoder_weights_sha256": sha256_file(model_folder / "model.safetensors"),
    }


def run_cache_embeddings(
    table_path,
    column: str,
    model_folder,
    out_manifest,
    *,
    bins: int,
    shard_size: int,
    batch_size: int,
    n_as: str,
    threads: int = 1,
) -> dict:
    """The `cache_embeddings` job: embed one column of a data set table into a resumable cache
    beside `out_manifest`."""
    torch.set_num_threads(threads)
    table = read_table(table_path)
    id_column = "pair_id" if "pair_id" in table.columns else "seq_id"
    features = Features(model_folder, bins, n_as)
    identity = {
        **encoder_identity(model_folder),
        "table_sha256": sha256_file(table_path),
        "column": column,
        "bins": bins,
        "n_as": n_as,
        "feature": "RC-invariant per-nucleotide output, mean-pooled into bins",
    }
    started = time.monotonic()
    last = [started]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] > 10 or done == total:
            last[0] = now
            rate = done / max(now - started, 1e-9)
            log.info(
                "%d/%d sequences (%.0f%%), %.1f sequences/s, ETA %.0f s",
                done,
                total,
                100 * done / total,
                rate,
                (total - done) / max(rate, 1e-9),
            )

    manifest = write_cache(
        Path(out_manifest).parent,
        list(table[id_column]),
        list(table[column]),
        features,
        features.reverse,
        identity=identity,
        shard_size=shard_size,
        batch_size=batch_size,
        progress=progress,
    )
    log.info("cache %s: shape %s in %.1f s", out_manifest, manifest["shape"], time.monotonic() - started)
    return manifest
