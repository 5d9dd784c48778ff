"""Record assertions in SQL: a row per batch, its rows as column segments (see tables.py)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ..._model import AssertionArrays, AssertionBatch, GraphBatch
from ..._vocabulary import Origin
from .graph import SqlGraphStore

if TYPE_CHECKING:
    import numpy as np
    import sqlalchemy as sa

# SQLAlchemy and the tables are imported where they are used: a read on a SQLite file
# need not load them (see `light`).

#: rows per stored segment: 8 MB per int64 column, well inside every blob limit
SEGMENT_ROWS = 1_000_000
_IN_CHUNK = 500


def _pack(values: np.ndarray, dtype: str) -> bytes:
    import numpy as np  # only record assertions pay for it

    return np.ascontiguousarray(values, dtype=dtype).tobytes()


class SqlAssertionStore(SqlGraphStore):
    """The SQL store's record assertions, on top of its graph."""

    def _write_assertions(self, batch: AssertionBatch, arrays: AssertionArrays,
                          nodes: GraphBatch | None) -> AssertionBatch:
        from .tables import assertion_batch_table, assertion_segment_table

        created = datetime.now(UTC)
        with self._write() as conn:
            if nodes is not None and nodes.nodes:
                self._apply_in(conn, nodes)
            wanted = [k for k in (batch.field, batch.agent, batch.dataset_version) if k]
            ids = self._ids(conn, wanted)
            batch_id = conn.execute(
                assertion_batch_table.insert().returning(assertion_batch_table.c.id),
                dict(field_id=ids[batch.field], concept=batch.concept,
                     dataset_version_id=ids.get(batch.dataset_version or ""),
                     origin=batch.origin.value, agent_id=ids[batch.agent],
                     asserted_at=batch.asserted_at, created_at=created, row_count=batch.rows,
                     source=batch.source, principal=batch.principal),
            ).scalar_one()
            for seq, start in enumerate(range(0, batch.rows, SEGMENT_ROWS)):
                part = slice(start, start + SEGMENT_ROWS)
                reviewed = arrays.reviewed_batch is not None and arrays.reviewed_row is not None
                conn.execute(assertion_segment_table.insert(), dict(
                    batch_id=batch_id, seq=seq, row_count=len(arrays.value[part]),
                    entity_fp=_pack(arrays.entity[part], "<i8"),
                    value_fp=_pack(arrays.value[part], "<i8"),
                    confidence=_pack(arrays.confidence[part], "<f4"),
                    reviewed_batch=_pack(arrays.reviewed_batch[part], "<i8")  # type: ignore[index]
                    if reviewed else None,
                    reviewed_row=_pack(arrays.reviewed_row[part], "<i8")  # type: ignore[index]
                    if reviewed else None,
                ))
        return replace(batch, id=int(batch_id), created_at=created)

    def _assertion_batches(self, concepts: list[str] | None,
                           fields: list[str] | None) -> list[AssertionBatch]:
        import sqlalchemy as sa

        from .tables import assertion_batch_table, node_table

        b = assertion_batch_table.c
        field_node, agent_node = node_table.alias("f"), node_table.alias("a")
        version_node = node_table.alias("v")
        query = (sa.select(b.id, b.concept, b.origin, b.asserted_at, b.created_at, b.row_count,
                           b.source, b.principal, field_node.c.key.label("field"),
                           agent_node.c.key.label("agent"), version_node.c.key.label("version"))
                 .join(field_node, field_node.c.id == b.field_id)
                 .join(agent_node, agent_node.c.id == b.agent_id)
                 .outerjoin(version_node, version_node.c.id == b.dataset_version_id))
        filters = []
        if concepts is not None:
            filters.append(b.concept.in_(concepts))
        if fields is not None:
            filters.append(field_node.c.key.in_(fields))
        if filters:
            query = query.where(sa.or_(*filters))
        with self._read() as conn:
            rows = conn.execute(query.order_by(b.id)).all()
        return [AssertionBatch(field=r.field, concept=r.concept, origin=Origin(r.origin),
                               agent=r.agent, asserted_at=_aware(r.asserted_at),
                               rows=r.row_count, dataset_version=r.version, source=r.source,
                               principal=r.principal, id=r.id,
                               created_at=_aware(r.created_at))
                for r in rows]

    def _assertion_columns(self, batch_ids: list[int],
                           columns: list[str]) -> dict[int, dict[str, np.ndarray]]:
        import sqlalchemy as sa

        from .tables import assertion_segment_table

        s = assertion_segment_table.c
        stored = [s[_SEGMENT_COLUMN[c][0]] for c in columns]
        parts: dict[int, list[sa.Row]] = defaultdict(list)  # type: ignore[type-arg]
        with self._read() as conn:
            for chunk in _chunks(batch_ids):
                for row in conn.execute(sa.select(s.batch_id, *stored)
                                        .where(s.batch_id.in_(chunk))
                                        .order_by(s.batch_id, s.seq)):
                    parts[row.batch_id].append(row)
        import numpy as np

        result: dict[int, dict[str, np.ndarray]] = {}
        for batch_id, rows in parts.items():
            found = {}
            for name in columns:
                column, dtype = _SEGMENT_COLUMN[name]
                blobs = [getattr(r, column) for r in rows]
                if blobs[0] is None:  # reviewed_*: only review batches have them
                    continue
                found[name] = np.concatenate([np.frombuffer(b, dtype=dtype) for b in blobs]
                                             ).astype(dtype[1:], copy=False)
            result[batch_id] = found
        return result


#: AssertionArrays' column -> (segment column, stored dtype)
_SEGMENT_COLUMN = {
    "entity": ("entity_fp", "<i8"), "value": ("value_fp", "<i8"),
    "confidence": ("confidence", "<f4"), "reviewed_batch": ("reviewed_batch", "<i8"),
    "reviewed_row": ("reviewed_row", "<i8"),
}


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive times; everything this store writes is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for i in range(0, len(ids), _IN_CHUNK):
        yield ids[i:i + _IN_CHUNK]
