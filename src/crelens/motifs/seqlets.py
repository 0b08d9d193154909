"""Seqlets (contiguous high-attribution regions), their background, and JASPAR scans of both.

Why these libraries: seqlets are called with tangermeme's `recursive_seqlets` (J. Schreiber; a
documented method: the p-value of a span's summed attribution against the empirical
distribution of spans of that length, extended recursively), and regions are scanned with
memelite's FIMO re-implementation, so nothing here re-implements what they do. Two fixes at the
boundary, both found by testing memelite 0.5.0:

- FIMO reports p = 0 for a motif's top score bin; under the uniform background the exact p of
  the best possible score is ≥ 4^-w, so p is clamped to that bound and hits are re-filtered
  (otherwise short motifs such as Ahr::Arnt, w = 5, produce hits no threshold allows);
- empty per-motif result frames are dropped before concatenation (they have object dtypes).

Backgrounds (config `motifs.background`):
- `low_attribution`: for every seqlet, a window of the same length in the same sequence that
  overlaps no seqlet, drawn among the windows with the lowest |attribution| (same sequence
  context, GC and flank composition — only the attribution differs);
- `shuffled`: the seqlet's own sequence dinucleotide-shuffled (tangermeme), keeping its exact
  GC and dinucleotide content.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from crelens.sequences import one_hot

SEQLET_COLUMNS = ["example_idx", "start", "end", "attribution", "pvalue"]


def call_seqlets(relevance: np.ndarray, *, threshold: float, min_len: int, max_len: int, flank: int) -> pd.DataFrame:
    """Positive seqlets of (n, L) per-nucleotide relevance (what supports the explained output)."""
    from tangermeme.seqlet import recursive_seqlets

    relevance = np.ascontiguousarray(relevance, dtype=np.float64)
    if relevance.ndim != 2:
        raise ValueError(f"relevance must be (sequences, length), got shape {relevance.shape}")
    found = recursive_seqlets(
        relevance, threshold=threshold, min_seqlet_len=min_len, max_seqlet_len=max_len, additional_flanks=flank
    )
    found = found.rename(columns={"p-value": "pvalue"})
    return found[SEQLET_COLUMNS].sort_values(["example_idx", "start"], kind="stable").reset_index(drop=True)


def low_attribution_background(seqlets: pd.DataFrame, relevance: np.ndarray, seed: int) -> pd.DataFrame:
    """One same-length, non-overlapping, low-|attribution| window per seqlet (where one exists)."""
    rng = np.random.default_rng(seed)
    rows = []
    magnitude = np.abs(np.asarray(relevance, dtype=np.float64))
    for example, group in seqlets.groupby("example_idx", sort=True):
        taken = np.zeros(magnitude.shape[1], dtype=bool)
        for s in group.itertuples():
            taken[s.start : s.end] = True
        cumulative = np.concatenate([[0.0], np.cumsum(magnitude[example])])
        blocked = np.concatenate([[0], np.cumsum(taken)])
        for s in group.itertuples():
            width = s.end - s.start
            starts = np.arange(0, magnitude.shape[1] - width + 1)
            free = starts[(blocked[starts + width] - blocked[starts]) == 0]
            if not len(free):
                continue
            mass = cumulative[free + width] - cumulative[free]
            lowest = free[mass <= np.quantile(mass, 0.25)]
            start = int(rng.choice(lowest))
            taken[start : start + width] = True  # backgrounds do not overlap each other either
            blocked = np.concatenate([[0], np.cumsum(taken)])
            rows.append({"example_idx": int(example), "start": start, "end": start + width})
    return pd.DataFrame(rows, columns=["example_idx", "start", "end"])


def region_sequences(regions: pd.DataFrame, sequences: list[str]) -> list[str]:
    return [sequences[r.example_idx][r.start : r.end] for r in regions.itertuples()]


def shuffled_background(seqlet_seqs: list[str], seed: int) -> list[str]:
    """Each seqlet's sequence dinucleotide-shuffled once (tangermeme.ersatz.dinucleotide_shuffle)."""
    from tangermeme.ersatz import dinucleotide_shuffle

    out = []
    for i, seq in enumerate(seqlet_seqs):
        x = torch.from_numpy(one_hot(seq).T[None].copy())
        if x.shape[-1] < 3 or (x.sum(1) == 0).any():  # too short or contains N: keep the order-free shuffle
            perm = np.random.default_rng(seed + i).permutation(len(seq))
            out.append("".join(seq[j] for j in perm))
            continue
        shuffled = dinucleotide_shuffle(x, n=1, random_state=seed + i)[0, 0]
        out.append("".join("ACGT"[j] for j in shuffled.argmax(0).tolist()))
    return out


def scan(region_seqs: list[str], motifs: dict[str, np.ndarray], threshold: float) -> pd.DataFrame:
    """FIMO hits (region_idx, motif_key, start, end, strand, score, pvalue) of every motif.

    motifs: {"<id> <name>": (4, w) probabilities}. Regions of different lengths are padded with
    N (all-zero columns, which FIMO skips).
    """
    from memelite import fimo

    columns = ["region_idx", "motif_key", "start", "end", "strand", "score", "pvalue"]
    if not region_seqs:
        return pd.DataFrame(columns=columns)
    length = max(len(s) for s in region_seqs)
    x = np.zeros((len(region_seqs), 4, length), dtype=np.float64)
    for i, seq in enumerate(region_seqs):
        x[i, :, : len(seq)] = one_hot(seq, np.float64).T
    keys = list(motifs)
    found = [
        h for h in fimo({k: np.asarray(motifs[k], dtype=np.float64) for k in keys}, x, threshold=threshold) if len(h)
    ]
    if not found:
        return pd.DataFrame(columns=columns)
    hits = pd.concat(found, ignore_index=True)
    widths = np.array([motifs[k].shape[1] for k in keys])
    floor = 4.0 ** -widths[hits["motif_idx"].to_numpy()]
    hits["pvalue"] = np.maximum(hits["p-value"].to_numpy(), floor)
    hits = hits[hits["pvalue"] < threshold]
    hits = hits.assign(region_idx=hits["sequence_name"].astype(int), motif_key=hits["motif_name"])
    return hits[columns].reset_index(drop=True)
