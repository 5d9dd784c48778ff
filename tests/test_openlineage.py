"""OpenLineage ingest: validation against the shipped spec, the mapping to the graph, and the
guarantees (one transaction, idempotent, order-independent), on every backend.

The expected graphs below are written out by hand from the events in tests/data/openlineage/
(and from the client-built events), not computed by the code under test.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import lineage
from lineage import _keys as keys
from lineage import openlineage as ol
from lineage.impact import upstream
from lineage.openlineage import field_type
from lineage.schema import diff as schema_diff
from tests.conftest import run_node, snapshot

DATA = Path(__file__).parent / "data" / "openlineage"
PG = "postgres://db.prod:5432"
# runs are keyed by their job and runId (`lineage._keys.run_key`)
RUN = "run:airflow/daily_etl.build_order_facts/0190d6f4-3c1e-7a5e-9b1e-3f0a2c4d5e6f"
PARENT = "run:airflow/daily_etl/0190d6f4-0000-7000-8000-000000000001"
FAILED = "run:airflow/daily_etl.build_refunds/0190d6f4-3c1e-7a5e-9b1e-aaaaaaaaaaaa"
JOB = "job:airflow/daily_etl.build_order_facts"
PARENT_JOB = "job:airflow/daily_etl"
REFUNDS_JOB = "job:airflow/daily_etl.build_refunds"
ORDERS = f"dataset:{PG}/public.orders_raw"
ORDERS_HIVE = "dataset:hive://metastore.prod:9083/raw.orders"  # its symlink
CUSTOMERS = f"dataset:{PG}/public.customers"
FACTS = f"dataset:{PG}/analytics.order_facts"
REFUNDS = f"dataset:{PG}/analytics.refunds"
SUMMARY = f"dataset:{PG}/analytics.customer_summary"
EXPORT_JOB = "job:reporting/export_summary"
CSV = "dataset:s3://reports/exports/customer_summary.csv"
def test_concurrent_writers_of_one_run_keep_both_states(store_url: str) -> None:
    # Two stores (two connections, as two server processes would have) ingest the START and
    # the COMPLETE of the same run at the same moment: the merge reads what the other wrote
    # because it happens inside the write transaction, under the node's lock.
    start, complete = event("run_start"), event("run_complete")
    run_ids = [str(uuid.uuid4()) for _ in range(12)]
    with lineage.connect(store_url) as one, lineage.connect(store_url) as two:
        gate = threading.Barrier(2)

        def write(store: lineage.Store, template: dict[str, Any]) -> None:
            for run_id in run_ids:
                ev = copy.deepcopy(template)
                ev["run"]["runId"] = run_id
                gate.wait()
                try:
                    ol.ingest(store, ev)
                except BaseException:
                    gate.abort()  # the other writer must not wait for this one forever
                    raise

        with ThreadPoolExecutor(2) as pool:
            done = [pool.submit(write, one, start), pool.submit(write, two, complete)]
            for future in done:
                future.result()
        for run_id in run_ids:
            run = run_node(one, run_id).properties
            assert run["states"] == {"START": "2024-05-01T02:00:00.000Z",
                                     "COMPLETE": "2024-05-01T02:10:00.000Z"}, run_id
            assert run["state"] == "COMPLETE"


@pytest.mark.parametrize("text", ["etl\u0000drop", "etl\ud800"])
def test_nul_and_lone_surrogates_are_a_validation_error_naming_the_field(
        store: lineage.Store, text: str) -> None:
    # PostgreSQL text cannot hold NUL and UTF-8 cannot encode a lone surrogate: the driver
    # would fail (503 / a crash), so ingest refuses them first, with the path.
    bad = event("run_start")
    bad["job"]["name"] = text
    before = snapshot(store)
    with pytest.raises(lineage.ValidationError) as err:
        ol.ingest(store, bad)
    assert err.value.key == "job.name"
    renamed = event("run_start")
    renamed["run"]["facets"]["x" + text] = {"_producer": "p", "_schemaURL": "https://x/y"}
    with pytest.raises(lineage.ValidationError) as err:
        ol.ingest(store, renamed)
    assert err.value.key == "run.facets"
    assert snapshot(store) == before


FACTS_V = f"dataset_version:{PG}/analytics.order_facts@2024-05-01"
ORDERS_V = f"dataset_version:{PG}/public.orders_raw@v42"


def f(dataset: str, name: str) -> str:
    """The key of field `name` of the dataset with key `dataset`."""
    return "field:" + dataset.removeprefix("dataset:") + "." + name


def event(name: str) -> dict[str, Any]:
    return dict(json.loads((DATA / f"{name}.json").read_text()))


def edges(store: lineage.Store) -> set[tuple[str, str, str]]:
    keys = [r.key for r in store.find("", limit=10_000)]
    return {(e.src, e.kind.value, e.dst) for e in store.edges_among(keys)}


def symlink_links(store: lineage.Store) -> set[tuple[str, str, str]]:
    """The edges that link datasets to their symlinks' names (`declared: symlink`, and the
    aliases' fields), for tests about something else."""
    refs = [r.key for r in store.find("", limit=10_000)]
    aliases = {k for k, n in store.nodes(refs).items() if n.properties.get("symlink_of")}
    return {(e.src, e.kind.value, e.dst) for e in store.edges_among(refs)
            if e.properties.get("declared") == "symlink"
            or (e.kind is lineage.EdgeKind.HAS_FIELD and e.src in aliases)}


def derivations(store: lineage.Store) -> dict[tuple[str, str], dict[str, Any]]:
    keys = [r.key for r in store.find("", limit=10_000)]
    return {(e.src, e.dst): e.properties for e in store.edges_among(keys)
            if e.kind is lineage.EdgeKind.DERIVED_FROM}


# ------------------------------------------------------------------ the shipped spec


def test_the_spec_ships_pinned_inside_the_package_and_resolves_without_network() -> None:
    compiled = ol.schemas()
    assert ol.SPEC_VERSION == "2-0-2"
    assert compiled.registry.contents(ol.CORE_ID)["$id"] == ol.CORE_ID
    assert "1.52.0" in (Path(ol.__file__).parent / "spec" / "README.md").read_text()
    assert "Apache License" in (Path(ol.__file__).parent / "spec" / "LICENSE").read_text()
    # facets land where the spec puts them
    assert compiled.facet_files["dataset"]["schema"] == "facets/SchemaDatasetFacet.json"
    assert compiled.facet_files["run"]["parent"] == "facets/ParentRunFacet.json"
    # the explicit lineage facet (after 1.52.0) applies to datasets and jobs
    assert compiled.facet_files["dataset"]["lineage"] == "facets/LineageFacet.json"
    assert compiled.facet_files["job"]["lineage"] == "facets/LineageFacet.json"
    assert "subset" in compiled.facet_files["input"] and "subset" in compiled.facet_files["output"]
    # anything not shipped is refused, never fetched
    from referencing.exceptions import Unresolvable

    with pytest.raises(Unresolvable):
        compiled.registry.resolver().lookup("https://openlineage.io/spec/9-9-9/OpenLineage.json")


@pytest.mark.parametrize("name", ["run_start", "run_complete", "run_fail", "dataset_event",
                                  "job_event"])
def test_hand_written_events_are_valid(name: str) -> None:
    assert ol.validate(event(name)) == [event(name)]


def test_events_are_told_apart_as_the_spec_does() -> None:
    assert ol.event_kind(event("run_start")) == "RunEvent"
    assert ol.event_kind(event("dataset_event")) == "DatasetEvent"
    assert ol.event_kind(event("job_event")) == "JobEvent"
    both = {**event("job_event"), "dataset": event("dataset_event")["dataset"]}
    with pytest.raises(lineage.ValidationError, match="both a DatasetEvent and a JobEvent"):
        ol.validate(both)


# ------------------------------------------------------------------ the mapping


def test_a_completed_run_becomes_jobs_runs_datasets_versions_and_column_lineage(
        store: lineage.Store) -> None:
    result = ol.ingest(store, [event("run_start"), event("run_complete")])

    assert (result.events, result.run_events, result.runs) == (2, 2, 1)
    # orders_raw's symlink (its Hive name) is a dataset linked both ways, fields too
    # (no derivation: the links say two names are one dataset)
    assert result.datasets == 4 and result.dataset_versions == 2 and result.derivations == 8
    assert result.applied.changed
    facts_fields = ["order_id", "customer_name", "total_amount", "email_hash", "phone_masked",
                    "order_date", "delivery_area", "address"]
    expected = {
        (PARENT_JOB, "run_of", PARENT), (JOB, "run_of", RUN), (PARENT, "parent_of", RUN),
        (ORDERS, "read", JOB), (CUSTOMERS, "read", JOB),
        (ORDERS, "read", RUN), (CUSTOMERS, "read", RUN), (ORDERS_V, "read", RUN),
        (JOB, "wrote", FACTS), (RUN, "wrote", FACTS), (RUN, "wrote", FACTS_V),
        (FACTS_V, "version_of", FACTS), (ORDERS_V, "version_of", ORDERS),
        *((ORDERS, "has_field", f(ORDERS, n))
          for n in ("id", "customer_id", "amount", "status", "created_at")),
        *((CUSTOMERS, "has_field", f(CUSTOMERS, n)) for n in ("id", "name", "email", "phone")),
        *((FACTS, "has_field", f(FACTS, n)) for n in facts_fields),
        (f(ORDERS, "id"), "derived_from", f(FACTS, "order_id")),
        (f(CUSTOMERS, "name"), "derived_from", f(FACTS, "customer_name")),
        (f(ORDERS, "customer_id"), "derived_from", f(FACTS, "customer_name")),
        (f(ORDERS, "amount"), "derived_from", f(FACTS, "total_amount")),
        (f(CUSTOMERS, "email"), "derived_from", f(FACTS, "email_hash")),
        (f(CUSTOMERS, "phone"), "derived_from", f(FACTS, "phone_masked")),
        (f(ORDERS, "created_at"), "derived_from", f(FACTS, "order_date")),
        (f(ORDERS, "status"), "derived_from", FACTS),
        (ORDERS, "derived_from", ORDERS_HIVE), (ORDERS_HIVE, "derived_from", ORDERS),
        *((ORDERS_HIVE, "has_field", f(ORDERS_HIVE, n))
          for n in ("id", "customer_id", "amount", "status", "created_at")),
        *((f(a, n), "derived_from", f(b, n))
          for n in ("id", "customer_id", "amount", "status", "created_at")
          for a, b in ((ORDERS, ORDERS_HIVE), (ORDERS_HIVE, ORDERS))),
    }
    assert edges(store) == expected

    how = {pair: (p["transformation"], p["masking"]) for pair, p in derivations(store).items()
           if p.get("declared") != "symlink"}
    assert how == {
        (f(ORDERS, "id"), f(FACTS, "order_id")): ("identity", False),
        (f(CUSTOMERS, "name"), f(FACTS, "customer_name")): ("identity", False),
        (f(ORDERS, "customer_id"), f(FACTS, "customer_name")): ("join", False),
        (f(ORDERS, "amount"), f(FACTS, "total_amount")): ("aggregation", False),
        (f(CUSTOMERS, "email"), f(FACTS, "email_hash")): ("transformation", True),
        (f(CUSTOMERS, "phone"), f(FACTS, "phone_masked")): ("masking", True),
        (f(ORDERS, "created_at"), f(FACTS, "order_date")): ("identity", False),
        (f(ORDERS, "status"), FACTS): ("filter", False),
    }
    props = derivations(store)
    assert props[(f(ORDERS, "status"), FACTS)]["scope"] == "dataset"
    assert props[(f(ORDERS, "amount"), f(FACTS, "total_amount"))]["description"] == "sum(amount)"
    assert props[(f(CUSTOMERS, "phone"), f(FACTS, "phone_masked"))]["description"] == \
        "last four digits only"
    assert props[(f(ORDERS, "id"), f(FACTS, "order_id"))]["job"] == JOB


def test_run_properties_keep_state_times_nominal_time_and_facet_names(
        store: lineage.Store) -> None:
    ol.ingest(store, [event("run_start"), event("run_complete")])
    run = store.node(RUN).properties
    assert run["state"] == "COMPLETE"
    assert run["states"] == {"START": "2024-05-01T02:00:00.000Z",
                             "COMPLETE": "2024-05-01T02:10:00.000Z"}
    assert run["nominal_start_time"] == "2024-05-01T00:00:00Z"
    assert run["nominal_end_time"] == "2024-05-02T00:00:00Z"
    assert run["facets"] == ["acme_cost", "nominalTime", "parent"]
    assert run["job"] == JOB and run["parent"] == PARENT
    assert store.node(PARENT).properties == {"job": PARENT_JOB}
    assert store.node(JOB).properties["sql"] == "INSERT INTO analytics.order_facts SELECT ..."


@pytest.mark.parametrize("listed", ["identity first", "transformation first"])
def test_a_column_both_copied_and_computed_from_its_input_is_a_transformation(
        store: lineage.Store, listed: str) -> None:
    """Hive's CASE WHEN expected event (cllSimpleQueryWithCaseWhenConditionalComplete):
    `cond` takes `a` as is in one branch and computes from it in another, so `a` comes
    with DIRECT/IDENTITY and DIRECT/TRANSFORMATION. The output is no copy of `a`: the
    least preserving DIRECT subtype wins (aggregation, then transformation, then
    identity), whatever order the producer lists them in (the first listed won)."""
    hive = "hive://localhost:9083"
    both = [{"type": "DIRECT", "subtype": "IDENTITY", "description": "", "masking": False},
            {"type": "DIRECT", "subtype": "TRANSFORMATION", "description": "",
             "masking": False}]
    if listed != "identity first":
        both.reverse()
    cll = {"_producer": "https://github.com/OpenLineage/OpenLineage/tree/1.20.0/integration/hive",
           "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/"
                         "ColumnLineageDatasetFacet.json#/$defs/ColumnLineageDatasetFacet",
           "fields": {"cond": {"inputFields": [
               {"namespace": hive, "name": "test.t1", "field": "b", "transformations": [
                   {"type": "INDIRECT", "subtype": "CONDITIONAL"},
                   {"type": "DIRECT", "subtype": "TRANSFORMATION"}]},
               {"namespace": hive, "name": "test.t1", "field": "a", "transformations": both}]}}}
    ol.ingest(store, {
        "eventType": "COMPLETE", "eventTime": "2024-05-01T00:00:00Z",
        "producer": cll["_producer"], "run": {"runId": "0190d6f4-3c1e-7a5e-9b1e-0000000000aa"},
        "job": {"namespace": "default", "name": "createtable_cond"},
        "inputs": [{"namespace": hive, "name": "test.t1"}],
        "outputs": [{"namespace": hive, "name": "test.xxx", "facets": {"columnLineage": cll}}]})
    t1, out = f"dataset:{hive}/test.t1", f"dataset:{hive}/test.xxx"
    how = derivations(store)
    assert how[(f(t1, "a"), f(out, "cond"))]["transformation"] == "transformation"
    assert how[(f(t1, "b"), f(out, "cond"))]["transformation"] == "transformation"


def test_schema_facet_types_map_to_canonical_types_keeping_the_original_spelling(
        store: lineage.Store) -> None:
    ol.ingest(store, [event("run_complete")])
    expected = {
        "order_id": ("int64", "BIGINT"),
        "customer_name": ("varchar(255)", "VARCHAR(255)"),
        "total_amount": ("decimal(12,2)", "NUMERIC(12,2)"),
        "order_date": ("timestamp(9)", "TIMESTAMP_NTZ(9)"),
        "delivery_area": ("json", "GEOGRAPHY"),
        "address": ("struct<city:string,zip:varchar(10)>", "STRUCT"),
    }
    for name, (canonical, spelling) in expected.items():
        props = store.node(f(FACTS, name)).properties
        assert (props["type"], props["source_type"]) == (canonical, spelling), name
    assert store.node(f(FACTS, "order_id")).properties["description"] == "orders_raw.id"
    # "integer" from a postgres:// namespace: PostgreSQL's INTEGER is 32 bits
    assert store.node(f(CUSTOMERS, "id")).properties["type"] == "int32"
    assert [(s.name, s.type) for s in store.schema(FACTS_V)] == [
        ("order_id", "int64"), ("customer_name", "varchar(255)"),
        ("total_amount", "decimal(12,2)"), ("email_hash", "string"), ("phone_masked", "string"),
        ("order_date", "timestamp(9)"), ("delivery_area", "json"),
        ("address", "struct<city:string,zip:varchar(10)>")]
    assert [s.name for s in store.schema(ORDERS_V)] == [
        "id", "customer_id", "amount", "status", "created_at"]
    version = store.node(FACTS_V).properties
    said = "2024-05-01T02:10:00.000Z"
    assert version == {"version": "2024-05-01", "run": RUN, "created_at": said,
                       # stamped like every fact, so a tie between runs is decided by value
                       "event_times": {"version": said, "run": said, "created_at": said}}


def test_symlinks_stay_a_dataset_property(store: lineage.Store) -> None:
    ol.ingest(store, [event("run_complete"), event("dataset_event")])
    assert store.node(ORDERS).properties["symlinks"] == [
        {"namespace": "hive://metastore.prod:9083", "name": "raw.orders", "type": "TABLE"}]
    assert store.node(SUMMARY).properties["symlinks"] == [
        {"namespace": "dbt://analytics", "name": "model.shop.customer_summary",
         "type": "MODEL"}]
    alias = "dataset:hive://metastore.prod:9083/raw.orders"
    assert store.node(alias).properties["symlink_of"] == [ORDERS]


def _trino_reads(table: str, *, seconds: int) -> dict[str, Any]:
    """A Trino query reading `default.test` by its Hive table name (as Trino, Hive and
    Airflow name it) into a report, with column lineage from its `key`."""
    return {
        "eventType": "COMPLETE", "eventTime": f"2024-05-01T00:01:{seconds:02d}Z",
        "producer": "https://github.com/trinodb/trino",
        "schemaURL": ol.CORE_ID + "#/$defs/RunEvent",
        "run": {"runId": f"0190d6f4-3c1e-7a5e-9b1e-0000000000{seconds:02d}"},
        "job": {"namespace": "trino", "name": "report"},
        "inputs": [{"namespace": "hive://metastore", "name": table}],
        "outputs": [{"namespace": "hive://metastore", "name": "default.report", "facets": {
            "columnLineage": {
                "_producer": "https://github.com/trinodb/trino",
                "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/"
                              "ColumnLineageDatasetFacet.json#/$defs/ColumnLineageDatasetFacet",
                "fields": {"k": {"inputFields": [{"namespace": "hive://metastore",
                                                  "name": table, "field": "key"}]}}}}}]}


@pytest.mark.parametrize("arrival", ["spark first", "trino first"])
def test_a_symlinked_table_is_linked_both_ways_at_table_and_column_level(
        store: lineage.Store, tmp_path: Path, arrival: str) -> None:
    """Spark names a table by its warehouse path and gives its Hive name as a symlink
    (OpenLineage's own pysparkSymlinksComplete expected event); Trino names it by the Hive
    name. Impact of the Spark output must reach the Trino report, field by field, and the
    store must not depend on which arrived first (held-out: the symlink was a property
    only, so impact of /tmp/warehouse/test stopped at the Spark job)."""
    spark = json.loads((DATA / "upstream" / "spark_pysparkSymlinksComplete.json").read_text())
    trino = _trino_reads("default.test", seconds=5)
    for e in ([spark, trino] if arrival == "spark first" else [trino, spark]):
        ol.ingest(store, e)
    path, table = "dataset:file//tmp/warehouse/test", "dataset:hive://metastore/default.test"
    report = "dataset:hive://metastore/default.report"
    assert store.node(table).properties["symlink_of"] == [path]
    links = derivations(store)
    assert links[(path, table)] == links[(table, path)] == {
        "scope": "dataset", "transformation": "identity", "declared": "symlink",
        "event_time": spark["eventTime"]}
    assert links[(f(path, "key"), f(table, "key"))]["declared"] == "symlink"
    assert report in lineage.impact(store, path).closure.keys()
    assert f(report, "k") in lineage.impact(store, f(path, "key")).closure.keys()
    # and the other way: what Spark wrote under its path came through the Hive name
    assert f(path, "key") in upstream(store, f(report, "k")).keys()
    with lineage.connect(f"sqlite:///{tmp_path / 'other.db'}") as other:
        for e in ([trino, spark] if arrival == "spark first" else [spark, trino]):
            ol.ingest(other, e)
        assert snapshot(other) == snapshot(store)


def test_a_column_dropped_from_a_symlinked_table_is_retired_under_both_names(
        store: lineage.Store) -> None:
    """A newer Spark schema without `value`: retired from the path's current columns and
    from the Hive name's, so impact of either name no longer reaches it."""
    spark = json.loads((DATA / "upstream" / "spark_pysparkSymlinksComplete.json").read_text())
    newer = copy.deepcopy(spark)
    newer["eventTime"] = "2024-05-02T00:00:00Z"
    newer["run"]["runId"] = "0190d6f4-3c1e-7a5e-9b1e-0000000000dd"
    newer["outputs"][0]["facets"]["schema"]["fields"] = [{"name": "key", "type": "integer"}]
    for e in (newer, spark):  # the newer first: the older must not bring `value` back
        ol.ingest(store, e)
    path, table = "dataset:file//tmp/warehouse/test", "dataset:hive://metastore/default.test"
    for name in (path, table):
        assert store.node(name).properties["fields"] == ["key"]
        assert (name, "has_field", f(name, "value")) not in edges(store)
        assert f(name, "value") not in lineage.impact(store, name).closure.keys()


def test_a_completed_run_without_a_version_facet_versions_its_outputs_by_run_id(
        store: lineage.Store) -> None:
    complete = event("run_complete")
    del complete["outputs"][0]["facets"]["version"]
    ol.ingest(store, complete)
    by_run = f"dataset_version:{PG}/analytics.order_facts@0190d6f4-3c1e-7a5e-9b1e-3f0a2c4d5e6f"
    assert (by_run, "version_of", FACTS) in edges(store)
    assert (RUN, "wrote", by_run) in edges(store)


def test_dataset_and_job_events_carry_static_lineage(store: lineage.Store) -> None:
    result = ol.ingest(store, [event("dataset_event"), event("job_event")])
    assert (result.dataset_events, result.job_events, result.runs) == (1, 1, 0)
    assert edges(store) - symlink_links(store) == {
        (SUMMARY, "has_field", f(SUMMARY, "customer_name")),
        (SUMMARY, "has_field", f(SUMMARY, "order_count")),
        (FACTS, "has_field", f(FACTS, "customer_name")),
        (FACTS, "has_field", f(FACTS, "order_id")),
        (f(FACTS, "customer_name"), "derived_from", f(SUMMARY, "customer_name")),
        (f(FACTS, "order_id"), "derived_from", f(SUMMARY, "order_count")),
        (FACTS, "derived_from", SUMMARY),  # named only in column lineage: table level too
        (SUMMARY, "read", EXPORT_JOB),
        (EXPORT_JOB, "wrote", CSV),
        (CSV, "has_field", f(CSV, "customer")),
        (f(SUMMARY, "customer_name"), "derived_from", f(CSV, "customer")),
    }
    how = derivations(store)
    assert how[(f(FACTS, "customer_name"), f(SUMMARY, "customer_name"))]["transformation"] == \
        "identity"
    assert how[(f(FACTS, "customer_name"), f(SUMMARY, "customer_name"))]["transformations"] == \
        ["DIRECT/IDENTITY", "INDIRECT/GROUP_BY"]
    assert how[(f(FACTS, "order_id"), f(SUMMARY, "order_count"))]["transformation"] == \
        "aggregation"
    assert how[(f(SUMMARY, "customer_name"), f(CSV, "customer"))]["job"] == EXPORT_JOB
    assert store.node(SUMMARY).properties["description"] == "One row per customer."
    assert store.node(EXPORT_JOB).properties["description"] == \
        "Nightly CSV export of the customer summary."


def test_a_failed_run_records_its_state_but_derives_and_versions_nothing(
        store: lineage.Store) -> None:
    ol.ingest(store, event("run_fail"))
    run = store.node(FAILED).properties
    assert run["state"] == "FAIL" and run["error_message"] == "division by zero"
    assert edges(store) == {
        (REFUNDS_JOB, "run_of", FAILED),
        (ORDERS, "read", REFUNDS_JOB), (ORDERS, "read", FAILED),
        (REFUNDS_JOB, "wrote", REFUNDS),
        (REFUNDS, "has_field", f(REFUNDS, "refund_amount")),
    }
    assert not derivations(store)
    assert not store.find("dataset_version:")


def test_an_aborted_run_is_no_success_either(store: lineage.Store) -> None:
    aborted = {**event("run_complete"), "eventType": "ABORT"}
    ol.ingest(store, aborted)
    assert store.node(RUN).properties["state"] == "ABORT"
    # (the input's symlink is linked: a fact about the dataset, not something the run made)
    assert not {pair for pair, p in derivations(store).items() if p.get("declared") != "symlink"}
    assert (RUN, "wrote", FACTS) not in edges(store)
    assert store.find("dataset_version:") == [lineage.NodeRef(
        ORDERS_V, lineage.NodeKind.DATASET_VERSION, "public.orders_raw@v42")]  # an input


# ------------------------------------------------------------------ guarantees


def test_duplicate_delivery_changes_nothing(store: lineage.Store) -> None:
    events = [event(n) for n in ("run_start", "run_complete", "run_fail", "dataset_event",
                                 "job_event")]
    ol.ingest(store, events)
    before = snapshot(store)
    again = ol.ingest(store, events)
    assert not again.applied.changed
    one_by_one = [ol.ingest(store, e) for e in events]
    assert not any(r.applied.changed for r in one_by_one)
    assert snapshot(store) == before


def test_out_of_order_events_end_in_the_same_graph(store: lineage.Store,
                                                   tmp_path: Path) -> None:
    with lineage.connect(f"sqlite:///{tmp_path / 'in_order.db'}") as in_order:
        for name in ("run_start", "run_complete"):
            ol.ingest(in_order, event(name))
        expected = snapshot(in_order)
    for name in ("run_complete", "run_start"):  # COMPLETE arrives first
        ol.ingest(store, event(name))
    assert snapshot(store) == expected
    assert store.node(RUN).properties["state"] == "COMPLETE"


def test_one_instant_spelled_two_ways_ends_in_the_same_store_in_any_order(
        store: lineage.Store, tmp_path: Path) -> None:
    """Producers spell one instant differently (Java's nanoseconds, Python's microseconds, no
    fraction, `+00:00`): a run's duplicate delivery and another run's event saying the same
    schema at the same instant leave the same stamps whichever arrives first (held-out Flink
    events did not: `event_times` kept the first arrival's spelling)."""
    first = event("run_complete")  # 2024-05-01T02:10:00.000Z
    respelled = copy.deepcopy(first)
    respelled["eventTime"] = "2024-05-01T02:10:00+00:00"
    other_run = copy.deepcopy(respelled)
    other_run["run"]["runId"] = "0190d6f4-3c1e-7a5e-9b1e-00000000000b"
    with lineage.connect(f"sqlite:///{tmp_path / 'other_order.db'}") as other:
        for e in (respelled, other_run, first):
            ol.ingest(other, e)
        expected = snapshot(other)
    for e in (first, other_run, respelled):
        ol.ingest(store, e)
    assert snapshot(store) == expected


def test_terminal_state_wins_over_a_later_running_or_other_event(
        store: lineage.Store) -> None:
    late = {**event("run_start"), "eventType": "OTHER", "eventTime": "2024-05-01T05:00:00Z"}
    ol.ingest(store, [event("run_complete"), late])
    run = store.node(RUN).properties
    assert run["state"] == "COMPLETE"
    assert run["states"]["OTHER"] == "2024-05-01T05:00:00Z"


def test_upper_case_run_ids_name_the_same_run(store: lineage.Store) -> None:
    start = event("run_start")
    start["run"]["runId"] = start["run"]["runId"].upper()
    ol.ingest(store, [start, event("run_complete")])
    assert store.find("run:", [lineage.NodeKind.RUN]) == [
        lineage.NodeRef(RUN, lineage.NodeKind.RUN, RUN.rpartition("/")[2]),
        lineage.NodeRef(PARENT, lineage.NodeKind.RUN, PARENT.rpartition("/")[2])]


def test_ingest_keeps_what_a_manifest_declared_about_a_dataset(store: lineage.Store) -> None:
    lineage.manifest.register_text(store, (
        "namespace: postgres://db.prod:5432\n"
        "datasets:\n"
        "  - name: public.customers\n"
        "    owner: crm-team\n"
        "    fields:\n"
        "      - {name: email, type: string, nullable: false}\n"))
    ol.ingest(store, event("run_complete"))
    assert store.node(CUSTOMERS).properties["owner"] == "crm-team"
    email = store.node(f(CUSTOMERS, "email")).properties
    assert email["nullable"] is False and email["source_type"] == "string"


def test_unknown_custom_facets_are_accepted_and_named(store: lineage.Store) -> None:
    ol.ingest(store, event("run_complete"))
    assert "acme_quality" in store.node(FACTS).properties["facets"]
    assert "acme_cost" in store.node(RUN).properties["facets"]


def test_the_principal_is_recorded_on_the_runs_it_reported(store: lineage.Store) -> None:
    result = ol.ingest(store, event("run_start"), principal="airflow-prod")
    assert result.principal == "airflow-prod"
    ol.ingest(store, event("run_complete"), principal="backfill")
    assert store.node(RUN).properties["reported_by"] == ["airflow-prod", "backfill"]


def test_json_text_and_bytes_are_accepted(store: lineage.Store) -> None:
    text = json.dumps([event("run_start"), event("run_complete")])
    assert ol.ingest(store, text).events == 2
    assert not ol.ingest(store, text.encode()).applied.changed
    assert not ol.ingest(store, [json.dumps(event("run_start"))]).applied.changed


def test_a_deleted_facet_is_ignored(store: lineage.Store) -> None:
    complete = event("run_complete")
    complete["outputs"][0]["facets"]["version"] = {
        "_producer": "https://x.example", "_schemaURL": "https://x.example/s.json",
        "_deleted": True}
    ol.ingest(store, complete)
    assert "version" not in store.node(FACTS).properties["facets"]
    assert not store.find("order_facts@2024-05-01")


# ------------------------------------------------------------------ the official client


def test_events_built_by_the_openlineage_python_client(store: lineage.Store,
                                                       tmp_path: Path) -> None:
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import (
        DatasetEvent,
        InputDataset,
        Job,
        JobEvent,
        OutputDataset,
        Run,
        RunEvent,
        RunState,
        StaticDataset,
    )
    from openlineage.client.facet_v2 import (
        column_lineage_dataset,
        dataset_version_dataset,
        parent_run,
        schema_dataset,
        symlinks_dataset,
    )
    from openlineage.client.serde import Serde
    from openlineage.client.transport.file import FileConfig, FileTransport

    run_id = "01a204b8-b18f-7518-bd2c-582ba438261a"
    parent_id = "01a204b8-0000-7000-8000-0000000000aa"
    producer = "https://github.com/OpenLineage/OpenLineage/tree/1.x/client/python"
    schema = schema_dataset.SchemaDatasetFacet(fields=[
        schema_dataset.SchemaDatasetFacetFields(name="user_id", type="BIGINT"),
        schema_dataset.SchemaDatasetFacetFields(name="spend", type="DOUBLE"),
    ])
    lineage_facet = column_lineage_dataset.ColumnLineageDatasetFacet(
        fields={
            "user_id": column_lineage_dataset.Fields(
                inputFields=[column_lineage_dataset.InputField(
                    namespace="kafka://events:9092", name="payments", field="user_id",
                    transformations=[column_lineage_dataset.Transformation(
                        type="DIRECT", subtype="IDENTITY")])]),
            "spend": column_lineage_dataset.Fields(
                inputFields=[column_lineage_dataset.InputField(
                    namespace="kafka://events:9092", name="payments", field="amount",
                    transformations=[column_lineage_dataset.Transformation(
                        type="DIRECT", subtype="AGGREGATION", masking=False)])]),
        },
        dataset=[column_lineage_dataset.InputField(
            namespace="kafka://events:9092", name="payments", field="event_ts",
            transformations=[column_lineage_dataset.Transformation(
                type="INDIRECT", subtype="WINDOW")])],
    )
    run = Run(runId=run_id, facets={"parent": parent_run.ParentRunFacet(
        run=parent_run.Run(runId=parent_id), job=parent_run.Job(namespace="spark", name="app"))})
    job = Job(namespace="spark", name="app.aggregate_spend")
    inputs = [InputDataset(namespace="kafka://events:9092", name="payments")]
    output = OutputDataset(namespace="s3://lake", name="spend_daily", facets={
        "schema": schema, "columnLineage": lineage_facet,
        "version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion="17")})
    start = RunEvent(eventType=RunState.START, eventTime="2024-06-01T00:00:00.000000+00:00",
                     run=run, job=job, producer=producer, inputs=inputs, outputs=[output])
    complete = RunEvent(eventType=RunState.COMPLETE,
                        eventTime="2024-06-01T00:03:00.123456+00:00", run=run, job=job,
                        producer=producer, inputs=inputs, outputs=[output])
    static = DatasetEvent(eventTime="2024-06-02T00:00:00Z", producer=producer,
                          dataset=StaticDataset(namespace="s3://lake", name="spend_daily",
                                                facets={"symlinks":
                                                        symlinks_dataset.SymlinksDatasetFacet(
                                                            identifiers=[
                                                                symlinks_dataset.Identifier(
                                                                    namespace="glue://eu",
                                                                    name="lake.spend_daily",
                                                                    type="TABLE")])}))
    job_event = JobEvent(eventTime="2024-06-02T00:00:00Z", producer=producer,
                         job=Job(namespace="spark", name="app.report"),
                         inputs=[InputDataset(namespace="s3://lake", name="spend_daily")],
                         outputs=[])

    # once through the client's own serde, once through its file transport (NDJSON)
    assert ol.ingest(store, [Serde.to_json(complete), Serde.to_json(start)]).derivations == 3
    path = tmp_path / "events.ndjson"
    client = OpenLineageClient(transport=FileTransport(FileConfig(log_file_path=str(path),
                                                                  append=True)))
    for e in (start, complete, static, job_event):
        client.emit(e)
    result = ol.ingest_file(store, path)
    assert (result.events, result.run_events, result.dataset_events, result.job_events) == \
        (4, 2, 1, 1)

    payments, spend = "dataset:kafka://events:9092/payments", "dataset:s3://lake/spend_daily"
    run_key = keys.run_key(run_id, "job:spark/app.aggregate_spend")
    parent_key = keys.run_key(parent_id, "job:spark/app")
    version = "dataset_version:s3://lake/spend_daily@17"
    assert edges(store) - symlink_links(store) == {
        ("job:spark/app", "run_of", parent_key), (parent_key, "parent_of", run_key),
        ("job:spark/app.aggregate_spend", "run_of", run_key),
        (payments, "read", "job:spark/app.aggregate_spend"), (payments, "read", run_key),
        ("job:spark/app.aggregate_spend", "wrote", spend), (run_key, "wrote", spend),
        (run_key, "wrote", version), (version, "version_of", spend),
        (spend, "has_field", f(spend, "user_id")), (spend, "has_field", f(spend, "spend")),
        (payments, "has_field", f(payments, "user_id")),
        (payments, "has_field", f(payments, "amount")),
        (payments, "has_field", f(payments, "event_ts")),
        (f(payments, "user_id"), "derived_from", f(spend, "user_id")),
        (f(payments, "amount"), "derived_from", f(spend, "spend")),
        (f(payments, "event_ts"), "derived_from", spend),
        (spend, "read", "job:spark/app.report"),
    }
    how = {pair: p["transformation"] for pair, p in derivations(store).items()
           if p.get("declared") != "symlink"}
    assert how == {(f(payments, "user_id"), f(spend, "user_id")): "identity",
                   (f(payments, "amount"), f(spend, "spend")): "aggregation",
                   (f(payments, "event_ts"), spend): "window"}
    assert store.node(run_key).properties["state"] == "COMPLETE"
    assert store.node(spend).properties["symlinks"] == [
        {"namespace": "glue://eu", "name": "lake.spend_daily", "type": "TABLE"}]
    assert [(s.name, s.type) for s in store.schema(version)] == [("user_id", "int64"),
                                                                 ("spend", "float64")]


# ------------------------------------------------------------------ event time, not arrival

LAKE = "s3://lake"
PAYMENTS_EV = "dataset:kafka://events:9092/payments"
TOTALS = f"dataset:{LAKE}/daily_totals"
TOTALS_JOB = "job:spark/daily_totals"


def totals_event(day: int, *, status_type: str, sql: str, subtype: str,
                 columns: tuple[str, ...] = ("day", "status", "total")) -> dict[str, Any]:
    """The COMPLETE event of day `day`'s run of a Spark job writing `daily_totals`, built with
    the official client: its schema (`status` typed `status_type`), its SQL, and column
    lineage from payments.amount to total with the given transformation subtype."""
    from openlineage.client.event_v2 import (
        InputDataset,
        Job,
        OutputDataset,
        Run,
        RunEvent,
        RunState,
    )
    from openlineage.client.facet_v2 import column_lineage_dataset as cl
    from openlineage.client.facet_v2 import schema_dataset, sql_job
    from openlineage.client.serde import Serde

    types = {"day": "DATE", "status": status_type, "total": "DECIMAL(12,2)", "legacy": "TEXT"}
    out = OutputDataset(namespace=LAKE, name="daily_totals", facets={
        "schema": schema_dataset.SchemaDatasetFacet(fields=[
            schema_dataset.SchemaDatasetFacetFields(name=c, type=types[c]) for c in columns]),
        "columnLineage": cl.ColumnLineageDatasetFacet(fields={"total": cl.Fields(inputFields=[
            cl.InputField(namespace="kafka://events:9092", name="payments", field="amount",
                          transformations=[cl.Transformation(type="DIRECT",
                                                             subtype=subtype)])])})})
    event = RunEvent(
        eventType=RunState.COMPLETE, eventTime=f"2024-07-{day:02d}T03:00:00Z",
        run=Run(runId=f"01a204b8-b18f-7518-bd2c-0000000000{day:02d}"),
        job=Job(namespace="spark", name="daily_totals",
                facets={"sql": sql_job.SQLJobFacet(query=sql)}),
        inputs=[InputDataset(namespace="kafka://events:9092", name="payments")],
        outputs=[out], producer="https://github.com/OpenLineage/OpenLineage/tree/1.20.0/"
        "integration/spark")
    return dict(json.loads(Serde.to_json(event)))


def _older_and_newer() -> tuple[dict[str, Any], dict[str, Any]]:
    older = totals_event(1, status_type="INTEGER", sql="SELECT old", subtype="IDENTITY",
                         columns=("day", "status", "total", "legacy"))
    newer = totals_event(2, status_type="VARCHAR", sql="SELECT new", subtype="AGGREGATION")
    return older, newer


@pytest.mark.parametrize("arrival", ["newer first", "one request, newer first",
                                     "older first"])
def test_state_follows_event_time_whatever_the_arrival_order(
        store: lineage.Store, tmp_path: Path, arrival: str) -> None:
    older, newer = _older_and_newer()
    with lineage.connect(f"sqlite:///{tmp_path / 'in_order.db'}") as in_order:
        ol.ingest(in_order, older)
        ol.ingest(in_order, newer)
        expected = snapshot(in_order)
    if arrival == "newer first":
        ol.ingest(store, newer)
        ol.ingest(store, older)
    elif arrival == "one request, newer first":
        ol.ingest(store, [newer, older])
    else:
        ol.ingest(store, older)
        ol.ingest(store, newer)
    assert snapshot(store) == expected
    # what the newest event says, whichever came last
    assert store.node(f(TOTALS, "status")).properties["type"] == "string"
    assert store.node(f(TOTALS, "status")).properties["source_type"] == "VARCHAR"
    assert store.node(TOTALS_JOB).properties["sql"] == "SELECT new"
    assert derivations(store)[(f(PAYMENTS_EV, "amount"), f(TOTALS, "total"))][
        "transformation"] == "aggregation"
    # the older event's run and version are history, with the schema it saw
    old_version = f"dataset_version:{LAKE}/daily_totals@01a204b8-b18f-7518-bd2c-000000000001"
    assert [(x.name, x.type) for x in store.schema(old_version)][1] == ("status", "int32")
    assert run_node(store, "01a204b8-b18f-7518-bd2c-000000000001").properties["state"] == \
        "COMPLETE"


@pytest.mark.parametrize("arrival", ["older first", "newer first"])
def test_a_column_dropped_from_a_newer_schema_is_retired_from_the_current_schema(
        store: lineage.Store, arrival: str) -> None:
    older, newer = _older_and_newer()  # `legacy` is in the older schema only
    for e in ([older, newer] if arrival == "older first" else [newer, older]):
        ol.ingest(store, e)
    legacy = f(TOTALS, "legacy")
    assert store.node(TOTALS).properties["fields"] == ["day", "status", "total"]
    assert (TOTALS, "has_field", legacy) not in edges(store)
    assert (TOTALS, "has_field", f(TOTALS, "total")) in edges(store)
    assert legacy not in lineage.impact(store, TOTALS).closure.keys()
    assert store.node(legacy).properties["type"] == "string"  # the node and its history stay
    v1, v2 = (f"dataset_version:{LAKE}/daily_totals@01a204b8-b18f-7518-bd2c-0000000000{d}"
              for d in ("01", "02"))
    assert "legacy" in [x.name for x in store.schema(v1)]
    changes = schema_diff(store.schema(v1), store.schema(v2))
    assert ("dropped", "legacy") in [(c.kind, c.field) for c in changes]
    # listed again by a still newer schema: current again
    ol.ingest(store, totals_event(3, status_type="VARCHAR", sql="SELECT new", subtype="SUM",
                                  columns=("day", "status", "total", "legacy")))
    assert (TOTALS, "has_field", legacy) in edges(store)


def test_two_runs_writing_one_named_version_at_one_time_end_the_same_in_any_order(
        store: lineage.Store, tmp_path: Path) -> None:
    """Two runs report the same named dataset version at the same event time: the version's
    `run` and `created_at` must not depend on which arrived last, and a replay of either
    changes nothing."""
    first, second = (totals_event(day, status_type="INTEGER", sql="SELECT 1",
                                  subtype="IDENTITY") for day in (1, 2))
    for e in (first, second):
        e["eventTime"] = "2024-07-05T03:00:00Z"
        e["outputs"][0]["facets"]["version"] = {
            "_producer": e["producer"], "datasetVersion": "v1",
            "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/"
                          "DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet"}
    with lineage.connect(f"sqlite:///{tmp_path / 'other_order.db'}") as other:
        ol.ingest(other, second)
        ol.ingest(other, first)
        expected = snapshot(other)
    ol.ingest(store, first)
    ol.ingest(store, second)
    assert snapshot(store) == expected
    version = store.node(f"dataset_version:{LAKE}/daily_totals@v1").properties
    replayed = ol.ingest(store, first)
    assert snapshot(store) == expected and replayed.applied.nodes_updated == 0
    assert version["run"] in (keys.run_key(f"01a204b8-b18f-7518-bd2c-00000000000{d}",
                                           TOTALS_JOB) for d in (1, 2))


def test_a_run_id_reported_by_two_jobs_is_two_runs_and_the_second_is_warned(
        store: lineage.Store, tmp_path: Path) -> None:
    """Producers reuse runIds (OpenLineage's own dbt fixtures do): each job's run is stored,
    neither merged into the other nor refused, and the second is told so; the store is
    the same whichever arrives first."""
    first = totals_event(1, status_type="INTEGER", sql="SELECT 1", subtype="IDENTITY")
    other = copy.deepcopy(first)
    other["job"]["name"] = "weekly_totals"
    rid = first["run"]["runId"]
    weekly_job = "job:spark/weekly_totals"
    daily, weekly = keys.run_key(rid, TOTALS_JOB), keys.run_key(rid, weekly_job)
    assert ol.ingest(store, first).warnings == ()
    answer = ol.ingest(store, other)
    assert [w for w in answer.warnings if w["path"] == "run.runId"] == [{
        "event": 0, "path": "run.runId", "message":
        f"runId {rid} is also a run of job 'spark/daily_totals'; stored as a separate run of "
        f"'spark/weekly_totals' ({weekly}): a runId names one run of one job, so the "
        "producer reuses it; name the run by its key, as the runId alone is now ambiguous"}]
    runs = store.nodes([daily, weekly])
    assert runs[daily].properties["job"] == TOTALS_JOB
    assert runs[weekly].properties["job"] == weekly_job
    found = edges(store)
    assert {(TOTALS_JOB, "run_of", daily), (weekly_job, "run_of", weekly)} <= found
    assert (TOTALS_JOB, "run_of", weekly) not in found
    assert (weekly_job, "run_of", daily) not in found
    # a replay changes nothing and warns no more: the run is known
    expected = snapshot(store)
    assert [w for w in ol.ingest(store, other).warnings if w["path"] == "run.runId"] == []
    assert snapshot(store) == expected
    # the other order, and both in one request: the same store
    with lineage.connect(f"sqlite:///{tmp_path / 'reversed.db'}") as backwards:
        ol.ingest(backwards, other)
        ol.ingest(backwards, first)
        assert snapshot(backwards) == expected
    with lineage.connect(f"sqlite:///{tmp_path / 'together.db'}") as together:
        both = ol.ingest(together, [other, first])
        assert sorted(w["event"] for w in both.warnings if w["path"] == "run.runId") == [0, 1]
        assert snapshot(together) == expected
    # the runId alone no longer names one run; its old key form neither
    for name, kinds in ((rid, [lineage.NodeKind.RUN]), (f"run:{rid}", None)):
        with pytest.raises(lineage.AmbiguousName) as ambiguous:
            store.resolve(name, kinds)
        assert ambiguous.value.candidates == [daily, weekly]
    assert store.resolve(f"weekly_totals/{rid}").key == weekly


def test_a_run_id_shared_by_two_jobs_in_the_stored_parent_is_one_parent_per_job(
        store: lineage.Store) -> None:
    """A parent run facet names the parent's job too: two parents of one runId under two
    jobs are two runs, each the parent of its own child."""
    child = event("run_start")
    other = copy.deepcopy(child)
    other["job"]["name"] = "daily_etl.build_other"
    other["run"]["runId"] = str(uuid.uuid4())
    other["run"]["facets"]["parent"]["job"]["name"] = "hourly_etl"
    ol.ingest(store, [child, other])
    parent_id = PARENT.rpartition("/")[2]
    hourly = keys.run_key(parent_id, "job:airflow/hourly_etl")
    found = edges(store)
    assert (PARENT, "parent_of", RUN) in found
    assert (hourly, "parent_of", keys.run_key(other["run"]["runId"],
                                              "job:airflow/daily_etl.build_other")) in found
    assert store.node(hourly).properties["job"] == "job:airflow/hourly_etl"


# ------------------------------------------------------------------ the spec's LineageFacet

WH = "postgresql://warehouse:5432"
ACTIVE = f"dataset:{WH}/analytics.active_customers"
CUSTOMERS_WH = f"dataset:{WH}/public.customers"
ORDERS_WH = f"dataset:{WH}/public.orders"


def test_a_dataset_event_lineage_facet_gives_table_and_field_lineage(
        store: lineage.Store) -> None:
    # A catalog declares a view's lineage with a DatasetEvent, as the spec's LineageFacet
    # allows (built with the official client's classes for that facet).
    from openlineage.client.event_v2 import DatasetEvent, StaticDataset
    from openlineage.client.facet_v2 import lineage as lf
    from openlineage.client.serde import Serde

    identity = [lf.LineageTransformation(type="DIRECT", subtype="IDENTITY")]
    view = StaticDataset(namespace=WH, name="analytics.active_customers", facets={
        "lineage": lf.LineageDatasetFacet(
            inputs=[lf.LineageDatasetInput(namespace=WH, name="public.customers",
                                           type="DATASET"),
                    lf.LineageDatasetInput(namespace=WH, name="public.orders",
                                           type="DATASET", field="placed_at",
                                           transformations=[lf.LineageTransformation(
                                               type="INDIRECT", subtype="FILTER")])],
            fields={"customer_id": lf.LineageFieldEntry(inputs=[lf.LineageDatasetInput(
                namespace=WH, name="public.customers", type="DATASET", field="id",
                transformations=identity)]),
                    "orders_90d": lf.LineageFieldEntry(inputs=[lf.LineageDatasetInput(
                        namespace=WH, name="public.orders", type="DATASET", field="order_id",
                        transformations=[lf.LineageTransformation(
                            type="DIRECT", subtype="AGGREGATION")])])})})
    sent = json.loads(Serde.to_json(DatasetEvent(
        eventTime="2024-08-01T00:00:00Z", producer="https://example.com/catalog",
        dataset=view)))
    result = ol.ingest(store, sent)
    assert result.dropped_facets == () and result.warnings == ()
    found = derivations(store)
    assert found[(CUSTOMERS_WH, ACTIVE)]["scope"] == "dataset"
    assert found[(f(ORDERS_WH, "placed_at"), ACTIVE)]["transformation"] == "filter"
    assert found[(f(CUSTOMERS_WH, "id"), f(ACTIVE, "customer_id"))]["transformation"] == \
        "identity"
    assert found[(f(ORDERS_WH, "order_id"), f(ACTIVE, "orders_90d"))]["transformation"] == \
        "aggregation"
    assert len(found) == 4
    assert f(ACTIVE, "customer_id") in lineage.impact(store, f(CUSTOMERS_WH, "id")).closure.keys()
    assert ACTIVE in lineage.impact(store, CUSTOMERS_WH).closure.keys()


def test_a_job_lineage_facet_gives_reads_writes_and_derivations(store: lineage.Store) -> None:
    from openlineage.client.event_v2 import Job, JobEvent, Run, RunEvent, RunState
    from openlineage.client.facet_v2 import lineage as lf
    from openlineage.client.serde import Serde

    extract_run = "b7dce052-51a6-4d66-98b9-5fd8b78a79c7"
    facet = lf.LineageJobFacet(entries=[
        # the summary table is fed by the extract job's run and, per field, by orders
        lf.LineageDatasetEntry(namespace=WH, name="public.daily_summary", type="DATASET",
                               inputs=[lf.LineageJobInput(type="JOB",
                                                          namespace="airflow://production",
                                                          name="daily.extract",
                                                          runId=extract_run)],
                               fields={"total": lf.LineageFieldEntry(inputs=[
                                   lf.LineageDatasetInput(namespace=WH, name="public.orders",
                                                          type="DATASET", field="amount")])}),
        # this job itself (no name) reads transactions
        lf.LineageJobEntry(type="JOB", inputs=[lf.LineageDatasetInput(
            namespace=WH, name="public.transactions", type="DATASET")]),
        # job to job: not stored, said so
        lf.LineageJobEntry(type="JOB", namespace="airflow://production", name="daily.load",
                           inputs=[lf.LineageJobInput(type="JOB",
                                                      namespace="airflow://production",
                                                      name="daily.transform")]),
    ])
    job = Job(namespace="airflow://production", name="daily.validate",
              facets={"lineage": facet})
    declared = json.loads(Serde.to_json(JobEvent(
        eventTime="2024-08-01T00:00:00Z", producer="https://example.com/orchestrator",
        job=job, inputs=[], outputs=[])))
    result = ol.ingest(store, declared)
    assert result.warnings == ({"event": 0, "path": "job.facets.lineage.entries[2].inputs[0]",
                                "message": "job-to-job lineage is not stored: the store "
                                           "links jobs through the datasets between them"},)
    summary = f"dataset:{WH}/public.daily_summary"
    extract, own = "job:airflow://production/daily.extract", \
        "job:airflow://production/daily.validate"
    found = edges(store)
    assert (extract, "wrote", summary) in found
    assert (keys.run_key(extract_run, extract), "wrote", summary) in found
    assert (extract, "run_of", keys.run_key(extract_run, extract)) in found
    assert (f"dataset:{WH}/public.transactions", "read", own) in found
    assert derivations(store)[(f(ORDERS_WH, "amount"), f(summary, "total"))]["job"] == own

    # on a RunEvent, the job's own entry is read by that run too
    run_id = "01a204b8-b18f-7518-bd2c-0000000000d1"
    observed = json.loads(Serde.to_json(RunEvent(
        eventType=RunState.COMPLETE, eventTime="2024-08-02T00:00:00Z", run=Run(runId=run_id),
        job=job, producer="https://example.com/orchestrator", inputs=[], outputs=[])))
    ol.ingest(store, observed)
    assert (f"dataset:{WH}/public.transactions", "read", keys.run_key(run_id, own)) in \
        edges(store)


# ------------------------------------------------------------------ dbt, as dbt-ol sends it

DUCK = "duckdb://jaffle_shop.duckdb"
STG_ORDERS = f"dataset:{DUCK}/jaffle_shop.main.stg_orders"
DBT_RUN = "01a204b8-b18f-7518-bd2c-0000000000e0"


def dbt_event(job: str, state: str, seconds: int, *, inputs: list[dict[str, Any]],
              outputs: list[dict[str, Any]], job_type: str = "MODEL",
              run_id: str) -> dict[str, Any]:
    """One dbt-ol event (structured-logs mode): a node's run under the dbt command's run,
    built with the official client."""
    from openlineage.client.event_v2 import (
        InputDataset,
        Job,
        OutputDataset,
        Run,
        RunEvent,
        RunState,
    )
    from openlineage.client.facet_v2 import job_type_job, parent_run
    from openlineage.client.serde import Serde

    event = RunEvent(
        eventType=RunState(state), eventTime=f"2024-09-01T06:00:{seconds:02d}Z",
        run=Run(runId=run_id, facets={"parent": parent_run.ParentRunFacet(
            run=parent_run.Run(runId=DBT_RUN),
            job=parent_run.Job(namespace="dbt", name="dbt-run-jaffle_shop"))}),
        job=Job(namespace="dbt", name=job, facets={"jobType": job_type_job.JobTypeJobFacet(
            processingType="BATCH", integration="DBT", jobType=job_type)}),
        inputs=[InputDataset(**i) for i in inputs], outputs=[OutputDataset(**o)
                                                               for o in outputs],
        producer="https://github.com/OpenLineage/OpenLineage/tree/1.20.0/integration/dbt")
    return dict(json.loads(Serde.to_json(event)))


def _dbt_test(name: str, column: str, success: bool, seconds: int, run_id: str
              ) -> dict[str, Any]:
    from openlineage.client.facet_v2 import data_quality_assertions_dataset as dq

    # dbt-ol puts the assertions among the tested dataset's facets, and reports the
    # store-failures audit table as the test's output
    checked = {"namespace": DUCK, "name": "jaffle_shop.main.stg_orders", "facets": {
        "dataQualityAssertions": dq.DataQualityAssertionsDatasetFacet(assertions=[
            dq.Assertion(assertion=name.split("_stg_orders")[0], success=success,
                         column=column)])}}
    audit = {"namespace": DUCK, "name": f"jaffle_shop.main_dbt_test__audit.{name}"}
    return dbt_event(f"test.jaffle_shop.{name}.5c9bf9911d",
                     "COMPLETE" if success else "FAIL", seconds, inputs=[checked],
                     outputs=[audit], job_type="TEST", run_id=run_id)


def test_dbt_tests_are_quality_checks_on_their_columns_not_downstream_datasets(
        store: lineage.Store) -> None:
    from openlineage.client.facet_v2 import column_lineage_dataset as cl

    model = dbt_event(
        "model.jaffle_shop.stg_orders", "COMPLETE", 1, run_id=
        "01a204b8-b18f-7518-bd2c-0000000000e1",
        inputs=[{"namespace": DUCK, "name": "jaffle_shop.main.raw_orders"}],
        outputs=[{"namespace": DUCK, "name": "jaffle_shop.main.stg_orders", "facets": {
            "columnLineage": cl.ColumnLineageDatasetFacet(fields={"order_id": cl.Fields(
                inputFields=[cl.InputField(namespace=DUCK, name="jaffle_shop.main.raw_orders",
                                           field="id")]),
                "status": cl.Fields(inputFields=[cl.InputField(
                    namespace=DUCK, name="jaffle_shop.main.raw_status", field="code")])})}}])
    ol.ingest(store, [
        model,
        _dbt_test("not_null_stg_orders_order_id", "order_id", True, 2,
                  "01a204b8-b18f-7518-bd2c-0000000000e2"),
        _dbt_test("accepted_values_stg_orders_status", "status", False, 3,
                  "01a204b8-b18f-7518-bd2c-0000000000e3"),
    ])
    datasets = {r.key for r in store.find("", [lineage.NodeKind.DATASET], 100)}
    assert not [d for d in datasets if "dbt_test__audit" in d]
    downstream = lineage.impact(store, STG_ORDERS).groups.get(lineage.NodeKind.DATASET, [])
    assert downstream == []
    checks = store.node(f(STG_ORDERS, "status")).properties["quality_checks"]
    assert list(checks.values()) == [{
        "assertion": "accepted_values", "success": False, "column": "status",
        "job": "job:dbt/test.jaffle_shop.accepted_values_stg_orders_status.5c9bf9911d",
        "run": "run:dbt/test.jaffle_shop.accepted_values_stg_orders_status.5c9bf9911d/"
               "01a204b8-b18f-7518-bd2c-0000000000e3", "at": "2024-09-01T06:00:03Z"}]
    on_table = store.node(STG_ORDERS).properties["quality_checks"]
    assert sorted((c["assertion"], c["column"], c["success"]) for c in on_table.values()) == [
        ("accepted_values", "status", False), ("not_null", "order_id", True)]
    # a later run of the test replaces its result; an older one arriving late does not
    ol.ingest(store, _dbt_test("accepted_values_stg_orders_status", "status", True, 9,
                               "01a204b8-b18f-7518-bd2c-0000000000e4"))
    ol.ingest(store, _dbt_test("accepted_values_stg_orders_status", "status", False, 5,
                               "01a204b8-b18f-7518-bd2c-0000000000e5"))
    [latest] = store.node(f(STG_ORDERS, "status")).properties["quality_checks"].values()
    assert (latest["success"], latest["at"]) == (True, "2024-09-01T06:00:09Z")
    shown = CliRunner().invoke(_cli(), ["--store", store.url, "impact", "stg_orders.status"])
    assert shown.exit_code == 0, shown.output
    assert "tests covering" in shown.output and "accepted_values" in shown.output
    assert ol.checks_covering(store, "stg_orders.status")[0]["success"] is True
    # raw_status appears only in the column lineage: it is an input at table level too
    model_job = "job:dbt/model.jaffle_shop.stg_orders"
    assert (f"dataset:{DUCK}/jaffle_shop.main.raw_status", "read", model_job) in edges(store)
    assert (f"dataset:{DUCK}/jaffle_shop.main.raw_status", "read",
            keys.run_key("01a204b8-b18f-7518-bd2c-0000000000e1", model_job)) in edges(store)


# ------------------------------------------------------------------ bad input writes nothing


def _broken(change: str) -> dict[str, Any]:
    """A COMPLETE event with one defect (see the parametrisation below)."""
    e = event("run_complete")
    out = e["outputs"][0]["facets"]
    if change == "run id not a uuid":
        e["run"]["runId"] = "run-42"
    elif change == "run id missing":
        del e["run"]["runId"]
    elif change == "run id a number":
        e["run"]["runId"] = 42
    elif change == "input namespace missing":
        del e["inputs"][0]["namespace"]
    elif change == "input namespace empty":
        e["inputs"][1]["namespace"] = "  "
    elif change == "unknown event type":
        e["eventType"] = "DONE"
    elif change == "naive event time":
        e["eventTime"] = "2024-05-01T02:10:00"
    elif change == "schema field without name":
        del out["schema"]["fields"][1]["name"]
    elif change == "schema fields not a list":
        out["schema"]["fields"] = {"order_id": "BIGINT"}
    elif change == "column lineage input without field":
        del out["columnLineage"]["fields"]["order_id"]["inputFields"][0]["field"]
    elif change == "parent run id not a uuid":
        e["run"]["facets"]["parent"]["run"]["runId"] = "parent"
    elif change == "custom facet without producer":
        del out["acme_quality"]["_producer"]
    elif change == "job name a list":
        e["job"]["name"] = ["a"]
    elif change == "inputs not a list":
        e["inputs"] = {"namespace": "x", "name": "y"}
    elif change == "schema field twice":
        out["schema"]["fields"].append({"name": "order_id", "type": "INT"})
    return e


#: defects of the core event: refused in every mode
CORE_DEFECTS = [
    ("run id not a uuid", "run.runId", "must be a UUID"),
    ("run id missing", "run.runId", "is required"),
    ("run id a number", "run.runId", "must be a string, got number 42"),
    ("input namespace missing", "inputs[0].namespace", "is required"),
    ("input namespace empty", "inputs[1].namespace", "non-empty"),
    ("unknown event type", "eventType", "must be one of START, RUNNING, COMPLETE"),
    ("job name a list", "job.name", "must be a string, got array"),
    ("inputs not a list", "inputs", "must be an array"),
]
#: defects of a facet or of what is read leniently: refused whole only in strict mode
FACET_DEFECTS = [
    ("naive event time", "eventTime", "time zone offset"),
    ("schema field without name", "outputs[0].facets.schema.fields[1].name", "is required"),
    ("schema fields not a list", "outputs[0].facets.schema.fields", "must be an array"),
    ("column lineage input without field",
     "outputs[0].facets.columnLineage.fields.order_id.inputFields[0].field", "is required"),
    ("parent run id not a uuid", "run.facets.parent.run.runId", "must be a UUID"),
    ("custom facet without producer", "outputs[0].facets.acme_quality._producer",
     "is required"),
    ("schema field twice", "outputs[0].facets.schema.fields[8].name",
     "field 'order_id' appears twice in the schema facet (fields[0] and fields[8])"),
]


@pytest.mark.parametrize(("change", "key", "message", "strict"), [
    *[(*d, False) for d in CORE_DEFECTS], *[(*d, True) for d in CORE_DEFECTS + FACET_DEFECTS]])
def test_a_schema_violation_names_the_offending_field_and_writes_nothing(
        store: lineage.Store, change: str, key: str, message: str, strict: bool) -> None:
    ol.ingest(store, event("run_start"))
    before = snapshot(store)
    with pytest.raises(lineage.ValidationError) as err:
        ol.ingest(store, _broken(change), strict=strict)
    assert err.value.key == key
    assert message in err.value.reason
    assert err.value.exit_code == 2
    assert snapshot(store) == before


# ------------------------------------------------------------------ what real producers send

SPARK = "https://github.com/OpenLineage/OpenLineage/tree/1.20.0/integration/spark"
DBT = "https://github.com/OpenLineage/OpenLineage/tree/1.20.0/integration/dbt"


def producer_event() -> dict[str, Any]:
    """A COMPLETE event of a Spark job reading one table with a data quality test and
    writing another, built with the official client and serialised as its transports do."""
    from openlineage.client.event_v2 import (
        InputDataset,
        Job,
        OutputDataset,
        Run,
        RunEvent,
        RunState,
    )
    from openlineage.client.facet_v2 import (
        data_quality_assertions_dataset,
        error_message_run,
        processing_engine_run,
        schema_dataset,
        source_code_job,
    )
    from openlineage.client.serde import Serde

    orders = InputDataset(
        namespace="hive://metastore", name="sales.orders",
        facets={"schema": schema_dataset.SchemaDatasetFacet(fields=[
            schema_dataset.SchemaDatasetFacetFields(name="order_id", type="bigint")])},
        inputFacets={"dataQualityAssertions":
                     data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(
                         assertions=[data_quality_assertions_dataset.Assertion(
                             assertion="not_null", success=True, column="order_id")])})
    daily = OutputDataset(namespace="s3://lake", name="orders_daily")
    event = RunEvent(
        eventType=RunState.COMPLETE, eventTime="2024-07-01T03:00:00.000Z",
        run=Run(runId="01a204b8-b18f-7518-bd2c-0000000000c1", facets={
            "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
                version="3.5.1", name="spark"),
            "errorMessage": error_message_run.ErrorMessageRunFacet(
                message="retried once", programmingLanguage="JAVA")}),
        job=Job(namespace="spark", name="orders_daily", facets={
            "sourceCode": source_code_job.SourceCodeJobFacet(language="python",
                                                             sourceCode="df.write")}),
        inputs=[orders], outputs=[daily], producer=SPARK)
    return dict(json.loads(Serde.to_json(event)))


def _as_producers_send(defect: str) -> dict[str, Any]:
    e = producer_event()
    if defect == "dataQualityMetrics without columnMetrics":
        e["inputs"][0]["inputFacets"]["dataQualityMetrics"] = {
            "_producer": DBT, "_schemaURL": "https://openlineage.io/spec/facets/1-0-2/"
            "DataQualityMetricsInputDatasetFacet.json", "rowCount": 1200}
    elif defect == "sourceCode facet without sourceCode":
        del e["job"]["facets"]["sourceCode"]["sourceCode"]
    elif defect == "Spark processing_engine without version":
        del e["run"]["facets"]["processing_engine"]["version"]
    elif defect == "null stackTrace":
        e["run"]["facets"]["errorMessage"]["stackTrace"] = None
    elif defect == "null dbt test description":
        e["inputs"][0]["inputFacets"]["dataQualityAssertions"]["assertions"][0][
            "description"] = None
    return e


@pytest.mark.parametrize(("defect", "path", "reason"), [
    ("dataQualityMetrics without columnMetrics", "inputs[0].inputFacets.dataQualityMetrics",
     "columnMetrics: is required but missing"),
    ("sourceCode facet without sourceCode", "job.facets.sourceCode",
     "sourceCode: is required but missing"),
    ("Spark processing_engine without version", "run.facets.processing_engine",
     "version: is required but missing"),
])
def test_an_invalid_optional_facet_is_dropped_named_and_the_event_stored(
        store: lineage.Store, defect: str, path: str, reason: str) -> None:
    sent = _as_producers_send(defect)
    as_sent = copy.deepcopy(sent)
    result = ol.ingest(store, sent)
    assert sent == as_sent  # the caller's event is not changed
    facet = path.rsplit(".", 1)[1]
    assert result.dropped_facets == (
        {"event": 0, "path": path, "facet": facet, "reason": reason},)
    run = run_node(store, "01a204b8-b18f-7518-bd2c-0000000000c1").properties
    assert run["state"] == "COMPLETE" and facet not in run.get("facets", [])
    assert ("dataset:hive://metastore/sales.orders", "read", "job:spark/orders_daily") in \
        edges(store)
    assert ("job:spark/orders_daily", "wrote", "dataset:s3://lake/orders_daily") in edges(store)
    assert result.to_dict()["dropped_facets"] == list(result.dropped_facets)


def _unkeyable(defect: str) -> dict[str, Any]:
    """A COMPLETE event whose facet is valid to the spec but names something the store
    cannot key (see the parametrisation below)."""
    e = event("run_complete")
    out = e["outputs"][0]["facets"]
    lineage_of = out["columnLineage"]["fields"]
    if defect == "schema lists a column twice":
        out["schema"]["fields"].append({"name": "order_id", "type": "INT"})
    elif defect == "column lineage input with an empty namespace":
        lineage_of["order_id"]["inputFields"][0]["namespace"] = ""
    elif defect == "column lineage of an unnamed column":
        lineage_of[" "] = {"inputFields": []}
    elif defect == "parent job with an empty name":
        e["run"]["facets"]["parent"]["job"]["name"] = ""
    elif defect == "schema field name too long for a key":
        e["inputs"][0]["facets"]["schema"]["fields"][0]["name"] = "x" * 3000
    return e


@pytest.mark.parametrize(("defect", "path", "reason"), [
    ("schema lists a column twice", "outputs[0].facets.schema",
     "fields[8].name: field 'order_id' appears twice in the schema facet (fields[0] and "
     "fields[8])"),
    ("column lineage input with an empty namespace", "outputs[0].facets.columnLineage",
     "fields.order_id.inputFields[0]: namespace must be a non-empty string, got ''"),
    ("column lineage of an unnamed column", "outputs[0].facets.columnLineage",
     "fields. : field must be a non-empty string, got ' '"),
    ("parent job with an empty name", "run.facets.parent",
     "job: job name must be a non-empty string, got ''"),
    ("schema field name too long for a key", "inputs[0].facets.schema",
     "fields[0].name: node key 'field:postgres://db.prod:5432/public.orders_raw.xxx"),
])
def test_a_facet_naming_what_cannot_be_keyed_is_dropped_and_the_event_stored(
        store: lineage.Store, defect: str, path: str, reason: str) -> None:
    """Valid to the spec, so Marquez stores such an event; the whole event, its lineage
    included, was refused here (400) because the mapping could not key one name."""
    result = ol.ingest(store, _unkeyable(defect))
    [dropped] = result.dropped_facets
    assert (dropped["path"], dropped["facet"]) == (path, path.rsplit(".", 1)[1])
    assert dropped["reason"].startswith(reason)
    assert store.node(RUN).properties["state"] == "COMPLETE"
    assert (ORDERS, "read", JOB) in edges(store) and (JOB, "wrote", FACTS) in edges(store)
    with pytest.raises(lineage.ValidationError):  # strict mode still refuses the event
        ol.ingest(store, _unkeyable(defect), strict=True)


@pytest.mark.parametrize(("defect", "path"), [
    ("null stackTrace", "run.facets.errorMessage.stackTrace"),
    ("null dbt test description",
     "inputs[0].inputFacets.dataQualityAssertions.assertions[0].description"),
])
def test_a_null_optional_facet_property_is_read_as_absent_with_a_warning(
        store: lineage.Store, defect: str, path: str) -> None:
    result = ol.ingest(store, _as_producers_send(defect))
    assert result.dropped_facets == ()
    assert result.warnings == ({"event": 0, "path": path, "message": "null read as absent"},)
    run = run_node(store, "01a204b8-b18f-7518-bd2c-0000000000c1").properties
    assert run["error_message"] == "retried once"


@pytest.mark.parametrize("defect", ["dataQualityMetrics without columnMetrics",
                                    "sourceCode facet without sourceCode",
                                    "Spark processing_engine without version",
                                    "null stackTrace", "null dbt test description"])
def test_strict_mode_rejects_the_whole_event_for_an_invalid_facet(
        store: lineage.Store, defect: str) -> None:
    before = snapshot(store)
    with pytest.raises(lineage.ValidationError) as err:
        ol.ingest(store, _as_producers_send(defect), strict=True)
    assert err.value.key and ("Facets." in err.value.key or "facets." in err.value.key)
    assert snapshot(store) == before


def test_a_naive_event_time_is_read_as_utc_with_a_warning(store: lineage.Store) -> None:
    e = producer_event()
    e["eventTime"] = "2024-07-01T03:00:00.250"  # as the client's serde examples print it
    result = ol.ingest(store, e)
    assert result.warnings == ({"event": 0, "path": "eventTime", "message":
                                "no time zone offset in '2024-07-01T03:00:00.250': read as "
                                "UTC"},)
    run = run_node(store, "01a204b8-b18f-7518-bd2c-0000000000c1").properties
    assert run["states"] == {"COMPLETE": "2024-07-01T03:00:00.250Z"}


def test_nominal_dates_without_time_are_read_as_utc_midnight(store: lineage.Store) -> None:
    # the Python client's own serde example sends naive times and bare nominal dates
    e = event("run_start")
    e["eventTime"] = "2021-11-03T10:53:52.427343"
    e["run"]["facets"]["nominalTime"].update(nominalStartTime="2020-01-01",
                                             nominalEndTime="2020-01-02")
    result = ol.ingest(store, e)
    assert result.dropped_facets == ()
    assert [w["path"] for w in result.warnings] == [
        "eventTime", "run.facets.nominalTime.nominalStartTime",
        "run.facets.nominalTime.nominalEndTime"]
    run = store.node(RUN).properties
    assert (run["nominal_start_time"], run["nominal_end_time"]) == ("2020-01-01T00:00:00Z",
                                                                    "2020-01-02T00:00:00Z")
    assert run["states"] == {"START": "2021-11-03T10:53:52.427343Z"}


def test_a_missing_schema_url_is_accepted_with_a_warning(store: lineage.Store) -> None:
    e = producer_event()
    del e["schemaURL"]
    del e["run"]["facets"]["processing_engine"]["_schemaURL"]
    result = ol.ingest(store, e)
    assert result.dropped_facets == ()
    assert [w["path"] for w in result.warnings] == ["schemaURL",
                                                    "run.facets.processing_engine"]
    assert run_node(store, "01a204b8-b18f-7518-bd2c-0000000000c1").properties["state"] == \
        "COMPLETE"


def test_a_valid_event_is_read_as_sent_without_a_copy() -> None:
    e = producer_event()
    checked = ol.check_event(e)
    assert checked.event is e and checked.dropped == () and checked.warnings == ()


def test_per_event_ingest_stores_the_good_events_and_lists_the_bad(
        store: lineage.Store) -> None:
    bad = _broken("run id not a uuid")
    result = ol.ingest(store, [event("run_start"), bad, "{not json", event("job_event")],
                       per_event=True)
    assert result.events == 2
    assert [(r["index"], r["key"]) for r in result.rejected] == [(1, "run.runId"), (2, None)]
    assert "malformed JSON" in result.rejected[1]["message"]
    assert store.node(RUN).properties["state"] == "START"
    assert store.node(EXPORT_JOB).kind is lineage.NodeKind.JOB


def test_a_bad_event_among_good_ones_rejects_the_whole_batch(store: lineage.Store) -> None:
    before = snapshot(store)
    good = [event("run_start"), event("run_complete"), event("dataset_event")]
    with pytest.raises(lineage.ValidationError) as err:
        ol.ingest(store, [*good, _broken("run id not a uuid"), event("job_event")])
    assert err.value.key == "run.runId"
    assert "(event 4 of 5)" in str(err.value)
    assert snapshot(store) == before


def test_malformed_json_is_rejected_with_where(store: lineage.Store) -> None:
    before = snapshot(store)
    with pytest.raises(lineage.ValidationError, match="malformed JSON: Expecting ',' delimiter"):
        ol.ingest(store, '{"eventType": "START" "run": {}}')
    with pytest.raises(lineage.ValidationError, match=r"malformed JSON.*\(event 2 of 2\)"):
        ol.ingest(store, [json.dumps(event("run_start")), "{not json"])
    with pytest.raises(lineage.ValidationError, match="is a JSON object, got array"):
        ol.ingest(store, [[event("run_start")]])  # type: ignore[list-item]
    with pytest.raises(lineage.ValidationError, match="no OpenLineage events"):
        ol.ingest(store, [])
    assert snapshot(store) == before


def test_an_ndjson_file_with_a_bad_line_reports_its_line_and_writes_nothing(
        store: lineage.Store, tmp_path: Path) -> None:
    lines = [json.dumps(event(n)) for n in ("run_start", "run_complete")]
    malformed = tmp_path / "malformed.ndjson"
    malformed.write_text("\n".join([lines[0], "", '{"eventType": ', lines[1]]) + "\n")
    invalid = tmp_path / "invalid.ndjson"
    invalid.write_text("\n".join([lines[0], lines[1], json.dumps(_broken("run id missing"))]))
    before = snapshot(store)
    with pytest.raises(lineage.ValidationError) as err:
        ol.ingest_file(store, malformed)
    assert (err.value.file, err.value.line) == (str(malformed), 3)
    assert str(err.value).startswith(f"{malformed}:3: malformed JSON")
    with pytest.raises(lineage.ValidationError) as err:
        ol.ingest_file(store, invalid)
    assert (err.value.file, err.value.line, err.value.key) == (str(invalid), 3, "run.runId")
    assert snapshot(store) == before


def test_json_files_hold_one_event_or_a_list_and_errors_carry_the_line(
        store: lineage.Store, tmp_path: Path) -> None:
    assert ol.ingest_file(store, DATA / "run_complete.json").events == 1
    listed = tmp_path / "events.json"
    listed.write_text(json.dumps([event("run_start"), event("dataset_event"),
                                  _broken("unknown event type")], indent=2))
    with pytest.raises(lineage.ValidationError) as err:
        ol.ingest_file(store, listed)
    starts = [n for n, line in enumerate(listed.read_text().splitlines(), start=1)
              if line == "  {"]  # each event of the list opens on a line of its own
    assert (err.value.line, err.value.key) == (starts[2], "eventType")
    with pytest.raises(lineage.ValidationError, match="no such file"):
        ol.ingest_file(store, tmp_path / "missing.json")
    several = ol.ingest_files(store, [DATA / "run_start.json", DATA / "job_event.json"])
    assert several.events == 2


# ------------------------------------------------------------------ field types


@pytest.mark.parametrize(("spelling", "nested", "expected"), [
    ("VARCHAR", None, "string"),
    ("BIGINT", None, "int64"),
    ("integer", None, "int64"),
    ("string", None, "string"),
    ("varchar(255)", None, "varchar(255)"),
    ("character varying", None, "string"),
    ("int4", None, "int32"),
    ("float8", None, "float64"),
    ("timestamp with time zone", None, "timestamp_tz"),
    ("TIMESTAMP_LTZ(9)", None, "timestamp_tz(9)"),
    ("TIMESTAMP_NTZ(9)", None, "timestamp(9)"),
    ("timestamp(6)", None, "timestamp(6)"),
    ("NUMBER(38,0)", None, "decimal(38,0)"),
    ("bignumeric", None, "decimal(38,0)"),
    ("int unsigned", None, "uint64"),
    ("interval day to second", None, "duration"),
    ("array<geography>", None, "array<json>"),
    ("GEOGRAPHY", None, "json"),
    ("VARIANT", None, "json"),
    (None, None, "json"),
    ("struct", [{"name": "a", "type": "int"}, {"name": "b", "type": "text"}],
     "struct<a:int64,b:string>"),
    ("array", [{"name": "_element", "type": "string"}], "array<string>"),
    ("map", [{"name": "key", "type": "string"}, {"name": "value", "type": "long"}],
     "map<string,int64>"),
    ("struct", [{"name": "odd name", "type": "int"}], "struct"),
])
def test_schema_facet_types_map_to_the_nearest_canonical_type(
        spelling: str | None, nested: list[dict[str, Any]] | None, expected: str) -> None:
    assert field_type(spelling, nested) == expected


# ------------------------------------------------------------------ the CLI


def _cli() -> Any:
    """The `lineage` group with `ingest` registered (main.py registers it; until it does,
    the tests add it themselves)."""
    from lineage_cli.ingest import ingest
    from lineage_cli.main import cli

    if "ingest" not in cli.commands:
        cli.add_command(ingest)
    return cli


def test_cli_ingest_prints_what_it_wrote_and_is_idempotent(store_url: str) -> None:
    runner = CliRunner()
    files = [str(DATA / f"{n}.json") for n in ("run_start", "run_complete", "job_event")]
    result = runner.invoke(_cli(), ["--store", store_url, "ingest", *files])
    assert result.exit_code == 0, result.output
    assert "read 3 events (2 run events, 1 job event)" in result.output
    assert "derivations" in result.output
    again = runner.invoke(_cli(), ["--store", store_url, "ingest", *files, "--format", "json"])
    assert again.exit_code == 0, again.output
    data = json.loads(again.output)
    assert data["events"] == 3 and data["applied"]["changed"] is False


def test_cli_ingest_reports_bad_input_with_exit_code_2(store_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.ndjson"
    bad.write_text(json.dumps(event("run_start")) + "\n" + json.dumps(_broken("run id missing")))
    result = CliRunner().invoke(_cli(), ["--store", store_url, "ingest", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:2 (run.runId): is required but missing" in result.output
    assert "Traceback" not in result.output


def test_cli_ingest_names_dropped_facets_and_strict_rejects_them(store_url: str,
                                                                 tmp_path: Path) -> None:
    events = tmp_path / "spark.ndjson"
    events.write_text(json.dumps(event("run_start")) + "\n" + json.dumps(
        _as_producers_send("Spark processing_engine without version")) + "\n")
    strict = CliRunner().invoke(_cli(), ["--store", store_url, "ingest", "--strict",
                                         str(events)])
    assert strict.exit_code == 2
    assert f"{events}:2 (run.facets.processing_engine.version)" in strict.output
    result = CliRunner().invoke(_cli(), ["--store", store_url, "ingest", str(events)])
    assert result.exit_code == 0, result.output
    assert (f"warning: {events}:2: run.facets.processing_engine: facet dropped: version: is "
            "required but missing") in result.output
    with lineage.connect(store_url) as store:
        entry = store.audit_log(1)[0]
        assert entry.detail["dropped_facets"][0]["path"] == "run.facets.processing_engine"


def test_cli_ingest_warns_of_a_run_id_another_job_has_and_show_calls_it_ambiguous(
        store_url: str, tmp_path: Path) -> None:
    first = totals_event(1, status_type="INTEGER", sql="SELECT 1", subtype="IDENTITY")
    other = copy.deepcopy(first)
    other["job"]["name"] = "weekly_totals"
    rid = first["run"]["runId"]
    for name, e in (("daily.json", first), ("weekly.json", other)):
        (tmp_path / name).write_text(json.dumps(e))
    runner = CliRunner()
    assert runner.invoke(_cli(), ["--store", store_url, "ingest",
                                  str(tmp_path / "daily.json")]).exit_code == 0
    result = runner.invoke(_cli(), ["--store", store_url, "ingest",
                                    str(tmp_path / "weekly.json")])
    assert result.exit_code == 0, result.output
    said = (f"runId {rid} is also a run of job 'spark/daily_totals'; stored as a separate "
            "run of 'spark/weekly_totals'")
    assert f"warning: {tmp_path / 'weekly.json'}:1: run.runId: {said}" in result.output
    with lineage.connect(store_url) as store:
        entry = store.audit_log(1)[0]
        assert [w["path"] for w in entry.detail["warnings"]] == ["run.runId"]
        assert said in entry.detail["warnings"][0]["message"]
    shown = runner.invoke(_cli(), ["--store", store_url, "show", f"run:{rid}"])
    assert shown.exit_code == 4  # README, "Exit codes": name not found or ambiguous
    assert keys.run_key(rid, TOTALS_JOB) in shown.output
    assert keys.run_key(rid, "job:spark/weekly_totals") in shown.output
    one = runner.invoke(_cli(), ["--store", store_url, "show", f"weekly_totals/{rid}"])
    assert one.exit_code == 0, one.output


def test_cli_ingest_help_has_examples() -> None:
    result = CliRunner().invoke(_cli(), ["ingest", "--help"])
    assert result.exit_code == 0 and "Examples:" in result.output


def test_cli_ingest_in_a_real_process(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    script = ("from lineage_cli.main import cli\n"
              "from lineage_cli.ingest import ingest\n"
              "'ingest' in cli.commands or cli.add_command(ingest)\n"
              "cli()\n")
    done = subprocess.run([sys.executable, "-c", script, "--store", url, "ingest",
                           str(DATA / "run_complete.json"), "--format", "json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["derivations"] == 8


def test_the_events_are_not_changed_by_ingest(store: lineage.Store) -> None:
    e = event("run_complete")
    kept = copy.deepcopy(e)
    ol.ingest(store, e)
    assert e == kept
