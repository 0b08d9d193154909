"""The evaluation jobs (crelens.evaluation.evaluate): every test set predicted, scored, written."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from crelens.errors import InputError
from crelens.evaluation.evaluate import run_evaluate, run_evaluate_noise_ceiling
from crelens.evaluation.predictions import one_hot_predictor
from crelens.evaluation.scoring import METRIC_COLUMNS
from crelens.models.registry import build_model, save_model
from crelens.tables import read_table, write_table

CELLS = ["K562", "HepG2"]
SETTINGS = {"n_boot": 20, "level": 0.95, "motif_top_share": 0.1}
LENGTH = 30


def random_seqs(rng, n):
    return ["".join(rng.choice(list("ACGT"), LENGTH)) for _ in range(n)]


@pytest.fixture
def tables(tmp_path):
    rng = np.random.default_rng(0)
    n = 30
    mpra = pd.DataFrame(
        {
            "seq_id": [f"s{i}" for i in range(n)],
            "split": ["test"] * 20 + ["train"] * 10,
            "sequence": random_seqs(rng, n),
            "K562": rng.normal(size=n),
            "HepG2": rng.normal(size=n),
        }
    )
    snv = pd.DataFrame(
        {
            "pair_id": [f"s{i}__3A>G" for i in range(6)],
            "ref_sequence": list(mpra.sequence[:6]),
            "alt_sequence": random_seqs(rng, 6),
            "K562_delta": rng.normal(size=6),
            "HepG2_delta": rng.normal(size=6),
        }
    )
    ood = pd.DataFrame(
        {
            "seq_id": [f"D{i}" for i in range(8)],
            "sequence": random_seqs(rng, 8),
            "K562": rng.normal(size=8),
            "HepG2": rng.normal(size=8),
        }
    )
    paths = {}
    for name, frame in (("mpra", mpra), ("mpra_snv", snv), ("mpra_ood", ood)):
        paths[name] = tmp_path / f"{name}.parquet"
        write_table(frame, paths[name])
    return paths


@pytest.fixture
def attention(tmp_path):
    torch.manual_seed(0)
    spec = {
        "model": "attention",
        "task": "mpra",
        "outputs": 2,
        "length": LENGTH,
        "options": {"d_model": 8, "n_heads": 2},
    }
    save_model(build_model(spec), spec, tmp_path / "attention.safetensors")
    return tmp_path / "attention.safetensors"


def test_every_mpra_test_set_is_predicted_and_scored(tables, attention, tmp_path):
    metrics = run_evaluate(
        "mpra", "attention", attention, tables, CELLS, SETTINGS, 0, tmp_path / "p.parquet", tmp_path / "m.tsv"
    )
    predictions = read_table(tmp_path / "p.parquet")
    assert predictions.groupby("test_set").size().to_dict() == {"id": 20, "ood": 8, "snv": 6}
    written = read_table(tmp_path / "m.tsv")
    assert list(written.columns) == METRIC_COLUMNS
    assert set(written.model) == {"attention"}
    assert {"pearson_K562", "spearman_HepG2", "pearson_mean"} <= set(written.metric)
    assert len(metrics) == len(written)
    # the predictions are the model's own, strand-averaged
    from crelens.models.registry import load_model

    model, _ = load_model(attention)
    frame = read_table(tables["mpra"])
    direct = one_hot_predictor(model, "mpra", {"mpra": (frame, "sequence")})("mpra", np.arange(20))
    np.testing.assert_allclose(
        predictions[predictions.test_set == "id"][["pred_K562", "pred_HepG2"]], direct, rtol=1e-5
    )


def test_attention_models_get_motif_hit_rows(tables, attention, tmp_path):
    sites = pd.DataFrame(
        {"dataset": "mpra", "seq_id": ["s0", "s1"], "start": [3, 10], "end": [9, 16], "motif_name": "GATA1"}
    )
    write_table(sites, tmp_path / "sites.parquet")
    metrics = run_evaluate(
        "mpra",
        "attention",
        attention,
        tables,
        CELLS,
        SETTINGS,
        0,
        tmp_path / "p.parquet",
        tmp_path / "m.tsv",
        sites_path=tmp_path / "sites.parquet",
    )
    rows = metrics.set_index("metric")
    assert {"attention_motif_hit_rate", "attention_motif_chance_rate", "attention_motif_enrichment"} <= set(rows.index)
    assert rows.loc["attention_motif_chance_rate", "value"] == pytest.approx(6 / LENGTH)


def test_a_checkpoint_of_another_model_or_a_head_without_caches_is_refused(tables, attention, tmp_path):
    with pytest.raises(InputError, match="checkpoint holds model 'attention', expected 'malinois'"):
        run_evaluate(
            "mpra", "malinois", attention, tables, CELLS, SETTINGS, 0, tmp_path / "p.parquet", tmp_path / "m.tsv"
        )
    spec = {"model": "head_mean", "task": "mpra", "outputs": 2, "bins": 2, "dim": 4, "dropout": 0.1}
    save_model(build_model(spec), spec, tmp_path / "head.safetensors")
    with pytest.raises(InputError, match="cache manifests are needed"):
        run_evaluate(
            "mpra",
            "head_mean",
            tmp_path / "head.safetensors",
            tables,
            CELLS,
            SETTINGS,
            0,
            tmp_path / "p.parquet",
            tmp_path / "m.tsv",
        )
    assert not (tmp_path / "m.tsv").exists()


def test_the_noise_ceiling_scores_the_truth(tables, tmp_path):
    mpra, ood = read_table(tables["mpra"]), read_table(tables["mpra_ood"])
    truth = pd.concat([mpra, ood])[["seq_id", *CELLS]].rename(columns={c: f"{c}_true" for c in CELLS})
    snv = read_table(tables["mpra_snv"])
    variants = (
        snv[["pair_id"]]
        .rename(columns={"pair_id": "variant_id"})
        .assign(K562_true_delta=snv.K562_delta.to_numpy(), HepG2_true_delta=snv.HepG2_delta.to_numpy())
    )
    write_table(truth, tmp_path / "truth.tsv")
    write_table(variants, tmp_path / "variants.tsv")
    metrics = run_evaluate_noise_ceiling(
        tmp_path / "truth.tsv",
        tmp_path / "variants.tsv",
        tables,
        CELLS,
        SETTINGS,
        0,
        tmp_path / "p.parquet",
        tmp_path / "m.tsv",
    )
    means = metrics[metrics.metric == "pearson_mean"].set_index("test_set").value
    assert means.to_dict() == pytest.approx({"id": 1.0, "snv": 1.0, "ood": 1.0})  # the truth is its own ceiling
    assert set(metrics.model) == {"noise_ceiling"}
