"""The Alembic scripts and the table models describe the same schema."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

import lineage
from lineage._keys import tail
from lineage.store.sql import engine as engines
from lineage.store.sql.tables import SCHEMA_REVISION, metadata


@pytest.fixture
def store_url(sql_store_url: str) -> str:
    """Alembic migrations are the SQL backends': these tests run on those only (the Neo4j
    graph's schema versions are tested in test_neo4j.py)."""
    return sql_store_url


def test_schema_revision_constant_is_the_migration_head() -> None:
    config = Config()
    config.set_main_option("script_location", str(engines.MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_REVISION


def test_migrated_schema_matches_the_table_models(store_url: str) -> None:
    with lineage.connect(store_url) as store:
        with store.engine.connect() as conn:  # type: ignore[attr-defined]
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_reopening_a_store_keeps_its_data(store_url: str) -> None:
    with lineage.connect(store_url) as store:
        batch = lineage.GraphBatch()
        batch.add_node("feature:kept", "kept")
        store.apply(batch)
    with lineage.connect(store_url) as store:
        assert store.node("feature:kept").name == "kept"


def _store_at(url: str, revision: str) -> sa.Engine:
    """An engine on `url` whose schema stops at `revision` (a store made by an older
    release), with the connection settings the store itself uses."""
    parsed = sa.make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    engine = sa.create_engine(parsed)
    if parsed.get_backend_name() == "sqlite":
        sa.event.listen(engine, "connect",
                        lambda conn, _: conn.execute("PRAGMA foreign_keys=ON"))
    config = Config()
    config.set_main_option("script_location", str(engines.MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    return engine


def test_a_0004_store_with_data_upgrades_to_reversed_tails(store_url: str) -> None:
    """0005 replaces the reversed key `rkey` by the reversed tail `rtail`: the nodes, their
    edges (SQLite rebuilds `node`; its foreign keys must not cascade) and suffix lookups
    survive, and the schema is then exactly the table models'."""
    keys = ["field:postgres://db.prod:5432/public.transactions.category",
            "field:postgres://db.prod:5432/public.users.category",
            "model_version:fraud@3", "feature:avg_amount_7d"]
    engine = _store_at(store_url, "0004")
    now = "2026-01-01 00:00:00"
    with engine.begin() as conn:
        for i, key in enumerate(keys, 1):
            conn.execute(sa.text(
                "INSERT INTO node (id, key, rkey, kind, name, properties, created_at, "
                "updated_at) VALUES (:id, :key, :rkey, :kind, :name, '{}', :now, :now)"),
                {"id": i, "key": key, "rkey": key[::-1], "kind": key.partition(":")[0],
                 "name": key.rsplit(".", 1)[-1], "now": now})
        conn.execute(sa.text("INSERT INTO edge (src, dst, kind, properties) VALUES "
                             "(1, 4, 'derived_from', '{}'), (4, 3, 'uses_feature', '{}')"))
    engine.dispose()

    with lineage.connect(store_url) as store:
        assert store.stats()["edges"] == 2
        assert store.resolve("transactions.category").key == keys[0]
        assert store.resolve("fraud@3").key == keys[2]
        with pytest.raises(lineage.AmbiguousName) as err:
            store.resolve("category")
        assert sorted(err.value.candidates) == sorted(keys[:2])
        assert [r.node.key for r in store.downstream(keys[0])] == [keys[3], keys[2]]
        with store.engine.connect() as conn:  # type: ignore[attr-defined]
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
            rtails = dict(conn.execute(sa.text("SELECT key, rtail FROM node")).all())
    assert rtails == {key: tail(key)[::-1] for key in keys}
