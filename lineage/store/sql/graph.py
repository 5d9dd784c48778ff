"""The SQL backend's graph: nodes, edges, schema snapshots and the closure walk.

Dialect differences are confined to small, named spots: the closure's "pick one row per
node" step, and the bulk loader's staging (executemany on SQLite, COPY on PostgreSQL).
Every driver exception is translated here into a `LineageError`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import islice
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ..._errors import ConflictError, LineageError, StoreError, ValidationError
from ..._model import (
    ApplyResult,
    Closure,
    Direction,
    EdgeSpec,
    FieldSchema,
    GraphBatch,
    Node,
    NodeRef,
    NodeSpec,
    Reached,
)
from ..._vocabulary import EdgeKind, NodeKind
from ..base import MergeProperties, Store
from . import engine as engines
from .tables import edge_table, node_table, schema_field_table

T = TypeVar("T")

#: bound parameters per IN (...) list; well under SQLite's and PostgreSQL's limits
_IN_CHUNK = 500

# One walk for both directions: `near` is the column we arrive from, `far` where we go.
# UNION (not UNION ALL) drops repeated (node, depth, parent, kind) rows, and the depth bound
# makes the walk finite on cycles.
_WALK = """
WITH RECURSIVE walk(id, depth, parent, ekind) AS (
    SELECT CAST(:start AS BIGINT), 0, CAST(NULL AS BIGINT), CAST(NULL AS TEXT)
    UNION
    SELECT e.{far}, w.depth + 1, w.id, CAST(e.kind AS TEXT)
    FROM walk w JOIN edge e ON e.{near} = w.id
    WHERE w.depth < :max_depth
),
best AS ({best})
SELECT b.id, n.key, n.kind, n.name, b.depth, b.parent, b.ekind
FROM best b JOIN node n ON n.id = b.id
"""
# SQLite returns the bare columns of the row that holds the MIN; PostgreSQL says so explicitly.
_BEST = {
    "sqlite": "SELECT id, MIN(depth) AS depth, parent, ekind FROM walk GROUP BY id",
    "postgresql": "SELECT DISTINCT ON (id) id, depth, parent, ekind FROM walk "
    "ORDER BY id, depth, parent, ekind",
}


# The statements of `apply`, built once: building them per call (coercions, IN lists) cost
# more than SQLite took to run them. Expanding parameters keep each one cacheable.
_n, _e = node_table.c, edge_table.c
_NODE_IDS = sa.select(_n.key, _n.id).where(_n.key.in_(sa.bindparam("keys", expanding=True)))
_NODE_ROWS = sa.select(_n.id, _n.key, _n.name, _n.namespace, _n.properties).where(
    _n.key.in_(sa.bindparam("keys", expanding=True)))
_NODE_UPDATE = node_table.update().where(_n.id == sa.bindparam("_id")).values(
    name=sa.bindparam("name"), namespace=sa.bindparam("namespace"),
    properties=sa.bindparam("properties"), updated_at=sa.bindparam("updated_at"))
# Edges by their exact identity, not all edges of their sources: a dataset read by every
# run of a job gathers an edge per run, and reading them all would grow with history.
_EDGE_ROWS = sa.select(_e.src, _e.dst, _e.kind, _e.properties).where(
    sa.tuple_(_e.src, _e.dst, _e.kind).in_(sa.bindparam("idents", expanding=True)))
_EDGE_UPDATE = edge_table.update().where(
    _e.src == sa.bindparam("_s"), _e.dst == sa.bindparam("_d"),
    _e.kind == sa.bindparam("_k")).values(properties=sa.bindparam("properties"))


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _canonical(properties: dict[str, Any]) -> dict[str, Any]:
    """Properties as they will read back from a JSON column (tuples become lists, ...)."""
    result: dict[str, Any] = json.loads(json.dumps(properties, default=str, sort_keys=True))
    return result


def _lock_number(key: str) -> int:
    """A stable signed 64-bit number for a node key (PostgreSQL advisory locks take one)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big",
                          signed=True)


def _now() -> datetime:
    return datetime.now(UTC)


class SqlGraphStore(Store):
    """The graph half of the SQL store: nodes, edges, schema snapshots, closure."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = engines.create(url)
        self.dialect = self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({engines._safe(self.url)!r})"

    # ---------------------------------------------------------------- transactions

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """One write transaction: commits when the block ends, rolls back on any error."""
        try:
            with self.engine.connect().execution_options(lineage_write=True) as conn:
                with conn.begin():
                    yield conn
        except LineageError:
            raise
        except IntegrityError as exc:
            raise ConflictError(f"the write conflicts with stored data: {engines._first_line(exc)}"
                                ) from exc
        except SQLAlchemyError as exc:
            raise StoreError(f"write failed on {self!r}: {engines._first_line(exc)}") from exc

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except LineageError:
            raise
        except SQLAlchemyError as exc:
            raise StoreError(f"read failed on {self!r}: {engines._first_line(exc)}") from exc

    # ---------------------------------------------------------------- id lookups

    @staticmethod
    def _ids(conn: Connection, keys: Iterable[str]) -> dict[str, int]:
        ids: dict[str, int] = {}
        for chunk in _chunks(set(keys), _IN_CHUNK):
            ids.update({k: i for k, i in conn.execute(_NODE_IDS, {"keys": chunk})})
        return ids

    # ---------------------------------------------------------------- writes

    def _apply(self, batch: GraphBatch, merge: MergeProperties | None = None) -> ApplyResult:
        with self._write() as conn:
            return self._apply_in(conn, batch, merge)

    def _apply_in(self, conn: Connection, batch: GraphBatch,
                  merge: MergeProperties | None = None) -> ApplyResult:
        """Apply a batch inside the caller's transaction."""
        now = _now()
        counts = dict(nodes_created=0, nodes_updated=0, edges_created=0, edges_updated=0,
                      schemas_written=0, unchanged=0)
        if merge is not None:
            self._lock_nodes(conn, batch.nodes)
        stored = self._node_rows(conn, batch.nodes)
        inserts, updates = [], []
        for spec in batch.nodes.values():
            row = stored.get(spec.key)
            given = spec.properties
            if merge is not None:
                given = merge(spec.key, row.properties if row is not None else {}, given)
            props = _canonical(given)
            if row is None:
                inserts.append(dict(key=spec.key, rkey=spec.key[::-1], kind=spec.kind.value,
                                    name=spec.name, namespace=spec.namespace,
                                    properties=props, created_at=now, updated_at=now))
            elif (row.name, row.namespace, row.properties) != (
                    spec.name, spec.namespace, props):
                updates.append(dict(_id=row.id, name=spec.name, namespace=spec.namespace,
                                    properties=props, updated_at=now))
            else:
                counts["unchanged"] += 1
        if inserts:
            conn.execute(node_table.insert(), inserts)
        if updates:
            conn.execute(_NODE_UPDATE, updates)
        counts["nodes_created"], counts["nodes_updated"] = len(inserts), len(updates)

        needed = {k for e in batch.edges.values() for k in (e.src, e.dst)} | set(batch.schemas)
        ids = self._ids(conn, needed)
        self._apply_edges(conn, batch.edges.values(), ids, counts)
        for version_key, fields in batch.schemas.items():
            if self._write_schema(conn, ids[version_key], fields):
                counts["schemas_written"] += 1
            else:
                counts["unchanged"] += 1
        return ApplyResult(**counts)

    def _lock_nodes(self, conn: Connection, keys: Iterable[str]) -> None:
        """On PostgreSQL, take a transaction-scoped advisory lock per node key, so that a
        merge reads and writes each node alone (SQLite's BEGIN IMMEDIATE already holds the
        whole database). Taken in one order (by the lock's number) so two writers never
        deadlock; a hash collision only makes two keys share a lock."""
        if self.dialect != "postgresql":
            return
        numbers = sorted({_lock_number(k) for k in keys})
        if numbers:
            # unnest yields the array in order and the aggregate consumes rows in scan order
            conn.execute(sa.text("SELECT count(pg_advisory_xact_lock(n)) FROM "
                                 "unnest(CAST(:numbers AS BIGINT[])) AS t(n)"),
                         {"numbers": numbers})

    @staticmethod
    def _node_rows(conn: Connection, keys: Iterable[str]) -> dict[str, Any]:
        rows: dict[str, Any] = {}
        for chunk in _chunks(list(keys), _IN_CHUNK):
            for row in conn.execute(_NODE_ROWS, {"keys": chunk}):
                rows[row.key] = row
        return rows

    @staticmethod
    def _apply_edges(conn: Connection, edges: Iterable[EdgeSpec], ids: dict[str, int],
                     counts: dict[str, int]) -> None:
        wanted = {(ids[e.src], ids[e.dst], e.kind.value): _canonical(e.properties) for e in edges}
        if not wanted:
            return
        stored: dict[tuple[int, int, str], Any] = {}
        for chunk in _chunks(wanted, _IN_CHUNK // 3):
            for row in conn.execute(_EDGE_ROWS, {"idents": chunk}):
                stored[(row.src, row.dst, row.kind)] = row.properties
        inserts = [dict(src=s, dst=d, kind=k, properties=p)
                   for (s, d, k), p in wanted.items() if (s, d, k) not in stored]
        updates = [dict(_s=s, _d=d, _k=k, properties=p) for (s, d, k), p in wanted.items()
                   if (s, d, k) in stored and stored[(s, d, k)] != p]
        if inserts:
            conn.execute(edge_table.insert(), inserts)
        if updates:
            conn.execute(_EDGE_UPDATE, updates)
        counts["edges_created"] += len(inserts)
        counts["edges_updated"] += len(updates)
        counts["unchanged"] += len(wanted) - len(inserts) - len(updates)

    @staticmethod
    def _write_schema(conn: Connection, version_id: int, fields: Sequence[FieldSchema]) -> bool:
        """Replace a version's snapshot; False when it was already exactly this."""
        c = schema_field_table.c
        new = [dict(version_id=version_id, position=i, name=f.name, type=f.type,
                    nullable=f.nullable, description=f.description,
                    allowed_values=f.allowed_values) for i, f in enumerate(fields)]
        old = [dict(r._mapping) for r in conn.execute(
            sa.select(schema_field_table).where(c.version_id == version_id).order_by(c.position))]
        if old == new:
            return False
        conn.execute(schema_field_table.delete().where(c.version_id == version_id))
        if new:
            conn.execute(schema_field_table.insert(), new)
        return True

    def _bulk_load(self, nodes: Iterable[NodeSpec], edges: Iterable[EdgeSpec],
                   chunk_size: int) -> tuple[int, int]:
        stamp = _now()
        with self._write() as conn:
            raw = conn.connection.driver_connection
            before_nodes, before_edges = self._count(conn, "node"), self._count(conn, "edge")
            node_rows = ((n.key, n.key[::-1], n.kind.value, n.name, n.namespace,
                          json.dumps(n.properties, default=str)) for n in nodes)
            edge_rows = ((e.src, e.dst, e.kind.value, json.dumps(e.properties, default=str))
                         for e in edges)
            if self.dialect == "sqlite":
                self._bulk_sqlite(raw, node_rows, edge_rows, chunk_size, stamp)
            else:
                self._bulk_postgres(raw, node_rows, edge_rows, chunk_size, stamp)
            return (self._count(conn, "node") - before_nodes,
                    self._count(conn, "edge") - before_edges)

    @staticmethod
    def _count(conn: Connection, table: str) -> int:
        return int(conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() or 0)

    @staticmethod
    def _bulk_sqlite(raw: Any, node_rows: Iterable[tuple[Any, ...]],
                     edge_rows: Iterable[tuple[Any, ...]], chunk_size: int,
                     stamp: datetime) -> None:
        ts = stamp.strftime("%Y-%m-%d %H:%M:%S.%f")
        cur = raw.cursor()
        for chunk in _chunks(node_rows, chunk_size):
            cur.executemany(
                "INSERT OR IGNORE INTO node (key, rkey, kind, name, namespace, properties,"
                f" created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, '{ts}', '{ts}')", chunk)
        cur.execute("CREATE TEMP TABLE IF NOT EXISTS bulk_edge "
                    "(src_key TEXT, dst_key TEXT, kind TEXT, properties TEXT)")
        for chunk in _chunks(edge_rows, chunk_size):
            cur.execute("DELETE FROM bulk_edge")
            cur.executemany("INSERT INTO bulk_edge VALUES (?, ?, ?, ?)", chunk)
            _check_endpoints(cur)
            cur.execute(
                "INSERT OR IGNORE INTO edge (src, dst, kind, properties) "
                "SELECT s.id, d.id, t.kind, t.properties FROM bulk_edge t "
                "JOIN node s ON s.key = t.src_key JOIN node d ON d.key = t.dst_key")
        cur.execute("DROP TABLE IF EXISTS temp.bulk_edge")
        cur.close()

    @staticmethod
    def _bulk_postgres(raw: Any, node_rows: Iterable[tuple[Any, ...]],
                       edge_rows: Iterable[tuple[Any, ...]], chunk_size: int,
                       stamp: datetime) -> None:
        with raw.cursor() as cur:
            cur.execute("CREATE TEMP TABLE bulk_node (key TEXT, rkey TEXT, kind TEXT, name TEXT,"
                        " namespace TEXT, properties TEXT) ON COMMIT DROP")
            cur.execute("CREATE TEMP TABLE bulk_edge (src_key TEXT, dst_key TEXT, kind TEXT,"
                        " properties TEXT) ON COMMIT DROP")
            with cur.copy("COPY bulk_node FROM STDIN") as copy:
                for row in node_rows:
                    copy.write_row(row)
            cur.execute(
                "INSERT INTO node (key, rkey, kind, name, namespace, properties, created_at,"
                " updated_at) SELECT key, rkey, kind, name, namespace, properties::json, %s, %s"
                " FROM bulk_node ON CONFLICT (key) DO NOTHING", (stamp, stamp))
            with cur.copy("COPY bulk_edge FROM STDIN") as copy:
                for row in edge_rows:
                    copy.write_row(row)
            _check_endpoints(cur)
            cur.execute(
                "INSERT INTO edge (src, dst, kind, properties) "
                "SELECT s.id, d.id, t.kind, t.properties::json FROM bulk_edge t "
                "JOIN node s ON s.key = t.src_key JOIN node d ON d.key = t.dst_key "
                "ON CONFLICT DO NOTHING")

    # ---------------------------------------------------------------- reads

    def _nodes(self, keys: list[str]) -> dict[str, Node]:
        found: dict[str, Node] = {}
        c = node_table.c
        with self._read() as conn:
            for chunk in _chunks(keys, _IN_CHUNK):
                for row in conn.execute(sa.select(node_table).where(c.key.in_(chunk))):
                    found[row.key] = Node(key=row.key, kind=row.kind, name=row.name,
                                          namespace=row.namespace, properties=row.properties,
                                          created_at=row.created_at, updated_at=row.updated_at)
        return found

    def _existing(self, keys: set[str]) -> set[str]:
        with self._read() as conn:
            return set(self._ids(conn, keys))

    def _suffix_candidates(self, suffix: str, limit: int) -> list[NodeRef]:
        low = suffix[::-1]
        c = node_table.c
        query = (sa.select(c.key, c.kind, c.name)
                 .where(c.rkey >= low, c.rkey < low + "\U0010ffff").limit(limit))
        with self._read() as conn:
            return [NodeRef(k, NodeKind(kind), n) for k, kind, n in conn.execute(query)]

    def _find(self, text: str, kinds: list[NodeKind] | None, limit: int) -> list[NodeRef]:
        c = node_table.c
        query = sa.select(c.key, c.kind, c.name)
        if text:
            query = query.where(sa.func.lower(c.key).contains(text.lower(), autoescape=True))
        if kinds:
            query = query.where(c.kind.in_([k.value for k in kinds]))
        with self._read() as conn:
            rows = conn.execute(query.order_by(c.key).limit(limit))
            return [NodeRef(k, NodeKind(kind), n) for k, kind, n in rows]

    def _neighbours(self, key: str) -> list[tuple[EdgeSpec, NodeRef]]:
        other = node_table.alias("other")
        e, n = edge_table.c, other.c

        def side(outgoing: bool, node_id: int) -> sa.Select[Any]:
            near, far = (e.src, e.dst) if outgoing else (e.dst, e.src)
            return (sa.select(e.kind, e.properties, n.key, n.kind.label("nkind"), n.name,
                              sa.literal(outgoing).label("outgoing"))
                    .join_from(edge_table, other, n.id == far).where(near == node_id))

        result = []
        with self._read() as conn:
            node_id = self._ids(conn, [key])[key]
            for row in conn.execute(sa.union_all(side(True, node_id), side(False, node_id))):
                ref = NodeRef(row.key, NodeKind(row.nkind), row.name)
                src, dst = (key, ref.key) if row.outgoing else (ref.key, key)
                result.append((EdgeSpec(src=src, dst=dst, kind=EdgeKind(row.kind),
                                        properties=row.properties or {}), ref))
        result.sort(key=lambda pair: (pair[0].kind.value, pair[1].key))
        return result

    def _closure(self, start: NodeRef, direction: Direction, max_depth: int) -> Closure:
        near, far = ("src", "dst") if direction == "downstream" else ("dst", "src")
        sql = sa.text(_WALK.format(near=near, far=far, best=_BEST[self.dialect]))
        with self._read() as conn:
            start_id = self._ids(conn, [start.key])[start.key]
            rows = list(conn.execute(sql, {"start": start_id, "max_depth": max_depth}))
        rows.sort(key=lambda r: (r.depth, r.key))
        by_id: dict[int, Reached] = {}
        origin = Reached(start, 0)
        reached: list[Reached] = []
        for row in rows:
            if row.depth == 0:
                by_id[row.id] = origin
                continue
            item = Reached(NodeRef(row.key, NodeKind(row.kind), row.name), row.depth,
                           by_id[row.parent], EdgeKind(row.ekind))
            by_id[row.id] = item
            reached.append(item)
        return Closure(origin, direction, max_depth, reached)

    def _edges_among(self, keys: set[str]) -> list[EdgeSpec]:
        c = edge_table.c
        with self._read() as conn:
            ids = self._ids(conn, keys)
            by_id = {i: k for k, i in ids.items()}
            result = []
            for chunk in _chunks(list(by_id), _IN_CHUNK):
                for row in conn.execute(sa.select(edge_table).where(c.src.in_(chunk))):
                    if row.dst in by_id:
                        result.append(EdgeSpec(src=by_id[row.src], dst=by_id[row.dst],
                                               kind=EdgeKind(row.kind),
                                               properties=row.properties or {}))
        return result

    def _schema(self, version_key: str) -> list[FieldSchema]:
        c = schema_field_table.c
        with self._read() as conn:
            version_id = self._ids(conn, [version_key])[version_key]
            rows = conn.execute(sa.select(schema_field_table).where(c.version_id == version_id)
                                .order_by(c.position))
            return [FieldSchema(name=r.name, type=r.type, nullable=r.nullable,
                                description=r.description, allowed_values=r.allowed_values)
                    for r in rows]

    def _stats(self) -> dict[str, int]:
        c = node_table.c
        with self._read() as conn:
            counts = {k: int(n) for k, n in conn.execute(
                sa.select(c.kind, sa.func.count()).group_by(c.kind))}
            counts["edges"] = self._count(conn, "edge")
        return counts


def _check_endpoints(cur: Any) -> None:
    """Refuse staged edges whose endpoints are not nodes (the caller's transaction rolls back)."""
    cur.execute("SELECT t.src_key, t.dst_key FROM bulk_edge t "
                "WHERE NOT EXISTS (SELECT 1 FROM node WHERE key = t.src_key) "
                "OR NOT EXISTS (SELECT 1 FROM node WHERE key = t.dst_key) LIMIT 5")
    bad = cur.fetchall()
    if bad:
        shown = ", ".join(f"{s} -> {d}" for s, d in bad)
        raise ValidationError(f"bulk load: edges name nodes that do not exist: {shown}")
