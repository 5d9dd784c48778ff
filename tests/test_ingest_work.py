"""Work an ingest does per event that it need not do (issue 14, the SQLite ingest
regression): what a replayed or valid event must not cost. The stored result is the
contract's (tests/test_openlineage*.py); these pin the shortcuts that keep it cheap."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import lineage
from lineage import openlineage
from lineage.openlineage import _validate
from lineage.store.sql import graph as sql_graph

NS = "postgres://warehouse:5432"
FACET = "https://openlineage.io/spec/facets/1-0-1/SchemaDatasetFacet.json"
LINEAGE = "https://openlineage.io/spec/facets/1-0-1/ColumnLineageDatasetFacet.json"


def _schema(*fields: tuple[str, str]) -> dict[str, Any]:
    return {"_producer": "https://example.com/p", "_schemaURL": FACET,
            "fields": [{"name": n, "type": t} for n, t in fields]}


def _event(state: str, run_id: str) -> dict[str, Any]:
    """A typical event: 2 inputs and 1 output with schemas, column lineage on the output."""
    def source(name: str, column: str) -> dict[str, Any]:
        return {"namespace": NS, "name": name, "field": column,
                "transformations": [{"type": "DIRECT", "subtype": "IDENTITY"}]}

    return {
        "eventType": state, "eventTime": "2024-06-01T00:05:00.000Z",
        "producer": "https://example.com/p",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": run_id}, "job": {"namespace": "airflow", "name": "etl.facts"},
        "inputs": [
            {"namespace": NS, "name": "raw.orders",
             "facets": {"schema": _schema(("order_id", "BIGINT"), ("amount", "DOUBLE"))}},
            {"namespace": NS, "name": "raw.customers",
             "facets": {"schema": _schema(("customer_id", "BIGINT"), ("country", "VARCHAR"))}},
        ],
        "outputs": [{"namespace": NS, "name": "mart.facts", "facets": {
            "schema": _schema(("order_id", "BIGINT"), ("country", "VARCHAR")),
            "columnLineage": {"_producer": "https://example.com/p", "_schemaURL": LINEAGE,
                              "fields": {
                                  "order_id": {"inputFields": [source("raw.orders", "order_id")]},
                                  "country": {"inputFields": [source("raw.customers",
                                                                     "country")]}}}}}],
    }


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Any, str], list[int]]]:
    """`counted(module, name)`: wrap a module function so that its calls are counted (the
    list's one element), the function itself still doing the work."""
    def wrap(module: Any, name: str) -> list[int]:
        calls = [0]
        real = getattr(module, name)

        def counting(*args: Any, **kwargs: Any) -> Any:
            calls[0] += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, counting)
        return calls

    yield wrap


def test_replayed_event_canonicalises_no_stored_node_or_edge(
        sql_store_url: str, counted: Callable[[Any, str], list[int]]) -> None:
    # A node's or edge's properties equal to the stored ones are unchanged whatever the
    # canonical form would say; SQLite's apply used to canonicalise every edge twice
    # (given, then merged) before comparing, ~40 JSON walks an event for nothing.
    event = _event("COMPLETE", str(uuid.uuid4()))
    with lineage.connect(sql_store_url) as store:
        first = openlineage.ingest(store, event)
        assert first.applied.edges_created > 10
        calls = counted(sql_graph, "_canonical")
        again = openlineage.ingest(store, event)
    assert not again.applied.changed
    assert calls[0] == 0


def test_changed_edge_is_written_canonical_once(
        sql_store_url: str, counted: Callable[[Any, str], list[int]]) -> None:
    # the other side of the shortcut: what changes is still canonicalised and written
    run_id = str(uuid.uuid4())
    with lineage.connect(sql_store_url) as store:
        openlineage.ingest(store, _event("COMPLETE", run_id))
        later = _event("COMPLETE", run_id)
        later["eventTime"] = "2024-06-01T00:09:00.000Z"  # newer: every stamp moves
        calls = counted(sql_graph, "_canonical")
        result = openlineage.ingest(store, later)
        derived = store.edges_among(store.nodes([
            "field:postgres://warehouse:5432/raw.orders.order_id",
            "field:postgres://warehouse:5432/mart.facts.order_id"]))
    assert result.applied.edges_updated >= 2
    assert calls[0] == result.applied.nodes_updated + result.applied.edges_updated
    assert [e.properties["event_time"] for e in derived
            if e.kind.value == "derived_from"] == ["2024-06-01T00:09:00.000Z"]


def test_valid_event_walks_its_facet_maps_once(
        counted: Callable[[Any, str], list[int]]) -> None:
    # jsonschema-rs's facet check and the keyability check read the same facet maps
    calls = counted(_validate, "_facet_maps")
    checked = _validate.check_event(_event("START", str(uuid.uuid4())))
    assert checked.dropped == ()
    assert calls[0] == 1
