"""The attribute job (crelens.attribution.attribute): stored relevance, conservation columns, ISM over
every output. Chunked passes (attribution.chunk) are checked in tests/faults/test_library_defects.py."""

import numpy as np
import pytest

from crelens.attribution.attribute import attribute
from crelens.attribution.selection import select_sequences
from crelens.attribution.store import conservation_table, read_attributions, write_attributions

from helpers import ATTRIBUTE_SETTINGS, selection_table, tiny_head_model


@pytest.fixture
def table():
    return selection_table()


@pytest.fixture
def head_model():
    return tiny_head_model()


def test_lrp_job_stores_relevance_and_conservation(head_model, table, tmp_path):
    chosen = select_sequences("mpra", "test", table, 3, seed=0)
    arrays = attribute(head_model, chosen, "lrp", ATTRIBUTE_SETTINGS, seed=0)
    assert arrays["relevance"].shape == (3, 2, 40) and arrays["relevance"].dtype == np.float32
    assert arrays["rel_err"].max() < 1e-10
    path = tmp_path / "lrp.npz"
    write_attributions(path, arrays, {"method": "lrp", "dtype": "float64"})
    stored = read_attributions(path)
    assert stored["meta"]["method"] == "lrp"
    frame = conservation_table(stored)
    assert len(frame) == 6 and frame.rel_err.max() < 1e-10
    total = frame.relevance_sum + frame.filter(like="absorbed_").sum(axis=1)
    assert np.allclose(total, frame.explained, rtol=1e-9)


def test_ism_job_scores_every_output_like_the_single_output_function(head_model, table):
    from crelens.attribution.baselines import ism

    chosen = select_sequences("mpra", "test", table, 2, seed=0)
    arrays = attribute(head_model, chosen, "ism", ATTRIBUTE_SETTINGS, seed=0)
    x = head_model.inputs(list(chosen.sequence))
    assert np.allclose(arrays["relevance"][:, 1], ism(head_model, x, 1).numpy(), atol=1e-6)
