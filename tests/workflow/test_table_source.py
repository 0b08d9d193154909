"""A user's own MPRA table (data.source: table) through the whole workflow, and the predict target."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import deep_merge
from fault_probe import assert_same_results, reproduced
from helpers import vcf_spec_genome
from library_table import library
from snakemake_runner import copy_run, describe, snakemake

pytestmark = pytest.mark.workflow

TABLE = Path(__file__).resolve().parent / "tiny_table.yaml"
SPEC_VCF = Path(__file__).resolve().parents[1] / "fixtures/vcf42_spec_example.vcf"


def table_config(path: Path, overrides: dict | None = None) -> Path:
    path.write_text(yaml.safe_dump(deep_merge(yaml.safe_load(TABLE.read_text()), overrides or {}), sort_keys=False))
    return path


def test_the_whole_dag_runs_on_a_table_without_coordinates(table_run):
    results = table_run / "results"
    comparison = pd.read_csv(results / "reports/comparison.tsv", sep="\t")
    assert set(comparison.task) == {"mpra"}
    assert {"kmer_ridge", "malinois", "head_conv", "attention"} <= set(comparison.model)
    assert {"id", "snv", "ood"} <= set(comparison.test_set)
    mpra = pd.read_parquet(results / "datasets/mpra.parquet")
    raw = pd.read_csv(table_run / "library.tsv", sep="\t", dtype=str, keep_default_na=False).set_index("name")
    assert (mpra.split == mpra.seq_id.map(raw.fold)).all()  # the table's own folds
    assert len(pd.read_parquet(results / "datasets/mpra_snv.parquet")) == 12
    for made in ("attribution/faithfulness.tsv", "motifs/enrichment.tsv", "figures/data_overview.png"):
        assert (results / made).stat().st_size > 0, made
    for truth in ("datasets/truth_sites.parquet", "motifs/truth_check.tsv", "datasets/epi.parquet", "data/genome.fa"):
        assert not (results / truth).exists(), truth
    notes = (results / "reports/comparison.md").read_text()
    assert "No known truth (data.source: table)" in notes and "No EPI set" in notes
    faithfulness = pd.read_csv(results / "attribution/faithfulness.tsv", sep="\t")
    assert "motif_auroc" not in set(faithfulness.metric)


def test_a_rerun_of_the_table_run_has_nothing_to_do(table_run):
    proc = snakemake(table_run, configfile=TABLE)
    assert proc.returncode == 0 and "Nothing to be done" in proc.output, describe(proc)


def test_two_runs_write_byte_identical_results(table_run, tmp_path):
    """Every file under results/ except logs/ and benchmarks/ (wall-clock timings live there):
    models, predictions, attributions, TF-MoDISco, tables and figures (README, "Reproducibility")."""
    library().to_csv(tmp_path / "library.tsv", sep="\t", index=False)
    proc = snakemake(tmp_path, configfile=TABLE)
    assert proc.returncode == 0, describe(proc)

    assert len(reproduced(table_run)) > 150
    assert_same_results(table_run, tmp_path)


def test_predict_scores_a_fasta_with_a_trained_model(table_run, tmp_path):
    table_run = copy_run(table_run, tmp_path / "run")
    rng = np.random.default_rng(3)
    records = {f"new{i}": "".join(rng.choice(list("ACGT"), 120)) for i in range(4)}
    (table_run / "new.fa").write_text("".join(f">{k}\n{v}\n" for k, v in records.items()))
    proc = snakemake(table_run, "predict", "--config", "predict={input: new.fa, model: head_conv}", configfile=TABLE)
    assert proc.returncode == 0, describe(proc)
    table = pd.read_csv(table_run / "results/predict/new_head_conv/predictions.tsv", sep="\t")
    assert list(table.columns) == ["id", "K562", "HepG2"] and list(table.id) == list(records)
    assert np.isfinite(table[["K562", "HepG2"]].to_numpy()).all()


def test_predict_scores_vcf_snvs_and_stops_on_a_ref_mismatch(table_run, tmp_path):
    table_run = copy_run(table_run, tmp_path / "run")
    vcf_spec_genome(table_run / "genome20.fa")
    (table_run / "spec.vcf").write_text(SPEC_VCF.read_text())
    setting = "predict={input: spec.vcf, genome: genome20.fa, model: malinois, relevance: true}"
    proc = snakemake(table_run, "predict", "--config", setting, configfile=TABLE)
    assert proc.returncode == 0, describe(proc)
    folder = table_run / "results/predict/spec_malinois"
    table = pd.read_csv(folder / "predictions.tsv", sep="\t")
    assert list(table.id) == ["rs6054257", "20:17330T>A"]
    assert np.allclose(table.K562_delta, table.K562_alt - table.K562_ref, atol=1e-5)
    assert (folder / "relevance.npz").exists() and (folder / "bedgraph/relevance_K562.bedGraph").exists()
    (table_run / "bad.vcf").write_text(SPEC_VCF.read_text().replace("rs6054257\tG\tA", "rs6054257\tC\tA"))
    proc = snakemake(
        table_run,
        "predict",
        "--config",
        "predict={input: bad.vcf, genome: genome20.fa, model: malinois}",
        configfile=TABLE,
    )
    assert proc.returncode != 0
    assert "bad.vcf, line 14: REF C of rs6054257 disagrees with the genome" in proc.output, describe(proc)
    assert not (table_run / "results/predict/bad_malinois/predictions.tsv").exists()


def test_without_folds_the_split_keeps_near_copies_together(tmp_path):
    library(folds=False).to_csv(tmp_path / "library.tsv", sep="\t", index=False)
    config = table_config(tmp_path / "config.yaml", {"data": {"table": {"split": None}}})
    config.write_text(config.read_text().replace("split: null", "split: null\n    similarity: {method: kmer}"))
    proc = snakemake(tmp_path, "results/datasets/mpra.parquet", configfile=config)
    assert proc.returncode == 0, describe(proc)
    split = pd.read_parquet(tmp_path / "results/datasets/mpra.parquet").set_index("seq_id").split
    near = [s for s in split.index if s.startswith("near")]
    assert near and all(split[n] == split[n.replace("near", "seq")] for n in near)
    assert set(split) == {"train", "val", "test"}


def test_a_table_with_a_genome_and_element_beds_adds_the_epi_task(tmp_path):
    library().to_csv(tmp_path / "library.tsv", sep="\t", index=False)
    for name in ("genome.fa", "promoters.bed", "ccres.bed"):
        (tmp_path / name).write_text("")
    files = {"genome": "genome.fa", "promoters": "promoters.bed", "ccres": "ccres.bed"}
    config = table_config(tmp_path / "config.yaml", {"data": {"table": files}})
    proc = snakemake(tmp_path, "-n", configfile=config)
    assert proc.returncode == 0, describe(proc)
    for rule in ("prepare_genome", "epi_dataset"):
        assert f"rule {rule}:" in proc.output, rule
    assert "results/models/epi/head_conv/metrics.json" in proc.output
    pretrain = proc.output.split("rule pretrain_encoder:")[1].split("output:")[0]
    assert "results/data/genome.fa" in pretrain and "promoters.bed" in pretrain
