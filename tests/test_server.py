"""The HTTP server, for real: uvicorn on 127.0.0.1 (a free port) in a background thread, over a
real store on every backend, driven by the official openlineage-python client and by httpx.

What it must do: take OpenLineage events exactly as the client's HttpTransport sends them
(gzip and a bearer api key included), serve the read API over what was written, refuse
callers without the right token or scope with a JSON 401/403, refuse bad bodies with a JSON
400/413/415 and write nothing then, audit every write with its principal, and never answer
5xx to anything a client can send.
"""

from __future__ import annotations

import asyncio
import copy
import gzip
import io
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import polars as pl
import pytest
import uvicorn
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lineage
from lineage import auth
from lineage._keys import run_key
from lineage.server import ServerSettings, check_exposure, create_app, is_loopback, serve
from lineage.server._writer import _STOP, IngestWriter, _Request
from tests.conftest import run_node, snapshot

DATA = Path(__file__).parent / "data" / "openlineage"
MAX_BODY = 64 * 1024
PAYMENTS = "dataset:kafka://events:9092/payments"
SPEND = "dataset:s3://lake/spend_daily"


def event(name: str) -> dict[str, Any]:
    return dict(json.loads((DATA / f"{name}.json").read_text()))


def field_key(dataset: str, name: str) -> str:
    return "field:" + dataset.removeprefix("dataset:") + "." + name


# ------------------------------------------------------------------ a real server


@contextmanager
def running(store: lineage.Store | str | FastAPI, config: ServerSettings | None,
            root_path: str = "") -> Iterator[str]:
    """uvicorn serving the app over `store` (or the app itself) on 127.0.0.1 (a free port)
    in a thread; yields its base URL. `root_path`: as behind a proxy that strips it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = store if isinstance(store, FastAPI) else create_app(store, config)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning",
                                           access_log=False, root_path=root_path))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


TOKENS = {
    "writer": (["write:lineage"], []),
    "reader": (["read"], []),
    "admin": (["admin"], []),
    "scorer": (["assert", "read"], ["ai_inferred"]),     # an inference job
    "labeller": (["assert"], ["human_labelled"]),         # the labelling tool
    "observer": (["assert"], ["observed"]),              # the disputes system
    "revoked": (["write:lineage", "read"], []),
}


@dataclass
class Served:
    """A running server, the store behind it (a connection of the test's own) and tokens."""

    base: str
    store: lineage.Store
    secrets: dict[str, str] = field(default_factory=dict)
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))

    def headers(self, who: str | None) -> dict[str, str]:
        return {} if who is None else {"Authorization": f"Bearer {self.secrets[who]}"}

    def post(self, path: str, who: str | None = "writer", **kwargs: Any) -> httpx.Response:
        headers = {**self.headers(who), **kwargs.pop("headers", {})}
        return self.client.post(self.base + path, headers=headers, **kwargs)

    def get(self, path: str, who: str | None = "reader", **kwargs: Any) -> httpx.Response:
        return self.client.get(self.base + path, headers=self.headers(who), **kwargs)

    def state(self) -> dict[str, Any]:
        """Everything a request could change: the graph, assertions, tokens, the audit log."""
        return {**snapshot(self.store),
                "assertions": [(b.id, b.rows) for b in self.store.assertion_batches()],
                "audit": [e.id for e in self.store.audit_log(1000)]}


@pytest.fixture
def served(store_url: str) -> Iterator[Served]:
    """A server over a fresh store (once per backend) with a token per role; the app opens
    the store by URL itself, as `lineage serve` does."""
    with lineage.connect(store_url) as store:
        secrets = {name: auth.create_token(store, name, scopes, origins)[1]
                   for name, (scopes, origins) in TOKENS.items()}
        auth.revoke_token(store, "revoked")
        with running(store_url, ServerSettings(max_body_bytes=MAX_BODY)) as base:
            s = Served(base, store, secrets)
            try:
                yield s
            finally:
                s.client.close()


def assert_error(response: httpx.Response, status: int, error: str,
                 message: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"] == error, body
    assert body["message"]
    if message is not None:
        assert message in body["message"], body["message"]
    return dict(body)


# ------------------------------------------------------------------ the official client


def client_events() -> list[Any]:
    """START and COMPLETE of a run with schema and column-lineage facets, a DatasetEvent and
    a JobEvent, built with openlineage-python's own classes."""
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
        schema_dataset,
        symlinks_dataset,
    )

    producer = "https://github.com/OpenLineage/OpenLineage/tree/1.x/client/python"

    def source(name: str, subtype: str) -> column_lineage_dataset.InputField:
        return column_lineage_dataset.InputField(
            namespace="kafka://events:9092", name="payments", field=name,
            transformations=[column_lineage_dataset.Transformation(type="DIRECT",
                                                                   subtype=subtype)])

    payments = InputDataset(namespace="kafka://events:9092", name="payments", facets={
        "schema": schema_dataset.SchemaDatasetFacet(fields=[
            schema_dataset.SchemaDatasetFacetFields(name="user_id", type="BIGINT"),
            schema_dataset.SchemaDatasetFacetFields(name="amount", type="DECIMAL(12,2)")])})
    spend = OutputDataset(namespace="s3://lake", name="spend_daily", facets={
        "schema": schema_dataset.SchemaDatasetFacet(fields=[
            schema_dataset.SchemaDatasetFacetFields(name="user_id", type="BIGINT"),
            schema_dataset.SchemaDatasetFacetFields(name="spend", type="DOUBLE")]),
        "columnLineage": column_lineage_dataset.ColumnLineageDatasetFacet(fields={
            "user_id": column_lineage_dataset.Fields(inputFields=[source("user_id",
                                                                         "IDENTITY")]),
            "spend": column_lineage_dataset.Fields(inputFields=[source("amount",
                                                                       "AGGREGATION")])})})
    run = Run(runId="01a204b8-b18f-7518-bd2c-582ba438261a")
    job = Job(namespace="spark", name="app.aggregate_spend")
    start = RunEvent(eventType=RunState.START, eventTime="2024-06-01T00:00:00.000000+00:00",
                     run=run, job=job, producer=producer, inputs=[payments], outputs=[spend])
    complete = RunEvent(eventType=RunState.COMPLETE,
                        eventTime="2024-06-01T00:03:00.000000+00:00", run=run, job=job,
                        producer=producer, inputs=[payments], outputs=[spend])
    static = DatasetEvent(
        eventTime="2024-06-02T00:00:00Z", producer=producer,
        dataset=StaticDataset(namespace="s3://lake", name="spend_daily", facets={
            "symlinks": symlinks_dataset.SymlinksDatasetFacet(identifiers=[
                symlinks_dataset.Identifier(namespace="glue://eu", name="lake.spend_daily",
                                            type="TABLE")])}))
    job_event = JobEvent(eventTime="2024-06-02T00:00:00Z", producer=producer,
                         job=Job(namespace="spark", name="app.report"),
                         inputs=[InputDataset(namespace="s3://lake", name="spend_daily")],
                         outputs=[])
    return [start, complete, static, job_event]


def test_the_openlineage_python_client_writes_lineage_that_reads_back_through_the_api(
        served: Served) -> None:
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport.http import (
        ApiKeyTokenProvider,
        HttpCompression,
        HttpConfig,
        HttpTransport,
    )

    client = OpenLineageClient(transport=HttpTransport(HttpConfig(
        url=served.base, auth=ApiKeyTokenProvider({"apiKey": served.secrets["writer"]}),
        compression=HttpCompression.GZIP, retry={"total": 0})))
    for e in client_events():
        client.emit(e)  # raises on anything but 2xx

    run = run_node(served.store, "01a204b8-b18f-7518-bd2c-582ba438261a")
    assert run.properties["state"] == "COMPLETE" and run.properties["reported_by"] == ["writer"]
    assert served.store.node(SPEND).properties["symlinks"][0]["name"] == "lake.spend_daily"

    found = served.get("/api/v1/nodes", params={"q": "spend_daily", "kind": ["dataset"]})
    assert found.status_code == 200
    # and its Glue name, a symlink: another name of the same table, linked to it
    assert [n["key"] for n in found.json()["nodes"]] == ["dataset:glue://eu/lake.spend_daily",
                                                         SPEND]

    amount, spent = field_key(PAYMENTS, "amount"), field_key(SPEND, "spend")
    node = served.get(f"/api/v1/nodes/{quote(spent, safe='')}").json()
    assert node["node"]["key"] == spent and node["node"]["kind"] == "field"
    assert {"edge": "derived_from", "verb": "feeds", "direction": "in", "node": {
        "key": amount, "kind": "field", "name": "payments.amount"}} in [
        {k: v for k, v in n.items() if k != "properties"} for n in node["neighbours"]]
    by_suffix = served.get("/api/v1/nodes/spend_daily.spend")
    assert by_suffix.json()["node"]["key"] == spent

    graph = served.get("/api/v1/lineage/graph", params={"node": "payments.amount",
                                                        "direction": "down"}).json()
    assert graph["start"]["key"] == amount
    assert {"src": amount, "dst": spent, "kind": "derived_from"} in [
        {k: e[k] for k in ("src", "dst", "kind")} for e in graph["edges"]]
    svg = served.get("/api/v1/lineage/graph", params={"node": "payments.amount",
                                                      "direction": "both", "format": "svg"})
    assert svg.headers["content-type"] == "image/svg+xml" and b"<svg" in svg.content

    # impact of the input column reaches the output column, over HTTP and in the library
    report = served.get("/api/v1/impact", params={"field": "payments.amount"}).json()
    assert spent in [r["key"] for r in report["affected"]["field"]]
    reached = next(r for r in report["affected"]["field"] if r["key"] == spent)
    assert reached["path"][-1] == {"edge": "derived_from", "verb": "feeds", "key": spent}
    assert spent in lineage.impact(served.store, "payments.amount").closure.keys()
    change = served.get("/api/v1/impact", params={"field": "payments.user_id",
                                                  "change": ["type:string"]}).json()
    user_id = next(j for j in change["affected"]["field"]
                   if j["key"] == field_key(SPEND, "user_id"))
    assert user_id["verdict"] == "breaking" and "identity" in user_id["reason"]

    # each request is an audited write by the token's owner
    ingests = [e for e in served.store.audit_log() if e.action == "ingest"]
    assert len(ingests) == 4 and {e.principal for e in ingests} == {"writer"}


def test_a_request_of_several_events_is_one_transaction(served: Served) -> None:
    start, complete = event("run_start"), event("run_complete")
    as_array = served.post("/api/v1/lineage", json=[start, complete])
    assert as_array.status_code == 201, as_array.text
    assert as_array.json()["events"] == 2
    written = served.state()

    again = served.post("/api/v1/lineage/batch", json={"events": [complete, start]})
    assert again.status_code == 200
    assert again.json()["transaction"]["applied"]["changed"] is False  # idempotent
    before = served.state()

    broken = copy.deepcopy(complete)
    broken["outputs"][0]["namespace"] = 42
    refused = served.post("/api/v1/lineage", json=[event("job_event"), broken])
    body = assert_error(refused, 400, "ValidationError", "event 2 of 2")
    assert body["key"] == "outputs[0].namespace"
    assert served.state() == before
    assert snapshot(served.store) == {k: v for k, v in written.items()
                                      if k in ("nodes", "edges", "schemas")}
    empties: list[Any] = [[], {"events": []}, {"event": start}]
    for empty in empties:
        assert_error(served.post("/api/v1/lineage/batch", json=empty), 400, "ValidationError")
    assert_error(served.post("/api/v1/lineage", json=[start, "not an event"]), 400,
                 "ValidationError")


def test_a_batch_is_answered_per_event_and_stores_its_good_events(served: Served) -> None:
    broken = event("run_complete")
    broken["outputs"][0]["namespace"] = 42
    answer = served.post("/api/v1/lineage/batch",
                         json=[event("run_start"), broken, "not an event", event("job_event")])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "partial_success"
    assert body["summary"] == {"received": 4, "successful": 2, "failed": 2, "retriable": 0,
                               "non_retriable": 2}
    assert [(f["index"], f["key"], f["retriable"]) for f in body["failed_events"]] == [
        (1, "outputs[0].namespace", False), (2, None, False)]
    assert "must be a string" in body["failed_events"][0]["reason"]
    assert run_node(served.store, "0190d6f4-3c1e-7a5e-9b1e-3f0a2c4d5e6f").properties[
        "state"] == "START"  # the bad COMPLETE of the same run was not written
    assert served.store.node("job:reporting/export_summary")
    before = served.state()

    none_good = served.post("/api/v1/lineage/batch", json=[broken, {"run": {}}])
    body = assert_error(none_good, 400, "ValidationError", "none of the 2 events")
    assert body["status"] == "failure" and body["summary"]["failed"] == 2
    assert [f["index"] for f in body["failed_events"]] == [0, 1]
    assert {k: v for k, v in served.state().items() if k != "audit"} == {
        k: v for k, v in before.items() if k != "audit"}

    good = served.post("/api/v1/lineage/batch", json=[event("run_complete")])
    assert good.status_code == 200
    assert good.json()["status"] == "success" and good.json()["failed_events"] == []


def test_concurrent_requests_share_transactions_and_each_gets_its_own_answer(
        served: Served) -> None:
    def run_event(i: int) -> dict[str, Any]:
        e = event("job_event")
        e["job"]["name"] = f"concurrent_{i}"
        return e

    bad = run_event(999)
    bad["eventTime"] = "yesterday"
    bodies = [run_event(i) for i in range(40)]
    bodies[17] = bad
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda b: served.post("/api/v1/lineage", json=b), bodies))

    assert [a.status_code for a in answers].count(201) == 39
    assert_error(answers[17], 400, "ValidationError")
    assert answers[17].json()["key"] == "eventTime"
    jobs = {r.key for r in served.store.find("concurrent_", [lineage.NodeKind.JOB], 1000)}
    assert jobs == {f"job:reporting/concurrent_{i}" for i in range(40) if i != 17}
    health = served.get("/api/v1/health", who=None).json()["ingest"]
    assert health["requests"] == 39 and 1 <= health["transactions"] <= 39
    audited = [e for e in served.store.audit_log(1000) if e.action == "ingest"]
    assert sorted(str(e.target) for e in audited) == sorted(f"job:reporting/concurrent_{i}"
                                                       for i in range(40) if i != 17)


def _group_of(store: lineage.Store, bodies: list[Any]) -> tuple[IngestWriter, list[Any]]:
    """`bodies` (JSON values, or raw bytes) written by an IngestWriter over `store` as ONE
    group (all queued before the writer takes the first, as concurrent requests are), sent
    as the routes send them (raw bytes): the writer and each request's outcome (its
    answer, or the exception it was answered with)."""
    writer = IngestWriter(store)
    queued: list[Any] = [_Request(b if isinstance(b, bytes) else json.dumps(b).encode(),
                                  "writer", "writer", None, {}) for b in bodies]
    items = iter([*queued, _STOP])
    writer.run(lambda _timeout: next(items))
    outcomes = [r.future.exception() or r.future.result() for r in queued]
    return writer, outcomes


@dataclass
class _Arrival:
    """A request of a scripted producer for `_scripted_take`: there once `groups` groups are
    written, queued already (`queued`) or only for a writer that waits for it."""

    item: Any
    groups: int
    queued: bool = True


def _scripted_take(writer: IngestWriter, script: list[_Arrival],
                   waits: list[float | None]) -> Any:
    """A `take` for `IngestWriter.run` playing `script` in order, each timeout asked kept in
    `waits` (no clock: what "comes within the wait" is the script's)."""
    def take(timeout: float | None) -> Any:
        waits.append(timeout)
        step = script[0]
        there = writer.groups >= step.groups
        if timeout is None or (there and (step.queued or timeout > 0)):
            return script.pop(0).item
        raise queue.Empty
    return take


def test_a_group_waits_for_the_producers_its_last_group_answered_when_others_queued(
        store: lineage.Store) -> None:
    # Four closed-loop producers: two answered by the first group send again while the two
    # others' requests, queued while it was written, are taken. Without waiting for the
    # answered ones the groups stay halves (2, 2, 2, ...); the writer expects them back.
    writer = IngestWriter(store, expect_seconds=0.5)

    def request(name: str) -> _Request:
        return _Request(json.dumps([_named_job(name)]).encode(), "writer", "writer", None, {})

    a, b, c, d, a2, b2 = (request(f"expected_{n}") for n in ("a", "b", "c", "d", "a2", "b2"))
    waits: list[float | None] = []
    writer.run(_scripted_take(writer, [
        _Arrival(a, 0), _Arrival(b, 0),  # the first group
        _Arrival(c, 1), _Arrival(d, 1),  # queued while it was written
        _Arrival(a2, 1, queued=False), _Arrival(b2, 1, queued=False),  # answered ones, again
        _Arrival(_STOP, 2)], waits))
    sizes = [r.future.result()["transaction"]["requests"] for r in (a, b, c, d, a2, b2)]
    assert sizes == [2, 2, 4, 4, 4, 4]
    assert (writer.groups, writer.requests) == (2, 6)
    assert all(w is None or w <= 0.5 for w in waits)


def test_a_single_producer_is_never_kept_waiting_for_company(store: lineage.Store) -> None:
    writer = IngestWriter(store, expect_seconds=0.5)
    requests = [_Request(json.dumps([_named_job(f"alone_{i}")]).encode(), "writer", "writer",
                         None, {}) for i in range(3)]
    waits: list[float | None] = []
    writer.run(_scripted_take(writer, [*(_Arrival(r, i, queued=False)
                                         for i, r in enumerate(requests)),
                                       _Arrival(_STOP, 3)], waits))
    assert [r.future.result()["transaction"]["requests"] for r in requests] == [1, 1, 1]
    assert all(w is None or w == 0 for w in waits)  # it blocked for each, never lingered


def test_a_group_whose_expected_producers_did_not_come_makes_the_next_one_not_wait(
        store: lineage.Store) -> None:
    writer = IngestWriter(store, expect_seconds=0.5)
    requests = [_Request(json.dumps([_named_job(f"gone_{i}")]).encode(), "writer", "writer",
                         None, {}) for i in range(5)]
    waits: list[float | None] = []
    writer.run(_scripted_take(writer, [
        _Arrival(requests[0], 0), _Arrival(requests[1], 0),
        # one queued meanwhile; the two answered producers do not come back in time
        _Arrival(requests[2], 1),
        _Arrival(requests[3], 2), _Arrival(requests[4], 2),
        _Arrival(_STOP, 3)], waits))
    assert [r.future.result()["transaction"]["requests"] for r in requests] == [2, 2, 1, 2, 2]
    positive = [i for i, w in enumerate(waits) if w is not None and w > 0]
    # it waited once, for the third group (1 queued + 2 answered), and not for the fourth
    assert len(positive) == 1


def _named_job(name: str) -> dict[str, Any]:
    e = event("job_event")
    e["job"]["name"] = name
    return e


def test_a_request_failing_its_checks_is_answered_alone_and_its_group_commits_once(
        store: lineage.Store) -> None:
    bad = _named_job("grouped_bad")
    bad["eventTime"] = "yesterday"
    writer, outcomes = _group_of(store, [[_named_job("grouped_0")], [bad],
                                         [_named_job("grouped_1")], b'[{"job": ',
                                         [_named_job("grouped_2")]])
    assert isinstance(outcomes[1], lineage.ValidationError) and outcomes[1].key == "eventTime"
    assert isinstance(outcomes[3], lineage.ValidationError)
    assert "malformed JSON" in outcomes[3].message
    assert [o["transaction"]["requests"] for i, o in enumerate(outcomes)
            if i not in (1, 3)] == [3] * 3
    # the bad request did not send the others back to one transaction each
    assert (writer.groups, writer.requests) == (1, 3)
    jobs = {r.key for r in store.find("grouped_", [lineage.NodeKind.JOB], 100)}
    assert jobs == {f"job:reporting/grouped_{i}" for i in range(3)}
    assert len([e for e in store.audit_log(100) if e.action == "ingest"]) == 3


def test_each_request_of_a_group_has_its_own_audit_entry_in_the_order_taken(
        store: lineage.Store) -> None:
    two = [_named_job("audited_two_a"), _named_job("audited_two_b")]
    _writer, outcomes = _group_of(store, [[_named_job("audited_0")], two,
                                          [_named_job("audited_2")]])
    assert [o["transaction"]["requests"] for o in outcomes] == [3, 3, 3]
    entries = [e for e in store.audit_log(100) if e.action == "ingest"][::-1]  # oldest first
    assert [e.target for e in entries] == ["job:reporting/audited_0", None,
                                           "job:reporting/audited_2"]
    assert [e.detail["events"] for e in entries] == [1, 2, 1]
    assert entries[1].detail["jobs"] == ["reporting/audited_two_a", "reporting/audited_two_b"]
    assert {e.principal for e in entries} == {"writer"}
    assert len({e.at for e in entries}) == 1  # one transaction


def test_a_request_failing_inside_the_group_transaction_leaves_the_others_written(
        store: lineage.Store) -> None:
    first = event("run_start")
    lineage.openlineage.ingest(store, first)
    # a blank output name: valid JSON to the spec, refused by the mapping (no key), which
    # runs inside the group's write
    broken = copy.deepcopy(first)
    broken["job"]["name"] = "another_job"
    broken["outputs"][0]["name"] = "  "
    before = run_node(store, first["run"]["runId"]).properties
    writer, outcomes = _group_of(store, [[_named_job("survivor_0")], [broken],
                                         [_named_job("survivor_1")]])
    assert isinstance(outcomes[1], lineage.ValidationError), outcomes[1]
    assert "dataset name must be a non-empty string" in outcomes[1].message
    assert outcomes[0]["status"] == outcomes[2]["status"] == "accepted"
    assert writer.requests == 2  # written alone each, after the group rolled back
    assert {r.key for r in store.find("survivor_", [lineage.NodeKind.JOB], 100)} == {
        "job:reporting/survivor_0", "job:reporting/survivor_1"}
    assert not store.find("another_job", [lineage.NodeKind.JOB], 10)
    assert run_node(store, first["run"]["runId"]).properties == before


def test_every_acknowledged_event_survives_a_kill_of_the_server_and_a_replay_changes_nothing(
        store_url: str) -> None:
    """Group commit answers a request only once its transaction has committed: with the
    server (and its writer) killed by SIGKILL while producers send, every event answered
    2xx is in the store, and replaying every event sent changes nothing."""
    from tests.conftest import LINEAGE, free_port

    with lineage.connect(store_url) as store:
        secret = auth.create_token(store, "writer", ["write:lineage"])[1]
    port = free_port()
    server = subprocess.Popen([*LINEAGE, "--store", store_url, "serve", "--port", str(port),
                               "--log-level", "warning", "--no-access-log"],
                              start_new_session=True)  # its writer process dies with it
    base = f"http://127.0.0.1:{port}"
    acknowledged: list[tuple[str, str]] = []
    sent: list[dict[str, Any]] = []
    enough = threading.Event()
    lock = threading.Lock()

    def produce(p: int) -> None:
        try:
            send(p)
        finally:
            enough.set()  # a producer that stopped (the kill, or a failure) wakes the test

    def send(p: int) -> None:
        with httpx.Client(timeout=60, headers={"Authorization": f"Bearer {secret}"}) as c:
            for i in range(1000):
                run_id = f"0190d6f4-3c1e-7a5e-9b1e-{p:04d}{i:08d}"
                for name in ("run_start", "run_complete"):
                    e = event(name)
                    e["run"]["runId"] = run_id
                    e["job"]["name"] = f"killed_{p}"
                    for dataset in e.get("outputs", []):
                        # each run its own output version (the fixture's is one version
                        # for every run, which replays could reassign between them)
                        if "version" in dataset.get("facets", {}):
                            dataset["facets"]["version"]["datasetVersion"] = run_id
                    with lock:
                        sent.append(e)
                    try:
                        answer = c.post(base + "/api/v1/lineage", json=e)
                    except httpx.HTTPError:
                        return  # the server is gone
                    if answer.status_code == 201:
                        with lock:
                            acknowledged.append((run_id, e["eventType"]))
                            if len(acknowledged) >= 60:
                                enough.set()

    try:
        while True:
            try:
                httpx.get(base + "/api/v1/health", timeout=1)
                break
            except httpx.HTTPError:
                assert server.poll() is None, "lineage serve exited"
                time.sleep(0.1)
        producers = [threading.Thread(target=produce, args=(p,)) for p in range(4)]
        for t in producers:
            t.start()
        enough.wait()
        os.killpg(server.pid, signal.SIGKILL)  # mid-flight: requests still being sent
        server.wait()
        for t in producers:
            t.join()
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    assert len(acknowledged) >= 60
    with lineage.connect(store_url) as store:
        def key_of(run_id: str) -> str:  # producer p's runs are runs of job killed_{p}
            return run_key(run_id, f"job:airflow/killed_{int(run_id[24:28])}")

        runs = store.nodes(key_of(run_id) for run_id, _ in acknowledged)
        missing = [(r, kind) for r, kind in acknowledged
                   if kind not in runs.get(key_of(r), lineage.Node.model_construct(
                       properties={})).properties.get("states", {})]
        assert missing == []
        # replaying what was acknowledged changes nothing; what was in flight at the kill
        # may be written by a replay once, and then never again
        before = snapshot(store)
        acked = set(acknowledged)
        replay = [e for e in sent if (e["run"]["runId"], e["eventType"]) in acked]
        assert not lineage.openlineage.ingest(store, replay, principal="writer").applied.changed
        assert snapshot(store) == before
        lineage.openlineage.ingest(store, sent, principal="writer")
        after = snapshot(store)
        assert not lineage.openlineage.ingest(store, sent, principal="writer").applied.changed
        assert snapshot(store) == after


def test_a_writer_process_groups_concurrent_requests_and_a_large_one(store_url: str) -> None:
    """With the ingest writer in its own process: concurrent requests, one of them bad and
    one a batch of 1,200 events (it must not block the small ones' answers), each get their
    own answer; what they wrote, the audit log and the health counters add up."""
    def job_event(i: int) -> dict[str, Any]:
        e = event("job_event")
        e["job"]["name"] = f"proc_{i}"
        return e

    with lineage.connect(store_url) as store:
        secret = auth.create_token(store, "writer", ["write:lineage", "read"])[1]
        headers = {"Authorization": f"Bearer {secret}"}
        bad = job_event(999)
        bad["eventTime"] = "yesterday"
        requests: list[tuple[str, Any]] = [("/api/v1/lineage", job_event(i)) for i in range(40)]
        requests[17] = ("/api/v1/lineage", bad)
        requests.insert(5, ("/api/v1/lineage/batch", [job_event(1000 + i) for i in range(1200)]))
        with running(store_url, ServerSettings(ingest_process=True)) as base, \
                httpx.Client(timeout=120) as client, ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(
                lambda r: client.post(base + r[0], json=r[1], headers=headers), requests))
            health = client.get(base + "/api/v1/health").json()["ingest"]
        assert [a.status_code for a in answers].count(201) == 39, [a.text for a in answers]
        assert answers[5].status_code == 200 and answers[5].json()["events"] == 1200
        assert_error(answers[18], 400, "ValidationError")
        assert answers[18].json()["key"] == "eventTime"
        wanted = {f"job:reporting/proc_{i}" for i in [*range(40), *range(1000, 2200)]
                  if i != 17}
        assert {r.key for r in store.find("proc_", [lineage.NodeKind.JOB], 5000)} == wanted
        assert health["requests"] == 40 and 1 <= health["transactions"] <= 40
        audited = [e for e in store.audit_log(1000) if e.action == "ingest"]
        assert len(audited) == 40 and {e.principal for e in audited} == {"writer"}


# ------------------------------------------------------------------ who may do what


def test_requests_without_a_valid_token_get_401_as_json(served: Served) -> None:
    before = served.state()
    body = {"json": event("run_start")}
    for response in (
        served.post("/api/v1/lineage", who=None, **body),
        served.post("/api/v1/lineage", who=None, headers={"Authorization": "Bearer nope"},
                    **body),
        served.post("/api/v1/lineage", who=None, headers={"Authorization": "Basic dTpw"},
                    **body),
        served.post("/api/v1/lineage", who="revoked", **body),
        served.get("/api/v1/nodes", who=None),
        served.get("/api/v1/nodes", who="revoked"),
    ):
        assert_error(response, 401, "Unauthenticated")
        assert response.headers["www-authenticate"] == "Bearer"
        assert served.secrets["revoked"] not in response.text
    assert "revoked" in served.post("/api/v1/lineage", who="revoked", **body).json()["message"]
    assert served.state() == before


def test_a_token_revoked_while_serving_is_refused_once_the_token_cache_expires(
        store_url: str) -> None:
    ttl = 0.5
    with lineage.connect(store_url) as store:
        secret = auth.create_token(store, "soon-revoked", ["read"])[1]
        with running(store_url, ServerSettings(token_cache_seconds=ttl)) as base:
            headers = {"Authorization": f"Bearer {secret}"}
            assert httpx.get(f"{base}/api/v1/nodes", headers=headers).status_code == 200
            auth.revoke_token(store, "soon-revoked")
            # within the TTL the cached verification may still answer: not asserted
            time.sleep(ttl + 0.1)
            refused = httpx.get(f"{base}/api/v1/nodes", headers=headers)
            assert_error(refused, 401, "Unauthenticated", "revoked")


def test_a_token_without_the_scope_gets_403_as_json(served: Served) -> None:
    before = served.state()
    assert_error(served.post("/api/v1/lineage", who="reader", json=event("run_start")), 403,
                 "PermissionDenied", "lacks the write:lineage scope")
    assert_error(served.get("/api/v1/nodes", who="writer"), 403, "PermissionDenied",
                 "lacks the read scope")
    assert_error(served.get("/api/v1/audit", who="reader"), 403, "PermissionDenied")
    assert_error(served.post("/api/v1/assertions", who="admin", json={}), 403,
                 "PermissionDenied", "lacks the assert scope")
    assert served.state() == before
    # admin implies read and write:lineage
    assert served.get("/api/v1/nodes", who="admin").status_code == 200
    assert served.post("/api/v1/lineage", who="admin", json=event("job_event")).status_code \
        == 201


SCENARIO = """\
namespace: s3://ml-warehouse
datasets:
  - name: fraud.predictions
    fields:
      - {name: transaction_id, type: string}
      - {name: predicted_fraud, type: boolean, concept: fraud_label}
  - name: fraud.chargebacks
    fields:
      - {name: transaction_id, type: string}
      - {name: is_fraud, type: boolean, concept: fraud_label}
  - name: fraud.labels
    fields:
      - {name: transaction_id, type: string}
      - {name: is_fraud, type: boolean, concept: fraud_label}
models:
  - name: fraud
    versions:
      - {version: 2, outputs: [fraud.predictions.predicted_fraud]}
      - {version: 3}
"""
IDS = [f"t{i}" for i in range(6)]


def assertion(origin: str, **overrides: Any) -> dict[str, Any]:
    body = {"dataset": "fraud.predictions", "field": "predicted_fraud",
            "key": "transaction_id", "origin": origin, "agent": "fraud@2",
            "confidence_column": "score",
            "rows": [{"transaction_id": t, "predicted_fraud": i % 2 == 0, "score": 0.9}
                     for i, t in enumerate(IDS)]}
    return {**body, **overrides}


def record_predictions(served: Served) -> dict[str, Any]:
    """The scenario with fraud@2's predictions recorded (ai_inferred); the state then."""
    lineage.manifest.register_text(served.store, SCENARIO)
    assert served.post("/api/v1/assertions", who="scorer",
                       json=assertion("ai_inferred")).status_code == 201
    return served.state()


def test_an_inference_token_asserts_ai_inferred_and_never_human_labelled(
        served: Served) -> None:
    lineage.manifest.register_text(served.store, SCENARIO)
    before = served.state()

    for origin in ("human_labelled", "observed"):
        refused = served.post("/api/v1/assertions", who="scorer", json=assertion(origin))
        assert_error(refused, 403, "PermissionDenied", f"may not assert {origin}")
    assert served.state() == before

    accepted = served.post("/api/v1/assertions", who="scorer", json=assertion("ai_inferred"))
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["rows"] == 6 and accepted.json()["principal"] == "scorer"
    batch = served.store.assertion_batches()[0]
    assert (batch.origin.value, batch.principal, batch.rows) == ("ai_inferred", "scorer", 6)
    entry = served.store.audit_log(1)[0]
    assert (entry.principal, entry.action, entry.detail["origin"]) == (
        "scorer", "tag", "ai_inferred")

    human = assertion("human_labelled", agent="annotator/alice", confidence_column=None)
    assert served.post("/api/v1/assertions", who="labeller", json=human).status_code == 201
    assert_error(served.post("/api/v1/assertions", who="labeller",
                             json=assertion("human_labelled", field="nope")),
                 400, "ValidationError", "has no field 'nope'")
    assert_error(served.post("/api/v1/assertions", who="scorer",
                             json={**assertion("ai_inferred"), "rows": []}),
                 400, "ValidationError")


def test_the_training_check_reports_blocked_tables_with_200_and_passed_false(
        served: Served) -> None:
    lineage.manifest.register_text(served.store, SCENARIO)
    assert served.post("/api/v1/assertions", who="scorer",
                       json=assertion("ai_inferred")).status_code == 201
    chargebacks = {"dataset": "fraud.chargebacks", "field": "is_fraud",
                   "key": "transaction_id", "origin": "observed", "agent": "disputes",
                   "rows": [{"transaction_id": "t1", "is_fraud": True},
                            {"transaction_id": "t3", "is_fraud": False}]}
    assert served.post("/api/v1/assertions", who="observer",
                       json=chargebacks).status_code == 201
    before = served.state()

    laundered = [{"transaction_id": t, "is_fraud": i % 2 == 0} for i, t in enumerate(IDS)]
    blocked = served.post("/api/v1/training/check", who="reader", json={
        "rows": laundered, "key": "transaction_id", "label": "is_fraud",
        "dataset": "fraud.labels", "model": "fraud@3"})
    assert blocked.status_code == 200, blocked.text
    report = blocked.json()
    # t3's label is also what the disputes system observed; t1's contradicts what it
    # observed; the other four only fraud@2 said
    assert report["passed"] is False
    assert (report["counts"]["ai_only"], report["counts"]["contradicted"],
            report["counts"]["ground_truth"]) == (4, 1, 1)
    assert report["summary"].startswith("blocked")

    confirmed = [{"transaction_id": "t1", "is_fraud": True},
                 {"transaction_id": "t3", "is_fraud": False}]
    ok = served.post("/api/v1/training/check", who="reader", json={
        "rows": confirmed, "key": "transaction_id", "label": "is_fraud",
        "dataset": "fraud.labels"})
    assert ok.json()["passed"] is True and ok.json()["counts"]["ground_truth"] == 2

    # the same table as a Parquet upload, and as CSV, with a policy
    parquet = io.BytesIO()
    # without t1, whose label contradicts what disputes observed: no policy allows that
    pl.DataFrame([r for r in laundered if r["transaction_id"] != "t1"]).write_parquet(parquet)
    upload = served.post("/api/v1/training/check", who="reader", files={
        "table": ("train.parquet", parquet.getvalue(), "application/vnd.apache.parquet")},
        data={"key": "transaction_id", "label": "is_fraud", "dataset": "fraud.labels",
              "policy": json.dumps({"allow_ai_above": 0.8})})
    assert upload.status_code == 200, upload.text
    assert upload.json()["passed"] is True and upload.json()["counts"]["pseudo_label"] == 4
    csv = served.post("/api/v1/training/check", who="reader", files={
        "table": ("train.csv", b"transaction_id,is_fraud\nt1,true\nt3,false\n", "text/csv")},
        data={"key": "transaction_id", "label": "is_fraud", "dataset": "fraud.labels"})
    assert csv.json()["passed"] is True

    assert_error(served.post("/api/v1/training/check", who="reader", files={
        "table": ("train.parquet", b"not parquet", "application/octet-stream")},
        data={"key": "transaction_id", "label": "is_fraud"}), 400, "ValidationError",
        "cannot read parquet")
    assert_error(served.post("/api/v1/training/check", who="reader", json={
        "rows": confirmed, "key": "transaction_id", "label": "fraud"}), 400,
        "ValidationError", "no column 'fraud'")
    assert_error(served.post("/api/v1/training/check", who="reader", json={
        "rows": confirmed, "key": "transaction_id", "label": "is_fraud",
        "policy": {"unverified": "maybe"}}), 400, "ValidationError", "policy unverified")
    assert served.state() == before  # the check reads only


def test_the_training_check_maps_a_renamed_label_to_a_concept_as_the_cli_does(
        served: Served) -> None:
    before = record_predictions(served)
    # the predictions exported under a generic name: tied to fraud_label only when told
    renamed = [{"transaction_id": t, "y": i % 2 == 0} for i, t in enumerate(IDS)]
    body = {"rows": renamed, "key": "transaction_id", "label": "y"}
    for concept in ("fraud_label", {"y": "fraud_label"}):
        mapped = served.post("/api/v1/training/check", who="reader",
                             json={**body, "concept": concept})
        assert mapped.status_code == 200, mapped.text
        report = mapped.json()
        assert report["passed"] is False and report["counts"]["ai_only"] == 6
        assert report["matched"] == {"y": {"concepts": ["fraud_label"],
                                           "matched_by": "explicit"}}
    csv = "transaction_id,y\n" + "".join(f"{t},{str(i % 2 == 0).lower()}\n"
                                           for i, t in enumerate(IDS))
    upload = served.post("/api/v1/training/check", who="reader", files={
        "table": ("train.csv", csv.encode(), "text/csv")},
        data={"key": "transaction_id", "label": "y", "concept": "y=fraud_label"})
    assert upload.status_code == 200, upload.text
    assert upload.json()["matched"]["y"]["matched_by"] == "explicit"
    assert upload.json()["counts"]["ai_only"] == 6

    assert_error(served.post("/api/v1/training/check", who="reader", json={
        **body, "concept": {"label": "fraud_label"}}), 400, "ValidationError",
        "not a label column")
    assert_error(served.post("/api/v1/training/check", who="reader", json={
        **body, "concept": {"y": ""}}), 400, "ValidationError", "non-empty name")
    assert_error(served.post("/api/v1/training/check", who="reader", json={
        **body, "concept": 7}), 400, "ValidationError")
    assert_error(served.post("/api/v1/training/check", who="reader", files={
        "table": ("train.csv", csv.encode(), "text/csv")},
        data={"key": "transaction_id", "label": "y", "concept": "y="}), 400,
        "ValidationError", "expected CONCEPT or COLUMN=CONCEPT")
    assert_error(served.post("/api/v1/training/check", who="reader", json={
        **body, "concept": "fraud_lable"}), 404, "NotFound", "fraud_label")
    assert served.state() == before  # the check reads only


def test_the_training_check_reads_ndjson_and_arrow_uploads_as_the_json_rows(
        served: Served) -> None:
    before = record_predictions(served)
    laundered = pl.DataFrame([{"transaction_id": t, "is_fraud": i % 2 == 0}
                              for i, t in enumerate(IDS)])
    form = {"key": "transaction_id", "label": "is_fraud", "dataset": "fraud.labels"}
    rows = served.post("/api/v1/training/check", who="reader",
                       json={**form, "rows": laundered.to_dicts()})
    assert rows.status_code == 200, rows.text
    assert rows.json()["counts"]["ai_only"] == 6

    ndjson, arrow_file, arrow_stream = io.BytesIO(), io.BytesIO(), io.BytesIO()
    laundered.write_ndjson(ndjson)
    laundered.write_ipc(arrow_file)
    laundered.write_ipc_stream(arrow_stream)
    uploads = {  # by file name, and by media type alone
        "ndjson": ("train.ndjson", ndjson.getvalue(), "application/octet-stream"),
        "jsonl by type": ("train", ndjson.getvalue(), "application/x-ndjson"),
        "arrow file": ("train.arrow", arrow_file.getvalue(), "application/octet-stream"),
        "arrow stream by type": ("train", arrow_stream.getvalue(),
                                 "application/vnd.apache.arrow.stream")}
    for what, upload in uploads.items():
        checked = served.post("/api/v1/training/check", who="reader",
                              files={"table": upload}, data=form)
        assert checked.status_code == 200, (what, checked.text)
        assert checked.json() == rows.json(), what
    assert served.state() == before  # the check reads only


def test_an_unreadable_training_upload_is_refused_as_the_data_health_routes_refuse_it(
        served: Served) -> None:
    lineage.manifest.register_text(served.store, SCENARIO)
    before = served.state()
    bad = {  # upload -> (status, error, message)
        ("train.ndjson", b'{"transaction_id": "t1", "is_fraud": tru', "application/x-ndjson"):
            (400, "ValidationError", "cannot read ndjson"),
        ("train.arrow", b"ARROW1 but not Arrow", "application/octet-stream"):
            (400, "ValidationError", "cannot read ipc"),
        ("train.csv", b"transaction_id,is_fraud\n\xff\xfe,true\n", "text/csv"):
            (400, "ValidationError", "not UTF-8 text"),
        ("train.xlsx", b"PK..", "application/octet-stream"):
            (415, "UnsupportedMediaType", "cannot tell the format of the upload 'train.xlsx'"),
    }
    for upload, (status, error, message) in bad.items():
        checked = assert_error(served.post(
            "/api/v1/training/check", who="reader", files={"table": upload},
            data={"key": "transaction_id", "label": "is_fraud", "dataset": "fraud.labels"}),
            status, error, message)
        validated = assert_error(served.post(
            "/api/v1/validate", who="reader", files={"table": upload},
            data={"dataset": "fraud.labels"}), status, error, message)
        assert checked == validated, upload[0]  # one reader, one answer
    assert_error(served.post("/api/v1/training/check", who="reader", files={
        "other": ("train.csv", b"transaction_id,is_fraud\nt1,true\n", "text/csv")},
        data={"key": "transaction_id", "label": "is_fraud"}), 400, "ValidationError",
        "file field 'table'")
    assert served.state() == before


# ------------------------------------------------------------------ bad input


def test_malformed_json_is_a_400_naming_where(served: Served) -> None:
    before = served.state()
    body = assert_error(served.post("/api/v1/lineage", content=b'{"eventType": "START",\n  ',
                                    headers={"Content-Type": "application/json"}),
                        400, "ValidationError", "malformed JSON")
    assert "line 2 column 3" in body["message"] and body["line"] == 2
    assert_error(served.post("/api/v1/lineage", content=b'{"a": NaN}',
                             headers={"Content-Type": "application/json"}), 400,
                 "ValidationError", "NaN")
    assert_error(served.post("/api/v1/lineage", content=b"\xff\xfe{}",
                             headers={"Content-Type": "application/json"}), 400,
                 "ValidationError", "not UTF-8")
    deep = b'{"a":' * 200 + b"1" + b"}" * 200
    assert_error(served.post("/api/v1/lineage", content=deep,
                             headers={"Content-Type": "application/json"}), 400,
                 "ValidationError", "nested deeper")
    assert served.state() == before


def test_a_schema_violation_is_a_400_whose_key_is_the_json_path(served: Served) -> None:
    before = served.state()
    bad_id = {**event("run_start"), "run": {"runId": "not-a-uuid"}}
    assert assert_error(served.post("/api/v1/lineage", json=bad_id), 400,
                        "ValidationError")["key"] == "run.runId"
    bad_time = {**event("run_start"), "eventTime": 5}
    assert assert_error(served.post("/api/v1/lineage", json=bad_time), 400,
                        "ValidationError")["key"] == "eventTime"
    nul = event("run_start")
    nul["job"]["name"] = "etl\u0000drop"
    assert assert_error(served.post("/api/v1/lineage", json=nul), 400,
                        "ValidationError", "NUL")["key"] == "job.name"
    assert assert_error(served.post("/api/v1/lineage", json=[event("run_start"), nul]), 400,
                        "ValidationError", "event 2 of 2")["key"] == "job.name"
    assert served.state() == before


def test_escapes_in_a_raw_body_are_checked_wherever_they_sit_and_plain_text_is_kept(
        served: Served) -> None:
    # The writer skips the walk for values the store cannot hold when the raw body has no
    # backslash-u escape (only an escape can spell NUL or a lone surrogate): every escape
    # must still be found, in a facet key as in a value, and a body of plain text with a
    # literal backslash-u in it is stored as sent.
    before = served.state()
    headers = {"Content-Type": "application/json"}
    for fragment, key in (('"k\\u0000": 1', "run.facets.x"),
                          ('"v": "a\\udc80"', "run.facets.x.v")):
        sent = event("run_start")
        sent["run"].setdefault("facets", {})["x"] = {"_producer": "p", "_schemaURL": "s",
                                                     "slot": 1}
        body = json.dumps(sent).replace('"slot": 1', fragment)
        refused = assert_error(served.post("/api/v1/lineage", content=body.encode(),
                                           headers=headers), 400, "ValidationError")
        assert refused["key"] == key, refused
    assert served.state() == before
    literal = event("run_start")
    literal["job"]["name"] = "etl\\u0000name"  # a backslash and "u0000", not NUL
    literal["run"]["runId"] = "0190f1f1-0000-7000-8000-000000000001"  # its job's own run
    assert served.post("/api/v1/lineage", json=literal).status_code == 201
    raw = json.dumps(event("run_complete")).encode()
    assert b"\\u" not in raw
    assert served.post("/api/v1/lineage", content=raw, headers=headers).status_code == 201


def test_an_oversized_body_is_refused_with_413_before_it_is_read_whole(
        served: Served) -> None:
    before = served.state()
    big = event("run_start")
    big["job"]["facets"] = {"padding": {"_producer": "x", "_schemaURL": "y",
                                        "blob": "x" * (MAX_BODY * 3)}}
    data = json.dumps(big).encode()
    declared = served.post("/api/v1/lineage", content=data,
                           headers={"Content-Type": "application/json"})
    assert_error(declared, 413, "PayloadTooLarge", f"at most {MAX_BODY:,}")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the stream is counted
        for i in range(0, len(data), 8192):
            yield data[i:i + 8192]

    streamed = served.post("/api/v1/lineage", content=chunks(),
                           headers={"Content-Type": "application/json"})
    assert_error(streamed, 413, "PayloadTooLarge", "exceeds")
    bomb = gzip.compress(b"[" + b" " * (MAX_BODY * 20) + b"]")
    assert len(bomb) < MAX_BODY
    assert_error(served.post("/api/v1/lineage", content=bomb, headers={
        "Content-Type": "application/json", "Content-Encoding": "gzip"}), 413,
        "PayloadTooLarge", "decompresses")
    assert_error(served.post("/api/v1/lineage", content=b"\x1f\x8b not gzip", headers={
        "Content-Type": "application/json", "Content-Encoding": "gzip"}), 400,
        "ValidationError", "gzip")
    assert served.state() == before


def test_json_endpoints_refuse_other_content_types_with_415(served: Served) -> None:
    before = served.state()
    text = json.dumps(event("run_start")).encode()
    for headers in ({"Content-Type": "text/plain"}, {},
                    {"Content-Type": "application/x-www-form-urlencoded"},
                    {"Content-Type": "application/json", "Content-Encoding": "br"}):
        assert_error(served.post("/api/v1/lineage", content=text, headers=headers), 415,
                     "UnsupportedMediaType")
    assert_error(served.post("/api/v1/assertions", who="scorer", content=b"a,b\n1,2\n",
                             headers={"Content-Type": "text/csv"}), 415,
                 "UnsupportedMediaType")
    # a structured +json type is JSON
    vendor = served.post("/api/v1/lineage", content=text,
                         headers={"Content-Type": "application/vnd.openlineage+json"})
    assert vendor.status_code == 201
    assert served.state() != before


def test_the_fast_ingest_route_and_the_writer_process_answer_exactly_as_the_fastapi_route(
        tmp_path: Path) -> None:
    """POST /api/v1/lineage is answered ahead of FastAPI (`_LineageApp`); behind a root_path
    the FastAPI route answers instead; with `ingest_process` the writer is another process
    (its errors cross a pipe as answers). The same requests to the three, each over a fresh
    store, get the same status, headers and JSON body, and leave the same graph."""
    start, complete = event("run_start"), event("run_complete")
    bad_id = {**start, "run": {"runId": "not-a-uuid"}}
    bad_facet = {**complete, "job": {**complete["job"], "facets": {"sourceCode": {
        "_producer": "x", "_schemaURL": "y", "language": "python"}}}}
    big = {**start, "job": {**start["job"], "facets": {"pad": {
        "_producer": "x", "_schemaURL": "y", "blob": "x" * MAX_BODY}}}}
    json_type = {"Content-Type": "application/json"}
    requests: list[tuple[str | None, dict[str, Any]]] = [
        ("writer", {"json": start}),
        ("writer", {"json": start}),                                  # a duplicate
        ("writer", {"json": [start, complete]}),
        ("writer", {"content": gzip.compress(json.dumps(complete).encode()),
                    "headers": {**json_type, "Content-Encoding": "gzip"}}),
        (None, {"json": start}),                                      # 401
        ("revoked", {"json": start}),                                 # 401
        ("reader", {"json": start}),                                  # 403
        ("writer", {"content": b"{}", "headers": {"Content-Type": "text/plain"}}),  # 415
        ("writer", {"content": b"{}", "headers": {**json_type, "Content-Encoding": "br"}}),
        ("writer", {"content": json.dumps(big).encode(), "headers": json_type}),    # 413
        ("writer", {"content": b'{"eventType": ', "headers": json_type}),           # 400
        ("writer", {"json": bad_id}),                                               # 400
        ("writer", {"json": [start, 5]}),                                           # 400
        ("writer", {"json": bad_facet}),                           # 201, facet dropped
    ]
    answers, graphs = [], []
    setups = [("", False), ("/behind/a/proxy", False), ("", True)]
    for number, (root_path, process) in enumerate(setups):
        url = f"sqlite:///{tmp_path}/store{number}.db"
        with lineage.connect(url) as store:
            secrets = {name: auth.create_token(store, name, scopes, origins)[1]
                       for name, (scopes, origins) in TOKENS.items()}
            auth.revoke_token(store, "revoked")
            settings = ServerSettings(max_body_bytes=MAX_BODY, ingest_process=process)
            with running(url, settings, root_path) as base, \
                    httpx.Client(timeout=30) as client:
                got = []
                for who, kwargs in requests:
                    headers = {**({} if who is None else
                                  {"Authorization": f"Bearer {secrets[who]}"}),
                               **kwargs.get("headers", {})}
                    response = client.post(base + "/api/v1/lineage", headers=headers,
                                           **{k: v for k, v in kwargs.items() if k != "headers"})
                    got.append((response.status_code, response.headers.get("content-type"),
                                response.headers.get("www-authenticate"), response.json()))
                answers.append(got)
            graphs.append(snapshot(store))
    statuses = [a[0] for a in answers[0]]
    assert statuses == [201, 201, 201, 201, 401, 401, 403, 415, 415, 413, 400, 400, 400, 201]
    assert answers[0][-1][3]["dropped_facets"] == [{
        "event": 0, "path": "job.facets.sourceCode", "facet": "sourceCode",
        "reason": "sourceCode: is required but missing"}]
    for fast, routed, in_process in zip(*answers, strict=True):
        assert fast == routed == in_process
    assert graphs[0] == graphs[1] == graphs[2]


def test_a_dead_writer_process_is_started_again_and_one_that_cannot_stay_up_gives_503(
        tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/store.db"
    with lineage.connect(url) as store:
        secret = auth.create_token(store, "writer", ["write:lineage", "read"])[1]
    headers = {"Authorization": f"Bearer {secret}"}
    start, complete = event("run_start"), event("run_complete")
    app = create_app(url, ServerSettings(ingest_process=True))
    with running(app, None) as base, httpx.Client(timeout=30) as client:
        def post(body: dict[str, Any]) -> httpx.Response:
            return client.post(base + "/api/v1/lineage", json=body, headers=headers)

        def after_a_kill(want: int, saying: str = "") -> httpx.Response:
            """Kill the writer process; post until the server answers `want` with a body
            `saying` that (503s come first: a request sent into the broken pipe before
            the server notices, then while a new process starts)."""
            process = app.state.writer._process
            process.kill()
            process.join(10)
            deadline = time.monotonic() + 30
            while True:
                answer = post(complete)
                if (answer.status_code == want and saying in answer.text
                        or time.monotonic() > deadline):
                    return answer
                assert answer.status_code in (201, 503), answer.text
                time.sleep(0.05)

        assert post(start).status_code == 201
        health = client.get(base + "/api/v1/health").json()
        assert (health["ingest"]["transactions"], health["ingest"]["requests"]) == (1, 1)
        # Ctrl-C in a terminal signals the whole process group: the writer keeps going
        os.kill(app.state.writer._process.pid, signal.SIGINT)
        time.sleep(0.2)
        assert post(start).status_code == 201
        # a process that had run long enough is started again; counting goes on
        app.state.writer.restart_after_seconds = 0
        assert after_a_kill(201).status_code == 201
        assert client.get(base + "/api/v1/health").json()["ingest"]["requests"] == 3
        # one that dies sooner is left stopped: 503 saying so, and reads go on
        app.state.writer.restart_after_seconds = 3600
        answer = after_a_kill(503, "restart the server")
        assert_error(answer, 503, "StoreError", "s after it started; restart the server")
        assert post(start).status_code == 503
        assert client.get(base + "/api/v1/nodes", params={"q": "order_facts"},
                          headers=headers).status_code == 200
    with lineage.connect(url) as store:  # START, and the COMPLETE the new process wrote
        run = run_node(store, start["run"]["runId"])
        assert run.properties["states"].keys() == {"START", "COMPLETE"}


def _ingest_bodies() -> list[tuple[str, Any]]:
    """One event, a large array (> 64 KB, once parsed in a worker thread of the server)
    and a batch, each to its endpoint."""
    many = []
    for i in range(150):
        e = event("run_complete")
        e["run"]["runId"] = f"0190d6f4-3c1e-7a5e-9b1e-{i:012d}"
        many.append(e)
    assert len(json.dumps(many)) > 64 * 1024
    return [("/api/v1/lineage", event("run_start")), ("/api/v1/lineage", many),
            ("/api/v1/lineage/batch", {"events": [event("job_event")]})]


def test_ingest_bodies_are_parsed_by_the_writer_thread_never_on_the_event_loop(
        store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # A large body's parse holds the interpreter for up to a second (issue 15): the route
    # hands the raw bytes to the ingest writer, which parses them.
    parsed_in: list[str] = []
    real = lineage.server._http.parse_json

    def spy(body: bytes) -> Any:
        parsed_in.append(threading.current_thread().name)
        return real(body)

    monkeypatch.setattr(lineage.server._http, "parse_json", spy)
    with running(store_url, ServerSettings(auth=False, ingest_process=False)) as base, \
            httpx.Client(timeout=120) as client:
        answers = [client.post(base + path, json=body) for path, body in _ingest_bodies()]
    assert [a.status_code for a in answers] == [201, 201, 200], [a.text for a in answers]
    assert parsed_in == ["lineage-ingest-writer"] * 3
    with lineage.connect(store_url) as store:
        assert run_node(store, "0190d6f4-3c1e-7a5e-9b1e-000000000149").properties["state"] == \
            "COMPLETE"
        assert store.node("job:reporting/export_summary")


def test_a_writer_process_gets_the_raw_bodies_and_the_server_process_parses_none(
        sql_store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[bytes] = []
    real = lineage.server._http.parse_json
    monkeypatch.setattr(lineage.server._http, "parse_json",
                        lambda body: parsed.append(body) or real(body))
    bad = event("run_start")
    bad["eventTime"] = "yesterday"
    with running(sql_store_url, ServerSettings(auth=False, ingest_process=True)) as base, \
            httpx.Client(timeout=120) as client:
        answers = [client.post(base + path, json=body) for path, body in _ingest_bodies()]
        refused = client.post(base + "/api/v1/lineage", content=b'{"run": [1, 2',
                              headers={"Content-Type": "application/json"})
        invalid = client.post(base + "/api/v1/lineage", json=bad)
    assert [a.status_code for a in answers] == [201, 201, 200], [a.text for a in answers]
    # errors found in the writer process answer as the route did
    assert_error(refused, 400, "ValidationError", "malformed JSON")
    assert assert_error(invalid, 400, "ValidationError")["key"] == "eventTime"
    assert parsed == []  # nothing of the bodies was read in the server's process
    with lineage.connect(sql_store_url) as store:
        assert run_node(store, "0190d6f4-3c1e-7a5e-9b1e-000000000149").properties["state"] == \
            "COMPLETE"


def test_a_writer_process_needs_a_store_another_process_can_open() -> None:
    async def start(app: FastAPI) -> None:
        async with app.router.lifespan_context(app):
            pass

    with lineage.connect("sqlite://") as store, pytest.raises(
            lineage.ValidationError, match="in this process's memory"):
        asyncio.run(start(create_app(store, ServerSettings(ingest_process=True))))


def test_read_errors_are_json_404_409_and_400(served: Served) -> None:
    served.post("/api/v1/lineage", json=[event("run_start"), event("run_complete")])
    missing = assert_error(served.get("/api/v1/nodes/order_facts.totl_amount"), 404,
                           "NotFound", "did you mean")
    assert missing["suggestions"]
    ambiguous = assert_error(served.get("/api/v1/nodes/id"), 409, "AmbiguousName")
    assert len(ambiguous["candidates"]) >= 2
    assert_error(served.get("/api/v1/impact", params={"field": "order_facts.order_id",
                                                      "depth": "deep"}), 400,
                 "ValidationError")
    assert_error(served.get("/api/v1/impact", params={"field": "order_facts.order_id",
                                                      "change": ["explode"]}), 400,
                 "ValidationError")
    assert_error(served.get("/api/v1/nodes", params={"kind": "table"}), 400,
                 "ValidationError")
    assert_error(served.get("/api/v1/nowhere"), 404, "NotFound")
    assert_error(served.client.delete(served.base + "/api/v1/lineage"), 405,
                 "MethodNotAllowed")
    summary = served.get("/api/v1/provenance/order_facts")
    assert summary.status_code == 200
    assert {f["total"] for f in summary.json()["fields"]} == {0}


def _with_bad_facets() -> dict[str, Any]:
    """A COMPLETE event as a Spark producer sends it: a processing_engine facet without its
    version, an errorMessage with a null stackTrace, a naive eventTime, no schemaURL."""
    sent = event("run_complete")
    sent["eventTime"] = "2024-05-01T02:10:00"
    del sent["schemaURL"]
    sent["run"]["facets"]["processing_engine"] = {
        "_producer": "https://github.com/OpenLineage/OpenLineage/tree/1.20.0/integration/spark",
        "_schemaURL": "https://openlineage.io/spec/facets/1-1-1/ProcessingEngineRunFacet.json",
        "name": "spark"}
    sent["run"]["facets"]["errorMessage"] = {
        "_producer": "p", "_schemaURL": "s", "message": "retried", "programmingLanguage": "JAVA",
        "stackTrace": None}
    return sent


def test_an_invalid_facet_is_dropped_reported_audited_and_counted(served: Served) -> None:
    answer = served.post("/api/v1/lineage", json=_with_bad_facets())
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["dropped_facets"] == [{
        "event": 0, "path": "run.facets.processing_engine", "facet": "processing_engine",
        "reason": "version: is required but missing"}]
    assert [w["path"] for w in body["warnings"]] == [
        "eventTime", "schemaURL", "run.facets.errorMessage.stackTrace"]
    run = run_node(served.store, "0190d6f4-3c1e-7a5e-9b1e-3f0a2c4d5e6f").properties
    assert run["state"] == "COMPLETE" and run["error_message"] == "retried"
    assert run["states"] == {"COMPLETE": "2024-05-01T02:10:00Z"}

    entry = served.get("/api/v1/audit", who="admin", params={"limit": 1}).json()["entries"][0]
    assert entry["action"] == "ingest"
    assert entry["detail"]["dropped_facets"] == body["dropped_facets"]
    health = served.get("/api/v1/health", who=None).json()["ingest"]
    assert (health["dropped_facets"], health["events_with_dropped_facets"],
            health["warnings"], health["strict"]) == (1, 1, 3, False)


def test_what_an_event_says_that_is_not_stored_is_in_its_answer(served: Served) -> None:
    # job-to-job lineage (the spec's LineageFacet) has no place in the store: the answer of
    # the request that sent it says so, not only a log
    declared = event("job_event")
    declared["job"]["facets"]["lineage"] = {
        "_producer": "https://example.com/orchestrator",
        "_schemaURL": "https://openlineage.io/spec/facets/1-0-0/LineageFacet.json"
                      "#/$defs/LineageJobFacet",
        "entries": [{"type": "JOB", "inputs": [
            {"type": "JOB", "namespace": "airflow", "name": "daily.transform"}]}]}
    answer = served.post("/api/v1/lineage", json=declared)
    assert answer.status_code == 201, answer.text
    assert answer.json()["warnings"] == [{
        "event": 0, "path": "job.facets.lineage.entries[0].inputs[0]",
        "message": "job-to-job lineage is not stored: the store links jobs through the "
                   "datasets between them"}]


def test_a_strict_server_rejects_an_event_with_an_invalid_facet(sqlite_url: str) -> None:
    with lineage.connect(sqlite_url) as store, \
            running(sqlite_url, ServerSettings(auth=False, strict=True)) as base:
        refused = httpx.post(base + "/api/v1/lineage", json=_with_bad_facets(), timeout=30)
        body = assert_error(refused, 400, "ValidationError")
        assert body["key"] == "schemaURL"
        assert store.find("", limit=10) == []
        assert httpx.get(base + "/api/v1/health").json()["ingest"]["strict"] is True


def test_every_write_is_in_the_audit_log_with_its_principal(served: Served) -> None:
    lineage.manifest.register_text(served.store, SCENARIO)
    served.post("/api/v1/lineage", json=event("job_event"))
    served.post("/api/v1/assertions", who="scorer", json=assertion("ai_inferred"))
    auth.create_token(served.store, "new", ["read"], principal="ops")
    served.post("/api/v1/lineage", json={"not": "an event"})  # refused: not a write

    log = served.get("/api/v1/audit", who="admin", params={"limit": 4}).json()["entries"]
    assert [(e["principal"], e["action"]) for e in log] == [
        ("ops", "token.create"), ("scorer", "tag"), ("writer", "ingest"),
        ("local", "token.revoke")]
    assert log[2]["target"].startswith("job:") and log[2]["detail"]["events"] == 1
    assert_error(served.get("/api/v1/audit", who="admin", params={"since": "2024-01-01"}),
                 400, "ValidationError")


def test_openapi_and_docs_are_served(served: Served) -> None:
    spec = served.get("/openapi.json", who=None).json()
    for path in ("/api/v1/lineage", "/api/v1/lineage/batch", "/api/v1/nodes",
                 "/api/v1/nodes/{name}", "/api/v1/lineage/graph", "/api/v1/impact",
                 "/api/v1/provenance/{dataset}", "/api/v1/training/check",
                 "/api/v1/assertions", "/api/v1/audit"):
        assert path in spec["paths"], path
    assert "token" in spec["components"]["securitySchemes"]
    assert "401" in spec["paths"]["/api/v1/lineage"]["post"]["responses"]
    docs = served.get("/docs", who=None)
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


# ------------------------------------------------------------------ fuzz


def _json_values() -> st.SearchStrategy[Any]:
    leaves = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
              | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20))
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                        max_leaves=15)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _paths(v, (*prefix, i))
    return found


@st.composite
def mutated_events(draw: st.DrawFn) -> bytes:
    base = event(draw(st.sampled_from(["run_start", "run_complete", "run_fail",
                                       "dataset_event", "job_event"])))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(base) if p]
        path = draw(st.sampled_from(paths))
        parent = base
        for part in path[:-1]:
            parent = parent[part]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(_json_values())
        if not isinstance(base, dict):
            break
    return json.dumps(base).encode()


BODIES = st.one_of(
    mutated_events(),
    _json_values().map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=64),
    st.lists(mutated_events(), min_size=1, max_size=3).map(
        lambda items: b"[" + b",".join(items) + b"]"),
)


@settings(max_examples=50, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=BODIES, gzipped=st.booleans())
def test_fuzzed_ingest_never_answers_5xx_and_never_half_writes(served: Served, body: bytes,
                                                               gzipped: bool) -> None:
    before = served.state()
    headers = {"Content-Type": "application/json"}
    if gzipped:
        body, headers["Content-Encoding"] = gzip.compress(body), "gzip"
    response = served.post("/api/v1/lineage", content=body, headers=headers)

    assert response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/json")
    if response.status_code != 201:
        assert response.status_code in (400, 413, 415), response.text
        assert response.json()["error"] and response.json()["message"]
        assert served.state() == before


# ------------------------------------------------------------------ exposure and `serve`


def test_serving_without_auth_is_refused_beyond_loopback() -> None:
    for host in ("127.0.0.1", "127.8.0.1", "::1", "[::1]", "localhost"):
        assert is_loopback(host)
        check_exposure(host, auth=False)
    for host in ("0.0.0.0", "::", "10.0.0.5", "lineage.internal"):
        assert not is_loopback(host)
        with pytest.raises(lineage.ValidationError, match="insecure-no-auth-on-network"):
            check_exposure(host, auth=False)
        check_exposure(host, auth=True)
        check_exposure(host, auth=False, allow_network_without_auth=True)


def test_no_auth_serves_every_request_as_anonymous(sqlite_url: str) -> None:
    with running(sqlite_url, ServerSettings(auth=False)) as base:
        posted = httpx.post(f"{base}/api/v1/lineage", json=event("job_event"))
        assert posted.status_code == 201
        assert httpx.get(f"{base}/api/v1/nodes").status_code == 200
    with lineage.connect(sqlite_url) as store:
        assert store.audit_log()[0].principal == "anonymous"


def test_lineage_serve_refuses_no_auth_on_a_network_address(sqlite_url: str) -> None:
    from click.testing import CliRunner

    from tests.test_auth import cli_with_my_commands

    result = CliRunner().invoke(cli_with_my_commands(), [
        "--store", sqlite_url, "serve", "--no-auth", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "refusing to serve without authentication on 0.0.0.0" in result.output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


LAUNCH = ("import sys; from lineage_cli.main import cli; from lineage_cli.serve import serve; "
          "cli.commands.get('serve') or cli.add_command(serve); "
          "cli(sys.argv[1:], prog_name='lineage')")


@pytest.mark.parametrize("workers", [1, 2])
def test_lineage_serve_in_a_subprocess_takes_events_from_the_client(
        store_url: str, workers: int) -> None:
    with lineage.connect(store_url) as store:
        _info, secret = auth.create_token(store, "etl", ["write:lineage", "read"])
    port = _free_port()
    # the installed `lineage` command, once cli/main.py registers `serve`
    listed = subprocess.run(["lineage", "--help"], capture_output=True, text=True)
    registered = listed.returncode == 0 and "\n  serve " in listed.stdout
    command = ["lineage"] if registered and workers == 1 else [sys.executable, "-c", LAUNCH]
    process = subprocess.Popen([*command, "--store", store_url, "serve", "--port", str(port),
                                "--log-level", "warning", *(["--workers", str(workers)]
                                                            if workers > 1 else [])],
                               env={**os.environ})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/api/v1/health", timeout=1)
                break
            except httpx.HTTPError:
                assert process.poll() is None, "lineage serve exited"
                assert time.monotonic() < deadline, "lineage serve did not start"
                time.sleep(0.1)
        headers = {"Authorization": f"Bearer {secret}"}
        posted = httpx.post(f"{base}/api/v1/lineage", json=event("run_complete"),
                            headers=headers)
        assert posted.status_code == 201, posted.text
        nodes = httpx.get(f"{base}/api/v1/nodes", params={"q": "order_facts"},
                          headers=headers).json()["nodes"]
        assert "dataset:postgres://db.prod:5432/analytics.order_facts" in [
            n["key"] for n in nodes]
    finally:
        process.terminate()
        process.wait(30)
    assert process.returncode in (0, -15)


def test_several_workers_need_a_store_url(store: lineage.Store) -> None:
    # each worker process opens its own connections; a Store object cannot cross a fork
    with pytest.raises(lineage.ValidationError, match="URL"):
        serve(store, workers=2)
    with pytest.raises(lineage.ValidationError, match="at least 1"):
        serve(store, workers=0)
