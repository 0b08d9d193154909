"""Parameters of torch models (crelens.parameters): counts, and state dicts checked against a model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from crelens.errors import InputError
from crelens.parameters import check_finite, count_parameters, few, key_problems


def test_count_parameters_skips_frozen_and_counts_tied_once():
    model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3))
    model[1].weight = model[0].weight
    assert count_parameters(model, trainable=True) == 9 + 3 + 3
    model[0].bias.requires_grad_(False)
    assert count_parameters(model, trainable=True) == 9 + 3
    assert count_parameters(model, trainable=False) == 9 + 3 + 3


def test_key_problems_name_missing_unexpected_and_misshaped_keys():
    expected = {"a": torch.zeros(2), "b": torch.zeros(3), "c": torch.zeros(1)}
    state = {"a": torch.zeros(2), "b": torch.zeros(4), "z": torch.zeros(1)}
    problems = key_problems(state, expected, required=["a", "b", "c"])
    assert problems == [
        "missing 1 key(s): c",
        "unexpected 1 key(s): z",
        "shape mismatch in 1 key(s): b (4,) (model expects (3,))",
    ]
    assert key_problems(expected, expected, required=expected) == []


def test_few_shows_five_and_counts_the_rest():
    assert few(["a", "b"]) == "a, b"
    assert few([str(i) for i in range(8)]) == "0, 1, 2, 3, 4, … (+3 more)"


def test_check_finite_names_the_tensor_and_the_file(tmp_path):
    check_finite({"w": torch.ones(3), "steps": torch.tensor([1, 2])}, tmp_path / "ok.safetensors")
    with pytest.raises(InputError, match=r"bad\.safetensors: w2 contains NaN or infinite values"):
        check_finite({"w": torch.ones(2), "w2": torch.tensor([1.0, float("inf")])}, tmp_path / "bad.safetensors")
