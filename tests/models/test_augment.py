"""EvoAug-style augmentations: valid one-hot out, the configured amount of change, reproducible."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crelens.models.augment import Augmentation, augmentation
from crelens.sequences import one_hot


def batch(n=64, length=100, seed=0):
    rng = np.random.default_rng(seed)
    seqs = ["".join(rng.choice(list("ACGT"), length)) for _ in range(n)]
    return torch.from_numpy(np.stack([one_hot(s) for s in seqs])).transpose(1, 2).float()


def test_substitutions_change_about_the_rate_and_keep_one_hot():
    x = batch()
    out = Augmentation(mutation_rate=0.2)(x, torch.Generator().manual_seed(0))
    assert torch.equal(out.sum(1), torch.ones(64, 100))  # still one base per position
    changed = (out != x).any(1).float().mean().item()
    assert 0.2 * 0.75 - 0.02 < changed < 0.2 * 0.75 + 0.02  # a random base is the old one 1/4 of the time
    assert not torch.equal(out, x) and torch.equal(x, batch())  # the input is left as it was


def test_shift_rolls_each_sequence_within_the_bound():
    x = batch(n=32)
    out = Augmentation(max_shift=5)(x, torch.Generator().manual_seed(1))
    shifts = set()
    for row, rolled in zip(x, out):
        matches = [k for k in range(-5, 6) if torch.equal(torch.roll(row, k, dims=-1), rolled)]
        assert len(matches) == 1
        shifts.add(matches[0])
    assert len(shifts) > 3  # sequences get different offsets


def test_same_generator_seed_same_batch():
    x = batch()
    aug = Augmentation(mutation_rate=0.1, max_shift=3)
    first = aug(x, torch.Generator().manual_seed(7))
    assert torch.equal(first, aug(x, torch.Generator().manual_seed(7)))
    assert not torch.equal(first, aug(x, torch.Generator().manual_seed(8)))


def test_settings():
    assert augmentation({}) is None and augmentation(None) is None
    assert augmentation({"augment": {"mutation_rate": 0.0, "max_shift": 0}}) is None
    assert augmentation({"augment": {"mutation_rate": 0.05, "max_shift": 10}}) == Augmentation(0.05, 10)
    with pytest.raises(ValueError, match="mutation_rate"):
        Augmentation(mutation_rate=1.0)
    with pytest.raises(ValueError, match="max_shift"):
        Augmentation(max_shift=-1)
    with pytest.raises(ValueError, match="one-hot"):
        Augmentation(max_shift=1)(torch.zeros(2, 5, 10), torch.Generator())
