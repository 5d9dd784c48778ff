"""What the SQL store needs before it needs SQLAlchemy: the schema revision, plain SQLite
URLs, and a small pool of standard-library SQLite connections for the DBAPI reads.

A read command on a SQLite file (`lineage impact`) spends ~40 ms on its queries and used
to spend ~0.3 s importing SQLAlchemy to open the engine that ran them through a pooled
DBAPI cursor anyway. So a store on a plain `sqlite:///path` URL whose schema is current
runs those reads on its own `sqlite3` connections, and opens the SQLAlchemy engine (which
migrates, and does every write) on first use. Nothing here imports SQLAlchemy; a test
proves an impact read leaves it unloaded.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

#: the Alembic revision the tables correspond to (checked against the scripts by a test;
#: `tables.SCHEMA_REVISION` is this one)
SCHEMA_REVISION = "0007"

#: how long a SQLite connection waits for another writer's lock before giving up
SQLITE_BUSY_TIMEOUT_MS = 30_000

#: characters a database path in a URL may not hold for this module to read it itself:
#: SQLAlchemy would decode (`%`), split (`?`, `#`, `@`) or treat them specially (`:memory:`,
#: `file:` URIs); `~` is left to the engine as well. Those URLs take the engine's path.
_SPECIAL = frozenset("%?#@:~\\")


def sqlite_file(url: str) -> str | None:
    """The database path of a plain `sqlite:///path` URL (a file, named as SQLAlchemy would
    read it), None for anything else (another scheme or driver, a database in memory, a
    query string, characters SQLAlchemy would decode)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return None
    path = url[len(prefix):]
    if not path or _SPECIAL.intersection(path) or path.endswith("/"):
        return None
    return path


def no_store_message(shown_url: str) -> str:
    """What a read says when there is no store at the URL (the SQL backend's NotFound)."""
    return (f"no store at {shown_url}: run `lineage register MANIFEST` (or `lineage "
            "init`) to create one, or point --store / LINEAGE_URL at an existing one")


def first_line(exc: BaseException) -> str:
    """The first line of a driver's (or SQLAlchemy's) error message."""
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


class SqlitePool:
    """Standard-library connections to one SQLite file, for reads: each is used by one
    thread at a time and kept for the next (as SQLAlchemy's pool does for a file database,
    so `check_same_thread` is off). A connection is handed out in autocommit mode; a
    caller that began a transaction has it rolled back when the connection comes back."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    def _open(self) -> sqlite3.Connection:
        # The file must exist: a read never creates a store (sqlite3 would create it).
        if not Path(self.path).is_file():
            raise sqlite3.OperationalError(f"unable to open database file {self.path}")
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        except BaseException:
            conn.close()
            raise
        return conn

    def get(self) -> sqlite3.Connection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._open()

    def put(self, conn: sqlite3.Connection) -> None:
        try:
            if conn.in_transaction:
                conn.rollback()
        except sqlite3.Error:
            conn.close()
            return
        with self._lock:
            if not self._closed:
                self._idle.append(conn)
                return
        conn.close()

    def revision(self) -> str | None:
        """The store's Alembic revision; None when the file holds no lineage store."""
        conn = self.get()
        try:
            found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                                 "name = 'alembic_version'").fetchone()
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone() if (
                found) else None
        finally:
            self.put(conn)
        return None if row is None else str(row[0])

    def close_idle(self) -> None:
        """Close the kept connections (the next read opens one again): a bulk load into an
        empty store can leave WAL mode only while no other connection holds the file."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
