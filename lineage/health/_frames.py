"""Reading a batch and naming its columns' types in the store's vocabulary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from .._errors import ValidationError
from .._types import base_type
from ..provenance._tables import FileBytes, read_table

#: file suffixes whose columns carry no types of their own: polars infers them from text,
#: so an int32 column read back as int64 (or a digit-only string as a number) is no change
UNTYPED_SUFFIXES = frozenset({".csv", ".tsv", ".txt", ".ndjson", ".jsonl"})

_INTS = {pl.Int8: "int8", pl.Int16: "int16", pl.Int32: "int32", pl.Int64: "int64",
         pl.UInt8: "uint8", pl.UInt16: "uint16", pl.UInt32: "uint32", pl.UInt64: "uint64"}
_FLOATS = {pl.Float32: "float32", pl.Float64: "float64"}


def read_batch(batch: Any, what: str = "batch") -> tuple[pl.DataFrame, bool, str | None]:
    """The batch as polars, whether its column types are real (Parquet, Arrow, a frame)
    rather than inferred from text (CSV, NDJSON), and its file name if it is one (a path,
    or a `FileBytes`' name).

    A pandas object column mixing numbers and text (an int column that started receiving
    labels: story 1) cannot become one Arrow type; it is read as text, which is what it
    now is, rather than refused."""
    if type(batch).__module__.split(".")[0] == "pandas" and hasattr(batch, "columns"):
        return _from_pandas(batch), True, None
    frame = read_table(batch, what)
    if isinstance(batch, FileBytes):  # an upload: typed as its file would be
        return frame, Path(batch.name).suffix.lower() not in UNTYPED_SUFFIXES, batch.name
    if isinstance(batch, str | Path):
        return frame, Path(batch).suffix.lower() not in UNTYPED_SUFFIXES, str(batch)
    return frame, True, None


#: files read a column at a time without reading the others
COLUMNAR_SUFFIXES = frozenset({".parquet", ".pq", ".arrow", ".ipc", ".feather"})


def columnar_file(batch: Any) -> tuple[list[str], int] | None:
    """A Parquet or Arrow file's column names and rows (from its metadata), so that it can
    be read a column at a time (`read_table(path, columns=[name])`): a 10^7-row, 20-column
    batch then needs one column in memory, not 2.4 GB. None for anything else, and for a
    file whose metadata cannot be read (reading it whole then says what is wrong)."""
    if not isinstance(batch, str | Path) or Path(batch).suffix.lower() not in \
            COLUMNAR_SUFFIXES or not Path(batch).is_file():
        return None
    try:
        parquet = Path(batch).suffix.lower() in (".parquet", ".pq")
        scan = pl.scan_parquet(batch) if parquet else pl.scan_ipc(batch)
        names = scan.collect_schema().names()
        rows = int(scan.select(pl.len()).collect().item())
    except (pl.exceptions.PolarsError, OSError):
        return None
    return names, rows


def _from_pandas(frame: Any) -> pl.DataFrame:
    try:
        return pl.from_pandas(frame)
    except Exception:  # noqa: BLE001 - pyarrow's conversion errors have no common base
        pass
    fixed = frame.copy()
    for name in fixed.columns:
        if fixed[name].dtype == object:
            fixed[name] = [None if _missing(v) else str(v) for v in fixed[name].tolist()]
    try:
        return pl.from_pandas(fixed)
    except Exception as exc:  # noqa: BLE001
        raise ValidationError(f"cannot read the pandas frame: {exc}") from None


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def lineage_type(dtype: pl.DataType) -> str:
    """The store's spelling of a polars type (`lineage._types.SCALARS` and containers)."""
    base = dtype.base_type()
    if base in _INTS:
        return _INTS[base]
    if base in _FLOATS:
        return _FLOATS[base]
    if base == pl.Boolean:
        return "boolean"
    if base in (pl.String, pl.Categorical, pl.Enum):
        return "string"
    if base == pl.Date:
        return "date"
    if base == pl.Time:
        return "time"
    if base == pl.Duration:
        return "duration"
    if base == pl.Datetime:
        return "timestamp_tz" if getattr(dtype, "time_zone", None) else "timestamp"
    if base == pl.Decimal:
        return f"decimal({getattr(dtype, 'precision', None) or 38},{getattr(dtype, 'scale', 0)})"
    if base == pl.Binary:
        return "binary"
    if base in (pl.List, pl.Array):
        inner = getattr(dtype, "inner", None)
        return f"array<{lineage_type(inner) if inner is not None else 'string'}>"
    if base == pl.Struct:
        return "struct"
    if base == pl.Null:
        return "string"  # an all-null column says nothing about its type
    raise ValidationError(f"no lineage type for the column type {dtype}")


def type_family(type_: str) -> str:
    """numeric, string, boolean, temporal or other: what a value of the type is (by its
    base kind: varchar(20) is a string, timestamp(3) temporal)."""
    type_ = base_type(type_)
    if type_ == "decimal" or type_ in _INTS.values() or type_ in _FLOATS.values():
        return "numeric"
    if type_ in ("string", "uuid", "json"):
        return "string"
    if type_ == "boolean":
        return "boolean"
    if type_ in ("date", "time", "timestamp", "timestamp_tz", "duration"):
        return "temporal"
    return "other"

