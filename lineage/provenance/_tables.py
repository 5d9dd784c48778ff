"""Tabular input: polars, pandas, Arrow, or a Parquet/CSV/NDJSON/Arrow file, as polars."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from .._errors import ValidationError

Table = Any  # pl.DataFrame | pl.LazyFrame | pandas.DataFrame | pyarrow.Table | str | Path

_READERS = {
    ".parquet": "parquet", ".pq": "parquet",
    ".csv": "csv", ".tsv": "csv", ".txt": "csv",
    ".ndjson": "ndjson", ".jsonl": "ndjson",
    ".arrow": "ipc", ".feather": "ipc", ".ipc": "ipc",
}  # fmt: skip
#: the file suffixes a table is read by (the format is the suffix's)
TABLE_SUFFIXES = frozenset(_READERS)


@dataclass(frozen=True)
class FileBytes:
    """A file's content with its name, read as the file would be (the format by the
    name's suffix): a table uploaded over HTTP, without writing it to disk.

        read_table(FileBytes("batch.csv", b"user_id,amount\\n1,9.5\\n"))"""

    name: str
    content: bytes


def read_table(table: Table, what: str = "table",
               columns: Sequence[str] | None = None) -> pl.DataFrame:
    """The table as a polars DataFrame; ValidationError for what cannot be read.

    `columns` is a hint: a Parquet/Arrow file or a LazyFrame that has them all is read for
    those columns only (a training table may be wide); anything else is read whole, so
    that `require_columns` can name what is missing."""
    if isinstance(table, pl.DataFrame):
        return table
    if isinstance(table, pl.LazyFrame):
        if columns is not None and set(columns) <= set(table.collect_schema().names()):
            table = table.select(list(dict.fromkeys(columns)))
        return table.collect()
    if isinstance(table, str | Path):
        return _read_file(Path(table), columns)
    if isinstance(table, FileBytes):
        return _read_file(Path(table.name), columns, table.content)
    module = type(table).__module__.split(".")[0]
    converted: Any = None
    # a pandas Series or an Arrow array converts to a polars Series: a column, not a table
    if module == "pyarrow":
        converted = pl.from_arrow(table)
    elif module == "pandas":
        converted = pl.from_pandas(table)
    if isinstance(converted, pl.DataFrame):
        return converted
    raise ValidationError(f"{what} must be a polars/pandas DataFrame, an Arrow table or a "
                          f"Parquet/CSV/NDJSON file, not {type(table).__name__}")


def _read_file(path: Path, columns: Sequence[str] | None = None,
               content: bytes | None = None) -> pl.DataFrame:
    """The file at `path`, or `content` read as a file of that name would be."""
    kind = _READERS.get(path.suffix.lower())
    if kind is None:
        known = ", ".join(sorted(_READERS))
        raise ValidationError(f"cannot tell the format of '{path.name}'; use one of: {known}",
                              file=str(path))
    if content is None and not path.is_file():
        raise ValidationError("no such file", file=str(path))
    source: Path | io.BytesIO = path if content is None else io.BytesIO(content)
    try:
        if kind == "ipc" and content is not None and not content.startswith(b"ARROW1"):
            return pl.read_ipc_stream(source)  # the streaming format has no magic header
        if kind in ("parquet", "ipc"):
            scan = pl.scan_parquet(source) if kind == "parquet" else pl.scan_ipc(source)
            if columns is not None and set(columns) <= set(scan.collect_schema().names()):
                scan = scan.select(list(dict.fromkeys(columns)))
            return scan.collect()
        if kind == "ndjson":
            return pl.read_ndjson(source)
        separator = "\t" if path.suffix.lower() == ".tsv" else ","
        return pl.read_csv(source, separator=separator, encoding="utf8",
                           infer_schema_length=10_000)
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "utf-8" in reason.lower() or "utf8" in reason.lower():
            reason = f"not UTF-8 text ({reason}); re-encode the file as UTF-8"
        raise ValidationError(f"cannot read {kind}: {reason}", file=str(path)) from None


def require_columns(frame: pl.DataFrame, columns: Sequence[str], what: str = "table") -> None:
    """ValidationError naming the first missing column, with the closest existing one."""
    import difflib

    for column in columns:
        if column not in frame.columns:
            close = difflib.get_close_matches(column, frame.columns, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else (
                f"; columns are: {', '.join(frame.columns[:20])}")
            raise ValidationError(f"{what} has no column '{column}'{hint}")


def require_keys(frame: pl.DataFrame, keys: Sequence[str], what: str = "table") -> None:
    """Keys identify entities: none may be missing."""
    if not keys:
        raise ValidationError("at least one key column is needed")
    for column in keys:
        nulls = frame[column].is_null()
        if nulls.any():
            first = int(nulls.arg_max() or 0)
            raise ValidationError(f"{what}: key column '{column}' has {int(nulls.sum())} missing "
                                  f"values (first at row {first + 1})")
