"""Readers and writers for the file formats crelens consumes, with errors that name file and line.

One reader per format, shared by the simulated and the downloaded world, so the synthetic
default exercises exactly the code that reads the real files.
"""

from __future__ import annotations

import csv
import gzip
import itertools
import logging
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from crelens.atomic import atomic_open
from crelens.errors import InputError
from crelens.sequences import first_invalid

log = logging.getLogger(__name__)

# SCREEN cCRE V4 classes (ENCODE Registry V4, https://downloads.wenglab.org/Registry-V4/).
CCRE_CLASSES = ("PLS", "pELS", "dELS", "CA-CTCF", "CA-H3K4me3", "CA-TF", "CA", "TF")
# Processed lentiMPRA tables (Agarwal et al. 2025; Zenodo 17453603, third-party processing).
LENTIMPRA_COLUMNS = (
    "seq_id",
    "chromosome",
    "start",
    "end",
    "strand",
    "seq",
    "expression",
    "averaged_expression",
    "fold",
)
_MISSING_CHROM = {"", "NA", "nan", "None", "."}
_NON_ASCII = re.compile(rb"[\x80-\xff]")
# The offline world's truth: every planted motif instance, one BED line each (score = 1000 x the
# instance's match strength; element / element_type = where it was planted).
PLANTED_MOTIF_COLUMNS = (
    "chrom",
    "start",
    "end",
    "motif_id",
    "score",
    "strand",
    "motif_name",
    "tf_family",
    "element",
    "element_type",
)


def open_text(path) -> Iterator[str]:
    """Text lines of a plain or gzip file (detected by magic bytes, not by name)."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "file does not exist")
    with open(path, "rb") as probe:
        magic = probe.read(2)
    opener = gzip.open if magic == b"\x1f\x8b" else open
    try:
        with opener(path, "rt", encoding="ascii", newline=None) as handle:
            yield from handle
    except (EOFError, gzip.BadGzipFile, OSError) as exc:
        raise InputError(path, f"unreadable or truncated compressed file ({exc})") from exc
    except UnicodeDecodeError:
        offset, line, byte = _first_non_ascii(path, opener)
        where = "byte offset" if opener is open else "byte offset in the decompressed text"
        raise InputError(
            path, f"non-ASCII byte 0x{byte:02x} at {where} {offset}: not a text file of this format", line
        ) from None


def _first_non_ascii(path, opener) -> tuple[int, int, int]:
    """(offset, line, byte) of the first byte above 0x7f; read again only when decoding failed,
    because the decoder's position is one inside its read buffer, not in the file."""
    offset, line = 0, 1
    with opener(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            match = _NON_ASCII.search(chunk)
            if match is not None:
                bad = match.start()
                return offset + bad, line + chunk.count(b"\n", 0, bad), chunk[bad]
            offset += len(chunk)
            line += chunk.count(b"\n")
    return offset, line, 0


# ----------------------------------------------------------------------------------------- FASTA


def iter_fasta(path) -> Iterator[tuple[str, str]]:
    """(name, sequence) records of a FASTA file, validated as they stream.

    Stops with InputError on: sequence before the first header, an empty header or record,
    a duplicate name, or a character outside ACGTN (case-insensitive; soft-masking is kept).
    """
    seen: set[str] = set()
    name: str | None = None
    headerline_no = 0
    chunks: list[str] = []
    chunk_lines: list[int] = []  # file line of each chunk (blank lines inside a record are skipped)

    def finish():
        if not chunks:
            raise InputError(path, f"record '{name}' has no sequence", headerline_no)
        seq = "".join(chunks)
        bad = first_invalid(seq)
        if bad >= 0:
            ends = itertools.accumulate(len(chunk) for chunk in chunks)  # map the index back to its line
            line = chunk_lines[next(i for i, end in enumerate(ends) if bad < end)]
            raise InputError(path, f"invalid character {seq[bad]!r} in record '{name}' (only ACGTN allowed)", line)
        return seq

    for number, raw in enumerate(open_text(path), start=1):
        line = raw.rstrip("\r\n")
        if line.startswith(">"):
            if name is not None:
                yield name, finish()
            fields = line[1:].split()
            if not fields:
                raise InputError(path, "empty FASTA header", number)
            name, headerline_no, chunks, chunk_lines = fields[0], number, [], []
            if name in seen:
                raise InputError(path, f"duplicate record name '{name}'", number)
            seen.add(name)
        elif not line.strip():
            continue
        elif name is None:
            raise InputError(path, "sequence line before the first '>' header: not FASTA", number)
        else:
            chunks.append(line.strip())
            chunk_lines.append(number)
    if name is None:
        raise InputError(path, "no FASTA records found")
    yield name, finish()


def write_fasta(records: Iterable[tuple[str, str]], path, width: int = 60) -> dict[str, int]:
    """Write FASTA and its samtools-style `.fai` index atomically; returns name → length."""
    path = Path(path)
    index_rows = []
    lengths: dict[str, int] = {}
    with atomic_open(path, "w") as handle:
        offset = 0
        for name, seq in records:
            header = f">{name}\n"
            handle.write(header)
            offset += len(header)
            index_rows.append(f"{name}\t{len(seq)}\t{offset}\t{width}\t{width + 1}\n")
            lengths[name] = len(seq)
            body = "".join(seq[i : i + width] + "\n" for i in range(0, len(seq), width))
            handle.write(body)
            offset += len(body)
    with atomic_open(str(path) + ".fai", "w") as handle:
        handle.writelines(index_rows)
    return lengths


def read_sizes(path) -> dict[str, int]:
    """Chromosome lengths from a `.fai` index or a UCSC `chrom.sizes` file (first two columns)."""
    sizes: dict[str, int] = {}
    for number, raw in enumerate(open_text(path), start=1):
        fields = raw.rstrip("\n").split("\t")
        if not raw.strip() or raw.startswith("#"):
            continue
        if len(fields) < 2 or not fields[1].isdigit():
            raise InputError(path, "expected 'name<TAB>length'", number)
        if fields[0] in sizes:
            raise InputError(path, f"duplicate chromosome '{fields[0]}'", number)
        sizes[fields[0]] = int(fields[1])
    return sizes


def n_runs(seq: str, min_length: int = 1) -> Iterator[tuple[int, int]]:
    """Half-open (start, end) intervals of runs of N (assembly gaps)."""
    for match in re.finditer(r"[Nn]+", seq):
        if match.end() - match.start() >= min_length:
            yield match.start(), match.end()


# ------------------------------------------------------------------------------------------- BED


class Contigs:
    """The source genome's contigs and which of them the run keeps.

    A BED line on a contig the genome has but the run leaves out (chrY, alt haplotypes, …) is
    dropped and counted; a contig the genome does not have at all is an error, because it
    signals mismatched files (e.g. `1` vs `chr1`, or another assembly).
    """

    def __init__(self, lengths: dict[str, int], kept: Iterable[str], source: str = "genome"):
        self.lengths = dict(lengths)
        self.kept = [c for c in kept]
        self.kept_set = set(self.kept)
        self.source = source
        missing = [c for c in self.kept if c not in self.lengths]
        if missing:
            raise InputError(source, f"chromosomes {missing} requested in config are not in the genome")

    @classmethod
    def from_table(cls, path) -> Contigs:
        """Read `genome.contigs.tsv` written by `genome.prepare_genome`."""
        table = pd.read_csv(path, sep="\t", dtype={"contig": str, "length": int, "kept": bool})
        return cls(dict(zip(table.contig, table.length)), table.contig[table.kept], source=str(path))

    def check(self, path, line: int, chrom: str, start: int | None = None, end: int | None = None) -> bool:
        """True if the interval is on a kept contig; False if on a dropped one; raise if invalid
        (0 <= start < end <= the chromosome's length, on a contig of the genome)."""
        if start is not None and end is not None:
            check_interval(path, line, start, end)
        if chrom not in self.lengths:
            raise InputError(path, f"unknown chromosome '{chrom}' (not in {self.source})", line)
        if end is not None and end > self.lengths[chrom]:
            raise InputError(path, f"end {end} is beyond the end of {chrom} (length {self.lengths[chrom]})", line)
        return chrom in self.kept_set


def check_interval(path, line: int, start: int, end: int) -> None:
    """0-based, half-open coordinates must satisfy 0 <= start < end (every reader of intervals)."""
    if start < 0 or end <= start:
        raise InputError(path, f"invalid interval start={start} end={end} (need 0 <= start < end)", line)


def row_lines(path, sep: str) -> list[int]:
    """File line number of each data row of a delimited text table, after checking that every row
    has as many fields as the header.

    pandas pads a short row with empty values and numbers rows without the blank lines it skips,
    so messages built on its row index would name the wrong problem (an "empty value") and, after a
    blank line, the wrong line. Quoted fields may hold the separator (csv module rules).
    """
    kind = {"\t": "tab", ",": "comma"}.get(sep, repr(sep))
    reader = csv.reader(open_text(path), delimiter=sep)
    width, lines = None, []
    for fields in reader:
        if not fields or fields == [""]:
            continue  # a blank line, skipped as pandas skips it
        if width is None:
            width = len(fields)
        elif len(fields) != width:
            problem = f"row has {len(fields)} {kind}-separated fields, the header has {width}"
            raise InputError(path, problem, reader.line_num)
        else:
            lines.append(reader.line_num)
    return lines


def finite_numbers(values: pd.Series, path, column: str, lines) -> pd.Series:
    """`values` as floats; the first one that is not a finite number (text, empty, NaN, inf) stops
    the run with the file, line and column. One check for every numeric input column."""
    numbers = pd.to_numeric(values, errors="coerce").astype(float)
    bad = ~np.isfinite(numbers.to_numpy())
    if bad.any():
        i = int(bad.argmax())
        raise InputError(path, f"{column} is not a finite number: {values.iloc[i]!r}", int(list(lines)[i]))
    return numbers


def read_bed(path, columns: list[str], contigs: Contigs, *, kind: str = "BED") -> pd.DataFrame:
    """Parse a BED file into a DataFrame with the named columns (first three: chrom, start, end).

    Checks every line: column count, integer coordinates, 0 <= start < end, chromosome known,
    end within the chromosome. Lines on dropped contigs are skipped and counted in the log.
    """
    rows = []
    dropped = 0
    n_cols = len(columns)
    for number, raw in enumerate(open_text(path), start=1):
        line = raw.rstrip("\r\n")
        if not line.strip() or line.startswith(("#", "track", "browser")):
            continue
        fields = line.split("\t")
        if len(fields) < n_cols:
            raise InputError(path, f"{kind} line has {len(fields)} tab-separated columns, expected {n_cols}", number)
        try:
            start, end = int(fields[1]), int(fields[2])
        except ValueError:
            raise InputError(path, f"non-integer coordinates {fields[1]!r}, {fields[2]!r}", number) from None
        if not contigs.check(path, number, fields[0], start, end):
            dropped += 1
            continue
        rows.append([fields[0], start, end, *fields[3:n_cols], number])
    if dropped:
        log.info("%s: skipped %d lines on contigs outside the configured chromosomes", path, dropped)
    frame = pd.DataFrame(rows, columns=[*columns, "line_no"])
    return frame


def _reject_duplicates(frame: pd.DataFrame, column: str, path) -> None:
    duplicated = frame[column].duplicated(keep="first")
    if duplicated.any():
        first = frame[duplicated].iloc[0]
        raise InputError(path, f"duplicate ID '{first[column]}' in column {column}", int(first["line_no"]))


def read_promoters(path, contigs: Contigs) -> pd.DataFrame:
    """EPDnew BED6 promoters with a derived `tss` column (0-based position of the TSS).

    EPDnew intervals span TSS-49 … TSS+10 on the promoter's strand (60 bp), so the TSS is
    start+49 on '+' and end-50 on '-'.
    """
    frame = read_bed(path, ["chrom", "start", "end", "name", "score", "strand"], contigs, kind="EPDnew BED6")
    bad = ~frame.strand.isin(["+", "-"])
    if bad.any():
        row = frame[bad].iloc[0]
        raise InputError(path, f"strand must be '+' or '-', got {row.strand!r}", int(row.line_no))
    _reject_duplicates(frame, "name", path)
    frame["tss"] = frame.start + 49
    minus = frame.strand == "-"
    frame.loc[minus, "tss"] = frame.end[minus] - 50
    return frame.drop(columns="line_no").reset_index(drop=True)


def read_ccres(path, contigs: Contigs) -> pd.DataFrame:
    """SCREEN V4 cCRE BED (chrom, start, end, DHS accession, cCRE accession, class)."""
    frame = read_bed(path, ["chrom", "start", "end", "dhs_id", "ccre_id", "ccre_class"], contigs, kind="cCRE BED")
    # V3-style annotations ("dELS,CTCF-bound") carry the class first.
    frame["ccre_class"] = frame.ccre_class.str.split(",").str[0]
    bad = ~frame.ccre_class.isin(CCRE_CLASSES)
    if bad.any():
        row = frame[bad].iloc[0]
        raise InputError(
            path, f"unknown cCRE class {row.ccre_class!r}; expected one of {CCRE_CLASSES}", int(row.line_no)
        )
    _reject_duplicates(frame, "ccre_id", path)
    return frame.drop(columns="line_no").reset_index(drop=True)


def read_lentimpra(path, contigs: Contigs) -> pd.DataFrame:
    """One processed lentiMPRA table (one cell type); rows without coordinates are kept.

    Rows with a missing chromosome are designed or control sequences (no genomic origin).
    """
    if not Path(path).exists():
        raise InputError(path, "file does not exist")
    try:
        frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise InputError(path, "file is empty (no header line)") from None
    except (EOFError, gzip.BadGzipFile) as exc:
        raise InputError(path, f"unreadable or truncated compressed file ({exc})") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(path, f"not a tab-separated table: {exc}") from exc
    missing = [c for c in LENTIMPRA_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(path, f"missing columns {missing}; expected {list(LENTIMPRA_COLUMNS)}", 1)
    frame = frame[list(LENTIMPRA_COLUMNS)].copy()
    if frame.empty:
        raise InputError(path, "table has no rows")
    frame["line_no"] = row_lines(path, "\t")
    for column in ("expression", "averaged_expression"):
        frame[column] = finite_numbers(frame[column], path, column, frame.line_no)
    for row in frame.itertuples():
        bad = first_invalid(row.seq)
        if bad >= 0 or not row.seq:
            raise InputError(
                path, f"seq of '{row.seq_id}' has invalid character {row.seq[bad : bad + 1]!r}", row.line_no
            )
        if row.strand not in ("+", "-"):
            raise InputError(path, f"strand must be '+' or '-', got {row.strand!r}", row.line_no)
    duplicated = frame.duplicated(["seq_id", "strand"])
    if duplicated.any():
        row = frame[duplicated].iloc[0]
        raise InputError(path, f"duplicate ID '{row.seq_id}' (strand {row.strand})", int(row.line_no))
    has_coords = ~frame.chromosome.isin(_MISSING_CHROM)
    keep = []
    for row in frame.itertuples():
        if not has_coords[row.Index]:
            keep.append(True)
            continue
        try:
            start, end = int(row.start), int(row.end)
        except ValueError:
            raise InputError(path, f"non-integer coordinates {row.start!r}, {row.end!r}", row.line_no) from None
        keep.append(contigs.check(path, row.line_no, row.chromosome, start, end))
    frame = frame[keep].copy()
    frame["chromosome"] = frame.chromosome.where(has_coords[keep], "")
    return frame.drop(columns="line_no").reset_index(drop=True)


def read_planted_motifs(path) -> pd.DataFrame:
    """The simulator's planted-motif BED (`PLANTED_MOTIF_COLUMNS`, '#' header)."""
    if not Path(path).exists():
        raise InputError(path, "file does not exist")
    return pd.read_csv(path, sep="\t", comment="#", names=list(PLANTED_MOTIF_COLUMNS), dtype={"chrom": str})
