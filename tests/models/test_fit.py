"""Fitting a head from a data set table and its cache: outputs, and refusal of mismatched caches."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from safetensors.torch import load_file

from crelens.encoder.cache import write_cache
from crelens.errors import InputError
from crelens.models.fit import run_train_head
from crelens.sequences import one_hot_strands
from crelens.tables import write_table

SETTINGS = {"lr": 3e-3, "weight_decay": 1e-6, "batch_size": 16, "max_epochs": 15, "patience": 4, "dropout": 0.1}


@pytest.fixture
def mpra(tmp_path):
    rng = np.random.default_rng(0)
    n = 120
    signal = rng.standard_normal((n, 4, 6)).astype(np.float32)
    table = pd.DataFrame(
        {
            "seq_id": [f"s{i}" for i in range(n)],
            "split": np.where(np.arange(n) % 5 == 0, "val", np.where(np.arange(n) % 7 == 0, "test", "train")),
            "K562": (signal[:, :, 0] - signal[:, :, 1]).mean(axis=1) * 3,
            "HepG2": signal[:, :, 2].mean(axis=1) * 3,
            "sequence": ["ACGT"] * n,
        }
    )
    write_table(table, tmp_path / "mpra.parquet")
    index = {f"s{i}": i for i in range(n)}

    ids = iter(table.seq_id)

    def encode(seqs):
        return np.stack([signal[index[next(ids)]] for _ in seqs])

    ids_rc = iter(table.seq_id)
    write_cache(
        tmp_path / "cache",
        list(table.seq_id),
        list(table.sequence),
        encode,
        lambda seqs: np.stack([signal[index[next(ids_rc)]][::-1] for _ in seqs]),
        identity={},
        shard_size=40,
        batch_size=8,
    )
    return tmp_path


def test_fit_head_writes_weights_metrics_and_curve(mpra):
    out = mpra / "out"
    metrics = run_train_head(
        "mpra",
        "mean",
        mpra / "mpra.parquet",
        mpra / "cache/manifest.json",
        ["K562", "HepG2"],
        SETTINGS,
        0,
        out / "best.safetensors",
        out / "metrics.json",
        out / "curve.tsv",
    )
    assert metrics["outputs"] == 2 and metrics["val_metric"] == "mean_pearson" and metrics["val_value"] > 0.5
    assert json.loads((out / "metrics.json").read_text()) == metrics
    assert load_file(out / "best.safetensors")
    assert len(pd.read_csv(out / "curve.tsv", sep="\t")) == metrics["epochs_run"]


def test_cache_of_another_table_is_refused(mpra):
    table = pd.read_parquet(mpra / "mpra.parquet").iloc[::-1]
    write_table(table, mpra / "reordered.parquet")
    with pytest.raises(InputError, match="cache rows do not match"):
        run_train_head(
            "mpra",
            "mean",
            mpra / "reordered.parquet",
            mpra / "cache/manifest.json",
            ["K562"],
            SETTINGS,
            0,
            mpra / "w.safetensors",
            mpra / "m.json",
            mpra / "c.tsv",
        )


SCRATCH = {
    "batch_size": 16,
    "max_epochs": 2,
    "patience": 2,
    "malinois": {
        "lr": 0.0032658700881052086,
        "betas": [0.8661062881299633, 0.879223105336538],
        "weight_decay": 0.0003438210249762151,
        "amsgrad": True,
        "batch_size": 8,
        "loss": "l1_kl_mixed",
    },
    "attention": {"d_model": 8, "n_heads": 2, "kernel": 5, "dropout": 0.0, "lr": 3e-3, "weight_decay": 0.0},
    "joint": {"trunk_lr_scale": 0.3},
}


def sequence_tables(tmp_path, length, n=48):
    """MPRA and EPI tables of random sequences; activity counts a planted GATA, classes differ in GC."""
    rng = np.random.default_rng(1)
    seqs = ["".join(rng.choice(list("ACGT"), size=length)) for _ in range(n)]
    split = np.where(np.arange(n) % 4 == 0, "val", np.where(np.arange(n) % 6 == 1, "test", "train"))
    mpra = pd.DataFrame(
        {
            "seq_id": [f"m{i}" for i in range(n)],
            "split": split,
            "sequence": seqs,
            "K562": [s.count("GATA") + 0.1 * i % 3 for i, s in enumerate(seqs)],
            "HepG2": [s.count("CC") * 0.2 for s in seqs],
        }
    )
    labels = np.arange(n) % 3
    epi = pd.DataFrame(
        {
            "seq_id": [f"e{i}" for i in range(n)],
            "split": split,
            "sequence": seqs,
            "label_id": labels,
            "label": np.array(["enhancer", "promoter", "intergenic"])[labels],
            "weight": 1.0,
        }
    )
    write_table(mpra, tmp_path / "mpra.parquet")
    write_table(epi, tmp_path / "epi.parquet")
    return tmp_path / "mpra.parquet", tmp_path / "epi.parquet"


@pytest.mark.parametrize("name", ["attention", "sparse_attention_10"])
def test_fit_scratch_attention_models(tmp_path, name):
    from crelens.models.fit import run_train_scratch
    from crelens.models.registry import load_model

    mpra, _ = sequence_tables(tmp_path, 40)
    out = tmp_path / name
    metrics = run_train_scratch(
        "mpra",
        name,
        mpra,
        ["K562", "HepG2"],
        SCRATCH,
        0,
        out / "best.safetensors",
        out / "metrics.json",
        out / "curve.tsv",
    )
    assert metrics["model"] == name and metrics["parameters"] > 0 and metrics["flops_per_sequence"] > 0
    model, spec = load_model(out / "best.safetensors")
    assert spec["length"] == 40 and spec["outputs"] == 2 and spec["options"]["d_model"] == 8


def test_fit_scratch_malinois_one_epoch(tmp_path):
    from crelens.models.fit import run_train_scratch

    _, epi = sequence_tables(tmp_path, 600, n=24)
    settings = {**SCRATCH, "max_epochs": 1}
    out = tmp_path / "malinois"
    metrics = run_train_scratch(
        "epi", "malinois", epi, ["K562"], settings, 0, out / "best.safetensors", out / "metrics.json", out / "curve.tsv"
    )
    assert metrics["parameters"] == 4_107_183 and metrics["epochs_run"] == 1


def test_malinois_epochs_per_task(tmp_path):
    """`max_epochs: {mpra: .., epi: ..}` trains each task for its own number of epochs."""
    from crelens.models.fit import run_train_scratch

    _, epi = sequence_tables(tmp_path, 600, n=24)
    settings = {**SCRATCH, "malinois": {**SCRATCH["malinois"], "max_epochs": {"mpra": 3, "epi": 1}}}
    out = tmp_path / "malinois"
    metrics = run_train_scratch(
        "epi", "malinois", epi, ["K562"], settings, 0, out / "best.safetensors", out / "metrics.json", out / "curve.tsv"
    )
    assert metrics["epochs_run"] == 1


def test_fit_scratch_rejects_unequal_lengths(tmp_path):
    from crelens.models.fit import run_train_scratch

    mpra, _ = sequence_tables(tmp_path, 40)
    table = pd.read_parquet(mpra)
    table.loc[3, "sequence"] = "ACGT"
    write_table(table, mpra)
    with pytest.raises(InputError, match="one length"):
        run_train_scratch(
            "mpra",
            "attention",
            mpra,
            ["K562"],
            SCRATCH,
            0,
            tmp_path / "w.safetensors",
            tmp_path / "m.json",
            tmp_path / "c.tsv",
        )


def test_fit_joint_trains_both_tasks_with_differential_lrs(tmp_path):
    from crelens.models.fit import run_train_joint
    from crelens.models.registry import load_model

    mpra, epi = sequence_tables(tmp_path, 40)
    out = tmp_path / "joint"
    metrics = run_train_joint(
        mpra, epi, ["K562", "HepG2"], SCRATCH, 0, out / "best.safetensors", out / "metrics.json", out / "curve.tsv"
    )
    assert metrics["tasks"] == ["mpra", "epi"]
    curve = pd.read_csv(out / "curve.tsv", sep="\t")
    assert {"val_0", "val_1"} <= set(curve.columns)
    model, spec = load_model(out / "best.safetensors")
    assert spec["outputs"] == {"mpra": 2, "epi": 3}


def test_fit_kmer_picks_k_and_penalty_on_validation_and_writes_like_every_model(tmp_path):
    from crelens.models.fit import run_train_kmer
    from crelens.models.registry import load_model

    mpra, epi = sequence_tables(tmp_path, 40, n=120)
    out = tmp_path / "kmer"
    settings = {"ks": [2, 4], "penalties": [1.0, 100.0]}
    metrics = run_train_kmer(
        "mpra", mpra, ["K562", "HepG2"], settings, 0, out / "best.safetensors", out / "metrics.json", out / "curve.tsv"
    )
    curve = pd.read_csv(out / "curve.tsv", sep="\t")
    assert len(curve) == 4 and set(curve.columns) == {"k", "penalty", "val_metric"}
    best = curve.loc[curve.val_metric.idxmax()]
    assert (metrics["k"], metrics["penalty"]) == (best.k, best.penalty)
    assert metrics["val_value"] == pytest.approx(best.val_metric, abs=1e-6)
    model, spec = load_model(out / "best.safetensors")
    assert spec["model"] == "kmer_ridge" and spec["span"] == [0, 40] and spec["k"] == metrics["k"]
    metrics = run_train_kmer("epi", epi, ["K562"], settings, 0, out / "e.safetensors", out / "e.json", out / "e.tsv")
    assert metrics["val_metric"] == "macro_auroc" and load_model(out / "e.safetensors")[1]["outputs"] == 3


def test_distilled_students_learn_the_teachers_outputs(tmp_path):
    from crelens.models.distill import teacher_outputs
    from crelens.models.fit import run_train_distilled, run_train_scratch
    from crelens.models.registry import load_model

    mpra, _ = sequence_tables(tmp_path, 40, n=96)
    settings = {
        **SCRATCH,
        "max_epochs": 6,
        "distillation": {"lr": 1e-3, "max_epochs": 3, "patience": 2, "scorer_rows": 50},
    }
    run_train_scratch(
        "mpra",
        "attention",
        mpra,
        ["K562", "HepG2"],
        settings,
        0,
        tmp_path / "t.safetensors",
        tmp_path / "t.json",
        tmp_path / "t.tsv",
    )
    metrics = run_train_distilled(
        "mpra",
        "sparse_distilled_20",
        mpra,
        tmp_path / "t.safetensors",
        ["K562", "HepG2"],
        settings,
        0,
        tmp_path / "s.safetensors",
        tmp_path / "s.json",
        tmp_path / "s.tsv",
    )
    # the student follows its teacher (fidelity on the default world: README); the labels are never used
    assert metrics["val_metric"] == "pearson_with_teacher" and metrics["val_value"] > 0.3
    assert metrics["flops_per_sequence"] < metrics["teacher_flops_per_sequence"]
    student, spec = load_model(tmp_path / "s.safetensors")
    assert spec["teacher"] == "attention" and student.keep_share == 0.2
    teacher, _ = load_model(tmp_path / "t.safetensors")
    x = one_hot_strands(pd.read_parquet(mpra).sequence[:8])
    assert teacher_outputs(teacher, x).shape == (8, 2)
    with pytest.raises(InputError, match="the teacher must be 'attention'"):
        run_train_distilled(
            "mpra",
            "sparse_distilled_5",
            mpra,
            tmp_path / "s.safetensors",
            ["K562", "HepG2"],
            settings,
            0,
            tmp_path / "x.safetensors",
            tmp_path / "x.json",
            tmp_path / "x.tsv",
        )


@pytest.mark.parametrize(("scaling", "factor"), [("none", 1.0), ("sqrt", (128 / 1076) ** 0.5), ("linear", 128 / 1076)])
def test_malinois_learning_rate_is_scaled_from_the_published_batch_size(scaling, factor):
    from crelens.models.fit import malinois_lr

    recipe = {"lr": 0.0032658700881052086, "batch_size": 128, "reference_batch_size": 1076, "lr_scaling": scaling}
    assert malinois_lr(recipe) == pytest.approx(0.0032658700881052086 * factor)
    assert malinois_lr({"lr": 0.01, "batch_size": 64}) == 0.01  # no reference: the rate as given
