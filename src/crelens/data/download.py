"""Fetch reference data (genomes, annotations, data sets) so that a bad transfer never looks done.

Snakemake trusts that a file which exists is complete, so a download is streamed to a
temporary name and only renamed onto its destination once every byte has arrived and
every check passed. Transient failures (5xx, resets, short reads, a digest that does not
match) are retried with exponential backoff; a 4xx is a wrong URL and fails at once.
Only urllib is used so that fetching data adds no dependency.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import logging
import re
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

from crelens.atomic import atomic_path
from crelens.errors import InputError

_log = logging.getLogger(__name__)

# Seconds between progress lines: frequent enough to show life, rare enough for a log file.
PROGRESS_EVERY = 5.0

_HEX = {"md5": re.compile(r"[0-9a-f]{32}"), "sha256": re.compile(r"[0-9a-f]{64}")}


class DownloadError(InputError):
    """A download that could not be completed; names the URL, the destination and the problem."""

    def __init__(self, url: str, dest, problem: str):
        self.url = url
        self.dest = str(dest)
        super().__init__(dest, f"download of {url} failed: {problem}")


class _Transient(Exception):
    """A failure worth another try: the same request may well succeed next time."""


def download(
    url: str,
    dest,
    *,
    md5: str | None = None,
    sha256: str | None = None,
    retries: int = 3,
    timeout: float = 60.0,
    backoff: float = 1.0,
    chunk_size: int = 1 << 20,
    max_bytes: int | None = None,
    log: logging.Logger | None = None,
) -> dict:
    """Fetch url to dest atomically; returns {"path", "bytes", "md5", "sha256", "seconds"}.

    `retries` is the number of extra tries after the first; try k (0-based) that fails
    transiently is followed by a pause of `backoff * 2**k` seconds. `timeout` bounds each
    network operation (connect, one read), not the whole transfer. Without `md5` or
    `sha256` the file is accepted as is and its sha256 is logged so it can be pinned.
    `seconds` in the result is the wall time of the whole call, retries included. `max_bytes`
    bounds the body: a server that announces or sends more stops the download (no retry).
    Temporary files of earlier downloads of `dest` that were killed (SIGKILL leaves them) are
    removed first.
    """
    log = log or _log
    dest = Path(dest)
    remove_stale_parts(dest, log)
    expected = {"md5": md5, "sha256": sha256}
    for name, digest in expected.items():
        if digest is not None:
            expected[name] = digest.strip().lower()
            if not _HEX[name].fullmatch(expected[name]):
                raise DownloadError(url, dest, f"{name} {digest!r} is not a hex {name} digest")
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")

    started = time.monotonic()
    tries = retries + 1
    for attempt in range(tries):
        try:
            with atomic_path(dest) as tmp:
                result = _fetch_once(
                    url, tmp, dest, timeout=timeout, chunk_size=chunk_size, max_bytes=max_bytes, log=log
                )
                _check_gzip(tmp, dest)
                _check_digests(result, expected)
            break
        except _Transient as err:
            if attempt + 1 == tries:
                raise DownloadError(url, dest, f"{err} (gave up after {tries} tries)") from None
            pause = backoff * 2**attempt
            log.warning("%s: try %d of %d failed (%s); retrying in %.1f s", url, attempt + 1, tries, err, pause)
            time.sleep(pause)

    seconds = time.monotonic() - started
    mb = result["bytes"] / 1e6
    log.info(
        "downloaded %s -> %s: %.1f MB in %.1f s (%.1f MB/s)",
        url,
        dest,
        mb,
        result["seconds"],
        mb / max(result["seconds"], 1e-9),
    )
    if md5 is None and sha256 is None:
        log.warning("%s is not pinned to a checksum; to pin it, put sha256: %s in the config", dest, result["sha256"])
    return {
        "path": str(dest),
        "bytes": result["bytes"],
        "md5": result["md5"],
        "sha256": result["sha256"],
        "seconds": seconds,
    }


def remove_stale_parts(dest: Path, log) -> None:
    """Delete `.<name>.*.part` files beside `dest`: the temporary files of killed earlier tries."""
    if not dest.parent.is_dir():
        return
    for stale in dest.parent.glob(f".{dest.name}.*.part"):
        log.info("removing %s, left by an interrupted download", stale)
        stale.unlink(missing_ok=True)


def run_download(
    url: str,
    out,
    *,
    md5: str | None,
    retries: int,
    timeout: float,
    sha256: str | None = None,
    max_bytes: int | None = None,
) -> dict:
    """The `download` / `download_unpinned` job: one source file, checked and written atomically."""
    result = download(url, out, md5=md5, sha256=sha256, retries=retries, timeout=timeout, max_bytes=max_bytes)
    _log.info("downloaded %s", result)
    return result


def _fetch_once(url: str, tmp: Path, dest: Path, *, timeout: float, chunk_size: int, max_bytes=None, log) -> dict:
    """One try: stream url into tmp, hashing as it goes; raise _Transient for a retryable failure."""
    # identity: the file we keep and hash must be the bytes the server stores, not a re-encoding.
    headers = {"User-Agent": "crelens", "Accept-Encoding": "identity"}
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as err:
        if 400 <= err.code < 500:
            raise DownloadError(url, dest, f"HTTP {err.code} {err.reason}") from None
        raise _Transient(f"HTTP {err.code} {err.reason}") from None
    except urllib.error.URLError as err:
        if url.lower().startswith("file:"):  # a missing local file will not appear on retry
            raise DownloadError(url, dest, str(err.reason)) from None
        raise _Transient(f"cannot connect: {err.reason}") from None
    except ValueError as err:  # e.g. "unknown url type"
        raise DownloadError(url, dest, str(err)) from None
    except (OSError, http.client.HTTPException) as err:
        raise _Transient(f"cannot connect: {err!r}") from None

    length = response.headers.get("Content-Length")
    total = int(length) if length and length.isdigit() else None
    if max_bytes is not None and total is not None and total > max_bytes:
        response.close()
        raise DownloadError(url, dest, f"the server announces {total} bytes, more than the limit of {max_bytes}")
    md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    got = 0
    started = last_report = time.monotonic()
    with response, open(tmp, "wb") as out:
        while True:
            try:
                chunk = response.read(chunk_size)
            except http.client.IncompleteRead as err:
                got += len(err.partial)
                raise _Transient(_truncated(got, total)) from None
            except (OSError, http.client.HTTPException) as err:
                raise _Transient(f"{_truncated(got, total)} ({err!r})") from None
            if not chunk:
                break
            if max_bytes is not None and got + len(chunk) > max_bytes:
                raise DownloadError(
                    url, dest, f"the body exceeds the limit of {max_bytes} bytes (data.download.max_mb)"
                )
            out.write(chunk)
            md5.update(chunk)
            sha256.update(chunk)
            got += len(chunk)
            now = time.monotonic()
            if now - last_report >= PROGRESS_EVERY:
                last_report = now
                log.info("%s: %s, %.1f MB/s", url, _progress(got, total), got / 1e6 / (now - started))
    # http.client returns b"" rather than raising when a Content-Length response ends early.
    if total is not None and got != total:
        raise _Transient(_truncated(got, total))
    return {"bytes": got, "md5": md5.hexdigest(), "sha256": sha256.hexdigest(), "seconds": time.monotonic() - started}


def _check_gzip(tmp: Path, dest: Path) -> None:
    """A .gz can arrive whole over HTTP yet be cut short at the source; only decompressing tells."""
    if not dest.name.endswith(".gz"):
        return
    try:
        with gzip.open(tmp, "rb") as stream:
            while stream.read(1 << 20):
                pass
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise _Transient(f"corrupt or truncated gzip: {err}") from None


def _check_digests(result: dict, expected: dict) -> None:
    """A digest mismatch may be a corrupted transfer, so it is retried like one."""
    for name, want in expected.items():
        if want is not None and result[name] != want:
            raise _Transient(f"{name} mismatch: expected {want}, got {result[name]}")


def _truncated(got: int, total: int | None) -> str:
    of = total if total is not None else "an unknown number of"
    return f"truncated: got {got} of {of} bytes"


def _progress(got: int, total: int | None) -> str:
    if total:
        return f"{got / 1e6:.1f} of {total / 1e6:.1f} MB ({100 * got / total:.0f}%)"
    return f"{got / 1e6:.1f} MB"
