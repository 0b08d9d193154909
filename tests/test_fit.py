"""Fitting a head from a data set table and its cache: outputs, and refusal of mismatched caches."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from safetensors.torch import load_file

from crelens.cache import write_cache
from crelens.errors import InputError
from crelens.fit import fit_head
from crelens.io import write_table

SETTINGS = {"lr": 3e-3, "weight_decay": 1e-6, "batch_size": 16, "max_epochs": 15, "patience": 4, "dropout": 0.1}


@pytest.fixture
def mpra(tmp_path):
    rng = np.random.default_rng(0)
    n = 120
    signal = rng.standard_normal((n, 4, 6)).astype(np.float32)
    table = pd.DataFrame({
        "seq_id": [f"s{i}" for i in range(n)],
        "split": np.where(np.arange(n) % 5 == 0, "val", np.where(np.arange(n) % 7 == 0, "test", "train")),
        "K562": (signal[:, :, 0] - signal[:, :, 1]).mean(axis=1) * 3, "HepG2": signal[:, :, 2].mean(axis=1) * 3,
        "sequence": ["ACGT"] * n,
    })
    write_table(table, tmp_path / "mpra.parquet")
    index = {f"s{i}": i for i in range(n)}

    def encode(seqs, ids=iter(table.seq_id)):
        return np.stack([signal[index[next(ids)]] for _ in seqs])

    ids_rc = iter(table.seq_id)
    write_cache(tmp_path / "cache", list(table.seq_id), list(table.sequence), encode,
                lambda seqs: np.stack([signal[index[next(ids_rc)]][::-1] for _ in seqs]),
                identity={}, shard_size=40, batch_size=8)
    return tmp_path


def test_fit_head_writes_weights_metrics_and_curve(mpra):
    out = mpra / "out"
    metrics = fit_head("mpra", "mean", mpra / "mpra.parquet", mpra / "cache/manifest.json", ["K562", "HepG2"], SETTINGS, 0,
                       out / "best.safetensors", out / "metrics.json", out / "curve.tsv")
    assert metrics["outputs"] == 2 and metrics["val_metric"] == "mean_pearson" and metrics["val_value"] > 0.5
    assert json.loads((out / "metrics.json").read_text()) == metrics
    assert load_file(out / "best.safetensors")
    assert len(pd.read_csv(out / "curve.tsv", sep="\t")) == metrics["epochs_run"]


def test_cache_of_another_table_is_refused(mpra):
    table = pd.read_parquet(mpra / "mpra.parquet").iloc[::-1]
    write_table(table, mpra / "reordered.parquet")
    with pytest.raises(InputError, match="cache rows do not match"):
        fit_head("mpra", "mean", mpra / "reordered.parquet", mpra / "cache/manifest.json", ["K562"], SETTINGS, 0,
                 mpra / "w.safetensors", mpra / "m.json", mpra / "c.tsv")
