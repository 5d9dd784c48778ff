"""The SQL backend's graph: nodes, edges, schema snapshots and the closure walk.

Dialect differences are confined to small, named spots: the closure's "pick one row per
node" step, and the bulk loader's staging (executemany on SQLite, COPY on PostgreSQL).
Every driver exception is translated here into a `LineageError`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import islice
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ..._errors import ConflictError, LineageError, StoreError
from ..._model import (
    ApplyResult,
    Closure,
    Direction,
    EdgeSpec,
    FieldSchema,
    GraphBatch,
    Node,
    NodeRef,
    Reached,
)
from ..._vocabulary import EdgeKind, NodeKind
from .._bulk import BulkInput
from ..base import Store
from . import bulk
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


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _canonical(properties: dict[str, Any]) -> dict[str, Any]:
    """Properties as they will read back from a JSON column (tuples become lists, ...)."""
    result: dict[str, Any] = json.loads(json.dumps(properties, default=str, sort_keys=True))
    return result


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
    def _write(self, *, bulk_load: bool = False) -> Iterator[Connection]:
        """One write transaction: commits when the block ends, rolls back on any error.
        `bulk_load`: with the SQLite connection set up for a bulk load meanwhile."""
        try:
            with self.engine.connect().execution_options(lineage_write=True) as conn:
                tuned = bulk_load and self.dialect == "sqlite"
                if tuned:  # these PRAGMAs only take effect outside a transaction
                    with bulk.driver_errors("preparing the bulk load"):
                        bulk.tune_sqlite(conn.connection.driver_connection)
                try:
                    with conn.begin():
                        yield conn
                finally:
                    if tuned:
                        with bulk.driver_errors("ending the bulk load"):
                            bulk.restore_sqlite(conn.connection.driver_connection)
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
            rows = conn.execute(
                sa.select(node_table.c.key, node_table.c.id).where(node_table.c.key.in_(chunk))
            )
            ids.update({k: i for k, i in rows})
        return ids

    # ---------------------------------------------------------------- writes

    def _apply(self, batch: GraphBatch) -> ApplyResult:
        with self._write() as conn:
            return self._apply_in(conn, batch)

    def _apply_in(self, conn: Connection, batch: GraphBatch) -> ApplyResult:
        """Apply a batch inside the caller's transaction."""
        now = _now()
        counts = dict(nodes_created=0, nodes_updated=0, edges_created=0, edges_updated=0,
                      schemas_written=0, unchanged=0)
        stored = self._node_rows(conn, batch.nodes)
        inserts, updates = [], []
        for spec in batch.nodes.values():
            props = _canonical(spec.properties)
            row = stored.get(spec.key)
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
            c = node_table.c
            conn.execute(
                node_table.update().where(c.id == sa.bindparam("_id")).values(
                    name=sa.bindparam("name"), namespace=sa.bindparam("namespace"),
                    properties=sa.bindparam("properties"),
                    updated_at=sa.bindparam("updated_at")),
                updates,
            )
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

    @staticmethod
    def _node_rows(conn: Connection, keys: Iterable[str]) -> dict[str, Any]:
        rows: dict[str, Any] = {}
        c = node_table.c
        for chunk in _chunks(list(keys), _IN_CHUNK):
            for row in conn.execute(sa.select(c.id, c.key, c.name, c.namespace, c.properties)
                                    .where(c.key.in_(chunk))):
                rows[row.key] = row
        return rows

    @staticmethod
    def _apply_edges(conn: Connection, edges: Iterable[EdgeSpec], ids: dict[str, int],
                     counts: dict[str, int]) -> None:
        wanted = {(ids[e.src], ids[e.dst], e.kind.value): _canonical(e.properties) for e in edges}
        if not wanted:
            return
        stored: dict[tuple[int, int, str], Any] = {}
        c = edge_table.c
        for chunk in _chunks({s for s, _, _ in wanted}, _IN_CHUNK):
            for row in conn.execute(sa.select(c.src, c.dst, c.kind, c.properties)
                                    .where(c.src.in_(chunk))):
                ident = (row.src, row.dst, row.kind)
                if ident in wanted:
                    stored[ident] = row.properties
        inserts = [dict(src=s, dst=d, kind=k, properties=p)
                   for (s, d, k), p in wanted.items() if (s, d, k) not in stored]
        updates = [dict(_s=s, _d=d, _k=k, properties=p) for (s, d, k), p in wanted.items()
                   if (s, d, k) in stored and stored[(s, d, k)] != p]
        if inserts:
            conn.execute(edge_table.insert(), inserts)
        if updates:
            conn.execute(
                edge_table.update()
                .where(c.src == sa.bindparam("_s"), c.dst == sa.bindparam("_d"),
                       c.kind == sa.bindparam("_k"))
                .values(properties=sa.bindparam("properties")),
                updates,
            )
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

    def _bulk_load(self, load: BulkInput, chunk_size: int) -> tuple[int, int]:
        stamp = _now()
        with self._write(bulk_load=True) as conn:
            return bulk.load(conn.connection.driver_connection, self.dialect, load, chunk_size,
                             stamp)

    @staticmethod
    def _count(conn: Connection, table: str) -> int:
        return int(conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() or 0)

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
