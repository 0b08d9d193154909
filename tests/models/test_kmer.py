"""The k-mer reference (crelens.models.kmer): exact counts, strand invariance, fits chosen on validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crelens.models.kmer import KmerModel, fit_kmer_model, kmer_features, reverse_complement_index
from crelens.models.registry import build_model, load_model, save_model
from crelens.sequences import one_hot_strands, reverse_complement

from helpers import random_sequences


def test_reverse_complement_index_pairs_each_kmer_with_its_reverse_complement():
    index = reverse_complement_index(2)
    kmers = ["".join(p) for p in __import__("itertools").product("ACGT", repeat=2)]
    for code, kmer in enumerate(kmers):
        assert kmers[int(index[code])] == reverse_complement(kmer)
    assert torch.equal(index[index], torch.arange(16))


def test_features_are_log_counts_of_each_kmer_and_its_reverse_complement_inside_the_span():
    model = KmerModel(1, 2, (2, 8), 10)
    x = torch.from_numpy(one_hot_strands(["TTACACGNTT"])[:, 0].astype(np.float32))  # span: ACACGN
    features = model.features(x)[0]
    kmers = ["".join(p) for p in __import__("itertools").product("ACGT", repeat=2)]
    counts = {k: 0 for k in kmers}
    for k in ("AC", "CA", "AC", "CG"):  # GN holds an N; TT and TA lie outside the span
        counts[k] += 1
    expected = [np.log1p(counts[k] + counts[reverse_complement(k)]) for k in kmers]
    np.testing.assert_allclose(features.numpy(), expected, rtol=1e-6)


def test_prediction_does_not_depend_on_the_strand():
    model = KmerModel(2, 3, (0, 30), 30)
    torch.nn.init.normal_(model.linear.weight)
    strands = torch.from_numpy(one_hot_strands(random_sequences(5, 30, seed=2)).astype(np.float32))
    torch.testing.assert_close(model(strands[:, 0]), model(strands[:, 1]))


def test_the_fit_finds_a_planted_kmer_and_keeps_the_best_validation_choice(tmp_path):
    rng = np.random.default_rng(0)
    seqs = random_sequences(400, 60, seed=1)
    seqs = [s[:10] + ("GATAAG" if i % 2 else s[10:16]) + s[16:] for i, s in enumerate(seqs)]
    y = np.array([[s.count("GATAAG") + s.count("CTTATC") + 0.1 * rng.normal()] for s in seqs], np.float32)
    x = one_hot_strands(seqs)
    model, curve = fit_kmer_model(
        x[:300], y[:300], x[300:], y[300:], "regression", ks=[2, 6], penalties=[1.0, 1e4], span=(0, 60), seed=0
    )
    assert len(curve) == 4 and model.k == curve.sort_values("val_metric").iloc[-1].k
    with torch.no_grad():
        pred = model(torch.from_numpy(x[300:, 0].astype(np.float32)))[:, 0].numpy()
    assert np.corrcoef(pred, y[300:, 0])[0, 1] > 0.9
    spec = {"model": "kmer_ridge", "task": "mpra", "outputs": 1, "length": 60, "k": model.k, "span": [0, 60]}
    save_model(model, spec, tmp_path / "kmer.safetensors")
    loaded, _ = load_model(tmp_path / "kmer.safetensors")
    torch.testing.assert_close(
        loaded(torch.from_numpy(x[:3, 0].astype(np.float32))), model(torch.from_numpy(x[:3, 0].astype(np.float32)))
    )


def test_classes_are_fitted_by_multinomial_logistic_regression():
    seqs = random_sequences(300, 40, seed=3)
    labels = np.array(
        [0 if s.count("G") + s.count("C") < 20 else (1 if s.count("A") > s.count("T") else 2) for s in seqs]
    )
    x = one_hot_strands(seqs)
    model, curve = fit_kmer_model(
        x[:200],
        labels[:200],
        x[200:],
        labels[200:],
        "classification",
        ks=[1, 2],
        penalties=[0.01, 1.0],
        span=(0, 40),
        seed=0,
    )
    assert model.n_outputs == 3 and curve.val_metric.max() > 0.8
    assert kmer_features(model, x[:4]).shape == (4, 4**model.k)


def test_registry_builds_it_from_its_spec_and_refuses_a_span_too_short():
    model = build_model({"model": "kmer_ridge", "outputs": 3, "length": 200, "k": 5, "span": [0, 200]})
    assert model(torch.zeros(2, 4, 200)).shape == (2, 3)
    with pytest.raises(ValueError, match="span"):
        KmerModel(1, 6, (0, 4), 10)
