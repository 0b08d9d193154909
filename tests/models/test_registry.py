"""Self-describing checkpoints: every model of the comparison round-trips; mismatches fail clearly."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

from crelens.errors import InputError
from crelens.models.registry import build_model, load_model, save_model, task_view
from crelens.names import MODEL_NAMES

SMALL = {"d_model": 8, "n_heads": 2, "kernel": 5, "dropout": 0.0}


def spec_for(name):
    if name.endswith("_finetune"):  # the head's spec + its encoder's config.json; one-hot inputs
        from crelens.encoder.caduceus import CaduceusConfig

        encoder = CaduceusConfig(d_model=8, n_layer=1, rcps=True, ssm_cfg={"d_state": 4})
        head = spec_for(name.removesuffix("_finetune"))
        return {**head, "model": name, "dim": 8, "length": 40, "encoder_config": encoder.to_hf_dict("Caduceus")}
    if name.startswith("head_") and name.removesuffix("_full") != "head_conv":
        return {"model": name, "task": "mpra", "outputs": 3, "bins": 8, "dim": 6, "dropout": 0.1, "pool_bins": 4}
    if name == "malinois":
        return {"model": name, "task": "mpra", "outputs": 3, "length": 600}
    if name == "kmer_ridge":
        return {"model": name, "task": "epi", "outputs": 3, "length": 40, "k": 3, "span": [4, 36]}
    if name.removesuffix("_full") == "head_conv":
        return {"model": name, "task": "mpra", "outputs": 3, "bins": 40, "dim": 6, "dropout": 0.1}
    if name == "joint":
        return {"model": name, "outputs": {"mpra": 3, "epi": 3}, "length": 40, "options": SMALL}
    return {"model": name, "task": "epi", "outputs": 3, "length": 40, "options": SMALL}


def example(spec):
    if "bins" in spec and "encoder_config" not in spec:
        return torch.randn(2, spec["bins"], spec["dim"])
    return torch.nn.functional.one_hot(torch.randint(0, 4, (2, spec["length"])), 4).transpose(1, 2).float()


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_round_trip(tmp_path, name):
    spec = spec_for(name)
    torch.manual_seed(0)
    model = build_model(spec).eval()
    save_model(model, spec, tmp_path / "m.safetensors")
    loaded, got = load_model(tmp_path / "m.safetensors")
    assert got == spec and not loaded.training
    x = example(spec)
    with torch.no_grad():
        for task in spec["outputs"] if name == "joint" else [spec["task"]]:
            assert torch.equal(task_view(model, task)(x), task_view(loaded, task)(x))


def test_unknown_model_and_foreign_file(tmp_path):
    with pytest.raises(ValueError, match="unknown model"):
        build_model({"model": "transformer9000", "outputs": 1})
    save_file({"w": torch.zeros(2)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(InputError, match="not a crelens model checkpoint"):
        load_model(tmp_path / "plain.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(InputError, match="junk.safetensors"):
        load_model(tmp_path / "junk.safetensors")


def test_missing_key_and_wrong_shape_are_named(tmp_path):
    spec = spec_for("head_mean")
    model = build_model(spec)
    path = tmp_path / "m.safetensors"
    save_model(model, spec, path)
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
    state = load_file(str(path))
    dropped = dict(state)
    dropped.pop("norm.weight")
    save_file(dropped, str(tmp_path / "missing.safetensors"), metadata=metadata)
    with pytest.raises(InputError, match="norm.weight"):
        load_model(tmp_path / "missing.safetensors")
    state["norm.weight"] = torch.zeros(7)
    save_file(state, str(tmp_path / "shape.safetensors"), metadata=metadata)
    with pytest.raises(InputError, match="shape mismatch"):
        load_model(tmp_path / "shape.safetensors")
