"""Engines for SQLite and PostgreSQL, and the migrations run when a store opens."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError, SQLAlchemyError

from ..._errors import NotFound, StoreError
from . import pgarray
from .light import SCHEMA_REVISION, SQLITE_BUSY_TIMEOUT_MS, first_line, no_store_message

MIGRATIONS = Path(__file__).parent / "migrations"


def create(url: str, *, create_store: bool = True) -> Engine:
    """An engine for a `sqlite:///…` or `postgresql://…` URL, migrated to the current schema.

    `create_store=False`: raise NotFound, creating nothing, when no store exists there yet
    (no SQLite file; no lineage tables in the PostgreSQL schema)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"'{url}' is not a database URL: {exc}") from exc
    if parsed.drivername.split("+", 1)[0] == "postgres":
        # the scheme libpq and most tools accept; SQLAlchemy only knows "postgresql"
        parsed = parsed.set(drivername=parsed.drivername.replace("postgres", "postgresql", 1))
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if not create_store and not in_memory(parsed) and not _sqlite_file(parsed).exists():
            raise _no_store(url)
        engine = _sqlite(parsed)
    elif backend == "postgresql":
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        engine = sa.create_engine(parsed, future=True)
        event.listen(engine, "connect", _postgres_session)
        event.listen(engine, "checkin", _idle_from_now)
        event.listen(engine, "checkout", _ping_when_idle)
    else:
        raise StoreError(f"no SQL backend for '{backend}' (use sqlite:/// or postgresql://)")
    try:
        if not create_store:
            with engine.connect() as conn:
                missing = _current_revision(conn) is None
            if missing:
                engine.dispose()
                raise _no_store(url)
        migrate(engine)
    except StoreError:
        engine.dispose()
        raise
    except SQLAlchemyError as exc:
        engine.dispose()
        raise StoreError(f"cannot open the store at {_safe(url)}: {_first_line(exc)}") from exc
    return engine


def _no_store(url: str) -> NotFound:
    return NotFound(no_store_message(_safe(url)))


def _sqlite_file(parsed: sa.URL) -> Path:
    database = parsed.database or ""
    if database.startswith("file:"):
        database = database[len("file:"):].split("?", 1)[0]
    return Path(database).expanduser()


#: the least `work_mem` of the store's PostgreSQL sessions
SESSION_WORK_MEM = "16MB"


def _postgres_session(dbapi_conn: Any, _record: Any) -> None:
    # No JIT: this store's queries are index lookups, but their estimates (inflated before
    # ANALYZE, or over a hub's frontier) cross jit_above_cost, and compiling costs 10^2 ms
    # a query never earns back (a walk's level took 150 ms instead of 0.3 ms).
    pgarray.register(dbapi_conn)  # id lists as binary arrays (see pgarray.py)
    cur = dbapi_conn.cursor()
    cur.execute("SET jit = off")
    # At least SESSION_WORK_MEM (never lowering a larger setting): with the default 4 MB,
    # a hub's impact() spilled its sorts and big frontier arrays to temporary files (~8%
    # of the server's CPU on those statements).
    cur.execute("SELECT set_config('work_mem', %s, false) WHERE pg_size_bytes("
                "current_setting('work_mem')) < pg_size_bytes(%s)",
                (SESSION_WORK_MEM, SESSION_WORK_MEM))
    cur.close()
    dbapi_conn.commit()  # a SET in a transaction rolled back would be undone


#: a pooled PostgreSQL connection idle this long is pinged before use (a server restart
#: or an idle timeout may have closed it); one in steady use is not
PING_AFTER_IDLE_SECONDS = 1.0
_IDLE_SINCE = "lineage_idle_since"


def _idle_from_now(_dbapi_conn: Any, record: Any) -> None:
    record.info[_IDLE_SINCE] = time.monotonic()


def _ping_when_idle(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
    """SQLAlchemy's pool_pre_ping, only for a connection idle more than
    PING_AFTER_IDLE_SECONDS: pinging every checkout cost the ingest writer a round trip per
    transaction (a tenth of its time on a busy machine). A dead connection raises
    DisconnectionError, and the pool replaces it and retries, as with pool_pre_ping."""
    since = record.info.get(_IDLE_SINCE)
    if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
        return  # new (the connect just succeeded), or in steady use
    cur = None
    try:
        autocommit = dbapi_conn.autocommit
        dbapi_conn.autocommit = True  # no transaction left open by the ping
        try:
            cur = dbapi_conn.cursor()
            cur.execute(";")
        finally:
            if not dbapi_conn.closed:
                dbapi_conn.autocommit = autocommit
    except Exception as exc:  # noqa: BLE001 - whatever broke, the connection is not usable
        raise DisconnectionError(f"stale pooled connection: {exc}") from exc
    finally:
        if cur is not None:
            try:
                cur.close()
            except Exception:  # noqa: BLE001, S110 - already broken: replaced anyway
                pass


def in_memory(parsed: sa.URL) -> bool:
    """Whether the URL names a SQLite database in this process's memory (`sqlite://`,
    `:memory:`, or a `file:` URI with mode=memory), which no other process can open."""
    if parsed.get_backend_name() != "sqlite":
        return False
    database = parsed.database or ""
    return database in ("", ":memory:") or (
        database.startswith("file:") and (parsed.query.get("mode") == "memory"
                                          or "mode=memory" in database))


def _sqlite(parsed: sa.URL) -> Engine:
    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        folder = Path(database).expanduser().resolve().parent
        if not folder.is_dir():
            raise StoreError(f"cannot create the store {database}: folder {folder} does not exist")
    engine = sa.create_engine(parsed, future=True)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin event issue BEGIN itself: pysqlite's implicit, deferred
        # BEGIN would let two writers deadlock on the lock upgrade instead of waiting.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # A write transaction takes the write lock up front (waiting up to busy_timeout).
        # On the driver's connection: through exec_driver_sql this cost a third of an empty
        # write transaction. Its errors (a lock not obtained in time) are the driver's;
        # the store's `_read`/`_write` translate them.
        immediate = conn.get_execution_options().get("lineage_write", False)
        conn.connection.driver_connection.execute(  # type: ignore[union-attr]
            "BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def migrate(engine: Engine) -> None:
    """Bring the schema to the current revision. Fast when it already is (one SELECT)."""
    with engine.connect() as conn:
        current = _current_revision(conn)
    if current == SCHEMA_REVISION:
        return
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if current is not None:
        try:
            ScriptDirectory.from_config(config).get_revision(current)
        except CommandError:  # Alembic's traceback said only "Can't locate revision"
            shown = engine.url.render_as_string(hide_password=True)
            raise StoreError(
                f"the store at {shown} has schema revision '{current}', which this release "
                f"of lineage does not know (its newest is '{SCHEMA_REVISION}'): a newer "
                "release wrote it; upgrade lineage to open it. Nothing was changed") from None
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect().execution_options(lineage_write=True) as conn:
        raw: Any = conn.connection.driver_connection
        # SQLite's batch mode rebuilds a table (copy, DROP, rename): with foreign keys on,
        # dropping `node` would cascade to every edge. Off for the migration (the PRAGMA only
        # takes effect outside a transaction), proven intact before the commit.
        if sqlite:  # on the DBAPI connection: SQLAlchemy's would begin a transaction
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
                if sqlite and conn.exec_driver_sql("PRAGMA foreign_key_check").first():
                    raise StoreError("migration left rows whose references are missing; "
                                     "nothing was changed")
        finally:
            if sqlite:
                raw.execute("PRAGMA foreign_keys=ON")


def _current_revision(conn: Connection) -> str | None:
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def _safe(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


_first_line = first_line
