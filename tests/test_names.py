"""The workflow's vocabulary (crelens.names): importable without dependencies, and what the code implements."""

from __future__ import annotations

import subprocess
import sys

import torch

from crelens import names


def test_importing_names_loads_nothing_else():
    """The DAG imports this module; it must not pull in numpy, pandas or torch."""
    code = (
        "import sys; import crelens.names; "
        "heavy = {'numpy', 'pandas', 'torch', 'captum', 'matplotlib', 'scipy'} & set(sys.modules); "
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_model_names_are_the_models_the_registry_builds():
    from crelens.models.registry import build_model

    for name in names.SCRATCH_MODELS:
        options = {} if name == "malinois" else {"d_model": 8, "n_heads": 2}
        length = 600 if name == "malinois" else 40  # Malinois is defined for 600-bp inputs
        model = build_model({"model": name, "outputs": 2, "length": length, "options": options}).eval()
        assert model(torch.zeros(1, 4, length)).shape == (1, 2), name
    for name, kind in names.HEAD_MODELS.items():
        assert name == names.head_name(kind, names.HEAD_MODES[name])
        if names.HEAD_MODES[name] == "finetune":  # encoder + head: tests/models/test_in_loop.py
            continue
        head = build_model({"model": name, "outputs": 2, "bins": 4, "dim": 8, "dropout": 0.1}).eval()
        assert head(torch.zeros(1, 4, 8)).shape == (1, 2), name
    assert names.JOINT in names.MODEL_NAMES and len(set(names.MODEL_NAMES)) == len(names.MODEL_NAMES)


def test_methods_are_the_implemented_baselines():
    from crelens.attribution.baselines import METHODS

    assert tuple(METHODS) == names.BASELINE_METHODS
    assert names.ATTRIBUTION_METHODS == ("lrp", *names.BASELINE_METHODS)


def test_cache_tables_name_tables_of_the_tasks():
    for task, keys in names.TASK_TABLES.items():
        assert task in names.TASKS
        assert all(key in names.CACHE_TABLES for key in keys)
    assert set(names.TASK_KINDS.values()) == {"regression", "classification"}


def test_paper_figures_are_the_drawn_figures():
    from crelens.figures.paper import FIGURE_FUNCTIONS

    assert tuple(FIGURE_FUNCTIONS) == names.PAPER_FIGURES


def test_is_head():
    assert names.is_head("head_mean") and not names.is_head("malinois") and not names.is_head("head_unknown")
    assert names.is_head("head_conv_full") and names.is_head("head_conv_finetune")


def test_head_names_of_the_training_modes():
    assert [names.head_name("conv", mode) for mode in names.AUG_MODES] == [
        "head_conv",
        "head_conv_full",
        "head_conv_finetune",
    ]
    assert names.HEAD_MODELS["head_mean_finetune"] == "mean" and names.HEAD_MODES["head_mean_full"] == "full"
    # a fine-tuned head runs its own encoder; the others predict from the frozen encoder's cache
    assert names.reads_cache("head_conv") and names.reads_cache("head_conv_full")
    assert not names.reads_cache("head_conv_finetune") and not names.reads_cache("malinois")
