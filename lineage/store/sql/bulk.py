"""The SQL backend's bulk load: a checked `BulkInput` written in the caller's transaction.

The plan is the same on both dialects; only the way rows reach the database differs:

1. ids: keys already stored are looked up once; new nodes get ids here, in key order (so
   the unique key index grows at its end), and every edge endpoint is resolved to an id (by
   64-bit hashes of the key texts, each match checked against its text) on a second thread,
   on one core, while the nodes are written. An endpoint neither loaded nor stored is a
   ValidationError before any edge is written (the transaction rolls back).
2. when the load is at least as large as what the table holds, its secondary indexes (and
   on PostgreSQL the edge foreign keys) are dropped and built again after the rows: one
   sort instead of millions of random-order inserts. The definitions are read back from the
   database, so they come back exactly as the migrations made them.
3. rows go in sorted by primary key: SQLite `executemany` on the raw connection of
   200-row INSERTs, the node rows' Python values made a part at a time just before they are
   written (with `synchronous=OFF` and a large page cache, set back afterwards); PostgreSQL
   `COPY` of CSV that polars writes, then `ANALYZE` (a walk planned without statistics
   right after a load was 5-10x slower).

All of it runs inside one transaction: an error anywhere leaves the store as it was.
"""

from __future__ import annotations

import io
import json
import sqlite3
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any

import numpy as np
import polars as pl

from ..._errors import ConflictError, StoreError, ValidationError
from ..._keys import TAIL_PATTERN
from .._bulk import BulkInput

#: SQLite page cache for a load, in KiB (negative: KiB, as PRAGMA cache_size takes it)
SQLITE_LOAD_CACHE_KIB = 512 * 1024
#: shown offending rows in an error
_SHOWN = 5


def load(raw: Any, dialect: str, data: BulkInput, chunk_size: int,
         stamp: datetime) -> tuple[int, int]:
    """Write `data` through the DBAPI connection `raw`, inside its open transaction.
    Returns (nodes written, edges written)."""
    with driver_errors("bulk load"):
        loader = _Sqlite(raw) if dialect == "sqlite" else _Postgres(raw)
        return loader.run(data, chunk_size, stamp)


@contextmanager
def driver_errors(what: str) -> Iterator[None]:
    """The loader talks to the DBAPI connection directly, below SQLAlchemy: its driver
    errors become LineageErrors here (a key another writer stored meanwhile: ConflictError)."""
    try:
        yield
    except _driver_errors("IntegrityError") as exc:
        raise ConflictError(f"{what} conflicts with stored data: {_first_line(exc)}") from exc
    except _driver_errors("Error") as exc:
        raise StoreError(f"{what} failed: {_first_line(exc)}") from exc


def _driver_errors(name: str) -> tuple[type[Exception], ...]:
    """sqlite3's exception class `name`, and psycopg's when psycopg is loaded (a psycopg
    connection loaded it; none can raise its errors otherwise). Not imported here: a SQLite
    load would spend 0.05 s of CPU importing it, inside the load."""
    found: list[type[Exception]] = [getattr(sqlite3, name)]
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None:
        found.append(getattr(psycopg, name))
    return tuple(found)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class _Loader:
    """The dialect-neutral plan; subclasses say how to read and write."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        #: the helper thread of `run` (one worker), for work `node_rows` can hand off
        self.helper: ThreadPoolExecutor | None = None

    # hooks -------------------------------------------------------------------------
    def count(self, table: str) -> int:
        raise NotImplementedError

    def stored_ids(self, keys: pl.Series) -> pl.DataFrame:
        """(key, id) of the stored nodes among `keys`."""
        raise NotImplementedError

    def new_ids(self, n: int) -> pl.Series:
        raise NotImplementedError

    @contextmanager
    def indexes_off(self, table: str, off: bool) -> Iterator[None]:
        raise NotImplementedError
        yield

    def node_rows(self, nodes: pl.DataFrame, stamp: datetime) -> Any:
        """The new nodes (with ids) in the form `write_nodes` takes."""
        return nodes

    def write_nodes(self, rows: Any, chunk_size: int) -> None:
        raise NotImplementedError

    def edge_rows(self, edges: pl.DataFrame) -> Any:
        """The resolved edges in the form `write_edges` takes."""
        return edges

    def write_edges(self, edges: Any, chunk_size: int, may_exist: bool) -> int:
        raise NotImplementedError

    def finish(self) -> None:
        """After the rows (and indexes) are written, still inside the transaction."""

    # the plan ----------------------------------------------------------------------
    def run(self, data: BulkInput, chunk_size: int, stamp: datetime) -> tuple[int, int]:
        stored_nodes = self.count("node")
        stored_edges = self.count("edge") if stored_nodes else 0
        nodes, edges = data.nodes, data.edges
        if stored_nodes:
            wanted = pl.concat([nodes["key"], edges["src"], edges["dst"]]).unique()
            stored = self.stored_ids(wanted)
        else:
            stored = pl.DataFrame(schema={"key": pl.String, "id": pl.Int64})
        # (in key order already: see lineage.store._bulk.normalise)
        new = nodes.join(stored, on="key", how="anti").sort("key") if stored.height else nodes
        new = new.with_columns(self.new_ids(new.height).alias("id"))
        ids = pl.concat([stored, new.select("key", "id")])
        # One helper thread, its jobs in the order given: what `node_rows` hands it (the
        # SQLite loader: the keys' reversed tails), then the edges' resolution, then the
        # edge rows' values. Its work is mostly without the GIL (polars, Arrow, numpy) and
        # on one core, so the main thread keeps the other for making the node rows' values
        # and for SQLite's work (itself mostly without the GIL). An unknown endpoint raises
        # after the node rows are written, still inside the transaction, which rolls back.
        # The edge rows' Python values are made after the node INSERTs, while SQLite builds
        # the node indexes (no GIL held then); made during the INSERTs, they held the GIL
        # the inserts wait for.
        with ThreadPoolExecutor(max_workers=1) as pool:
            self.helper = pool
            node_rows = self.node_rows(new, stamp)
            pending = pool.submit(self._resolve_edges, edges, ids, stored, stored_edges)
            with self.indexes_off("node", new.height >= stored_nodes and new.height > 0):
                self.write_nodes(node_rows, chunk_size)
                del node_rows
                # queued behind the resolution (one worker): the main thread goes on to
                # the index builds instead of waiting for it here
                rows = pool.submit(lambda: self.edge_rows(pending.result()[0]))
            edge_rows = rows.result()  # (a resolution error is raised here)
            resolved, may_exist = pending.result()
        with self.indexes_off("edge", resolved.height >= stored_edges and resolved.height > 0):
            written = self.write_edges(edge_rows, chunk_size, may_exist)
        self.finish()
        return new.height, written

    def _resolve_edges(self, edges: pl.DataFrame, ids: pl.DataFrame, stored: pl.DataFrame,
                       stored_edges: int) -> tuple[pl.DataFrame, bool]:
        """(the edges resolved to ids, whether some may be stored already)."""
        resolved = self._resolve(edges, ids)
        # an edge can only be stored already when both its ends were stored before the load
        may_exist = bool(stored_edges) and stored.height > 0 and bool(
            resolved.select((pl.col("src").is_in(stored["id"].implode())
                             & pl.col("dst").is_in(stored["id"].implode())).any()).item())
        return resolved, may_exist

    @staticmethod
    def _resolve(edges: pl.DataFrame, ids: pl.DataFrame) -> pl.DataFrame:
        """Edges as (src id, dst id, kind, properties), sorted by primary key; unknown
        endpoints raise ValidationError.

        Single-threaded on purpose: this runs beside the node INSERTs, and on a 2-core
        machine polars' join and sort (1.2-1.35 s of CPU at 10^6 nodes, on both cores) made
        the writing thread share its core. Here the 64-bit hashes of the texts are matched
        by one Arrow kernel on integers, each match verified against the text, and the
        edges ordered by numpy's sort of integer keys: 1.0-1.3 s of CPU, on one core."""
        n = edges.height
        ends = pl.concat([edges["src"], edges["dst"]])
        where = _positions(ends, ids["key"])  # each end's row in `ids`, -1 when unknown
        unknown = where < 0
        if unknown.any():
            bad = unknown[:n] | unknown[n:]
            dangling = edges.filter(pl.Series(bad))
            shown = ", ".join(f"{s} -> {d}" for s, d in
                              dangling.select("src", "dst").head(_SHOWN).rows())
            raise ValidationError(f"bulk load: {dangling.height} edge(s) name nodes that are "
                                  f"neither in the load nor in the store: {shown}")
        ends_id = ids["id"].to_numpy()[where]
        src, dst = ends_id[:n], ends_id[n:]
        # kinds numbered in text order (the primary key orders kinds as texts)
        kinds = edges["kind"].unique().sort()
        kind_code = edges["kind"].cast(pl.Enum(kinds)).to_physical().to_numpy()
        if n and src.min() >= 0 and dst.min() >= 0 and max(src.max(), dst.max()) < 2**31:
            # one integer key holding (src, dst): a single-key sort, then the kind
            order = np.lexsort((kind_code, (src << 32) | dst))
        else:
            order = np.lexsort((kind_code, dst, src))
        src, dst, kind_code = src[order], dst[order], kind_code[order]
        _check_no_repeats(src, dst, kind_code, order, edges)
        return pl.DataFrame({"src": src, "dst": dst,
                             "kind": _reordered(edges["kind"], order, kinds, kind_code),
                             "properties": _reordered(edges["properties"], order)},
                            schema={"src": pl.Int64, "dst": pl.Int64, "kind": pl.String,
                                    "properties": pl.String})


def _reordered(column: pl.Series, order: np.ndarray, distinct: pl.Series | None = None,
               codes: np.ndarray | None = None) -> pl.Series:
    """`column.gather(order)`; a text column of few distinct values (kinds, properties)
    by their numbers instead: gathering 2.5 M texts in a random order cost 0.15 s, through
    their numbers 0.07. `codes` (already in `order`) number `column` among `distinct`, when
    known."""
    if codes is None or distinct is None:
        distinct = column.unique()
        if distinct.len() > column.len() // 20 or distinct.null_count():
            return column.gather(order)
        codes = column.cast(pl.Enum(distinct)).to_physical().to_numpy()[order]
    return distinct.gather(codes).rename(column.name)


#: seed of the 64-bit text hashes matched in `_positions` (any fixed value)
_HASH_SEED = 0x6C696E


def _hashed(texts: pl.Series) -> pl.Series:
    # polars' hash may differ between its versions: fine here, both sides are hashed by
    # the same process
    return texts.hash(_HASH_SEED)


def _positions(texts: pl.Series, keys: pl.Series,
               hashed: Callable[[pl.Series], pl.Series] = _hashed) -> np.ndarray:
    """Each text's position among `keys` (distinct texts), -1 where it is none of them.

    The texts are matched by their 64-bit hashes (`hashed`; an integer lookup costs a
    third of the same lookup of the texts), then every match is compared with the key it
    found, so a hash two different texts share is never taken for a match: such texts,
    and the ones not found, are looked up again by their texts."""
    # (imported here, on the helper thread that runs this, beside the node INSERTs: not on
    # the main thread before them; 30-50 ms)
    import pyarrow.compute as pc

    if not keys.len():
        return np.full(texts.len(), -1, dtype=np.int64)
    found = pl.from_arrow(pc.index_in(hashed(texts).to_arrow(),
                                      value_set=hashed(keys).to_arrow()))
    assert isinstance(found, pl.Series)
    found = found.cast(pl.Int64).fill_null(-1)
    where = found.to_numpy().copy()
    # (a text matched by hash only, or not at all: rare, looked up exactly)
    unsure = ((where < 0) | (keys.gather(found.clip(0)) != texts).to_numpy())
    if unsure.any():
        lookup = np.flatnonzero(unsure)
        again = pl.from_arrow(pc.index_in(texts.gather(lookup).to_arrow(),
                                          value_set=keys.to_arrow()))
        assert isinstance(again, pl.Series)
        where[lookup] = again.cast(pl.Int64).fill_null(-1).to_numpy()
    return where


def _check_no_repeats(src: np.ndarray, dst: np.ndarray, kind_code: np.ndarray,
                      order: np.ndarray, edges: pl.DataFrame) -> None:
    """One load may not give the same (src, dst, kind) twice: which properties should win
    would be a guess (`apply` is the upsert). Sorted, repeats are neighbours: comparing
    integer ids with the previous row is far cheaper than hashing the key texts."""
    if src.size < 2:
        return
    same = (src[1:] == src[:-1]) & (dst[1:] == dst[:-1]) & (kind_code[1:] == kind_code[:-1])
    count = int(same.sum())
    if count:
        # each repeated edge's first row in the sorted run (the sort is stable: the row
        # given first), shown in the order given
        starts = np.flatnonzero(same & ~np.concatenate(([False], same[:-1])))
        first = np.sort(order[starts])[:_SHOWN]
        text = ", ".join(f"{s} -[{k}]-> {d}" for s, d, k in
                         edges.select("src", "dst", "kind")[first].rows())
        raise ValidationError(f"bulk load: {count} edge(s) repeat a (src, dst, kind) given "
                              f"earlier in the same load: {text}; give each edge once")


def _rtails(keys: pl.Series) -> list[str]:
    """`node.rtail` of each key: its tail (`lineage._keys.tail`) reversed code point by code
    point."""
    texts, reversed_ = _reversed_tails(keys)
    return texts.to_list() if reversed_ else _reversed(texts)


def _rtail_series(keys: pl.Series) -> pl.Series:
    texts, reversed_ = _reversed_tails(keys)
    return (texts if reversed_ else pl.Series(_reversed(texts), dtype=pl.String)).alias("rtail")


def _reversed_tails(keys: pl.Series) -> tuple[pl.Series, bool]:
    """(the keys' reversed tails, True), without the GIL for the most part; when a tail is
    not ASCII, (the tails, False): `_reversed` must then reverse them in Python."""
    tails = _tails(keys)
    flipped = _reversed_ascii(tails)
    return (tails, False) if flipped is None else (flipped, True)


def _reversed_ascii(texts: pl.Series) -> pl.Series | None:
    """The texts reversed, when all are ASCII (where reversing bytes is reversing code
    points), else None. The whole text buffer reversed at once holds every text reversed,
    in the reverse order: numpy copies the bytes, and the Series is read backwards. (For
    10^6 tails: ~0.07 s off the GIL, and the main thread's list of them 0.09 s instead of
    0.2 s for Python reversing each one.)"""
    import pyarrow as pa  # (here: see `_positions`)

    array = texts.rechunk().to_arrow()
    if array.null_count or not pa.types.is_large_string(array.type):
        return None
    n = len(array)
    _, offsets_buffer, data_buffer = array.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64)[array.offset:array.offset + n + 1]
    if data_buffer is None or not n:
        return texts
    data = np.frombuffer(data_buffer, dtype=np.uint8)[offsets[0]:offsets[-1]]
    if data.size and data.max() >= 0x80:
        return None
    flipped = pa.LargeStringArray.from_buffers(
        n, pa.py_buffer(offsets[-1] - offsets[::-1]), pa.py_buffer(data[::-1].copy()))
    return pl.Series(texts.name, flipped, dtype=pl.String).reverse()


def _tails(keys: pl.Series) -> pl.Series:
    """Each key's tail, found by polars (a regular expression; no GIL held)."""
    return keys.str.extract(TAIL_PATTERN, 0).fill_null(keys)


def _reversed(texts: pl.Series) -> list[str]:
    """The texts reversed by Python's slice, code point by code point. (polars' `str.reverse`
    reverses grapheme clusters, so a key with a combining accent would not match the
    reversed suffix a lookup scans for; it is also slower: 0.9 s for the tails of 10^6 keys
    with polars 2.1, against 0.1 s here.)"""
    return list(map(itemgetter(slice(None, None, -1)), texts.to_list()))


def _objects(column: pl.Series, distinct: pl.Series) -> list[Any]:
    """The values of a text column as Python objects; `distinct` are its distinct values
    (null among them when it has nulls). Few distinct values (kinds, namespaces,
    properties) are made once and repeated, not once per row."""
    if column.len() < 1000 or distinct.len() > column.len() // 20:
        return column.to_list()
    present = distinct.drop_nulls()
    # each row's number among the distinct values: an Enum cast hashes each text once (a
    # third of what `replace_strict` took on 2.5 M edge kinds); a null gets the last number
    codes = column.cast(pl.Enum(present)).to_physical().cast(pl.UInt32)  # (room for the null)
    if codes.null_count():
        codes = codes.fill_null(present.len())
    values = np.empty(present.len() + 1, dtype=object)
    values[:present.len()] = present.to_list()
    return values[codes.to_numpy()].tolist()


class _Sqlite(_Loader):
    def __init__(self, raw: Any) -> None:
        super().__init__(raw)
        self.cur = raw.cursor()

    def count(self, table: str) -> int:
        # max(rowid) would be cheaper, but edge is WITHOUT ROWID; an empty table is instant
        return int(self.cur.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    def stored_ids(self, keys: pl.Series) -> pl.DataFrame:
        found: list[tuple[str, int]] = []
        # one statement per 100k keys: json_each takes the whole list as one parameter
        for start in range(0, keys.len(), 100_000):
            chunk = json.dumps(keys.slice(start, 100_000).to_list())
            found += self.cur.execute(
                "SELECT key, id FROM node WHERE key IN (SELECT value FROM json_each(?))",
                (chunk,)).fetchall()
        return pl.DataFrame(found, schema={"key": pl.String, "id": pl.Int64}, orient="row")

    def new_ids(self, n: int) -> pl.Series:
        top = self.cur.execute("SELECT coalesce(max(id), 0) FROM node").fetchone()[0]
        return pl.int_range(top + 1, top + 1 + n, eager=True, dtype=pl.Int64)

    @contextmanager
    def indexes_off(self, table: str, off: bool) -> Iterator[None]:
        if not off:
            yield
            return
        # only explicit indexes: sql is NULL for the ones behind PRIMARY KEY / UNIQUE
        found = self.cur.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                                 "AND tbl_name = ? AND sql IS NOT NULL", (table,)).fetchall()
        for name, _ in found:
            self.cur.execute(f'DROP INDEX "{name}"')
        yield
        for _, sql in found:
            self.cur.execute(sql)

    def node_rows(self, nodes: pl.DataFrame, stamp: datetime) -> _NodeParts:
        # The keys' reversed tails are found on the helper thread (polars and numpy, no GIL
        # held), a part at a time, ahead of the main thread, which makes the other columns'
        # Python values part by part as it writes (`write_nodes`).
        helper = self.helper
        assert helper is not None, "node_rows runs inside run()"
        tails = [helper.submit(_reversed_tails, nodes["key"].slice(a, _NODE_PART))
                 for a in range(0, nodes.height, _NODE_PART)]
        return _NodeParts(nodes, _literal(stamp.strftime("%Y-%m-%d %H:%M:%S.%f")), tails)

    def write_nodes(self, rows: _NodeParts, chunk_size: int) -> None:
        # Each part's Python values made just before its INSERTs, not all 10^6 rows' first:
        # the strings are bound while still in the CPU's cache (values and INSERTs of 10^6
        # nodes: 1.45-1.6 s of CPU by parts of 25-100k rows, 1.7-2.1 s all at once).
        ts = rows.stamp
        for start, tails in zip(range(0, rows.nodes.height, _NODE_PART), rows.tails,
                                strict=True):
            part = rows.nodes.slice(start, _NODE_PART)
            columns = [
                ("id", part["id"].to_list()), ("key", part["key"].to_list()),
                ("kind", _values(part["kind"])), ("name", part["name"].to_list()),
                ("namespace", _values(part["namespace"])),
                ("properties", _values(part["properties"])), ("created_at", ts),
                ("updated_at", ts)]
            texts, reversed_ = tails.result()  # (asked for last: the helper had longest)
            columns.insert(2, ("rtail", texts.to_list() if reversed_ else _reversed(texts)))
            _insert(self.cur, "INSERT", _rows("node", columns, part.height))

    def edge_rows(self, edges: pl.DataFrame) -> _Rows:
        return _rows("edge", [("src", edges["src"].to_list()), ("dst", edges["dst"].to_list()),
                              ("kind", _values(edges["kind"])),
                              ("properties", _values(edges["properties"]))], edges.height)

    def write_edges(self, edges: _Rows, chunk_size: int, may_exist: bool) -> int:
        if not edges.count:
            return 0
        before = self.raw.total_changes
        _insert(self.cur, "INSERT OR IGNORE" if may_exist else "INSERT", edges)
        return int(self.raw.total_changes - before)


#: node rows whose Python values are made, then written, at a time (a multiple of
#: `_ROWS_PER_INSERT`)
_NODE_PART = 50_000


@dataclass(frozen=True)
class _NodeParts:
    """New node rows for SQLite, made into Python values a part at a time by `write_nodes`:
    the frame, the timestamp literal, and per part of `_NODE_PART` rows the helper's
    pending `_reversed_tails`."""

    nodes: pl.DataFrame
    stamp: _Literal
    tails: list[Future[tuple[pl.Series, bool]]]


#: rows per SQLite INSERT statement (VALUES (...), (...), ...): executemany with one row per
#: statement spent more on the per-statement round trip (bind, step, reset, the GIL given up
#: and taken back) than on the row; 200 rows of 7 values stay far below SQLite's limit of
#: 32,766 parameters.
_ROWS_PER_INSERT = 200


class _Literal(str):
    """A column's one value for every row, as SQL text written into the statement (not a
    parameter bound per row)."""


def _literal(value: str | None) -> _Literal:
    return _Literal("NULL" if value is None else "'" + value.replace("'", "''") + "'")


def _values(column: pl.Series) -> _Literal | list[Any]:
    """A text column as Python values (`_objects`), or as a `_Literal` when every row holds
    the same value (e.g. no properties on any node): a column the statement carries once
    costs no binding per row, as the raw SQLite floor of the bench writes it too. (Not for a
    value with a NUL character, which a statement text cannot hold.)"""
    distinct = column.unique()
    if column.len() and distinct.len() == 1:
        value = distinct[0]
        if value is None or "\x00" not in value:
            return _literal(value)
    return _objects(column, distinct)


@dataclass(frozen=True)
class _Rows:
    """Rows for multi-row INSERTs into `table`, kept as columns: `values` holds the bound
    columns (lists of `count` values each), `row(r, k)` is the VALUES text of row r of a
    statement of k rows (its columns' parameters numbered, the literal columns written in)."""

    table: str
    columns: str
    cells: tuple[_Literal | None, ...]  # per column: its literal, or None when bound
    values: tuple[list[Any], ...]
    count: int

    def row(self, r: int, k: int) -> str:
        # column-major numbering: column j of row r is parameter j * k + r + 1, so one
        # statement's parameters are the columns' slices concatenated (see `_insert`)
        bound = iter(range(len(self.values)))
        return "(" + ", ".join(cell if cell is not None else f"?{next(bound) * k + r + 1}"
                               for cell in self.cells) + ")"


def _rows(table: str, columns: list[tuple[str, Any]], n: int) -> _Rows:
    """Columns (lists, numpy arrays or object arrays of length `n`, or `_Literal`s) as
    `_Rows`. Each bound column becomes one list of Python values; no tuple or list is made
    per row."""
    cells = tuple(values if isinstance(values, _Literal) else None for _, values in columns)
    values = tuple(values if isinstance(values, list) else values.tolist()
                   for _, values in columns if not isinstance(values, _Literal))
    if not values:  # (a table's columns are never all constant: ids and keys differ)
        raise ValueError("bulk load: no column varies")
    return _Rows(table, ", ".join(name for name, _ in columns), cells, values, n)


def _insert(cur: Any, verb: str, rows: _Rows) -> None:
    """`rows` by INSERTs of `_ROWS_PER_INSERT` rows each (and one of the rows left over).
    The statements number their parameters column by column, so a statement's parameters
    are the slices of the column lists, concatenated: no per-row object, and no layout of
    the rows beforehand (a numpy object table reshaped and turned into lists cost ~0.4 s
    of the 10^6 node rows)."""
    head = f"{verb} INTO {rows.table} ({rows.columns}) VALUES "
    columns = rows.values
    full = rows.count - rows.count % _ROWS_PER_INSERT

    def statement(k: int) -> str:
        return head + ", ".join(rows.row(r, k) for r in range(k))

    def parameters(start: int, stop: int, step: int) -> Iterator[list[Any]]:
        for a in range(start, stop, step):
            b = a + step
            chunk = columns[0][a:b]
            for column in columns[1:]:
                chunk += column[a:b]
            yield chunk

    if full:
        cur.executemany(statement(_ROWS_PER_INSERT), parameters(0, full, _ROWS_PER_INSERT))
    if rows.count > full:
        cur.executemany(statement(rows.count - full),
                        parameters(full, rows.count, rows.count - full))


def tune_sqlite(raw: Any) -> None:
    """Settings for one load, made before its transaction begins (SQLite ignores or refuses
    them inside one); `restore_sqlite` sets them back after it ends, committed or not.

    synchronous=OFF: the commit does not wait for the disk (a power cut may lose the load).
    foreign_keys=OFF: the loader resolves every endpoint to a stored or loaded id before
    writing, so two index probes per edge would prove nothing more. threads: the index
    builds after the load may sort on a second core.

    Into an empty store the load skips the WAL (journal_mode=DELETE until it ends): WAL
    would write every page twice (once to the log, once at the checkpoint) and leave a log
    as large as the store on disk. A rollback journal costs almost nothing here: pages added
    past the file's original end are not journalled (a rollback truncates them), and an empty
    store has only a few pages to save. So a failed load still rolls back, and a process
    killed mid-load leaves the journal that restores the empty store on the next open.
    When another connection holds the file, the mode cannot change and the load uses WAL.
    """
    raw.execute("PRAGMA synchronous=OFF")
    raw.execute("PRAGMA foreign_keys=OFF")
    raw.execute(f"PRAGMA cache_size=-{SQLITE_LOAD_CACHE_KIB}")
    raw.execute("PRAGMA temp_store=MEMORY")
    raw.execute("PRAGMA threads=2")
    empty = raw.execute("SELECT NOT EXISTS (SELECT 1 FROM node) "
                        "AND NOT EXISTS (SELECT 1 FROM edge)").fetchone()[0]
    if empty:
        try:
            raw.execute("PRAGMA journal_mode=DELETE")
        except sqlite3.OperationalError:  # another connection is using the file: keep WAL
            pass


def restore_sqlite(raw: Any) -> None:
    """Back to the connection's usual settings (engine.py)."""
    if raw.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("PRAGMA synchronous=NORMAL")
    raw.execute("PRAGMA foreign_keys=ON")
    raw.execute("PRAGMA cache_size=-2000")
    raw.execute("PRAGMA temp_store=DEFAULT")
    raw.execute("PRAGMA threads=0")


class _Postgres(_Loader):
    def __init__(self, raw: Any) -> None:
        super().__init__(raw)
        self.cur = raw.cursor()
        self.foreign_keys: list[tuple[str, str]] = []

    def count(self, table: str) -> int:
        self.cur.execute(f"SELECT count(*) FROM {table}")
        return int(self.cur.fetchone()[0])

    def stored_ids(self, keys: pl.Series) -> pl.DataFrame:
        self.cur.execute("SELECT key, id FROM node WHERE key = ANY(%s)", (keys.to_list(),))
        return pl.DataFrame(self.cur.fetchall(), schema={"key": pl.String, "id": pl.Int64},
                            orient="row")

    def new_ids(self, n: int) -> pl.Series:
        if not n:
            return pl.Series("id", [], dtype=pl.Int64)
        # One block of the table's own sequence (a nextval per row took ~8 s per 10^6).
        # The lock makes concurrent inserts wait before they draw an id (readers go on), so
        # none can draw one inside the block between the two calls.
        self.cur.execute("LOCK TABLE node IN EXCLUSIVE MODE")
        self.cur.execute("SELECT nextval(pg_get_serial_sequence('node', 'id'))")
        first = int(self.cur.fetchone()[0])
        self.cur.execute("SELECT setval(pg_get_serial_sequence('node', 'id'), %s)",
                         (first + n - 1,))
        return pl.int_range(first, first + n, eager=True, dtype=pl.Int64)

    @contextmanager
    def indexes_off(self, table: str, off: bool) -> Iterator[None]:
        if not off:
            yield
            return
        self.cur.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = %s "
            "AND i.schemaname = current_schema() AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
            "WHERE c.conname = i.indexname AND c.connamespace = "
            "(SELECT oid FROM pg_namespace WHERE nspname = current_schema()))", (table,))
        indexes = self.cur.fetchall()
        self.cur.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype = 'f'", (table,))
        keys = self.cur.fetchall()
        for name, _ in keys:
            self.cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _ in indexes:
            self.cur.execute(f'DROP INDEX "{name}"')
        yield
        for _, definition in indexes:
            self.cur.execute(definition)
        # checked by one join per key, not a trigger per row
        for name, definition in keys:
            self.cur.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')

    def _copy(self, table: str, columns: str, frame: pl.DataFrame) -> None:
        # CSV written by polars (in C); every text quoted, so only an unquoted \N is NULL
        buffer = io.BytesIO()
        frame.write_csv(buffer, include_header=False, quote_style="non_numeric",
                        null_value="\\N")
        with self.cur.copy(f"COPY {table} ({columns}) FROM STDIN "
                           "(FORMAT csv, NULL '\\N')") as copy:
            copy.write(buffer.getbuffer())

    def node_rows(self, nodes: pl.DataFrame, stamp: datetime) -> pl.DataFrame:
        ts = stamp.isoformat()
        return nodes.select(
            "id", "key", _rtail_series(nodes["key"]),
            "kind", "name", "namespace", "properties",
            pl.lit(ts).alias("created_at"), pl.lit(ts).alias("updated_at"))

    def write_nodes(self, rows: pl.DataFrame, chunk_size: int) -> None:
        for start in range(0, rows.height, chunk_size):
            self._copy("node", "id, key, rtail, kind, name, namespace, properties, created_at, "
                       "updated_at", rows.slice(start, chunk_size))

    def write_edges(self, edges: pl.DataFrame, chunk_size: int, may_exist: bool) -> int:
        if not edges.height:
            return 0
        if not may_exist:
            for start in range(0, edges.height, chunk_size):
                self._copy("edge", "src, dst, kind, properties", edges.slice(start, chunk_size))
            return edges.height
        self.cur.execute("CREATE TEMP TABLE bulk_edge (src BIGINT, dst BIGINT, kind TEXT, "
                         "properties TEXT) ON COMMIT DROP")
        for start in range(0, edges.height, chunk_size):
            self._copy("bulk_edge", "src, dst, kind, properties", edges.slice(start, chunk_size))
        self.cur.execute("INSERT INTO edge (src, dst, kind, properties) SELECT src, dst, kind, "
                         "properties::json FROM bulk_edge ORDER BY src, dst, kind "
                         "ON CONFLICT DO NOTHING")
        return int(self.cur.rowcount)

    def finish(self) -> None:
        self.cur.execute("ANALYZE node")
        self.cur.execute("ANALYZE edge")
