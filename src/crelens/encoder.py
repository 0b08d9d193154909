"""The frozen encoder in the workflow: obtain it (pretrain or download) and cache its features.

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
import pandas as pd
import torch

from .atomic import atomic_path
from .cache import sha256_file, write_cache
from .errors import InputError
from .io import Contigs, read_table, write_table
from .models.caduceus import CaduceusConfig, CaduceusForMaskedLM, count_parameters, encode_rc_invariant
from .models.hub import load_caduceus, save_caduceus
from .pretrain import PretrainSettings, WindowSampler, pretrain
from .sequences import reverse_complement
from .tokenizer import CaduceusTokenizer

log = logging.getLogger(__name__)



def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def run_pretraining(genome_fa, contigs_tsv, splits: dict, cfg: dict, seed: int, n_as: str, out_folder, curve_out, threads: int = 1) -> pd.DataFrame:
    """Train a small Caduceus masked-LM on training chromosomes and save it like a published checkpoint."""
    from pyfaidx import Fasta

    torch.set_num_threads(threads)
    contigs = Contigs.from_table(contigs_tsv)
    held_out = set(splits["val"]) | set(splits["test"])
    train = [c for c in contigs.kept if c not in held_out]
    fasta = Fasta(str(genome_fa), as_raw=True, rebuild=False)
    rng = np.random.default_rng(seed)
    sampler = WindowSampler(fasta, train, cfg["seq_len"], rng)
    val_windows = WindowSampler(fasta, list(splits["val"]), cfg["seq_len"], np.random.default_rng(seed + 1)).sample(cfg["eval_windows"])
    torch.manual_seed(seed)
    config = CaduceusConfig(d_model=cfg["d_model"], n_layer=cfg["n_layer"], rcps=cfg["rcps"])
    model = CaduceusForMaskedLM(config)
    log.info("pretraining Caduceus (%s, %d parameters) on %d training chromosomes", "PS" if cfg["rcps"] else "PH", count_parameters(model), len(train))
    settings = PretrainSettings(**{k: cfg[k] for k in PretrainSettings.__dataclass_fields__ if k in cfg})
    curve = pretrain(model, CaduceusTokenizer(n_as=n_as), sampler, val_windows, settings, seed)
    save_caduceus(model, out_folder)
    write_table(curve, curve_out)
    return curve


def download_encoder(repo_id: str, revision: str, out_folder, *, cache_dir=None, local_files_only: bool = False) -> Path:
    """Fetch config.json + weights of a pinned Hugging Face revision, then prove they load.

    `cache_dir`/`local_files_only` let a prepared Hugging Face cache stand in for the network.
    """
    from huggingface_hub import snapshot_download

    if not revision:
        raise InputError(None, f"encoder.download.revision: pin a commit of {repo_id}")
    snapshot = snapshot_download(
        repo_id, revision=revision, allow_patterns=["config.json", "*.safetensors"],
        cache_dir=cache_dir, local_files_only=local_files_only,
    )
    out_folder = Path(out_folder)
    out_folder.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "model.safetensors"):
        source = Path(snapshot) / name
        if not source.exists():
            raise InputError(snapshot, f"{repo_id}@{revision} has no {name}")
        with atomic_path(out_folder / name) as tmp:
            tmp.write_bytes(source.read_bytes())
    load_caduceus(out_folder)  # fails loudly on a key or shape mismatch
    return out_folder


class Features:
    """Pooled RC-invariant features of a frozen encoder for batches of DNA strings."""

    def __init__(self, model_folder, bins: int, n_as: str):
        self.model = load_caduceus(model_folder, device=device()).eval()
        self.tokenizer = CaduceusTokenizer(n_as=n_as)
        self.bins = bins
        self.dim = self.model.config.d_model

    @torch.inference_mode()
    def __call__(self, seqs: list[str]) -> np.ndarray:
        ids = self.tokenizer.encode(seqs).to(device())
        per_base = encode_rc_invariant(self.model, ids).float()  # (B, L, D)
        pooled = torch.nn.functional.adaptive_avg_pool1d(per_base.transpose(1, 2), self.bins)
        return pooled.transpose(1, 2).cpu().numpy()

    def reverse(self, seqs: list[str]) -> np.ndarray:
        return self([reverse_complement(s) for s in seqs])


def encoder_identity(model_folder) -> dict:
    model_folder = Path(model_folder)
    return {
        "encoder_config": json.loads((model_folder / "config.json").read_text()),
        "encoder_weights_sha256": sha256_file(model_folder / "model.safetensors"),
    }


def cache_table(table_path, column: str, model_folder, out_manifest, *, bins: int, shard_size: int, batch_size: int, n_as: str, threads: int = 1) -> dict:
    """Embed one column of a data set table into a resumable cache beside `out_manifest`."""
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
            log.info("%d/%d sequences (%.0f%%), %.1f sequences/s, ETA %.0f s", done, total, 100 * done / total, rate, (total - done) / max(rate, 1e-9))

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
