"""Consumers in SQL: their contracts and notification channels (the outbox builds on it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from itertools import compress
from typing import TYPE_CHECKING, Any

from ..._model import ApplyResult, ChannelSpec, Closure, GraphBatch, NodeRef
from ..._vocabulary import EdgeKind, NodeKind
from ..base import MergeEdgeProperties, MergeProperties
from . import graph as _graph
from . import pgarray
from .assertions import SqlAssertionStore
from .graph import _canonical, _Helper, _id_text, _list_param, _loaded

if TYPE_CHECKING:
    import numpy as np
    from sqlalchemy.engine import Connection

# SQLAlchemy and the tables are imported where they are used: a read on a SQLite file
# need not load them (see `light`).

_IN_CHUNK = 500
#: `WalkTable.derived` key: the dataset pass's rows a PostgreSQL walk read with its levels
WALK_DATASET_ROWS = "pg_dataset_rows"
#: a walk with this many nodes or more has its dataset pass done with numpy arrays; a
#: smaller one (nearly every impact) in plain Python, which costs less than importing numpy
#: (~40 ms of a CLI read's start). Both give the same answers (a test runs both).
NUMPY_FIELDS = 5_000


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for i in range(0, len(items), _IN_CHUNK):
        yield items[i:i + _IN_CHUNK]


class SqlConsumerStore(SqlAssertionStore):
    """The SQL store's consumer contracts and channels."""

    def _apply_in(self, conn: Connection, batch: GraphBatch,
                  merge: MergeProperties | None = None,
                  merge_edges: MergeEdgeProperties | None = None) -> ApplyResult:
        result = super()._apply_in(conn, batch, merge, merge_edges)
        consumers = sorted(set(batch.contracts) | set(batch.channels))
        if not consumers:
            return result
        ids = self._ids(conn, consumers + [a for c in batch.contracts.values() for a in c])
        updated = 0
        for consumer in consumers:
            changed = False
            if consumer in batch.contracts:
                changed |= self._replace_contracts(conn, ids[consumer], {
                    ids[asset]: _canonical(contract)
                    for asset, contract in batch.contracts[consumer].items()})
            if consumer in batch.channels:
                changed |= self._replace_channels(conn, ids[consumer], batch.channels[consumer])
            updated += changed
        return replace(result, consumers_updated=updated,
                       unchanged=result.unchanged + len(consumers) - updated)

    @staticmethod
    def _replace_contracts(conn: Connection, consumer_id: int,
                           contracts: dict[int, dict[str, Any]]) -> bool:
        import sqlalchemy as sa

        from .tables import consumer_contract_table

        c = consumer_contract_table.c
        stored = {r.asset_id: r.contract for r in conn.execute(
            sa.select(c.asset_id, c.contract).where(c.consumer_id == consumer_id))}
        if stored == contracts:
            return False
        conn.execute(consumer_contract_table.delete().where(c.consumer_id == consumer_id))
        now = datetime.now(UTC)
        if contracts:
            conn.execute(consumer_contract_table.insert(), [
                dict(consumer_id=consumer_id, asset_id=a, contract=k, updated_at=now)
                for a, k in contracts.items()])
        return True

    @staticmethod
    def _replace_channels(conn: Connection, consumer_id: int,
                          channels: list[ChannelSpec]) -> bool:
        """Keep channel rows that stay (their ids are referenced by the outbox), add new
        ones, drop the rest."""
        import sqlalchemy as sa

        from .tables import consumer_channel_table

        c = consumer_channel_table.c
        stored = {(r.kind, r.target): r for r in conn.execute(
            sa.select(consumer_channel_table).where(c.consumer_id == consumer_id))}
        wanted = {(ch.kind, ch.target): ch for ch in channels}
        changed = False
        for ident, row in stored.items():
            if ident not in wanted:
                conn.execute(consumer_channel_table.delete().where(c.id == row.id))
                changed = True
        for ident, ch in wanted.items():
            settings = _canonical(ch.settings)
            existing = stored.get(ident)
            if existing is None:
                conn.execute(consumer_channel_table.insert(), dict(
                    consumer_id=consumer_id, kind=ch.kind, target=ch.target, secret=ch.secret,
                    settings=settings))
                changed = True
            elif (existing.secret, existing.settings) != (ch.secret, settings):
                conn.execute(consumer_channel_table.update().where(c.id == existing.id).values(
                    secret=ch.secret, settings=settings))
                changed = True
        return changed

    def _contracts(self, consumers: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
        result: dict[str, dict[str, dict[str, Any]]] = {}
        for consumer, asset, contract in self._raw_rows(_CONTRACTS, consumers):
            result.setdefault(consumer, {})[asset] = (
                json.loads(contract) if isinstance(contract, str) else contract)
        return result

    def _channels(self, consumers: list[str]) -> dict[str, list[ChannelSpec]]:
        result: dict[str, list[ChannelSpec]] = {}
        for chunk in (consumers[i:i + 10_000] for i in range(0, len(consumers), 10_000)):
            for consumer, kind, target, secret, settings in self._raw_rows(_CHANNELS, chunk):
                result.setdefault(consumer, []).append(ChannelSpec(
                    kind=kind, target=target, secret=secret,
                    settings=_loaded(settings) or {}))
        return result

    def _dataset_consumers(self, fields: list[str]) -> list[tuple[str, NodeRef, NodeRef]]:
        found = [(field, NodeRef(dkey, NodeKind.DATASET, dname),
                  NodeRef(ckey, NodeKind.CONSUMER, cname))
                 for field, dkey, dname, ckey, cname in self._raw_rows(_DATASET_CONSUMERS,
                                                                      fields)]
        return sorted(found, key=lambda t: (t[0], t[2].key))

    def _closure_dataset_consumers(self, closure: Closure
                                   ) -> list[tuple[str, NodeRef, NodeRef]]:
        # From what the walk kept (node ids): each field's dataset and each dataset's
        # consumers are read once per walk (`_walk_datasets`), not looked up by key again (a
        # hub reaches 10^5 fields of 10^4 datasets, of which 10^3 have consumers).
        t = closure.table
        found_datasets = self._walk_datasets(closure)
        if t is None or found_datasets is None:
            return super()._closure_dataset_consumers(closure)
        start = closure.start.node.key
        found = []
        if found_datasets.consumers:
            consumed = found_datasets.consumers
            hit_rows: list[int]
            hit_datasets: list[int]
            if isinstance(found_datasets.dataset, list):  # a small walk: plain Python
                hit_rows = [r for r, d in zip(found_datasets.rows, found_datasets.dataset,
                                              strict=True) if d in consumed]
                hit_datasets = [d for d in found_datasets.dataset if d in consumed]
            else:
                import numpy as np

                wanted = np.fromiter(consumed, dtype=np.int64)
                rows_array = np.asarray(found_datasets.rows)
                datasets_array = np.asarray(found_datasets.dataset)
                hits = np.flatnonzero(np.isin(datasets_array, wanted))
                hit_rows = rows_array[hits].tolist()
                hit_datasets = datasets_array[hits].tolist()
            rows: dict[str, int | None] = {}
            for row, dataset_id in zip(hit_rows, hit_datasets, strict=True):
                key = start if row < 0 else t.keys[row]
                rows[key] = row
                found += [(key, dataset, consumer)
                          for dataset, consumer in found_datasets.consumers[dataset_id]]
            if found_datasets.walk_ids is not None:
                _note_consumer_rows(closure, found_datasets, rows)
        if len(t.ids or ()) < len(t.keys):  # rows added after the walk (`Closure.extend`)
            field_kind, kinds = NodeKind.FIELD.value, t.kinds
            extra = [t.keys[row] for row in range(len(t.ids or ()), len(t.keys))
                     if kinds[row] == field_kind]
            found += self.dataset_consumers(extra) if extra else []
        return sorted(found, key=lambda row: (row[0], row[2].key))

    def _closure_datasets(self, closure: Closure) -> list[tuple[NodeRef, str]]:
        # From the walk's ids, as _closure_dataset_consumers; only the datasets that feed
        # something as a whole (the contract allows leaving out the rest: no dataset-level
        # step can start from them), so a hub's 10^4 others cost no Python object.
        t = closure.table
        if t is None or len(t.ids or ()) != len(t.keys):
            return super()._closure_datasets(closure)
        found_datasets = self._walk_datasets(closure)
        if found_datasets is None:
            return super()._closure_datasets(closure)
        start = closure.start.node.key
        found = [(found_datasets.refs[d], start if row < 0 else t.keys[row])
                 for d, row in found_datasets.feeding.items() if d in found_datasets.refs]
        return sorted(found, key=lambda pair: pair[0].key)

    def _walk_datasets(self, closure: Closure) -> _WalkDatasets | None:
        """The datasets of the walk's fields (its start included), read once per walk
        and kept in `WalkTable.derived`: each field's dataset (two arrays, in row order),
        and of those datasets only the ones consumed (their consumers) or feeding something
        as a whole (a read, trained_on or derived_from edge leaves them or a version of
        them), with their nearest field's row. None when the walk kept no ids.
        With NUMPY_FIELDS nodes or more, `rows` and `dataset` are int64 arrays (a hub's
        10^5 fields), otherwise lists."""
        t = closure.table
        if t is None or t.ids is None or t.start_id is None:
            return None
        known = t.derived.get("datasets")
        if isinstance(known, _WalkDatasets):
            return known
        field_kind, node_ids = NodeKind.FIELD.value, t.ids
        sqlite = self.dialect == "sqlite"
        start_field = closure.start.node.kind is NodeKind.FIELD
        # PostgreSQL: the rows of the pass when the walk's own statement did it (graph.py
        # `_pg_first_levels`, fewer than NUMPY_FIELDS fields): read as lists, never wide
        tagged = None if sqlite else t.derived.pop(WALK_DATASET_ROWS, None)
        wide = tagged is None and len(node_ids) + start_field >= NUMPY_FIELDS
        ids: Any = None
        if wide:  # the field rows and ids by numpy (a hub: 10^5 of them)
            import numpy as np

            is_field = np.fromiter(map(field_kind.__eq__, t.kinds), dtype=bool,
                                   count=len(node_ids))
            rows_array = np.flatnonzero(is_field)
            all_ids = np.asarray(node_ids, dtype=np.int64)
            ids = all_ids[rows_array]
            if start_field:
                rows_array = np.concatenate([[-1], rows_array])
                ids = np.concatenate([[t.start_id], ids])
            result = _WalkDatasets(rows_array, [], walk_ids=all_ids)
        else:
            is_plain_field = [kind == field_kind for kind in t.kinds[:len(node_ids)]]
            first_row = [-1] if start_field else []
            rows = first_row + list(compress(range(len(node_ids)), is_plain_field))
            result = _WalkDatasets(rows, [])
            ids = [t.start_id] * len(first_row) + list(compress(node_ids, is_plain_field))
        t.derived["datasets"] = result
        if not len(result.rows):
            return result
        cursor: AbstractContextManager[Any] = (nullcontext() if tagged is not None
                                               else self._cursor())
        with cursor as cur:
            if not sqlite and not wide:
                # a typical walk's few fields: the three steps below in one round trip, or
                # none when the walk's statement did them
                if tagged is None:
                    cur.execute(_PG_DATASET_PASS, (_list_param(False, ids),))
                    tagged = cur.fetchall()
                columns = ([r[1] for r in tagged if r[0] == -3],
                           [r[6] for r in tagged if r[0] == -3])
                distinct, nearest_rows = _fields_datasets(result, columns)
                links = [(r[1], r[3], r[6]) for r in tagged if r[0] == -2]
                if not links:
                    return result
                refs = [r[1:6] for r in tagged if r[0] == -1]
            elif not sqlite and wide and len(ids) >= max(2, _graph._SPLIT_FROM):
                # a hub's 10^5 fields: both statements as two halves on two connections at
                # once (graph.py `_Helper`), each on its own range of ids; in one process
                # they were a quarter of the hub's wall time
                helper = _Helper(self.engine.raw_connection)
                try:
                    distinct, nearest_rows = _fields_datasets_numpy(
                        result, _split_field_datasets(cur, helper, ids))
                    if not distinct:
                        return result
                    half = len(distinct) // 2
                    links = [link for part in helper.both(
                        cur, _DATASET_LINKS["postgresql"],
                        (_list_param(False, distinct[:half]),) * 2,
                        (_list_param(False, distinct[half:]),) * 2, rows=True)
                        for link in part]
                finally:
                    helper.close()
                if not links:
                    return result
                cur.execute(_NODE_REFS[self.dialect], (_list_param(sqlite, sorted(
                    {d for d, _, _ in links} | {o for _, k, o in links if k == _CONSUMES})),))
                refs = cur.fetchall()
            else:
                param = (_id_text(ids) if sqlite and wide
                         else _list_param(sqlite, ids.tolist() if wide else ids))
                # PostgreSQL: binary results, the two id arrays straight into numpy
                # (pgarray.py)
                cur.execute(_FIELD_DATASETS[self.dialect], (param,),
                            **({} if sqlite else {"binary": True}))
                columns = cur.fetchone()
                if wide:
                    distinct, nearest_rows = _fields_datasets_numpy(result, columns)
                else:
                    distinct, nearest_rows = _fields_datasets(result, columns)
                if not distinct:
                    return result
                param = _list_param(sqlite, distinct)
                cur.execute(_DATASET_LINKS[self.dialect], (param, param))
                links = cur.fetchall()  # (dataset id, edge kind, other end's id)
                if not links:
                    return result
                cur.execute(_NODE_REFS[self.dialect], (_list_param(sqlite, sorted(
                    {d for d, _, _ in links} | {o for _, k, o in links if k == _CONSUMES})),))
                refs = cur.fetchall()
            nearest = dict(zip(distinct, nearest_rows, strict=True))
            result.refs = {r[0]: NodeRef(r[1], _KINDS[r[2]], r[3]) for r in refs}
            if not sqlite:  # PostgreSQL reads each one's lifecycle too (see _screen)
                t.states.update({r[1]: r[4] for r in refs})

        for dataset_id, kind, other in sorted(links, key=lambda link: (
                link[0], result.refs[link[2]].key if link[2] in result.refs else "")):
            if kind == _CONSUMES:
                result.consumers.setdefault(dataset_id, []).append(
                    (result.refs[dataset_id], result.refs[other]))
                result.consumer_ids[result.refs[other].key] = other
            elif dataset_id not in result.feeding:
                result.feeding[dataset_id] = nearest[dataset_id]
        return result


def _fields_datasets(result: _WalkDatasets, columns: tuple[Any, Any] | None
                     ) -> tuple[list[int], list[int]]:
    """Put each field's dataset into `result` (fields in row order, as lists): `columns` is
    the aggregated (position in the walk's field list, dataset id) pair of columns. Returns
    the distinct dataset ids, ascending, and each one's nearest field's row (its first)."""
    at, dataset = _id_lists(columns)
    pairs = sorted(zip(at, dataset, strict=True), key=lambda p: p[0])  # stable, by row
    rows = result.rows
    result.rows = [rows[a] for a, _ in pairs]
    result.dataset = [d for _, d in pairs]
    first: dict[int, int] = {}
    for i, d in enumerate(result.dataset):
        first.setdefault(d, i)
    distinct = sorted(first)
    return distinct, [result.rows[first[d]] for d in distinct]


def _split_field_datasets(cur: Any, helper: _Helper, ids: np.ndarray
                          ) -> tuple[np.ndarray, np.ndarray]:
    """`_FIELD_DATASETS` for PostgreSQL's `ids` as two statements at once, one for each half
    of the ids by value (`_PG_FIELD_DATASETS_IN`: its merge join reads only that half's
    range of the index, not all of it), joined into the one statement's two columns
    (positions in `ids`, not in order: `_fields_datasets_numpy` orders them)."""
    import numpy as np

    order = np.argsort(ids, kind="stable")
    by_id = ids[order]
    half = len(by_id) // 2
    parts = helper.both(
        cur, _PG_FIELD_DATASETS_IN,
        (pgarray.int8_array(by_id[:half]), int(by_id[0]), int(by_id[half - 1])),
        (pgarray.int8_array(by_id[half:]), int(by_id[half]), int(by_id[-1])))
    found = [(order[np.asarray(at, dtype=np.int64) + offset], np.asarray(dataset,
                                                                         dtype=np.int64))
             for (at, dataset), offset in zip(parts, (0, half), strict=True) if at is not None]
    if not found:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return (np.concatenate([at for at, _ in found]),
            np.concatenate([dataset for _, dataset in found]))


def _fields_datasets_numpy(result: _WalkDatasets, columns: tuple[Any, Any] | None
                           ) -> tuple[list[int], list[int]]:
    """`_fields_datasets` on int64 arrays, for a wide walk (`rows`, `dataset` arrays)."""
    import numpy as np

    at, dataset = _id_columns(columns)
    rows = np.asarray(result.rows, dtype=np.int64)
    if not len(at):
        result.rows, result.dataset = rows[:0], dataset
        return [], []
    if len(at) > 1 and not bool(np.all(at[1:] >= at[:-1])):  # (the nested loop's order)
        order = np.argsort(at, kind="stable")  # by row: a dataset's first is its nearest
        at, dataset = at[order], dataset[order]
    rows = rows[at]
    result.rows, result.dataset = rows, dataset
    distinct, first = np.unique(dataset, return_index=True)
    return distinct.tolist(), rows[first].tolist()


@dataclass
class _WalkDatasets:
    """What `_walk_datasets` found: `rows[i]` (a walk row, -1 the start) is a field of
    dataset id `dataset[i]`, in row order (lists, or int64 arrays for a wide walk); the
    datasets with consumers (dataset id -> (dataset, consumer) pairs, by consumer key) and
    those feeding something as a whole (dataset id -> its nearest field's row), and
    references to them by id."""

    rows: list[int] | np.ndarray
    dataset: list[int] | np.ndarray
    consumers: dict[int, list[tuple[NodeRef, NodeRef]]] = field(default_factory=dict)
    feeding: dict[int, int] = field(default_factory=dict)
    refs: dict[int, NodeRef] = field(default_factory=dict)
    #: the consumers' ids by key, and (a wide walk) the walk's node ids as an int64 array:
    #: where the consumers are in the walk, found without a pass over its keys
    consumer_ids: dict[str, int] = field(default_factory=dict)
    walk_ids: np.ndarray | None = None


def _note_consumer_rows(closure: Closure, found: _WalkDatasets,
                        rows: dict[str, int | None]) -> None:
    """Tell `closure` (`Closure.note_rows`) the rows of the fields in `rows` and of every
    consumer in `found` (None: not in the closure), found by node id: the consumers'
    `extend` then makes no pass over a hub's 10^5 keys to place them."""
    import numpy as np

    t = closure.table
    assert t is not None and t.ids is not None and found.walk_ids is not None
    wanted = np.fromiter(found.consumer_ids.values(), dtype=np.int64,
                         count=len(found.consumer_ids))
    keys = t.keys
    for row in np.flatnonzero(np.isin(found.walk_ids, wanted)).tolist():
        rows[keys[row]] = row
    later = {keys[row]: row for row in range(len(t.ids), len(keys))}  # added by `extend`
    later[closure.start.node.key] = -1
    for key in found.consumer_ids:
        if key not in rows:
            rows[key] = later.get(key)
    closure.note_rows(rows)


def _id_lists(row: tuple[Any, Any] | None) -> tuple[list[int], list[int]]:
    """`_id_columns` as lists of ints, without numpy."""
    if row is None or row[0] is None:
        return [], []
    if isinstance(row[0], str):
        return ([int(v) for v in row[0].split(",")], [int(v) for v in row[1].split(",")])
    return [int(v) for v in row[0]], [int(v) for v in row[1]]


def _id_columns(row: tuple[Any, Any] | None) -> tuple[np.ndarray, np.ndarray]:
    """Two aggregated id columns as int64 arrays: comma-joined text (SQLite's group_concat)
    or lists (PostgreSQL's array_agg); NULL (no rows) gives empty arrays."""
    import numpy as np

    if row is None or row[0] is None:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    if isinstance(row[0], str):
        return (np.fromstring(row[0], dtype=np.int64, sep=","),
                np.fromstring(row[1], dtype=np.int64, sep=","))
    return np.array(row[0], dtype=np.int64), np.array(row[1], dtype=np.int64)


# Plain SQL through the DBAPI (see SqlGraphStore._raw_rows): every impact runs these.
_CONTRACTS = dict.fromkeys(("sqlite", "postgresql"), (
    "SELECT consumer.key, asset.key, c.contract FROM consumer_contract c "
    "JOIN node consumer ON consumer.id = c.consumer_id JOIN node asset ON asset.id = c.asset_id "
    "WHERE consumer.key IN {keys}"))
_CHANNELS = dict.fromkeys(("sqlite", "postgresql"), (
    "SELECT consumer.key, c.kind, c.target, c.secret, c.settings FROM consumer_channel c "
    "JOIN node consumer ON consumer.id = c.consumer_id WHERE consumer.key IN {keys} "
    "ORDER BY c.id"))
_DATASET_CONSUMERS = dict.fromkeys(("sqlite", "postgresql"), (
    "SELECT f.key, d.key, d.name, c.key, c.name FROM node f "
    "JOIN edge hf ON hf.dst = f.id AND hf.kind = '" + EdgeKind.HAS_FIELD.value + "' "
    "JOIN node d ON d.id = hf.src "
    "JOIN edge cons ON cons.src = hf.src AND cons.kind = '" + EdgeKind.CONSUMES.value + "' "
    "JOIN node c ON c.id = cons.dst "
    "WHERE f.key IN {keys}"))
_CONSUMES = EdgeKind.CONSUMES.value
_KINDS = {k.value: k for k in NodeKind}
_FEEDS = ", ".join(f"'{k.value}'" for k in (EdgeKind.READ, EdgeKind.TRAINED_ON,
                                            EdgeKind.DERIVED_FROM))
# From node ids (`_walk_datasets`): each field's dataset, aggregated into two columns (the
# field's position in the parameter, the dataset's id): no row object per field.
_FIELD_DATASETS = {
    "sqlite": "SELECT group_concat(j.key), group_concat(hf.src) FROM json_each(?) j "
              "JOIN edge hf ON hf.dst = j.value AND hf.kind = '" + EdgeKind.HAS_FIELD.value + "'",
    "postgresql": "SELECT array_agg(f.ord - 1), array_agg(hf.src) "
                  "FROM unnest(%s::bigint[]) WITH ORDINALITY f(id, ord) "
                  "JOIN edge hf ON hf.dst = f.id AND hf.kind = '" + EdgeKind.HAS_FIELD.value + "'",
}
# (PostgreSQL, a hub: one half of the field ids by value, between its least and greatest)
_PG_FIELD_DATASETS_IN = (_FIELD_DATASETS["postgresql"]
                         + " AND hf.dst BETWEEN %s::bigint AND %s::bigint")
# Then, of those datasets, the consumers and the dataset-level edges out of them or out of
# one of their versions (`version_of` rows name the version): few rows, whatever the count
# of datasets.
# (SQLite: most of a dataset's edges are `has_field`, and one comparison rules them out
# before the IN list's lookup: a hub's 6*10^5 such rows, 0.074 -> 0.056 s)
_DATASET_LINKS = {
    "sqlite": "SELECT j.value, e.kind, e.dst FROM json_each(?) j JOIN edge e ON e.src = "
              "j.value AND e.kind <> '" + EdgeKind.HAS_FIELD.value + "' AND e.kind IN ('"
              + _CONSUMES + "', " + _FEEDS + ") "
              "UNION ALL SELECT j.value, v.kind, v.src FROM json_each(?) j JOIN edge v "
              "ON v.dst = j.value AND v.kind = '" + EdgeKind.VERSION_OF.value + "' "
              "WHERE EXISTS (SELECT 1 FROM edge o WHERE o.src = v.src AND o.kind IN ("
              + _FEEDS + "))",
    # PostgreSQL: index probes for both halves (LATERAL ... OFFSET 0); as a join the
    # `version_of` half was a parallel scan of the whole edge table (a hub's 53,315
    # datasets: 0.28 s of server CPU in three processes against 0.15 s in one)
    "postgresql": "SELECT f.id, e.kind, e.dst FROM unnest(%s::bigint[]) f(id) CROSS JOIN "
                  "LATERAL (SELECT kind, dst FROM edge WHERE edge.src = f.id AND edge.kind "
                  "IN ('" + _CONSUMES + "', " + _FEEDS + ") OFFSET 0) e "
                  "UNION ALL SELECT f.id, v.kind, v.src FROM unnest(%s::bigint[]) f(id) "
                  "CROSS JOIN LATERAL (SELECT kind, src FROM edge WHERE edge.dst = f.id AND "
                  "edge.kind = '" + EdgeKind.VERSION_OF.value + "' OFFSET 0) v "
                  "WHERE EXISTS (SELECT 1 FROM edge o WHERE o.src = v.src AND o.kind IN ("
                  + _FEEDS + "))"}
# (PostgreSQL: with each node's lifecycle, which impact() screens the consumers by)
_PG_STATE = ("CASE WHEN strpos(n.properties::text, 'lifecycle') > 0 "
             "THEN n.properties->>'lifecycle' END")
_NODE_REFS = {
    "sqlite": "SELECT n.id, n.key, n.kind, n.name FROM json_each(?) j "
              "JOIN node n ON n.id = j.value",
    "postgresql": "SELECT n.id, n.key, n.kind, n.name, " + _PG_STATE + " FROM "
                  "unnest(%s::bigint[]) f(id) JOIN node n ON n.id = f.id"}
# The three steps above in one PostgreSQL statement, for a walk of fewer than NUMPY_FIELDS
# fields, as CTEs over `{fields}` (the fields' ids and positions: the parameter's, or the
# walk's own when the walk statement does the pass, graph.py `_pg_first_levels`). Rows in
# the walk statement's shape (level, id, key, kind, name, state, parent, edge kind), tagged
# by a negative level: -3 (field's position, -, -, -, -, -, its dataset), -2 (dataset, -,
# edge kind, -, -, other end), -1 (node id, key, kind, name, lifecycle). Index probes
# throughout (LATERAL ... OFFSET 0): for a hub's 10^5 fields the three statements' plans
# are better (bench/NOTES-2026-12.md).
PG_DATASET_CTES = (
    "fd AS (SELECT f.at, hf.src AS dataset FROM {fields} f CROSS JOIN LATERAL (SELECT src "
    "FROM edge WHERE edge.dst = f.id AND edge.kind = '" + EdgeKind.HAS_FIELD.value + "' "
    "OFFSET 0) hf), "
    "ds AS (SELECT DISTINCT dataset AS id FROM fd), "
    "links AS (SELECT d.id AS dataset, e.kind, e.dst AS other FROM ds d CROSS JOIN LATERAL "
    "(SELECT kind, dst FROM edge WHERE edge.src = d.id AND edge.kind IN ('" + _CONSUMES
    + "', " + _FEEDS + ") OFFSET 0) e "
    "UNION ALL SELECT d.id, v.kind, v.src FROM ds d CROSS JOIN LATERAL (SELECT kind, src "
    "FROM edge WHERE edge.dst = d.id AND edge.kind = '" + EdgeKind.VERSION_OF.value + "' "
    "OFFSET 0) v WHERE EXISTS (SELECT 1 FROM edge o WHERE o.src = v.src AND o.kind IN ("
    + _FEEDS + "))), "
    "refs AS (SELECT n.id, n.key, n.kind, n.name, " + _PG_STATE + " AS state FROM "
    "(SELECT dataset AS id FROM links UNION SELECT other FROM links WHERE kind = '"
    + _CONSUMES + "') r CROSS JOIN LATERAL (SELECT * FROM node WHERE node.id = r.id "
    "OFFSET 0) n)")
PG_DATASET_ROWS = (
    "SELECT -3 AS level, at AS id, NULL AS key, NULL AS kind, NULL AS name, NULL AS state, "
    "dataset AS parent, NULL AS ekind FROM fd "
    "UNION ALL SELECT -2, dataset, NULL, kind, NULL, NULL, other, NULL FROM links "
    "UNION ALL SELECT -1, id, key, kind, name, state, NULL, NULL FROM refs")
_PG_DATASET_PASS = ("WITH " + PG_DATASET_CTES.format(
    fields="(SELECT u.ord - 1 AS at, u.id FROM unnest(%s::bigint[]) WITH ORDINALITY u(id, ord))")
    + " " + PG_DATASET_ROWS)
