"""Value fingerprints: 64 bits that say "this value, for this entity, of this concept".

A record assertion stores `fingerprint(concept, key, value)` instead of the value, so a
copy of the data — even one that lost all lineage on a trip through CSV — is recognised
when it carries the same value for the same entity under the same concept.

Canonical values (so the same fact spelled differently fingerprints the same):

==================  ===================================================================
integers            as themselves; booleans are 1/0; floats with no fraction are integers
                    (``1``, ``1.0``, ``"1"``, ``" 1 "``, ``"+1"``, ``"001"``, ``True`` agree)
other numbers       IEEE-754 float64 (``0.25`` == ``"0.25"`` == ``"2.5e-1"``); -0.0 is 0
strings             surrounding whitespace stripped; ``"true"``/``"false"`` (any case) are
                    1/0; a string that reads as a number, date or ISO-8601 timestamp is
                    that number, date or timestamp; otherwise its UTF-8 text, case kept
dates               days since 1970-01-01 (``date(2026,1,1)`` == ``"2026-01-01"``)
timestamps          microseconds since the epoch in UTC; naive timestamps are taken as UTC
missing             None, NaN, null and ``""`` are all the one "missing" value
==================  ===================================================================

Digit strings too long for a 64-bit integer stay strings (leading zeros stripped).
These are the rules for values, and for keys of batches stored before scopes; keys of
scoped batches compare by their text unless their field declares a collation, and values
follow their field's declarations first (see `_scope`).
A component's hash is a splitmix64 mix of its canonical integer/float bits with a tag per
type, or xxHash64 of its text; components are folded in order (concept, keys..., value),
so fingerprints are stable across processes, machines and library versions — a test pins
known values.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
import polars_hash as plh

U64 = np.uint64
_GOLDEN = U64(0x9E3779B97F4A7C15)
_TAG_INT = U64(0x1F)
_TAG_FLOAT = U64(0x2F)
_TAG_DATE = U64(0x3F)
_TAG_TIME = U64(0x4F)
_MISSING = U64(0x5BD1E9955BD1E995)

_INTEGER_TEXT = r"^[+-]?\d+$"
_ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
_ISO_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$"


#: elements per block of `mix`: 256 KB of uint64, so a block stays in L2 through all steps
_BLOCK = 1 << 15


def mix(x: np.ndarray, *, inplace: bool = False,
        xor: np.ndarray | np.uint64 | None = None) -> np.ndarray:
    """splitmix64's finaliser of `x ^ xor`, vectorised (uint64 arithmetic wraps, as intended).

    At 10^7 rows the hashing is memory-bound: eight whole-array passes would each go to RAM.
    It runs block by block instead, each block through every step while it is in cache, and
    takes the xor that callers would otherwise spend a whole temporary array on."""
    x = np.asarray(x, dtype=U64)
    if xor is not None:
        xor = np.asarray(xor)
        xor = xor.view(U64) if xor.dtype == np.int64 else xor.astype(U64, copy=False)
    out = x if inplace else np.empty_like(x)
    flat, source = out.reshape(-1), x.reshape(-1)
    tmp = np.empty(min(flat.size, _BLOCK), dtype=U64)
    with np.errstate(over="ignore"):
        for start in range(0, flat.size, _BLOCK):
            block = flat[start:start + _BLOCK]
            t = tmp[: block.size]
            if xor is not None:
                other = xor if xor.ndim == 0 else xor.reshape(-1)[start:start + _BLOCK]
                np.bitwise_xor(source[start:start + _BLOCK], other, out=block)
            elif not inplace:
                np.copyto(block, source[start:start + _BLOCK])
            np.right_shift(block, U64(30), out=t)
            np.bitwise_xor(block, t, out=block)
            np.multiply(block, U64(0xBF58476D1CE4E5B9), out=block)
            np.right_shift(block, U64(27), out=t)
            np.bitwise_xor(block, t, out=block)
            np.multiply(block, U64(0x94D049BB133111EB), out=block)
            np.right_shift(block, U64(31), out=t)
            np.bitwise_xor(block, t, out=block)
    return out


def _text_hash(texts: pl.Series) -> np.ndarray:
    hashed = pl.DataFrame({"t": texts}).select(plh.col("t").nchash.xxhash64())["t"]
    return hashed.fill_null(0).to_numpy().astype(U64, copy=False)


def text_hash(text: str) -> np.uint64:
    """xxHash64 of one string (used for concepts)."""
    return U64(_text_hash(pl.Series([text], dtype=pl.Utf8))[0])


def _int_hash(values: np.ndarray) -> np.ndarray:
    return mix(values.astype(np.int64, copy=False).view(U64), xor=_TAG_INT)


def _float_hash(values: np.ndarray) -> np.ndarray:
    values = values.astype(np.float64, copy=True)
    values[values == 0.0] = 0.0  # -0.0 and 0.0 are one value
    return mix(values.view(U64), inplace=True, xor=_TAG_FLOAT)


def _numbers(values: pl.Series) -> np.ndarray:
    """Hash floats: integral ones as integers, the rest as float64 bits, NaN as missing."""
    floats = values.cast(pl.Float64).to_numpy()
    out = np.full(len(floats), _MISSING, dtype=U64)
    finite = np.isfinite(floats)
    integral = finite & (np.floor(floats) == floats) & (np.abs(floats) < 2.0**63)
    out[integral] = _int_hash(floats[integral].astype(np.int64))
    fractional = finite & ~integral
    out[fractional] = _float_hash(floats[fractional])
    # infinities are values, not missing
    inf = np.isinf(floats)
    out[inf] = _float_hash(floats[inf])
    return out


def _strings(values: pl.Series) -> np.ndarray:
    """Hash text by what it reads as: number, boolean, date, timestamp, else the text."""
    text = values.cast(pl.Utf8).str.strip_chars()
    frame = pl.DataFrame({"t": text}).with_columns(
        lower=pl.col("t").str.to_lowercase(),
        is_int=pl.col("t").str.contains(_INTEGER_TEXT),
    )
    n = len(frame)
    out = np.full(n, _MISSING, dtype=U64)
    missing = frame["t"].is_null().to_numpy() | (frame["t"] == "").fill_null(True).to_numpy()
    done = missing.copy()

    lower = frame["lower"]
    for word, number in (("true", 1), ("false", 0)):
        hit = (lower == word).fill_null(False).to_numpy() & ~done
        out[hit] = _int_hash(np.full(hit.sum(), number, dtype=np.int64))
        done |= hit

    ints = frame["t"].cast(pl.Int64, strict=False)
    is_int = frame["is_int"].fill_null(False).to_numpy() & ~done
    fits = is_int & ints.is_not_null().to_numpy()
    out[fits] = _int_hash(ints.to_numpy()[fits])
    done |= fits
    too_long = is_int & ~fits  # digits beyond int64: keep as text, without leading zeros
    if too_long.any():
        digits = frame["t"].filter(pl.Series(too_long)).str.strip_chars_start("+")
        out[too_long] = _text_hash(digits.str.strip_chars_start("0"))
        done |= too_long

    floats = frame["t"].cast(pl.Float64, strict=False)
    is_float = floats.is_not_null().to_numpy() & ~done
    if is_float.any():
        out[is_float] = _numbers(floats.filter(pl.Series(is_float)))
        done |= is_float

    dates = (frame["t"].str.contains(_ISO_DATE).fill_null(False).to_numpy()) & ~done
    if dates.any():
        parsed = frame["t"].filter(pl.Series(dates)).str.to_date("%Y-%m-%d", strict=False)
        ok = parsed.is_not_null().to_numpy()
        idx = np.flatnonzero(dates)[ok]
        out[idx] = _date_hash(parsed.filter(pl.Series(ok)))
        done[idx] = True

    stamps = (frame["t"].str.contains(_ISO_TIMESTAMP).fill_null(False).to_numpy()) & ~done
    if stamps.any():
        parsed = _parse_timestamps(frame["t"].filter(pl.Series(stamps)))
        ok = parsed.is_not_null().to_numpy()
        idx = np.flatnonzero(stamps)[ok]
        out[idx] = _time_hash(parsed.filter(pl.Series(ok)))
        done[idx] = True

    rest = ~done
    if rest.any():
        out[rest] = _text_hash(frame["t"].filter(pl.Series(rest)))
    return out


def _parse_timestamps(texts: pl.Series) -> pl.Series:
    """ISO-8601 timestamps, with or without 'T', seconds, fraction and offset, as UTC."""
    normal = texts.str.replace(" ", "T").str.replace(r"Z$", "+00:00")
    with_offset = normal.str.contains(r"[+-]\d{2}:?\d{2}$")
    seconds = normal.str.contains(r"T\d{2}:\d{2}:\d{2}")
    normal = pl.select(
        pl.when(seconds).then(normal).otherwise(
            normal.str.replace(r"^(\S+T\d{2}:\d{2})", "${1}:00"))
    ).to_series()
    aware = normal.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%#z", strict=False, time_unit="us",
                                   time_zone="UTC")
    naive = normal.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us")
    return pl.select(
        pl.when(with_offset).then(aware).otherwise(naive.dt.replace_time_zone("UTC"))
    ).to_series()


def _date_hash(values: pl.Series) -> np.ndarray:
    days = values.cast(pl.Date).cast(pl.Int32).to_numpy().astype(np.int64)
    return mix(days.view(U64), inplace=True, xor=_TAG_DATE)


def _time_hash(values: pl.Series) -> np.ndarray:
    dtype = values.dtype
    assert isinstance(dtype, pl.Datetime)
    if dtype.time_zone is None:
        values = values.dt.replace_time_zone("UTC")
    micros = values.dt.convert_time_zone("UTC").dt.cast_time_unit("us").cast(pl.Int64)
    return mix(micros.to_numpy().astype(np.int64).view(U64), xor=_TAG_TIME)


def component_hash(values: pl.Series) -> np.ndarray:
    """One uint64 per value of a column, per the canonical rules above."""
    dtype = values.dtype
    if dtype == pl.Null:
        return np.full(len(values), _MISSING, dtype=U64)
    if dtype == pl.Boolean:
        # two values: hash them once and pick, rather than hash every row
        out = _int_hash(np.array([0, 1], dtype=np.int64))[
            values.fill_null(False).to_numpy().view(np.uint8)]
    elif dtype.is_integer():
        if dtype == pl.UInt64:
            out = mix(values.fill_null(0).to_numpy().astype(U64), xor=_TAG_INT)
        else:
            out = _int_hash(values.cast(pl.Int64).fill_null(0).to_numpy())
    elif dtype.is_float() or dtype.is_decimal():
        return _numbers(values)  # handles null/NaN itself
    elif dtype == pl.Date:
        out = _date_hash(values.to_physical().fill_null(0).cast(dtype))
    elif isinstance(dtype, pl.Datetime):
        out = _time_hash(values.to_physical().fill_null(0).cast(dtype))
    elif dtype in (pl.Utf8, pl.Categorical) or isinstance(dtype, pl.Enum):
        return _strings(values)
    else:
        return _strings(values.cast(pl.Utf8))
    nulls = values.is_null().to_numpy()
    if nulls.any():
        out = out.copy()
        out[nulls] = _MISSING
    return out


def spread(component: np.ndarray) -> np.ndarray:
    """A component made ready to fold; it does not depend on the concept, so callers that
    fingerprint one table under several concepts spread each column once."""
    return mix(component, xor=_GOLDEN)


def spread_column(values: pl.Series) -> np.ndarray:
    """`spread(component_hash(values))`; a boolean column's few distinct values are hashed
    and spread once, then picked per row."""
    if values.dtype == pl.Boolean:
        table = spread(component_hash(pl.Series([False, True, None], dtype=pl.Boolean)))
        return table[values.cast(pl.UInt8).fill_null(2).to_numpy()]
    # component_hash returns a fresh array: spread it where it is, not into another 80 MB
    return mix(component_hash(values), inplace=True, xor=_GOLDEN)


def fold(acc: np.ndarray | np.uint64, component: np.ndarray) -> np.ndarray:
    """Fold one more component into a running fingerprint (order matters)."""
    return fold_spread(acc, spread(component))


def fold_spread(acc: np.ndarray | np.uint64, spread_component: np.ndarray) -> np.ndarray:
    return mix(spread_component, xor=acc)


def entity_and_value(
    concept: str, keys: Sequence[np.ndarray], value: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(entity fingerprints, value fingerprints) as int64 arrays, from component hashes."""
    return entity_and_value_spread(concept, [spread(k) for k in keys], spread(value))


def entity_and_value_spread(
    concept: str, keys: Sequence[np.ndarray], value: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """`entity_and_value` from components already spread (see `spread`)."""
    acc: np.ndarray | np.uint64 = text_hash(concept)
    for key in keys:
        acc = fold_spread(acc, key)
    entity = np.asarray(acc, dtype=U64)
    if entity.shape != value.shape:  # no key columns: every row is the same entity
        entity = np.full(value.shape, entity, dtype=U64)
    return entity.view(np.int64), fold_spread(entity, value).view(np.int64)


def fingerprint_frame(
    frame: pl.DataFrame, concept: str, key_columns: Sequence[str], value_column: str
) -> tuple[np.ndarray, np.ndarray]:
    """Entity and value fingerprints of every row of `frame`."""
    keys = [component_hash(frame[c]) for c in key_columns]
    return entity_and_value(concept, keys, component_hash(frame[value_column]))


def fingerprint(concept: str, key: Sequence[object], value: object) -> int:
    """The value fingerprint of one (key, value) — the same as a one-row frame gives."""
    columns = {f"k{i}": [k] for i, k in enumerate(key)}
    frame = pl.DataFrame({**columns, "v": [value]}, strict=False)
    _, values = fingerprint_frame(frame, concept, list(columns), "v")
    return int(values[0])
