"""Suffix lookups by the key's reversed tail (`node.rtail`), not the whole key reversed.

`rkey` and its index held a fourth copy of every key (~60 bytes, twice); `rtail` holds the
key's last two segments reversed (`lineage._keys.tail`), enough to narrow a suffix lookup
to a few rows. The values are computed here in Python, from the one definition of a tail.

SQLite cannot make a column NOT NULL in place: batch mode rebuilds `node` (with foreign
keys off meanwhile, see `engine.migrate`, so the rebuild does not cascade to the edges).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

from lineage._keys import tail

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_BINARY_TEXT = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")
_CHUNK = 50_000


def _fill(column: str, compute: Callable[[str], str]) -> None:
    """Set `column` of every node to `compute(key)`, in chunks of ids."""
    conn = op.get_bind()
    last = 0
    while True:
        rows = conn.execute(sa.text("SELECT id, key FROM node WHERE id > :last ORDER BY id "
                                    "LIMIT :n"), {"last": last, "n": _CHUNK}).all()
        if not rows:
            return
        conn.execute(sa.text(f"UPDATE node SET {column} = :v WHERE id = :id"),
                     [{"v": compute(k), "id": i} for i, k in rows])
        last = rows[-1][0]


def upgrade() -> None:
    op.drop_index("ix_node_rkey", table_name="node")
    op.add_column("node", sa.Column("rtail", _BINARY_TEXT, nullable=True))
    _fill("rtail", lambda key: tail(key)[::-1])
    with op.batch_alter_table("node") as batch:
        batch.drop_column("rkey")
        batch.alter_column("rtail", existing_type=_BINARY_TEXT, nullable=False)
    op.create_index("ix_node_rtail", "node", ["rtail"])


def downgrade() -> None:
    op.drop_index("ix_node_rtail", table_name="node")
    op.add_column("node", sa.Column("rkey", _BINARY_TEXT, nullable=True))
    _fill("rkey", lambda key: key[::-1])
    with op.batch_alter_table("node") as batch:
        batch.drop_column("rtail")
        batch.alter_column("rkey", existing_type=_BINARY_TEXT, nullable=False)
    op.create_index("ix_node_rkey", "node", ["rkey"])
