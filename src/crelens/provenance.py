"""Fingerprints of library code, so a change that alters results can trigger reruns.

Snakemake reruns a job when its params change; a rule that passes
`code_version("simulate", "io")` as a param is rerun when those modules' source changes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def code_version(*modules: str) -> str:
    """Short SHA-256 over the source of the named crelens modules (or subpackages)."""
    digest = hashlib.sha256()
    for name in sorted(set(modules)):
        path = _PACKAGE / name.replace(".", "/")
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]
        if not files or not files[0].exists():
            raise ValueError(f"no crelens module named {name!r}")
        for file in files:
            digest.update(file.relative_to(_PACKAGE).as_posix().encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def derive_seed(seed: int, purpose: str) -> int:
    """An independent, reproducible seed per purpose, so stages do not share random streams."""
    digest = hashlib.sha256(f"{seed}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:4], "little")
