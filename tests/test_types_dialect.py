"""INTEGER from a system is read as that system means it: 32 bits in PostgreSQL, Spark, DuckDB
and the SQL standard, 64 in BigQuery and SQLite, NUMBER(38,0) in Snowflake; the library's own
schema language keeps `int`/`integer` -> int64."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

import lineage
from lineage import EdgeKind, NodeKind, health
from lineage import openlineage as ol
from lineage._keys import dataset_version_key, field_key, tail
from lineage._types import dialect_of, normalize_type
from lineage.dbt import import_dbt, schema_digest
from lineage.impact import change_impact
from lineage.manifest import register_text
from lineage.notify import notifications_for
from lineage.openlineage import field_type
from lineage.schema import diff
from lineage_cli.main import cli
from tests.conftest import snapshot
from tests.test_dbt_import import copy_target, edit

PG = "postgres://db.prod:5432"
PRODUCER = "https://github.com/apache/airflow/tree/2.9.0"


def orders_event(namespace: str, id_type: str, *, day: int = 1) -> dict[str, Any]:
    """Day `day`'s COMPLETE run of a job writing `public.orders` in `namespace`, whose `id`
    column the producer calls `id_type`."""
    return {
        "eventType": "COMPLETE", "eventTime": f"2024-05-{day:02d}T02:00:00Z",
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": f"0190d6f4-3c1e-7a5e-9b1e-0000000000{day:02d}"},
        "job": {"namespace": "airflow", "name": "etl.load_orders"},
        "inputs": [],
        "outputs": [{"namespace": namespace, "name": "public.orders", "facets": {"schema": {
            "_producer": PRODUCER,
            "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json"
                          "#/$defs/SchemaDatasetFacet",
            "fields": [{"name": "id", "type": id_type}, {"name": "note", "type": "VARCHAR"}],
        }}}],
    }


def field(namespace: str = PG) -> str:
    return f"field:{namespace}/public.orders.id"


def version(day: int, namespace: str = PG) -> str:
    return f"dataset_version:{namespace}/public.orders@0190d6f4-3c1e-7a5e-9b1e-0000000000{day:02d}"


# ------------------------------------------------------------------ the rule


def test_a_system_reads_integer_in_its_dialect_and_the_library_keeps_int64() -> None:
    assert [normalize_type(s) for s in ("int", "integer", "INTEGER", "int4")] == \
        ["int64", "int64", "int64", "int32"]
    for system in ("postgres", "mysql", "spark", "hive", "duckdb", "redshift", "trino",
                   "sqlserver", "file", "s3"):
        assert normalize_type("INTEGER", system) == "int32", system
        assert normalize_type("int", system) == "int32", system
        assert normalize_type("bigint", system) == "int64", system
    assert normalize_type("INTEGER", "bigquery") == normalize_type("int", "sqlite") == "int64"
    assert normalize_type("INTEGER", "snowflake") == normalize_type("int", "oracle") == \
        "decimal(38,0)"
    # PostgreSQL counts bytes: its int8 is a bigint; elsewhere int8 is 8 bits (ClickHouse)
    assert normalize_type("int8", "postgresql://db:5432") == normalize_type("INT8", "duckdb") \
        == "int64"
    assert normalize_type("int8") == normalize_type("Int8", "clickhouse") == "int8"
    assert normalize_type("array<integer>", "postgres") == "array<int32>"
    assert normalize_type("struct<a:int,b:text>", "bigquery") == "struct<a:int64,b:string>"
    assert [dialect_of(ns) for ns in (PG, "bigquery", "snowflake://acme", "sqlite:/tmp/x.db",
                                      "s3://lake", "duckdb")] == \
        ["postgres", "bigquery", "snowflake", "sqlite", "s3", "duckdb"]


def test_a_field_written_as_int_in_a_manifest_stays_int64(store: lineage.Store) -> None:
    register_text(store, "datasets:\n  - name: orders\n    fields: [{name: id, type: integer}]\n")
    assert store.node(store.resolve("orders.id").key).properties["type"] == "int64"


# ------------------------------------------------------------------ OpenLineage


def test_an_openlineage_integer_from_postgres_is_int32_keeping_its_spelling(
        store: lineage.Store) -> None:
    ol.ingest(store, orders_event(PG, "INTEGER"))
    props = store.node(field()).properties
    assert (props["type"], props["source_type"]) == ("int32", "INTEGER")
    assert [(f.name, f.type) for f in store.schema(version(1))][0] == ("id", "int32")


@pytest.mark.parametrize(("namespace", "expected"), [
    ("bigquery", "int64"), ("sqlite:/data/app.db", "int64"),
    ("snowflake://acme", "decimal(38,0)"), ("s3://lake", "int32"), ("mysql://db:3306", "int32")])
def test_an_openlineage_integer_is_read_in_the_dialect_of_its_namespace(
        store: lineage.Store, namespace: str, expected: str) -> None:
    ol.ingest(store, orders_event(namespace, "INTEGER"))
    assert store.node(field(namespace)).properties["type"] == expected


def test_impact_of_bigint_on_a_postgres_integer_is_a_widening_not_no_change(
        store: lineage.Store) -> None:
    ol.ingest(store, orders_event(PG, "INTEGER"))
    register_text(store, f"consumers:\n  - {{name: billing, consumes: ['{field()}']}}\n")
    report = change_impact(store, field(), ["type:bigint"])
    assert not report.no_change and report.unchanged == []
    [change] = report.changes
    assert (change.old_type, change.new_type, change.relation) == ("int32", "int64", "widening")
    assert "consumer:billing" in {j.node.key for j in report.judged}


def test_the_impact_command_reports_bigint_on_a_postgres_integer_as_a_widening(
        store_url: str) -> None:
    with lineage.connect(store_url) as store:
        ol.ingest(store, orders_event(PG, "INTEGER"))
        register_text(store, f"consumers:\n  - {{name: billing, consumes: ['{field()}']}}\n")
    result = CliRunner().invoke(cli, ["--store", store_url, "impact", "public.orders.id",
                                      "--change", "type:bigint"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "no change" not in result.stdout
    assert "type int32 -> int64 (widening)" in result.stdout


def test_a_newer_event_narrowing_bigint_to_integer_breaks_and_notifies_the_consumer(
        store: lineage.Store) -> None:
    ol.ingest(store, orders_event(PG, "BIGINT", day=1))
    register_text(store, "consumers:\n  - name: billing\n"
                         f"    consumes: ['{field()}']\n"
                         "    channels: [{kind: webhook, url: 'http://127.0.0.1:9/hook'}]\n")
    ol.ingest(store, orders_event(PG, "INTEGER", day=2))
    [change] = diff(store.schema(version(1)), store.schema(version(2)))
    assert (change.old_type, change.new_type, change.relation, change.compatibility) == \
        ("int64", "int32", "narrowing", "breaking")
    report = change_impact(store, field(), [change])
    assert {j.node.key: j.verdict for j in report.judged}["consumer:billing"] == "breaking"
    [note] = notifications_for(store, report, "new_version")
    assert note.consumer == "consumer:billing"


def test_validate_refuses_a_value_beyond_32_bits_for_a_postgres_integer(
        store: lineage.Store) -> None:
    ol.ingest(store, orders_event(PG, "INTEGER"))
    fits = pl.DataFrame({"id": [1, 2**31 - 1], "note": ["a", "b"]})
    assert health.validate(store, fits, "public.orders").passed
    big = pl.DataFrame({"id": [1, 2**31], "note": ["a", "b"]})
    assert not health.validate(store, big, "public.orders").passed


# ------------------------------------------------------------------ dbt


def _adapter(target: Path, adapter: str) -> None:
    edit(target / "manifest.json",
         lambda m: m["metadata"].__setitem__("adapter_type", adapter))


@pytest.mark.parametrize(("adapter", "expected"), [
    ("duckdb", "int32"), ("postgres", "int32"), ("bigquery", "int64"), ("sqlite", "int64"),
    ("snowflake", "decimal(38,0)")])
def test_a_dbt_catalog_integer_is_read_in_the_adapters_dialect(
        store: lineage.Store, tmp_path: Path, adapter: str, expected: str) -> None:
    target = copy_target(tmp_path)
    _adapter(target, adapter)
    import_dbt(store, target)
    props = store.node(store.resolve("raw.refunds.amount_cents").key).properties
    assert (props["type"], props["source_type"]) == (expected, "INTEGER")


# ------------------------------------------------------------------ a store written before


def _as_stored_before(store: lineage.Store) -> int:
    """Put `store`'s types back to what the release before this rule stored (every spelling
    read as the library's own language: a PostgreSQL INTEGER as int64; dbt versions keyed
    by the hash of those types) and mark its schema as that release's; returns how many
    field nodes moved."""
    fields: dict[str, dict[str, Any]] = {}
    for ref in store.find("", [NodeKind.FIELD], 100_000):
        props = store.node(ref.key).properties
        spelling = props.get("source_type")
        if isinstance(spelling, str) and props.get("type") != field_type(spelling):
            fields[ref.key] = {**props, "type": field_type(spelling)}
    schemas: dict[str, tuple[str, str, dict[str, Any], list[dict[str, Any]]]] = {}
    for ref in store.find("", [NodeKind.DATASET_VERSION], 100_000):
        node = store.node(ref.key)
        [dataset] = [r for e, r in store.neighbours(ref.key) if e.kind is EdgeKind.VERSION_OF]
        dnode = store.node(dataset.key)
        old = [f.model_dump() for f in store.schema(ref.key)]
        for f in old:
            moved = fields.get(field_key(str(dnode.namespace), dnode.name, f["name"]))
            if moved is not None:
                f["type"] = moved["type"]
        key, props = ref.key, dict(node.properties)
        if props.get("source") == "dbt":
            props["version"] = schema_digest((f["name"], f["type"], f["nullable"]) for f in old)
            key = dataset_version_key(str(dnode.namespace), dnode.name, props["version"])
        schemas[ref.key] = (key, f"{dnode.name}@{props.get('version')}", props, old)
    consumers = [r.key for r in store.find("consumer:", [NodeKind.CONSUMER], 1000)]
    contracts = {(c, a): {**contract, "fields": [
        {**f, "type": field_type(f["physical_type"])} if f.get("physical_type") else f
        for f in contract.get("fields", [])]}
        for c, by_asset in store.contracts(consumers).items()
        for a, contract in by_asset.items()}

    records = getattr(store, "records", store)  # Neo4j: contracts are in its records store
    with records.engine.begin() as conn:  # type: ignore[attr-defined]
        update = sa.text("UPDATE consumer_contract SET contract = :c WHERE consumer_id = "
                         "(SELECT id FROM node WHERE key = :k) AND asset_id = (SELECT id FROM "
                         "node WHERE key = :a)").bindparams(sa.bindparam("c", type_=sa.JSON))
        for (consumer, asset), contract in contracts.items():
            conn.execute(update, {"c": contract, "k": consumer, "a": asset})
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0006'"))
    if records is not store:
        driver, database = store.driver, store.database  # type: ignore[attr-defined]
        for key, props in fields.items():
            driver.execute_query("MATCH (n:LineageNode {key: $k}) SET n.properties = $p",
                                 k=key, p=json.dumps(props, sort_keys=True), database_=database)
        for key, (new_key, name, props, old) in schemas.items():
            driver.execute_query(
                "MATCH (n:LineageNode {key: $k}) SET n.schema = $s, n.key = $nk, n.rtail = $t, "
                "n.name = $n, n.properties = $p", k=key, s=json.dumps(old, sort_keys=True),
                nk=new_key, t=tail(new_key)[::-1], n=name,
                p=json.dumps(props, sort_keys=True), database_=database)
        driver.execute_query("MATCH (s:LineageSchema {id: 'lineage'}) SET s.version = 2",
                             database_=database)
        return len(fields)
    with store.engine.begin() as conn:  # type: ignore[attr-defined]
        props_update = sa.text("UPDATE node SET properties = :p WHERE key = :k").bindparams(
            sa.bindparam("p", type_=sa.JSON))
        for key, props in fields.items():
            conn.execute(props_update, {"p": props, "k": key})
        for key, (new_key, name, props, old) in schemas.items():
            for i, f in enumerate(old):
                conn.execute(sa.text("UPDATE schema_field SET type = :t WHERE position = :i "
                                     "AND version_id = (SELECT id FROM node WHERE key = :k)"),
                             {"t": f["type"], "i": i, "k": key})
            conn.execute(sa.text("UPDATE node SET key = :nk, rtail = :t, name = :n, "
                                 "properties = :p WHERE key = :k").bindparams(
                sa.bindparam("p", type_=sa.JSON)),
                {"nk": new_key, "t": tail(new_key)[::-1], "n": name, "p": props, "k": key})
    return len(fields)


def _history(store: lineage.Store, target: Path) -> None:
    """What a team's store holds: PostgreSQL, BigQuery and Snowflake tables from
    OpenLineage events (two runs of the PostgreSQL one), a table registered from YAML, a
    PostgreSQL dbt project, and consumers of the PostgreSQL columns with a channel."""
    for event in (orders_event(PG, "INTEGER", day=1), orders_event(PG, "INTEGER", day=2),
                  orders_event("bigquery", "INTEGER"),
                  orders_event("snowflake://acme", "INTEGER")):
        ol.ingest(store, event)
    register_text(store, "datasets:\n  - name: ledger\n    fields: [{name: id, type: int}]\n")
    import_dbt(store, target)
    register_text(store, "consumers:\n  - name: billing\n"
                         f"    consumes: ['{field()}', 'dataset:postgres/jaffle.raw.refunds']\n"
                         "    channels: [{kind: webhook, url: 'http://127.0.0.1:9/hook'}]\n")


def test_a_store_written_before_is_re_read_in_place_and_the_same_events_change_nothing(
        store_url: str, tmp_path: Path) -> None:
    target = copy_target(tmp_path)
    _adapter(target, "postgres")
    with lineage.connect(store_url) as store:
        _history(store, target)
        expected = snapshot(store)
        consumers = [r.key for r in store.find("consumer:", [NodeKind.CONSUMER], 1000)]
        contracts = store.contracts(consumers)
        assert contracts["consumer:dbt-contract/model.jaffle_shop.order_refunds"][
            "dataset:postgres/jaffle.main.order_refunds"]["fields"][0]["type"] == "int32"
        # (a PostgreSQL INTEGER in each: the orders id, the dbt project's, the contract's)
        assert _as_stored_before(store) > 10
    with lineage.connect(store_url) as store:  # migrates
        assert snapshot(store) == expected
        assert store.contracts(consumers) == contracts
        assert store.node(field("bigquery")).properties["type"] == "int64"
        assert store.node(field("snowflake://acme")).properties["type"] == "decimal(38,0)"
        assert store.node(store.resolve("ledger.id").key).properties["type"] == "int64"
        # the same events and artifacts again: no version, no notification, nothing moves
        for event in (orders_event(PG, "INTEGER", day=1), orders_event(PG, "INTEGER", day=2),
                      orders_event("bigquery", "INTEGER"),
                      orders_event("snowflake://acme", "INTEGER")):
            ol.ingest(store, event)
        again = import_dbt(store, target)
        assert again.new_versions == [] and again.apply.notifications_enqueued == 0
        assert store.outbox() == []
        assert snapshot(store) == expected


def test_the_upgrade_re_reads_only_what_the_old_rule_made_of_a_systems_spelling() -> None:
    from lineage.store._retype import retyped

    assert retyped("int64", "INTEGER", PG) == "int32"
    assert retyped("int64", "INTEGER", "snowflake://acme") == "decimal(38,0)"
    assert retyped("int8", "int8", PG) == "int64"
    assert retyped("int64", "INTEGER", "bigquery") is None  # read alike before and now
    assert retyped("int64", "BIGINT", PG) is None
    assert retyped("int64", None, PG) is None  # registered from YAML: no spelling
    # not the old reading of its spelling: a struct (members' spellings were not kept), or
    # a type set otherwise
    assert retyped("struct<a:int64>", "STRUCT", PG) is None
    assert retyped("decimal(10,0)", "INTEGER", PG) is None
