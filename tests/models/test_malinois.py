"""Malinois: the published architecture (parameter count, shapes, key names) and safe loading."""

from __future__ import annotations

import argparse
import os
import pickle
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from crelens.errors import InputError
from crelens.models.malinois import (
    Malinois,
    convert_checkpoint,
    load_malinois,
    parameter_count,
    read_malinois_checkpoint,
)
from crelens.parameters import count_parameters

# State-dict keys of the published checkpoint (as loaded in sjgosai/boda2
# `tutorials/load_malinois_model.ipynb`), written out by hand on purpose.
PUBLISHED_KEYS = {
    *(
        f"conv{i}.{name}"
        for i in (1, 2, 3)
        for name in (
            "conv.weight",
            "conv.bias",
            "bn_layer.weight",
            "bn_layer.bias",
            "bn_layer.running_mean",
            "bn_layer.running_var",
            "bn_layer.num_batches_tracked",
        )
    ),
    "linear1.linear.weight",
    "linear1.linear.bias",
    "linear1.bn_layer.weight",
    "linear1.bn_layer.bias",
    "linear1.bn_layer.running_mean",
    "linear1.bn_layer.running_var",
    "linear1.bn_layer.num_batches_tracked",
    *(f"branched.branched_layer_{i}.{p}" for i in (1, 2, 3) for p in ("weight", "bias")),
    "output.weight",
    "output.bias",
}


def one_hot(batch: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, 4, (batch, 600), generator=g)
    return torch.nn.functional.one_hot(idx, 4).permute(0, 2, 1).float()


def trained_looking(n_outputs: int = 3, seed: int = 0) -> Malinois:
    """A model with non-trivial BN statistics, so a load that skipped them would show."""
    torch.manual_seed(seed)
    model = Malinois(n_outputs)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.num_batches_tracked.fill_(1234)
    return model.eval()


def published_style_pt(path: Path, model: Malinois) -> Path:
    """A file shaped like the published torch_checkpoint.pt (dict with Namespace hparams)."""
    torch.save(
        {
            "model_module": "BassetBranched",
            "model_hparams": argparse.Namespace(
                n_outputs=model.n_outputs,
                n_linear_layers=1,
                linear_channels=1000,
                linear_dropout_p=0.11625456877954289,
                n_branched_layers=3,
                branched_channels=140,
                branched_activation="ReLU",
                branched_dropout_p=0.5757068086404574,
                loss_criterion="L1KLmixed",
                loss_args={"reduction": "mean", "alpha": 1.0, "beta": 5.0},
            ),
            "model_state_dict": model.state_dict(),
            "data_hparams": argparse.Namespace(padded_seq_len=600, batch_size=1076, val_chrs=["19", "21", "X"]),
            "timestamp": "20211113_021200",
            "random_tag": 287348,
        },
        path,
    )
    return path


# -- architecture ---------------------------------------------------------------------------


def test_parameter_count_is_published_figure():
    model = Malinois()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == 4_107_183 == parameter_count(3)
    # 3,567,900 shared trunk + 179,761 per output branch
    for n in (1, 2, 5):
        assert sum(p.numel() for p in Malinois(n).parameters()) == parameter_count(n) == 3_567_900 + n * 179_761


def test_layer_shapes():
    model = Malinois().eval()
    x = one_hot(2)
    with torch.no_grad():
        h1 = model.maxpool_3(model.nonlin(model.conv1(model.pad1(x))))
        h2 = model.maxpool_4(model.nonlin(model.conv2(model.pad2(h1))))
        h3 = model.maxpool_4(model.pad4(model.nonlin(model.conv3(model.pad3(h2)))))
        flat = model.encode(x)
        hidden = model.dropout(model.nonlin(model.linear1(flat)))
        branches = model.decode(flat)
        out = model(x)
    assert h1.shape == (2, 300, 200)
    assert h2.shape == (2, 200, 50)
    assert h3.shape == (2, 200, 13)
    assert flat.shape == (2, 2600) and torch.equal(flat, h3.flatten(1))
    assert hidden.shape == (2, 1000)
    assert branches.shape == (2, 3, 140)
    assert out.shape == (2, 3)


def test_state_dict_keys_and_shapes_match_published():
    state = Malinois().state_dict()
    assert set(state) == PUBLISHED_KEYS
    assert state["branched.branched_layer_1.weight"].shape == (3, 1000, 140)
    assert state["branched.branched_layer_2.weight"].shape == (3, 140, 140)
    assert state["branched.branched_layer_3.weight"].shape == (3, 140, 140)
    assert state["branched.branched_layer_1.bias"].shape == (3, 1, 140)
    assert state["output.weight"].shape == (3, 140, 1)
    assert state["output.bias"].shape == (3, 1, 1)
    assert state["linear1.linear.weight"].shape == (1000, 2600)


def test_branches_are_independent_per_output():
    """Changing one branch's weights changes only that output column."""
    model = trained_looking()
    x = one_hot(4)
    with torch.no_grad():
        before = model(x)
        model.branched.branched_layer_2.weight[1].mul_(2.0)
        after = model(x)
    assert torch.equal(before[:, [0, 2]], after[:, [0, 2]])
    assert not torch.allclose(before[:, 1], after[:, 1])


def test_input_shape_checked():
    model = Malinois().eval()
    with pytest.raises(ValueError, match=r"\(batch, 4, 600\)"):
        model(torch.zeros(2, 4, 599))
    with pytest.raises(ValueError, match=r"\(batch, 4, 600\)"):
        model(torch.zeros(4, 600))
    assert Malinois().input_length == 600


def test_eval_mode_is_deterministic_and_train_mode_uses_dropout():
    model = trained_looking()
    x = one_hot(3)
    with torch.no_grad():
        assert torch.equal(model(x), model(x))
        single = model(x[:1])
    assert torch.allclose(single, model(x)[:1], atol=1e-5)  # no batch dependence in eval mode
    model.train()
    torch.manual_seed(1)
    a = model(x)
    torch.manual_seed(2)
    b = model(x)
    assert not torch.allclose(a, b)


# -- checkpoints ----------------------------------------------------------------------------


def test_published_style_pt_loads_with_identical_outputs(tmp_path):
    model = trained_looking()
    path = published_style_pt(tmp_path / "torch_checkpoint.pt", model)
    state = read_malinois_checkpoint(path)
    assert set(state) == PUBLISHED_KEYS
    loaded = load_malinois(path)
    assert not loaded.training
    x = one_hot(5)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    assert int(loaded.conv1.bn_layer.num_batches_tracked) == 1234


def test_bare_state_dict_and_missing_num_batches_tracked_accepted(tmp_path):
    model = trained_looking()
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, tmp_path / "bare.pt")
    x = one_hot(2)
    with torch.no_grad():
        assert torch.equal(load_malinois(tmp_path / "bare.pt")(x), model(x))


class Payload:
    """Unpickling this would create a marker file: proof that code ran."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"echo pwned > {self.marker}",))


class Arbitrary:
    pass


@pytest.mark.parametrize("extra", ["reduce", "class"])
def test_arbitrary_pickles_are_refused_without_running(tmp_path, extra):
    marker = tmp_path / "pwned.txt"
    path = tmp_path / "evil.pt"
    data = {"model_state_dict": Malinois().state_dict(), "model_hparams": argparse.Namespace(n_outputs=3)}
    data["extra"] = Payload(str(marker)) if extra == "reduce" else Arbitrary()
    torch.save(data, path)
    with pytest.raises(InputError, match="refused: not a plain checkpoint") as info:
        read_malinois_checkpoint(path)
    assert str(path) in str(info.value)
    with pytest.raises(InputError, match="refused"):
        load_malinois(path)
    assert not marker.exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_plain_pickle_with_reduce_is_refused(tmp_path):
    """A raw pickle (not torch.save's zip) with a __reduce__ payload: refused, nothing runs."""
    marker = tmp_path / "pwned.txt"
    path = tmp_path / "raw.pt"
    path.write_bytes(pickle.dumps({"model_state_dict": Payload(str(marker))}))
    with pytest.raises(InputError, match="refused") as info:
        read_malinois_checkpoint(path)
    assert str(path) in str(info.value)
    assert not marker.exists()


def test_bad_files_raise_input_error(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_malinois_checkpoint(tmp_path / "absent.pt")
    with pytest.raises(InputError, match="not found"):
        load_malinois(tmp_path / "absent.safetensors")
    torch.save([torch.zeros(1)], tmp_path / "list.pt")
    with pytest.raises(InputError, match="expected a checkpoint dict"):
        read_malinois_checkpoint(tmp_path / "list.pt")
    torch.save({"model_module": "BassetBranched", "epoch": 3}, tmp_path / "nostate.pt")
    with pytest.raises(InputError, match="model_state_dict"):
        read_malinois_checkpoint(tmp_path / "nostate.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(InputError, match="junk.pt"):
        read_malinois_checkpoint(tmp_path / "junk.pt")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 16)
    with pytest.raises(InputError, match="cannot read safetensors"):
        load_malinois(tmp_path / "junk.safetensors")


def test_renamed_missing_and_misshaped_keys_are_named(tmp_path):
    state = trained_looking().state_dict()
    renamed = dict(state)
    renamed["branched.layer_1.weight"] = renamed.pop("branched.branched_layer_1.weight")
    torch.save({"model_state_dict": renamed}, tmp_path / "renamed.pt")
    with pytest.raises(InputError, match="missing 1 key") as info:
        load_malinois(tmp_path / "renamed.pt")
    message = str(info.value)
    assert "branched.branched_layer_1.weight" in message and "unexpected 1 key(s): branched.layer_1.weight" in message
    assert "renamed.pt" in message

    missing = {k: v for k, v in state.items() if k != "conv2.bn_layer.running_var"}
    torch.save({"model_state_dict": missing}, tmp_path / "missing.pt")
    with pytest.raises(InputError, match=r"missing 1 key\(s\): conv2.bn_layer.running_var"):
        load_malinois(tmp_path / "missing.pt")

    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "three.safetensors"))
    with pytest.raises(
        InputError,
        match=r"shape mismatch in 8 key\(s\): branched.branched_layer_1.weight \(3, 1000, 140\) \(model expects \(2, 1000, 140\)\)",
    ):
        load_malinois(tmp_path / "three.safetensors", n_outputs=2)
    assert load_malinois(tmp_path / "three.safetensors", n_outputs=None).n_outputs == 3

    bad = dict(state)
    bad["output.bias"] = torch.full_like(bad["output.bias"], float("nan"))
    save_file({k: v.contiguous() for k, v in bad.items()}, str(tmp_path / "nan.safetensors"))
    with pytest.raises(InputError, match="output.bias contains NaN"):
        load_malinois(tmp_path / "nan.safetensors")


def test_conversion_to_safetensors_round_trips(tmp_path):
    model = trained_looking()
    pt = published_style_pt(tmp_path / "torch_checkpoint.pt", model)
    out = convert_checkpoint(pt, tmp_path / "weights" / "malinois.safetensors")
    assert out.is_file()
    assert [p.name for p in out.parent.iterdir()] == ["malinois.safetensors"]  # no temp file left
    with safe_open(str(out), "pt") as handle:
        assert handle.metadata() == {"source": "malinois", "n_outputs": "3"}
        assert set(handle.keys()) == PUBLISHED_KEYS
    x = one_hot(4)
    with torch.no_grad():
        assert torch.equal(load_malinois(out)(x), model(x))


def test_failed_conversion_leaves_nothing(tmp_path):
    state = trained_looking().state_dict()
    del state["output.weight"]
    torch.save({"model_state_dict": state}, tmp_path / "broken.pt")
    with pytest.raises(InputError, match="output.weight"):
        convert_checkpoint(tmp_path / "broken.pt", tmp_path / "out" / "m.safetensors")
    assert not (tmp_path / "out" / "m.safetensors").exists()


def test_the_bare_insert_gives_the_same_layers_with_a_shorter_flatten():
    from crelens.models.malinois import flat_length, parameter_count

    model = Malinois(n_outputs=3, input_length=200)
    assert flat_length(200) == 4 and flat_length(600) == 13
    assert model.linear1.linear.weight.shape == (1000, 800)
    assert count_parameters(model, trainable=True) == parameter_count(3, 200) < parameter_count(3, 600)
    model.eval()
    assert model(torch.zeros(2, 4, 200)).shape == (2, 3)
    with pytest.raises(ValueError, match=r"\(batch, 4, 200\)"):
        model(torch.zeros(2, 4, 600))
    with pytest.raises(ValueError, match="at least"):
        Malinois(input_length=10)
