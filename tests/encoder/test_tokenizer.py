"""Caduceus tokenizer: published ids, N policy, complement map, batching rules."""

from __future__ import annotations

import pytest
import torch

from crelens.encoder.caduceus import CaduceusConfig
from crelens.encoder.tokenizer import (
    COMPLEMENT_MAP,
    TOKENS,
    VOCAB_SIZE,
    CaduceusTokenizer,
    complement_map_tensor,
    reverse_complement_ids,
)


def test_published_ids():
    assert TOKENS == {
        "[CLS]": 0,
        "[SEP]": 1,
        "[BOS]": 2,
        "[MASK]": 3,
        "[PAD]": 4,
        "[RESERVED]": 5,
        "[UNK]": 6,
        "A": 7,
        "C": 8,
        "G": 9,
        "T": 10,
        "N": 11,
    }
    assert VOCAB_SIZE == 16


def test_encode_default_maps_n_to_pad():
    ids = CaduceusTokenizer().encode("ACGTN")
    assert ids.dtype == torch.long and ids.shape == (1, 5)
    assert ids.tolist() == [[7, 8, 9, 10, 4]]


def test_encode_n_policy_literal():
    assert CaduceusTokenizer(n_as="n").encode("ACGTN").tolist() == [[7, 8, 9, 10, 11]]


def test_bad_n_policy():
    with pytest.raises(ValueError, match="n_as"):
        CaduceusTokenizer(n_as="mask")


def test_lower_case_and_unknown_characters():
    tok = CaduceusTokenizer()
    assert tok.encode("acgtn").tolist() == [[7, 8, 9, 10, 4]]
    # any other character, non-ASCII included, is [UNK] and the length is preserved
    assert tok.encode("AXR-é.ßT").tolist() == [[7, 6, 6, 6, 6, 6, 6, 10]]


def test_batch_and_length_rules():
    tok = CaduceusTokenizer()
    batch = tok.encode(["ACGT", "TTTT", "GGGA"])
    assert batch.shape == (3, 4)
    with pytest.raises(ValueError, match="equal length"):
        tok.encode(["ACGT", "ACG"])
    with pytest.raises(ValueError, match="at least one"):
        tok.encode([])
    with pytest.raises(ValueError, match="empty"):
        tok.encode([""])


def test_complement_map():
    cm = complement_map_tensor()
    assert cm.tolist() == [0, 1, 2, 3, 4, 5, 6, 10, 9, 8, 7, 11, 12, 13, 14, 15]
    assert torch.equal(cm[cm], torch.arange(16))
    assert COMPLEMENT_MAP == {i: cm[i].item() for i in range(16)}
    # the model's default config uses the same map
    assert torch.equal(CaduceusConfig(d_model=8, n_layer=1).complement_map_tensor(), cm)


def test_reverse_complement_ids_matches_string_reverse_complement():
    tok = CaduceusTokenizer(n_as="n")
    seq = "AACGTNTTGCA"
    rc_seq = seq[::-1].translate(str.maketrans("ACGTN", "TGCAN"))
    ids = tok.encode(seq)
    assert torch.equal(tok.reverse_complement_ids(ids), tok.encode(rc_seq))
    assert torch.equal(reverse_complement_ids(reverse_complement_ids(ids)), ids)


def test_decode_round_trip():
    tok = CaduceusTokenizer(n_as="n")
    assert tok.decode(tok.encode("ACGTN")[0]) == "ACGTN"
