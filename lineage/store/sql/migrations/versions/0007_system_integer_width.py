"""A system's INTEGER re-read in its dialect: ``int32`` from PostgreSQL, Spark, DuckDB...
(``int64`` from BigQuery and SQLite, ``decimal(38,0)`` from Snowflake) where the store held
the library's own reading, ``int64``.

Field nodes with the producer's spelling (`source_type`), the schema snapshots of their
datasets' versions, dbt versions' hash keys and contract fields with a `physical_type` are
re-read by the rules of `lineage.store._retype`, in place: the declared type did not change,
so no version is written and nobody is notified, and the same events ingested again then
change nothing. There is no way back: the downgrade leaves the types as they are.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from lineage._keys import field_key, fields_prefix, identity
from lineage.store._retype import (
    dbt_version_key,
    field_prefixes,
    retyped_contract,
    retyped_field,
    retyped_schema,
)
from lineage.store._runkeys import rtail

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_CHUNK = 10_000
_JSON_UPDATE = sa.text("UPDATE node SET properties = :p WHERE id = :id").bindparams(
    sa.bindparam("p", type_=sa.JSON))


def _fields() -> Iterator[Sequence[Any]]:
    """(id, key, namespace, properties) of the field nodes, in chunks of ids."""
    conn = op.get_bind()
    query = sa.text("SELECT id, key, namespace, properties FROM node WHERE kind = 'field' "
                    "AND id > :last ORDER BY id LIMIT :n").columns(
        sa.column("id", sa.Integer), sa.column("key", sa.Text),
        sa.column("namespace", sa.Text), sa.column("properties", sa.JSON))
    last = 0
    while True:
        rows = conn.execute(query, {"last": last, "n": _CHUNK}).all()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def _retype_fields() -> dict[str, tuple[str, str]]:
    """Re-read the field nodes; returns field key -> (old type, new type) of those moved."""
    conn = op.get_bind()
    moved: dict[str, tuple[str, str]] = {}
    for rows in _fields():
        changed = []
        for node_id, key, namespace, props in rows:
            new = retyped_field(props or {}, namespace)
            if new is not None:
                moved[key] = (props["type"], new["type"])
                changed.append({"p": new, "id": node_id})
        if changed:
            conn.execute(_JSON_UPDATE, changed)
    return moved


def _retype_snapshots(moved: dict[str, tuple[str, str]]) -> None:
    """Re-read the snapshots of the versions of datasets holding a moved field, and re-key
    the dbt versions whose schema hash that changes."""
    conn = op.get_bind()
    versions = conn.execute(sa.text(
        "SELECT v.id, v.key, v.properties, d.namespace, d.name, d.key AS dkey FROM node v "
        "JOIN edge e ON e.src = v.id AND e.kind = 'version_of' JOIN node d ON d.id = e.dst "
        "WHERE v.kind = 'dataset_version' AND d.kind = 'dataset' ORDER BY v.id").columns(
        sa.column("id", sa.Integer), sa.column("key", sa.Text),
        sa.column("properties", sa.JSON), sa.column("namespace", sa.Text),
        sa.column("name", sa.Text), sa.column("dkey", sa.Text))).all()
    prefixes = field_prefixes(moved)
    rows_of = sa.text("SELECT position, name, type, nullable FROM schema_field "
                      "WHERE version_id = :v ORDER BY position")
    update = sa.text("UPDATE schema_field SET type = :t WHERE version_id = :v AND "
                     "position = :i")
    taken = set()
    for version_id, key, props, namespace, dataset, dkey in versions:
        if namespace is None or fields_prefix(dkey) not in prefixes:
            continue  # none of its dataset's fields was re-read
        rows = conn.execute(rows_of, {"v": version_id}).all()
        spellings = {name: moved[k] for _, name, _, _ in rows
                     if (k := field_key(namespace, dataset, name)) in moved}
        if not spellings:
            continue
        fields = [{"name": name, "type": type_, "nullable": bool(nullable)}
                  for _, name, type_, nullable in rows]
        schema = retyped_schema(fields, spellings)
        if schema is None:
            continue
        conn.execute(update, [{"t": new["type"], "v": version_id, "i": position}
                              for (position, _, old, _), new in zip(rows, schema, strict=True)
                              if new["type"] != old])
        rekey = dbt_version_key(key, props or {}, namespace, dataset, schema)
        if rekey is None:
            continue
        new_key, digest = rekey
        exists = conn.execute(sa.text("SELECT 1 FROM node WHERE key = :k"),
                              {"k": new_key}).first()
        if exists is not None or new_key in taken:
            continue  # two versions that now read alike: each keeps its key
        taken.add(new_key)
        conn.execute(sa.text("UPDATE node SET key = :k, rtail = :t, name = :n, "
                             "properties = :p WHERE id = :id").bindparams(
            sa.bindparam("p", type_=sa.JSON)),
            {"k": new_key, "t": rtail(new_key), "n": f"{dataset}@{digest}",
             "p": {**(props or {}), "version": digest}, "id": version_id})


def _retype_contracts() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        "SELECT c.consumer_id, c.asset_id, c.contract, n.namespace, n.key FROM "
        "consumer_contract c JOIN node n ON n.id = c.asset_id").columns(
        sa.column("consumer_id", sa.Integer), sa.column("asset_id", sa.Integer),
        sa.column("contract", sa.JSON), sa.column("namespace", sa.Text),
        sa.column("key", sa.Text))).all()
    # a Neo4j store's records store may hold the asset as a stub without its namespace:
    # its key begins with it (the scheme is all the dialect needs)
    changed = [{"c": new, "consumer": consumer, "asset": asset}
               for consumer, asset, contract, namespace, key in rows
               if (new := retyped_contract(contract or {}, namespace or identity(key).split(
                   "/", 1)[0])) is not None]
    if changed:
        conn.execute(sa.text("UPDATE consumer_contract SET contract = :c WHERE consumer_id = "
                             ":consumer AND asset_id = :asset").bindparams(
            sa.bindparam("c", type_=sa.JSON)), changed)


def upgrade() -> None:
    moved = _retype_fields()
    if moved:
        _retype_snapshots(moved)
    _retype_contracts()


def downgrade() -> None:
    # the old reading was the wrong one; nothing to undo
    pass
