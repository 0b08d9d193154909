"""Unit tests of crelens.sequences: strand, alphabet, composition, one-hot, MPRA construct."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crelens.sequences import (
    LENTIMPRA_ADAPTOR_3,
    LENTIMPRA_ADAPTOR_5,
    MPRA_DOWNSTREAM,
    MPRA_DOWNSTREAM_FLANK,
    MPRA_UPSTREAM,
    MPRA_UPSTREAM_FLANK,
    first_invalid,
    gc_fraction,
    mpra_construct,
    n_fraction,
    one_hot,
    reverse_complement,
    strip_adaptors,
)

# ------------------------------------------------------------------------- reverse complement


def test_reverse_complement_upper():
    assert reverse_complement("AACGTT") == "AACGTT"
    assert reverse_complement("AAAC") == "GTTT"
    assert reverse_complement("ATGC") == "GCAT"


def test_reverse_complement_keeps_case_and_n():
    assert reverse_complement("acgN") == "Ncgt"
    assert reverse_complement("AcGtN") == "NaCgT"
    assert reverse_complement("nnAA") == "TTnn"


def test_reverse_complement_involution_and_empty():
    seq = "ACGTNacgtnGATTACA"
    assert reverse_complement(reverse_complement(seq)) == seq
    assert reverse_complement("") == ""


# ------------------------------------------------------------------------------ first_invalid


@pytest.mark.parametrize(
    "seq, expected",
    [
        ("ACGTN", -1),
        ("acgtn", -1),
        ("", -1),
        ("ACGXT", 3),
        ("RACGT", 0),
        ("ACGT-", 4),
        ("AC GT", 2),
        ("ACGU", 3),
    ],
)
def test_first_invalid(seq, expected):
    assert first_invalid(seq) == expected


# ------------------------------------------------------------------------- gc / n fractions


def test_gc_fraction_ignores_n_and_case():
    assert gc_fraction("GGCC") == 1.0
    assert gc_fraction("AATT") == 0.0
    assert gc_fraction("ACGT") == 0.5
    assert gc_fraction("acgtNNNN") == 0.5
    assert gc_fraction("GCnnA") == pytest.approx(2 / 3)


def test_gc_fraction_all_n_is_nan():
    assert math.isnan(gc_fraction("NNNN"))
    assert math.isnan(gc_fraction(""))


def test_n_fraction():
    assert n_fraction("ACGT") == 0.0
    assert n_fraction("NNAA") == 0.5
    assert n_fraction("nNaa") == 0.5
    assert n_fraction("NNNN") == 1.0
    assert n_fraction("") == 0.0


# ---------------------------------------------------------------------------------- one-hot


def test_one_hot_order_and_n():
    x = one_hot("ACGTN")
    assert x.shape == (5, 4)
    assert x.dtype == np.float32
    np.testing.assert_array_equal(
        x,
        np.array(
            [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]],
            dtype=np.float32,
        ),
    )


def test_one_hot_lower_case_and_other_letters():
    np.testing.assert_array_equal(one_hot("acgt"), one_hot("ACGT"))
    assert one_hot("nR").sum() == 0


def test_one_hot_dtype_and_empty():
    assert one_hot("ACGT", dtype=np.uint8).dtype == np.uint8
    assert one_hot("").shape == (0, 4)


def test_one_hot_rows_sum_to_one_except_n():
    seq = "GATTACANNcg"
    x = one_hot(seq)
    np.testing.assert_array_equal(x.sum(axis=1), [0 if c in "Nn" else 1 for c in seq])
    # argmax of the valid rows decodes back to the sequence
    decoded = "".join("ACGT"[i] if c not in "Nn" else "N" for i, c in zip(x.argmax(axis=1), seq))
    assert decoded == seq.upper()


# ------------------------------------------------------------------------------ MPRA construct


def test_flank_constants():
    """boda2's 300-nt plasmid constants; Malinois' 600-nt input takes the 200 nt next to the insert."""
    assert len(MPRA_UPSTREAM) == len(MPRA_DOWNSTREAM) == 300
    assert MPRA_UPSTREAM_FLANK == MPRA_UPSTREAM[-200:] and MPRA_DOWNSTREAM_FLANK == MPRA_DOWNSTREAM[:200]
    assert first_invalid(MPRA_UPSTREAM) == -1
    assert first_invalid(MPRA_DOWNSTREAM) == -1
    assert MPRA_UPSTREAM_FLANK.startswith("GTACGGGAGG") and MPRA_DOWNSTREAM.endswith("CTGAAGTTCATCT")


def test_mpra_construct_full_flanks():
    insert = ("ACGT" * 50)[:200]
    out = mpra_construct(insert, 600)
    assert len(out) == 600
    assert out == MPRA_UPSTREAM_FLANK + insert + MPRA_DOWNSTREAM_FLANK


def test_mpra_construct_even_padding():
    insert = "A" * 150
    out = mpra_construct(insert, 200)
    assert len(out) == 200
    assert out == MPRA_UPSTREAM_FLANK[-25:] + insert + MPRA_DOWNSTREAM_FLANK[:25]


def test_mpra_construct_odd_padding_extra_on_right():
    insert = "G" * 100
    out = mpra_construct(insert, 203)  # pad 103: 51 left, 52 right
    assert len(out) == 203
    assert out[:51] == MPRA_UPSTREAM_FLANK[-51:]
    assert out[51:151] == insert
    assert out[151:] == MPRA_DOWNSTREAM_FLANK[:52]


def test_mpra_construct_no_padding():
    insert = "ACGT" * 25
    assert mpra_construct(insert, 100) == insert


def test_mpra_construct_one_nt_pad_goes_right():
    insert = "T" * 10
    assert mpra_construct(insert, 11) == insert + MPRA_DOWNSTREAM_FLANK[0]


def test_mpra_construct_insert_too_long():
    with pytest.raises(ValueError, match="longer than the input length"):
        mpra_construct("A" * 201, 200)


def test_mpra_construct_longer_than_malinois_reads_plasmid_sequence():
    """A 630-nt construct (a 600-nt input shifted by up to 15 nt) holds the 600-nt one at offset 15."""
    insert = "ACGT" * 50
    wide, narrow = mpra_construct(insert, 630), mpra_construct(insert, 600)
    assert wide[15:615] == narrow
    assert wide[:15] == MPRA_UPSTREAM[-215:-200] and wide[615:] == MPRA_DOWNSTREAM[200:215]
    assert mpra_construct("A" * 100, 600)[:250] == MPRA_UPSTREAM[-250:]


def test_mpra_construct_flanks_too_short():
    with pytest.raises(ValueError, match="more flank"):
        mpra_construct("A" * 100, 800)  # needs 350 nt on each side
    with pytest.raises(ValueError, match="more flank"):
        mpra_construct("A" * 199, 800)  # 300 left but 301 right


# ----------------------------------------------------------------------------- strip_adaptors


def test_strip_adaptors_removes_both():
    element = "ACGT" * 50
    oligo = LENTIMPRA_ADAPTOR_5 + element + LENTIMPRA_ADAPTOR_3
    assert len(oligo) == 230
    assert strip_adaptors(oligo) == element


def test_strip_adaptors_needs_both():
    element = "ACGT" * 50
    assert strip_adaptors(LENTIMPRA_ADAPTOR_5 + element) == LENTIMPRA_ADAPTOR_5 + element
    assert strip_adaptors(element + LENTIMPRA_ADAPTOR_3) == element + LENTIMPRA_ADAPTOR_3
    assert strip_adaptors(element) == element


def test_strip_adaptors_nothing_between_is_kept():
    just_adaptors = LENTIMPRA_ADAPTOR_5 + LENTIMPRA_ADAPTOR_3
    assert strip_adaptors(just_adaptors) == just_adaptors


def test_strip_adaptors_custom():
    assert strip_adaptors("xxACGTyy", left="xx", right="yy") == "ACGT"


def test_one_hot_strands_reverse_complement_is_double_flip():
    from crelens.sequences import one_hot, one_hot_strands, reverse_complement

    seqs = ["ACGTNAAC", "GGGTTTCA"]
    x = one_hot_strands(seqs, dtype=np.float32)
    assert x.shape == (2, 2, 4, 8)
    for i, seq in enumerate(seqs):
        np.testing.assert_array_equal(x[i, 0], one_hot(seq).T)
        np.testing.assert_array_equal(x[i, 1], one_hot(reverse_complement(seq)).T)
    assert x[0, 0, :, 4].sum() == 0  # N is all-zero on both strands
    assert x[0, 1, :, 3].sum() == 0


def test_one_hot_strands_rejects_mixed_lengths():
    from crelens.sequences import one_hot_strands

    with pytest.raises(ValueError, match="one length"):
        one_hot_strands(["ACGT", "ACG"])


def test_variable_span_drops_constant_flanks():
    from crelens.sequences import variable_span

    assert variable_span(["AAACGTTT", "AAAGGATT", "AAACCTTT"]) == (3, 6)
    assert variable_span(["ACGT", "ACGT"]) == (0, 4)
    assert variable_span(["ACGT"]) == (0, 4) and variable_span([]) == (0, 0)
