"""The tiny world served as the download source (data.source: download) by tests/loopback_server.py.

The served files are the simulator's output in the real sources' formats (the genome gzipped like
UCSC's hg38.fa.gz, JASPAR as a MEME file), so the download path runs offline.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
from pathlib import Path

import yaml

from conftest import load_config

UNPINNED = {"ccres", "jaspar"}  # md5 null: exercises rule download_unpinned
DOWNLOAD_DIR = "results/data/download"


def resources() -> dict[str, dict]:
    """The download resources of the configuration: {name: {url, file, md5}}."""
    download = load_config()["data"]["download"]
    return {name: entry for name, entry in download.items() if isinstance(entry, dict)}


def serve_folder(world: Path, root: Path) -> tuple[Path, dict[str, str]]:
    """Write every resource of the simulated `world` into `root` under the file name data.download
    expects; (root, {file name: md5})."""
    from crelens.data.jaspar import jaspar_motifs, write_meme

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


def download_config(path: Path, base_url: str, md5: dict[str, str], extra: dict | None = None, **pins) -> Path:
    """Tiny config on the download source from base_url; md5 pinned except UNPINNED; pins={name: md5};
    `extra`: more settings per resource, {name: {key: value}}."""
    download = {}
    for name, entry in resources().items():
        pinned = None if name in UNPINNED else md5[entry["file"]]
        download[name] = {"url": f"{base_url}/{entry['file']}", "file": entry["file"], "md5": pins.get(name, pinned)}
        download[name].update((extra or {}).get(name, {}))
    download.update(retries=1, timeout_s=10)
    config = load_config({"data": {"source": "download", "download": download}})
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
