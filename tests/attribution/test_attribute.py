"""The attribute job (crelens.attribution.attribute): stored relevance, conservation columns, ISM over
every output. Chunked passes (attribution.chunk) are checked in tests/faults/test_library_defects.py."""

import numpy as np
import pytest
import torch

from crelens.attribution.attribute import attribute
from crelens.attribution.explained import CaduceusHeadModel
from crelens.attribution.selection import select_sequences
from crelens.attribution.store import conservation_table, read_attributions, write_attributions
from crelens.encoder.caduceus import Caduceus, CaduceusConfig
from crelens.models.heads import build_head

from helpers import selection_table

SETTINGS = {
    "batch_size": 2,
    "epsilon": 0.0,
    "integrated_gradients": {"steps": 4, "baseline": "zero"},
    "smoothgrad": {"samples": 2, "noise": 0.1},
    "ism_batch_size": 64,
}


@pytest.fixture
def table():
    return selection_table()


@pytest.fixture
def head_model():
    torch.manual_seed(0)
    backbone = Caduceus(CaduceusConfig(d_model=8, n_layer=1, rcps=True, ssm_cfg={"d_state": 4})).backbone
    return CaduceusHeadModel(backbone, build_head("mean", 4, 8, 2), 4, ["K562", "HepG2"]).double().eval()


def test_lrp_job_stores_relevance_and_conservation(head_model, table, tmp_path):
    chosen = select_sequences("mpra", "test", table, 3, seed=0)
    arrays = attribute(head_model, chosen, "lrp", SETTINGS, seed=0)
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
    arrays = attribute(head_model, chosen, "ism", SETTINGS, seed=0)
    x = head_model.inputs(list(chosen.sequence))
    assert np.allclose(arrays["relevance"][:, 1], ism(head_model, x, 1).numpy(), atol=1e-6)
