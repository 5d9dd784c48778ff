"""Runs keyed by their job and runId: ``run:{runId}`` becomes ``run:{job}/{runId}``.

A runId reused by a second job used to be refused (only one run could hold the key); each
job's run now has its own key (`lineage._keys.run_key`). This moves the runs a store holds
and the properties that name them (`lineage.store._runkeys`); edges hold node ids and
follow. A run's bare runId still names it (a suffix of the new key), and so does its old
key (`Store.resolve` reads ``run:{runId}`` as the runId).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

from lineage.store._runkeys import REFERRING_KINDS, new_run_key, rewritten, rtail

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_CHUNK = 10_000


def _rows(kinds: tuple[str, ...]) -> Any:
    """(id, key, kind, properties) of the nodes of `kinds`, in chunks of ids."""
    conn = op.get_bind()
    query = sa.text("SELECT id, key, kind, properties FROM node WHERE kind IN :kinds AND "
                    "id > :last ORDER BY id LIMIT :n").bindparams(
        sa.bindparam("kinds", expanding=True)).columns(
        sa.column("id", sa.Integer), sa.column("key", sa.Text), sa.column("kind", sa.Text),
        sa.column("properties", sa.JSON))
    last = 0
    while True:
        rows = conn.execute(query, {"kinds": list(kinds), "last": last, "n": _CHUNK}).all()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def _move(moved: dict[str, str], ids: dict[str, int]) -> None:
    """Give run `ids[old]` its key `moved[old]`, and rewrite the properties naming it."""
    conn = op.get_bind()
    keyed = [{"k": new, "t": rtail(new), "id": ids[old]} for old, new in moved.items()]
    for start in range(0, len(keyed), _CHUNK):
        conn.execute(sa.text("UPDATE node SET key = :k, rtail = :t WHERE id = :id"),
                     keyed[start:start + _CHUNK])
    update = sa.text("UPDATE node SET properties = :p WHERE id = :id").bindparams(
        sa.bindparam("p", type_=sa.JSON))
    for rows in _rows(REFERRING_KINDS):
        changed = [{"p": props, "id": node_id} for node_id, _key, _kind, old in rows
                   if (props := rewritten(old or {}, moved)) is not None]
        if changed:
            conn.execute(update, changed)


def upgrade() -> None:
    moved: dict[str, str] = {}
    ids: dict[str, int] = {}
    for rows in _rows(("run",)):
        for node_id, key, _kind, props in rows:
            new = new_run_key(key, props or {})
            if new is not None:
                moved[key], ids[key] = new, node_id
    if moved:
        _move(moved, ids)


def downgrade() -> None:
    # two jobs' runs of one runId cannot share the old key: all but one keep the new form
    runs = [(node_id, key) for rows in _rows(("run",)) for node_id, key, _, _ in rows]
    taken = {key for _, key in runs if "/" not in key}
    moved: dict[str, str] = {}
    ids: dict[str, int] = {}
    for node_id, key in runs:
        old = f"run:{key.rpartition('/')[2]}"
        if "/" in key and old not in taken:
            taken.add(old)
            moved[key], ids[key] = old, node_id
    if moved:
        _move(moved, ids)
