"""The SQL schema: a property graph (`node`, `edge`) plus typed tables.

SQLAlchemy Core tables: the backend reads and writes them with Core statements only, and
defining them costs a command no ORM or pydantic class building (about a tenth of a read's
start-up when they were SQLModel table models). The domain types stay the plain models of
`lineage._model`. The migrations in `migrations/versions` create exactly this schema;
`tests/test_migrations.py` proves the two agree.
"""

from __future__ import annotations

import sqlalchemy as sa

#: the Alembic revision these tables correspond to (checked against the scripts by a test)
SCHEMA_REVISION = "0005"

# Byte-order ("C") collation on PostgreSQL so range scans on reversed tails are prefix scans.
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_BINARY_TEXT = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")
metadata = sa.MetaData()


# A node. `rtail` is the key's tail (its last two segments, `lineage._keys.tail`)
# reversed: a suffix lookup becomes an indexed prefix scan on it, then a check of the key's
# end. (Until revision 0005 the whole key was stored reversed, a fourth copy of every key;
# an index on the last segment alone was 5,000x slower for a common column name such as
# `orders.user_id`, 49k `user_id` columns at 10^6 nodes.)
node_table = sa.Table(
    "node", metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("key", _BINARY_TEXT, nullable=False, unique=True),
    sa.Column("rtail", _BINARY_TEXT, nullable=False, index=True),
    sa.Column("kind", sa.Text, nullable=False, index=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("namespace", sa.Text, nullable=True),
    sa.Column("properties", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


# An edge in data-flow direction (src upstream). The primary key leads with `src` for
# downstream walks; `ix_edge_dst` serves upstream walks.
edge_table = sa.Table(
    "edge", metadata,
    sa.Column("src", _ID, sa.ForeignKey("node.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("dst", _ID, sa.ForeignKey("node.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("kind", sa.Text, primary_key=True),
    sa.Column("properties", sa.JSON, nullable=False),
    sa.Index("ix_edge_dst", "dst", "src", "kind"),
    sqlite_with_rowid=False,
)


# One field of a dataset version's schema snapshot.
schema_field_table = sa.Table(
    "schema_field", metadata,
    sa.Column("version_id", _ID, sa.ForeignKey("node.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("nullable", sa.Boolean, nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("allowed_values", sa.JSON, nullable=True),
)


# One ingest of record assertions: the field, origin, agent and time they share.
assertion_batch_table = sa.Table(
    "assertion_batch", metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("field_id", _ID, sa.ForeignKey("node.id", ondelete="CASCADE"), nullable=False,
              index=True),
    sa.Column("concept", sa.Text, nullable=False, index=True),
    sa.Column("dataset_version_id", _ID, sa.ForeignKey("node.id", ondelete="SET NULL"),
              nullable=True),
    sa.Column("origin", sa.Text, nullable=False),
    sa.Column("agent_id", _ID, sa.ForeignKey("node.id", ondelete="CASCADE"), nullable=False),
    sa.Column("asserted_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("row_count", sa.BigInteger, nullable=False),
    sa.Column("source", sa.Text, nullable=True),
    sa.Column("principal", sa.Text, nullable=True),
)


# Up to SEGMENT_ROWS assertions of a batch, column by column, as little-endian arrays:
# int64 entity and value fingerprints, float32 confidence (NaN: not given), and for
# human reviews the reviewed (batch id, row) pairs as int64 (-1: none).
#
# Why arrays and not a row per assertion: the guard reads millions of fingerprints per
# check, and a row per assertion costs more to bring into Python than the whole check.
assertion_segment_table = sa.Table(
    "assertion_segment", metadata,
    sa.Column("batch_id", _ID, sa.ForeignKey("assertion_batch.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("row_count", sa.Integer, nullable=False),
    sa.Column("entity_fp", sa.LargeBinary, nullable=False),
    sa.Column("value_fp", sa.LargeBinary, nullable=False),
    sa.Column("confidence", sa.LargeBinary, nullable=False),
    sa.Column("reviewed_batch", sa.LargeBinary, nullable=True),
    sa.Column("reviewed_row", sa.LargeBinary, nullable=True),
)


# A consumer's contract on one asset (ODCS-style: fields, types, ranges, values).
consumer_contract_table = sa.Table(
    "consumer_contract", metadata,
    sa.Column("consumer_id", _ID, sa.ForeignKey("node.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("asset_id", _ID, sa.ForeignKey("node.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("contract", sa.JSON, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


# Where a consumer is told: a webhook URL, an email address or a file path.
consumer_channel_table = sa.Table(
    "consumer_channel", metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("consumer_id", _ID, sa.ForeignKey("node.id", ondelete="CASCADE"), nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("secret", sa.Text, nullable=True),
    sa.Column("settings", sa.JSON, nullable=False),
    sa.UniqueConstraint("consumer_id", "kind", "target", name="uq_consumer_channel"),
)


# A notification to deliver: at-least-once, retried with backoff, dead after N.
#
# `state`: pending, delivered or dead; a pending row with `lease_until` in the future is
# being delivered right now (a crashed deliverer's lease simply expires).
outbox_table = sa.Table(
    "outbox", metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("idempotency_key", sa.Text, nullable=False, unique=True),
    sa.Column("consumer_id", _ID, sa.ForeignKey("node.id", ondelete="CASCADE"), nullable=False),
    sa.Column("channel_id", _ID, sa.ForeignKey("consumer_channel.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("event", sa.Text, nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index("ix_outbox_state_next_attempt_at", "state", "next_attempt_at"),
)


# An API token, stored as a SHA-256 hash; shown to its owner once, at creation.
api_token_table = sa.Table(
    "api_token", metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("name", sa.Text, nullable=False, unique=True),
    sa.Column("token_hash", sa.Text, nullable=False, unique=True),
    sa.Column("scopes", sa.JSON, nullable=False),
    sa.Column("origins", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
)


# Who wrote what, when: one row per write through the API or the CLI.
audit_log_table = sa.Table(
    "audit_log", metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("principal", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("target", sa.Text, nullable=True),
    sa.Column("detail", sa.JSON, nullable=False),
)

