"""The planted truth as later stages ask it (crelens.planted): site masks and relevant motifs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crelens.planted import relevant_motifs, site_mask


def test_site_mask_clips_and_ignores_unknown_sequences():
    sites = pd.DataFrame({"seq_id": ["a", "a", "b", "zzz"], "start": [-3, 8, 4, 0], "end": [2, 15, 6, 10]})
    mask = site_mask(sites, ["a", "b", "c"], 10)
    expected = np.zeros((3, 10), dtype=bool)
    expected[0, [0, 1, 8, 9]] = True
    expected[1, [4, 5]] = True
    np.testing.assert_array_equal(mask, expected)


def test_relevant_motifs_follow_the_design():
    motifs = [
        {"name": "GATA1", "program": "K562", "effect": {"K562": 0.9, "HepG2": 0.0}},
        {"name": "CTCF", "program": "insulator", "effect": {"K562": 0.0, "HepG2": 0.0}},
        {"name": "HNF4A", "program": "HepG2", "effect": {"K562": 0.0, "HepG2": 0.9}},
    ]
    assert relevant_motifs("mpra", "K562", motifs) == {"GATA1"}
    assert relevant_motifs("epi", "enhancer", motifs) == {"GATA1", "HNF4A"}
