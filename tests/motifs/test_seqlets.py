"""Seqlets, backgrounds and FIMO scanning on planted motifs (tangermeme / memelite at the boundary)."""

import numpy as np
import pandas as pd
import pytest

from crelens.motifs.seqlets import (
    call_seqlets,
    low_attribution_background,
    region_sequences,
    scan,
    shuffled_background,
)
from crelens.sequences import reverse_complement

SP1 = np.array(
    [  # JASPAR MA0079.5 SP1-like GC box probabilities (4, 9), consensus GGGGCGGGG
        [0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05],
        [0.05, 0.05, 0.05, 0.05, 0.85, 0.05, 0.05, 0.05, 0.05],
        [0.85, 0.85, 0.85, 0.85, 0.05, 0.85, 0.85, 0.85, 0.85],
        [0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05],
    ]
)


def random_seqs(n, length, seed):
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("AT"), length)) for _ in range(n)]  # AT-only: no chance GC boxes


def test_scan_finds_a_planted_motif_at_its_position_and_strand():
    seqs = random_seqs(3, 120, 0)
    seqs[0] = seqs[0][:30] + "GGGGCGGGG" + seqs[0][39:]
    seqs[1] = seqs[1][:70] + reverse_complement("GGGGCGGGG") + seqs[1][79:]
    hits = scan(seqs, {"MA0079.5 SP1": SP1}, threshold=1e-4)
    found = {(h.region_idx, h.start, h.strand) for h in hits.itertuples()}
    assert (0, 30, "+") in found and (1, 70, "-") in found
    assert 2 not in set(hits.region_idx)
    assert (hits.pvalue >= 4.0**-9).all()


def test_scan_of_nothing_is_an_empty_typed_frame():
    assert list(scan([], {"m": SP1}, 1e-4).columns) == [
        "region_idx",
        "motif_key",
        "start",
        "end",
        "strand",
        "score",
        "pvalue",
    ]


def test_seqlets_cover_a_high_attribution_block():
    rng = np.random.default_rng(1)
    relevance = rng.normal(0, 0.05, (30, 150))
    relevance[:, 60:70] += 1.0
    seqlets = call_seqlets(relevance, threshold=0.01, min_len=4, max_len=25, flank=0)
    assert len(seqlets) >= 25
    assert ((seqlets.start <= 62) & (seqlets.end >= 68)).mean() > 0.9


def test_low_attribution_background_avoids_seqlets_and_keeps_lengths():
    relevance = np.zeros((2, 100))
    relevance[:, 40:50] = 5.0
    relevance[:, :20] = 1.0  # also avoided: not the lowest quarter of windows
    seqlets = pd.DataFrame({"example_idx": [0, 1], "start": [40, 40], "end": [50, 50]})
    background = low_attribution_background(seqlets, relevance, seed=0)
    assert len(background) == 2
    assert ((background.end - background.start) == 10).all()
    assert ((background.start >= 50) | (background.end <= 40)).all()
    assert (background.start >= 20).all()
    seqs = random_seqs(2, 100, 2)
    assert [len(s) for s in region_sequences(background, seqs)] == [10, 10]


def test_shuffled_background_keeps_composition():
    seqs = ["ACGTTGCAAGGCTTAACG", "GGGGCGGGGAT"]
    shuffled = shuffled_background(seqs, seed=0)
    for before, after in zip(seqs, shuffled):
        assert sorted(before) == sorted(after)
        assert after[0] == before[0] and after[-1] == before[-1]  # dinucleotide shuffles keep both ends
    with pytest.raises(ValueError):
        call_seqlets(np.zeros(10), threshold=0.01, min_len=4, max_len=25, flank=0)
