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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

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


def int8_array(values: Sequence[Any] | np.ndarray) -> Int8Array:
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


def int8_values(data: Any) -> Any:
    """A `bigint[]` received in binary format: one NULL-free dimension is a header and
    (length, value) pairs. Below _NUMPY_FROM elements a list of ints by one `struct` unpack
    (a typical walk's arrays hold a few ids: importing numpy for them cost a CLI read
    ~60-100 ms), else a numpy int64 array by one `frombuffer`. Anything else (NULLs,
    several dimensions) is None: the caller falls back to the generic decoding, a list."""
    raw = bytes(data)
    dims, has_null = struct.unpack_from(">2i", raw)
    if dims == 0:
        return []
    if dims != 1 or has_null:
        return None
    (count,) = struct.unpack_from(">i", raw, 12)
    if count < _NUMPY_FROM:
        return list(struct.unpack_from(">" + "iq" * count, raw, 20)[1::2])
    import numpy as np

    cells = np.frombuffer(raw, dtype=np.dtype([("size", ">i4"), ("value", ">i8")]), offset=20)
    return cells["value"].astype(np.int64)


def register(dbapi_conn: Any) -> None:
    """Teach a psycopg connection to send `Int8Array` as it is (binary, oid int8[]) and to
    read a `bigint[]` asked for in binary format (`execute(..., binary=True)`: the wide
    levels of a walk) as a list or numpy array (`int8_values`); text-format results are
    read as before."""
    from psycopg.adapt import Dumper, Loader
    from psycopg.pq import Format

    class _Int8ArrayDumper(Dumper):
        format = Format.BINARY
        oid = _INT8_ARRAY_OID

        def dump(self, obj: Int8Array) -> bytes:  # type: ignore[override]
            return obj.data

    generic = dbapi_conn.adapters.get_loader(_INT8_ARRAY_OID, Format.BINARY)

    class _Int8ArrayLoader(Loader):
        format = Format.BINARY

        def __init__(self, oid: int, context: Any = None) -> None:
            super().__init__(oid, context)
            self.fallback = generic(oid, context)

        def load(self, data: Any) -> Any:
            found = int8_values(data)
            return self.fallback.load(data) if found is None else found

    dbapi_conn.adapters.register_dumper(Int8Array, _Int8ArrayDumper)
    dbapi_conn.adapters.register_loader(_INT8_ARRAY_OID, _Int8ArrayLoader)
