"""JASPAR motifs as numpy matrices: offline from pyjaspar, or from a JASPAR MEME file.

Both paths give the same probability matrices, so the synthetic world and the downloaded
world plant, scan and match with identical motifs. The run's database is one MEME file
(`results/data/jaspar.meme`), which the motif stage scans and matches against.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crelens.atomic import atomic_open
from crelens.data.formats import open_text
from crelens.errors import InputError

log = logging.getLogger(__name__)

BACKGROUND = np.full(4, 0.25)


@dataclass
class Motif:
    """One position frequency matrix (rows = positions, columns = A, C, G, T probabilities)."""

    id: str
    name: str
    probs: np.ndarray
    family: str = ""
    tf_class: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def length(self) -> int:
        return self.probs.shape[0]

    def log_odds(self, pseudo: float = 1e-3) -> np.ndarray:
        """log2 odds against a uniform background; pseudo keeps zero counts finite."""
        p = (self.probs + pseudo) / (1 + 4 * pseudo)
        return np.log2(p / BACKGROUND)


def _family(values) -> str:
    return "::".join(values) if values else ""


def jaspar_motifs(release: str = "JASPAR2024", ids: list[str] | None = None) -> list[Motif]:
    """CORE vertebrate non-redundant profiles from pyjaspar's bundled SQLite (no network).

    The release is always explicit: pyjaspar's default moves with new JASPAR releases.
    """
    from pyjaspar import jaspardb

    db = jaspardb(release=release)
    if ids is None:
        fetched = db.fetch_motifs(collection=["CORE"], tax_group=["Vertebrates"], all_versions=False)
    else:
        fetched = []
        for motif_id in ids:
            found = db.fetch_motif_by_id(motif_id)
            if found is None:
                raise InputError(None, f"motif {motif_id} is not in {release}")
            fetched.append(found)
    motifs = []
    for m in fetched:
        counts = np.array([m.counts[base] for base in "ACGT"], dtype=float).T
        probs = counts / counts.sum(axis=1, keepdims=True)
        motifs.append(Motif(m.matrix_id, m.name, probs, family=_family(m.tf_family), tf_class=_family(m.tf_class)))
    return sorted(motifs, key=lambda x: x.id)


def write_meme(motifs: list[Motif], path) -> None:
    """MEME minimal motif format v4 (what FIMO, TOMTOM and modisco read)."""
    with atomic_open(path, "w") as out:
        out.write("MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\n")
        out.write("Background letter frequencies\nA 0.25 C 0.25 G 0.25 T 0.25\n\n")
        for m in motifs:
            out.write(f"MOTIF {m.id} {m.name}\n")
            out.write(f"letter-probability matrix: alength= 4 w= {m.length} nsites= 20 E= 0\n")
            for row in m.probs:
                out.write(" " + "  ".join(f"{v:.6f}" for v in row) + "\n")
            out.write("\n")


def read_meme(path) -> list[Motif]:
    """Parse a MEME motif file (as JASPAR distributes and `write_meme` writes)."""
    motifs: list[Motif] = []
    current: tuple[str, str, int] | None = None
    rows: list[list[float]] = []
    width = 0
    for number, raw in enumerate(open_text(path), start=1):
        line = raw.strip()
        if line.startswith("MOTIF"):
            fields = line.split()
            if len(fields) < 2:
                raise InputError(path, "MOTIF line without an identifier", number)
            if current is not None and width:  # the previous motif's matrix stopped short
                raise InputError(path, f"motif {current[0]} has {len(rows)} of {width} matrix rows", current[2])
            current, rows, width = (fields[1], fields[2] if len(fields) > 2 else fields[1], number), [], 0
        elif line.startswith("letter-probability matrix"):
            if current is None:
                raise InputError(path, "matrix before any MOTIF line", number)
            tokens = line.replace("=", " = ").split()
            try:
                width = int(tokens[tokens.index("w") + 2])
            except (ValueError, IndexError):
                raise InputError(path, "letter-probability matrix line without w= width", number) from None
        elif current is not None and width and len(rows) < width and line:
            try:
                values = [float(v) for v in line.split()]
            except ValueError:
                raise InputError(path, f"matrix row is not numbers: {line!r}", number) from None
            if len(values) != 4:
                raise InputError(path, f"matrix row has {len(values)} columns, expected 4", number)
            rows.append(values)
            if len(rows) == width:
                probs = np.array(rows)
                if np.any(np.abs(probs.sum(axis=1) - 1) > 0.02):
                    raise InputError(path, f"rows of {current[0]} do not sum to 1", number)
                motifs.append(Motif(current[0], current[1], probs / probs.sum(axis=1, keepdims=True)))
                current, width = None, 0
    if current is not None and width:
        raise InputError(path, f"motif {current[0]} has {len(rows)} of {width} matrix rows", current[2])
    if not motifs:
        raise InputError(path, "no motifs found: not a MEME motif file")
    ids = [m.id for m in motifs]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise InputError(path, f"duplicate motif ID {dup}")
    return motifs


def export_jaspar(out, release: str, meme_source=None) -> int:
    """Write the run's motif database as MEME: from the downloaded JASPAR file, else pyjaspar.

    Either way the same profiles come out (one parser, one writer); returns the motif count.
    """
    motifs = read_meme(meme_source) if meme_source else jaspar_motifs(release)
    write_meme(motifs, out)
    return len(motifs)


def run_jaspar(out, release: str, meme_source=None) -> int:
    """The `jaspar` job: the run's motif database as MEME, from the download or pyjaspar."""
    count = export_jaspar(out, release, meme_source)
    log.info("wrote %d motifs (%s)", count, meme_source or f"pyjaspar {release}")
    return count


def motif_table(meme_path, release: str | None) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """({"<id> <name>": (4, w)}, motif_id/motif_name/family/key) for every motif of the MEME file.

    Families come from the pinned JASPAR release (pyjaspar's bundled database), which both the
    offline and the downloaded MEME file belong to; a motif missing there is its own family.
    """
    families = {m.id: m.family for m in jaspar_motifs(release)} if release else {}
    motifs = read_meme(meme_path)
    matrices = {f"{m.id} {m.name}": m.probs.T.copy() for m in motifs}
    meta = pd.DataFrame(
        {
            "motif_id": [m.id for m in motifs],
            "motif_name": [m.name for m in motifs],
            "family": [families.get(m.id) or m.name for m in motifs],
            "key": list(matrices),
        }
    )
    return matrices, meta
