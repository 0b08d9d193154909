"""data.source: download, against a loopback server serving a tiny synthetic world.

The served world is tests/conftest.py's session fixture `served` (tests/download_world.py). The
download path ends where the data sets are built: every stage after them is the one the synthetic
source runs (tests/workflow/test_workflow.py), so it is planned here, not run again. The download
faults (checksums, truncation, size limit, stale temporary files) are in tests/faults.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from download_world import DOWNLOAD_DIR, UNPINNED, download_config
from loopback_server import serve
from snakemake_runner import describe, job_stats, part_files, snakemake

pytestmark = pytest.mark.workflow

REPO = Path(__file__).resolve().parents[2]
DATASETS = ["epi.parquet", "mpra.parquet", "mpra_snv.parquet", "mpra_ood.parquet", "summary.tsv", "overview.png"]
DATA_TARGETS = [f"results/datasets/{name}" for name in DATASETS] + ["results/data/jaspar.meme"]


def test_download_mode_end_to_end(served, simulated, tmp_path):
    root, md5 = served
    requests: list[str] = []
    workdir = tmp_path / "run"
    config = tmp_path / "download.yaml"
    with serve(root, requests=requests) as base:
        proc = snakemake(workdir, *DATA_TARGETS, configfile=download_config(config, base, md5))
    assert proc.returncode == 0, describe(proc)

    stats = job_stats(proc.stdout)
    assert stats.get("download") == len(md5) - len(UNPINNED), stats
    assert stats.get("download_unpinned") == len(UNPINNED), stats
    assert "simulate" not in stats and "truth_sites" not in stats, stats
    assert sorted(requests) == sorted(md5), "each file is fetched exactly once"

    for name in DATASETS:
        path = workdir / "results/datasets" / name
        assert path.is_file() and path.stat().st_size > 0, name
    assert (workdir / "results/data/jaspar.meme").stat().st_size > 0
    assert not (workdir / "results/datasets/truth_sites.parquet").exists(), "no truth in download mode"
    assert not (workdir / "results/data/synthetic").exists()

    downloads = workdir / DOWNLOAD_DIR
    for name in md5:
        assert (downloads / name).read_bytes() == (root / name).read_bytes(), name
    assert part_files(downloads) == []
    # An unpinned file gets its sha256 logged so that it can be pinned.
    assert "not pinned" in (workdir / "results/logs/download/GRCh38-cCREs.bed.log").read_text()
    # The run's genome is the served one, decompressed: same contigs, same lengths.
    fai = lambda path: [line.split("\t")[:2] for line in path.read_text().splitlines()]  # noqa: E731
    assert fai(workdir / "results/data/genome.fa.fai") == fai(simulated[1] / "genome.fa.fai")

    # The rest of the default target builds on these files, without fetching anything again.
    plan = snakemake(workdir, "-n", configfile=config)
    assert plan.returncode == 0, describe(plan)
    stats = job_stats(plan.output)
    assert {"pretrain_encoder", "cache_embeddings", "train_head", "attribute", "motif_enrichment"} <= set(stats)
    assert not {"download", "download_unpinned", "mpra_dataset", "epi_dataset", "simulate"} & set(stats), stats


def test_the_cluster_configuration_validates_and_builds_its_dag(tmp_path):
    """config/full.yaml (real sources, published encoder and Malinois recipe) plans every stage."""
    full = REPO / "config/full.yaml"
    settings = yaml.safe_load(full.read_text())
    assert settings["data"]["source"] == "download" and settings["encoder"]["source"] == "download"
    assert settings["baselines"]["malinois"]["batch_size"] == 1076
    assert settings["datasets"]["mpra"]["input_length"] == 600
    proc = snakemake(tmp_path, "-n", configfile=full)
    assert proc.returncode == 0, describe(proc)
    stats = job_stats(proc.output)
    assert {
        "download",
        "download_unpinned",
        "download_encoder",
        "cache_embeddings",
        "train_head",
        "train_scratch",
        "train_kmer",
        "train_distilled",
        "evaluate",
        "compare_models",
        "attribute",
        "motif_enrichment",
    } <= set(stats)
    assert "simulate" not in stats and "pretrain_encoder" not in stats
    assert not (tmp_path / "results").exists()
