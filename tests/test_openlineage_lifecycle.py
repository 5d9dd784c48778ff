"""OpenLineage's LifecycleStateChangeDatasetFacet: a DROP retires the dataset (with its fields
and versions) as `lineage delete` does, a RENAME links the previous name to the new one, and
both follow event time, not arrival order; on every backend and through the real server.

The events are written out here: a Spark-like job copies raw.orders into stage.orders column
by column, a second job sums stage.orders.amount into mart.totals.total; then stage.orders
is dropped, re-created or renamed.
"""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path
from typing import Any

import pytest

import lineage
from lineage import openlineage as ol
from lineage.impact import impact
from lineage.lifecycle import delete

from .conftest import LINEAGE, serve_in_subprocess, snapshot

WH = "postgres://wh:5432"
RAW, STAGE, MART = (f"dataset:{WH}/{n}" for n in ("raw.orders", "stage.orders", "mart.totals"))
ORDERS = f"dataset:{WH}/stage.orders_v2"  # stage.orders' new name
PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.20.0/integration/spark"


def f(dataset: str, name: str) -> str:
    return "field:" + dataset.removeprefix("dataset:") + "." + name


def at(hour: int) -> str:
    return f"2024-06-01T{hour:02d}:00:00Z"


def facet(**body: Any) -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/"
            "LifecycleStateChangeDatasetFacet.json#/$defs/LifecycleStateChangeDatasetFacet",
            **body}


def schema(*names: str) -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": "https://openlineage.io/spec/facets/1-1-1/"
            "SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
            "fields": [{"name": n, "type": "DECIMAL(12,2)"} for n in names]}


def copied(source: str, *names: str) -> dict[str, Any]:
    """Column lineage: each of `names` copied from the field of that name of `source`."""
    return {"_producer": PRODUCER, "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/"
            "ColumnLineageDatasetFacet.json#/$defs/ColumnLineageDatasetFacet",
            "fields": {n: {"inputFields": [{"namespace": WH, "name": source, "field": n}]}
                       for n in names}}


def run_event(job: str, hour: int, outputs: list[dict[str, Any]],
              inputs: tuple[str, ...] = (), state: str = "COMPLETE") -> dict[str, Any]:
    """A run of `job` at `hour`, its runId derived from both (a replay is the same event)."""
    return {"eventType": state, "eventTime": at(hour), "producer": PRODUCER,
            "schemaURL": ol.CORE_ID,
            "run": {"runId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{job}/{hour}"))},
            "job": {"namespace": "spark", "name": job},
            "inputs": [{"namespace": WH, "name": n} for n in inputs], "outputs": outputs}


def build(hour: int, change: str | None = None) -> dict[str, Any]:
    """The job that (re)builds stage.orders from raw.orders (with a version facet-less
    output: its version is named after the run), saying `change` when given."""
    facets: dict[str, Any] = {"schema": schema("id", "amount"),
                              "columnLineage": copied("raw.orders", "id", "amount")}
    if change:
        facets["lifecycleStateChange"] = facet(lifecycleStateChange=change)
    return run_event("build_stage", hour, [{"namespace": WH, "name": "stage.orders",
                                            "facets": facets}], ("raw.orders",))


def totals(hour: int) -> dict[str, Any]:
    out = {"namespace": WH, "name": "mart.totals", "facets": {
        "schema": schema("total"),
        "columnLineage": {**copied("stage.orders", "amount"),
                          "fields": {"total": {"inputFields": [
                              {"namespace": WH, "name": "stage.orders", "field": "amount"}]}}}}}
    return run_event("totals", hour, [out], ("stage.orders",))


def drop(hour: int, state: str = "COMPLETE") -> dict[str, Any]:
    """A job that drops stage.orders (as Spark reports DROP TABLE: an output with the facet)."""
    return run_event("drop_stage", hour, [{"namespace": WH, "name": "stage.orders", "facets": {
        "lifecycleStateChange": facet(lifecycleStateChange="DROP")}}], state=state)


def rename(hour: int, *, previous: bool = True) -> dict[str, Any]:
    """ALTER TABLE stage.orders RENAME TO stage.orders_v2, its schema listed."""
    change = facet(lifecycleStateChange="RENAME")
    if previous:
        change["previousIdentifier"] = {"namespace": WH, "name": "stage.orders"}
    return run_event("rename_stage", hour, [{"namespace": WH, "name": "stage.orders_v2",
                                             "facets": {"schema": schema("id", "amount"),
                                                        "lifecycleStateChange": change}}])


def dataset_event(hour: int, change: str) -> dict[str, Any]:
    return {"eventTime": at(hour), "producer": PRODUCER, "schemaURL": ol.CORE_ID,
            "dataset": {"namespace": WH, "name": "stage.orders", "facets": {
                "lifecycleStateChange": facet(lifecycleStateChange=change)}}}


def state(store: lineage.Store, key: str) -> str | None:
    return store.node(key).properties.get("lifecycle")


def stage_owned(store: lineage.Store) -> list[str]:
    """stage.orders' fields and versions."""
    return [r.key for _, _, r in store.adjacent([STAGE], "downstream",
                                                 [lineage.EdgeKind.HAS_FIELD])] + \
        [r.key for _, _, r in store.adjacent([STAGE], "upstream", [lineage.EdgeKind.VERSION_OF])]


# ------------------------------------------------------------------ DROP


def test_a_dropped_output_is_deleted_with_its_fields_and_versions_and_impact_leaves_it_out(
        store: lineage.Store) -> None:
    ol.ingest(store, [build(1), totals(2)])
    assert f(MART, "total") in impact(store, f(RAW, "amount")).closure.keys()
    result = ol.ingest(store, drop(3))
    assert result.applied.changed
    props = store.node(STAGE).properties
    assert props["lifecycle"] == "deleted" and props["lifecycle_by"] == "openlineage"
    assert props["lifecycle_at"] == "2024-06-01T03:00:00+00:00"
    assert "DROP" in props["lifecycle_reason"]
    owned = stage_owned(store)
    assert {f(STAGE, "id"), f(STAGE, "amount")} <= set(owned)
    assert any(k.startswith("dataset_version:") for k in owned)
    assert {k: state(store, k) for k in owned} == dict.fromkeys(owned, "deleted")
    # as after `lineage delete`: the walk is cut at the dropped table, and says so
    report = impact(store, f(RAW, "amount"))
    assert f(MART, "total") not in report.closure.keys() and report.deleted >= 1
    assert report.to_dict()["deleted_left_out"] >= 1
    assert state(store, RAW) is None and state(store, MART) is None
    assert not ol.ingest(store, drop(3)).applied.changed  # a replay changes nothing


@pytest.mark.parametrize("run_state", ["START", "FAIL", "ABORT"])
def test_a_drop_by_a_run_that_did_not_complete_drops_nothing(store: lineage.Store,
                                                             run_state: str) -> None:
    ol.ingest(store, [build(1), drop(3, state=run_state)])
    assert state(store, STAGE) is None
    assert "lifecycle_change" not in store.node(STAGE).properties


def test_a_dataset_event_drops_too_and_a_job_event_does_not(store: lineage.Store) -> None:
    job_event = {"eventTime": at(4), "producer": PRODUCER, "schemaURL": ol.CORE_ID,
                 "job": {"namespace": "spark", "name": "drop_stage"}, "inputs": [],
                 "outputs": drop(4)["outputs"]}  # what the job does when it runs
    ol.ingest(store, [build(1), job_event])
    assert state(store, STAGE) is None
    ol.ingest(store, dataset_event(3, "DROP"))
    assert state(store, STAGE) == "deleted"


# ------------------------------------------------------------------ event time


def _stores(tmp_path: Path, events: list[dict[str, Any]]) -> dict[str, object]:
    """The snapshot of a fresh SQLite store after `events`, one request each, in order."""
    with lineage.connect(f"sqlite:///{tmp_path / f'{uuid.uuid4().hex}.db'}") as other:
        for e in events:
            ol.ingest(other, e)
        return snapshot(other)


def _assert_order_independent(tmp_path: Path, store: lineage.Store,
                              events: list[dict[str, Any]]) -> None:
    """Every arrival order of `events`, one request each, ends in the same store: each
    permutation into a fresh SQLite store matches the first, and `store` (whatever its backend)
    fed the events newest first matches too."""
    expected = _stores(tmp_path, events)
    for order in itertools.permutations(events):
        assert _stores(tmp_path, list(order)) == expected, [e["eventTime"] for e in order]
    for e in reversed(events):
        ol.ingest(store, e)
    assert snapshot(store) == expected


@pytest.mark.parametrize("case", ["drop last", "create after drop", "rename"])
def test_lifecycle_follows_event_time_in_every_arrival_order(
        store: lineage.Store, tmp_path: Path, case: str) -> None:
    """Every order of the events, one request each, ends in the store the time order gives:
    an older build arriving after the DROP neither un-drops the table nor leaves its columns
    and version live; a newer CREATE brings the table and its columns back."""
    events = {"drop last": [build(1), totals(2), drop(3)],
              "create after drop": [build(1), drop(3), build(5, "CREATE")],
              "rename": [build(1), totals(2), rename(3)]}[case]
    _assert_order_independent(tmp_path, store, events)
    live = {"drop last": "deleted", "create after drop": None, "rename": "deprecated"}[case]
    assert state(store, STAGE) == live
    assert {state(store, k) for k in stage_owned(store)} == {live}


def test_an_older_create_never_brings_back_a_newer_drop(store: lineage.Store) -> None:
    ol.ingest(store, [dataset_event(3, "DROP"), build(1, "CREATE")])
    assert state(store, STAGE) == "deleted"
    ol.ingest(store, dataset_event(2, "OVERWRITE"))
    assert state(store, STAGE) == "deleted"
    ol.ingest(store, dataset_event(4, "OVERWRITE"))
    assert state(store, STAGE) is None
    assert {state(store, k) for k in stage_owned(store)} == {None}


def test_a_dataset_a_person_deleted_stays_deleted_whatever_the_events_say(
        store: lineage.Store) -> None:
    ol.ingest(store, build(1))
    delete(store, STAGE, "retired by the data team", "local:ana")
    ol.ingest(store, [dataset_event(3, "DROP"), build(5, "CREATE")])
    props = store.node(STAGE).properties
    assert props["lifecycle"] == "deleted" and props["lifecycle_by"] == "local:ana"
    assert props["lifecycle_reason"] == "retired by the data team"


# ------------------------------------------------------------------ a write after a DROP


def dbt_build(hour: int, *names: str) -> dict[str, Any]:
    """stage.orders built again by a producer that sends no lifecycle facets (dbt, Airflow):
    a completed run's output with its schema (`names`, default id and amount) only."""
    out = {"namespace": WH, "name": "stage.orders",
           "facets": {"schema": schema(*(names or ("id", "amount")))}}
    event = run_event("dbt_stage", hour, [out], ("raw.orders",))
    event["producer"] = "https://github.com/OpenLineage/OpenLineage/tree/1.20.0/integration/dbt"
    return event


def versions(store: lineage.Store) -> dict[str, str | None]:
    """stage.orders' versions -> their lifecycle."""
    return {r.key: state(store, r.key) for _, _, r in store.adjacent(
        [STAGE], "upstream", [lineage.EdgeKind.VERSION_OF])}


def version_of(job: str, hour: int) -> str:
    return (f"dataset_version:{WH}/stage.orders@"
            f"{uuid.uuid5(uuid.NAMESPACE_URL, f'{job}/{hour}')}")


@pytest.mark.parametrize("rebuild", ["run output", "dataset event with a schema"])
def test_a_newer_write_without_a_lifecycle_facet_brings_a_dropped_table_back_in_every_order(
        store: lineage.Store, tmp_path: Path, rebuild: str) -> None:
    """Spark drops stage.orders at 3, dbt builds it again at 5 (no lifecycle facet): the
    table and the columns the rebuild lists are live, and impact reaches through them again;
    the dropped table's versions stay retired, the rebuild's version is live. Every arrival
    order ends in that store."""
    again = dbt_build(5) if rebuild == "run output" else {
        "eventTime": at(5), "producer": PRODUCER, "schemaURL": ol.CORE_ID,
        "dataset": {"namespace": WH, "name": "stage.orders",
                    "facets": {"schema": schema("id", "amount"), "version": {
                        "_producer": PRODUCER, "datasetVersion": "v5",
                        "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/"
                        "DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet"}}}}
    events = [build(1), totals(2), drop(3), again]
    _assert_order_independent(tmp_path, store, events)
    assert state(store, STAGE) is None
    assert state(store, f(STAGE, "id")) is None and state(store, f(STAGE, "amount")) is None
    found = versions(store)
    assert found[version_of("build_stage", 1)] == "deleted"
    assert found[version_of("drop_stage", 3)] == "deleted"
    if rebuild == "run output":
        assert found[version_of("dbt_stage", 5)] is None
    else:
        assert found[f"dataset_version:{WH}/stage.orders@v5"] is None
    report = impact(store, f(RAW, "amount"))
    assert f(MART, "total") in report.closure.keys() and report.deleted == 0


def test_an_older_write_arriving_after_a_newer_drop_leaves_it_dropped(
        store: lineage.Store) -> None:
    ol.ingest(store, [build(1), totals(2), drop(3)])
    ol.ingest(store, dbt_build(2))  # written before the DROP, reported after it
    assert state(store, STAGE) == "deleted"
    assert {state(store, k) for k in stage_owned(store)} == {"deleted"}
    assert f(MART, "total") not in impact(store, f(RAW, "amount")).closure.keys()


def test_the_drop_events_own_output_is_no_write_after_the_drop(store: lineage.Store) -> None:
    """A DROP's output with a schema (what the table had) and a write at the DROP's very
    time: the DROP wins the tie whatever the order."""
    dropping = drop(3)
    dropping["outputs"][0]["facets"]["schema"] = schema("id", "amount")
    ol.ingest(store, [build(1), dropping, dbt_build(3)])
    assert state(store, STAGE) == "deleted"
    assert {state(store, k) for k in stage_owned(store)} == {"deleted"}


def test_a_rebuild_brings_back_only_the_columns_it_lists(store: lineage.Store) -> None:
    ol.ingest(store, [build(1), drop(3), dbt_build(5, "id")])
    assert state(store, STAGE) is None and state(store, f(STAGE, "id")) is None
    assert state(store, f(STAGE, "amount")) == "deleted"  # the dropped table's column


def test_a_write_does_not_undo_a_persons_delete(store: lineage.Store) -> None:
    ol.ingest(store, [build(1), drop(3)])
    delete(store, STAGE, "retired by the data team", "local:ana")
    ol.ingest(store, dbt_build(5))
    props = store.node(STAGE).properties
    assert props["lifecycle"] == "deleted" and props["lifecycle_by"] == "local:ana"


def test_a_write_of_a_live_table_changes_no_lifecycle(store: lineage.Store) -> None:
    ol.ingest(store, [build(1), dbt_build(5)])
    props = store.node(STAGE).properties
    assert "lifecycle" not in props and "lifecycle_change" not in props
    assert props["last_written"] == at(5)


# ------------------------------------------------------------------ RENAME


def test_a_rename_links_the_previous_name_so_impact_of_it_reaches_the_new_one(
        store: lineage.Store) -> None:
    ol.ingest(store, [build(1), totals(2), rename(3)])
    links = {(e.src, e.dst): e.properties for e in store.edges_among(
        [STAGE, ORDERS, f(STAGE, "amount"), f(ORDERS, "amount")])
        if e.kind is lineage.EdgeKind.DERIVED_FROM}
    assert links[(STAGE, ORDERS)] == {"scope": "dataset", "transformation": "identity",
                                      "declared": "rename", "event_time": at(3)}
    assert links[(f(STAGE, "amount"), f(ORDERS, "amount"))]["declared"] == "rename"
    assert (ORDERS, STAGE) not in links  # data moved one way
    assert f(ORDERS, "amount") in impact(store, f(STAGE, "amount")).closure.keys()
    assert ORDERS in impact(store, STAGE).closure.keys()
    # the old name is retired but still crossed: a change upstream reaches the new name
    # through it, marked deprecated mid-path
    old = store.node(STAGE).properties
    assert old["lifecycle"] == "deprecated" and "stage.orders_v2" in old["lifecycle_reason"]
    report = impact(store, f(RAW, "amount"))
    assert f(ORDERS, "amount") in report.closure.keys()
    assert f(STAGE, "amount") in report.deprecated
    assert state(store, ORDERS) is None


def test_a_rename_without_a_previous_identifier_is_stored_and_warned_of(
        store: lineage.Store) -> None:
    result = ol.ingest(store, rename(3, previous=False))
    assert [w["path"] for w in result.warnings] == [
        "outputs[0].facets.lifecycleStateChange"]
    assert store.node(ORDERS).properties["lifecycle_change"] == {"change": "RENAME"}
    assert not store.exists([STAGE])


def test_a_previous_identifier_that_cannot_be_keyed_drops_the_facet(
        store: lineage.Store) -> None:
    event = rename(3)
    event["outputs"][0]["facets"]["lifecycleStateChange"]["previousIdentifier"]["name"] = " "
    result = ol.ingest(store, event)
    assert [d["facet"] for d in result.dropped_facets] == ["lifecycleStateChange"]
    assert "lifecycle_change" not in store.node(ORDERS).properties


def test_a_dry_run_shows_the_drop_of_stored_fields(store: lineage.Store) -> None:
    ol.ingest(store, build(1))
    before = snapshot(store)
    batch = ol.to_batch(store, drop(3))
    assert batch.nodes[f(STAGE, "amount")].properties["lifecycle"] == "deleted"
    assert snapshot(store) == before


# ------------------------------------------------------------------ the store contract


def test_apply_merges_a_batchs_nodes_in_its_order(store: lineage.Store) -> None:
    """`GraphStore.apply` calls `merge` in the order of `batch.nodes` (the mapping carries a
    dataset's lifecycle to its fields and versions, put in after it)."""
    batch = lineage.GraphBatch()
    names = [f"ds{i}" for i in (3, 1, 2, 0)]
    for name in names:
        batch.add_node(f"dataset:{WH}/{name}", name, WH)
    seen: list[str] = []

    def merge(key: str, _old: Any, given: Any) -> dict[str, Any]:
        seen.append(key)
        return dict(given)

    store.apply(batch, merge=merge)
    assert seen == [f"dataset:{WH}/{n}" for n in names]


# ------------------------------------------------------------------ the real server


def test_the_server_ends_in_one_store_whichever_order_the_events_come_in(
        sql_store_url: str, tmp_path: Path) -> None:
    """The events POSTed one by one to `lineage serve`, oldest first on the backend under
    test, newest first on a SQLite store: the stores are equal, stage.orders is dropped and
    the impact API leaves what only it fed out."""
    import httpx

    # renamed away, built again under the old name, then dropped
    events = [build(1), totals(2), rename(3), build(5, "CREATE"), drop(6)]
    other = f"sqlite:///{tmp_path / 'newest_first.db'}"
    for url, order in ((sql_store_url, sorted(events, key=lambda e: e["eventTime"])),
                       (other, sorted(events, key=lambda e: e["eventTime"], reverse=True))):
        with serve_in_subprocess(LINEAGE, url, "--no-auth") as base:
            for e in order:
                answer = httpx.post(f"{base}/api/v1/lineage", json=e, timeout=30)
                assert answer.status_code == 201, answer.text
            found = httpx.get(f"{base}/api/v1/impact", params={"field": f(RAW, "amount")},
                              timeout=30).json()
            reached = {r["key"] for rows in found["affected"].values() for r in rows}
            assert f(MART, "total") not in reached and found["deleted_left_out"] >= 1
            assert f(ORDERS, "amount") not in reached  # reached only through the table
    with lineage.connect(sql_store_url) as one, lineage.connect(other) as two:
        assert snapshot(one) == snapshot(two)
        assert state(one, STAGE) == "deleted"
        assert state(one, ORDERS) is None


def _served_in_both_orders(sql_store_url: str, tmp_path: Path, events: list[dict[str, Any]],
                           field: str) -> list[set[str]]:
    """`events` POSTed one by one to `lineage serve`, oldest first on the backend under
    test, newest first on a SQLite store; the fields the impact API reaches from `field` in
    each, once the stores are checked equal."""
    import httpx

    other = f"sqlite:///{tmp_path / 'newest_first.db'}"
    reached: list[set[str]] = []
    for url, order in ((sql_store_url, sorted(events, key=lambda e: e["eventTime"])),
                       (other, sorted(events, key=lambda e: e["eventTime"], reverse=True))):
        with serve_in_subprocess(LINEAGE, url, "--no-auth") as base:
            for e in order:
                answer = httpx.post(f"{base}/api/v1/lineage", json=e, timeout=30)
                assert answer.status_code == 201, answer.text
            found = httpx.get(f"{base}/api/v1/impact", params={"field": field},
                              timeout=30).json()
            reached.append({r["key"] for rows in found["affected"].values() for r in rows})
    with lineage.connect(sql_store_url) as one, lineage.connect(other) as two:
        assert snapshot(one) == snapshot(two)
    return reached


def test_the_server_brings_back_a_table_a_newer_dbt_run_builds_after_a_drop(
        sql_store_url: str, tmp_path: Path) -> None:
    events = [build(1), totals(2), drop(3), dbt_build(5)]
    for reached in _served_in_both_orders(sql_store_url, tmp_path, events, f(RAW, "amount")):
        assert {f(STAGE, "amount"), f(MART, "total")} <= reached
    with lineage.connect(sql_store_url) as one:
        assert state(one, STAGE) is None


# ------------------------------------------------------------------ symlinked names

HDFS = "hdfs://namenode:8020"
PATH_KEY = f"dataset:{HDFS}//warehouse/stage.db/orders"  # Spark's name of stage.orders


def symlinks() -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/"
            "SymlinksDatasetFacet.json#/$defs/SymlinksDatasetFacet",
            "identifiers": [{"namespace": WH, "name": "stage.orders", "type": "TABLE"}]}


def spark_build(hour: int) -> dict[str, Any]:
    """Spark writes stage.orders by its warehouse path, the table name as a symlink."""
    out = {"namespace": HDFS, "name": "/warehouse/stage.db/orders", "facets": {
        "schema": schema("id", "amount"), "symlinks": symlinks(),
        "columnLineage": copied("raw.orders", "id", "amount")}}
    return run_event("spark_stage", hour, [out], ("raw.orders",))


def spark_drop(hour: int, *, listed: bool) -> dict[str, Any]:
    """Spark's DROP TABLE by the path, with the table name as a symlink when `listed`."""
    facets: dict[str, Any] = {"lifecycleStateChange": facet(lifecycleStateChange="DROP")}
    if listed:
        facets["symlinks"] = symlinks()
    return run_event("spark_drop", hour, [{"namespace": HDFS,
                                           "name": "/warehouse/stage.db/orders",
                                           "facets": facets}])


@pytest.mark.parametrize("listed", [True, False], ids=["drop lists the symlink",
                                                       "link known from the store"])
def test_a_drop_retires_the_tables_symlinked_names_in_every_order(
        store: lineage.Store, tmp_path: Path, listed: bool) -> None:
    """Spark drops the warehouse path; the Hive table name totals reads is the same table,
    so it and its columns are retired too, and impact no longer reaches mart.totals through
    it, whatever order the events arrive in."""
    events = [spark_build(1), totals(2), spark_drop(3, listed=listed)]
    _assert_order_independent(tmp_path, store, events)
    assert state(store, PATH_KEY) == "deleted" and state(store, STAGE) == "deleted"
    assert state(store, f(STAGE, "amount")) == "deleted"
    assert store.node(STAGE).properties["lifecycle_at"] == "2024-06-01T03:00:00+00:00"
    report = impact(store, f(RAW, "amount"))
    assert f(MART, "total") not in report.closure.keys() and report.deleted >= 1


def test_a_newer_write_by_the_path_brings_back_the_symlinked_name(
        store: lineage.Store, tmp_path: Path) -> None:
    events = [spark_build(1), totals(2), spark_drop(3, listed=True), spark_build(5)]
    _assert_order_independent(tmp_path, store, events)
    assert state(store, PATH_KEY) is None and state(store, STAGE) is None
    assert state(store, f(STAGE, "amount")) is None
    assert f(MART, "total") in impact(store, f(RAW, "amount")).closure.keys()


def hive_drop(hour: int) -> dict[str, Any]:
    """A DROP TABLE by the table name, as Hive, Trino or Airflow name it: no symlinks."""
    return run_event("hive_drop", hour, [{"namespace": WH, "name": "stage.orders", "facets": {
        "lifecycleStateChange": facet(lifecycleStateChange="DROP")}}])


@pytest.mark.parametrize("drop_hour", [3, 0], ids=["drop after the link", "drop before it"])
def test_a_drop_by_the_table_name_retires_the_path_in_every_order(
        store: lineage.Store, tmp_path: Path, drop_hour: int) -> None:
    """The table name is only ever a symlink of Spark's path; a DROP by that name alone
    retires the path (the same table) whether the event linking them arrived before or
    after it; a drop older than the link's write retires neither."""
    _assert_order_independent(tmp_path, store, [spark_build(1), totals(2), hive_drop(drop_hour)])
    dropped = "deleted" if drop_hour > 1 else None
    assert state(store, STAGE) == dropped and state(store, PATH_KEY) == dropped
    assert state(store, f(PATH_KEY, "amount")) == dropped


@pytest.mark.parametrize("first", ["read", "link"], ids=["table name read before the link",
                                                      "link first"])
def test_one_request_links_a_dropped_path_to_its_table_name_in_any_order_of_its_events(
        store: lineage.Store, tmp_path: Path, first: str) -> None:
    """The path was dropped; one request of two events reads the table name and links the
    two: the table name is retired whichever of its events comes first, as when each event
    is its own request."""
    events = [spark_drop(3, listed=False), totals(2), spark_build(1)]
    expected = _stores(tmp_path, events)
    ol.ingest(store, events[0])
    request = events[1:] if first == "read" else events[:0:-1]
    ol.ingest(store, request)
    assert snapshot(store) == expected
    assert state(store, STAGE) == "deleted" and state(store, PATH_KEY) == "deleted"
    for order in itertools.permutations(events):  # all three in one request
        with lineage.connect(f"sqlite:///{tmp_path / f'{uuid.uuid4().hex}.db'}") as one:
            ol.ingest(one, list(order))
            assert snapshot(one) == expected, [e["eventTime"] for e in order]


def test_the_server_retires_a_dropped_paths_table_name(sql_store_url: str,
                                                       tmp_path: Path) -> None:
    events = [spark_build(1), totals(2), spark_drop(3, listed=False)]
    for reached in _served_in_both_orders(sql_store_url, tmp_path, events, f(RAW, "amount")):
        assert f(MART, "total") not in reached
    with lineage.connect(sql_store_url) as one:
        assert state(one, STAGE) == "deleted"
