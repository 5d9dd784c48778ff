"""Field types from OpenLineage schema facets, mapped onto the store's canonical types.

A schema facet's `type` is whatever the producer's engine calls it (`VARCHAR(255)`,
`NUMBER(38,0)`, `TIMESTAMP_NTZ(9)`, `geography`, Spark's `struct` with nested `fields`).
The rules, in order:

1. No type: ``json`` (the value could be anything); the field node then gets no `type`.
2. A spelling `lineage._types.normalize_type` knows: its canonical type. A bare `struct`
   (or `record`, `row`) with nested fields becomes ``struct<name:type,...>``; `array`/`list`
   with one nested element field ``array<T>``; `map` with nested `key`/`value` fields
   ``map<K,V>``.
3. A known spelling with a length or precision it does not take (`timestamp(6)`,
   `tinyint(1)`): the canonical type without it.
4. Otherwise the nearest canonical type by family: timestamps with a zone marker
   (`tz`, `with time zone`, `local time zone`) ``timestamp_tz``, other timestamps and
   datetimes ``timestamp``; ``time``; ``date``; `number`/`numeric`/`decimal`/`bignumeric`
   with or without precision ``decimal(p,s)``; unsigned integers ``uint64``, other integers
   ``int64``; `float`/`double`/`real` ``float64``; `char`/`text`/`string`/`clob`/`enum`
   ``string``; `bool` and a bare `bit` ``boolean``; `binary`/`blob`/`byte`/`raw`
   ``binary``; an `array<...>` of an unknown element ``array<T>`` with T mapped by these
   rules.
5. Anything else (`geography`, `variant`, `super`, an unknown struct or map): ``json``.

The producer's own spelling is always kept on the field node as `source_type`, so nothing
is lost when a spelling maps to a nearer-but-wider type.

A spelling is read in the dialect of the system it comes from (`dialect`: the dataset
namespace's scheme or the dbt adapter, see `lineage._types.dialect_of`): ``INTEGER`` is
``int32`` as in the SQL standard, ``int64`` for ``bigquery`` and ``sqlite``,
``decimal(38,0)`` for ``snowflake``. Without a dialect, as the library's own schema language
reads it (``int64``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from .._errors import ValidationError
from .._types import normalize_type

_PRECISION = re.compile(r"^[a-z_ ]+\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)$")
_PARAMS = re.compile(r"\(\s*\d+\s*(?:,\s*\d+\s*)?\)")
_INTEGER = re.compile(r"u?(tiny|small|medium|big|huge|byte)?int(eger)?\d*")
_MEMBER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def field_type(spelling: str | None, nested: Sequence[Mapping[str, Any]] | None = None,
               dialect: str | None = None) -> str:
    """The canonical type of one schema-facet field (see the module docstring), read in
    `dialect` (the system the spelling comes from; None: the library's own language)."""
    if not nested:  # the usual field: its type depends on its spelling alone
        return _flat_type(spelling, dialect)
    return _field_type(spelling, nested, dialect)


@lru_cache(maxsize=4096)
def _flat_type(spelling: str | None, dialect: str | None) -> str:
    return _field_type(spelling, None, dialect)


def _field_type(spelling: str | None, nested: Sequence[Mapping[str, Any]] | None,
                dialect: str | None) -> str:
    nested = [f for f in nested or [] if isinstance(f, Mapping)]
    text = " ".join((spelling or "").strip().lower().split())
    base = re.split(r"[(<\s]", text, maxsplit=1)[0] if text else ""
    if nested:
        if base in ("", "struct", "record", "row"):
            return _struct(nested, dialect)
        if base in ("array", "list") and len(nested) == 1:
            return _checked(f"array<{_member_type(nested[0], dialect)}>")
        if base == "map":
            by_name = {str(f.get("name")): f for f in nested}
            if set(by_name) == {"key", "value"}:
                return _checked(f"map<{_member_type(by_name['key'], dialect)},"
                                f"{_member_type(by_name['value'], dialect)}>")
    if not text:
        return "json"
    try:
        return normalize_type(text, dialect)
    except ValidationError:
        return _nearest(text, base, dialect)


def _member_type(field: Mapping[str, Any], dialect: str | None) -> str:
    spelling = field.get("type")
    return field_type(spelling if isinstance(spelling, str) else None, field.get("fields"),
                      dialect)


def _struct(nested: Sequence[Mapping[str, Any]], dialect: str | None) -> str:
    members = []
    for f in nested:
        name = f.get("name")
        if not isinstance(name, str) or not _MEMBER_NAME.match(name):
            return "struct"  # a member name the struct<...> spelling cannot carry
        members.append(f"{name}:{_member_type(f, dialect)}")
    return _checked(f"struct<{','.join(members)}>") if members else "struct"


def _checked(spelling: str) -> str:
    try:
        return normalize_type(spelling)
    except ValidationError:
        return "json"


def _nearest(text: str, base: str, dialect: str | None) -> str:
    # a known type with a length or precision it does not take: timestamp(6), tinyint(1)
    without = " ".join(_PARAMS.sub(" ", text).split())
    if without != text:
        try:
            return normalize_type(without, dialect)
        except ValidationError:
            pass
    if "timestamp" in base or base.startswith("datetime"):
        zoned = (base.endswith("tz") and not base.endswith("ntz")) or (
            "time zone" in text and "without time zone" not in text)
        return "timestamp_tz" if zoned else "timestamp"
    if base == "interval":
        return "duration"
    if base.startswith("time"):
        return "time"
    if base.startswith("date"):
        return "date"
    if base in ("number", "numeric", "decimal", "dec", "bignumeric", "bigdecimal"):
        m = _PRECISION.match(text)
        if m:
            return _checked(f"decimal({m.group(1)},{m.group(2) or 0})")
        return "decimal(38,0)"
    if base in ("array", "list") and text.endswith(">") and "<" in text:
        inner = text[text.index("<") + 1:-1]
        return _checked(f"array<{field_type(inner, dialect=dialect)}>")
    if _INTEGER.fullmatch(base) or base in ("long", "short"):
        return "uint64" if base.startswith("uint") or "unsigned" in text else "int64"
    if any(word in base for word in ("float", "double", "real")):
        return "float64"
    if any(word in base for word in ("char", "text", "string", "clob", "enum")):
        return "string"
    if base.startswith("bool") or base == "bit":
        return "boolean"
    if any(word in base for word in ("binary", "blob", "byte", "raw")):
        return "binary"
    return "json"
