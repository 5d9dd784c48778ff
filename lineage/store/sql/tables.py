"""The SQL schema: a property graph (`node`, `edge`) plus typed tables.

SQLModel table classes, separate from the plain pydantic domain models of
`lineage._model`. The migrations in `migrations/versions` create exactly this
schema; `tests/test_migrations.py` proves the two agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

#: the Alembic revision these tables correspond to (checked against the scripts by a test;
#: kept in `light`, which a read opens without importing SQLAlchemy)
from .light import SCHEMA_REVISION as SCHEMA_REVISION

# Byte-order ("C") collation on PostgreSQL so range scans on reversed tails are prefix scans.
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_BINARY_TEXT = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")
metadata = SQLModel.metadata


class NodeRow(SQLModel, table=True):
    """A node. `rtail` is the key's tail (its last two segments, `lineage._keys.tail`)
    reversed: a suffix lookup becomes an indexed prefix scan on it, then a check of the key's
    end. (Until revision 0005 the whole key was stored reversed, a fourth copy of every key;
    an index on the last segment alone was 5,000x slower for a common column name such as
    `orders.user_id`, 49k `user_id` columns at 10^6 nodes.)"""

    __tablename__ = "node"

    id: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger().with_variant(
        sa.Integer(), "sqlite"), primary_key=True, autoincrement=True))
    key: str = Field(sa_column=sa.Column(_BINARY_TEXT, nullable=False, unique=True))
    rtail: str = Field(sa_column=sa.Column(_BINARY_TEXT, nullable=False, index=True))
    kind: str = Field(sa_column=sa.Column(sa.Text, nullable=False, index=True))
    name: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    namespace: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    properties: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(
        sa.JSON, nullable=False))
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class EdgeRow(SQLModel, table=True):
    """An edge in data-flow direction (src upstream). The primary key leads with `src` for
    downstream walks; `ix_edge_dst` serves upstream walks."""

    __tablename__ = "edge"
    __table_args__ = (
        sa.Index("ix_edge_dst", "dst", "src", "kind"),
        {"sqlite_with_rowid": False},
    )

    src: int = Field(sa_column=sa.Column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                                         sa.ForeignKey("node.id", ondelete="CASCADE"),
                                         primary_key=True))
    dst: int = Field(sa_column=sa.Column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                                         sa.ForeignKey("node.id", ondelete="CASCADE"),
                                         primary_key=True))
    kind: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    properties: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(
        sa.JSON, nullable=False))


class SchemaFieldRow(SQLModel, table=True):
    """One field of a dataset version's schema snapshot."""

    __tablename__ = "schema_field"

    version_id: int = Field(sa_column=sa.Column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        sa.ForeignKey("node.id", ondelete="CASCADE"), primary_key=True))
    position: int = Field(sa_column=sa.Column(sa.Integer, primary_key=True))
    name: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    type: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    nullable: bool = Field(sa_column=sa.Column(sa.Boolean, nullable=False))
    description: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    allowed_values: list[Any] | None = Field(default=None, sa_column=sa.Column(
        sa.JSON, nullable=True))


class AssertionBatchRow(SQLModel, table=True):
    """One ingest of record assertions: the field, origin, agent and time they share."""

    __tablename__ = "assertion_batch"

    id: int | None = Field(default=None, sa_column=sa.Column(
        _ID, primary_key=True, autoincrement=True))
    field_id: int = Field(sa_column=sa.Column(
        _ID, sa.ForeignKey("node.id", ondelete="CASCADE"), nullable=False, index=True))
    concept: str = Field(sa_column=sa.Column(sa.Text, nullable=False, index=True))
    dataset_version_id: int | None = Field(default=None, sa_column=sa.Column(
        _ID, sa.ForeignKey("node.id", ondelete="SET NULL"), nullable=True))
    origin: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    agent_id: int = Field(sa_column=sa.Column(
        _ID, sa.ForeignKey("node.id", ondelete="CASCADE"), nullable=False))
    asserted_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    row_count: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    source: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    principal: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))


class AssertionSegmentRow(SQLModel, table=True):
    """Up to SEGMENT_ROWS assertions of a batch, column by column, as little-endian arrays:
    int64 entity and value fingerprints, float32 confidence (NaN: not given), and for
    human reviews the reviewed (batch id, row) pairs as int64 (-1: none).

    Why arrays and not a row per assertion: the guard reads millions of fingerprints per
    check, and a row per assertion costs more to bring into Python than the whole check.
    """

    __tablename__ = "assertion_segment"

    batch_id: int = Field(sa_column=sa.Column(
        _ID, sa.ForeignKey("assertion_batch.id", ondelete="CASCADE"), primary_key=True))
    seq: int = Field(sa_column=sa.Column(sa.Integer, primary_key=True))
    row_count: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    entity_fp: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    value_fp: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    confidence: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    reviewed_batch: bytes | None = Field(default=None, sa_column=sa.Column(
        sa.LargeBinary, nullable=True))
    reviewed_row: bytes | None = Field(default=None, sa_column=sa.Column(
        sa.LargeBinary, nullable=True))


class ConsumerContractRow(SQLModel, table=True):
    """A consumer's contract on one asset (ODCS-style: fields, types, ranges, values)."""

    __tablename__ = "consumer_contract"

    consumer_id: int = Field(sa_column=sa.Column(
        _ID, sa.ForeignKey("node.id", ondelete="CASCADE"), primary_key=True))
    asset_id: int = Field(sa_column=sa.Column(
        _ID, sa.ForeignKey("node.id", ondelete="CASCADE"), primary_key=True))
    contract: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    updated_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class ConsumerChannelRow(SQLModel, table=True):
    """Where a consumer is told: a webhook URL, an email address or a file path."""

    __tablename__ = "consumer_channel"
    __table_args__ = (sa.UniqueConstraint("consumer_id", "kind", "target",
                                          name="uq_consumer_channel"),)

    id: int | None = Field(default=None, sa_column=sa.Column(
        _ID, primary_key=True, autoincrement=True))
    consumer_id: int = Field(sa_column=sa.Column(
        _ID, sa.ForeignKey("node.id", ondelete="CASCADE"), nullable=False))
    kind: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    target: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    secret: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(
        sa.JSON, nullable=False))


class OutboxRow(SQLModel, table=True):
    """A notification to deliver: at-least-once, retried with backoff, dead after N.

    `state`: pending, delivered or dead; a pending row with `lease_until` in the future is
    being delivered right now (a crashed deliverer's lease simply expires).
    """

    __tablename__ = "outbox"
    __table_args__ = (sa.Index("ix_outbox_state_next_attempt_at", "state", "next_attempt_at"),)

    id: int | None = Field(default=None, sa_column=sa.Column(
        _ID, primary_key=True, autoincrement=True))
    idempotency_key: str = Field(sa_column=sa.Column(sa.Text, nullable=False, unique=True))
    consumer_id: int = Field(sa_column=sa.Column(
        _ID, sa.ForeignKey("node.id", ondelete="CASCADE"), nullable=False))
    channel_id: int = Field(sa_column=sa.Column(
        _ID, sa.ForeignKey("consumer_channel.id", ondelete="CASCADE"), nullable=False))
    event: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    payload: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    state: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    attempts: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    next_attempt_at: datetime = Field(sa_column=sa.Column(
        sa.DateTime(timezone=True), nullable=False))
    lease_until: datetime | None = Field(default=None, sa_column=sa.Column(
        sa.DateTime(timezone=True), nullable=True))
    last_error: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    delivered_at: datetime | None = Field(default=None, sa_column=sa.Column(
        sa.DateTime(timezone=True), nullable=True))


class ApiTokenRow(SQLModel, table=True):
    """An API token, stored as a SHA-256 hash; shown to its owner once, at creation."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, sa_column=sa.Column(
        _ID, primary_key=True, autoincrement=True))
    name: str = Field(sa_column=sa.Column(sa.Text, nullable=False, unique=True))
    token_hash: str = Field(sa_column=sa.Column(sa.Text, nullable=False, unique=True))
    scopes: list[str] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    origins: list[str] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=sa.Column(
        sa.DateTime(timezone=True), nullable=True))
    last_used_at: datetime | None = Field(default=None, sa_column=sa.Column(
        sa.DateTime(timezone=True), nullable=True))


class AuditLogRow(SQLModel, table=True):
    """Who wrote what, when: one row per write through the API or the CLI."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, sa_column=sa.Column(
        _ID, primary_key=True, autoincrement=True))
    at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False,
                                             index=True))
    principal: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    action: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    target: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(
        sa.JSON, nullable=False))


node_table: sa.Table = NodeRow.__table__  # type: ignore[attr-defined]
edge_table: sa.Table = EdgeRow.__table__  # type: ignore[attr-defined]
schema_field_table: sa.Table = SchemaFieldRow.__table__  # type: ignore[attr-defined]
assertion_batch_table: sa.Table = AssertionBatchRow.__table__  # type: ignore[attr-defined]
assertion_segment_table: sa.Table = AssertionSegmentRow.__table__  # type: ignore[attr-defined]
consumer_contract_table: sa.Table = ConsumerContractRow.__table__  # type: ignore[attr-defined]
consumer_channel_table: sa.Table = ConsumerChannelRow.__table__  # type: ignore[attr-defined]
outbox_table: sa.Table = OutboxRow.__table__  # type: ignore[attr-defined]
api_token_table: sa.Table = ApiTokenRow.__table__  # type: ignore[attr-defined]
audit_log_table: sa.Table = AuditLogRow.__table__  # type: ignore[attr-defined]
