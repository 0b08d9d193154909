"""Masked-LM pretraining (crelens.encoder.pretrain): a loadable checkpoint, determinism, training chromosomes only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crelens.encoder.hub import load_caduceus
from crelens.encoder.pretrain import run_pretrain_encoder

TINY = {
    "d_model": 8,
    "n_layer": 1,
    "rcps": True,
    "seq_len": 48,
    "batch_size": 4,
    "steps": 6,
    "lr": 0.003,
    "weight_decay": 0.0,
    "warmup_steps": 1,
    "mask_share": 0.15,
    "eval_every": 3,
    "eval_windows": 4,
}


@pytest.fixture(scope="module")
def genome(built):
    """(config, folder of the tiny world's genome.fa and contigs.tsv)."""
    config, _, paths, *_ = built
    return config, paths["genome"].parent


@pytest.fixture(scope="module")
def pretrained(genome, tmp_path_factory):
    config, out = genome
    folder = tmp_path_factory.mktemp("encoder")
    curve = run_pretrain_encoder(
        out / "genome.fa", out / "contigs.tsv", config["splits"], TINY, 3, "pad", folder, folder / "curve.tsv"
    )
    return folder, curve


def test_pretraining_writes_a_loadable_checkpoint_and_curve(pretrained):
    folder, curve = pretrained
    model = load_caduceus(folder)
    assert model.config.d_model == 8 and model.config.rcps
    assert list(curve.step) == list(range(1, 7)) and curve.val_loss.notna().sum() == 2
    assert np.isfinite(curve.train_loss).all()


def test_pretraining_is_deterministic(genome, pretrained, tmp_path):
    config, out = genome
    run_pretrain_encoder(
        out / "genome.fa", out / "contigs.tsv", config["splits"], TINY, 3, "pad", tmp_path, tmp_path / "curve.tsv"
    )
    assert (tmp_path / "model.safetensors").read_bytes() == (pretrained[0] / "model.safetensors").read_bytes()


def test_pretraining_samples_training_chromosomes_only(genome, monkeypatch):
    import crelens.encoder.pretrain as encoder

    config, out = genome
    seen = []
    original = encoder.WindowSampler.__init__

    def spy(self, fasta, chromosomes, *args, **kwargs):
        seen.append(list(chromosomes))
        original(self, fasta, chromosomes, *args, **kwargs)

    monkeypatch.setattr(encoder.WindowSampler, "__init__", spy)
    monkeypatch.setattr(encoder, "pretrain", lambda *a, **k: pd.DataFrame({"step": [1]}))
    monkeypatch.setattr(encoder, "save_caduceus", lambda *a, **k: None)
    monkeypatch.setattr(encoder, "write_table", lambda *a, **k: None)
    run_pretrain_encoder(out / "genome.fa", out / "contigs.tsv", config["splits"], TINY, 3, "pad", out, out / "c.tsv")
    train, val = seen
    assert not set(train) & (set(config["splits"]["val"]) | set(config["splits"]["test"]))
    assert set(val) == set(config["splits"]["val"])
