"""Checkpoint folders: the exact published PS key set, strict key checking, safe .bin loading."""

from __future__ import annotations

import json
import os

import pytest
import torch
from safetensors.torch import load_file

from crelens.encoder.caduceus import Caduceus, CaduceusConfig, CaduceusForMaskedLM
from crelens.encoder.hub import load_caduceus, run_download_encoder, save_caduceus
from crelens.encoder.tokenizer import complement_map_tensor
from crelens.errors import InputError
from crelens.parameters import count_parameters

from helpers import published_config_json, random_checkpoint_state, write_folder

CM = complement_map_tensor()


def small_folder(tmp_path, rcps=True, mutate=None, fmt="safetensors"):
    config = published_config_json(d_model=16, n_layer=2, rcps=rcps)
    model = CaduceusForMaskedLM(CaduceusConfig.from_hf_dict(config), init=False)
    state = random_checkpoint_state(model)
    if mutate:
        mutate(state)
    return write_folder(tmp_path / "ckpt", config, state, fmt), state


def test_published_ps_key_set_round_trip(tmp_path):
    config = published_config_json()
    reference = CaduceusForMaskedLM(CaduceusConfig.from_hf_dict(config), init=False)
    full = reference.state_dict()
    aliases = reference.alias_keys()
    prefix = "caduceus.backbone.layers"
    assert set(aliases) == {
        f"{prefix}.{i}.mixer.submodule.mamba_rev.{p}.weight" for i in range(16) for p in ("in_proj", "out_proj")
    } | {"lm_head.lm_head.weight"}
    state = random_checkpoint_state(reference)
    assert len(full) - len(state) == 33 and len(state) == 276
    folder = write_folder(tmp_path / "ps", config, state)

    model = load_caduceus(folder)
    assert isinstance(model, CaduceusForMaskedLM) and model.config.rcps and not model.training
    assert count_parameters(model, trainable=False) == 7_725_312
    loaded = model.state_dict()
    assert set(loaded) == set(full)
    for key, value in state.items():
        assert torch.equal(loaded[key], value), key
    for alias, canonical in model.alias_keys().items():
        assert loaded[alias].data_ptr() == loaded[canonical].data_ptr(), alias
    layer = model.caduceus.backbone.layers[3].mixer.submodule
    assert layer.mamba_rev.in_proj.weight is layer.mamba_fwd.in_proj.weight
    embedding = model.caduceus.backbone.embeddings.word_embeddings.embedding.weight
    assert model.lm_head.lm_head.weight is embedding
    assert torch.equal(embedding, state["caduceus.backbone.embeddings.word_embeddings.embedding.weight"])


def test_save_writes_published_layout(tmp_path):
    model = CaduceusForMaskedLM(CaduceusConfig(d_model=16, n_layer=2, rcps=True))
    folder = save_caduceus(model, tmp_path / "ours")
    stored = load_file(str(folder / "model.safetensors"))
    assert set(stored) == set(model.state_dict()) - set(model.alias_keys())
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["CaduceusForMaskedLM"] and config["complement_map"]["7"] == 10
    again = load_caduceus(folder)
    ids = torch.randint(7, 11, (1, 30))
    with torch.no_grad():
        torch.testing.assert_close(again(ids), model(ids), rtol=0, atol=0)


def test_base_model_and_ph_are_detected(tmp_path):
    base = Caduceus(CaduceusConfig(d_model=16, n_layer=1, rcps=False))
    loaded = load_caduceus(save_caduceus(base, tmp_path / "base"))
    assert type(loaded) is Caduceus and not loaded.config.rcps
    assert "backbone.layers.0.mixer.mamba_fwd.in_proj.weight" in loaded.state_dict()


def test_missing_key_is_named(tmp_path):
    gone = "caduceus.backbone.layers.1.mixer.submodule.mamba_rev.A_log"
    folder, _ = small_folder(tmp_path, mutate=lambda s: s.pop(gone))
    with pytest.raises(InputError, match="missing 1 key") as info:
        load_caduceus(folder)
    assert gone in str(info.value) and "model.safetensors" in str(info.value)


def test_unexpected_key_is_named(tmp_path):
    folder, _ = small_folder(tmp_path, mutate=lambda s: s.update({"caduceus.backbone.extra.weight": torch.zeros(3)}))
    with pytest.raises(InputError, match=r"unexpected 1 key\(s\): caduceus.backbone.extra.weight"):
        load_caduceus(folder)


def test_wrong_shape_is_named(tmp_path):
    key = "caduceus.backbone.layers.0.mixer.submodule.mamba_fwd.x_proj.weight"
    folder, _ = small_folder(tmp_path, mutate=lambda s: s.update({key: torch.zeros(5, 5)}))
    with pytest.raises(InputError, match="shape mismatch") as info:
        load_caduceus(folder)
    assert key in str(info.value) and "(5, 5)" in str(info.value)


def test_corrupted_complement_map_is_refused(tmp_path):
    def corrupt(state):
        bad = CM.clone()
        bad[7], bad[8] = 8, 7
        state["lm_head.complement_map"] = bad

    folder, _ = small_folder(tmp_path, mutate=corrupt)
    with pytest.raises(InputError, match="lm_head.complement_map"):
        load_caduceus(folder)


def test_corrupted_complement_map_in_config_is_refused(tmp_path):
    folder, _ = small_folder(tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["complement_map"]["7"], config["complement_map"]["10"] = 9, 8
    config["complement_map"]["8"], config["complement_map"]["9"] = 10, 7
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(InputError, match="complement_map"):
        load_caduceus(folder)


def test_rcps_flag_must_match_weights(tmp_path):
    folder, _ = small_folder(tmp_path, rcps=False)
    config = json.loads((folder / "config.json").read_text())
    config["rcps"] = True
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(InputError, match="PH model"):
        load_caduceus(folder)


def test_pytorch_model_bin_with_weights_only(tmp_path):
    folder, state = small_folder(tmp_path, fmt="bin")
    model = load_caduceus(folder)
    for key, value in state.items():
        assert torch.equal(model.state_dict()[key], value)


def test_bin_with_tied_alias_keys_is_accepted_when_consistent(tmp_path):
    model = CaduceusForMaskedLM(CaduceusConfig(d_model=16, n_layer=1, rcps=True))
    folder = tmp_path / "full"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(model.config.to_hf_dict()))
    torch.save({k: v.clone() for k, v in model.state_dict().items()}, folder / "pytorch_model.bin")
    assert load_caduceus(folder).lm_head.lm_head.weight is not None


class _Payload:
    """Unpickling this would create a marker file: a stand-in for arbitrary code in a .bin."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


def test_bin_with_arbitrary_pickled_object_is_refused(tmp_path):
    folder, state = small_folder(tmp_path, fmt="bin")
    marker = tmp_path / "code_was_run"
    state["caduceus.backbone.payload"] = _Payload(str(marker))
    torch.save(state, folder / "pytorch_model.bin")
    with pytest.raises(InputError, match="refused"):
        load_caduceus(folder)
    assert not marker.exists()


def test_missing_files(tmp_path):
    with pytest.raises(InputError, match="config.json"):
        load_caduceus(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(published_config_json(16, 1)))
    with pytest.raises(InputError, match="no model.safetensors or pytorch_model.bin"):
        load_caduceus(tmp_path)


def test_download_encoder_from_a_pinned_revision_in_a_local_hub_cache(tmp_path):
    torch.manual_seed(0)
    model = CaduceusForMaskedLM(CaduceusConfig(d_model=8, n_layer=1, rcps=True))
    revision = "0123456789abcdef0123456789abcdef01234567"
    snapshot = tmp_path / "hub/models--kuleshov-group--caduceus-test/snapshots" / revision
    save_caduceus(model, snapshot)
    (tmp_path / "hub/models--kuleshov-group--caduceus-test/refs").mkdir(parents=True)
    out = run_download_encoder(
        "kuleshov-group/caduceus-test", revision, tmp_path / "out", cache_dir=tmp_path / "hub", local_files_only=True
    )
    assert (out / "model.safetensors").read_bytes() == (snapshot / "model.safetensors").read_bytes()
    assert load_caduceus(out).config.d_model == 8
    with pytest.raises(InputError, match="pin a commit"):
        run_download_encoder("kuleshov-group/caduceus-test", None, tmp_path / "x")
