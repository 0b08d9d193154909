"""data.source: download end to end, against a loopback server serving a tiny synthetic world.

The served files are the simulator's output in the real sources' formats (the genome gzipped
like UCSC's hg38.fa.gz, JASPAR as a MEME file), so the download path runs offline.
The world is tests/conftest.py's session fixture `simulated` (the tiny config, simulated in-process).
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
from pathlib import Path

import pytest
import yaml

from crelens.data.jaspar import jaspar_motifs, write_meme

from conftest import load_config
from loopback_server import serve
from snakemake_runner import describe, job_stats, part_files, snakemake

pytestmark = pytest.mark.workflow

REPO = Path(__file__).resolve().parents[2]
UNPINNED = {"ccres", "jaspar"}  # md5 null: exercises rule download_unpinned
PROMOTERS = "Hs_EPDnew_006_hg38.bed"
DOWNLOAD_DIR = "results/data/download"
DATASETS = ["epi.parquet", "mpra.parquet", "mpra_snv.parquet", "mpra_ood.parquet", "summary.tsv", "overview.png"]


def resources() -> dict[str, dict]:
    """The download resources of the configuration: {name: {url, file, md5}}."""
    download = load_config()["data"]["download"]
    return {name: entry for name, entry in download.items() if isinstance(entry, dict)}


@pytest.fixture(scope="module")
def served(simulated, tmp_path_factory):
    """A folder holding every resource under the file name data.download expects; {file: md5}."""
    _, world = simulated
    root = tmp_path_factory.mktemp("served")
    for name, entry in resources().items():
        dest = root / entry["file"]
        if name == "genome":
            with open(world / "genome.fa", "rb") as src, gzip.GzipFile(dest, "wb", mtime=0) as out:
                shutil.copyfileobj(src, out)
        elif name == "jaspar":
            write_meme(jaspar_motifs("JASPAR2024"), dest)
        else:  # promoters, ccres, mpra_<cell>: the simulator writes them under the real names
            shutil.copyfile(world / entry["file"], dest)
    md5 = {path.name: hashlib.md5(path.read_bytes()).hexdigest() for path in root.iterdir()}
    assert len(md5) == len(resources())
    return root, md5


def download_config(path: Path, base_url: str, md5: dict[str, str], **pins) -> Path:
    """Tiny config on the download source from base_url; md5 pinned except UNPINNED; pins={name: md5}."""
    download = {}
    for name, entry in resources().items():
        pinned = None if name in UNPINNED else md5[entry["file"]]
        download[name] = {"url": f"{base_url}/{entry['file']}", "file": entry["file"], "md5": pins.get(name, pinned)}
    download.update(retries=1, timeout_s=10)
    config = load_config({"data": {"source": "download", "download": download}})
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_download_mode_end_to_end(served, simulated, tmp_path):
    root, md5 = served
    requests: list[str] = []
    workdir = tmp_path / "run"
    with serve(root, requests=requests) as base:
        proc = snakemake(workdir, configfile=download_config(tmp_path / "download.yaml", base, md5))
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


def _assert_nothing_left(workdir: Path) -> None:
    downloads = workdir / DOWNLOAD_DIR
    assert not (downloads / PROMOTERS).exists(), "a failed download must not leave its destination"
    assert part_files(downloads) == [], "a failed download must not leave temporary files"


def test_wrong_checksum_fails_and_leaves_nothing(served, tmp_path):
    root, md5 = served
    workdir = tmp_path / "run"
    with serve(root) as base:
        config = download_config(tmp_path / "bad_md5.yaml", base, md5, promoters="0" * 32)
        proc = snakemake(workdir, f"{DOWNLOAD_DIR}/{PROMOTERS}", configfile=config)
    assert proc.returncode != 0, describe(proc)
    assert "md5 mismatch" in proc.stdout, describe(proc)
    assert md5[PROMOTERS] in proc.stdout, "the message gives the digest that arrived"
    _assert_nothing_left(workdir)


def test_truncated_transfer_fails_and_leaves_nothing(served, tmp_path):
    root, md5 = served
    workdir = tmp_path / "run"
    requests: list[str] = []
    with serve(root, truncate={PROMOTERS: 100}, requests=requests) as base:
        config = download_config(tmp_path / "download.yaml", base, md5)
        proc = snakemake(workdir, f"{DOWNLOAD_DIR}/{PROMOTERS}", configfile=config)
    assert proc.returncode != 0, describe(proc)
    assert "truncated" in proc.stdout, describe(proc)
    assert requests == [PROMOTERS, PROMOTERS], "retries: 1 means two tries"
    _assert_nothing_left(workdir)


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
