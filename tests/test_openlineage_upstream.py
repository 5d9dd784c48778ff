"""Events the OpenLineage project ships itself (tests/data/openlineage/upstream/, Apache-2.0,
see its README): what Marquez stores is stored, an invalid facet is dropped and named, the
one event Marquez refuses too (no runId) is refused, and the store ends the same whatever the
order and however often the events are replayed. The expectations are read off the files.
The dbt files reuse runIds across files for runs of different jobs: each is a run of its own.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

import lineage
from lineage import _keys as keys
from lineage import openlineage as ol

from .conftest import LINEAGE, serve_in_subprocess, snapshot

UPSTREAM = Path(__file__).parent / "data" / "openlineage" / "upstream"
#: Marquez's own test events (Apache-2.0, see its README), named `marquez/<file>` below
MARQUEZ = UPSTREAM.parent / "marquez"

#: file -> the JSON paths of the facets the spec rejects in it (read off each file)
STORED: dict[str, list[str]] = {
    "client_serde_example_dataset_event.json": [],
    # a naive eventTime ("2021-11-03T10:53:52.427343") and date-only nominal times
    "client_serde_example_run_event.json": [],
    # processing_engine without `version` (the expected event leaves it to the matcher)
    "flink_expected_kafka.json": ["run.facets.processing_engine"],
    # dataQualityMetrics without `columnMetrics`
    "fluentd_event_full.json": ["inputs[0].inputFacets.dataQualityMetrics"],
    # outputStatistics.rowCount "wrong"
    "fluentd_event_invalid_output_dataset_facet.json": [
        "outputs[0].outputFacets.outputStatistics"],
    # a parent facet whose run has no runId
    "fluentd_event_invalid_run_facet.json": ["run.facets.parent"],
    "hive_cllSelectStarComplete.json": [],
    # a Spark output named by its path with its Hive table name as a symlink
    "spark_pysparkSymlinksComplete.json": [],
    # arrays of events; the three files reuse five runIds for runs of other jobs
    "dbt_test_result.json": [],
    "dbt_no_test_metadata_result.json": [],
    "dbt_singular_test_result.json": [],
    # dbt-ol's structured-logs mode running `dbt test` (tests with audit-table outputs)
    "dbt_structured_logs_postgres_test.json": [],
    # the Airflow integration's PostgresOperator DAG (legacy column lineage)
    "airflow_postgres.json": [],
    **{f"marquez/{p.name}": [] for p in sorted(MARQUEZ.glob("*.json"))},
}
REJECTED = "fluentd_event_no_run_id.json"


def _event(name: str) -> Any:
    """A file's event, or its list of events."""
    return json.loads((UPSTREAM.parent / name if name.startswith("marquez/")
                       else UPSTREAM / name).read_text())


def _events(name: str) -> list[dict[str, Any]]:
    found = _event(name)
    return list(found) if isinstance(found, list) else [found]


def test_every_upstream_file_is_expected_here() -> None:
    assert {p.name for p in UPSTREAM.glob("*.json")} | {
        f"marquez/{p.name}" for p in MARQUEZ.glob("*.json")} == {*STORED, REJECTED}
    assert len([n for n in STORED if n.startswith("marquez/")]) == 8


@pytest.mark.parametrize("name", sorted(STORED))
def test_upstream_events_are_stored_and_their_invalid_facets_named(
        store: lineage.Store, name: str) -> None:
    events = _events(name)
    result = ol.ingest(store, events)
    assert [d["path"] for d in result.dropped_facets] == STORED[name]
    for event in events:
        if "run" in event:
            job = event["job"]
            jkey = keys.job_key(job["namespace"], job["name"])
            run = store.node(keys.run_key(event["run"]["runId"].lower(), jkey))
            states = {e.get("eventType", "OTHER") for e in events
                      if e.get("run", {}).get("runId") == event["run"]["runId"]
                      and e["job"]["name"] == job["name"]}
            assert run.properties["state"] in states
            assert store.node(jkey).kind is lineage.NodeKind.JOB
        for dataset in [*event.get("inputs", []), *event.get("outputs", []),
                        *([event["dataset"]] if "dataset" in event else [])]:
            key = f"dataset:{dataset['namespace']}/{dataset['name']}"
            if "_dbt_test__audit." in key:  # a dbt test's audit table: a quality check
                assert not store.exists([key])
                continue
            assert store.node(key).kind is lineage.NodeKind.DATASET


def test_the_hive_select_star_event_keeps_its_column_lineage(store: lineage.Store) -> None:
    ol.ingest(store, _event("hive_cllSelectStarComplete.json"))
    # CREATE TABLE xxx AS SELECT * FROM t1: a -> a, b -> b (its columnLineage facet)
    src, dst = "field:hive://localhost:9083/test.t1", "field:hive://localhost:9083/test.xxx"
    edges = store.edges_among(store.nodes([f"{src}.a", f"{src}.b", f"{dst}.a", f"{dst}.b"]))
    assert sorted((e.src, e.dst) for e in edges if e.kind is lineage.EdgeKind.DERIVED_FROM) == [
        (f"{src}.a", f"{dst}.a"), (f"{src}.b", f"{dst}.b")]


def test_the_upstream_event_without_a_run_id_is_refused_and_nothing_written(
        store: lineage.Store) -> None:
    before = snapshot(store)
    with pytest.raises(lineage.ValidationError) as caught:
        ol.ingest(store, _event(REJECTED))
    assert caught.value.key == "run.runId"
    assert snapshot(store) == before


def test_upstream_events_end_in_one_store_whatever_the_order_and_replays(
        store: lineage.Store, tmp_path: Path) -> None:
    names = sorted(STORED)
    for name in names:
        ol.ingest(store, _event(name))
    expected = snapshot(store)
    for name in reversed(names):  # a replay, backwards
        ol.ingest(store, _event(name))
    assert snapshot(store) == expected

    shuffled = lineage.connect(f"sqlite:///{tmp_path / 'shuffled.db'}")
    order = names * 2
    random.Random(14).shuffle(order)
    for name in order:
        ol.ingest(shuffled, _event(name))
    assert snapshot(shuffled) == expected


def test_every_upstream_event_is_stored_one_by_one_in_any_order_and_none_is_lost(
        store: lineage.Store, tmp_path: Path) -> None:
    """Each event alone, as a producer sends them, in two different orders: 0 refused (the
    dbt files' reused runIds included) and the same store; every run of every event is
    there, a runId two jobs report being two runs."""
    events = [e for name in sorted(STORED) for e in _events(name)]
    runs = {keys.run_key(e["run"]["runId"].lower(),
                         keys.job_key(e["job"]["namespace"], e["job"]["name"]))
            for e in events if "run" in e}
    shared = {k.rpartition("/")[2] for k in runs}
    assert len(shared) < len(runs)  # the files do reuse runIds across jobs
    stores = [store, lineage.connect(f"sqlite:///{tmp_path / 'other.db'}")]
    for target, seed in zip(stores, (None, 14), strict=True):
        order = list(events)
        if seed is None:
            order.reverse()
        else:
            random.Random(seed).shuffle(order)
        refused = []
        for event in order:
            try:
                ol.ingest(target, event)
            except lineage.LineageError as exc:  # noqa: PERF203 - each event on its own
                refused.append(exc)
        assert refused == []
        assert runs <= target.exists(runs)
    assert snapshot(stores[0]) == snapshot(stores[1])


def test_the_official_client_delivers_upstream_events_to_a_real_server(
        sqlite_url: str) -> None:
    import httpx
    from openlineage.client.transport.http import HttpConfig, HttpTransport

    with serve_in_subprocess(LINEAGE, sqlite_url, "--no-auth") as base:
        transport = HttpTransport(HttpConfig(url=base, retry={"total": 0}))
        shared = []
        for name, dropped in sorted(STORED.items()):
            paths = []
            for event in _events(name):  # one event per request, as the client sends them
                answer = transport.emit(event).json()  # raises on anything but 2xx
                paths += [d["path"] for d in answer.get("dropped_facets", [])]
                shared += [w["message"] for w in answer["warnings"]
                           if "is also a run of job" in w["message"]]
            assert paths == dropped
        # the dbt files in this order: no_test_metadata (5 runs), singular_test (1 of its
        # 2 runs reuses one of those ids), test (its 5 runs reuse the ids): each said once
        assert len(shared) == 6
        refused = httpx.post(f"{base}/api/v1/lineage", json=_event(REJECTED))
        assert refused.status_code == 400 and refused.json()["key"] == "run.runId"
        health = httpx.get(f"{base}/api/v1/health").json()["ingest"]
        assert health["events_with_dropped_facets"] == sum(1 for d in STORED.values() if d)
    with lineage.connect(sqlite_url) as store:  # and each request's audit entry says so
        audited = [w["message"] for e in store.audit_log(1000) if e.action == "ingest"
                   for w in e.detail.get("warnings", []) if "is also a run of job" in w["message"]]
    assert sorted(audited) == sorted(shared)


def test_dbt_tests_in_structured_logs_mode_are_quality_checks_and_write_no_dataset(
        store: lineage.Store) -> None:
    """dbt-ol's structured-logs mode reports each test as a job writing
    `postgres.public_dbt_test__audit.<test>`; read off the file: four tests, three passed
    and accepted_values on customers.first_name failed (a FAIL event carrying the result)."""
    ol.ingest(store, _event("dbt_structured_logs_postgres_test.json"))
    pg = "postgres://postgres:5432"
    customers, orders = f"{pg}/postgres.public.customers", f"{pg}/postgres.public.orders"
    found = {}
    for key in (f"field:{customers}.customer_id", f"field:{customers}.first_name",
                f"field:{orders}.customer_id"):
        for check in store.node(key).properties["quality_checks"].values():
            found[(key.rsplit(".", 1)[1], key.split("/")[-1].split(".")[2],
                   check["assertion"])] = check["success"]
    assert found == {("customer_id", "customers", "not_null"): True,
                     ("customer_id", "customers", "unique"): True,
                     ("first_name", "customers", "accepted_values"): False,
                     ("customer_id", "orders", "relationships"): True}
    refs = store.find("", limit=10_000)
    assert not [r.key for r in refs if "dbt_test__audit" in r.key]
    tests = [r.key for r in refs if r.key.startswith("job:dbt-test-namespace/test.")]
    assert tests and not [e for e in store.edges_among([r.key for r in refs])
                          if e.src in tests and e.kind is lineage.EdgeKind.WROTE]


def test_airflow_column_lineage_with_legacy_transformations_is_stored(
        store: lineage.Store) -> None:
    """The Airflow integration's SQL parser named the source table without its database
    (`public.top_delivery_times`, read as `food_delivery.public.top_delivery_times`): the
    column lineage is kept as sent, and its source is an input at table level too."""
    ol.ingest(store, _event("airflow_postgres.json"))
    pg = "postgres://postgres:5432"
    src, dst = f"field:{pg}/public.top_delivery_times", \
        f"field:{pg}/food_delivery.public.popular_orders_day_of_week"
    edges = {(e.src, e.dst): e.properties for e in store.edges_among(
        [f"{src}.order_placed_on", f"{dst}.order_day_of_week", f"{dst}.order_placed_on"])}
    assert set(edges) == {(f"{src}.order_placed_on", f"{dst}.order_day_of_week"),
                          (f"{src}.order_placed_on", f"{dst}.order_placed_on")}
    job = "job:food_delivery/postgres_orders_popular_day_of_week.postgres_insert"
    assert store.node(job).properties["sql"].lstrip().startswith("INSERT INTO")
    assert {(e.src, e.kind.value) for e in store.edges_among(
        [job, f"dataset:{pg}/public.top_delivery_times",
         f"dataset:{pg}/food_delivery.public.top_delivery_times"])} == {
        (f"dataset:{pg}/public.top_delivery_times", "read"),
        (f"dataset:{pg}/food_delivery.public.top_delivery_times", "read")}


def test_marquez_apples_give_the_lineage_marquez_shows(store: lineage.Store) -> None:
    """Read off Marquez's apples events: both orchards feed the pie (through the gathered
    apples and the filling) and the vinegar (through the cider); the cinnamon feeds the pie
    only; the second pie's run read the second filling."""
    for name in sorted(n for n in STORED if n.startswith("marquez/")):
        ol.ingest(store, _event(name))
    kitchen = "dataset:grandmas.kitchen"
    for orchard in ("dataset:laurents-orchard/red.delicious", "dataset:backyard/crab.apples"):
        reached = lineage.impact(store, orchard).closure.keys()
        assert {f"{kitchen}/apples", f"{kitchen}/apple.filling", f"{kitchen}/apple.pie",
                f"{kitchen}/apple.cider", "dataset:cupboard/apple.vinegar"} <= set(reached)
    cinnamon = set(lineage.impact(store, f"{kitchen}/cinnamon").closure.keys())
    assert f"{kitchen}/apple.pie" in cinnamon and "dataset:cupboard/apple.vinegar" not in cinnamon
    runs = {r.key: r for r in store.find("prepare_apple_pie/", [lineage.NodeKind.RUN], 10)}
    assert len(runs) == 2


#: the spec's own LineageFacet examples (spec/tests/LineageFacet, facets only), each sent
#: as a DatasetEvent (the dataset form) or a JobEvent of job `spec/<file>` (the job form)
SPEC_LINEAGE = UPSTREAM / "spec_tests" / "LineageFacet"
WH, PROD, AF = "postgresql://warehouse:5432", "postgresql://production:5432", \
    "airflow://production"


def _spec_lineage_event(name: str) -> dict[str, Any]:
    facet = json.loads((SPEC_LINEAGE / f"{name}.json").read_text())
    common = {"eventTime": "2025-01-01T00:00:00Z", "producer": "https://example.com",
              "schemaURL": ol.CORE_ID}
    if "entries" in facet["lineage"]:
        return {**common, "job": {"namespace": "spec", "name": name, "facets": facet}}
    return {**common, "dataset": {"namespace": WH, "name": "public.customer_view",
                                  "facets": facet}}


def test_the_spec_lineage_facet_examples_give_the_lineage_they_describe(
        store: lineage.Store) -> None:
    """Read off the spec's seven examples: dataset-to-dataset (a view of customers, its
    customer_id an identity of id), dataset-to-job (daily.load reads staging_orders),
    generator (the event's own job wrote extracted_data), implicit-job (the event's own job
    reads transactions), job-to-dataset (daily.extract and its run wrote daily_summary),
    job-to-job (not stored, and said so), mixed-sources (orders feeds enriched_orders, its
    customer_id feeds customer_segment, daily.enrichment wrote it)."""
    names = sorted(p.stem for p in SPEC_LINEAGE.glob("*.json"))
    assert len(names) == 7
    warned = []
    for name in names:
        result = ol.ingest(store, _spec_lineage_event(name))
        assert result.dropped_facets == ()
        warned += [w["message"] for w in result.warnings if "job-to-job" in w["message"]]
    assert len(warned) == 1
    refs = [r.key for r in store.find("", limit=1000)]
    found = {(e.src, e.kind.value, e.dst): e.properties for e in store.edges_among(refs)
             if e.kind is not lineage.EdgeKind.HAS_FIELD}
    view = f"{WH}/public.customer_view"
    enriched = f"{WH}/public.enriched_orders"
    extract_run = "run:airflow://production/daily.extract/b7dce052-51a6-4d66-98b9-5fd8b78a79c7"
    assert set(found) == {
        (f"dataset:{WH}/public.customers", "derived_from", f"dataset:{view}"),
        (f"field:{WH}/public.customers.id", "derived_from", f"field:{view}.customer_id"),
        (f"dataset:{WH}/public.staging_orders", "read", f"job:{AF}/daily.load"),
        ("job:spec/generator", "wrote", f"dataset:{WH}/public.extracted_data"),
        (f"dataset:{PROD}/public.transactions", "read", "job:spec/implicit-job"),
        (f"job:{AF}/daily.extract", "wrote", f"dataset:{WH}/public.daily_summary"),
        (f"job:{AF}/daily.extract", "run_of", extract_run),
        (extract_run, "wrote", f"dataset:{WH}/public.daily_summary"),
        (f"dataset:{WH}/public.orders", "derived_from", f"dataset:{enriched}"),
        (f"field:{WH}/public.orders.customer_id", "derived_from",
         f"field:{enriched}.customer_segment"),
        (f"job:{AF}/daily.enrichment", "wrote", f"dataset:{enriched}"),
        # job-to-job: its target's run is known, the job-to-job link itself is not stored
        (f"job:{AF}/daily.load", "run_of",
         "run:airflow://production/daily.load/605f451b-c768-4c77-9ff4-8501f6324513"),
    }
    identity = found[(f"field:{WH}/public.customers.id", "derived_from",
                      f"field:{view}.customer_id")]
    assert (identity["transformation"], identity["declared"]) == ("identity", "lineage_facet")
    assert found[(f"dataset:{WH}/public.customers", "derived_from", f"dataset:{view}")][
        "scope"] == "dataset"
