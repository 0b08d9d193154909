"""crelens.data.download against a loopback server: complete files only, faults retried or reported."""

from __future__ import annotations

import gzip
import hashlib
import logging

import pytest

from crelens.data.download import DownloadError, download

from loopback_server import serve

PAYLOAD = bytes(range(256)) * 400  # 100 kB: several chunks at the chunk size used below


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    """A proxy in the environment must not intercept requests to the loopback server."""
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def served(tmp_path):
    """A folder to serve with one data file in it, and an empty folder to download into."""
    root = tmp_path / "remote"
    root.mkdir()
    (root / "data.bin").write_bytes(PAYLOAD)
    out = tmp_path / "out"
    out.mkdir()
    return root, out


def fetch(url, dest, **kwargs):
    kwargs = {"retries": 2, "backoff": 0, "timeout": 5, "chunk_size": 16384, **kwargs}
    return download(url, dest, **kwargs)


def test_good_file_with_md5(served):
    root, out = served
    with serve(root) as base:
        result = fetch(f"{base}/data.bin", out / "data.bin", md5=hashlib.md5(PAYLOAD).hexdigest())
    assert (out / "data.bin").read_bytes() == PAYLOAD
    assert result["bytes"] == len(PAYLOAD)
    assert result["path"] == str(out / "data.bin")
    assert result["sha256"] == hashlib.sha256(PAYLOAD).hexdigest()
    assert result["seconds"] >= 0
    assert list(out.iterdir()) == [out / "data.bin"]


def test_good_file_with_sha256(served):
    root, out = served
    with serve(root) as base:
        result = fetch(f"{base}/data.bin", out / "data.bin", sha256=hashlib.sha256(PAYLOAD).hexdigest().upper())
    assert (out / "data.bin").read_bytes() == PAYLOAD
    assert result["md5"] == hashlib.md5(PAYLOAD).hexdigest()


def test_wrong_checksum_is_retried_then_names_both_digests(served):
    root, out = served
    wrong = "0" * 64
    requests = []
    with serve(root, requests=requests) as base:
        with pytest.raises(DownloadError) as err:
            fetch(f"{base}/data.bin", out / "data.bin", sha256=wrong, retries=1)
    message = str(err.value)
    assert wrong in message and hashlib.sha256(PAYLOAD).hexdigest() in message
    assert str(out / "data.bin") in message and f"{base}/data.bin" in message
    assert len(requests) == 2
    assert list(out.iterdir()) == []


def test_truncated_transfer_fails_and_leaves_nothing(served):
    root, out = served
    requests = []
    with serve(root, truncate={"data.bin": 1000}, requests=requests) as base:
        with pytest.raises(DownloadError, match=f"truncated: got 1000 of {len(PAYLOAD)} bytes"):
            fetch(f"{base}/data.bin", out / "data.bin")
    assert len(requests) == 3  # first try plus retries=2
    assert list(out.iterdir()) == []


def test_transient_503_is_retried(served):
    root, out = served
    requests = []
    with serve(root, fail_first={"data.bin": 1}, requests=requests) as base:
        fetch(f"{base}/data.bin", out / "data.bin", retries=3)
    assert (out / "data.bin").read_bytes() == PAYLOAD
    assert len(requests) == 2


def test_404_is_final_without_retry(served):
    root, out = served
    requests = []
    with serve(root, requests=requests) as base:
        with pytest.raises(DownloadError, match="HTTP 404"):
            fetch(f"{base}/missing.bin", out / "missing.bin", retries=3)
    assert requests == ["missing.bin"]
    assert list(out.iterdir()) == []


def test_complete_transfer_of_truncated_gzip_is_rejected(served):
    root, out = served
    whole = gzip.compress(PAYLOAD * 4)
    (root / "cut.fa.gz").write_bytes(whole[: len(whole) // 2])  # served with its own, correct length
    with serve(root) as base:
        with pytest.raises(DownloadError, match="gzip"):
            fetch(f"{base}/cut.fa.gz", out / "cut.fa.gz", retries=0)
    assert list(out.iterdir()) == []


def test_complete_gzip_is_accepted(served):
    root, out = served
    (root / "ok.fa.gz").write_bytes(gzip.compress(PAYLOAD))
    with serve(root) as base:
        fetch(f"{base}/ok.fa.gz", out / "ok.fa.gz")
    assert gzip.decompress((out / "ok.fa.gz").read_bytes()) == PAYLOAD


def test_file_url(served):
    root, out = served
    result = fetch((root / "data.bin").as_uri(), out / "copy.bin", md5=hashlib.md5(PAYLOAD).hexdigest())
    assert (out / "copy.bin").read_bytes() == PAYLOAD
    assert result["bytes"] == len(PAYLOAD)


def test_missing_file_url_is_final(served):
    root, out = served
    with pytest.raises(DownloadError):
        fetch((root / "nope.bin").as_uri(), out / "nope.bin")
    assert list(out.iterdir()) == []


def test_unpinned_download_warns_with_sha256(served, caplog):
    root, out = served
    with serve(root) as base, caplog.at_level(logging.INFO, logger="crelens.data.download"):
        fetch(f"{base}/data.bin", out / "data.bin")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(hashlib.sha256(PAYLOAD).hexdigest() in w and "pinned" in w for w in warnings)
    assert any("downloaded" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)


def test_malformed_digest_is_rejected_before_fetching(served):
    root, out = served
    with pytest.raises(DownloadError, match="not a hex md5"):
        fetch("http://127.0.0.1:9/data.bin", out / "data.bin", md5="abc")


def test_an_oversized_body_is_refused_without_retry(served):
    root, out = served
    requests = []
    with serve(root, requests=requests) as base:
        with pytest.raises(DownloadError, match="more than the limit of 100"):
            fetch(f"{base}/data.bin", out / "data.bin", max_bytes=100)
    assert requests == ["data.bin"] and list(out.iterdir()) == []


def test_part_files_of_a_killed_download_are_removed_on_the_next_run(served):
    root, out = served
    stale = out / ".data.bin.abc123.part"  # what atomic_path leaves when the process is SIGKILLed
    stale.write_bytes(b"half a file")
    with serve(root) as base:
        fetch(f"{base}/data.bin", out / "data.bin")
    assert list(out.iterdir()) == [out / "data.bin"]
