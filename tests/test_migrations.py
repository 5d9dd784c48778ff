"""The Alembic scripts and the table models describe the same schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

import lineage
from lineage import openlineage as ol
from lineage._keys import tail
from lineage.runs import runs as lineage_runs
from lineage.store.sql import engine as engines
from lineage.store.sql.tables import SCHEMA_REVISION, metadata

from .conftest import snapshot, unwritten, without_sizes, without_symlink_links


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


RUNS_0005 = Path(__file__).parent / "data" / "migrations" / "runs_0005.json"


def test_a_0005_store_of_runs_keyed_by_run_id_answers_as_one_ingested_now(
        store_url: str, tmp_path: Path) -> None:
    """0006 re-keys runs from `run:{runId}` to `run:{job}/{runId}`. The rows are what the
    0005 release wrote for these events (tests/data/migrations/make_runs_0005.py): once
    migrated, the store holds exactly what the current code makes of the same events (keys,
    edges, the properties naming runs), and a run is found by its runId and its old key."""
    old = json.loads(RUNS_0005.read_text())
    engine = _store_at(store_url, "0005")
    ids = {n["key"]: i for i, n in enumerate(old["nodes"], 1)}
    now = "2026-01-01 00:00:00"
    node_row = sa.text(
        "INSERT INTO node (id, key, rtail, kind, name, namespace, properties, created_at, "
        "updated_at) VALUES (:id, :key, :rtail, :kind, :name, :ns, :p, :now, :now)"
    ).bindparams(sa.bindparam("p", type_=sa.JSON))
    edge_row = sa.text("INSERT INTO edge (src, dst, kind, properties) VALUES "
                       "(:src, :dst, :kind, :p)").bindparams(sa.bindparam("p", type_=sa.JSON))
    with engine.begin() as conn:
        conn.execute(node_row, [{"id": ids[n["key"]], "key": n["key"],
                                 "rtail": tail(n["key"])[::-1], "kind": n["kind"],
                                 "name": n["name"], "ns": n["namespace"],
                                 "p": n["properties"], "now": now} for n in old["nodes"]])
        conn.execute(edge_row, [{"src": ids[s], "dst": ids[d], "kind": k, "p": p}
                                for s, d, k, p in old["edges"]])
        conn.execute(sa.text(
            "INSERT INTO schema_field (version_id, position, name, type, nullable, "
            "description, allowed_values) VALUES (:v, :i, :name, :type, :nullable, "
            ":description, :allowed)").bindparams(sa.bindparam("allowed", type_=sa.JSON)),
            [{"v": ids[version], "i": i, "name": f["name"], "type": f["type"],
              "nullable": f["nullable"], "description": f["description"],
              "allowed": f["allowed_values"]}
             for version, fields in old["schemas"].items() for i, f in enumerate(fields)])
        if engine.dialect.name == "postgresql":  # ids given: move the sequence past them
            conn.execute(sa.text("SELECT setval(pg_get_serial_sequence('node', 'id'), "
                                 ":n)"), {"n": len(ids)})
    engine.dispose()

    data = Path(__file__).parent / "data" / "openlineage"
    with lineage.connect(f"sqlite:///{tmp_path / 'now.db'}") as now_store:
        for name in old["events"]:
            ol.ingest(now_store, json.loads((data / name).read_text()))
        expected = without_symlink_links(snapshot(now_store))
    with lineage.connect(store_url) as store:
        # (types as 0005 stored them: it kept no lengths or precisions; nor `last_written`,
        # which ingest stamps since, so only events ingested from now on bring a table back)
        assert without_sizes(snapshot(store)) == without_sizes(unwritten(expected))
        run = "run:airflow/daily_etl.build_order_facts/0190d6f4-3c1e-7a5e-9b1e-3f0a2c4d5e6f"
        assert store.resolve("0190d6f4-3c1e-7a5e-9b1e-3f0a2c4d5e6f").key == run
        assert store.resolve("run:0190d6f4-3c1e-7a5e-9b1e-3f0a2c4d5e6f").key == run
        assert [r.run.key for r in lineage_runs(store, "daily_etl.build_order_facts").runs] \
            == [run]
        # and it keeps taking events: the same again changes nothing
        for name in old["events"]:
            ol.ingest(store, json.loads((data / name).read_text()))
        # (but for the symlinks' links, which the release before kept as a property only)
        assert without_symlink_links(snapshot(store)) == expected
