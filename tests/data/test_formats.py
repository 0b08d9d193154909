"""Source-format readers (crelens.data.formats): valid files and every malformed-input error, named by file and line."""

from __future__ import annotations

import gzip
import random
import re

import numpy as np
import pandas as pd
import pytest

from crelens.data.formats import (
    CCRE_CLASSES,
    LENTIMPRA_COLUMNS,
    PLANTED_MOTIF_COLUMNS,
    Contigs,
    iter_fasta,
    n_runs,
    read_bed,
    read_ccres,
    read_lentimpra,
    read_planted_motifs,
    read_promoters,
    read_sizes,
    write_fasta,
)
from crelens.errors import InputError
from crelens.tables import write_table

from helpers import expect_input_error

LENGTHS = {"chr1": 1000, "chr2": 500, "chrY": 300, "chr1_KI270706v1_random": 200}
KEPT = ["chr1", "chr2"]


@pytest.fixture
def contigs() -> Contigs:
    return Contigs(LENGTHS, KEPT, source="test.genome")


def write(path, text: str):
    path.write_text(text)
    return path


def read_fasta(path):
    return list(iter_fasta(path))


def _random_seq(rng, n):
    return "".join(rng.choice("ACGTNacgt") for _ in range(n))


def promoter_line(chrom="chr1", start=100, end=160, name="P1", score="900", strand="+"):
    return f"{chrom}\t{start}\t{end}\t{name}\t{score}\t{strand}\n"


def ccre_line(chrom="chr1", start=100, end=400, dhs="EH38D0000001", ccre="EH38E0000001", cls="dELS"):
    return f"{chrom}\t{start}\t{end}\t{dhs}\t{ccre}\t{cls}\n"


# --------------------------------------------------------------------------------- lentiMPRA

SEQ = "ACGTACGTAC" * 20


def lenti_table(tmp_path, rows, columns=LENTIMPRA_COLUMNS, name="mpra.tsv"):
    path = tmp_path / name
    lines = ["\t".join(columns)] + ["\t".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def lenti_row(seq_id="E1", chrom="chr1", start=100, end=300, strand="+", seq=SEQ, expr="1.5", avg="1.25", fold="0"):
    return [seq_id, chrom, start, end, strand, seq, expr, avg, fold]


# ------------------------------------------------------------------------------------ FASTA


def test_fasta_valid_records_and_soft_masking(tmp_path):
    path = write(tmp_path / "g.fa", ">chr1 some description\nACGTacgt\nNNnnAC\n\n>chr2\ngattaca\n")
    assert read_fasta(path) == [("chr1", "ACGTacgtNNnnAC"), ("chr2", "gattaca")]


def test_fasta_crlf_line_endings(tmp_path):
    path = tmp_path / "g.fa"
    path.write_bytes(b">chr1\r\nACGT\r\nAC\r\n")
    assert read_fasta(path) == [("chr1", "ACGTAC")]


def test_fasta_sequence_before_header(tmp_path):
    path = write(tmp_path / "g.fa", "\nACGT\n>chr1\nACGT\n")
    expect_input_error(lambda: read_fasta(path), path, "before the first '>' header", line=2)


def test_fasta_empty_header(tmp_path):
    path = write(tmp_path / "g.fa", ">chr1\nACGT\n>   \nACGT\n")
    expect_input_error(lambda: read_fasta(path), path, "empty FASTA header", line=3)


def test_fasta_duplicate_name(tmp_path):
    path = write(tmp_path / "g.fa", ">a\nAC\n>b\nGG\n>a second copy\nTT\n")
    expect_input_error(lambda: read_fasta(path), path, "duplicate record name 'a'", line=5)


def test_fasta_invalid_character_line_of_multiline_record(tmp_path):
    text = ">a\nACGTACGT\nACGTACGT\n>b\nACGTACGT\nACGTACGT\nACGTAXGT\nACGT\n"
    path = write(tmp_path / "g.fa", text)
    err = expect_input_error(lambda: read_fasta(path), path, r"invalid character 'X' in record 'b'", line=7)
    assert text.splitlines()[err.line - 1] == "ACGTAXGT"


def test_fasta_invalid_character_uneven_lines(tmp_path):
    text = ">a\nAC\nACGTA\nG\nAC-T\n"
    path = write(tmp_path / "g.fa", text)
    expect_input_error(lambda: read_fasta(path), path, r"invalid character '-' in record 'a'", line=5)


def test_fasta_invalid_character_first_line(tmp_path):
    path = write(tmp_path / "g.fa", ">a\nRCGT\nACGT\n")
    expect_input_error(lambda: read_fasta(path), path, r"invalid character 'R'", line=2)


def test_fasta_invalid_character_after_blank_line(tmp_path):
    text = ">a\nACGT\n\nACGT\nACGU\n"
    path = write(tmp_path / "g.fa", text)
    expect_input_error(lambda: read_fasta(path), path, r"invalid character 'U'", line=5)


def test_fasta_record_without_sequence(tmp_path):
    path = write(tmp_path / "g.fa", ">a\nACGT\n>b\n>c\nACGT\n")
    expect_input_error(lambda: read_fasta(path), path, "record 'b' has no sequence", line=3)


def test_fasta_last_record_without_sequence(tmp_path):
    path = write(tmp_path / "g.fa", ">a\nACGT\n>b\n\n")
    expect_input_error(lambda: read_fasta(path), path, "record 'b' has no sequence", line=3)


@pytest.mark.parametrize("text", ["", "\n\n   \n"])
def test_fasta_no_records(tmp_path, text):
    path = write(tmp_path / "g.fa", text)
    expect_input_error(lambda: read_fasta(path), path, "no FASTA records")


def test_fasta_missing_file(tmp_path):
    path = tmp_path / "absent.fa"
    expect_input_error(lambda: read_fasta(path), path, "does not exist")


def test_fasta_binary_file(tmp_path):
    path = tmp_path / "g.fa"
    path.write_bytes(b">a\nAC\xffGT\n")
    expect_input_error(lambda: read_fasta(path), path, "non-ASCII byte 0xff at byte offset 5", 2)


@pytest.mark.parametrize("name", ["g.fa.gz", "g.fa"])  # gzip detected by magic bytes, not name
def test_fasta_gzip(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(gzip.compress(b">chr1\nACGTN\nacgt\n>chr2\nGG\n"))
    assert read_fasta(path) == [("chr1", "ACGTNacgt"), ("chr2", "GG")]


def test_fasta_truncated_gzip(tmp_path):
    rng = random.Random(1)
    text = ">chr1\n" + "\n".join("".join(rng.choice("ACGT") for _ in range(60)) for _ in range(2000)) + "\n"
    whole = gzip.compress(text.encode())
    path = tmp_path / "g.fa.gz"
    path.write_bytes(whole[: len(whole) // 2])
    expect_input_error(lambda: read_fasta(path), path, "truncated")


def test_fasta_corrupt_gzip(tmp_path):
    whole = bytearray(gzip.compress(b">chr1\n" + b"ACGT\n" * 10))
    whole[-8] ^= 0xFF  # break the CRC
    path = tmp_path / "g.fa.gz"
    path.write_bytes(bytes(whole))
    expect_input_error(lambda: read_fasta(path), path, "unreadable or truncated")


def test_write_fasta_and_fai(tmp_path):
    rng = random.Random(7)
    records = [("chr1", _random_seq(rng, 131)), ("chr2", _random_seq(rng, 60)), ("chrM", _random_seq(rng, 7))]
    path = tmp_path / "out" / "g.fa"
    lengths = write_fasta(iter(records), path, width=60)
    assert lengths == {name: len(seq) for name, seq in records}
    assert read_fasta(path) == records
    lines = path.read_text().splitlines()
    assert lines[:4] == [">chr1", records[0][1][:60], records[0][1][60:120], records[0][1][120:]]

    fai = (tmp_path / "out" / "g.fa.fai").read_text().splitlines()
    assert len(fai) == 3
    raw = path.read_bytes()
    for row, (name, seq) in zip(fai, records):
        fname, length, offset, line_bases, line_width = row.split("\t")
        length, offset, line_bases, line_width = int(length), int(offset), int(line_bases), int(line_width)
        assert (fname, length, line_bases, line_width) == (name, len(seq), 60, 61)
        # the header line ends right before the offset
        assert raw[:offset].endswith(f">{name}\n".encode())
        with open(path, "rb") as handle:
            for pos in range(len(seq)):  # every base found by the samtools formula
                handle.seek(offset + (pos // line_bases) * line_width + pos % line_bases)
                assert handle.read(1).decode() == seq[pos]
            handle.seek(offset)
            block = handle.read(len(seq) + len(seq) // line_bases + 1).decode()
            assert block.replace("\n", "")[: len(seq)] == seq


def test_write_fasta_readable_by_pyfaidx(tmp_path):
    pyfaidx = pytest.importorskip("pyfaidx")
    rng = random.Random(3)
    records = [("chr1", _random_seq(rng, 250)), ("chr2", _random_seq(rng, 61))]
    path = tmp_path / "g.fa"
    write_fasta(records, path, width=50)
    fasta = pyfaidx.Fasta(str(path), rebuild=False, sequence_always_upper=False)
    for name, seq in records:
        assert str(fasta[name][:]) == seq
        assert str(fasta[name][37:113]) == seq[37:113]
    fasta.close()


def test_write_fasta_failure_leaves_nothing(tmp_path):
    def records():
        yield "chr1", "ACGT"
        raise RuntimeError("reader failed")

    path = tmp_path / "g.fa"
    with pytest.raises(RuntimeError):
        write_fasta(records(), path)
    assert list(tmp_path.iterdir()) == []


def test_n_runs():
    assert list(n_runs("NNACGnNNTN")) == [(0, 2), (5, 8), (9, 10)]
    assert list(n_runs("ACGT")) == []
    assert list(n_runs("NNACNNNN", min_length=3)) == [(4, 8)]


# ------------------------------------------------------------------------------------- sizes


def test_read_sizes_chrom_sizes_and_fai(tmp_path):
    sizes = write(tmp_path / "hg.chrom.sizes", "# comment\nchr1\t1000\n\nchr2\t500\n")
    assert read_sizes(sizes) == {"chr1": 1000, "chr2": 500}
    fai = write(tmp_path / "g.fa.fai", "chr1\t1000\t6\t60\t61\nchrM\t16\t1030\t60\t61\n")
    assert read_sizes(fai) == {"chr1": 1000, "chrM": 16}


@pytest.mark.parametrize(
    "text, line, problem",
    [
        ("chr1\t1000\nchr2\tlots\n", 2, "expected 'name<TAB>length'"),
        ("chr1\t1000\nchr2\n", 2, "expected 'name<TAB>length'"),
        ("chr1\t-5\n", 1, "expected 'name<TAB>length'"),
        ("chr1\t1000\nchr1\t1000\n", 2, "duplicate chromosome 'chr1'"),
    ],
)
def test_read_sizes_errors(tmp_path, text, line, problem):
    path = write(tmp_path / "chrom.sizes", text)
    expect_input_error(lambda: read_sizes(path), path, problem, line=line)


# --------------------------------------------------------------------------------------- BED


def test_contigs_kept_missing_from_lengths():
    with pytest.raises(InputError) as info:
        Contigs(LENGTHS, ["chr1", "chr3"], source="my.genome")
    assert "my.genome" in str(info.value)
    assert "chr3" in str(info.value)


def test_contigs_check(contigs, tmp_path):
    assert contigs.check("x.bed", 1, "chr1", 0, 1000) is True
    assert contigs.check("x.bed", 1, "chrY", 0, 10) is False
    expect_input_error(lambda: contigs.check("x.bed", 4, "chr3", 0, 10), "x.bed", "unknown chromosome 'chr3'", line=4)


def test_contigs_from_table(tmp_path):
    table = tmp_path / "genome.contigs.tsv"
    write_table(
        pd.DataFrame({"contig": list(LENGTHS), "length": list(LENGTHS.values()), "kept": [True, True, False, False]}),
        table,
    )
    loaded = Contigs.from_table(table)
    assert loaded.lengths == LENGTHS
    assert loaded.kept == KEPT
    assert loaded.source == str(table)


def test_read_bed_skips_headers_and_dropped_contigs(tmp_path, contigs):
    path = write(
        tmp_path / "x.bed",
        "track name=x\nbrowser position chr1\n# comment\n\n"
        "chr1\t0\t10\tA\n"
        "chrY\t5\t50\tB\n"
        "chr1_KI270706v1_random\t0\t200\tC\n"
        "chr2\t400\t500\tD\textra\n",
    )
    frame = read_bed(path, ["chrom", "start", "end", "name"], contigs)
    assert frame.name.tolist() == ["A", "D"]
    assert frame.start.tolist() == [0, 400]
    assert frame.end.tolist() == [10, 500]
    assert frame.line_no.tolist() == [5, 8]


@pytest.mark.parametrize("reader", [read_promoters, read_ccres])
@pytest.mark.parametrize(
    "bad, problem",
    [
        ("chr1\t100\t160\tP9\t0\n", "has 5 tab-separated columns, expected 6"),
        ("chr1 100 160 P9 0 +\n", "has 1 tab-separated columns"),
        ("chr1\t1e2\t160\tP9\t0\t+\n", r"non-integer coordinates '1e2', '160'"),
        ("chr1\t100\t16x\tP9\t0\t+\n", "non-integer coordinates"),
        ("chr1\t160\t160\tP9\t0\t+\n", r"invalid interval start=160 end=160"),
        ("chr1\t170\t160\tP9\t0\t+\n", r"invalid interval start=170 end=160"),
        ("chr1\t-1\t160\tP9\t0\t+\n", r"invalid interval start=-1"),
        ("1\t100\t160\tP9\t0\t+\n", r"unknown chromosome '1' \(not in test.genome\)"),
        ("chr3\t100\t160\tP9\t0\t+\n", r"unknown chromosome 'chr3'"),
        ("chr2\t450\t501\tP9\t0\t+\n", r"end 501 is beyond the end of chr2 \(length 500\)"),
    ],
)
def test_bed_line_errors(tmp_path, contigs, reader, bad, problem):
    good = promoter_line() if reader is read_promoters else ccre_line()
    path = write(tmp_path / "x.bed", "# header\n" + good + bad)
    expect_input_error(lambda: reader(path, contigs), path, problem, line=3)


def test_bed_end_at_chromosome_end_ok(tmp_path, contigs):
    path = write(tmp_path / "p.bed", promoter_line("chr2", 440, 500))
    assert read_promoters(path, contigs).end.tolist() == [500]


def test_bed_dropped_contig_silently_skipped(tmp_path, contigs, caplog):
    path = write(tmp_path / "p.bed", promoter_line("chrY", 10, 70, "PY") + promoter_line(name="P1"))
    frame = read_promoters(path, contigs)
    assert frame.name.tolist() == ["P1"]


def test_bed_dropped_contig_still_checks_length(tmp_path, contigs):
    path = write(tmp_path / "p.bed", promoter_line("chrY", 250, 310, "PY"))
    expect_input_error(lambda: read_promoters(path, contigs), path, "beyond the end of chrY", line=1)


def test_promoters_tss_both_strands(tmp_path, contigs):
    # EPDnew: 60 bp spanning TSS-49 .. TSS+10 on the promoter's strand.
    tss_plus, tss_minus = 500, 300
    plus = promoter_line("chr1", tss_plus - 49, tss_plus + 11, "PLUS_1", strand="+")
    minus = promoter_line("chr2", tss_minus - 10, tss_minus + 50, "MINUS_1", strand="-")
    path = write(tmp_path / "p.bed", plus + minus)
    frame = read_promoters(path, contigs)
    assert list(frame.columns) == ["chrom", "start", "end", "name", "score", "strand", "tss"]
    assert (frame.end - frame.start).tolist() == [60, 60]
    assert frame.tss.tolist() == [tss_plus, tss_minus]
    assert frame.name.tolist() == ["PLUS_1", "MINUS_1"]
    assert frame.index.tolist() == [0, 1]


def test_promoters_duplicate_name(tmp_path, contigs):
    path = write(
        tmp_path / "p.bed",
        promoter_line(name="P1")
        + promoter_line(start=200, end=260, name="P2")
        + promoter_line(start=300, end=360, name="P1"),
    )
    expect_input_error(lambda: read_promoters(path, contigs), path, "duplicate ID 'P1' in column name", line=3)


@pytest.mark.parametrize("strand", [".", "plus", "*"])
def test_promoters_bad_strand(tmp_path, contigs, strand):
    path = write(tmp_path / "p.bed", promoter_line() + promoter_line(name="P2", strand=strand))
    expect_input_error(
        lambda: read_promoters(path, contigs), path, rf"strand must be '\+' or '-', got '{re.escape(strand)}'", line=2
    )


def test_promoters_empty_after_dropping(tmp_path, contigs):
    path = write(tmp_path / "p.bed", promoter_line("chrY", 10, 70))
    frame = read_promoters(path, contigs)
    assert frame.empty
    assert "tss" in frame.columns


def test_ccres_all_classes_and_v3_style(tmp_path, contigs):
    lines = [ccre_line(start=10 * i, end=10 * i + 5, ccre=f"EH38E{i:07d}", cls=c) for i, c in enumerate(CCRE_CLASSES)]
    lines.append(ccre_line(start=200, end=300, ccre="EH38E9999999", cls="dELS,CTCF-bound"))
    path = write(tmp_path / "c.bed", "".join(lines))
    frame = read_ccres(path, contigs)
    assert frame.ccre_class.tolist() == [*CCRE_CLASSES, "dELS"]
    assert list(frame.columns) == ["chrom", "start", "end", "dhs_id", "ccre_id", "ccre_class"]


@pytest.mark.parametrize("cls", ["enhancer", "DNase-H3K4me3", "", "CTCF-bound,dELS"])
def test_ccres_unknown_class(tmp_path, contigs, cls):
    path = write(tmp_path / "c.bed", ccre_line() + ccre_line(ccre="EH38E0000002", cls=cls))
    expect_input_error(lambda: read_ccres(path, contigs), path, "unknown cCRE class", line=2)


def test_ccres_duplicate_accession(tmp_path, contigs):
    path = write(
        tmp_path / "c.bed",
        ccre_line() + ccre_line(start=500, end=600, ccre="EH38E0000002") + ccre_line(start=700, end=800),
    )
    expect_input_error(lambda: read_ccres(path, contigs), path, "duplicate ID 'EH38E0000001' in column ccre_id", line=3)


def test_bed_gzip(tmp_path, contigs):
    path = tmp_path / "c.bed.gz"
    path.write_bytes(gzip.compress(ccre_line().encode()))
    assert read_ccres(path, contigs).ccre_id.tolist() == ["EH38E0000001"]


def test_lentimpra_valid(tmp_path, contigs):
    rows = [
        lenti_row("E1", strand="+"),
        lenti_row("E1", strand="-", expr="-0.5"),
        lenti_row("D1", "", "", "", expr="0.1", avg="0.1", fold="3"),
        lenti_row("D2", "NA", "NA", "NA", seq=SEQ.lower(), expr="2", avg="2"),
        lenti_row("Y1", "chrY", 10, 210),  # genome has chrY, run leaves it out
        lenti_row("E2", "chr2", 0, 200, seq=SEQ[:150] + "N" * 50),
    ]
    path = lenti_table(tmp_path, rows)
    frame = read_lentimpra(path, contigs)
    assert list(frame.columns) == list(LENTIMPRA_COLUMNS)
    assert frame.seq_id.tolist() == ["E1", "E1", "D1", "D2", "E2"]
    assert frame.strand.tolist() == ["+", "-", "+", "+", "+"]
    assert frame.chromosome.tolist() == ["chr1", "chr1", "", "", "chr2"]
    assert frame.expression.dtype.kind == "f"
    np.testing.assert_allclose(frame.expression, [1.5, -0.5, 0.1, 2.0, 1.5])
    np.testing.assert_allclose(frame.averaged_expression, [1.25, 1.25, 0.1, 2.0, 1.25])
    assert frame.index.tolist() == list(range(5))


def test_lentimpra_extra_columns_ignored(tmp_path, contigs):
    columns = [*LENTIMPRA_COLUMNS, "comment"]
    path = lenti_table(tmp_path, [lenti_row() + ["hello"]], columns=columns)
    assert list(read_lentimpra(path, contigs).columns) == list(LENTIMPRA_COLUMNS)


def test_lentimpra_missing_columns(tmp_path, contigs):
    columns = [c for c in LENTIMPRA_COLUMNS if c not in ("fold", "strand")]
    path = lenti_table(tmp_path, [[v for c, v in zip(LENTIMPRA_COLUMNS, lenti_row()) if c in columns]], columns=columns)
    err = expect_input_error(lambda: read_lentimpra(path, contigs), path, "missing columns", line=1)
    assert "'strand'" in str(err) and "'fold'" in str(err)


@pytest.mark.parametrize("field", ["expr", "avg"])
@pytest.mark.parametrize("value", ["abc", "NA", ""])
def test_lentimpra_non_numeric_expression(tmp_path, contigs, field, value):
    path = lenti_table(tmp_path, [lenti_row("E1"), lenti_row("E2", **{field: value})])
    column = "expression" if field == "expr" else "averaged_expression"
    expect_input_error(lambda: read_lentimpra(path, contigs), path, f"{column} is not a finite number", line=3)


@pytest.mark.parametrize("seq", [SEQ[:50] + "X" + SEQ[51:], SEQ + " ", "ACGU"])
def test_lentimpra_invalid_sequence(tmp_path, contigs, seq):
    path = lenti_table(tmp_path, [lenti_row("E1"), lenti_row("E2"), lenti_row("BAD", seq=seq)])
    expect_input_error(lambda: read_lentimpra(path, contigs), path, "seq of 'BAD' has invalid character", line=4)


def test_lentimpra_empty_sequence(tmp_path, contigs):
    path = lenti_table(tmp_path, [lenti_row("E1"), lenti_row("BAD", seq="")])
    expect_input_error(lambda: read_lentimpra(path, contigs), path, "seq of 'BAD'", line=3)


@pytest.mark.parametrize("strand", [".", "", "fwd"])
def test_lentimpra_bad_strand(tmp_path, contigs, strand):
    path = lenti_table(tmp_path, [lenti_row("E1"), lenti_row("E2", strand=strand)])
    expect_input_error(lambda: read_lentimpra(path, contigs), path, "strand must be", line=3)


def test_lentimpra_duplicate_id_strand(tmp_path, contigs):
    rows = [lenti_row("E1", strand="+"), lenti_row("E1", strand="-"), lenti_row("E2"), lenti_row("E1", strand="-")]
    path = lenti_table(tmp_path, rows)
    expect_input_error(lambda: read_lentimpra(path, contigs), path, r"duplicate ID 'E1' \(strand -\)", line=5)


def test_lentimpra_header_only(tmp_path, contigs):
    path = lenti_table(tmp_path, [])
    expect_input_error(lambda: read_lentimpra(path, contigs), path, "no rows")


def test_lentimpra_zero_byte_file(tmp_path, contigs):
    path = tmp_path / "mpra.tsv"
    path.write_text("")
    expect_input_error(lambda: read_lentimpra(path, contigs), path, "file is empty")


def test_lentimpra_truncated_gzip(tmp_path, contigs):
    rows = [lenti_row(f"E{i}") for i in range(3000)]
    plain = lenti_table(tmp_path, rows)
    whole = gzip.compress(plain.read_bytes())
    path = tmp_path / "mpra.tsv.gz"
    path.write_bytes(whole[: len(whole) // 2])
    expect_input_error(lambda: read_lentimpra(path, contigs), path, "truncated")


def test_lentimpra_ragged_rows(tmp_path, contigs):
    path = lenti_table(tmp_path, [lenti_row("E1"), lenti_row("E2") + ["x", "y"]])
    expect_input_error(lambda: read_lentimpra(path, contigs), path, "not a tab-separated table")


def test_lentimpra_missing_file(tmp_path, contigs):
    path = tmp_path / "absent.tsv"
    expect_input_error(lambda: read_lentimpra(path, contigs), path, "does not exist")


@pytest.mark.parametrize("chrom", ["1", "chr3", "chrUn_foo"])
def test_lentimpra_unknown_chromosome(tmp_path, contigs, chrom):
    path = lenti_table(tmp_path, [lenti_row("E1"), lenti_row("E2", chrom=chrom)])
    expect_input_error(lambda: read_lentimpra(path, contigs), path, f"unknown chromosome '{chrom}'", line=3)


def test_lentimpra_end_beyond_chromosome(tmp_path, contigs):
    path = lenti_table(tmp_path, [lenti_row("E1", "chr2", 400, 600)])
    expect_input_error(lambda: read_lentimpra(path, contigs), path, "beyond the end of chr2", line=2)


def test_lentimpra_non_integer_coordinates(tmp_path, contigs):
    path = lenti_table(tmp_path, [lenti_row("E1", "chr1", "1e2", 300)])
    expect_input_error(lambda: read_lentimpra(path, contigs), path, "non-integer coordinates", line=2)


def test_lentimpra_gzip(tmp_path, contigs):
    plain = lenti_table(tmp_path, [lenti_row("E1")])
    packed = tmp_path / "mpra.tsv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert read_lentimpra(packed, contigs).seq_id.tolist() == ["E1"]


def test_planted_motifs_read_back_as_the_simulator_writes_them(tmp_path):
    path = write(
        tmp_path / "planted.bed",
        "#chrom\tstart\tend\tmotif_id\tscore\tstrand\tmotif_name\ttf_family\telement\telement_type\n"
        "chr1\t10\t18\tMA0035.5\t950\t-\tGATA1\tGATA\tE1\tenhancer\n",
    )
    frame = read_planted_motifs(path)
    assert list(frame.columns) == list(PLANTED_MOTIF_COLUMNS)
    assert frame.iloc[0].tolist() == ["chr1", 10, 18, "MA0035.5", 950, "-", "GATA1", "GATA", "E1", "enhancer"]
    expect_input_error(
        lambda: read_planted_motifs(tmp_path / "missing.bed"), tmp_path / "missing.bed", "does not exist"
    )


# -------------------------------------------------------------- defects found by probing


@pytest.mark.parametrize("bad", ["inf", "-inf", "nan", "", "high"])
def test_lentimpra_activity_must_be_finite(tmp_path, contigs, bad):
    path = lenti_table(tmp_path, [lenti_row(), lenti_row("E2", avg=bad)])
    expect_input_error(lambda: read_lentimpra(path, contigs), path, "not a finite number", 3)


@pytest.mark.parametrize(("start", "end"), [(300, 100), (-5, 100), (100, 100)])
def test_lentimpra_coordinates_are_checked_like_bed_intervals(tmp_path, contigs, start, end):
    path = lenti_table(tmp_path, [lenti_row(start=start, end=end)])
    expect_input_error(lambda: read_lentimpra(path, contigs), path, "invalid interval", 2)


def test_fasta_binary_byte_is_located_in_the_file_not_in_a_read_buffer(tmp_path):
    path = tmp_path / "g.fa"
    lines = [b">a\n"] + [b"ACGTACGTAC" * 6 + b"\n"] * 5000 + [b"AC\xffGT\n"]
    path.write_bytes(b"".join(lines))
    offset = sum(len(x) for x in lines[:-1]) + 2
    with pytest.raises(InputError) as caught:
        read_fasta(path)
    assert caught.value.line == 5002 and f"byte 0xff at byte offset {offset}" in str(caught.value)


def test_lentimpra_short_row_is_named_as_such(tmp_path, contigs):
    """pandas pads a short row with empty values; the message must say the row is short."""
    path = lenti_table(tmp_path, [lenti_row("E1"), lenti_row("E2")[:5]])
    expect_input_error(
        lambda: read_lentimpra(path, contigs), path, "row has 5 tab-separated fields, the header has 9", line=3
    )


def test_lentimpra_lines_after_a_blank_line_keep_their_file_numbers(tmp_path, contigs):
    path = lenti_table(tmp_path, [lenti_row("E1"), lenti_row("E2", expr="inf")])
    header, first, second = path.read_text().splitlines()
    path.write_text(f"{header}\n{first}\n\n{second}\n")  # E2 moves to line 4
    expect_input_error(lambda: read_lentimpra(path, contigs), path, "is not a finite number: 'inf'", line=4)
