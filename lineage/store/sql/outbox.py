"""The notification outbox in SQL: written with the batch it belongs to, claimed under
leases, settled as outcomes come (several per transaction when they come together).

Claiming is the one dialect-sensitive spot. PostgreSQL picks due rows with
`FOR UPDATE SKIP LOCKED`, so concurrent deliverers take disjoint rows without waiting on
each other; SQLite ignores that clause, and needs none: a write transaction takes the
database's single write lock when it begins (BEGIN IMMEDIATE, see engine.py), so the
select-then-lease below is atomic there as it stands.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..._errors import ValidationError
from ..._model import (
    ApplyResult,
    ChannelSpec,
    DeliveryOutcome,
    GraphBatch,
    NotificationSpec,
    OutboxItem,
    OutboxState,
)
from ..base import MergeEdgeProperties, MergeProperties
from .consumers import SqlConsumerStore
from .graph import _canonical

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

# SQLAlchemy and the tables are imported where they are used: a read on a SQLite file
# need not load them (see `light`).

_IN_CHUNK = 500


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for i in range(0, len(items), _IN_CHUNK):
        yield items[i:i + _IN_CHUNK]


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive times; everything this store writes is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class SqlOutboxStore(SqlConsumerStore):
    """The SQL store's notification outbox, on top of consumers and their channels."""

    # ---------------------------------------------------------------- enqueue

    def _apply_in(self, conn: Connection, batch: GraphBatch,
                  merge: MergeProperties | None = None,
                  merge_edges: MergeEdgeProperties | None = None) -> ApplyResult:
        # After the layers below: the batch may create the very channels it notifies.
        result = super()._apply_in(conn, batch, merge, merge_edges)
        if not batch.notifications:
            return result
        added = self._enqueue_in(conn, batch.notifications)
        return replace(result, notifications_enqueued=result.notifications_enqueued + added)

    def _enqueue(self, notifications: list[NotificationSpec]) -> int:
        with self._write() as conn:
            return self._enqueue_in(conn, notifications)

    def _enqueue_in(self, conn: Connection, notifications: list[NotificationSpec]) -> int:
        from .tables import outbox_table

        _o = outbox_table.c
        channels = self._channel_ids(conn, sorted({n.consumer for n in notifications}))
        missing = sorted({f"{n.consumer} ({n.channel_kind} {n.channel_target})"
                          for n in notifications
                          if (n.consumer, n.channel_kind, n.channel_target) not in channels})
        if missing:
            raise ValidationError("notifications name channels their consumers do not have: "
                                  + ", ".join(missing[:10]))
        now = datetime.now(UTC)
        rows: dict[str, dict[str, Any]] = {}
        for n in notifications:
            consumer_id, channel_id = channels[(n.consumer, n.channel_kind, n.channel_target)]
            rows.setdefault(n.idempotency_key, dict(
                idempotency_key=n.idempotency_key, consumer_id=consumer_id,
                channel_id=channel_id, event=n.event, payload=_canonical(n.payload),
                state="pending", attempts=0, next_attempt_at=now, created_at=now))
        # one dialect's module: importing both costs every command ~0.1 s
        dialect_insert: Any
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        # A stored key wins, whatever its state: that is what makes enqueueing idempotent.
        statement = (dialect_insert(outbox_table)
                     .on_conflict_do_nothing(index_elements=["idempotency_key"])
                     .returning(_o.id))
        added = 0
        for chunk in _chunks(list(rows.values())):
            added += len(conn.execute(statement, chunk).all())
        return added

    @staticmethod
    def _channel_ids(conn: Connection,
                     consumers: list[str]) -> dict[tuple[str, str, str], tuple[int, int]]:
        """(consumer key, kind, target) -> (consumer id, channel id), as stored now."""
        import sqlalchemy as sa

        from .tables import consumer_channel_table, node_table

        _ch = consumer_channel_table.c
        found: dict[tuple[str, str, str], tuple[int, int]] = {}
        for chunk in _chunks(consumers):
            rows = conn.execute(
                sa.select(node_table.c.key, _ch.consumer_id, _ch.id, _ch.kind, _ch.target)
                .join(node_table, node_table.c.id == _ch.consumer_id)
                .where(node_table.c.key.in_(chunk)))
            found.update({(r.key, r.kind, r.target): (r.consumer_id, r.id) for r in rows})
        return found

    # ---------------------------------------------------------------- deliver

    def _claim(self, limit: int, lease_seconds: float, now: datetime) -> list[OutboxItem]:
        import sqlalchemy as sa

        from .tables import outbox_table

        _o = outbox_table.c
        due = (sa.select(_o.id)
               .where(_o.state == "pending", _o.next_attempt_at <= now,
                      sa.or_(_o.lease_until.is_(None), _o.lease_until <= now))
               .order_by(_o.next_attempt_at, _o.id)
               .limit(limit)
               .with_for_update(skip_locked=True))
        with self._write() as conn:
            ids = list(conn.execute(due).scalars())
            if not ids:
                return []
            # attempts grow when an outcome is recorded (`_settle`), not here: a claim
            # whose deliverer dies before sending must not count
            conn.execute(outbox_table.update().where(_o.id.in_(ids)).values(
                lease_until=now + timedelta(seconds=lease_seconds)))
            items = {item.id: item for item in self._items(conn, _o.id.in_(ids))}
        return [items[i] for i in ids]

    def _settle(self, outcomes: list[DeliveryOutcome], now: datetime) -> int:
        from .tables import outbox_table

        _o = outbox_table.c
        delivered = sorted({o.id for o in outcomes if o.delivered})
        failed = [o for o in outcomes if not o.delivered and o.id not in delivered]
        changed = 0
        with self._write() as conn:
            for chunk in _chunks(delivered):
                changed += conn.execute(
                    outbox_table.update()
                    .where(_o.id.in_(chunk), _o.state != "delivered")
                    .values(state="delivered", delivered_at=now, lease_until=None,
                            attempts=_o.attempts + 1)).rowcount
            for outcome in failed:  # few, and each with its own values
                values: dict[str, Any] = dict(last_error=outcome.error, lease_until=None,
                                              attempts=_o.attempts + 1)
                if outcome.retry_at is None:
                    values["state"] = "dead"
                else:
                    values["next_attempt_at"] = outcome.retry_at
                changed += conn.execute(
                    outbox_table.update()
                    .where(_o.id == outcome.id, _o.state == "pending")
                    .values(**values)).rowcount
        return changed

    # ---------------------------------------------------------------- inspect and redrive

    def _outbox_status(self) -> dict[str, int]:
        import sqlalchemy as sa

        from .tables import outbox_table

        _o = outbox_table.c
        with self._read() as conn:
            rows = conn.execute(sa.select(_o.state, sa.func.count()).group_by(_o.state))
            return {state: int(count) for state, count in rows}

    def _outbox(self, state: OutboxState | None, limit: int) -> list[OutboxItem]:
        import sqlalchemy as sa

        from .tables import outbox_table

        _o = outbox_table.c
        where = sa.true() if state is None else _o.state == state
        with self._read() as conn:
            return self._items(conn, where, limit)

    def _redrive(self, ids: list[int] | None, now: datetime) -> int:
        from .tables import outbox_table

        _o = outbox_table.c
        values = dict(state="pending", attempts=0, next_attempt_at=now, lease_until=None)
        with self._write() as conn:
            if ids is None:
                return int(conn.execute(outbox_table.update().where(_o.state == "dead")
                                        .values(**values)).rowcount)
            changed = 0
            for chunk in _chunks(ids):
                changed += conn.execute(outbox_table.update()
                                        .where(_o.state == "dead", _o.id.in_(chunk))
                                        .values(**values)).rowcount
            return changed

    def _import_outbox(self, items: list[OutboxItem]) -> int:
        import sqlalchemy as sa

        from .tables import outbox_table

        _o = outbox_table.c
        with self._write() as conn:
            channels = self._channel_ids(conn, sorted({i.consumer for i in items}))
            missing = sorted({f"{i.consumer} ({i.channel.kind} {i.channel.target})"
                              for i in items
                              if (i.consumer, i.channel.kind, i.channel.target) not in channels})
            if missing:
                raise ValidationError("outbox items name channels their consumers do not "
                                      "have: " + ", ".join(missing[:10]))
            stored: set[str] = set()
            for chunk in _chunks(sorted({i.idempotency_key for i in items})):
                stored |= set(conn.execute(sa.select(_o.idempotency_key)
                                           .where(_o.idempotency_key.in_(chunk))).scalars())
            rows = []
            for i in items:
                if i.idempotency_key in stored:
                    continue
                stored.add(i.idempotency_key)
                consumer_id, channel_id = channels[(i.consumer, i.channel.kind,
                                                    i.channel.target)]
                rows.append(dict(
                    idempotency_key=i.idempotency_key, consumer_id=consumer_id,
                    channel_id=channel_id, event=i.event, payload=_canonical(i.payload),
                    state=i.state, attempts=i.attempts, next_attempt_at=i.next_attempt_at,
                    lease_until=i.lease_until, last_error=i.last_error,
                    created_at=i.created_at, delivered_at=i.delivered_at))
            for chunk in _chunks(rows):
                conn.execute(outbox_table.insert(), chunk)
        return len(rows)

    @staticmethod
    def _items(conn: Connection, where: Any, limit: int | None = None) -> list[OutboxItem]:
        import sqlalchemy as sa

        from .tables import consumer_channel_table, node_table, outbox_table

        _o, _ch = outbox_table.c, consumer_channel_table.c
        consumer = node_table.alias("consumer")
        query = (sa.select(outbox_table, consumer.c.key.label("consumer_key"),
                           _ch.kind.label("channel_kind"), _ch.target.label("channel_target"),
                           _ch.secret.label("channel_secret"),
                           _ch.settings.label("channel_settings"))
                 .join(consumer, consumer.c.id == _o.consumer_id)
                 .join(consumer_channel_table, _ch.id == _o.channel_id)
                 .where(where).order_by(_o.id))
        if limit is not None:
            query = query.limit(limit)
        channels: dict[int, ChannelSpec] = {}  # one per channel: a batch often shares a few
        items = []
        for r in conn.execute(query):
            channel = channels.get(r.channel_id)
            if channel is None:
                channel = channels[r.channel_id] = ChannelSpec(
                    kind=r.channel_kind, target=r.channel_target, secret=r.channel_secret,
                    settings=r.channel_settings or {})
            items.append(OutboxItem(
                id=r.id, idempotency_key=r.idempotency_key, consumer=r.consumer_key,
                channel=channel, event=r.event, payload=r.payload, state=r.state,
                attempts=r.attempts,
                next_attempt_at=_aware(r.next_attempt_at),  # type: ignore[arg-type]
                created_at=_aware(r.created_at),  # type: ignore[arg-type]
                lease_until=_aware(r.lease_until), last_error=r.last_error,
                delivered_at=_aware(r.delivered_at)))
        return items
