"""Consumers in SQL: their contracts and notification channels (the outbox builds on it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..._model import ApplyResult, ChannelSpec, Closure, GraphBatch, NodeRef
from ..._vocabulary import EdgeKind, NodeKind
from ..base import MergeEdgeProperties, MergeProperties
from .assertions import SqlAssertionStore
from .graph import _canonical, _list_param
from .tables import consumer_channel_table, consumer_contract_table, node_table

_IN_CHUNK = 500


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
        c = consumer_channel_table.c
        consumer = node_table.alias("consumer")
        result: dict[str, list[ChannelSpec]] = {}
        with self._read() as conn:
            for chunk in _chunks(consumers):
                rows = conn.execute(
                    sa.select(consumer.c.key.label("consumer"), c.kind, c.target, c.secret,
                              c.settings)
                    .join(consumer, consumer.c.id == c.consumer_id)
                    .where(consumer.c.key.in_(chunk)).order_by(c.id))
                for row in rows:
                    result.setdefault(row.consumer, []).append(ChannelSpec(
                        kind=row.kind, target=row.target, secret=row.secret,
                        settings=row.settings or {}))
        return result

    def _dataset_consumers(self, fields: list[str]) -> list[tuple[str, NodeRef, NodeRef]]:
        found = [(field, NodeRef(dkey, NodeKind.DATASET, dname),
                  NodeRef(ckey, NodeKind.CONSUMER, cname))
                 for field, dkey, dname, ckey, cname in self._raw_rows(_DATASET_CONSUMERS,
                                                                      fields)]
        return sorted(found, key=lambda t: (t[0], t[2].key))

    def _closure_dataset_consumers(self, closure: Closure
                                   ) -> list[tuple[str, NodeRef, NodeRef]]:
        # The walk kept its rows' ids: the fields are not looked up by key again, and each
        # dataset's consumers are read once, not once per field (a hub reaches 10^5 fields
        # of 10^4 datasets, of which 10^3 have consumers).
        t = closure.table
        if t is None or t.ids is None or t.start_id is None:
            return super()._closure_dataset_consumers(closure)
        field_kind, kinds = NodeKind.FIELD.value, t.kinds  # once, not per row
        fields = [(t.keys[row], node_id) for row, node_id in enumerate(t.ids)
                  if kinds[row] == field_kind]
        if closure.start.node.kind is NodeKind.FIELD:
            fields.append((closure.start.node.key, t.start_id))
        if not fields:
            return super()._closure_dataset_consumers(closure) if len(t.ids) < len(t.keys) \
                else []
        sqlite = self.dialect == "sqlite"
        with self._cursor() as cur:
            cur.execute(_FIELD_DATASETS[self.dialect],
                        (_list_param(sqlite, [i for _, i in fields]),))
            dataset_of = cur.fetchall()  # (position in `fields`, dataset id)
            cur.execute(_DATASET_CONSUMERS_BY_ID[self.dialect],
                        (_list_param(sqlite, sorted({d for _, d in dataset_of})),))
            consumers_of: dict[int, list[tuple[NodeRef, NodeRef]]] = {}
            datasets: dict[int, NodeRef] = {}
            for dataset_id, dkey, dname, ckey, cname in cur.fetchall():
                dataset = datasets.setdefault(dataset_id,
                                              NodeRef(dkey, NodeKind.DATASET, dname))
                consumers_of.setdefault(dataset_id, []).append(
                    (dataset, NodeRef(ckey, NodeKind.CONSUMER, cname)))
        found = [(fields[at][0], dataset, consumer) for at, dataset_id in dataset_of
                 for dataset, consumer in consumers_of.get(dataset_id, ())]
        if len(t.ids) < len(t.keys):  # rows added after the walk (`Closure.extend`) by key
            extra = [t.keys[row] for row in range(len(t.ids), len(t.keys))
                     if kinds[row] == field_kind]
            found += self.dataset_consumers(extra) if extra else []
        return sorted(found, key=lambda row: (row[0], row[2].key))


    def _closure_datasets(self, closure: Closure) -> list[tuple[NodeRef, str]]:
        # From the walk's ids, as _closure_dataset_consumers: the rows are in (depth, key)
        # order, so a dataset's nearest field is its first row (the start, row -1, first).
        t = closure.table
        if t is None or t.ids is None or t.start_id is None or len(t.ids) != len(t.keys):
            return super()._closure_datasets(closure)
        fields = [(-1, t.start_id)] if closure.start.node.kind is NodeKind.FIELD else []
        field_kind, kinds = NodeKind.FIELD.value, t.kinds
        fields += [(row, node_id) for row, node_id in enumerate(t.ids)
                   if kinds[row] == field_kind]
        if not fields:
            return []
        sqlite = self.dialect == "sqlite"
        with self._cursor() as cur:
            cur.execute(_FIELD_DATASETS[self.dialect],
                        (_list_param(sqlite, [i for _, i in fields]),))
            first: dict[int, int] = {}  # dataset id -> position in `fields`
            for at, dataset_id in cur.fetchall():
                if dataset_id not in first or at < first[dataset_id]:
                    first[dataset_id] = at
            if not first:
                return []
            cur.execute(_NODE_REFS[self.dialect], (_list_param(sqlite, sorted(first)),))
            refs = {i: NodeRef(k, NodeKind(kind), n) for i, k, kind, n in cur.fetchall()}
        start = closure.start.node.key
        found = [(refs[d], start if fields[at][0] < 0 else t.keys[fields[at][0]])
                 for d, at in first.items() if d in refs]
        return sorted(found, key=lambda pair: pair[0].key)


# Plain SQL through the DBAPI (see SqlGraphStore._raw_rows): every impact runs these.
_CONTRACTS = dict.fromkeys(("sqlite", "postgresql"), (
    "SELECT consumer.key, asset.key, c.contract FROM consumer_contract c "
    "JOIN node consumer ON consumer.id = c.consumer_id JOIN node asset ON asset.id = c.asset_id "
    "WHERE consumer.key IN {keys}"))
_DATASET_CONSUMERS = dict.fromkeys(("sqlite", "postgresql"), (
    "SELECT f.key, d.key, d.name, c.key, c.name FROM node f "
    "JOIN edge hf ON hf.dst = f.id AND hf.kind = '" + EdgeKind.HAS_FIELD.value + "' "
    "JOIN node d ON d.id = hf.src "
    "JOIN edge cons ON cons.src = hf.src AND cons.kind = '" + EdgeKind.CONSUMES.value + "' "
    "JOIN node c ON c.id = cons.dst "
    "WHERE f.key IN {keys}"))
# The same in two steps from node ids: each field's dataset (the field's position in the
# parameter comes back with it), then the consumers of those datasets.
_FIELD_DATASETS = {
    "sqlite": "SELECT j.key, hf.src FROM json_each(?) j "
              "JOIN edge hf ON hf.dst = j.value AND hf.kind = '" + EdgeKind.HAS_FIELD.value + "'",
    "postgresql": "SELECT f.ord - 1, hf.src FROM unnest(%s::bigint[]) WITH ORDINALITY f(id, ord) "
                  "JOIN edge hf ON hf.dst = f.id AND hf.kind = '" + EdgeKind.HAS_FIELD.value + "'",
}
_DATASET_CONSUMERS_BY_ID = {
    dialect: "SELECT d.id, d.key, d.name, c.key, c.name FROM " + ids + " "
             "JOIN node d ON d.id = " + column + " "
             "JOIN edge cons ON cons.src = d.id AND cons.kind = '" + EdgeKind.CONSUMES.value
             + "' JOIN node c ON c.id = cons.dst"
    for dialect, ids, column in [("sqlite", "json_each(?) j", "j.value"),
                                 ("postgresql", "unnest(%s::bigint[]) f(id)", "f.id")]}
_NODE_REFS = {
    dialect: "SELECT n.id, n.key, n.kind, n.name FROM " + ids + " JOIN node n ON n.id = " + column
    for dialect, ids, column in [("sqlite", "json_each(?) j", "j.value"),
                                 ("postgresql", "unnest(%s::bigint[]) f(id)", "f.id")]}
