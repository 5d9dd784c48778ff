"""The SQL backend's graph: nodes, edges, schema snapshots and the closure walk.

Dialect differences are confined to small, named spots: the walk's level queries (how the
frontier is passed; how a wide level aggregates its rows), and the bulk loader's staging
(executemany on SQLite, COPY on PostgreSQL).
Every driver exception is translated here into a `LineageError`.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import json
import operator
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..._errors import ConflictError, LineageError, NotFound, StoreError
from ..._keys import is_key, tail
from ..._model import (
    ApplyResult,
    Closure,
    Direction,
    EdgeSpec,
    FieldSchema,
    GraphBatch,
    Node,
    NodeRecord,
    NodeRef,
    NodeSpec,
    Reached,
    Subgraph,
    SubgraphEdge,
    WalkTable,
)
from ..._vocabulary import EdgeKind, NodeKind
from ..base import MergeEdgeProperties, MergeProperties, OnRuns, Store
from ..common import UNBOUNDED
from ..graph import run_candidates
from . import pgarray
from .light import SCHEMA_REVISION, SqlitePool, first_line, no_store_message, sqlite_file

if TYPE_CHECKING:
    import numpy as np
    import sqlalchemy as sa
    from sqlalchemy.engine import Connection, Engine

    from .._bulk import BulkInput

# SQLAlchemy (and the SQLModel tables) load on first use: a read on a SQLite file runs its
# queries on `light.SqlitePool` connections and never needs them (see `light`).

T = TypeVar("T")

#: bound parameters per IN (...) list; well under SQLite's and PostgreSQL's limits
_IN_CHUNK = 500
#: `Connection.info` key: statements (SQL, parameters) a PostgreSQL `apply` in this
#: transaction sends with its writes, in their round trip (the audit rows, see admin.py);
#: `apply` removes the key when it has sent them
TRAILING_STATEMENTS = "lineage_trailing_statements"
#: `Connection.info` key: the PostgreSQL `apply` may commit its transaction with its writes
#: (set by `_apply` when nothing else is written in that transaction)
_COMMIT_WITH_WRITES = "lineage_commit_with_writes"
#: `Connection.info` key: the runIds `apply` reads the stored runs of, and whom to tell
#: (`Store.apply`'s `run_ids` and `on_runs`)
_FIND_RUNS = "lineage_find_runs"

# A breadth-first walk, one level per round trip: the edges leaving the frontier, then the
# nodes newly reached. The frontier is passed in key order as one parameter (a JSON array on
# SQLite, an array on PostgreSQL), so an edge's `rank` is its parent's position by key: the
# first row reaching a node is the one from the smallest parent key, then edge kind, and the
# one shortest path chosen is the same on every backend. Plain DBAPI tuples, not ORM rows:
# a hub's walk handles 10^6 of them.
_LEVEL_EDGES = {
    "sqlite": "SELECT j.key, e.{far}, e.kind{props} FROM json_each(?) j "
              "JOIN edge e ON e.{near} = j.value ORDER BY j.key, e.kind",
    # PostgreSQL: one round trip per level, the far node's columns on every edge row.
    # LATERAL ... OFFSET 0: index lookups whatever the statistics say (right after a bulk
    # load, before ANALYZE, the planner would hash the whole edge table on every level)
    "postgresql": "SELECT f.ord - 1, e.{far}, e.kind{props}, n.key, n.kind, n.name{node_props}"
                  "{lifecycle} FROM unnest(%s::bigint[]) WITH ORDINALITY f(id, ord) "
                  "CROSS JOIN LATERAL (SELECT * FROM edge WHERE edge.{near} = f.id OFFSET 0) e "
                  "CROSS JOIN LATERAL (SELECT * FROM node WHERE node.id = e.{far} OFFSET 0) n "
                  "ORDER BY f.ord, e.kind",
}
_LEVEL_NODES = {
    "sqlite": "SELECT id, key, kind, name{props}{lifecycle} FROM node "
              "WHERE id IN (SELECT value FROM json_each(?)) ORDER BY key",
    "postgresql": "",  # the level's edge query brings the nodes
}
# A reached node's `lifecycle` property, for walks that skip deleted nodes: the text is
# searched first, so the JSON of the many nodes that have none is never parsed.
_WALK_LIFECYCLE = {
    "sqlite": ", CASE WHEN instr({t}properties, 'lifecycle') > 0 "
              "THEN json_extract({t}properties, '$.lifecycle') END",
    "postgresql": ", CASE WHEN strpos({t}properties::text, 'lifecycle') > 0 "
                  "THEN {t}properties->>'lifecycle' END",
}
# the `lifecycle` property of some nodes (Store.lifecycle_states)
_LIFECYCLE = {
    "sqlite": "SELECT key, json_extract(properties, '$.lifecycle') FROM node "
              "WHERE key IN {keys} AND json_extract(properties, '$.lifecycle') IS NOT NULL",
    "postgresql": "SELECT key, properties->>'lifecycle' FROM node "
                  "WHERE key IN {keys} AND properties->>'lifecycle' IS NOT NULL",
}
# which of some node ids are deleted (a walk's nodes beyond its depth bound)
_DELETED_AMONG = {
    "sqlite": "SELECT id FROM node WHERE id IN (SELECT value FROM json_each(?)) AND "
              "instr(properties, 'lifecycle') > 0 AND "
              "json_extract(properties, '$.lifecycle') = 'deleted'",
    "postgresql": "SELECT id FROM node WHERE id = ANY(%s::bigint[]) AND "
                  "strpos(properties::text, 'lifecycle') > 0 AND "
                  "properties->>'lifecycle' = 'deleted'",
}
# the properties of some nodes (by id) whose JSON text mentions a property's quoted name
_NAMED_PROPERTY = {
    "sqlite": "SELECT n.key, n.properties FROM json_each(?) j JOIN node n ON n.id = j.value "
              "WHERE instr(n.properties, ?) > 0",
    "postgresql": "SELECT n.key, n.properties FROM unnest(%s::bigint[]) f(id) "
                  "JOIN node n ON n.id = f.id WHERE strpos(n.properties::text, %s) > 0",
}
_REF = {"sqlite": "SELECT key, kind, name FROM node WHERE key = ?",
        "postgresql": "SELECT key, kind, name FROM node WHERE key = %s"}
_SUFFIX = {dialect: f"SELECT key, kind, name FROM node WHERE rtail >= {p} AND rtail < {p} "
              f"AND substr(key, length(key) - {p} + 1) = {p} LIMIT {p}"
           for dialect, p in (("sqlite", "?"), ("postgresql", "%s"))}
# One step from many nodes: the edges of some kinds at one end of each (Store.adjacent).
_ADJACENT = {
    dialect: "SELECT n.key, e.kind, f.key, f.kind, f.name FROM " + keys + " "
             "JOIN node n ON n.key = " + column + " "
             "JOIN edge e ON e.{near} = n.id AND e.kind IN ({kinds}) AND e.src <> e.dst "
             "JOIN node f ON f.id = e.{far}"
    for dialect, keys, column in [("sqlite", "json_each(?) j", "j.value"),
                                  ("postgresql", "unnest(%s::text[]) k(key)", "k.key")]}
_NODE_ID = {"sqlite": "SELECT id{props} FROM node WHERE key = ?",
            "postgresql": "SELECT id{props} FROM node WHERE key = %s"}
# Store.nodes (through `_raw_rows`: `{keys}` is the list), and Store.edges_among's two steps
_NODES = dict.fromkeys(("sqlite", "postgresql"), (
    "SELECT key, kind, name, namespace, properties, created_at, updated_at FROM node "
    "WHERE key IN {keys}"))
_NODE_IDS_OF = {"sqlite": "SELECT key, id FROM node WHERE key IN (SELECT value FROM json_each(?))",
                "postgresql": "SELECT key, id FROM node WHERE key = ANY(%s::text[])"}
_NEIGHBOURS = {dialect: (
    "SELECT e.kind, e.properties, n.key, n.kind, n.name, 1 FROM edge e "
    f"JOIN node n ON n.id = e.dst WHERE e.src = {p} UNION ALL "
    "SELECT e.kind, e.properties, n.key, n.kind, n.name, 0 FROM edge e "
    f"JOIN node n ON n.id = e.src WHERE e.dst = {p}")
    for dialect, p in (("sqlite", "?"), ("postgresql", "%s"))}
_SCHEMA = {dialect: (
    "SELECT f.name, f.type, f.nullable, f.description, f.allowed_values FROM schema_field f "
    f"JOIN node v ON v.id = f.version_id WHERE v.key = {p} ORDER BY f.position")
    for dialect, p in (("sqlite", "?"), ("postgresql", "%s"))}
_EDGES_FROM = {"sqlite": "SELECT src, dst, kind, properties FROM edge "
                         "WHERE src IN (SELECT value FROM json_each(?))",
               "postgresql": "SELECT src, dst, kind, properties FROM edge "
                             "WHERE src = ANY(%s::bigint[])"}




@functools.cache
def _node_ids_query() -> sa.Select[Any]:
    """Node ids by key, built once (its expanding parameter keeps it cacheable): built per
    call, its coercions cost more than SQLite took to run it."""
    import sqlalchemy as sa

    from .tables import node_table

    n = node_table.c
    return sa.select(n.key, n.id).where(n.key.in_(sa.bindparam("keys", expanding=True)))


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _canonical(properties: dict[str, Any]) -> dict[str, Any]:
    """Properties as they will read back from a JSON column (tuples become lists, ...)."""
    if _plain(properties):  # already what a JSON column gives back: no round trip
        return properties
    result: dict[str, Any] = json.loads(json.dumps(properties, default=str, sort_keys=True))
    return result


_SCALARS = (str, int, bool, type(None))


def _plain(value: Any) -> bool:
    """True when `value` reads back from JSON exactly as it is: dicts with str keys, lists,
    str, int, bool, None and finite floats (exact types: a tuple or a str subclass is not)."""
    kind = type(value)
    if kind in _SCALARS:
        return True
    if kind is float:
        return bool(value - value == 0.0)  # not inf or nan
    if kind is dict:
        return all(type(k) is str and _plain(v) for k, v in value.items())
    if kind is list:
        return all(_plain(v) for v in value)
    return False


def _list_param(sqlite: bool, values: list[Any]) -> Any:
    """One query parameter holding a list: JSON array text for SQLite's `json_each(?)`, an
    array for PostgreSQL (binary `bigint[]` or a `text[]` literal: see pgarray.py)."""
    return json.dumps(values) if sqlite else pgarray.array_param(values)


def _id_text(ids: np.ndarray) -> str:
    """Node ids (a non-negative integer array) as the JSON array text of `_list_param`,
    without a Python int per id: each one right-aligned in the width of the largest, the
    padding as spaces (JSON allows them). A hub's 10^5 ids: ~4x faster than `json.dumps`
    of their `tolist()`."""
    import numpy as np

    if not len(ids):
        return "[]"
    top, low = int(ids.max()), int(ids.min())
    if low < 0:
        return json.dumps(ids.tolist())
    width = len(str(top))
    out = np.empty((len(ids), width + 1), dtype=np.uint8)
    out[:, width] = 44  # ","
    # int32 division is about twice as fast; node ids stay far below 2^31 in practice
    rest: Any = ids.astype(np.int32 if top < 2**31 else np.int64)
    digit: Any
    rest, digit = np.divmod(rest, 10)
    out[:, width - 1] = digit + 48
    for col in range(width - 2, -1, -1):
        rest, digit = np.divmod(rest, 10)
        out[:, col] = np.where((rest > 0) | (digit > 0), digit + 48, 32)  # a leading 0: " "
    return "[" + out.tobytes()[:-1].decode("ascii") + "]"


def _json_text(properties: dict[str, Any]) -> str:
    """Canonical properties as stored: keys sorted, as `_canonical`'s round trip leaves them
    (so reads and exports list them in one order whatever order they were given in)."""
    return json.dumps(properties, sort_keys=True)


def _stored_time(value: Any) -> datetime | None:
    """A time column as SQLite holds it (text, as SQLAlchemy writes it: `2026-01-01
    12:00:00.000000`) as the naive datetime SQLAlchemy would read back."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _loaded(value: Any) -> Any:
    """A JSON column's value as the driver gives it: text on SQLite, parsed on PostgreSQL."""
    if value == "{}":  # most edges' properties: no parse
        return {}
    return json.loads(value) if isinstance(value, str) else value


# `Store.apply` on the DBAPI cursor: for the small batches ingest writes, SQLAlchemy's
# per-statement work cost more than the statements. Built once per dialect; `{in}` is the
# one parameter holding a list (a JSON array on SQLite, an array on PostgreSQL). Edges are
# read by their exact identity, not all edges of their sources: a dataset read by every run
# of a job gathers an edge per run, and reading them all would grow with history.
@dataclass(frozen=True)
class _ApplySql:
    node_rows: str
    node_ids: str
    node_insert: str
    node_update: str
    edge_rows: str
    edge_insert: str
    edge_update: str
    edge_delete: str
    schema_rows: str
    schema_delete: str
    schema_insert: str
    stamp: Callable[[datetime], Any]


_APPLY_SQL = {
    "sqlite": _ApplySql(
        node_rows="SELECT id, key, name, namespace, properties FROM node "
                  "WHERE key IN (SELECT value FROM json_each(?))",
        node_ids="SELECT key, id FROM node WHERE key IN (SELECT value FROM json_each(?))",
        node_insert="INSERT INTO node (key, rtail, kind, name, namespace, properties, "
                    "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        node_update="UPDATE node SET name = ?, namespace = ?, properties = ?, updated_at = ? "
                    "WHERE id = ?",
        edge_rows="SELECT e.src, e.dst, e.kind, e.properties FROM json_each(?) j JOIN edge e "
                  "ON e.src = j.value ->> 0 AND e.dst = j.value ->> 1 AND e.kind = j.value ->> 2",
        edge_insert="INSERT INTO edge (src, dst, kind, properties) VALUES (?, ?, ?, ?)",
        edge_update="UPDATE edge SET properties = ? WHERE src = ? AND dst = ? AND kind = ?",
        edge_delete="DELETE FROM edge WHERE src = ? AND dst = ? AND kind = ?",
        schema_rows="SELECT name, type, nullable, description, allowed_values FROM schema_field "
                    "WHERE version_id = ? ORDER BY position",
        schema_delete="DELETE FROM schema_field WHERE version_id = ?",
        schema_insert="INSERT INTO schema_field (version_id, position, name, type, nullable, "
                      "description, allowed_values) VALUES (?, ?, ?, ?, ?, ?, ?)",
        # SQLAlchemy's SQLite DateTime text, which the reads parse
        stamp=lambda t: t.strftime("%Y-%m-%d %H:%M:%S.%f")),
    "postgresql": _ApplySql(
        node_rows="SELECT id, key, name, namespace, properties FROM node "
                  "WHERE key = ANY(%s)",
        node_ids="SELECT key, id FROM node WHERE key = ANY(%s)",
        node_insert="INSERT INTO node (key, rtail, kind, name, namespace, properties, "
                    "created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s::json, %s, %s)",
        node_update="UPDATE node SET name = %s, namespace = %s, properties = %s::json, "
                    "updated_at = %s WHERE id = %s",
        # One index probe per wanted edge (LATERAL ... OFFSET 0 keeps the subquery a nested
        # loop): as a plain join the planner hashed the whole edge table on every write
        # while it was small (1.3 ms at 4,600 edges, growing with it).
        edge_rows="SELECT e.src, e.dst, e.kind, e.properties "
                  "FROM jsonb_array_elements(%s::jsonb) j CROSS JOIN LATERAL "
                  "(SELECT src, dst, kind, properties FROM edge WHERE src = (j ->> 0)::bigint "
                  "AND dst = (j ->> 1)::bigint AND kind = j ->> 2 OFFSET 0) e",
        edge_insert="INSERT INTO edge (src, dst, kind, properties) VALUES (%s, %s, %s, %s::json)",
        edge_update="UPDATE edge SET properties = %s::json WHERE src = %s AND dst = %s "
                    "AND kind = %s",
        edge_delete="DELETE FROM edge WHERE src = %s AND dst = %s AND kind = %s",
        schema_rows="SELECT name, type, nullable, description, allowed_values FROM schema_field "
                    "WHERE version_id = %s ORDER BY position",
        schema_delete="DELETE FROM schema_field WHERE version_id = %s",
        schema_insert="INSERT INTO schema_field (version_id, position, name, type, nullable, "
                      "description, allowed_values) VALUES (%s, %s, %s, %s, %s, %s, %s::json)",
        stamp=lambda t: t),
}


#: a merging write of more nodes than this locks the store, not each node (see
#: _PG_STORE_LOCK)
PG_NODE_LOCKS_MAX = 500


def _lock_number(key: str) -> int:
    """A stable signed 64-bit number for a node key (PostgreSQL advisory locks take one)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big",
                          signed=True)


def _now() -> datetime:
    return datetime.now(UTC)


class SqlGraphStore(Store):
    """The graph half of the SQL store: nodes, edges, schema snapshots, closure."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        self._create = create
        self._engine: Engine | None = None
        #: a plain SQLite file's reads run on these stdlib connections (see `light`)
        self._pool: SqlitePool | None = None
        path = sqlite_file(url)
        if path is not None and self._open_light(path, create):
            self.dialect = "sqlite"
        else:
            self.dialect = self.engine.dialect.name
        self.embedded = self.dialect == "sqlite"

    def _open_light(self, path: str, create: bool) -> bool:
        """Open a SQLite file for reads without SQLAlchemy when its schema is current. A
        missing file with `create=False` is NotFound, as from the engine. Anything else
        (no file to create, no store in it, another revision to migrate or refuse, a file
        that is no database) goes through the engine, as before, so its answers and
        errors stay the engine's; the file's reads use the pool either way."""
        if not Path(path).exists():
            if not create:
                raise NotFound(no_store_message(self.url))
            return False
        pool = SqlitePool(path)
        try:
            current = pool.revision() == SCHEMA_REVISION
        except sqlite3.Error:
            current = False
        if not current:
            pool.close()
            self.engine  # noqa: B018 - creates (or migrates, or refuses) the store now
            pool = SqlitePool(path)
        self._pool = pool
        return True

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, created (and the schema migrated) on first use."""
        if self._engine is None:
            from . import engine as engines

            self._engine = engines.create(self.url, create_store=self._create)
        return self._engine

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        if self._engine is not None:
            self._engine.dispose()

    def shared_url(self) -> str | None:
        if self._pool is not None:  # a file, not a database in memory
            return self.url
        from . import engine as engines

        return None if engines.in_memory(self.engine.url) else self.url

    def __repr__(self) -> str:
        if self._pool is not None:  # a plain URL: nothing to hide or normalise
            return f"{type(self).__name__}({self.url!r})"
        from . import engine as engines

        return f"{type(self).__name__}({engines._safe(self.url)!r})"

    # ---------------------------------------------------------------- transactions

    @contextmanager
    def _write(self, *, bulk_load: bool = False) -> Iterator[Connection]:
        """One write transaction: commits when the block ends, rolls back on any error.
        `bulk_load`: with the SQLite connection set up for a bulk load meanwhile."""
        from sqlalchemy.exc import IntegrityError, SQLAlchemyError

        try:
            with self.engine.connect().execution_options(lineage_write=True) as conn:
                tuned = bulk_load and self.dialect == "sqlite"
                if tuned:  # these PRAGMAs only take effect outside a transaction
                    from . import bulk  # polars and psycopg: only a bulk load pays for them

                    if self._pool is not None:  # its idle readers would keep the WAL on
                        self._pool.close_idle()

                    with bulk.driver_errors("preparing the bulk load"):
                        bulk.tune_sqlite(conn.connection.driver_connection)
                try:
                    with conn.begin():
                        yield conn
                finally:
                    if tuned:
                        from . import bulk

                        with bulk.driver_errors("ending the bulk load"):
                            bulk.restore_sqlite(conn.connection.driver_connection)
        except LineageError:
            raise
        except (IntegrityError, self.engine.dialect.dbapi.IntegrityError) as exc:  # type: ignore[union-attr]
            raise ConflictError(f"the write conflicts with stored data: {first_line(exc)}"
                                ) from exc
        except (SQLAlchemyError, self.engine.dialect.dbapi.Error) as exc:  # type: ignore[union-attr]
            raise StoreError(f"write failed on {self!r}: {first_line(exc)}") from exc

    @staticmethod
    @contextmanager
    def _driver_cursor(conn: Connection) -> Iterator[Any]:
        """A DBAPI cursor in the transaction of `conn` (from `_write`, which turns the
        driver's errors into ConflictError / StoreError), closed afterwards. The hot writes
        (apply, audit rows) use it: SQLAlchemy's statement path cost more than SQLite."""
        cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            yield cur
        finally:
            cur.close()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            with self.engine.connect() as conn:
                yield conn
        except LineageError:
            raise
        except (SQLAlchemyError, self.engine.dialect.dbapi.Error) as exc:  # type: ignore[union-attr]
            raise StoreError(f"read failed on {self!r}: {first_line(exc)}") from exc

    @contextmanager
    def _cursor(self, snapshot: bool = False) -> Iterator[Any]:
        """A DBAPI cursor on a pooled connection, for the hot reads (walks, impact lookups)
        where SQLAlchemy's per-statement work would cost more than the query. `snapshot`:
        on SQLite, every statement reads the same snapshot (PostgreSQL reads committed data
        per statement). Driver errors become StoreError.

        On PostgreSQL the cursor runs in autocommit: each statement reads committed data
        either way, and without a transaction there is no BEGIN and no ROLLBACK round trip,
        and psycopg keeps the connection's prepared statements (its rollback deallocates them
        all, so the walk's level query was planned afresh on every call).

        On a SQLite file the cursor is one of the store's own `sqlite3` connections
        (`light.SqlitePool`): the same driver and settings, without SQLAlchemy."""
        if self._pool is not None:
            with self._pooled_cursor(snapshot) as pooled:
                yield pooled
            return
        from sqlalchemy.exc import SQLAlchemyError

        try:
            raw = self.engine.raw_connection()
        except SQLAlchemyError as exc:
            raise StoreError(f"read failed on {self!r}: {first_line(exc)}") from exc
        driver = raw.driver_connection if self.dialect == "postgresql" else None
        try:
            if driver is not None:
                driver.autocommit = True
            cur = raw.cursor()
            try:
                if snapshot and self.dialect == "sqlite":
                    cur.execute("BEGIN")
                yield cur
            finally:
                cur.close()
        except self.engine.dialect.dbapi.Error as exc:  # type: ignore[union-attr]
            raise StoreError(f"read failed on {self!r}: {first_line(exc)}") from exc
        finally:
            if driver is not None and not driver.closed:
                driver.autocommit = False  # the pool's other users expect transactions
            raw.close()  # back to the pool, which ends the transaction

    @contextmanager
    def _pooled_cursor(self, snapshot: bool) -> Iterator[sqlite3.Cursor]:
        pool = self._pool
        assert pool is not None
        try:
            conn = pool.get()
        except sqlite3.Error as exc:
            raise StoreError(f"read failed on {self!r}: {first_line(exc)}") from exc
        try:
            cur = conn.cursor()
            try:
                if snapshot:
                    cur.execute("BEGIN")
                yield cur
            finally:
                cur.close()
        except sqlite3.Error as exc:
            raise StoreError(f"read failed on {self!r}: {first_line(exc)}") from exc
        finally:
            pool.put(conn)  # back to the pool, which ends the transaction

    # ---------------------------------------------------------------- id lookups

    @staticmethod
    def _ids(conn: Connection, keys: Iterable[str]) -> dict[str, int]:
        ids: dict[str, int] = {}
        for chunk in _chunks(set(keys), _IN_CHUNK):
            ids.update({k: i for k, i in conn.execute(_node_ids_query(), {"keys": chunk})})
        return ids

    # ---------------------------------------------------------------- writes

    def _apply(self, batch: GraphBatch, merge: MergeProperties | None = None,
               merge_edges: MergeEdgeProperties | None = None,
               runs: tuple[list[str], OnRuns] | None = None) -> ApplyResult:
        with self._write() as conn:
            # Nothing follows the graph's writes in this transaction (no contracts, channels
            # or notifications for the layers above): on PostgreSQL the COMMIT goes with them.
            alone = not (batch.contracts or batch.channels or batch.notifications)
            if alone and self.dialect == "postgresql":
                conn.info[_COMMIT_WITH_WRITES] = True
            if runs is not None:
                conn.info[_FIND_RUNS] = runs
            try:
                return self._apply_in(conn, batch, merge, merge_edges)
            finally:
                conn.info.pop(_COMMIT_WITH_WRITES, None)
                conn.info.pop(_FIND_RUNS, None)

    def _apply_finding_runs(self, batch: GraphBatch, merge: MergeProperties | None,
                            merge_edges: MergeEdgeProperties | None, run_ids: list[str],
                            on_runs: OnRuns) -> ApplyResult:
        # The runs are read in the write transaction: on PostgreSQL in the pipeline of the
        # apply's other reads (a lookup of its own cost a round trip and a pool checkout,
        # ~0.12 ms of the writer's CPU, on the serial path of every group with a new run).
        # A runId spelled as a key is resolved as a key (`candidates`): the default then.
        if any(is_key(rid) for rid in run_ids):
            return super()._apply_finding_runs(batch, merge, merge_edges, run_ids, on_runs)
        return self._apply(batch, merge, merge_edges, runs=(run_ids, on_runs))

    def _apply_in(self, conn: Connection, batch: GraphBatch,
                  merge: MergeProperties | None = None,
                  merge_edges: MergeEdgeProperties | None = None) -> ApplyResult:
        """Apply a batch inside the caller's `_write` transaction (on its DBAPI cursor)."""
        lock = merge is not None or merge_edges is not None
        runs = conn.info.pop(_FIND_RUNS, None)
        if self.dialect == "postgresql":
            trailing = conn.info.pop(TRAILING_STATEMENTS, None)
            return _apply_rows_pg(conn.connection.driver_connection, batch, merge,
                                  merge_edges, lock, trailing,
                                  commit=bool(conn.info.pop(_COMMIT_WITH_WRITES, False)),
                                  runs=runs)
        with self._driver_cursor(conn) as cur:
            if runs is not None:
                run_ids, on_runs = runs
                on_runs({rid: run_candidates(rid, self._suffix_rows(cur, rid, UNBOUNDED))
                         for rid in run_ids})
            return _apply_rows(cur, _APPLY_SQL[self.dialect], self.dialect == "sqlite",
                               batch, merge, merge_edges)

    def _bulk_load(self, load: BulkInput, chunk_size: int) -> tuple[int, int]:
        from . import bulk  # polars and psycopg: only a bulk load pays for them

        stamp = _now()
        with self._write(bulk_load=True) as conn:
            return bulk.load(conn.connection.driver_connection, self.dialect, load, chunk_size,
                             stamp)

    # ---------------------------------------------------------------- reads

    def _nodes(self, keys: list[str]) -> dict[str, Node]:
        # through the DBAPI (`_raw_rows`): every impact reads a few nodes, and a read on
        # SQLite should not load SQLAlchemy for it
        found: dict[str, Node] = {}
        sqlite = self.dialect == "sqlite"
        for chunk in _chunks(keys, 10_000):
            for key, kind, name, namespace, props, created, updated in self._raw_rows(
                    _NODES, chunk):
                found[key] = Node(key=key, kind=kind, name=name, namespace=namespace,
                                  properties=_loaded(props),
                                  created_at=_stored_time(created) if sqlite else created,
                                  updated_at=_stored_time(updated) if sqlite else updated)
        return found

    def _raw_rows(self, sql: dict[str, str], keys: list[str]) -> list[tuple[Any, ...]]:
        """Rows of a dialect's query whose one parameter is a list of keys, through the DBAPI:
        for the small lookups every impact makes, SQLAlchemy's statement handling would cost
        more than the query (`{keys}` in the SQL stands for the list)."""
        sqlite = self.dialect == "sqlite"
        text = sql[self.dialect].format(
            keys="(SELECT value FROM json_each(?))" if sqlite else "(SELECT unnest(%s::text[]))")
        with self._cursor() as cur:
            cur.execute(text, (_list_param(sqlite, keys),))
            return list(cur.fetchall())

    def _lifecycle_states(self, keys: list[str]) -> dict[str, str]:
        # one property read in the database: building 10^4 Node objects took 5x the walk
        return {key: state for chunk in _chunks(keys, 10_000)
                for key, state in self._raw_rows(_LIFECYCLE, chunk)}

    def closure_properties(self, closure: Closure, name: str,
                           kinds: Iterable[NodeKind]) -> dict[str, Any]:
        # From the walk's ids, reading only the rows whose JSON text mentions the property:
        # a hub's 10^5 fields are looked up by id, and the few with checks parsed.
        t = closure.table
        if t is None or t.ids is None or t.start_id is None:
            return super().closure_properties(closure, name, kinds)
        values = {NodeKind(k).value for k in kinds}
        ids = [t.start_id] if closure.start.node.kind.value in values else []
        ids += [i for i, kind in zip(t.ids, t.kinds, strict=False) if kind in values]
        found: dict[str, Any] = {}
        if ids:
            sqlite = self.dialect == "sqlite"
            with self._cursor() as cur:
                cur.execute(_NAMED_PROPERTY[self.dialect],
                            (_list_param(sqlite, ids), json.dumps(name)))
                for key, props in cur.fetchall():
                    loaded = _loaded(props)
                    if isinstance(loaded, dict) and name in loaded:
                        found[key] = loaded[name]
        extra = [k for k, kind in zip(t.keys[len(t.ids):], t.kinds[len(t.ids):], strict=True)
                 if kind in values]  # rows added after the walk: by key
        if extra:
            found.update(self._properties_named(extra, name))
        return found

    def _ref(self, key: str) -> NodeRef | None:
        with self._cursor() as cur:
            cur.execute(_REF[self.dialect], (key,))
            row = cur.fetchone()
        return None if row is None else NodeRef(row[0], NodeKind(row[1]), row[2])

    def _existing(self, keys: set[str]) -> set[str]:
        with self._read() as conn:
            return set(self._ids(conn, keys))

    def _suffix_candidates(self, suffix: str, limit: int) -> list[NodeRef]:
        # Every key ending with `suffix` has a tail ending with the suffix's tail: a prefix
        # scan of the reversed tails, then the key's end itself, gives exactly those keys.
        # A DBAPI cursor: through SQLAlchemy Core the lookup took 0.4 ms instead of 0.01.
        with self._cursor() as cur:
            return [NodeRef(k, NodeKind(kind), n)
                    for k, kind, n in self._suffix_rows(cur, suffix, limit)]

    def _suffix_rows(self, cur: Any, suffix: str, limit: int) -> list[tuple[str, str, str]]:
        """(key, kind, name) of at most `limit` nodes whose key ends with `suffix`."""
        low = tail(suffix)[::-1]
        cur.execute(_SUFFIX[self.dialect], (low, low + "\U0010ffff", len(suffix), suffix,
                                             limit))
        return cur.fetchall()  # type: ignore[no-any-return]

    def _find(self, text: str, kinds: list[NodeKind] | None, limit: int) -> list[NodeRef]:
        # plain SQL through the DBAPI, as SQLAlchemy's `contains(autoescape=True)` wrote it:
        # every NotFound's suggestions run this, and a read on SQLite should not load it
        p = "?" if self.dialect == "sqlite" else "%s"
        where: list[str] = []
        params: list[Any] = []
        if text:
            escaped = text.lower().replace("/", "//").replace("%", "/%").replace("_", "/_")
            where.append(f"lower(key) LIKE {p} ESCAPE '/'")
            params.append(f"%{escaped}%")
        if kinds:
            where.append(f"kind IN ({', '.join([p] * len(kinds))})")
            params += [k.value for k in kinds]
        sql = ("SELECT key, kind, name FROM node" + (" WHERE " + " AND ".join(where)
                                                     if where else "")
               + f" ORDER BY key LIMIT {p}")
        with self._cursor() as cur:
            cur.execute(sql, (*params, limit))
            return [NodeRef(k, NodeKind(kind), n) for k, kind, n in cur.fetchall()]

    def _neighbours(self, key: str) -> list[tuple[EdgeSpec, NodeRef]]:
        result = []
        with self._cursor(snapshot=True) as cur:
            cur.execute(_NODE_ID[self.dialect].format(props=""), (key,))
            found = cur.fetchone()
            if found is None:
                raise NotFound(f"no node with key '{key}'")
            cur.execute(_NEIGHBOURS[self.dialect], (found[0], found[0]))
            for kind, props, nkey, nkind, name, outgoing in cur.fetchall():
                ref = NodeRef(nkey, NodeKind(nkind), name)
                src, dst = (key, ref.key) if outgoing else (ref.key, key)
                result.append((EdgeSpec(src=src, dst=dst, kind=EdgeKind(kind),
                                        properties=_loaded(props) or {}), ref))
        result.sort(key=lambda pair: (pair[0].kind.value, pair[1].key))
        return result

    def _closure(self, start: NodeRef, direction: Direction, max_depth: int,
                 skip_deleted: bool = False) -> Closure:
        walk = self._walk_levels(start, direction, max_depth, detail=False,
                                 skip_deleted=skip_deleted)
        return Closure(Reached(start, 0), direction, max_depth, table=walk.table,
                       truncated=walk.table.truncated)

    def _subgraph(self, start: NodeRef, direction: Direction, max_depth: int,
                  skip_deleted: bool = False) -> Subgraph:
        walk = self._walk_levels(start, direction, max_depth, detail=True,
                                 skip_deleted=skip_deleted)
        closure = Closure(Reached(start, 0), direction, max_depth, table=walk.table,
                          truncated=walk.table.truncated)
        return Subgraph(closure, walk.properties, walk.edges)

    def _walk_levels(self, start: NodeRef, direction: Direction, max_depth: int,
                     detail: bool, skip_deleted: bool = False) -> _Walk:
        near, far = ("src", "dst") if direction == "downstream" else ("dst", "src")
        sqlite = self.dialect == "sqlite"
        lifecycle = _WALK_LIFECYCLE[self.dialect]
        edge_sql = _LEVEL_EDGES[self.dialect].format(
            near=near, far=far, props=", e.properties" if detail else "",
            node_props=", n.properties" if detail else "",
            lifecycle=lifecycle.format(t="n.") if skip_deleted else "")
        node_sql = _LEVEL_NODES[self.dialect].format(
            props=", properties" if detail else "",
            lifecycle=lifecycle.format(t="") if skip_deleted else "")

        def param(ids: list[int]) -> tuple[Any]:
            return (_list_param(sqlite, ids),)

        paused = gc.isenabled()
        gc.disable()  # 10^5-10^6 tuples per hub walk: collections would rescan them all
        helper = _Helper(self.engine.raw_connection) if self.dialect == "postgresql" else None
        try:
            with self._cursor(snapshot=True) as cur:
                first = None
                dataset_rows: list[tuple[Any, ...]] = []
                if self.dialect == "postgresql" and not detail:
                    from .consumers import NUMPY_FIELDS

                    levels, wide = min(_PG_FIRST_LEVELS, max_depth), _WIDE_FRONTIER
                    # impact()'s walk (deleted nodes cut, downstream) does its dataset pass
                    passed = skip_deleted and direction == "downstream"
                    cur.execute(_pg_first_levels(near, far, skip_deleted, levels, passed,
                                                 _PG_FANOUT_LEVELS),
                                {"key": start.key, "wide": wide, "fields": NUMPY_FIELDS,
                                 "fanout": _PG_FANOUT})
                    rows = cur.fetchall()
                    at = next((i for i, r in enumerate(rows) if r[0] >= 0), len(rows))
                    rows, dataset_rows = rows[at:], rows[:at]
                    fanned = [r[1] for r in dataset_rows if r[0] == -5]
                    dataset_rows = [r for r in dataset_rows if r[0] != -5]
                    if not rows:  # deleted since it was resolved
                        raise NotFound(f"no node with key '{start.key}'")
                    first = _first_levels(rows, levels, wide, min(fanned, default=None))
                    found = rows[0][1:2]
                if first is None:
                    cur.execute(_NODE_ID[self.dialect].format(
                        props=", properties" if detail else ""), (start.key,))
                    found = cur.fetchone()
                    if found is None:  # deleted since it was resolved
                        raise NotFound(f"no node with key '{start.key}'")
                walk = _walk(cur, edge_sql, node_sql, param, start, found, max_depth,
                             detail, direction, self.dialect, skip_deleted, first, helper)
                if first is not None and dataset_rows and dataset_rows[0][0] == -4:
                    from .consumers import WALK_DATASET_ROWS

                    walk.table.derived[WALK_DATASET_ROWS] = dataset_rows[1:]
                return walk
        finally:
            if helper is not None:
                helper.close()
            if paused:
                gc.enable()

    def _adjacent(self, keys: list[str], direction: Direction, kinds: list[EdgeKind]
                  ) -> list[tuple[str, EdgeKind, NodeRef]]:
        near, far = ("src", "dst") if direction == "downstream" else ("dst", "src")
        sqlite = self.dialect == "sqlite"
        kind_list = ", ".join(f"'{k.value}'" for k in kinds)  # enum values: no quoting issue
        sql = _ADJACENT[self.dialect].format(near=near, far=far, kinds=kind_list)
        # members by value through a dict: `EdgeKind(kind)` costs ~1 us a row (a hub's
        # fields' datasets: 10^5 rows)
        edge_kinds, node_kinds = _EDGE_KINDS, _NODE_KINDS
        found = []
        with self._cursor() as cur:
            for chunk in _chunks(keys, 10_000):
                cur.execute(sql, (_list_param(sqlite, chunk),))
                found += [(key, edge_kinds[kind], NodeRef(fkey, node_kinds[fkind], fname))
                          for key, kind, fkey, fkind, fname in cur.fetchall()]
        return found

    def _edges_among(self, keys: set[str]) -> list[EdgeSpec]:
        # through the DBAPI, as `_nodes`: the ids of the keys, then the edges leaving them
        sqlite = self.dialect == "sqlite"
        by_id: dict[int, str] = {}
        result = []
        with self._cursor(snapshot=True) as cur:
            for chunk in _chunks(keys, 10_000):
                cur.execute(_NODE_IDS_OF[self.dialect], (_list_param(sqlite, chunk),))
                by_id.update({i: k for k, i in cur.fetchall()})
            for ids in _chunks(list(by_id), 10_000):
                cur.execute(_EDGES_FROM[self.dialect], (_list_param(sqlite, ids),))
                for src, dst, kind, props in cur.fetchall():
                    if dst in by_id:
                        result.append(EdgeSpec(src=by_id[src], dst=by_id[dst],
                                               kind=EdgeKind(kind),
                                               properties=_loaded(props) or {}))
        return result

    def _schema(self, version_key: str) -> list[FieldSchema]:
        with self._cursor() as cur:
            cur.execute(_SCHEMA[self.dialect], (version_key,))
            return [FieldSchema(name=name, type=type_, nullable=bool(nullable),
                                description=description, allowed_values=_loaded(allowed))
                    for name, type_, nullable, description, allowed in cur.fetchall()]

    def _stats(self) -> dict[str, int]:
        with self._cursor(snapshot=True) as cur:  # one snapshot for both counts
            cur.execute("SELECT kind, count(*) FROM node GROUP BY kind")
            counts = {k: int(n) for k, n in cur.fetchall()}
            cur.execute("SELECT count(*) FROM edge")
            counts["edges"] = int(cur.fetchone()[0] or 0)
        return counts


@dataclass(slots=True)
class _Walk:
    table: WalkTable
    properties: dict[str, dict[str, Any]]
    edges: list[SubgraphEdge]


class _Properties:
    """Parses JSON property columns read through the DBAPI (text on SQLite, already parsed on
    PostgreSQL), each distinct text once: a region's properties repeat (`{}`,
    `{"transformation": "identity"}`, ...). Every caller gets its own (shallow) copy."""

    def __init__(self) -> None:
        self.parsed: dict[str, dict[str, Any]] = {}

    def __call__(self, value: Any) -> dict[str, Any]:
        if value is None or value == "{}":
            return {}
        if isinstance(value, dict):
            return value
        found = self.parsed.get(value)
        if found is None:
            found = self.parsed[value] = dict(json.loads(value))
        return found.copy()


@dataclass(slots=True)
class _FirstLevels:
    """A walk's first levels as `_pg_first_levels` read them, in `_walk`'s own state: the
    table's columns so far, the nodes met, and where the walk goes on (`frontier` at
    `depth`, its first row `base`; an empty frontier: the walk is complete)."""

    row_of: dict[int, int]
    cut: set[int]
    retired: dict[str, str]
    ids: list[int]
    keys: list[str]
    kinds: list[str]
    names: list[str]
    depths: list[int]
    parents: list[int]
    edge_kinds: list[str]
    frontier: list[int]
    base: int
    depth: int
    wide: bool = False  # the next level is read the wide way, however narrow the frontier


def _first_levels(rows: list[tuple[Any, ...]], levels: int, wide: int,
                  fanned: int | None = None) -> _FirstLevels | None:
    """`_pg_first_levels`' rows (the start first) as `_walk`'s state; None should a level's
    live keys not come in Python's order (the table's rows go by depth, then key: the walk
    is then read level by level instead). `fanned`: the level the statement left to the
    wide way for its many edges (its -5 row), if any."""
    start_id = rows[0][1]
    first = _FirstLevels({start_id: -1}, set(), {}, [], [], [], [], [], [], [], [], -1, 0)
    level_row = {0: -1}  # level -> its first row (-1: the start's level)
    live = {0: 1}
    previous: str | None = None
    for level, node_id, key, kind, name, state, parent, ekind in islice(rows, 1, None):
        if level not in level_row:
            level_row[level], live[level], previous = len(first.keys), 0, None
        if state is not None:
            first.retired[key] = state
            if state == "deleted":
                first.cut.add(node_id)
                continue
        if previous is not None and not previous < key:
            return None
        previous = key
        live[level] += 1
        first.row_of[node_id] = len(first.keys)
        first.ids.append(node_id)
        first.keys.append(key)
        first.kinds.append(kind)
        first.names.append(name)
        first.depths.append(level)
        first.parents.append(first.row_of[parent])  # a live node of the level before
        first.edge_kinds.append(ekind)
    last = max(level_row)
    # the walk goes on from the last level read if the statement stopped there: at its
    # level bound, at a frontier wide enough for the wide way, or before a level of many
    # edges; otherwise the level after it was read and held nothing new (or every node of
    # it is deleted): complete
    if live[last] and (last == levels or live[last] >= wide or fanned == last + 1):
        first.frontier = [start_id] if last == 0 else first.ids[level_row[last]:]
        first.base, first.depth = level_row[last], last
        first.wide = fanned == last + 1
    return first


def _walk(cur: Any, edge_sql: str, node_sql: str, param: Callable[[list[int]], tuple[Any]],
          start: NodeRef, start_row: tuple[Any, ...], max_depth: int, detail: bool,
          direction: Direction, dialect: str, skip_deleted: bool = False,
          first: _FirstLevels | None = None, helper: _Helper | None = None) -> _Walk:
    """Breadth-first from `start_id`, one level per pair of queries (see _LEVEL_EDGES), or
    on from the levels `first` already read (see _pg_first_levels).

    With `detail`, also the properties of every node and the edges among the reached nodes
    (edges leaving the deepest level included, so none between two reached nodes is missed).
    With `skip_deleted`, each node row ends with its `lifecycle` (see _WALK_LIFECYCLE): a
    deleted node is cut (kept in `cut`, never a row nor in the frontier).
    """
    start_id = start_row[0]
    if first is None:
        first = _FirstLevels({start_id: -1}, set(), {}, [], [], [], [], [], [], [],
                             [start_id], -1, 0)
    row_of = first.row_of  # node id -> row in the table (-1: the start)
    cut = first.cut  # deleted nodes met (skip_deleted)
    retired = first.retired
    ids = first.ids  # the rows' node ids, kept for follow-up queries on the closure
    keys, kinds, names = first.keys, first.kinds, first.names
    depths, parents, edge_kinds = first.depths, first.parents, first.edge_kinds
    properties: dict[str, dict[str, Any]] = {}
    _json = _Properties()
    traversed: list[tuple[int, int, str, Any]] = []  # (row of near end, far id, kind, props)
    frontier = first.frontier
    base = first.base  # row of the frontier's first node
    depth = first.depth
    wide: _Wide | None = None
    truncated = False
    while frontier:
        if depth == max_depth:
            # the edges leaving the deepest level: back into the region (kept with
            # `detail`), or out of it, which the bound cut (the answer must say so)
            cur.execute(edge_sql, param(frontier))
            seen = wide.seen if wide is not None else None  # wide levels mark ids there
            beyond = set()
            for r in cur.fetchall():
                if r[1] in row_of or (seen is not None and r[1] < len(seen) and seen[r[1]]):
                    if detail:
                        traversed.append((base + r[0], r[1], r[2], r[3]))
                elif r[1] not in cut:
                    beyond.add(r[1])
            if beyond and skip_deleted:  # a deleted node beyond the bound is no loss
                cur.execute(_DELETED_AMONG[dialect], param(sorted(beyond)))
                beyond -= {r[0] for r in cur.fetchall()}
            truncated = bool(beyond)
            break
        depth += 1
        level = len(keys)
        if wide is None and not detail and (len(frontier) >= _WIDE_FRONTIER or first.wide):
            wide = _Wide(cur, row_of, direction, skip_deleted, cut, dialect, helper)
        rows: list[tuple[Any, ...]] | None = None
        if wide is None and not detail and dialect == "sqlite":
            # a narrow frontier may open a wide level (a hub's first: one node, 10^4 edges):
            # past _WIDE_FRONTIER rows, the level is read again the wide way
            cur.execute(edge_sql, param(frontier))
            rows = cur.fetchmany(_WIDE_FRONTIER)
            if len(rows) == _WIDE_FRONTIER:
                wide = _Wide(cur, row_of, direction, skip_deleted, cut, dialect)
        if wide is not None:
            found = wide.level(frontier, retired)
            if found is None:
                break
            ranks, level_keys, level_kinds, level_names, level_edges, frontier = found
            ids += frontier
            keys += level_keys
            kinds += level_kinds
            names += level_names
            depths += [depth] * len(level_keys)
            parents += [-1] * len(ranks) if base < 0 else (ranks + base).tolist()
            edge_kinds += level_edges
            base = level
            continue
        if rows is None:
            cur.execute(edge_sql, param(frontier))
            rows = cur.fetchall()
        new: dict[int, tuple[Any, ...]] = {}
        for row in rows:
            far_id = row[1]
            if far_id not in row_of and far_id not in new and far_id not in cut:
                new[far_id] = row  # rows come by parent key, then kind: the first one wins
            if detail:
                traversed.append((base + row[0], far_id, row[2], row[3]))
        if not new:
            break
        reached: list[tuple[Any, ...]]
        if node_sql:
            cur.execute(node_sql, param(list(new)))
            reached = cur.fetchall()
        else:  # the edge rows carry their far node: (id, key, kind, name[, properties])
            at = 4 if detail else 3
            reached = sorted(((r[1], *r[at:]) for r in new.values()), key=lambda n: n[1])
        frontier = []
        for node in reached:
            node_id = node[0]
            if skip_deleted and node[-1] is not None:
                retired[node[1]] = node[-1]
                if node[-1] == "deleted":
                    cut.add(node_id)
                    continue
            rank, _, ekind = new[node_id][:3]
            row_of[node_id] = len(keys)
            ids.append(node_id)
            keys.append(node[1])
            kinds.append(node[2])
            names.append(node[3])
            depths.append(depth)
            parents.append(-1 if base < 0 else base + rank)
            edge_kinds.append(ekind)
            frontier.append(node_id)
            if detail:
                properties[node[1]] = _json(node[4])
        base = level
    table = WalkTable(keys, kinds, names, depths, parents, edge_kinds, ids=ids,
                      start_id=start_id, truncated=truncated,
                      retired={k: v for k, v in retired.items()
                               if v in ("deleted", "deprecated")})
    edges: list[SubgraphEdge] = []
    if detail:
        properties[start.key] = _json(start_row[1])
        kind_of = {k.value: k for k in EdgeKind}
        ordered = []
        for near_row, far_id, kind, props in traversed:
            far_row = row_of.get(far_id)
            if far_row is None:
                continue
            far_key = start.key if far_row < 0 else keys[far_row]
            ordered.append((near_row, kind, far_key, props))
        # the order `Store.subgraph` promises: near end's row, edge kind, far key (rows
        # come by near row and kind; within those, by the far node's id, which differs
        # between stores holding the same graph)
        ordered.sort(key=lambda t: t[:3])
        for near_row, kind, far_key, props in ordered:
            near_key = start.key if near_row < 0 else keys[near_row]
            src, dst = (near_key, far_key) if direction == "downstream" else (far_key, near_key)
            edges.append((src, dst, kind_of[kind], _json(props)))
    return _Walk(table, properties, edges)


# A wide level (a hub's: 10^4-10^5 frontier nodes): each query returns one row of aggregated
# columns (SQLite: comma-joined numbers and kinds parsed by numpy, keys and names as JSON arrays;
# PostgreSQL: arrays), instead of one Python tuple per edge and per node, which cost more
# than the database's work itself (on PostgreSQL, each edge row also carried its far node).
_WIDE_EDGES = {
    "sqlite": "SELECT group_concat(j.key), group_concat(e.{far}), group_concat(e.kind) "
              "FROM json_each(?) j JOIN edge e ON e.{near} = j.value",
    # PostgreSQL: arrays instead of joined text; LATERAL ... OFFSET 0 keeps the index
    # lookups (see _LEVEL_EDGES), whose order (by parent, then the edge key) the rows keep
    "postgresql": "SELECT array_agg(r), array_agg(far), array_agg(kind) FROM (SELECT "
                  "f.ord - 1 AS r, e.{far} AS far, {kind} AS kind FROM unnest(%s::bigint[]) "
                  "WITH ORDINALITY f(id, ord) CROSS JOIN LATERAL (SELECT {far}, kind FROM edge "
                  "WHERE edge.{near} = f.id OFFSET 0) e) t",
}
# (PostgreSQL) each edge's kind as a number, its length and first letter as
# `_edge_kind_table` reads them: a bigint array read straight into numpy, not a hub's 5*10^5
# strings sent, parsed and picked from one by one
_PG_KIND_CODE = "(length(e.kind) * 128 + ascii(e.kind))::bigint"
_EDGE_KIND_ORDER = {k: i for i, k in enumerate(sorted(k.value for k in EdgeKind))}
_EDGE_KINDS = {k.value: k for k in EdgeKind}
_NODE_KINDS = {k.value: k for k in NodeKind}
_WIDE_NODES = {
    # keys and names as JSON arrays: any text reads back as it is, and SQLite builds them
    # faster than group_concat (a hub's keys and names: 0.027 s less, json.loads 0.009 s
    # more than str.split)
    "sqlite": "SELECT count(*), group_concat(n.id), json_group_array(n.key), "
              "group_concat(n.kind), json_group_array(n.name){lifecycle} "
              "FROM json_each(?) j JOIN node n ON n.id = j.value",
    "postgresql": "SELECT count(*), array_agg(n.id), array_agg(n.key), array_agg(n.kind), "
                  "array_agg(n.name){lifecycle} FROM unnest(%s::bigint[]) f(id) CROSS JOIN "
                  "LATERAL (SELECT * FROM node WHERE node.id = f.id OFFSET 0) n",
}
# (skip_deleted) `id:state` of the level's retired nodes only (SQLite's group_concat skips
# NULLs; PostgreSQL's array_agg is filtered: an array of the level's 10^4 NULLs cost the
# server its building and the client its parsing; NULL when there are none)
_WIDE_LIFECYCLE = {
    "sqlite": ", group_concat(CASE WHEN instr(n.properties, 'lifecycle') > 0 AND "
              "json_extract(n.properties, '$.lifecycle') IN ('deleted', 'deprecated') "
              "THEN n.id || ':' || json_extract(n.properties, '$.lifecycle') END)",
    "postgresql": ", array_agg(n.id || ':' || (n.properties->>'lifecycle')) FILTER (WHERE "
                  "strpos(n.properties::text, 'lifecycle') > 0 AND "
                  "n.properties->>'lifecycle' IN ('deleted', 'deprecated'))",
}
#: a frontier this large is walked the wide way
_WIDE_FRONTIER = 2000

#: levels a PostgreSQL walk reads in its first statement (see `_pg_first_levels`)
_PG_FIRST_LEVELS = 8
#: a level with this many edges or more is left out of that statement (read the wide way),
#: checked for its first _PG_FANOUT_LEVELS levels: a hub is a start with 10^4 edges (the
#: check on all 8 levels cost a typical impact() ~0.2 ms of the server's ~1.2)
_PG_FANOUT = 5000
_PG_FANOUT_LEVELS = 1


@functools.cache
def _pg_first_levels(near: str, far: str, skip_deleted: bool, levels: int,
                     datasets: bool = False, fanned: int = 0) -> str:
    """One statement for the start (found by key) and a walk's first `levels` levels, each
    level a pair of CTEs that do what one round trip of `_walk` does: the edges out of the
    previous level's live nodes (by the parent's key, then edge kind: the first row reaching
    a node not met before wins), then the new nodes. A level is only read while the
    previous one has fewer than `%(wide)s` live nodes (_WIDE_FRONTIER: the walk goes on
    the wide way from there) and fewer than `%(fanout)s` edges leave them (_PG_FANOUT: a
    hub's first level, one node and 22,047 edges at 10^6 nodes, cost the client ~0.1 s
    as rows; a row (-5, the level) says the level was left to the wide way), the latter
    checked for the first `fanned` levels only (_PG_FANOUT_LEVELS). Rows:
    (level, id, key, kind, name, lifecycle, parent's id, edge kind), by level and key.
    A typical impact()'s walk was one round trip per level (7 at 10^6 nodes), each
    waiting on a busy server. Keys and kinds compare bytewise
    (COLLATE "C"), as Python compares them. (Numbering each level's nodes by key for
    their children's rows instead of naming the parent cost 0.5 ms of the server's 2.6.)

    With `datasets` (impact()'s walk), when the walk ends inside the statement with fewer
    than `%(fields)s` fields (consumers.NUMPY_FIELDS), the statement does its dataset pass
    too (consumers.PG_DATASET_CTES: rows of negative levels, and a row of level -4 saying
    it ran), which then needs no round trip of its own."""
    state = (_WALK_LIFECYCLE["postgresql"].format(t="")[2:] if skip_deleted
             else "NULL::text")
    ctes = ["l0 AS (SELECT id, key, kind, name, NULL::text AS state, NULL::bigint AS parent, "
            "NULL::text AS ekind, true AS live FROM node WHERE key = %(key)s)"]
    for k in range(1, levels + 1):
        unseen = " ".join(f"AND e.far NOT IN (SELECT id FROM l{j})" for j in range(k))
        if k > fanned:
            ctes.append(
                f"f{k} AS (SELECT DISTINCT ON (e.far) e.far AS id, p.id AS parent, "
                f"e.kind AS ekind FROM l{k - 1} p CROSS JOIN LATERAL (SELECT {far} AS far, "
                f"kind FROM edge WHERE edge.{near} = p.id OFFSET 0) e WHERE p.live AND "
                f"(SELECT count(*) FROM l{k - 1} WHERE live) < %(wide)s {unseen} "
                'ORDER BY e.far, p.key COLLATE "C", e.kind COLLATE "C")')
        else:
            # the level's edges, at most `fanout` of them: that many (a hub's one node and
            # its 10^4 edges) and the level is read the wide way instead (a -5 row says so)
            ctes.append(
                f"e{k} AS (SELECT p.id AS parent, p.key AS pkey, e.far, e.kind FROM l{k - 1} "
                f"p CROSS JOIN LATERAL (SELECT {far} AS far, kind FROM edge WHERE "
                f"edge.{near} = p.id OFFSET 0) e WHERE p.live AND (SELECT count(*) FROM "
                f"l{k - 1} WHERE live) < %(wide)s LIMIT %(fanout)s)")
            ctes.append(
                f"f{k} AS (SELECT DISTINCT ON (e.far) e.far AS id, e.parent, e.kind AS ekind "
                f"FROM e{k} e WHERE (SELECT count(*) FROM e{k}) < %(fanout)s {unseen} "
                'ORDER BY e.far, e.pkey COLLATE "C", e.kind COLLATE "C")')
        ctes.append(
            f"l{k} AS (SELECT n.id, n.key, n.kind, n.name, n.state, f.parent, f.ekind, "
            f"n.state IS DISTINCT FROM 'deleted' AS live FROM f{k} f CROSS JOIN LATERAL "
            f"(SELECT id, key, kind, name, {state} AS state FROM node WHERE node.id = f.id "
            "OFFSET 0) n)")
    rows = " UNION ALL ".join(f'SELECT {k} AS level, id, key COLLATE "C" AS key, kind, '
                              f"name, state, parent, ekind FROM l{k}"
                              for k in range(levels + 1))
    rows += "".join(f" UNION ALL SELECT -5, {k}, NULL, NULL, NULL, NULL, NULL, NULL WHERE "
                    f"(SELECT count(*) FROM e{k}) >= %(fanout)s"
                    for k in range(1, min(fanned, levels) + 1))
    if datasets:
        from .consumers import PG_DATASET_CTES, PG_DATASET_ROWS

        # complete: no level was cut short for a wide frontier, and the last one is empty
        complete = " AND ".join([f"(SELECT count(*) FROM l{k} WHERE live) < %(wide)s"
                                 for k in range(levels)]
                                + [f"(SELECT count(*) FROM e{k}) < %(fanout)s"
                                   for k in range(1, min(fanned, levels) + 1)]
                                + [f"NOT EXISTS (SELECT 1 FROM l{levels} WHERE live)"])
        walked = " UNION ALL ".join(f"SELECT {k} AS level, id, key, kind FROM l{k} "
                                    "WHERE live" for k in range(levels + 1))
        field = NodeKind.FIELD.value
        ctes += [f"wl AS ({walked})",
                 f"pass AS (SELECT 1 WHERE {complete} AND (SELECT count(*) FROM wl "
                 f"WHERE kind = '{field}') < %(fields)s)",
                 "wf AS (SELECT id, row_number() OVER (ORDER BY level, key COLLATE \"C\") - 1 "
                 f"AS at FROM wl WHERE kind = '{field}' AND EXISTS (SELECT 1 FROM pass))",
                 PG_DATASET_CTES.format(fields="wf")]
        rows += (" UNION ALL SELECT -4, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM pass "
                 "UNION ALL " + PG_DATASET_ROWS)
    return f"WITH {', '.join(ctes)} {rows} ORDER BY level, key"


@functools.cache
def _edge_kind_table() -> tuple[Any, Any] | None:
    """A wide level's edge kinds as numbers, read without splitting its 10^5 joined names:
    each kind is told by its length and first letter. (code -> index table, names by
    index); None if two kinds ever share both (then the names are split)."""
    return _kind_table(tuple(sorted(k.value for k in EdgeKind)))


@functools.cache
def _node_kind_table() -> tuple[Any, Any] | None:
    """`_edge_kind_table` for node kinds (a wide level's nodes)."""
    return _kind_table(tuple(sorted(k.value for k in NodeKind)))


def _kind_table(names: tuple[str, ...]) -> tuple[Any, Any] | None:
    import numpy as np

    table = np.full(64 * 128, -1, dtype=np.int64)
    for at, name in enumerate(names):
        code = len(name) * 128 + ord(name[0])
        if len(name) >= 64 or ord(name[0]) >= 128 or table[code] >= 0:
            return None
        table[code] = at
    return table, np.array(names, dtype=object)


def _edge_kind_indices(raw: np.ndarray) -> np.ndarray | None:
    """`_PG_KIND_CODE`'s numbers as indexes in `_edge_kind_table`'s names; None when one is
    not a vocabulary kind's."""
    table = _edge_kind_table()
    if table is None or not len(raw):
        return None if table is None else raw
    if int(raw.min()) < 0 or int(raw.max()) >= len(table[0]):
        return None
    found: np.ndarray = table[0][raw]
    return None if bool((found < 0).any()) else found


def _edge_kind_names(codes: np.ndarray) -> list[str]:
    table = _edge_kind_table()
    assert table is not None  # the codes come from it
    names: list[str] = table[1][codes].tolist()
    return names


def _node_kinds(text: str, count: int) -> list[str]:
    """`count` comma-joined node kinds as a list: the vocabulary's own strings, read by
    `_kind_codes` (no new string per node: a hub's 10^5), else split."""
    known = _node_kind_table()
    codes = _kind_codes(text, count, known)
    if codes is None or known is None:
        return text.split(",")
    names: list[str] = known[1][codes].tolist()
    return names


def _edge_kind_codes(text: str, count: int) -> np.ndarray | None:
    """The index (in `_edge_kind_table`'s names) of each of `count` comma-joined edge kinds;
    None when one is not a known kind's length and first letter, or the table cannot tell
    the kinds apart. (Only vocabulary kinds are ever stored: every write checks them.)"""
    return _kind_codes(text, count, _edge_kind_table())


def _kind_codes(text: str, count: int, known: tuple[Any, Any] | None) -> np.ndarray | None:
    import numpy as np

    if known is None or not text.isascii():
        return None
    chars = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    commas = np.flatnonzero(chars == 44)
    if len(commas) + 1 != count:
        return None
    starts = np.empty(count, dtype=np.int64)
    starts[0], starts[1:] = 0, commas + 1
    ends = np.empty(count, dtype=np.int64)
    ends[:-1], ends[-1] = commas, len(chars)
    lengths = ends - starts
    if int(lengths.max()) >= 64:
        return None
    found: np.ndarray = known[0][lengths * 128 + chars[starts]]
    return None if bool((found < 0).any()) else found


#: a PostgreSQL wide level with this many ids or more runs as two halves on two connections
_SPLIT_FROM = 16_000


class _Helper:
    """A second PostgreSQL connection for a wide walk, so one level's statement runs as two
    halves at once: the server runs each statement in one process (no parallel plan joins
    a parameter's ids to an index), and a hub's levels were most of its time."""

    def __init__(self, connect: Callable[[], Any]) -> None:
        self.connect = connect  # a pooled DBAPI connection (SQLAlchemy's raw_connection)
        self.raw: Any = None
        self.cur: Any = None
        self.pool: Any = None

    def halves(self, cur: Any, sql: str, ids: list[int]) -> list[tuple[Any, ...]]:
        """The one row of `sql` for each half of `ids` (the first half's first)."""
        half = len(ids) // 2
        found: list[tuple[Any, ...]] = self.both(
            cur, sql, (pgarray.array_param(ids[:half]),),
            (pgarray.array_param(ids[half:]),))
        return found

    def both(self, cur: Any, sql: str, first: tuple[Any, ...], second: tuple[Any, ...],
             rows: bool = False) -> list[Any]:
        """`sql` run with the parameters `first` on `cur` and with `second` on the second
        connection at once, in binary format: each one's row (`rows`: its list of rows),
        the first's first."""
        if self.cur is None:
            from concurrent.futures import ThreadPoolExecutor

            self.raw = self.connect()
            self.raw.driver_connection.autocommit = True  # as `_cursor`'s: no transaction
            self.cur = self.raw.cursor()
            self.pool = ThreadPoolExecutor(max_workers=1)
        other = self.cur

        def run(on: Any, params: tuple[Any, ...]) -> Any:
            on.execute(sql, params, binary=True)
            return on.fetchall() if rows else on.fetchone()

        future = self.pool.submit(run, other, second)
        try:
            found = run(cur, first)
        finally:
            later = future.result()
        return [found, later]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()
        if self.raw is not None:
            try:
                self.cur.close()
                if not self.raw.driver_connection.closed:
                    self.raw.driver_connection.autocommit = False
            finally:
                self.raw.close()  # back to the pool


def _joined_edges(halves: list[tuple[Any, ...]], offset: int, codes: bool = False
                  ) -> tuple[Any, Any, Any]:
    """The wide edge statement's row for the whole frontier from its two halves' rows (the
    second half's parent positions moved by the first half's length); `codes`: the kinds
    are numbers (an int64 array then), else names (a list)."""
    import numpy as np

    found = [(np.asarray(r, dtype=np.int64) + (at and offset), np.asarray(f, dtype=np.int64),
              np.asarray(k, dtype=np.int64) if codes else k)
             for at, (r, f, k) in enumerate(halves) if r is not None]
    if not found:
        return None, None, None
    kinds: Any = (np.concatenate([k for _, _, k in found]) if codes
                  else sum((list(k) for _, _, k in found[1:]), list(found[0][2])))
    return (np.concatenate([r for r, _, _ in found]), np.concatenate([f for _, f, _ in found]),
            kinds)


def _joined_nodes(halves: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    """The wide node statement's row for all ids from its two halves' rows."""
    import numpy as np

    found = [h for h in halves if h[0]]
    joined: list[Any] = [sum(h[0] for h in found),
                         np.concatenate([np.asarray(h[1], dtype=np.int64) for h in found])]
    for column in range(2, len(halves[0])):
        # list + list: one C copy (a comprehension over a hub's 10^5 keys cost ~25 ms)
        joined.append(sum((list(h[column] or ()) for h in found[1:]),
                          list(found[0][column] or ())) if found else [])
    return tuple(joined)


class _Wide:
    """The levels of a SQLite walk from the first wide frontier on; `seen` marks node ids."""

    def __init__(self, cur: Any, row_of: dict[int, int], direction: Direction,
                 skip_deleted: bool = False, cut: set[int] | None = None,
                 dialect: str = "sqlite", helper: _Helper | None = None) -> None:
        import numpy as np  # only a walk this wide pays for it

        self.cur = cur
        self.helper = helper
        near, far = ("src", "dst") if direction == "downstream" else ("dst", "src")
        self.edge_sql = _WIDE_EDGES[dialect].format(near=near, far=far, kind="e.kind")
        # PostgreSQL: the kinds as numbers when the vocabulary tells them apart that way
        self.edge_codes = dialect == "postgresql" and _edge_kind_table() is not None
        self.code_sql = _WIDE_EDGES[dialect].format(near=near, far=far, kind=_PG_KIND_CODE)
        self.node_sql = _WIDE_NODES[dialect].format(
            lifecycle=_WIDE_LIFECYCLE[dialect] if skip_deleted else "")
        self.skip_deleted = skip_deleted
        self.sqlite = dialect == "sqlite"
        # PostgreSQL: the aggregated columns in binary format, ids straight into numpy
        # (pgarray.register): parsing them as text cost more than the rest of the client
        self.binary: dict[str, bool] = {} if self.sqlite else {"binary": True}
        # (SQLite) the last level's ids as the JSON text the node query gave them in: the
        # next level's frontier when nothing reordered or dropped them (no json.dumps)
        self.frontier_text: tuple[list[int], str] | None = None
        top = cur.execute("SELECT max(id) FROM node").fetchone()[0] or 0
        self.seen = np.zeros(top + 1, dtype=bool)
        self.seen[list(row_of)] = True
        if cut:
            self.seen[list(cut)] = True

    def level(self, frontier: list[int], retired: dict[str, str] | None = None
              ) -> tuple[np.ndarray, list[str], list[str], list[str], list[str],
                         list[int]] | None:
        """(parent rank, key, kind, name, edge kind) of the nodes first reached from
        `frontier`, in key order, and their ids (the next frontier); None when none.
        With `skip_deleted`, deleted nodes are left out (marked seen: never reached), and
        the state of the deleted and deprecated ones goes into `retired` by key."""
        import numpy as np

        known = self.frontier_text
        param = known[1] if known is not None and known[0] is frontier else _list_param(
            self.sqlite, frontier)
        edge_sql = self.code_sql if self.edge_codes else self.edge_sql
        if self.helper is not None and len(frontier) >= _SPLIT_FROM:
            halves = self.helper.halves(self.cur, edge_sql, frontier)
            rank_text, far_text, kind_text = _joined_edges(halves, len(frontier) // 2,
                                                           self.edge_codes)
        else:
            self.cur.execute(edge_sql, (param,), **self.binary)
            rank_text, far_text, kind_text = self.cur.fetchone()
        if rank_text is None:
            return None
        codes: np.ndarray | None = None
        edge_kinds: list[str] = []
        if self.sqlite:
            rank = np.fromstring(rank_text, dtype=np.int64, sep=",")
            far = np.fromstring(far_text, dtype=np.int64, sep=",")
            codes = _edge_kind_codes(kind_text, len(far))
            if codes is None:
                edge_kinds = kind_text.split(",")
        else:  # arrays
            rank = np.array(rank_text, dtype=np.int64)
            far = np.array(far_text, dtype=np.int64)
            if self.edge_codes:
                codes = _edge_kind_indices(np.asarray(kind_text, dtype=np.int64))
                if codes is None:  # not a vocabulary kind (cannot be): read the names
                    self.cur.execute(self.edge_sql, (param,), **self.binary)
                    rank_text, far_text, kind_text = self.cur.fetchone()
                    rank = np.array(rank_text, dtype=np.int64)
                    far = np.array(far_text, dtype=np.int64)
            if codes is None:
                edge_kinds = list(kind_text)
        # Rows arrive as the nested loop makes them: by frontier position (parent key), then
        # by the edge key (far end, kind). Then a node's first row is its chosen parent and
        # edge; checked, and sorted explicitly should a plan ever differ.
        step, far_step = np.diff(rank), np.diff(far)
        # parallel edges (one parent, one far node, several kinds) must come by kind too: a
        # table scan instead of the key's index (a small table) returns them as stored
        ties = np.flatnonzero((step == 0) & (far_step == 0))
        tie_order = True
        if len(ties):  # the codes are the kinds' ranks in _EDGE_KIND_ORDER
            ranked = codes if codes is not None else np.array(
                [_EDGE_KIND_ORDER[k] for k in edge_kinds])
            tie_order = bool(np.all(ranked[ties] <= ranked[ties + 1]))
        if not tie_order or not bool(np.all((step > 0) | ((step == 0) & (far_step >= 0)))):
            if codes is not None:  # back to one name per row
                edge_kinds, codes = _edge_kind_names(codes), None
            order = np.lexsort((np.array([_EDGE_KIND_ORDER[k] for k in edge_kinds]), far,
                                rank))
            rank, far = rank[order], far[order]
            edge_kinds = [edge_kinds[i] for i in order.tolist()]
        top = int(far.max())
        if top >= len(self.seen):  # written since the walk began: cannot be; be safe
            self.seen = np.concatenate([self.seen, np.zeros(top + 1 - len(self.seen),
                                                            dtype=bool)])
        # the rows of nodes not seen before, then each one's first: whether a node is seen
        # depends on its id only, so its first row among these is its first row of all (and
        # the sort behind `unique` skips the level's edges back into the walk)
        fresh = np.flatnonzero(~self.seen[far])
        if not len(fresh):
            return None
        ids, first = np.unique(far[fresh], return_index=True)
        first = fresh[first]
        self.seen[ids] = True
        if self.helper is not None and len(ids) >= _SPLIT_FROM:  # PostgreSQL only
            count, id_text, key_text, kind_text, name_text, *state = _joined_nodes(
                self.helper.halves(self.cur, self.node_sql, ids.tolist()))
        else:
            self.cur.execute(self.node_sql, (_id_text(ids) if self.sqlite else _list_param(
                False, ids.tolist()),), **self.binary)
            count, id_text, key_text, kind_text, name_text, *state = self.cur.fetchone()
        in_sent_order = False
        if not self.sqlite:  # arrays: no separator to split on
            node_ids, keys, kinds, names = np.asarray(id_text).tolist(), key_text, kind_text, \
                name_text
            state = [",".join(state[0])] if state and state[0] else []
        else:
            sent = np.fromstring(id_text, dtype=np.int64, sep=",")
            # the nested loop keeps the order the ids were sent in (then each node's first
            # row is `first` as it is: no search)
            in_sent_order = np.array_equal(sent, ids)
            node_ids = sent.tolist()
            keys = json.loads(key_text)
            kinds = _node_kinds(kind_text, count)
            names = json.loads(name_text)
        if self.sqlite and not len(node_ids) == len(keys) == len(kinds) == len(names) == count:
            # cannot be (a kind is a vocabulary word); be safe: read this level row by row
            self.cur.execute("SELECT n.id, n.key, n.kind, n.name FROM json_each(?) j "
                             "JOIN node n ON n.id = j.value", (json.dumps(ids.tolist()),))
            node_ids, keys, kinds, names = (list(c) for c in zip(*self.cur.fetchall(),
                                                                  strict=True))
            id_text, in_sent_order = None, False
        states = dict(item.split(":", 1) for item in state[0].split(",")) \
            if state and state[0] else {}
        if states:
            # a deleted node is neither reached nor walked through (seen stays set)
            where = {str(node_id): at for at, node_id in enumerate(node_ids)}
            for node_id, value in states.items():
                if retired is not None and node_id in where:
                    retired[keys[where[node_id]]] = value
            kept = [at for at, node_id in enumerate(node_ids)
                    if states.get(str(node_id)) != "deleted"]
            if not kept:
                return None
            node_ids = [node_ids[at] for at in kept]
            keys, kinds, names = ([c[at] for at in kept] for c in (keys, kinds, names))
            in_sent_order = False
        in_order = not states and id_text is not None
        if any(map(operator.gt, keys, islice(keys, 1, None))):
            # ids not in key order (a bulk load gives them in key order: kept as they come)
            by_key = sorted(range(len(keys)), key=keys.__getitem__)
            keys, kinds, names = ([c[i] for i in by_key] for c in (keys, kinds, names))
            node_ids = [node_ids[i] for i in by_key]
            in_order = in_sent_order = False
        if self.sqlite and in_order:
            self.frontier_text = (node_ids, "[" + id_text + "]")
        won = first if in_sent_order else first[np.searchsorted(
            ids, np.array(node_ids, dtype=np.int64))]
        picked = _edge_kind_names(codes[won]) if codes is not None else [
            edge_kinds[i] for i in won.tolist()]
        return rank[won], keys, kinds, names, picked, node_ids


def _merge_nodes(batch: GraphBatch, stored: dict[str, tuple[Any, ...]],
                 merge: MergeProperties | None
                 ) -> tuple[list[tuple[NodeSpec | NodeRecord, str]],
                            list[tuple[int, NodeSpec | NodeRecord, str]], int]:
    """Each node of `batch` against its stored row (`stored` by key: id, key, name,
    namespace, properties as the driver gives them), merged by `merge` when given:
    (new: (spec, properties text), changed: (stored id, spec, properties text), how many
    are unchanged). Both backends' apply share it; only their statements' row shapes
    differ."""
    new: list[tuple[NodeSpec | NodeRecord, str]] = []
    changed: list[tuple[int, NodeSpec | NodeRecord, str]] = []
    unchanged = 0
    for spec in batch.nodes.values():
        row = stored.get(spec.key)
        old = _loaded(row[4]) if row is not None else None
        given = spec.properties
        if merge is not None:
            given = merge(spec.key, old if old is not None else {}, given)
        # Most nodes of an ingest are unchanged: equal before `_canonical` means equal
        # after it (it only turns tuples, str subclasses and the like into what JSON
        # reads back, and none of those equals what JSON gave), so skip its walk then.
        if row is not None and old == given and (row[2], row[3]) == (spec.name,
                                                                      spec.namespace):
            unchanged += 1
            continue
        props = _canonical(given)
        if row is None:
            new.append((spec, _json_text(props)))
        elif (row[2], row[3], old) != (spec.name, spec.namespace, props):
            changed.append((row[0], spec, _json_text(props)))
        else:
            unchanged += 1
    return new, changed, unchanged


def _apply_rows(cur: Any, sql: _ApplySql, sqlite: bool, batch: GraphBatch,
                merge: MergeProperties | None,
                merge_edges: MergeEdgeProperties | None = None) -> ApplyResult:
    """`Store.apply`'s writes as plain DBAPI statements on `cur`, rows as tuples."""
    # PostgreSQL plans each read for its own parameters (an unnamed statement): psycopg
    # prepares a statement run five times, and the server then kept the generic plan it made
    # while the store was small, a Seq Scan on node that grew with every write (1 ms at
    # 2,300 nodes). Planning these anew costs ~0.05 ms.
    read = cur.execute if sqlite else functools.partial(cur.execute, prepare=False)
    now = sql.stamp(_now())
    counts = dict(nodes_created=0, nodes_updated=0, edges_created=0, edges_updated=0,
                  schemas_written=0, unchanged=0, edges_removed=0)
    stored: dict[str, tuple[Any, ...]] = {}
    for chunk in _chunks(list(batch.nodes), _IN_CHUNK):
        read(sql.node_rows, (_list_param(sqlite, chunk),))
        for row in cur.fetchall():
            stored[row[1]] = row
    new_nodes, changed_nodes, counts["unchanged"] = _merge_nodes(batch, stored, merge)
    inserts = [(spec.key, tail(spec.key)[::-1], spec.kind.value, spec.name, spec.namespace,
                text, now, now) for spec, text in new_nodes]
    updates = [(spec.name, spec.namespace, text, now, node_id)
               for node_id, spec, text in changed_nodes]
    if inserts:
        cur.executemany(sql.node_insert, inserts)
    if updates:
        cur.executemany(sql.node_update, updates)
    counts["nodes_created"], counts["nodes_updated"] = len(inserts), len(updates)

    # read only now: a merge callback may have added to it
    removed = set(batch.removed_edges)
    needed = {k for e in batch.edges.values() for k in (e.src, e.dst)} | set(batch.schemas)
    needed |= {k for src, dst, _ in removed for k in (src, dst)}
    # the ids read with the nodes stand (a key is never re-numbered); only new nodes' and
    # the endpoints outside the batch are looked up
    ids: dict[str, int] = {key: row[0] for key, row in stored.items()}
    for chunk in _chunks(needed - ids.keys(), _IN_CHUNK):
        read(sql.node_ids, (_list_param(sqlite, chunk),))
        ids.update(cur.fetchall())

    if removed:
        gone = [(ids[src], ids[dst], kind) for src, dst, kind in removed
                if src in ids and dst in ids]
        for gone_ident in gone:
            cur.execute(sql.edge_delete, gone_ident)
            counts["edges_removed"] += max(cur.rowcount, 0)
    written: dict[tuple[int, int, str], Any] = {}
    for e in batch.edges.values():
        kind = e.kind.value
        if (e.src, e.dst, kind) not in removed:
            written[(ids[e.src], ids[e.dst], kind)] = e
    if written:
        edges: dict[tuple[int, int, str], Any] = {}
        for idents in _chunks(written, _IN_CHUNK):
            read(sql.edge_rows, (json.dumps(idents),))
            for s, d, k, p in cur.fetchall():
                edges[(s, d, k)] = _loaded(p)
        new: list[tuple[int, int, str, str]] = []
        changed: list[tuple[str, int, int, str]] = []
        for edge_id, e in written.items():
            old_props = edges.get(edge_id)
            given = e.properties if merge_edges is None else merge_edges(
                (e.src, e.dst, edge_id[2]), old_props or {}, e.properties)
            # equal before `_canonical` means equal after it (see _merge_nodes): most
            # edges of an ingest are stored unchanged, so their walk and dump are skipped
            if old_props is not None and old_props == given:
                continue
            props = _canonical(given)
            if old_props is None:
                new.append((*edge_id, _json_text(props)))
            elif old_props != props:
                changed.append((_json_text(props), *edge_id))
        if new:
            cur.executemany(sql.edge_insert, new)
        if changed:
            cur.executemany(sql.edge_update, changed)
        counts["edges_created"] += len(new)
        counts["edges_updated"] += len(changed)
        counts["unchanged"] += len(written) - len(new) - len(changed)

    for version_key, fields in batch.schemas.items():
        version_id = ids[version_key]
        given_fields = [(f.name, f.type, f.nullable, f.description, f.allowed_values)
                        for f in fields]
        read(sql.schema_rows, (version_id,))
        old_fields = [(n, t, bool(nl), d, _loaded(a)) for n, t, nl, d, a in cur.fetchall()]
        if old_fields == given_fields:
            counts["unchanged"] += 1
            continue
        cur.execute(sql.schema_delete, (version_id,))
        if given_fields:
            cur.executemany(sql.schema_insert, [
                (version_id, i, n, t, nl, d, json.dumps(a))
                for i, (n, t, nl, d, a) in enumerate(given_fields)])
        counts["schemas_written"] += 1
    return ApplyResult(**counts)


# PostgreSQL's `apply` in three round trips whatever the batch: one pipeline that takes the
# advisory locks and reads the nodes, edges and schema snapshots concerned (by key, so
# nothing waits for an id), one pipeline of set-based writes (a statement per kind of write),
# and the commit. Each round trip to a busy server waits for its process to be scheduled:
# ~16 round trips of one statement each cost more than the statements.
# Rows go as one JSON array of arrays per statement (`jsonb_array_elements`, `r ->> i`), not
# an array per column: psycopg dumps a list into an array in Python, element by element
# (~1 ms of client CPU for 15 rows of 6 columns), json.dumps does it in C; and the server
# reads jsonb faster than text arrays (0.17 against 0.31 ms), json slower (`->>` on json
# parses the row's text again for each column).
# Nodes and edges are matched by key through index probes (LATERAL ... OFFSET 0): as plain
# joins the planner may hash a whole table while it is small (see edge_rows above).
# Properties are read as text: `_loaded` skips the parse of "{}" and the driver's own
# JSON loader (bytes, encoding detection) is not run.
# These statements are prepared (psycopg does so once one has run five times), and
# PostgreSQL then keeps one generic plan for each: no parse, analysis or planning per call,
# ~40% of the server's CPU for a one-event transaction. But a generic plan is made once,
# and made while the store was small it held a Seq Scan on node that then grew with every
# write (1 ms at 2,300 nodes). Every table these statements read is reached by a unique
# key or a primary key, so with sequential scans off for the apply (a cost penalty, not a
# ban) each plan probes the indexes, whatever the tables' sizes when it was made. The
# previous setting is given back once the apply's statements are sent.
_PG_PLANS = ("SELECT current_setting('enable_seqscan'), "
             "set_config('enable_seqscan', 'off', true)")
_PG_PLANS_DONE = "SELECT set_config('enable_seqscan', %s, true)"
_PG_LOCKS = ("SELECT count(pg_advisory_xact_lock(n::bigint)) "
             "FROM jsonb_array_elements_text(%s::jsonb) AS t(n)")
# A merging write locks each node it merges, unless it merges more than PG_NODE_LOCKS_MAX:
# the server's lock table holds max_locks_per_transaction x max_connections entries for
# all its sessions (6,400 by default), which a dbt project's first import (15,000 nodes)
# overflowed ("out of shared memory"). Such a write takes the store's lock (its schema's)
# exclusively instead; every other merging write holds that lock shared before its
# per-node locks (the target list is evaluated in order), so the two kinds exclude each
# other and neither waits on the other while holding a lock it waits for.
_PG_STORE_LOCK = "hashtext('lineage'), hashtext(current_schema())"
# with the plans' settings in one statement (a statement costs ~0.04 ms of the client's
# CPU and ~0.03 of the server's; a transaction of two events costs ~2.5 ms in all)
_PG_PLANS_LOCKED = (_PG_PLANS + f", pg_advisory_xact_lock_shared({_PG_STORE_LOCK}), ("
                    + _PG_LOCKS + ")")
_PG_PLANS_STORE_LOCKED = _PG_PLANS + f", pg_advisory_xact_lock({_PG_STORE_LOCK})"
_PG_NODE_ROWS = (
    "SELECT n.id, n.key, n.name, n.namespace, n.properties::text "
    "FROM jsonb_array_elements_text(%s::jsonb) AS x(k) "
    "CROSS JOIN LATERAL (SELECT id, key, name, namespace, properties FROM node "
    "WHERE key = x.k OFFSET 0) n")
_PG_EDGE_ROWS = (
    "SELECT r ->> 0, r ->> 1, r ->> 2, e.properties::text "
    "FROM jsonb_array_elements(%s::jsonb) AS r "
    "CROSS JOIN LATERAL (SELECT id FROM node WHERE key = r ->> 0 OFFSET 0) ns "
    "CROSS JOIN LATERAL (SELECT id FROM node WHERE key = r ->> 1 OFFSET 0) nd "
    "CROSS JOIN LATERAL (SELECT properties FROM edge WHERE src = ns.id AND dst = nd.id "
    "AND kind = r ->> 2 OFFSET 0) e")
_PG_SCHEMA_ROWS = (
    "SELECT x.v, f.name, f.type, f.nullable, f.description, f.allowed_values::text "
    "FROM jsonb_array_elements_text(%s::jsonb) WITH ORDINALITY AS x(v, o) "
    "CROSS JOIN LATERAL (SELECT id FROM node WHERE key = x.v OFFSET 0) n "
    "JOIN schema_field f ON f.version_id = n.id ORDER BY x.o, f.position")
# The stored nodes whose key ends with each runId (`_SUFFIX` for many suffixes at once:
# a range of the reversed tails, then the key's end), for `Store.apply`'s `run_ids`.
_PG_SUFFIX_ROWS = (
    "SELECT x.r ->> 0, n.key, n.kind, n.name FROM jsonb_array_elements(%s::jsonb) AS x(r) "
    "CROSS JOIN LATERAL (SELECT key, kind, name FROM node WHERE rtail >= x.r ->> 1 "
    "AND rtail < x.r ->> 2 AND substr(key, length(key) - length(x.r ->> 0) + 1) = x.r ->> 0 "
    "OFFSET 0) n")
_PG_NODE_INSERT = (
    "INSERT INTO node (key, rtail, kind, name, namespace, properties, created_at, updated_at) "
    "SELECT r ->> 0, r ->> 1, r ->> 2, r ->> 3, r ->> 4, (r ->> 5)::json, %s, %s "
    "FROM jsonb_array_elements(%s::jsonb) AS r")
# The statements that join the rows to a table, not through LATERAL probes, take them
# through LIMIT with their count: the planner then knows how many there are (it takes 100
# for a set-returning function) and probes the index instead of hashing the whole table.
_PG_SET = "(SELECT value AS r FROM jsonb_array_elements(%s::jsonb) LIMIT %s) AS x"
_PG_NODE_UPDATE = (
    "UPDATE node SET name = x.r ->> 1, namespace = x.r ->> 2, "
    "properties = (x.r ->> 3)::json, updated_at = %s FROM " + _PG_SET + " "
    "WHERE node.id = (x.r ->> 0)::bigint")
_PG_EDGE_DELETE = (
    "WITH gone AS (DELETE FROM edge USING " + _PG_SET + ", node ns, node nd "
    "WHERE ns.key = x.r ->> 0 AND nd.key = x.r ->> 1 AND edge.src = ns.id "
    "AND edge.dst = nd.id AND edge.kind = x.r ->> 2 RETURNING 1) SELECT count(*) FROM gone")
_PG_EDGE_INSERT = (
    "INSERT INTO edge (src, dst, kind, properties) "
    "SELECT ns.id, nd.id, r ->> 2, (r ->> 3)::json FROM jsonb_array_elements(%s::jsonb) AS r "
    "CROSS JOIN LATERAL (SELECT id FROM node WHERE key = r ->> 0 OFFSET 0) ns "
    "CROSS JOIN LATERAL (SELECT id FROM node WHERE key = r ->> 1 OFFSET 0) nd")
_PG_EDGE_UPDATE = (
    "UPDATE edge SET properties = (x.r ->> 3)::json FROM " + _PG_SET + " "
    "WHERE edge.src = (x.r ->> 0)::bigint AND edge.dst = (x.r ->> 1)::bigint "
    "AND edge.kind = x.r ->> 2")
_PG_SCHEMA_DELETE = ("DELETE FROM schema_field USING " + _PG_SET + " "
                     "WHERE schema_field.version_id = (x.r #>> '{}')::bigint")
_PG_SCHEMA_INSERT = (
    "INSERT INTO schema_field (version_id, position, name, type, nullable, description, "
    "allowed_values) SELECT n.id, (r ->> 1)::int, r ->> 2, r ->> 3, (r ->> 4)::bool, r ->> 5, "
    "(r ->> 6)::json FROM jsonb_array_elements(%s::jsonb) AS r "
    "CROSS JOIN LATERAL (SELECT id FROM node WHERE key = r ->> 0 OFFSET 0) n")


def _pg_rows(rows: Iterable[Any]) -> str:
    """One statement's rows as the JSON parameter its `jsonb_array_elements` reads."""
    return json.dumps(rows if isinstance(rows, list) else list(rows), ensure_ascii=False)


def _pg_set(rows: list[Any]) -> tuple[str, int]:
    """The two parameters of `_PG_SET`: the rows and their count."""
    return _pg_rows(rows), len(rows)


def _apply_rows_pg(driver: Any, batch: GraphBatch, merge: MergeProperties | None,
                   merge_edges: MergeEdgeProperties | None, lock: bool,
                   trailing: Callable[[], list[tuple[str, tuple[Any, ...]]]] | None, *,
                   commit: bool = False, runs: tuple[list[str], OnRuns] | None = None
                   ) -> ApplyResult:
    """`_apply_rows` on PostgreSQL in two pipelines on the psycopg connection `driver`
    (inside the caller's transaction): the reads (with `runs`, the stored runs of its
    runIds too, handed to its callback before anything is written), then every write and
    the `trailing` statements (the audit rows of the transaction, rendered only then), and
    with `commit` the COMMIT too (the caller's commit then finds no transaction and sends
    nothing). An error in a pipeline leaves the transaction failed, for the caller to roll
    back. Same results as `_apply_rows`."""
    now = _now()
    counts = dict(nodes_created=0, nodes_updated=0, edges_created=0, edges_updated=0,
                  schemas_written=0, unchanged=0, edges_removed=0)
    edge_keys = [(e.src, e.dst, e.kind.value) for e in batch.edges.values()]
    wanted_keys = set(batch.nodes) | {k for s, d, _ in edge_keys for k in (s, d)}
    wanted_keys |= set(batch.schemas)
    # ---- the reads: one round trip
    node_cur, edge_cur, schema_cur = driver.cursor(), driver.cursor(), driver.cursor()
    plans_cur, runs_cur = driver.cursor(), driver.cursor()
    try:
        with driver.pipeline():
            # index probes in every plan (see _PG_PLANS), and the locks
            if not lock or not batch.nodes:
                plans_cur.execute(_PG_PLANS)
            elif len(batch.nodes) > PG_NODE_LOCKS_MAX:
                plans_cur.execute(_PG_PLANS_STORE_LOCKED)
            else:
                numbers = sorted({_lock_number(k) for k in batch.nodes})
                plans_cur.execute(_PG_PLANS_LOCKED, (_pg_rows(numbers),))
            node_cur.execute(_PG_NODE_ROWS, (_pg_rows(sorted(wanted_keys)),))
            if edge_keys:
                edge_cur.execute(_PG_EDGE_ROWS, (_pg_rows(edge_keys),))
            if batch.schemas:
                schema_cur.execute(_PG_SCHEMA_ROWS, (_pg_rows(batch.schemas),))
            if runs is not None and runs[0]:
                runs_cur.execute(_PG_SUFFIX_ROWS, (_pg_rows(
                    [(rid, low, low + "\U0010ffff")
                     for rid, low in ((r, tail(r)[::-1]) for r in runs[0])]),))
        seqscan = plans_cur.fetchone()[0]
        if runs is not None:
            suffixed: dict[str, list[tuple[str, str, str]]] = {rid: [] for rid in runs[0]}
            for rid, key, kind, name in (runs_cur.fetchall() if runs[0] else []):
                suffixed[rid].append((key, kind, name))
            runs[1]({rid: run_candidates(rid, rows) for rid, rows in suffixed.items()})
        stored = {row[1]: row for row in node_cur.fetchall()}
        old_edges = ({(s, d, k): _loaded(p) for s, d, k, p in edge_cur.fetchall()}
                     if edge_keys else {})
        old_schemas: dict[str, list[tuple[Any, ...]]] = {}
        if batch.schemas:
            for v, n, t, nl, d, a in schema_cur.fetchall():
                old_schemas.setdefault(v, []).append((n, t, bool(nl), d, _loaded(a)))
    finally:
        for cur in (node_cur, edge_cur, schema_cur, plans_cur, runs_cur):
            cur.close()

    # ---- merging, in Python
    new_nodes, changed_nodes, counts["unchanged"] = _merge_nodes(batch, stored, merge)
    inserts = [(spec.key, tail(spec.key)[::-1], spec.kind.value, spec.name, spec.namespace,
                text) for spec, text in new_nodes]
    updates = [(node_id, spec.name, spec.namespace, text)
               for node_id, spec, text in changed_nodes]
    counts["nodes_created"], counts["nodes_updated"] = len(inserts), len(updates)
    removed = set(batch.removed_edges)  # read only now: a merge callback may add to it
    ids = {key: row[0] for key, row in stored.items()}
    new_edges: list[tuple[str, str, str, str]] = []
    changed_edges: list[tuple[int, int, str, str]] = []
    for e in batch.edges.values():
        key = (e.src, e.dst, e.kind.value)
        if key in removed:
            continue
        old_props = old_edges.get(key)
        given = (e.properties if merge_edges is None
                 else merge_edges(key, old_props or {}, e.properties))
        if old_props is not None and old_props == given:  # see _merge_nodes
            counts["unchanged"] += 1
            continue
        props = _canonical(given)
        if old_props is None:
            new_edges.append((*key, _json_text(props)))
        elif old_props != props:
            changed_edges.append((ids[e.src], ids[e.dst], key[2], _json_text(props)))
        else:
            counts["unchanged"] += 1
    counts["edges_created"], counts["edges_updated"] = len(new_edges), len(changed_edges)
    schema_rows: list[tuple[Any, ...]] = []
    rewritten: list[str] = []
    for version_key, fields in batch.schemas.items():
        given_fields = [(f.name, f.type, f.nullable, f.description, f.allowed_values)
                        for f in fields]
        if old_schemas.get(version_key, []) == given_fields:
            counts["unchanged"] += 1
            continue
        rewritten.append(version_key)
        schema_rows += [(version_key, i, n, t, nl, d, json.dumps(a))
                        for i, (n, t, nl, d, a) in enumerate(given_fields)]
    counts["schemas_written"] = len(rewritten)

    # ---- the writes and the trailing statements: one round trip
    # one cursor for the statements whose results nobody reads (a cursor each cost ~10 us
    # of the writer's CPU, ~8 a transaction)
    removed_cur, write = driver.cursor(), driver.cursor()
    try:
        with driver.pipeline():
            if inserts:
                write.execute(_PG_NODE_INSERT, (now, now, _pg_rows(inserts)))
            if updates:
                write.execute(_PG_NODE_UPDATE, (now, *_pg_set(updates)))
            if removed:
                removed_cur.execute(_PG_EDGE_DELETE, _pg_set(sorted(removed)))
            if new_edges:
                write.execute(_PG_EDGE_INSERT, (_pg_rows(new_edges),))
            if changed_edges:
                write.execute(_PG_EDGE_UPDATE, _pg_set(changed_edges))
            if rewritten:
                version_ids = [ids[v] for v in rewritten if v in ids]
                if version_ids:
                    write.execute(_PG_SCHEMA_DELETE, _pg_set(version_ids))
                if schema_rows:
                    write.execute(_PG_SCHEMA_INSERT, (_pg_rows(schema_rows),))
            for statement, params in (trailing() if trailing is not None else []):
                write.execute(statement, params)
            if commit:
                write.execute("COMMIT")
            else:  # what else the transaction runs is planned as the session asks
                write.execute(_PG_PLANS_DONE, (seqscan,))
        if removed:
            counts["edges_removed"] = int(removed_cur.fetchone()[0])
    finally:
        removed_cur.close()
        write.close()
    return ApplyResult(**counts)
