"""The SQL backend: SQLite (embedded default) and PostgreSQL, one code path.

The store is assembled from one layer per concern, each in its own module:
`graph` (nodes, edges, schemas, closure), `assertions` (record provenance),
`consumers` (contracts and channels), `outbox` (notifications to deliver) and `admin`
(API tokens and the audit log). `outbox` and `admin` both build on `consumers`; the MRO
chains them (SqlStore -> admin -> outbox -> consumers -> ...), each calling `super()`.
"""

from .admin import SqlAdminStore
from .outbox import SqlOutboxStore


class SqlStore(SqlAdminStore, SqlOutboxStore):
    """A Store on SQLite (embedded, WAL) or PostgreSQL (shared)."""


__all__ = ["SqlStore"]
