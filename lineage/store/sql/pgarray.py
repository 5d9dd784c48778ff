"""PostgreSQL array parameters, built without a Python call per element.

A hub's walk sends 10^5-10^6 node ids as `%s::bigint[]` parameters. psycopg's list dumper
dumps each element and searches it for characters to quote (a regular expression per
element): ~2 s of client CPU for the largest generator hub, more than PostgreSQL took to run
the walk's statements. Here an id list becomes PostgreSQL's binary array format in one numpy
operation (or one `struct.pack`), and a key list one quoted array literal.

Only PostgreSQL connections need psycopg: `register` runs on each new one (engine.py), so
this module imports neither psycopg nor numpy itself until asked to.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

#: PostgreSQL's type oids: int8 (bigint) and int8[]
_INT8_OID = 20
_INT8_ARRAY_OID = 1016
#: below this many ids, `struct.pack` (numpy's import and setup cost more)
_NUMPY_FROM = 2_000


class Int8Array:
    """A `bigint[]` parameter already in PostgreSQL's binary array format."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


def int8_array(values: Sequence[Any]) -> Int8Array:
    """`values` (Python or numpy integers) as a one-dimensional `bigint[]`: a header (number
    of dimensions, no NULLs, element oid, length, lower bound 1), then per element its
    length (8) and its value, all big-endian."""
    n = len(values)
    header = struct.pack(">5i", 1, 0, _INT8_OID, n, 1)
    if n < _NUMPY_FROM:
        body = struct.pack(">" + "iq" * n, *(x for v in values for x in (8, int(v))))
        return Int8Array(header + body)
    import numpy as np

    cells = np.empty(n, dtype=np.dtype([("size", ">i4"), ("value", ">i8")]))
    cells["size"] = 8
    cells["value"] = np.asarray(values, dtype=np.int64)
    return Int8Array(header + cells.tobytes())


def text_array(values: Sequence[str]) -> str:
    """`values` as one array literal, for a `%s::text[]` parameter: each element quoted
    (inside double quotes a backslash escapes the next character), so commas, braces,
    quotes, spaces and the word NULL in a key stay what they are."""
    return "{" + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
                          for v in values) + "}"


def array_param(values: Sequence[Any]) -> Any:
    """A list parameter for a `%s::bigint[]` or `%s::text[]` placeholder (chosen by the
    first element; an empty list is the literal `{}`, which casts to either)."""
    if not values:
        return "{}"
    if isinstance(values[0], str):
        return text_array(values)  # type: ignore[arg-type]
    return int8_array(values)


def register(dbapi_conn: Any) -> None:
    """Teach a psycopg connection to send `Int8Array` as it is (binary, oid int8[])."""
    from psycopg.adapt import Dumper
    from psycopg.pq import Format

    class _Int8ArrayDumper(Dumper):
        format = Format.BINARY
        oid = _INT8_ARRAY_OID

        def dump(self, obj: Int8Array) -> bytes:  # type: ignore[override]
            return obj.data

    dbapi_conn.adapters.register_dumper(Int8Array, _Int8ArrayDumper)
