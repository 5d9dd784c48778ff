"""A schema change an OpenLineage producer reports tells the consumers it breaks, in the
write's transaction, as a dbt import or a manifest does: once, and only for the newest
schema (an older event arriving late fills in history, it changes nothing current)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, uuid5

import pytest

import lineage
from lineage import openlineage as ol
from lineage.manifest import register_text

from .conftest import LINEAGE, serve_in_subprocess

WH = "postgres://wh:5432"
TOTALS = f"dataset:{WH}/mart.totals"
PRODUCER = "https://github.com/apache/airflow/tree/providers-openlineage/1.14.0"
SCHEMA_URL = "https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json" \
    "#/$defs/SchemaDatasetFacet"


def build_totals(hour: int, total_type: str) -> dict[str, Any]:
    """Airflow's COMPLETE of the job that writes mart.totals at `hour`."""
    return {
        "eventType": "COMPLETE", "eventTime": f"2024-06-01T{hour:02d}:00:00Z",
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": str(uuid5(NAMESPACE_URL, f"build_totals/{hour}"))},
        "job": {"namespace": "airflow", "name": "build_totals"},
        "inputs": [],
        "outputs": [{"namespace": WH, "name": "mart.totals", "facets": {"schema": {
            "_producer": PRODUCER, "_schemaURL": SCHEMA_URL,
            "fields": [{"name": "id", "type": "BIGINT"},
                       {"name": "total", "type": total_type}]}}}]}


def consumer(store: lineage.Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The finance dashboard reads mart.totals.total as a number; notified by file."""
    monkeypatch.setenv("LINEAGE_NOTIFICATIONS_ROOT", str(tmp_path))
    sink = tmp_path / "finance.ndjson"
    register_text(store, f"""\
consumers:
  - name: finance_dashboard
    consumes: ["{TOTALS}"]
    channels: [{{kind: file, path: '{sink}'}}]
    contracts:
      - asset: "{TOTALS}"
        properties:
          - {{name: total, physicalType: "decimal(12,2)"}}
""")
    return sink


def test_a_changed_column_type_notifies_the_consumer_it_breaks_once(
        store: lineage.Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = ol.ingest(store, build_totals(1, "NUMERIC(12,2)"))
    assert first.applied.notifications_enqueued == 0  # nothing to compare the first with
    consumer(store, tmp_path, monkeypatch)
    changed = ol.ingest(store, build_totals(2, "VARCHAR"))
    assert changed.applied.notifications_enqueued == 1
    [item] = store.outbox()
    assert item.consumer == "consumer:finance_dashboard" and item.event == "new_version"
    assert "mart.totals.total" in str(item.payload)
    # a replay, and the same schema written again by a newer run: nothing new
    assert ol.ingest(store, build_totals(2, "VARCHAR")).applied.notifications_enqueued == 0
    assert ol.ingest(store, build_totals(3, "VARCHAR")).applied.notifications_enqueued == 0
    assert len(store.outbox()) == 1


def test_an_older_schema_arriving_late_notifies_nobody(
        store: lineage.Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ol.ingest(store, build_totals(2, "NUMERIC(12,2)"))
    consumer(store, tmp_path, monkeypatch)
    late = ol.ingest(store, build_totals(1, "VARCHAR"))  # history: 01:00 before 02:00
    assert late.applied.notifications_enqueued == 0 and store.outbox() == []
    # its version is kept as history; the current schema is still the newer one
    assert late.dataset_versions == 1
    assert store.node(f"field:{WH}/mart.totals.total").properties["type"] == "decimal(12,2)"


def test_the_server_notifies_a_breaking_change_an_event_reports(
        sql_store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    with lineage.connect(sql_store_url) as one:
        ol.ingest(one, build_totals(1, "NUMERIC(12,2)"))
        consumer(one, tmp_path, monkeypatch)
    with serve_in_subprocess(LINEAGE, sql_store_url, "--no-auth") as base:
        answer = httpx.post(f"{base}/api/v1/lineage", json=build_totals(2, "VARCHAR"),
                            timeout=30)
        assert answer.status_code == 201, answer.text
    with lineage.connect(sql_store_url) as one:
        [item] = one.outbox()
        assert item.consumer == "consumer:finance_dashboard"


def read_totals(hour: int, total_type: str) -> dict[str, Any]:
    """A dashboard refresh job reading mart.totals at `hour`, reporting its schema."""
    event = build_totals(hour, total_type)
    event["run"] = {"runId": str(uuid5(NAMESPACE_URL, f"refresh/{hour}"))}
    event["job"] = {"namespace": "airflow", "name": "refresh_dashboard"}
    event["inputs"], event["outputs"] = event["outputs"], []
    return event


@pytest.mark.parametrize("reader_first", [False, True], ids=["writer first", "reader first"])
def test_a_change_seen_first_by_a_reader_is_told_once(
        store: lineage.Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        reader_first: bool) -> None:
    """Whichever event shows the new schema first (the writer's output or a reader's input)
    tells the consumer; the other finds the schema as stored and tells nobody again."""
    ol.ingest(store, build_totals(1, "NUMERIC(12,2)"))
    consumer(store, tmp_path, monkeypatch)
    events = [build_totals(2, "VARCHAR"), read_totals(3, "VARCHAR")]
    for e in (events[::-1] if reader_first else events):
        ol.ingest(store, e)
    assert [i.consumer for i in store.outbox()] == ["consumer:finance_dashboard"]


def test_a_column_a_newer_schema_drops_is_told(
        store: lineage.Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ol.ingest(store, build_totals(1, "NUMERIC(12,2)"))
    consumer(store, tmp_path, monkeypatch)
    without = build_totals(2, "NUMERIC(12,2)")
    without["outputs"][0]["facets"]["schema"]["fields"].pop()  # total is gone
    assert ol.ingest(store, without).applied.notifications_enqueued == 1
    [item] = store.outbox()
    assert "dropped" in str(item.payload)


def test_a_schema_another_writer_changes_meanwhile_is_read_again_and_told_once(
        store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Our event (02:00, VARCHAR) changes the schema, so its first write rolls back; before
    it is written again, another writer stores a newer schema (03:00, BIGINT). Our event is
    then history: written without notifications of its own, and the consumer is told once,
    by the newer write, of NUMERIC -> BIGINT."""
    from lineage.openlineage import _mapping

    with lineage.connect(store_url) as store, lineage.connect(store_url) as other:
        ol.ingest(store, build_totals(1, "NUMERIC(12,2)"))
        consumer(store, tmp_path, monkeypatch)
        read_changes = _mapping.BatchBuilder.schema_changes
        raced: list[int] = []

        def racing(self: _mapping.BatchBuilder, s: lineage.Store) -> Any:
            if not raced:  # the other writer commits between our rollback and our read
                raced.append(1)
                ol.ingest(other, build_totals(3, "BIGINT"))
            return read_changes(self, s)

        monkeypatch.setattr(_mapping.BatchBuilder, "schema_changes", racing)
        ours = ol.ingest(store, build_totals(2, "VARCHAR"))
        assert raced and ours.applied.notifications_enqueued == 0
        [item] = store.outbox()
        assert item.consumer == "consumer:finance_dashboard"
        assert store.node(f"field:{WH}/mart.totals.total").properties["type"] == "int64"
        assert "int64" in str(item.payload) and "string" not in str(item.payload)
