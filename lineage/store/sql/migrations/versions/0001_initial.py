"""The lineage graph: nodes, edges and schema snapshots.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_BINARY_TEXT = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "node",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("key", _BINARY_TEXT, nullable=False, unique=True),
        sa.Column("rkey", _BINARY_TEXT, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("namespace", sa.Text, nullable=True),
        sa.Column("properties", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_node_rkey", "node", ["rkey"])
    op.create_index("ix_node_kind", "node", ["kind"])
    op.create_table(
        "edge",
        sa.Column("src", _ID, sa.ForeignKey("node.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("dst", _ID, sa.ForeignKey("node.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("kind", sa.Text, primary_key=True),
        sa.Column("properties", sa.JSON, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_edge_dst", "edge", ["dst", "src", "kind"])
    op.create_table(
        "schema_field",
        sa.Column("version_id", _ID, sa.ForeignKey("node.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("nullable", sa.Boolean, nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("allowed_values", sa.JSON, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("schema_field")
    op.drop_index("ix_edge_dst", table_name="edge")
    op.drop_table("edge")
    op.drop_index("ix_node_kind", table_name="node")
    op.drop_index("ix_node_rkey", table_name="node")
    op.drop_table("node")
