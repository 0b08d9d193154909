"""heads.aug_mode end to end on the tiny config: the three training modes, what each one saw and
changed, their comparison, and the attribution of the fine-tuned model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from safetensors.numpy import load_file

from crelens.sequences import MPRA_DOWNSTREAM, MPRA_UPSTREAM, reverse_complement

from conftest import deep_merge
from snakemake_runner import copy_run, describe, job_stats, snakemake

pytestmark = pytest.mark.workflow

REPO = Path(__file__).resolve().parents[2]
MODES = {
    "heads": {
        "aug_mode": ["no_shift", "full", "finetune"],
        "in_loop": {"kinds": ["conv"], "max_shift": 15, "encoder_lr_scale": 0.5, "max_epochs": 1, "patience": 1},
    },
    "attribution": {"models": ["head_conv", "malinois", "head_conv_finetune"]},
}
IN_LOOP = ("head_conv_full", "head_conv_finetune")


@pytest.fixture(scope="module")
def modes_run(tiny_run, tmp_path_factory):
    """A copy of the clean tiny run with all three modes on (only the new jobs run)."""
    folder = tmp_path_factory.mktemp("modes")
    workdir = copy_run(tiny_run[0], folder / "run")
    tiny = yaml.safe_load((REPO / "tests/workflow/tiny.yaml").read_text())
    config = folder / "modes.yaml"
    config.write_text(yaml.safe_dump(deep_merge(tiny, MODES), sort_keys=False))
    targets = ["results/reports/aug_modes.tsv", "results/attribution/faithfulness_all.tsv"]
    proc = snakemake(workdir, *targets, configfile=config)
    assert proc.returncode == 0, describe(proc)
    return workdir, proc


def test_the_three_modes_train_and_only_the_new_models_run(modes_run):
    workdir, proc = modes_run
    stats = job_stats(proc.output)
    assert stats["train_head_in_loop"] == 2, describe(proc)
    assert not {"train_head", "cache_embeddings", "pretrain_encoder", "train_scratch"} & set(stats), describe(proc)
    for model, mode in (("head_conv", None), ("head_conv_full", "full"), ("head_conv_finetune", "finetune")):
        metrics = json.loads((workdir / f"results/models/mpra/{model}/metrics.json").read_text())
        assert metrics["model"] == model and metrics.get("aug_mode") == mode
        assert np.isfinite(metrics["val_value"])
    log = (workdir / "results/logs/train_head_in_loop/mpra_conv_finetune.log").read_text()
    assert "rows/s" in log and "encoder weights changed" in log


def test_full_leaves_the_encoder_unchanged_and_finetune_changes_it(modes_run):
    workdir, _ = modes_run
    encoder = load_file(workdir / "results/encoder/pretrained/model.safetensors")
    full = load_file(workdir / "results/models/mpra/head_conv_full/best.safetensors")
    tuned = load_file(workdir / "results/models/mpra/head_conv_finetune/best.safetensors")
    assert not any(k.startswith("encoder.") for k in full)  # full's checkpoint is the head alone
    # the frozen encoder was run, never changed: the largest change measured in the job is 0
    assert (
        json.loads((workdir / "results/models/mpra/head_conv_full/metrics.json").read_text())["encoder_max_change"]
        == 0.0
    )
    # finetune's encoder weights (keys `encoder.backbone.…`) moved away from the pretrained ones
    # (`caduceus.backbone.…` of the masked-LM checkpoint)
    pairs = {k: "caduceus." + k.removeprefix("encoder.") for k in tuned if k.startswith("encoder.")}
    assert pairs and all(v in encoder for v in pairs.values())
    changes = [float(np.abs(tuned[k] - encoder[v]).max()) for k, v in pairs.items()]
    assert max(changes) > 1e-4
    metrics = json.loads((workdir / "results/models/mpra/head_conv_finetune/metrics.json").read_text())
    assert metrics["encoder_max_change"] == pytest.approx(max(changes), rel=1e-5)


def test_shifted_inputs_read_real_plasmid_flanks(modes_run):
    """Every window of a recorded training batch is the insert moved by its shift, with the
    plasmid's own sequence (never padding) in the part the shift brings in, on either strand."""
    workdir, _ = modes_run
    mpra = pd.read_parquet(workdir / "results/datasets/mpra.parquet")
    inserts = set(mpra.loc[mpra.split == "train", "insert"])
    for model in IN_LOOP:
        shifted = pd.read_csv(workdir / f"results/models/mpra/{model}/shifted_inputs.tsv", sep="\t")
        assert len(shifted) > 8 and shifted["shift"].abs().max() <= 15 and shifted["shift"].nunique() > 3
        for row in shifted.itertuples():
            window, k = row.window, abs(row.shift)
            assert len(window) == 200 and "N" not in window
            if row.shift == 0:
                assert window in inserts or reverse_complement(window) in inserts
                continue
            head, tail = (window[:k], window[k:]) if row.shift < 0 else (window[-k:], window[:-k])
            # canonical strand: upstream plasmid before / downstream after the insert; reverse
            # complement: the complement of the downstream before / of the upstream after
            plasmid = (
                {MPRA_UPSTREAM[-k:], reverse_complement(MPRA_DOWNSTREAM[:k])}
                if row.shift < 0
                else {MPRA_DOWNSTREAM[:k], reverse_complement(MPRA_UPSTREAM[-k:])}
            )
            assert head in plasmid, (row.shift, head)
            assert any(
                s.startswith(tail) or s.endswith(tail) for s in inserts | {reverse_complement(i) for i in inserts}
            )


def test_modes_are_compared_with_the_cache_trained_head(modes_run):
    workdir, _ = modes_run
    modes = pd.read_csv(workdir / "results/reports/aug_modes.tsv", sep="\t")
    assert set(modes.model) == set(IN_LOOP) and set(modes.reference) == {"head_conv"}
    assert set(modes.test_set) == {"id", "snv", "ood"}
    assert modes[["delta", "ci_low", "ci_high", "pvalue_holm"]].notna().all().all()
    comparison = pd.read_csv(workdir / "results/reports/comparison.tsv", sep="\t")
    assert set(IN_LOOP) <= set(comparison.model)


def test_the_finetuned_model_is_explained_by_lrp_and_the_baselines(modes_run):
    from crelens.attribution.store import read_attributions

    workdir, _ = modes_run
    every = pd.read_csv(workdir / "results/attribution/faithfulness_all.tsv", sep="\t")
    methods = set(every[every.model == "head_conv_finetune"].method)
    assert methods == {"lrp", "grad_x_input", "integrated_gradients", "smoothgrad", "ism", "random"}
    stored = read_attributions(workdir / "results/attribution/mpra/head_conv_finetune/test/lrp.npz")
    assert np.max(stored["rel_err"]) < 1e-6  # conservation, checked on every sequence in float64
    cache_trained = read_attributions(workdir / "results/attribution/mpra/head_conv/test/lrp.npz")
    assert not np.allclose(stored["relevance"], cache_trained["relevance"])  # its own encoder explained
