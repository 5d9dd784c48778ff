"""INTEGER from a system is read as that system means it: 32 bits in PostgreSQL, Spark, DuckDB
and the SQL standard, 64 in BigQuery and SQLite, NUMBER(38,0) in Snowflake; the library's own
schema language keeps `int`/`integer` -> int64."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

import lineage
from lineage import health
from lineage import openlineage as ol
from lineage._types import dialect_of, normalize_type
from lineage.dbt import import_dbt
from lineage.impact import change_impact
from lineage.manifest import register_text
from lineage.notify import notifications_for
from lineage.schema import diff
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
    assert normalize_type("INTEGER", "snowflake") == "decimal(38,0)"
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
