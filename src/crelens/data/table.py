"""A user's own MPRA activity table (`data.source: table`): TSV, CSV or Parquet, optionally gzipped.

Why a reader of its own: a user's library rarely has the Agarwal/Gosai columns, and often no
genome coordinates (designed sequences). The config names the columns (`data.table`); this
reader checks every row and names the file and the line of the first bad one, so a typo in a
column name or one NaN activity stops the run before anything is trained on it.

Line numbers count the header as line 1 (text files); in Parquet files they are row numbers + 2,
so the first data row is "line 2" in both.
"""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import pandas as pd

from crelens.config import table_separator
from crelens.data.formats import finite_numbers, row_lines
from crelens.errors import InputError
from crelens.sequences import LENTIMPRA_ADAPTOR_3, LENTIMPRA_ADAPTOR_5, first_invalid, strip_adaptors

# Values of a boolean column (`designed`) read as true / false (case-insensitive).
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f", ""}


def _read_frame(path: Path, sep: str | None) -> pd.DataFrame:
    """Every column as text (Parquet, `sep` None: as stored), with the reader's problem named."""
    try:
        if sep is None:
            return pd.read_parquet(path)
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, compression="infer")
    except pd.errors.EmptyDataError:
        raise InputError(path, "file is empty (no header line)") from None
    except (EOFError, gzip.BadGzipFile, OSError) as exc:
        raise InputError(path, f"unreadable or truncated file ({exc})") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(path, f"not a readable {'CSV' if sep == ',' else 'TSV'} table: {exc}") from exc


def _bool(value, path, line: int, column: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE or text == "nan":
        return False
    raise InputError(path, f"{column} must be true or false, got {value!r}", line)


def adaptor_pair(adaptors) -> tuple[str, str] | None:
    """The (5', 3') adaptors to strip: the lentiMPRA ones for `auto`, none for `none`."""
    if adaptors == "auto":
        return LENTIMPRA_ADAPTOR_5, LENTIMPRA_ADAPTOR_3
    if adaptors in (None, "none"):
        return None
    five, three = adaptors
    return str(five).upper(), str(three).upper()


def read_activity_table(path, spec: dict) -> pd.DataFrame:
    """The table as (seq_id, insert, <cell>..., chrom, fold, variant_of, designed, line), checked.

    `spec` is the config's `data.table`. `insert` is the tested sequence in upper case with the
    adaptors removed where both are present; `chrom`, `fold` and `variant_of` are "" when the
    column is not configured or the cell is empty; `designed` is False when not configured.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "file does not exist")
    if path.is_dir():
        raise InputError(path, "is a folder, not a table file")
    sep = table_separator(path)
    frame = _read_frame(path, sep)
    split = spec.get("split") or {}
    wanted = {"sequence": spec["sequence"], "id": spec.get("id")}
    wanted.update({f"activity of {cell}": column for cell, column in spec["activity"].items()})
    for key in ("chromosome", "variant_of", "designed"):
        wanted[key] = spec.get(key)
    wanted["split"] = split.get("column")
    for key, column in wanted.items():
        if column is not None and column not in frame.columns:
            raise InputError(
                path,
                f"no column {column!r} (data.table.{key.split(' of ')[0]}); the table has {list(frame.columns)}",
                1,
            )
    if frame.empty:
        raise InputError(path, "table has no rows")
    if sep is None:
        lines = pd.RangeIndex(2, len(frame) + 2)  # no text lines: row i (1-based) is reported as line i + 1
    else:
        lines = pd.Index(row_lines(path, sep))
    out = pd.DataFrame({"line": lines})
    ids = (
        frame[spec["id"]].astype(str).str.strip()
        if spec.get("id")
        else pd.Series([f"row{i}" for i in range(1, len(frame) + 1)])
    )
    out["seq_id"] = ids.to_numpy()
    empty = out.seq_id == ""
    if empty.any():
        raise InputError(path, f"empty id in column {spec['id']!r}", int(out.line[empty].iloc[0]))
    duplicated = out.seq_id.duplicated()
    if duplicated.any():
        row = out[duplicated].iloc[0]
        first = int(out.line[out.seq_id == row.seq_id].iloc[0])
        raise InputError(path, f"duplicate id {row.seq_id!r} (first on line {first})", int(row.line))
    adaptors = adaptor_pair(spec.get("adaptors", "auto"))
    inserts = []
    for line, raw in zip(lines, frame[spec["sequence"]]):
        seq = "" if raw is None or (isinstance(raw, float) and math.isnan(raw)) else str(raw).strip().upper()
        bad = first_invalid(seq)
        if bad >= 0:
            raise InputError(
                path, f"{spec['sequence']} has the letter {seq[bad]!r} at position {bad + 1}; only A, C, G, T, N", line
            )
        if adaptors is not None:
            seq = strip_adaptors(seq, *adaptors)
        if not seq:
            raise InputError(path, f"empty sequence in column {spec['sequence']!r}", line)
        inserts.append(seq)
    out["insert"] = inserts
    for cell, column in spec["activity"].items():
        out[cell] = finite_numbers(frame[column], path, f"activity {column!r} (cell {cell})", lines).to_numpy()
    for key, target in (("chromosome", "chrom"), ("variant_of", "variant_of")):
        column = spec.get(key)
        out[target] = frame[column].fillna("").astype(str).str.strip().to_numpy() if column else ""
    fold = split.get("column")
    out["fold"] = frame[fold].fillna("").astype(str).str.strip().to_numpy() if fold else ""
    designed = spec.get("designed")
    out["designed"] = [_bool(v, path, line, designed) for line, v in zip(lines, frame[designed])] if designed else False
    refs = out.variant_of != ""
    unknown = refs & ~out.variant_of.isin(set(out.seq_id))
    if unknown.any():
        row = out[unknown].iloc[0]
        raise InputError(path, f"variant_of names {row.variant_of!r}, which is no id of the table", int(row.line))
    return out
