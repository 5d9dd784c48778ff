"""API tokens and the audit log in SQL (tables `api_token` and `audit_log`, migration 0004).

The audit log joins the writes it records: every write transaction of the store (`_write`)
appends the entries of the enclosing `Store.audited` blocks before it commits, so a write and
its audit entry commit together or not at all. The layer's own bookkeeping writes (the
standalone `_audit`, a token's last use) go around that, through the next layer's `_write`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..._access import AuditEntry, TokenInfo
from .consumers import SqlConsumerStore
from .graph import _APPLY_SQL, TRAILING_STATEMENTS

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

# SQLAlchemy and the tables are imported where they are used: a read on a SQLite file
# need not load them (see `light`).

_AUDIT_INSERT = {
    "sqlite": "INSERT INTO audit_log (at, principal, action, target, detail) "
              "VALUES (?, ?, ?, ?, ?)",
    "postgresql": "INSERT INTO audit_log (at, principal, action, target, detail) "
                  "VALUES (%s, %s, %s, %s, %s::json)",
}
# A group-committed ingest transaction has an entry per request: on PostgreSQL they go as
# one statement (one JSON array of rows, as `apply` sends its rows), not one each; the ids
# follow the entries' order.
_PG_AUDIT_ROWS = (
    "INSERT INTO audit_log (at, principal, action, target, detail) "
    "SELECT %s, x.r ->> 0, x.r ->> 1, x.r ->> 2, (x.r ->> 3)::json "
    "FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS x(r, o) ORDER BY x.o")


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive times; everything this store writes is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _token_info(row: Any) -> TokenInfo:
    created = _aware(row.created_at)
    assert created is not None
    return TokenInfo(id=int(row.id), name=row.name, scopes=tuple(row.scopes),
                     origins=tuple(row.origins), created_at=created,
                     revoked_at=_aware(row.revoked_at), last_used_at=_aware(row.last_used_at))


class SqlAdminStore(SqlConsumerStore):
    """The SQL store's API tokens and audit log."""

    # ---------------------------------------------------------------- transactions

    @contextmanager
    def _write(self, *, bulk_load: bool = False) -> Iterator[Connection]:
        pending = self._pending_audit()
        with super()._write(bulk_load=bulk_load) as conn:
            # On PostgreSQL an `apply` in this transaction sends the audit rows with its
            # writes (one round trip fewer a transaction); otherwise they go in at the end.
            handed = bool(pending) and self.dialect == "postgresql"
            if handed:
                # rendered when sent: `apply` tells its `on_runs` first, which may still
                # add to the entries' detail (`Store.audited`)
                conn.info[TRAILING_STATEMENTS] = lambda: self._audit_statements(
                    [p.entry for p in pending])
            try:
                yield conn
            finally:
                # the info dict outlives the checkout: never leave rows for the next one
                unsent = conn.info.pop(TRAILING_STATEMENTS, None) if handed else None
            if pending and (not handed or unsent is not None):
                self._insert_audit(conn, [p.entry for p in pending])
        # only now has the transaction committed: the entries are in the log
        for p in pending:
            p.written = True

    def _audit_statements(self, entries: list[AuditEntry]
                          ) -> list[tuple[str, tuple[Any, ...]]]:
        """PostgreSQL's statements for `entries`: one INSERT, whatever their number."""
        rows = self._audit_rows(entries)
        if len(rows) == 1:
            return [(_AUDIT_INSERT[self.dialect], rows[0])]
        return [(_PG_AUDIT_ROWS, (rows[0][0], json.dumps([row[1:] for row in rows],
                                                         ensure_ascii=False)))]

    def _insert_audit(self, conn: Connection, entries: list[AuditEntry]) -> None:
        # On the DBAPI cursor, as `apply` writes: every ingest transaction adds a row, and
        # SQLAlchemy's insert cost ~4x the statement
        rows = self._audit_rows(entries)
        with self._driver_cursor(conn) as cur:
            cur.executemany(_AUDIT_INSERT[self.dialect], rows)

    def _audit_rows(self, entries: list[AuditEntry]) -> list[tuple[Any, ...]]:
        now = _APPLY_SQL[self.dialect].stamp(datetime.now(UTC))
        return [(now, e.principal, e.action, e.target, json.dumps(e.detail)) for e in entries]

    # ---------------------------------------------------------------- tokens

    def _add_token(self, name: str, token_hash: str, scopes: list[str], origins: list[str],
                   now: datetime) -> TokenInfo:
        import sqlalchemy as sa

        from .tables import api_token_table

        _t = api_token_table.c
        with self._write() as conn:
            conn.execute(api_token_table.insert(), dict(
                name=name, token_hash=token_hash, scopes=scopes, origins=origins,
                created_at=now))
            row = conn.execute(sa.select(api_token_table).where(_t.name == name)).one()
        return _token_info(row)

    def _tokens(self, include_revoked: bool) -> list[TokenInfo]:
        import sqlalchemy as sa

        from .tables import api_token_table

        _t = api_token_table.c
        query = sa.select(api_token_table).order_by(_t.id)
        if not include_revoked:
            query = query.where(_t.revoked_at.is_(None))
        with self._read() as conn:
            return [_token_info(r) for r in conn.execute(query)]

    def _token(self, name: str | None, token_hash: str | None) -> TokenInfo | None:
        import sqlalchemy as sa

        from .tables import api_token_table

        _t = api_token_table.c
        where = _t.name == name if name is not None else _t.token_hash == token_hash
        with self._read() as conn:
            row = conn.execute(sa.select(api_token_table).where(where)).first()
        return None if row is None else _token_info(row)

    def _touch_token(self, token_id: int, now: datetime) -> None:
        from .tables import api_token_table

        _t = api_token_table.c
        # Not a write to audit: around this layer's `_write`, so no pending entry joins it.
        with super()._write() as conn:
            conn.execute(api_token_table.update().where(_t.id == token_id)
                         .values(last_used_at=now))

    def _revoke_token(self, token_id: int, now: datetime) -> TokenInfo | None:
        import sqlalchemy as sa

        from .tables import api_token_table

        _t = api_token_table.c
        with self._write() as conn:
            conn.execute(api_token_table.update()
                         .where(_t.id == token_id, _t.revoked_at.is_(None))
                         .values(revoked_at=now))
            row = conn.execute(sa.select(api_token_table).where(_t.id == token_id)).first()
        return None if row is None else _token_info(row)

    # ---------------------------------------------------------------- audit log

    def _audit(self, entries: list[AuditEntry]) -> None:
        with super()._write() as conn:
            self._insert_audit(conn, entries)

    def _audit_log(self, limit: int, since: datetime | None) -> list[AuditEntry]:
        import sqlalchemy as sa

        from .tables import audit_log_table

        _a = audit_log_table.c
        query = sa.select(audit_log_table).order_by(_a.id.desc()).limit(limit)
        if since is not None:
            query = query.where(_a.at >= since)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [AuditEntry(id=int(r.id), at=_aware(r.at), principal=r.principal,
                           action=r.action, target=r.target, detail=r.detail or {})
                for r in rows]

    # ---------------------------------------------------------------- copying a store

    def _tokens_with_hashes(self) -> list[tuple[TokenInfo, str]]:
        import sqlalchemy as sa

        from .tables import api_token_table

        _t = api_token_table.c
        with self._read() as conn:
            return [(_token_info(r), r.token_hash)
                    for r in conn.execute(sa.select(api_token_table).order_by(_t.id))]

    def _import_tokens(self, tokens: list[tuple[TokenInfo, str]]) -> int:
        import sqlalchemy as sa

        from .tables import api_token_table

        _t = api_token_table.c
        with self._write() as conn:
            taken = set(conn.execute(sa.select(_t.name)).scalars())
            rows = [dict(name=i.name, token_hash=h, scopes=list(i.scopes),
                         origins=list(i.origins), created_at=i.created_at,
                         revoked_at=i.revoked_at, last_used_at=i.last_used_at)
                    for i, h in tokens if i.name not in taken]
            if rows:
                conn.execute(api_token_table.insert(), rows)
        return len(rows)

    def _import_audit(self, entries: list[AuditEntry]) -> int:
        import sqlalchemy as sa

        from .tables import audit_log_table

        _a = audit_log_table.c
        def ident(at: datetime | None, e: Any) -> tuple[Any, ...]:
            return (_aware(at), e.principal, e.action, e.target,
                    json.dumps(e.detail or {}, sort_keys=True))

        # around this layer's `_write`: copied entries are not a write to audit
        with super()._write() as conn:
            first = min(e.at for e in entries if e.at is not None)
            stored = {ident(r.at, r) for r in conn.execute(
                sa.select(audit_log_table).where(_a.at >= first))}
            rows, seen = [], set(stored)
            for e in entries:
                key = ident(e.at, e)
                if key not in seen:
                    seen.add(key)
                    rows.append(dict(at=e.at, principal=e.principal, action=e.action,
                                     target=e.target, detail=e.detail or {}))
            if rows:
                conn.execute(audit_log_table.insert(), rows)
        return len(rows)

