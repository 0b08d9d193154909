"""Unit tests of crelens.data.jaspar: pyjaspar profiles, MEME writer/reader, export_jaspar."""

from __future__ import annotations

import numpy as np
import pytest

from crelens.data.jaspar import Motif, export_jaspar, jaspar_motifs, read_meme, write_meme
from crelens.errors import InputError

HEADER = (
    "MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\nBackground letter frequencies\nA 0.25 C 0.25 G 0.25 T 0.25\n\n"
)


@pytest.fixture(scope="module")
def jaspar2024() -> list[Motif]:
    return jaspar_motifs("JASPAR2024")


def jaspar_style_meme(motifs: list[Motif], path) -> None:
    """A MEME file laid out like JASPAR's download (tab-separated rows, URL lines)."""
    with open(path, "w") as out:
        out.write(HEADER)
        for m in motifs:
            out.write(f"MOTIF {m.id} {m.name}\n")
            out.write(f"letter-probability matrix: alength= 4 w= {m.length} nsites= 20 E= 0\n")
            for row in m.probs:
                out.write("".join(f"  {v:.6f}\t" for v in row) + "\n")
            out.write(f"URL http://jaspar.genereg.net/matrix/{m.id}\n\n")


# MEME stores 6 decimals and read_meme renormalises rows: one round trip moves a probability
# by at most 5e-7 (rounding) + 2e-6 (row sum off by up to 4 x 5e-7) = 2.5e-6.
ROUND_TRIP_ATOL = 2.5e-6


def printed(probs: np.ndarray) -> np.ndarray:
    """What a 6-decimal MEME file holds, renormalised as read_meme does."""
    r = np.array([[float(f"{v:.6f}") for v in row] for row in probs])
    return r / r.sum(axis=1, keepdims=True)


def assert_same_motifs(a: list[Motif], b: list[Motif], atol: float = 1e-6) -> None:
    assert [m.id for m in a] == [m.id for m in b]
    assert [m.name for m in a] == [m.name for m in b]
    for x, y in zip(a, b):
        assert x.probs.shape == y.probs.shape, x.id
        np.testing.assert_allclose(x.probs, y.probs, atol=atol, rtol=0, err_msg=x.id)


# ----------------------------------------------------------------------------------- pyjaspar


def test_jaspar2024_profiles(jaspar2024):
    assert len(jaspar2024) == 879
    ids = [m.id for m in jaspar2024]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    ctcf = {m.id: m for m in jaspar2024}["MA0139.2"]
    assert ctcf.name == "CTCF"
    assert ctcf.length == 15
    for m in jaspar2024:
        assert m.probs.ndim == 2 and m.probs.shape[1] == 4, m.id
        assert m.length >= 1
        assert np.all(m.probs >= 0), m.id
        np.testing.assert_allclose(m.probs.sum(axis=1), 1.0, atol=1e-9, err_msg=m.id)


@pytest.mark.filterwarnings("ignore:Failed to fetch internal database ID")
def test_jaspar_by_id_and_unknown():
    found = jaspar_motifs("JASPAR2024", ids=["MA0139.2", "MA0079.5"])
    assert [(m.id, m.name) for m in found] == [("MA0079.5", "SP1"), ("MA0139.2", "CTCF")]
    with pytest.raises(InputError, match=r"MA9999\.1 is not in JASPAR2024"):
        jaspar_motifs("JASPAR2024", ids=["MA9999.1"])


def test_log_odds_finite():
    m = Motif("X", "x", np.array([[1.0, 0, 0, 0], [0.25, 0.25, 0.25, 0.25]]))
    lo = m.log_odds()
    assert np.all(np.isfinite(lo))
    assert lo[0, 0] > 1.9 and lo[0, 1] < -5
    np.testing.assert_allclose(lo[1], 0.0, atol=1e-12)


# ------------------------------------------------------------------------------------- MEME


def test_meme_round_trip(jaspar2024, tmp_path):
    path = tmp_path / "motifs.meme"
    write_meme(jaspar2024, path)
    back = read_meme(path)
    assert_same_motifs(jaspar2024, back, atol=ROUND_TRIP_ATOL)
    for m, b in zip(jaspar2024, back):  # exact up to the printed precision
        np.testing.assert_allclose(b.probs, printed(m.probs), atol=1e-12, rtol=0, err_msg=m.id)
    for m in back:
        np.testing.assert_allclose(m.probs.sum(axis=1), 1.0, atol=1e-12)


def test_meme_round_trip_names_with_punctuation(tmp_path):
    motifs = [
        Motif("MA0099.4", "FOS::JUN", np.array([[0.1, 0.2, 0.3, 0.4], [0.7, 0.1, 0.1, 0.1]])),
        Motif("MX1", "MX1", np.array([[1.0, 0.0, 0.0, 0.0]])),
    ]
    path = tmp_path / "m.meme"
    write_meme(motifs, path)
    assert_same_motifs(motifs, read_meme(path))


def test_meme_missing_name_uses_id(tmp_path):
    path = tmp_path / "m.meme"
    path.write_text(HEADER + "MOTIF M1\nletter-probability matrix: alength= 4 w= 1\n0.25 0.25 0.25 0.25\n")
    (m,) = read_meme(path)
    assert (m.id, m.name) == ("M1", "M1")


def test_export_jaspar_pyjaspar_and_meme_agree(jaspar2024, tmp_path):
    from_db = tmp_path / "db.meme"
    from_file = tmp_path / "file.meme"
    source = tmp_path / "JASPAR2024_CORE_vertebrates_non-redundant_pfms_meme.txt"
    jaspar_style_meme(jaspar2024, source)
    assert export_jaspar(from_db, "JASPAR2024") == 879
    assert export_jaspar(from_file, "JASPAR2024", meme_source=source) == 879
    a, b = read_meme(from_db), read_meme(from_file)
    assert_same_motifs(a, b, atol=1e-6)
    assert_same_motifs(jaspar2024, b, atol=ROUND_TRIP_ATOL)


# ------------------------------------------------------------------------------ MEME errors


def _meme(tmp_path, body: str):
    path = tmp_path / "bad.meme"
    path.write_text(HEADER + body)
    return path


def _expect(path, problem: str, line: int | None = None):
    with pytest.raises(InputError, match=problem) as info:
        read_meme(path)
    assert str(path) in str(info.value)
    assert info.value.line == line
    return info.value


GOOD = "MOTIF M1 one\nletter-probability matrix: alength= 4 w= 2 nsites= 20 E= 0\n 0.1 0.2 0.3 0.4\n 0.25 0.25 0.25 0.25\n\n"


def test_meme_no_motifs(tmp_path):
    _expect(_meme(tmp_path, ""), "no motifs found")


def test_meme_empty_file(tmp_path):
    path = tmp_path / "empty.meme"
    path.write_text("")
    _expect(path, "no motifs found")


def test_meme_row_with_three_columns(tmp_path):
    path = _meme(
        tmp_path, GOOD + "MOTIF M2 two\nletter-probability matrix: alength= 4 w= 2\n 0.5 0.5 0.0 0.0\n 0.5 0.5 0.0\n"
    )
    # HEADER has 9 lines; GOOD adds 5 -> the bad row is line 9 + 5 + 4 = 18
    assert path.read_text().splitlines()[17] == " 0.5 0.5 0.0"
    _expect(path, "matrix row has 3 columns, expected 4", line=18)


def test_meme_row_not_numbers(tmp_path):
    path = _meme(tmp_path, "MOTIF M1\nletter-probability matrix: alength= 4 w= 2\n 0.25 0.25 0.25 0.25\nURL http://x\n")
    _expect(path, "matrix row is not numbers", line=13)


def test_meme_rows_not_summing_to_one(tmp_path):
    path = _meme(tmp_path, "MOTIF M1\nletter-probability matrix: alength= 4 w= 1\n 0.5 0.5 0.5 0.5\n")
    _expect(path, "rows of M1 do not sum to 1", line=12)


def test_meme_truncated_at_end(tmp_path):
    path = _meme(tmp_path, GOOD + "MOTIF M2 two\nletter-probability matrix: alength= 4 w= 3\n 0.5 0.5 0.0 0.0\n")
    _expect(path, "motif M2 has 1 of 3 matrix rows", line=15)


def test_meme_truncated_before_next_motif(tmp_path):
    truncated = "MOTIF M2 two\nletter-probability matrix: alength= 4 w= 3\n 0.5 0.5 0.0 0.0\n\n"
    path = _meme(tmp_path, GOOD + truncated + GOOD.replace("M1 one", "M3 three"))
    _expect(path, "motif M2 has 1 of 3 matrix rows", line=15)


def test_meme_duplicate_ids(tmp_path):
    path = _meme(tmp_path, GOOD + GOOD.replace(" one", " again"))
    _expect(path, "duplicate motif ID M1")


def test_meme_matrix_before_motif(tmp_path):
    path = _meme(tmp_path, "letter-probability matrix: alength= 4 w= 1\n0.25 0.25 0.25 0.25\n")
    _expect(path, "matrix before any MOTIF line", line=10)


def test_meme_matrix_without_width(tmp_path):
    path = _meme(tmp_path, "MOTIF M1\nletter-probability matrix: alength= 4 nsites= 20\n0.25 0.25 0.25 0.25\n")
    _expect(path, "without w= width", line=11)


def test_meme_motif_without_identifier(tmp_path):
    path = _meme(tmp_path, "MOTIF\n")
    _expect(path, "MOTIF line without an identifier", line=10)
