"""Download faults (data.source: download) against the loopback server (tests/loopback_server.py).

Each probe fetches one resource with a fault injected, checks the failure (exit code, the file and
the problem named, nothing left in the download folder), then fetches it again without the fault
and checks that the file is the served one, byte for byte. Numbers in the names are the defects
of issue 16 that the probe keeps fixed.
"""

from __future__ import annotations

import pytest

from download_world import DOWNLOAD_DIR, download_config
from loopback_server import serve
from snakemake_runner import describe, part_files, snakemake

pytestmark = pytest.mark.workflow

PROMOTERS = "Hs_EPDnew_006_hg38.bed"
TARGET = f"{DOWNLOAD_DIR}/{PROMOTERS}"


def fetch(served, workdir, config, **serving):
    root, _ = served
    with serve(root, **serving) as base:
        return snakemake(workdir, TARGET, configfile=config(base))


def assert_refetched(served, workdir, tmp_path):
    """A fetch without the fault gives the served bytes and leaves no temporary file."""
    root, md5 = served
    proc = fetch(served, workdir, lambda base: download_config(tmp_path / "good.yaml", base, md5))
    assert proc.returncode == 0, describe(proc)
    assert (workdir / TARGET).read_bytes() == (root / PROMOTERS).read_bytes()
    assert part_files(workdir / DOWNLOAD_DIR) == []


def assert_failed(proc, workdir, expect):
    assert proc.returncode != 0, describe(proc)
    missing = [text for text in [PROMOTERS, *expect] if text not in proc.output]
    assert not missing, f"the message lacks {missing}; {describe(proc)}"
    assert not (workdir / TARGET).exists(), "a failed download must not leave its destination"
    assert part_files(workdir / DOWNLOAD_DIR) == [], "a failed download must not leave temporary files"


def test_wrong_md5_fails_naming_both_digests(served, tmp_path):
    _, md5 = served
    workdir = tmp_path / "run"
    proc = fetch(served, workdir, lambda base: download_config(tmp_path / "bad.yaml", base, md5, promoters="0" * 32))
    assert_failed(proc, workdir, ["md5 mismatch", md5[PROMOTERS], "0" * 32])
    assert_refetched(served, workdir, tmp_path)


def test_4_wrong_sha256_fails_naming_both_digests(served, tmp_path):
    _, md5 = served
    workdir = tmp_path / "run"
    extra = {"promoters": {"md5": None, "sha256": "0" * 64}}
    proc = fetch(served, workdir, lambda base: download_config(tmp_path / "bad.yaml", base, md5, extra))
    assert_failed(proc, workdir, ["sha256 mismatch", "0" * 64])
    assert_refetched(served, workdir, tmp_path)


def test_truncated_transfer_fails_after_its_retries(served, tmp_path):
    _, md5 = served
    workdir, requests = tmp_path / "run", []
    config = lambda base: download_config(tmp_path / "download.yaml", base, md5)  # noqa: E731
    proc = fetch(served, workdir, config, truncate={PROMOTERS: 100}, requests=requests)
    assert_failed(proc, workdir, ["truncated"])
    assert requests == [PROMOTERS, PROMOTERS], "retries: 1 means two tries"
    assert_refetched(served, workdir, tmp_path)


def test_7_a_body_over_the_size_limit_is_refused(served, tmp_path):
    _, md5 = served
    workdir = tmp_path / "run"
    extra = {"promoters": {"max_mb": 0.0001}}  # 100 bytes
    proc = fetch(served, workdir, lambda base: download_config(tmp_path / "small.yaml", base, md5, extra))
    assert_failed(proc, workdir, ["more than the limit of 100"])
    assert_refetched(served, workdir, tmp_path)


def test_7_a_part_file_left_by_a_killed_download_is_removed_by_the_next_one(served, tmp_path):
    """SIGKILL leaves no chance to clean up: the next download of the same file removes it."""
    workdir = tmp_path / "run"
    folder = workdir / DOWNLOAD_DIR
    folder.mkdir(parents=True)
    stale = folder / f".{PROMOTERS}.k1ll3d.part"
    stale.write_bytes(b"x" * 1000)
    assert_refetched(served, workdir, tmp_path)
    assert not stale.exists()
