"""The models as explained (crelens.attribution.explained): exactly the workflow's predictions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crelens.attribution.explained import CaduceusHeadModel, OneHotModel, load_explained, per_nucleotide
from crelens.encoder.caduceus import Caduceus, CaduceusConfig, encode_rc_invariant
from crelens.encoder.hub import save_caduceus
from crelens.encoder.tokenizer import CaduceusTokenizer
from crelens.models.heads import build_head
from crelens.models.registry import build_model, save_model
from crelens.sequences import one_hot_strands, reverse_complement

SEQS = ["ACGTTGCAAGGCTTAACCGT", "TTTTGGGGCCCCAAAANNAC"]


def caduceus(rcps: bool) -> Caduceus:
    torch.manual_seed(0)
    return Caduceus(CaduceusConfig(d_model=8, n_layer=1, rcps=rcps, ssm_cfg={"d_state": 4})).double().eval()


@pytest.mark.parametrize("rcps", [True, False])
def test_head_model_is_the_head_on_pooled_rc_invariant_features_of_both_strands(rcps):
    encoder = caduceus(rcps)
    head = build_head("mean", 4, 8, 2).double().eval()
    model = CaduceusHeadModel(encoder.backbone, head, 4, ["K562", "HepG2"]).double().eval()
    ids = CaduceusTokenizer(n_as="pad").encode(SEQS)
    with torch.no_grad():
        per_base = encode_rc_invariant(encoder, ids).double()
        pooled = torch.nn.functional.adaptive_avg_pool1d(per_base.transpose(1, 2), 4).transpose(1, 2)
        expected = 0.5 * (head(pooled) + head(pooled.flip(1)))  # what the cache-trained head predicts
        actual = model(model.inputs(SEQS))
    torch.testing.assert_close(actual, expected, rtol=1e-10, atol=1e-10)
    with torch.no_grad():
        reverse = model(model.inputs([reverse_complement(s) for s in SEQS]))
    torch.testing.assert_close(reverse, actual, rtol=1e-8, atol=1e-8)  # strand-invariant


def test_head_model_rows_depend_only_on_the_base():
    model = CaduceusHeadModel(caduceus(True).backbone, build_head("mean", 4, 8, 2).double(), 4, ["a", "b"]).double()
    x = model.inputs(["ACGTN"])[0]
    torch.testing.assert_close(x[:4], model.base_vectors)
    torch.testing.assert_close(x[4], model.removed_vector)
    assert model.lrp_modules() == [model.backbone, model.head]


def test_one_hot_model_averages_the_sequence_and_its_reverse_complement():
    torch.manual_seed(1)
    spec = {"model": "attention", "outputs": 2, "length": 20, "options": {"d_model": 8, "n_heads": 2}}
    cnn = build_model(spec).eval()
    model = OneHotModel(cnn, ["K562", "HepG2"]).eval()
    strands = torch.from_numpy(one_hot_strands(SEQS).astype(np.float32))
    with torch.no_grad():
        expected = 0.5 * (cnn(strands[:, 0]) + cnn(strands[:, 1]))
        actual = model(model.inputs(SEQS))
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(model.base_vectors, torch.eye(4))
    assert model.removed_vector.abs().sum() == 0 and model.lrp_modules() == []


def test_per_nucleotide_relevance_sums_the_channels():
    attributions = torch.arange(24.0).reshape(1, 4, 6)
    torch.testing.assert_close(per_nucleotide(attributions), attributions.sum(-1))


def test_load_explained_rebuilds_the_trained_model(tmp_path):
    encoder = caduceus(True)
    save_caduceus(encoder, tmp_path / "encoder")
    spec = {"model": "head_mean", "task": "mpra", "outputs": 2, "bins": 4, "dim": 8, "dropout": 0.1}
    head = build_model(spec)
    save_model(head, spec, tmp_path / "head.safetensors")
    model = load_explained(
        tmp_path / "head.safetensors", "mpra", ["K562", "HepG2"], encoder_folder=tmp_path / "encoder"
    )
    assert isinstance(model, CaduceusHeadModel) and model.dtype == torch.float64 and not model.training
    with pytest.raises(ValueError, match="needs the encoder"):
        load_explained(tmp_path / "head.safetensors", "mpra", ["K562", "HepG2"])
    spec = {"model": "malinois", "task": "mpra", "outputs": 2, "length": 600, "options": {}}
    save_model(build_model(spec), spec, tmp_path / "malinois.safetensors")
    cnn = load_explained(tmp_path / "malinois.safetensors", "mpra", ["K562", "HepG2"], dtype="float32")
    assert isinstance(cnn, OneHotModel) and cnn.dtype == torch.float32
