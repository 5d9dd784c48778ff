"""Record assertions: batches, and their fingerprints in column segments.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "assertion_batch",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("field_id", _ID, sa.ForeignKey("node.id", ondelete="CASCADE"), nullable=False),
        sa.Column("concept", sa.Text, nullable=False),
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
    op.create_index("ix_assertion_batch_concept", "assertion_batch", ["concept"])
    op.create_index("ix_assertion_batch_field_id", "assertion_batch", ["field_id"])
    op.create_table(
        "assertion_segment",
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


def downgrade() -> None:
    op.drop_table("assertion_segment")
    op.drop_index("ix_assertion_batch_field_id", table_name="assertion_batch")
    op.drop_index("ix_assertion_batch_concept", table_name="assertion_batch")
    op.drop_table("assertion_batch")
