"""Events the OpenLineage project ships itself (tests/data/openlineage/upstream/, Apache-2.0,
see its README): what Marquez stores is stored, an invalid facet is dropped and named, the
one event Marquez refuses too (no runId) is refused, and the store ends the same whatever the
order and however often the events are replayed. The expectations are read off the files.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

import lineage
from lineage import openlineage as ol

from .conftest import LINEAGE, serve_in_subprocess, snapshot

UPSTREAM = Path(__file__).parent / "data" / "openlineage" / "upstream"

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
}
REJECTED = "fluentd_event_no_run_id.json"


def _event(name: str) -> dict[str, Any]:
    return dict(json.loads((UPSTREAM / name).read_text()))


def test_every_upstream_file_is_expected_here() -> None:
    assert {p.name for p in UPSTREAM.glob("*.json")} == {*STORED, REJECTED}


@pytest.mark.parametrize("name", sorted(STORED))
def test_upstream_events_are_stored_and_their_invalid_facets_named(
        store: lineage.Store, name: str) -> None:
    event = _event(name)
    result = ol.ingest(store, event)
    assert [d["path"] for d in result.dropped_facets] == STORED[name]
    if "run" in event:
        run = store.node(f"run:{event['run']['runId'].lower()}")
        assert run.properties["state"] == event.get("eventType", "OTHER")
        job = event["job"]
        assert store.node(f"job:{job['namespace']}/{job['name']}").kind is lineage.NodeKind.JOB
    for dataset in [*event.get("inputs", []), *event.get("outputs", []),
                    *([event["dataset"]] if "dataset" in event else [])]:
        key = f"dataset:{dataset['namespace']}/{dataset['name']}"
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


def test_the_official_client_delivers_upstream_events_to_a_real_server(
        sqlite_url: str) -> None:
    import httpx
    from openlineage.client.transport.http import HttpConfig, HttpTransport

    with serve_in_subprocess(LINEAGE, sqlite_url, "--no-auth") as base:
        transport = HttpTransport(HttpConfig(url=base, retry={"total": 0}))
        for name, dropped in sorted(STORED.items()):
            answer = transport.emit(_event(name))  # raises on anything but 2xx
            assert [d["path"] for d in answer.json().get("dropped_facets", [])] == dropped
        refused = httpx.post(f"{base}/api/v1/lineage", json=_event(REJECTED))
        assert refused.status_code == 400 and refused.json()["key"] == "run.runId"
        health = httpx.get(f"{base}/api/v1/health").json()["ingest"]
        assert health["events_with_dropped_facets"] == sum(1 for d in STORED.values() if d)
