"""The encoder in the workflow: pretraining on training chromosomes, features, caching, download."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from crelens.cache import EmbeddingCache
from crelens.encoder import Features, cache_table, download_encoder, run_pretraining
from crelens.errors import InputError
from crelens.genome import prepare_genome
from crelens.io import write_table
from crelens.models.caduceus import CaduceusConfig, CaduceusForMaskedLM
from crelens.models.hub import load_caduceus, save_caduceus
from crelens.simulate import OUTPUTS

TINY = {"d_model": 8, "n_layer": 1, "rcps": True, "seq_len": 48, "batch_size": 4, "steps": 6, "lr": 0.003,
        "weight_decay": 0.0, "warmup_steps": 1, "mask_share": 0.15, "eval_every": 3, "eval_windows": 4}


@pytest.fixture(scope="module")
def genome(simulated, tmp_path_factory):
    config, src = simulated
    out = tmp_path_factory.mktemp("genome")
    prepare_genome(src / OUTPUTS["genome"], out / "genome.fa", out / "contigs.tsv", out / "gaps.bed", config["chromosomes"])
    return config, out


@pytest.fixture(scope="module")
def pretrained(genome, tmp_path_factory):
    config, out = genome
    folder = tmp_path_factory.mktemp("encoder")
    curve = run_pretraining(out / "genome.fa", out / "contigs.tsv", config["splits"], TINY, 3, "pad", folder, folder / "curve.tsv")
    return folder, curve


def test_pretraining_writes_a_loadable_checkpoint_and_curve(pretrained):
    folder, curve = pretrained
    model = load_caduceus(folder)
    assert model.config.d_model == 8 and model.config.rcps
    assert list(curve.step) == list(range(1, 7)) and curve.val_loss.notna().sum() == 2
    assert np.isfinite(curve.train_loss).all()


def test_pretraining_is_deterministic(genome, pretrained, tmp_path):
    config, out = genome
    run_pretraining(out / "genome.fa", out / "contigs.tsv", config["splits"], TINY, 3, "pad", tmp_path, tmp_path / "curve.tsv")
    assert (tmp_path / "model.safetensors").read_bytes() == (pretrained[0] / "model.safetensors").read_bytes()


def test_pretraining_samples_training_chromosomes_only(genome, monkeypatch):
    import crelens.encoder as encoder

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
    run_pretraining(out / "genome.fa", out / "contigs.tsv", config["splits"], TINY, 3, "pad", out, out / "c.tsv")
    train, val = seen
    assert not set(train) & (set(config["splits"]["val"]) | set(config["splits"]["test"]))
    assert set(val) == set(config["splits"]["val"])


def test_features_of_the_reverse_complement_are_the_reversed_bins(pretrained):
    features = Features(pretrained[0], bins=6, n_as="pad")
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 60)) for _ in range(3)]
    forward, reverse = features(seqs), features.reverse(seqs)
    assert forward.shape == (3, 6, 8)
    # PS model, per-nucleotide RC-invariant features: f(rc x)[L-1-i] = f(x)[i]
    np.testing.assert_allclose(reverse, forward[:, ::-1], rtol=1e-4, atol=1e-5)


def test_cache_table_matches_direct_features(pretrained, tmp_path):
    rng = np.random.default_rng(1)
    table = pd.DataFrame({"seq_id": [f"s{i}" for i in range(10)], "sequence": ["".join(rng.choice(list("ACGT"), 60)) for _ in range(10)]})
    write_table(table, tmp_path / "t.parquet")
    manifest = cache_table(tmp_path / "t.parquet", "sequence", pretrained[0], tmp_path / "cache/manifest.json",
                           bins=6, shard_size=4, batch_size=2, n_as="pad")
    assert manifest["shape"] == [10, 2, 6, 8]
    cache = EmbeddingCache(tmp_path / "cache/manifest.json")
    direct = Features(pretrained[0], bins=6, n_as="pad")(list(table.sequence[:3]))
    np.testing.assert_allclose(cache.rows(np.arange(3))[:, 0].astype(np.float32), direct, rtol=2e-3, atol=2e-3)
    identity = json.loads((tmp_path / "cache/manifest.json").read_text())["identity"]
    assert len(identity["encoder_weights_sha256"]) == 64 and identity["column"] == "sequence"


def test_download_encoder_from_a_pinned_revision_in_a_local_hub_cache(tmp_path):
    torch.manual_seed(0)
    model = CaduceusForMaskedLM(CaduceusConfig(d_model=8, n_layer=1, rcps=True))
    revision = "0123456789abcdef0123456789abcdef01234567"
    snapshot = tmp_path / "hub/models--kuleshov-group--caduceus-test/snapshots" / revision
    save_caduceus(model, snapshot)
    (tmp_path / "hub/models--kuleshov-group--caduceus-test/refs").mkdir(parents=True)
    out = download_encoder("kuleshov-group/caduceus-test", revision, tmp_path / "out", cache_dir=tmp_path / "hub", local_files_only=True)
    assert (out / "model.safetensors").read_bytes() == (snapshot / "model.safetensors").read_bytes()
    assert load_caduceus(out).config.d_model == 8
    with pytest.raises(InputError, match="pin a commit"):
        download_encoder("kuleshov-group/caduceus-test", None, tmp_path / "x")
