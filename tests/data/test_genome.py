"""Unit tests of crelens.genome.prepare_genome: kept chromosomes, index, contigs table, gaps."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest

from crelens.data.formats import Contigs, iter_fasta, read_sizes
from crelens.data.genome import run_prepare_genome
from crelens.errors import InputError
from crelens.tables import read_table

CHR1 = "NNNNACGTACGTnnnnACGTACGTACGTACGTACGTAAAAACCCCCGGGGGTTTTTacgtacgtNACGTNN"
CHR2 = "GATTACA" * 20 + "N" * 10 + "GATTACA" * 3
CHRY = "NNNNNNNNNNACGTACGTACGT"
RANDOM = "acgtACGTnnACGT" * 5
SOURCE = [("chr1", CHR1), ("chrY", CHRY), ("chr2", CHR2), ("chr1_KI270706v1_random", RANDOM)]


def write_source(path, records=SOURCE, width=50, compress=False):
    text = "".join(
        f">{name} AC:XYZ description\n" + "".join(seq[i : i + width] + "\n" for i in range(0, len(seq), width))
        for name, seq in records
    )
    path.write_bytes(gzip.compress(text.encode()) if compress else text.encode())
    return path


def outputs(folder):
    return {
        "fasta_out": folder / "genome.fa",
        "contigs_out": folder / "genome.contigs.tsv",
        "gaps_out": folder / "genome.gaps.bed",
    }


@pytest.mark.parametrize("compress", [False, True])
def test_prepare_genome(tmp_path, compress):
    source = write_source(tmp_path / ("hg.fa.gz" if compress else "hg.fa"), compress=compress)
    out = outputs(tmp_path / "out")
    lengths = run_prepare_genome(source, chromosomes=["chr1", "chr2"], **out)
    assert lengths == {"chr1": len(CHR1), "chr2": len(CHR2)}

    # FASTA: only kept chromosomes, sequence (and soft-masking) unchanged
    assert list(iter_fasta(out["fasta_out"])) == [("chr1", CHR1), ("chr2", CHR2)]
    fai = out["fasta_out"].with_name("genome.fa.fai")
    assert read_sizes(fai) == lengths

    # contigs: every source contig, in source order, with kept flags
    contigs = read_table(out["contigs_out"])
    assert contigs.to_dict("list") == {
        "contig": ["chr1", "chrY", "chr2", "chr1_KI270706v1_random"],
        "length": [len(CHR1), len(CHRY), len(CHR2), len(RANDOM)],
        "kept": [True, False, True, False],
    }
    loaded = Contigs.from_table(out["contigs_out"])
    assert loaded.kept == ["chr1", "chr2"]
    assert loaded.lengths["chrY"] == len(CHRY)

    # gaps: half-open N runs (either case) of the kept chromosomes only
    gaps = out["gaps_out"].read_text().splitlines()
    expected = [
        ("chr1", 0, 4),
        ("chr1", 12, 16),
        ("chr1", len(CHR1) - 7, len(CHR1) - 6),
        ("chr1", len(CHR1) - 2, len(CHR1)),
        ("chr2", 140, 150),
    ]
    assert gaps == [f"{c}\t{s}\t{e}" for c, s, e in expected]
    for chrom, start, end in expected:
        seq = dict(SOURCE)[chrom]
        assert set(seq[start:end].upper()) == {"N"}
        assert start == 0 or seq[start - 1].upper() != "N"
        assert end == len(seq) or seq[end].upper() != "N"

    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "genome.contigs.tsv",
        "genome.fa",
        "genome.fa.fai",
        "genome.gaps.bed",
    ]


def test_prepare_genome_no_gaps(tmp_path):
    source = write_source(tmp_path / "hg.fa", records=[("chr1", "ACGT" * 10), ("chr2", "GGCC" * 5), ("chr3", "NN")])
    out = outputs(tmp_path / "out")
    run_prepare_genome(source, chromosomes=["chr1", "chr2"], **out)
    assert out["gaps_out"].read_text() == ""


def _assert_no_outputs(folder):
    leftovers = sorted(p.name for p in folder.iterdir()) if folder.exists() else []
    assert leftovers == [], leftovers


def test_missing_configured_chromosome(tmp_path):
    source = write_source(tmp_path / "hg.fa")
    out = outputs(tmp_path / "out")
    with pytest.raises(InputError) as info:
        run_prepare_genome(source, chromosomes=["chr1", "chr2", "chr3"], **out)
    assert str(source) in str(info.value)
    assert "chr3" in str(info.value)
    _assert_no_outputs(tmp_path / "out")


@pytest.mark.parametrize(
    "records, problem",
    [
        ([("chr1", CHR1), ("chr2", CHR2[:30] + "X" + CHR2[31:])], "invalid character 'X'"),
        ([("chr1", CHR1), ("chrY", "ACGT-ACGT"), ("chr2", CHR2)], "invalid character '-'"),  # dropped contigs too
        ([("chr1", CHR1), ("chr2", CHR2), ("chr1", CHR1)], "duplicate record name 'chr1'"),
    ],
)
def test_malformed_source(tmp_path, records, problem):
    source = write_source(tmp_path / "hg.fa", records=records)
    out = outputs(tmp_path / "out")
    with pytest.raises(InputError, match=problem) as info:
        run_prepare_genome(source, chromosomes=["chr1", "chr2"], **out)
    assert str(source) in str(info.value)
    assert info.value.line is not None
    _assert_no_outputs(tmp_path / "out")


def test_not_fasta_source(tmp_path):
    source = tmp_path / "hg.fa"
    source.write_text("chr1\t1000\nchr2\t500\n")
    out = outputs(tmp_path / "out")
    with pytest.raises(InputError, match="before the first '>' header"):
        run_prepare_genome(source, chromosomes=["chr1"], **out)
    _assert_no_outputs(tmp_path / "out")


def test_truncated_gzip_source(tmp_path):
    big = [("chr1", "ACGT" * 50000), ("chr2", "GATC" * 50000)]
    source = write_source(tmp_path / "hg.fa.gz", records=big, compress=True)
    data = source.read_bytes()
    source.write_bytes(data[: len(data) - 200])
    out = outputs(tmp_path / "out")
    with pytest.raises(InputError, match="truncated"):
        run_prepare_genome(source, chromosomes=["chr1", "chr2"], **out)
    _assert_no_outputs(tmp_path / "out")


def test_contigs_table_is_tsv(tmp_path):
    source = write_source(tmp_path / "hg.fa")
    out = outputs(tmp_path / "out")
    run_prepare_genome(source, chromosomes=["chr2"], **out)
    frame = pd.read_csv(out["contigs_out"], sep="\t")
    assert frame.kept.tolist() == [False, False, True, False]
