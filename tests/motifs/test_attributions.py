"""Attributions as the motif stage reads them (crelens.motifs.attributions): groups and the variable span."""

import numpy as np

from crelens.motifs.attributions import groups_of, variable_span


def test_groups_are_cells_for_mpra_and_classes_for_epi():
    stored = {"seq_id": np.array(["s0", "s1", "s2", "s3"]), "output": np.array(["K562"]), "label_id": np.full(4, -1)}
    assert [g for g, _, _ in groups_of("mpra", stored)] == ["mpra:K562"]
    epi = {**stored, "output": np.array(["enhancer", "promoter"]), "label_id": np.array([0, 1, 1, 0])}
    groups = groups_of("epi", epi)
    assert [(g, list(rows)) for g, _, rows in groups] == [("epi:enhancer", [0, 3]), ("epi:promoter", [1, 2])]


def test_variable_span_drops_constant_flanks():
    assert variable_span(["AAACGTTT", "AAAGGATT", "AAACCTTT"]) == (3, 6)
    assert variable_span(["ACGT", "ACGT"]) == (0, 4)
