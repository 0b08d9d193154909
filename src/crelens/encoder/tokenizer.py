"""Caduceus character tokenizer: the published ids, the complement map and an explicit N policy.

The ids are those of the released Caduceus checkpoints (kuleshov-group/caduceus,
`caduceus/tokenization_caduceus.py`): a
checkpoint only understands the ids it was trained with, so they are constants here, not
configuration.

Differences from the Hugging Face tokenizer, on purpose:
- no special tokens are added: pre-training used pure bases (`add_special_tokens=False`);
- characters are mapped one by one, so the output length always equals the input length
  (`str.upper()` can change the length of some non-ASCII strings, e.g. "ß" -> "SS"; every
  non-ASCII character is [UNK] here, which is what upper-casing would give for all of them
  except those, none of which upper-case to A, C, G, T or N);
- N follows an explicit policy (`n_as`), see `CaduceusTokenizer`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch

CLS, SEP, BOS, MASK, PAD, RESERVED, UNK = 0, 1, 2, 3, 4, 5, 6
A, C, G, T, N = 7, 8, 9, 10, 11
# 12 real tokens, padded to a multiple of 8 (`pad_vocab_size_multiple: 8` in the published config).
VOCAB_SIZE = 16

TOKENS = {
    "[CLS]": CLS,
    "[SEP]": SEP,
    "[BOS]": BOS,
    "[MASK]": MASK,
    "[PAD]": PAD,
    "[RESERVED]": RESERVED,
    "[UNK]": UNK,
    "A": A,
    "C": C,
    "G": G,
    "T": T,
    "N": N,
}

# Published `complement_map` (config.json of the released checkpoints): A<->T, C<->G, every
# other id (specials, N and the 4 padding ids) maps to itself.
COMPLEMENT_MAP: dict[int, int] = {i: i for i in range(VOCAB_SIZE)}
COMPLEMENT_MAP.update({A: T, T: A, C: G, G: C})

N_POLICIES = ("pad", "n")


def complement_map_tensor(vocab_size: int = VOCAB_SIZE) -> torch.Tensor:
    """The published complement map as an int64 lookup table of `vocab_size` entries.

    Ids beyond the published 16 map to themselves, as the official model pads the map when the
    vocabulary is padded.
    """
    table = torch.arange(vocab_size, dtype=torch.long)
    for src, dst in COMPLEMENT_MAP.items():
        if src < vocab_size:
            table[src] = dst
    return table


def reverse_complement_ids(ids: torch.Tensor, complement_map: torch.Tensor | None = None) -> torch.Tensor:
    """rc(ids)[..., j] = cm[ids[..., L-1-j]]: reverse the last axis and complement every id."""
    table = complement_map_tensor() if complement_map is None else complement_map
    table = table.to(ids.device)
    return table[ids.flip(-1)]


class CaduceusTokenizer:
    """Maps DNA strings to Caduceus token ids (equal-length batches; the model has no attention mask).

    N policy (`n_as`):
    - "pad" (default): N -> [PAD] (id 4). The published models were pre-trained on sequences in
      which N had been replaced by [PAD], so id 11 never occurred in training and its embedding
      is untrained; [PAD] is what the model has seen at unknown bases.
    - "n": N -> id 11, the literal vocabulary entry (for models trained that way).
    Lower case is accepted (soft-masked genome sequence); any other character becomes [UNK].
    """

    def __init__(self, n_as: str = "pad"):
        if n_as not in N_POLICIES:
            raise ValueError(f"n_as must be one of {N_POLICIES}, got {n_as!r}")
        self.n_as = n_as
        self.vocab_size = VOCAB_SIZE
        self.complement_map = complement_map_tensor(VOCAB_SIZE)
        table = np.full(256, UNK, dtype=np.int64)
        for char, token in (("A", A), ("C", C), ("G", G), ("T", T), ("N", PAD if n_as == "pad" else N)):
            table[ord(char)] = token
            table[ord(char.lower())] = token
        self._byte_table = table

    def encode_one(self, seq: str) -> np.ndarray:
        """Token ids of one string (int64 array of the same length)."""
        if not isinstance(seq, str):
            raise TypeError(f"expected a str, got {type(seq).__name__}")
        raw = np.frombuffer(seq.encode("ascii", errors="replace"), dtype=np.uint8)  # non-ASCII -> '?' -> [UNK]
        return self._byte_table[raw]

    def encode(self, seqs: str | Sequence[str] | Iterable[str]) -> torch.Tensor:
        """LongTensor (B, L) for a batch of equal-length strings (a single string gives B = 1)."""
        if isinstance(seqs, str):
            seqs = [seqs]
        seqs = list(seqs)
        if not seqs:
            raise ValueError("encode() needs at least one sequence")
        lengths = {len(s) for s in seqs}
        if len(lengths) != 1:
            raise ValueError(
                "Caduceus has no attention mask, so a batch must hold sequences of equal length; "
                f"got lengths {sorted(lengths)[:5]}{' ...' if len(lengths) > 5 else ''}"
            )
        if 0 in lengths:
            raise ValueError("cannot encode an empty sequence")
        return torch.from_numpy(np.stack([self.encode_one(s) for s in seqs]))

    def decode(self, ids: torch.Tensor | Sequence[int]) -> str:
        """Inverse of `encode_one` for bases; specials are written as their token names."""
        names = {v: k for k, v in TOKENS.items()}
        values = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        return "".join(names.get(int(i), "[UNK]") for i in values)

    def reverse_complement_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """Reverse complement of a (…, L) id tensor with the published map."""
        return reverse_complement_ids(ids, self.complement_map)
