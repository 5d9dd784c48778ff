"""Logical field types: one spelling for each, so schemas from YAML, OpenLineage facets and
databases compare equal.

Accepted spellings are normalised (``int`` -> ``int64``, ``varchar`` -> ``string``,
``decimal(10, 2)`` -> ``decimal(10,2)``); anything else is an error with a suggestion.
A length or a fractional-second precision is kept (``character varying(20)`` ->
``varchar(20)``, ``timestamptz(3)`` -> ``timestamp_tz(3)``): shrinking one is a real change.
`parse_type` reads a canonical spelling back as its base kind plus those parameters.

A spelling that arrives from a system (an OpenLineage schema facet, a dbt catalog) is read
in that system's dialect (`normalize_type(spelling, dialect)`, `DIALECT_ALIASES`): there
``INTEGER`` is the SQL standard's 32-bit integer (PostgreSQL, MySQL, Spark, Hive, DuckDB,
Redshift, Trino, SQL Server), except in BigQuery and SQLite (64 bits) and Snowflake
(NUMBER(38,0)). The library's own schema language (YAML, the CLI, the Python API) keeps
``int``/``integer`` -> ``int64``: `normalize_type(spelling)` without a dialect.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

from ._errors import ValidationError

#: canonical scalar types
SCALARS = (
    "boolean",
    "int8", "int16", "int32", "int64",
    "uint8", "uint16", "uint32", "uint64",
    "float32", "float64",
    "string", "binary",
    "date", "time", "timestamp", "timestamp_tz", "duration",
    "json", "uuid",
)  # fmt: skip

ALIASES = {
    "bool": "boolean",
    "tinyint": "int8",
    "smallint": "int16",
    "short": "int16",
    "int": "int64",
    "integer": "int64",
    "bigint": "int64",
    "long": "int64",
    "float": "float64",
    "double": "float64",
    "double precision": "float64",
    "real": "float32",
    "str": "string",
    "text": "string",
    "varchar": "string",
    "char": "string",
    "bytes": "binary",
    "blob": "binary",
    "bytea": "binary",
    "datetime": "timestamp",
    "timestamptz": "timestamp_tz",
    "interval": "duration",
    "jsonb": "json",
    # Spellings OpenLineage schema facets carry from PostgreSQL, Snowflake, Spark and
    # friends. Only unambiguous ones: PostgreSQL's int2/int4/float4/float8 count bytes, but
    # "int8" stays our canonical 8-bit integer (it is in SCALARS and always wins).
    "int2": "int16",
    "int4": "int32",
    "float4": "float32",
    "float8": "float64",
    "smallserial": "int16",
    "serial": "int32",
    "bigserial": "int64",
    "character varying": "string",
    "character": "string",
    "nvarchar": "string",
    "nchar": "string",
    "bpchar": "string",
    "timestamp without time zone": "timestamp",
    "timestamp with time zone": "timestamp_tz",
    "timestamp_ntz": "timestamp",
    "timestamp_ltz": "timestamp_tz",
    "time without time zone": "time",
}

#: how a spelling from a system reads where it differs from the library's own language
#: (`ALIASES`): INTEGER is 32 bits in the SQL standard and in most systems; the systems
#: named in `DIALECT_ALIASES` say otherwise for their integer spellings
SYSTEM_ALIASES = {"int": "int32", "integer": "int32"}
#: per system (a dataset namespace's scheme or a dbt adapter type, see `dialect_of`), the
#: spellings it reads differently from `SYSTEM_ALIASES` and `ALIASES`: BigQuery's integer
#: names are all INT64, SQLite stores every integer in up to 8 bytes, Snowflake's are all
#: NUMBER(38,0) (what Snowflake itself reports for them), and so are Oracle's; PostgreSQL
#: and the systems speaking its dialect count bytes, so their int8 is a bigint (elsewhere
#: `int8` is the canonical 8-bit integer)
_EIGHT_BYTES = {"int8": "int64"}
DIALECT_ALIASES: dict[str, dict[str, str]] = {
    "postgres": _EIGHT_BYTES, "redshift": _EIGHT_BYTES, "duckdb": _EIGHT_BYTES,
    "oracle": dict.fromkeys(("int", "integer", "smallint"), "decimal(38,0)"),
    "bigquery": dict.fromkeys(("int", "integer", "smallint", "tinyint", "byteint", "bigint"),
                              "int64"),
    "sqlite": dict.fromkeys(("int", "integer", "tinyint", "smallint", "mediumint", "bigint",
                             "int2", "int8"), "int64"),
    "snowflake": dict.fromkeys(("int", "integer", "smallint", "tinyint", "byteint", "bigint"),
                               "decimal(38,0)"),
}
#: other names of the systems in DIALECT_ALIASES (URL schemes, adapter names)
_DIALECT_NAMES = {"bq": "bigquery", "sqlite3": "sqlite", "postgresql": "postgres"}

_DECIMAL = re.compile(r"^(?:decimal|numeric)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?$")
_LENGTH = re.compile(r"^(varchar|character varying|nvarchar|char|character|nchar|bpchar)"
                     r"\s*\(\s*(\d+)\s*\)$")
_FIXED = frozenset({"char", "character", "nchar", "bpchar"})
#: time(p), timestamp(p) [with[out] time zone], timestamptz(p), datetime(p), ...
_PRECISION = re.compile(r"^(time|timestamp|timestamptz|timestamp_tz|timestamp_ntz|timestamp_ltz"
                        r"|datetime|datetime2)\s*\(\s*(\d+)\s*\)\s*"
                        r"(with time zone|without time zone)?$")
#: the most fractional-second digits a time type is given (nanoseconds)
MAX_TIME_PRECISION = 9
#: the precision of a time type spelt without one (microseconds: the SQL standard's
#: default for timestamp, and PostgreSQL's, Spark's and BigQuery's resolution)
DEFAULT_TIME_PRECISION = 6
_CONTAINER = re.compile(r"^(array|list|map|struct)\s*<(.*)>$")


def dialect_of(source: str) -> str:
    """The dialect of a system named by a dataset namespace (its scheme, as OpenLineage's
    naming spec writes them: ``postgres://host:5432``, ``bigquery``, ``snowflake://account``,
    ``sqlite:...``) or by a dbt adapter type (``postgres``, ``bigquery``): the scheme,
    lowercased. Any system is a dialect; those without an entry in `DIALECT_ALIASES` read
    spellings by `SYSTEM_ALIASES` (the SQL standard's)."""
    scheme = source.strip().lower().split("://", 1)[0].split(":", 1)[0]
    return _DIALECT_NAMES.get(scheme, scheme)


def normalize_type(spelling: str, dialect: str | None = None) -> str:
    """Return the canonical spelling of a field type, or raise ValidationError.

    `dialect`: None for a spelling of the library's own schema language (``int`` ->
    ``int64``); the system a spelling comes from (`dialect_of`) to read it as that system
    does (``integer`` -> ``int32``, but ``int64`` for ``bigquery`` and ``sqlite`` and
    ``decimal(38,0)`` for ``snowflake``; see `SYSTEM_ALIASES`, `DIALECT_ALIASES`)."""
    if not isinstance(spelling, str) or not spelling.strip():
        raise ValidationError(f"field type must be a non-empty string, got {spelling!r}")
    text = " ".join(spelling.strip().lower().split())
    if dialect is not None:
        system = DIALECT_ALIASES.get(dialect_of(dialect), {})
        if text in system:
            return system[text]
        if text in SYSTEM_ALIASES:
            return SYSTEM_ALIASES[text]
    if text in SCALARS:
        return text
    if text in ALIASES:
        return ALIASES[text]
    if m := _LENGTH.match(text):
        length = int(m.group(2))
        if length < 1:
            raise ValidationError(f"a string type's length is at least 1: {spelling!r}")
        return f"{'char' if m.group(1) in _FIXED else 'varchar'}({length})"
    if m := _PRECISION.match(text):
        base, digits, zone = m.group(1), int(m.group(2)), m.group(3) or ""
        if digits > MAX_TIME_PRECISION:
            raise ValidationError(f"fractional-second precision is 0..{MAX_TIME_PRECISION}: "
                                  f"{spelling!r}")
        if base == "time":
            if zone == "with time zone":
                raise ValidationError(f"unknown field type '{spelling}'; time with a time "
                                      "zone is not supported (use time or timestamp_tz)")
            return f"time({digits})"
        zoned = base in ("timestamptz", "timestamp_tz", "timestamp_ltz") \
            or zone == "with time zone"
        return f"{'timestamp_tz' if zoned else 'timestamp'}({digits})"
    if m := _DECIMAL.match(text):
        precision, scale = m.group(1) or "38", m.group(2) or "0"
        return f"decimal({precision},{scale})"
    if text == "struct":
        return "struct"
    if m := _CONTAINER.match(text):
        container, inner = m.group(1), m.group(2)
        if container == "list":
            container = "array"
        if container == "array":
            return f"array<{normalize_type(inner, dialect)}>"
        if container == "map":
            parts = _split_top_level(inner)
            if len(parts) != 2:
                raise ValidationError(f"map type needs a key and a value type: {spelling!r}")
            return f"map<{normalize_type(parts[0], dialect)},{normalize_type(parts[1], dialect)}>"
        # struct<a:int,b:string>: keep member names, normalise member types
        members = []
        for part in _split_top_level(inner):
            name, sep, member_type = part.partition(":")
            if not sep or not name.strip():
                raise ValidationError(f"struct members are 'name:type': {spelling!r}")
            members.append(f"{name.strip()}:{normalize_type(member_type, dialect)}")
        return f"struct<{','.join(members)}>"
    known = list(SCALARS) + list(ALIASES) + ["decimal(p,s)", "varchar(n)", "char(n)",
                                             "timestamp(p)", "time(p)", "array<T>", "map<K,V>",
                                             "struct<...>"]
    close = difflib.get_close_matches(text, known, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else f"; known types: {', '.join(SCALARS)}"
    raise ValidationError(f"unknown field type '{spelling}'{hint}")


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not nested inside <...> or (...)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "<(":
            depth += 1
        elif ch in ">)":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


@dataclass(frozen=True)
class ParsedType:
    """A canonical type read back: its base kind (what checks such as "is it a string"
    compare: ``varchar(20)`` and ``char(3)`` are ``string``, ``timestamp(3)`` is
    ``timestamp``, ``decimal(10,2)`` is ``decimal``; any other type is its own spelling)
    and the parameters the spelling carries."""

    base: str
    #: most characters of a varchar(n) / char(n); None: unbounded
    length: int | None = None
    #: char(n): blank-padded to its length
    fixed: bool = False
    #: fractional-second digits of a time or timestamp (None: the default, 6)
    precision: int | None = None
    #: decimal(p,s)
    digits: tuple[int, int] | None = None

    @property
    def time_precision(self) -> int:
        return DEFAULT_TIME_PRECISION if self.precision is None else self.precision


_PARAMETRISED = re.compile(
    r"^(varchar|char|timestamp|timestamp_tz|time|decimal)\((\d+)(?:,(\d+))?\)$")


def parse_type(type_: str) -> ParsedType:
    """The base kind and parameters of a canonical spelling (`normalize_type`'s output).
    A spelling it does not know is its own base kind."""
    m = _PARAMETRISED.match(type_)
    if not m:
        return ParsedType(type_)
    kind, first = m.group(1), int(m.group(2))
    if kind in ("varchar", "char"):
        return ParsedType("string", length=first, fixed=kind == "char")
    if kind == "decimal":
        return ParsedType("decimal", digits=(first, int(m.group(3) or 0)))
    return ParsedType(kind, precision=first)


def base_type(type_: str) -> str:
    """The base kind of a canonical type (see `ParsedType.base`): ``varchar(20)`` ->
    ``string``; containers keep their spelling."""
    return parse_type(type_).base


# ------------------------------------------------------------------ values of a type
# One place for "does a value fit a type": `fits` judges one value (impact, for a contract's
# allowed values); lineage.health.validate applies the same ranges and rules to a whole
# column at once, vectorised.

#: the values each integer type holds, both ends included
INT_RANGES: dict[str, tuple[int, int]] = {
    "int8": (-(2**7), 2**7 - 1), "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1),
    "uint8": (0, 2**8 - 1), "uint16": (0, 2**16 - 1), "uint32": (0, 2**32 - 1),
    "uint64": (0, 2**64 - 1),
}  # fmt: skip
FLOAT_TYPES = frozenset({"float32", "float64"})
#: a decimal(p,s) value has more than s fractional digits when v * 10^s lies further than
#: this share of its size (at least 1) from a whole number: compared at a tolerance, as
#: values arrive as float64 (0.1 * 100 is not 10)
SCALE_TOLERANCE = 1e-6


def decimal_bound(precision: int, scale: int) -> int:
    """decimal(p,s) holds a value whose magnitude is below this (p-s digits before the
    point); one at or above it does not fit (the write fails or becomes null)."""
    return 10 ** (precision - scale)


def fits(value: Any, type_: str) -> bool:
    """Whether `value` (a contract's allowed value: a number or text, as YAML or JSON give
    it) is a value of `type_`, as far as can be told: a whole number (not a bool) within an
    integer type's INT_RANGES; a number for a float; a number below `decimal_bound` with at
    most s fractional digits (`SCALE_TOLERANCE`) for decimal(p,s); text of at most n
    characters for varchar(n)/char(n), any text for string. False when it cannot tell (any
    other type)."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if type_ in INT_RANGES:
        low, high = INT_RANGES[type_]
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    if type_ in FLOAT_TYPES:
        return number
    parsed = parse_type(type_)
    if parsed.digits is not None:
        precision, scale = parsed.digits
        if not number or abs(value) >= decimal_bound(precision, scale):
            return False
        scaled = value * 10.0 ** scale
        return abs(scaled - round(scaled)) <= SCALE_TOLERANCE * max(abs(scaled), 1.0)
    if parsed.base == "string":
        return isinstance(value, str) and (parsed.length is None or len(value) <= parsed.length)
    return False


def value_text(value: Any) -> str:
    """A value as text, as JSON, the command line and polars spell it: a bool `true` or
    `false`, anything else `str()` (for comparing with a column's text as it is)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def value_key(value: Any) -> str:
    """A value as it compares with values spelt otherwise: the command line and the HTTP
    API give text (`values:+2`, `+true`), a manifest typed YAML values (2, true). A bool
    as `value_text`, a number by its value (2, 2.0 and '2' alike), text stripped, `TRUE`
    as `true`."""
    if isinstance(value, bool):
        return value_text(value)
    if isinstance(value, int | float):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    text = str(value).strip()
    if text.lower() in ("true", "false"):
        return text.lower()
    try:
        return value_key(float(text))
    except ValueError:
        return text
