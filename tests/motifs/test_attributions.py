"""Attributions as the motif stage reads them (crelens.motifs.attributions): groups and the variable span."""

import numpy as np

from crelens.motifs.attributions import cropped, groups_of


def test_groups_are_cells_for_mpra_and_classes_for_epi():
    stored = {"seq_id": np.array(["s0", "s1", "s2", "s3"]), "output": np.array(["K562"]), "label_id": np.full(4, -1)}
    assert [g for g, _, _ in groups_of("mpra", stored)] == ["mpra:K562"]
    epi = {**stored, "output": np.array(["enhancer", "promoter"]), "label_id": np.array([0, 1, 1, 0])}
    groups = groups_of("epi", epi)
    assert [(g, list(rows)) for g, _, rows in groups] == [("epi:enhancer", [0, 3]), ("epi:promoter", [1, 2])]


def test_cropped_keeps_the_span_that_varies_and_its_offset():
    stored = {"sequence": np.array(["AAACGTTT", "AAAGGATT", "AAACCTTT"]), "relevance": np.arange(24.0).reshape(3, 1, 8)}
    sequences, relevance, offset = cropped(stored)
    assert sequences == ["CGT", "GGA", "CCT"] and offset == 3
    np.testing.assert_array_equal(relevance, stored["relevance"][:, :, 3:6])
