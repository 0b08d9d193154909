"""DNA strings: reverse complement, alphabet checks, one-hot, GC, the MPRA construct.

Every stage handles sequences through these few functions so that the N policy and the
flank constants are defined once.
"""

from __future__ import annotations

import re

import numpy as np

ALPHABET = "ACGT"
_COMPLEMENT = str.maketrans("ACGTNacgtn", "TGCANtgcan")
_NOT_ACGTN = re.compile(r"[^ACGTNacgtn]")

# Constant sequences around the 200-nt variable region of the Gosai et al. (2024) MPRA plasmid, as
# Malinois pads its inputs. Source: sjgosai/boda2 `boda/common/constants.py` (MPRA_UPSTREAM /
# MPRA_DOWNSTREAM, 300 nt each). Malinois' 600-nt input uses the last 200 nt upstream and the first
# 200 nt downstream (the *_FLANK constants); the rest is what a shifted window of a 600-nt input
# reads (crelens.models.in_loop).
MPRA_UPSTREAM = (
    "ACGAAAATGTTGGATGCTCATACTCGTCCTTTTTCAATATTATTGAAGCATTTATCAGGGTTACTAGTACGTCTCTCAAGGATAAGTAAGTAA"
    "TATTAAGGTACGGGAGGTATTGGACAGGCCGCAATAAAATATCTTTATTTTCATTACATCTGTGTGTTGGTTTTTTGTGTGAATCGATAGTAC"
    "TAACATACGCTCTCCATCAAAACAAAACGAAACAAAACAAACTAGCAAAATAGGCTGTCCCCAGTGCAAGTGCAGGTGCCAGAACATTTCTCT"
    "GGCCTAACTGGCCGCTTGACG"
)
MPRA_DOWNSTREAM = (
    "CACTGCGGCTCCTGCGATCTAACTGGCCGGTACCTGAGCTCGCTAGCCTCGAGGATATCAAGATCTGGCCTCGGCGGCCAAGCTTAGACACTA"
    "GAGGGTATATAATGGAAGCTCGACTTCCAGCTTGGCAATCCGGTACTGTTGGTAAAGCCACCATGGTGAGCAAGGGCGAGGAGCTGTTCACCG"
    "GGGTGGTGCCCATCCTGGTCGAGCTGGACGGCGACGTAAACGGCCACAAGTTCAGCGTGTCCGGCGAGGGCGAGGGCGATGCCACCTACGGCA"
    "AGCTGACCCTGAAGTTCATCT"
)
MPRA_UPSTREAM_FLANK = MPRA_UPSTREAM[-200:]
MPRA_DOWNSTREAM_FLANK = MPRA_DOWNSTREAM[:200]
# lentiMPRA (Agarwal et al. 2025) oligo adaptors around the 200-bp element (230-nt oligo).
LENTIMPRA_ADAPTOR_5 = "AGGACCGGATCAACT"
LENTIMPRA_ADAPTOR_3 = "CATTGCGTGAACCGA"


def reverse_complement(seq: str) -> str:
    """Reverse complement keeping case; N stays N."""
    return seq.translate(_COMPLEMENT)[::-1]


def first_invalid(seq: str) -> int:
    """Index of the first character outside ACGTN (either case), or -1 if all are valid."""
    match = _NOT_ACGTN.search(seq)
    return -1 if match is None else match.start()


def gc_fraction(seq: str) -> float:
    """GC share among A/C/G/T (N ignored); NaN for a sequence of only N."""
    upper = seq.upper()
    gc = upper.count("G") + upper.count("C")
    at = upper.count("A") + upper.count("T")
    return gc / (gc + at) if gc + at else float("nan")


def n_fraction(seq: str) -> float:
    return seq.upper().count("N") / len(seq) if seq else 0.0


def one_hot(seq: str, dtype=np.float32) -> np.ndarray:
    """(L, 4) one-hot in A, C, G, T order. N (and any other letter) is all-zero.

    All-zero for N is the convention of Basset/Malinois-style CNNs: an unknown base carries
    no evidence for any nucleotide.
    """
    codes = np.frombuffer(seq.upper().encode("ascii"), dtype=np.uint8)
    lookup = np.full(256, 4, dtype=np.int64)
    for i, base in enumerate(ALPHABET):
        lookup[ord(base)] = i
    idx = lookup[codes]
    out = np.zeros((len(seq), 5), dtype=dtype)
    out[np.arange(len(seq)), idx] = 1
    return out[:, :4]


def one_hot_strands(seqs, dtype=np.float16) -> np.ndarray:
    """(n, 2, 4, L) one-hot of equal-length sequences: [canonical, reverse complement], channel-first.

    Channel-first (4, L) is the layout of Basset-style CNNs (Malinois) and the attention
    baselines; axis 1 is the strand axis the training loop expects. In A, C, G, T order the
    reverse complement of a one-hot matrix is the matrix flipped along both axes, so the second
    strand costs no second encoding (and N, all-zero, stays all-zero).
    """
    seqs = list(seqs)
    lengths = {len(s) for s in seqs}
    if len(lengths) > 1:
        raise ValueError(f"sequences must have one length, got lengths {sorted(lengths)[:5]}")
    length = lengths.pop() if lengths else 0
    out = np.zeros((len(seqs), 2, 4, length), dtype=dtype)
    for i, seq in enumerate(seqs):
        out[i, 0] = one_hot(seq, dtype).T
    out[:, 1] = out[:, 0, ::-1, ::-1]
    return out


def mpra_construct(insert: str, length: int) -> str:
    """Insert padded with the MPRA flanks to `length` nt, as Malinois builds its input.

    The flanks contribute (length - len(insert)) nt, half on each side with the odd one on the
    right (boda2 convention); a 200-nt insert at length 600 gets the 200-nt flanks. Up to 300 nt
    of plasmid sequence exist on each side, so a longer construct (a shifted 600-nt window)
    still reads real plasmid sequence, never padding.
    """
    pad = length - len(insert)
    if pad < 0:
        raise ValueError(f"insert of {len(insert)} nt is longer than the input length {length}")
    left = pad // 2
    right = pad - left
    if left > len(MPRA_UPSTREAM) or right > len(MPRA_DOWNSTREAM):
        raise ValueError(f"input length {length} needs more flank than the 300-nt plasmid constants hold")
    upstream = MPRA_UPSTREAM[len(MPRA_UPSTREAM) - left :] if left else ""
    return upstream + insert + MPRA_DOWNSTREAM[:right]


def strip_adaptors(seq: str, left: str = LENTIMPRA_ADAPTOR_5, right: str = LENTIMPRA_ADAPTOR_3) -> str:
    """The element inside a lentiMPRA oligo: adaptors removed when both are present."""
    if seq.startswith(left) and seq.endswith(right) and len(seq) > len(left) + len(right):
        return seq[len(left) : len(seq) - len(right)]
    return seq


def variable_span(sequences: list[str]) -> tuple[int, int]:
    """[start, end) of the positions where the sequences do not all carry the same base.

    The constant flanks of MPRA constructs lie outside it: no model can learn anything there.
    All sequences must have one length; with fewer than two, the whole length.
    """
    if len(sequences) < 2:
        return 0, len(sequences[0]) if sequences else 0
    array = np.frombuffer("".join(s.upper() for s in sequences).encode("ascii"), dtype=np.uint8)
    array = array.reshape(len(sequences), -1)
    varies = np.flatnonzero((array != array[0]).any(axis=0))
    if not len(varies):
        return 0, array.shape[1]
    return int(varies[0]), int(varies[-1]) + 1
