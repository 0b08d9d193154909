"""Attribution jobs: sequence selection, the stored format, conservation columns, motif truth."""

import numpy as np
import pandas as pd
import pytest
import torch

from crelens.attribution.explained import CaduceusHeadModel, OneHotModel
from crelens.attribution.jobs import (
    attribute,
    conservation_table,
    faithfulness,
    read_attributions,
    relevant_motifs,
    select_sequences,
    write_attributions,
)
from crelens.attribution.summary import paired_differences
from crelens.errors import InputError
from crelens.models.caduceus import Caduceus, CaduceusConfig
from crelens.models.heads import build_head

SETTINGS = {"batch_size": 2, "epsilon": 0.0, "integrated_gradients": {"steps": 4, "baseline": "zero"},
            "smoothgrad": {"samples": 2, "noise": 0.1}, "ism_batch_size": 64}


def seqs(n, length=40, seed=0):
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), length)) for _ in range(n)]


@pytest.fixture
def table():
    s = seqs(12)
    return pd.DataFrame({"seq_id": [f"s{i}" for i in range(12)], "sequence": s,
                         "split": ["test"] * 8 + ["train"] * 4, "label_id": [0, 1] * 6})


@pytest.fixture
def head_model():
    torch.manual_seed(0)
    backbone = Caduceus(CaduceusConfig(d_model=8, n_layer=1, rcps=True, ssm_cfg={"d_state": 4})).backbone
    return CaduceusHeadModel(backbone, build_head("mean", 4, 8, 2), 4, ["K562", "HepG2"]).double().eval()


def test_test_selection_is_seeded_and_from_the_test_split(table):
    a = select_sequences("mpra", "test", table, 5, seed=1)
    b = select_sequences("mpra", "test", table, 5, seed=1)
    assert a.equals(b) and len(a) == 5
    assert set(a.seq_id) <= set(table.seq_id[table.split == "test"])
    epi = select_sequences("epi", "test", table, 4, seed=1)
    assert sorted(epi.label_id) == [0, 0, 1, 1]  # stratified by class


def test_all_selection_takes_every_test_sequence(table):
    chosen = select_sequences("epi", "all", table, 2, seed=0)
    assert list(chosen.seq_id) == [f"s{i}" for i in range(8)]


def test_top_selection_ranks_predictions(table):
    predictions = pd.DataFrame({"test_set": "id", "seq_id": [f"s{i}" for i in range(8)],
                                "pred_K562": np.arange(8.0), "pred_HepG2": np.arange(8.0)})
    top = select_sequences("mpra", "top", table, 3, seed=0, predictions=predictions)
    assert list(top.seq_id) == ["s7", "s6", "s5"]


def test_snv_selection_pairs_ref_and_alt():
    snv = pd.DataFrame({"pair_id": ["p1", "p2"], "ref_sequence": ["ACGT", "AAAA"], "alt_sequence": ["ACGA", "AAAT"]})
    chosen = select_sequences("mpra", "snv", pd.DataFrame(), 5, seed=0, snv=snv)
    assert list(chosen.seq_id) == ["p1:ref", "p1:alt", "p2:ref", "p2:alt"]
    with pytest.raises(ValueError, match="MPRA"):
        select_sequences("epi", "snv", pd.DataFrame(), 5, seed=0, snv=snv)


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


def test_unreadable_or_inconsistent_files_name_the_file(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="bad.npz"):
        read_attributions(bad)
    arrays = {"seq_id": np.array(["a"]), "sequence": np.array(["ACGT"]), "output": np.array(["K562"]),
              "relevance": np.zeros((2, 1, 4), np.float32), "prediction": np.zeros((1, 1), np.float32),
              "label_id": np.array([-1])}
    write_attributions(tmp_path / "shape.npz", arrays, {})
    with pytest.raises(InputError, match="do not match"):
        read_attributions(tmp_path / "shape.npz")


def test_relevant_motifs_follow_the_design():
    motifs = [{"name": "GATA1", "program": "K562", "effect": {"K562": 0.9, "HepG2": 0.0}},
              {"name": "CTCF", "program": "insulator", "effect": {"K562": 0.0, "HepG2": 0.0}},
              {"name": "HNF4A", "program": "HepG2", "effect": {"K562": 0.0, "HepG2": 0.9}}]
    assert relevant_motifs("mpra", "K562", motifs) == {"GATA1"}
    assert relevant_motifs("epi", "enhancer", motifs) == {"GATA1", "HNF4A"}


def test_faithfulness_rows_for_a_planted_position():
    """A one-hot linear model that only reads position 5: true relevance beats random."""

    class Reader(torch.nn.Module):
        def forward(self, x):  # (B, 4, L)
            return x[:, :, 5].sum(1, keepdim=True) * 2.0

    model = OneHotModel(Reader(), ["K562"]).float()
    model.register_parameter("dummy", torch.nn.Parameter(torch.zeros(1)))
    s = seqs(4, 20, seed=3)
    truth = np.zeros((4, 1, 20), np.float32)
    truth[:, 0, 5] = 1
    base = {"seq_id": np.array([f"s{i}" for i in range(4)]), "sequence": np.array(s), "output": np.array(["K562"]),
            "prediction": np.ones((4, 1), np.float32), "label_id": np.full(4, -1)}
    stored = {"truth": {**base, "relevance": truth},
              "random": {**base, "relevance": np.random.default_rng(0).normal(size=(4, 1, 20)).astype(np.float32)}}
    sites = pd.DataFrame({"seq_id": base["seq_id"], "start": 5, "end": 6, "motif_name": "GATA1"})
    motifs = [{"name": "GATA1", "program": "K562", "effect": {"K562": 1.0}}]
    scores, curves = faithfulness(model, stored, "mpra", steps=4, batch_size=8, sites=sites, design_motifs=motifs)
    mean = scores.groupby(["method", "metric"]).value.mean()
    assert mean["truth", "motif_auroc"] == 1.0
    assert mean["truth", "delta_af"] > mean["random", "delta_af"]
    assert set(curves.order) == {"morf", "lerf"}
    diff = paired_differences(scores.assign(method=scores.method.replace({"truth": "lrp"})), n_boot=50)
    assert (diff[diff.metric == "motif_auroc"].difference > 0).all()
