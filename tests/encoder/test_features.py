"""Frozen-encoder features and the cache job (crelens.encoder.features): RC-invariant bins, cache equals direct features."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from crelens.encoder.cache import EmbeddingCache
from crelens.encoder.caduceus import CaduceusConfig, CaduceusForMaskedLM
from crelens.encoder.features import Features, run_cache_embeddings
from crelens.encoder.hub import save_caduceus
from crelens.sequences import reverse_complement
from crelens.tables import write_table


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A small PS Caduceus with seeded random weights, saved like a published checkpoint."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("encoder")
    save_caduceus(CaduceusForMaskedLM(CaduceusConfig(d_model=8, n_layer=1, rcps=True)), folder)
    return folder, None


def test_features_of_the_reverse_complement_are_the_reversed_bins(pretrained):
    features = Features(pretrained[0], bins=6, n_as="pad")
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 60)) for _ in range(3)]
    explicit = features([reverse_complement(s) for s in seqs])  # the encoder run on the reverse complements
    forward, reused = features(seqs), features.reverse(seqs)
    assert forward.shape == (3, 6, 8)
    # PS model, per-nucleotide RC-invariant features: f(rc x)[L-1-i] = f(x)[i]
    np.testing.assert_allclose(explicit, forward[:, ::-1], rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(reused, forward[:, ::-1])  # the batch just encoded is not run again
    np.testing.assert_allclose(features.reverse(seqs[:2]), explicit[:2], rtol=1e-4, atol=1e-5)


def test_cache_job_matches_direct_features(pretrained, tmp_path):
    rng = np.random.default_rng(1)
    table = pd.DataFrame(
        {"seq_id": [f"s{i}" for i in range(10)], "sequence": ["".join(rng.choice(list("ACGT"), 60)) for _ in range(10)]}
    )
    write_table(table, tmp_path / "t.parquet")
    manifest = run_cache_embeddings(
        tmp_path / "t.parquet",
        "sequence",
        pretrained[0],
        tmp_path / "cache/manifest.json",
        bins=6,
        shard_size=4,
        batch_size=2,
        n_as="pad",
    )
    assert manifest["shape"] == [10, 2, 6, 8]
    cache = EmbeddingCache(tmp_path / "cache/manifest.json")
    direct = Features(pretrained[0], bins=6, n_as="pad")(list(table.sequence[:3]))
    np.testing.assert_allclose(cache.rows(np.arange(3))[:, 0].astype(np.float32), direct, rtol=2e-3, atol=2e-3)
    identity = json.loads((tmp_path / "cache/manifest.json").read_text())["identity"]
    assert len(identity["encoder_weights_sha256"]) == 64 and identity["column"] == "sequence"
