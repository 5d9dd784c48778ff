"""Consumers' contracts and channels, and the notification outbox.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "consumer_contract",
        sa.Column("consumer_id", _ID, sa.ForeignKey("node.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("asset_id", _ID, sa.ForeignKey("node.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("contract", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "consumer_channel",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("consumer_id", _ID, sa.ForeignKey("node.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("secret", sa.Text, nullable=True),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.UniqueConstraint("consumer_id", "kind", "target", name="uq_consumer_channel"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("idempotency_key", sa.Text, nullable=False, unique=True),
        sa.Column("consumer_id", _ID, sa.ForeignKey("node.id", ondelete="CASCADE"),
                  nullable=False),
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
    )
    op.create_index("ix_outbox_state_next_attempt_at", "outbox", ["state", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_state_next_attempt_at", table_name="outbox")
    op.drop_table("outbox")
    op.drop_table("consumer_channel")
    op.drop_table("consumer_contract")
