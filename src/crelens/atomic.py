"""Atomic file output: write to a temporary name beside the target, rename when complete.

A job killed half-way (or a reader that raises mid-file) then never leaves a file that
looks finished, which is what lets Snakemake trust file existence.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target, suffix: str = ""):
    """Yield a temporary path in the target's folder; rename it onto `target` on success.

    On any exception the temporary file is removed and the target is left untouched.
    `suffix` keeps an extension for writers that infer the format from the name.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part" + suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; finished files get normal permissions
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_open(target, mode: str = "w", encoding: str | None = "utf-8"):
    """Open a temporary file for writing that becomes `target` only when the block succeeds.

    Names ending in `.gz` are gzip-compressed with mtime 0 so reruns are byte-identical.
    """
    binary = "b" in mode
    with atomic_path(target) as tmp:
        if str(target).endswith(".gz"):
            raw = open(tmp, "wb")
            gz = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0)
            handle = gz if binary else _text(gz, encoding)
            try:
                yield handle
            finally:
                handle.close()
                raw.close()
        else:
            with open(tmp, mode, encoding=None if binary else encoding) as handle:
                yield handle


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _text(binary_handle, encoding):
    import io

    return io.TextIOWrapper(binary_handle, encoding=encoding or "utf-8", newline="")
