"""Hostile input against a real server on 127.0.0.1: what a client with a valid token can
send must be answered 4xx with nothing written, and must not stall the event loop for
anybody else (issue 15)."""

from __future__ import annotations

import gzip
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lineage
import lineage.export
import lineage.notify
import tests.test_server
from lineage import _keys as keys
from lineage import auth
from lineage.notify import Backoff, NotifySettings, deliver
from lineage.server import ServerSettings
from lineage_cli.main import cli
from tests.conftest import snapshot
from tests.test_notify import SECRET, Receiver, add_consumer, specs, webhook
from tests.test_server import SCENARIO, Served, assert_error, assertion, running

served = tests.test_server.served  # the fixture: a server over each backend, with tokens


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


# ------------------------------------------------------------------ item 1: deep bodies


def test_deeply_nested_rows_are_refused_with_400_at_every_json_endpoint(
        served: Served) -> None:
    lineage.manifest.register_text(served.store, SCENARIO)
    before = served.state()
    for depth in (65, 800, 900):
        rows = [{"transaction_id": "t1", "predicted_fraud": nested(depth), "score": 0.9}]
        body = json.dumps({**assertion("ai_inferred"), "rows": rows})
        assert len(body) < 10_000  # small: the depth, not the size, is the attack
        refused = served.post("/api/v1/assertions", who="scorer", content=body,
                              headers={"Content-Type": "application/json"})
        assert_error(refused, 400, "ValidationError", "nested deeper than 64")
        check = {"rows": rows, "key": "transaction_id", "label": "predicted_fraud"}
        refused = served.post("/api/v1/training/check", who="reader", json=check)
        assert_error(refused, 400, "ValidationError", "nested deeper than 64")
        refused = served.post("/api/v1/lineage", json={"eventType": "START",
                                                       "x": nested(depth)})
        assert_error(refused, 400, "ValidationError", "nested deeper than 64")
    assert served.state() == before


def test_table_cells_are_scalars_and_a_nested_cell_is_named(served: Served) -> None:
    lineage.manifest.register_text(served.store, SCENARIO)
    before = served.state()
    rows = [{"transaction_id": "t1", "predicted_fraud": True, "score": 0.9},
            {"transaction_id": "t2", "predicted_fraud": [True], "score": 0.9}]
    body = assert_error(served.post("/api/v1/assertions", who="scorer",
                                    json={**assertion("ai_inferred"), "rows": rows}),
                        400, "ValidationError", "a table cell")
    assert body["key"] == "rows[1].predicted_fraud"
    many = [{f"c{i}": 1} for i in range(1100)]
    body = assert_error(served.post("/api/v1/training/check", who="reader", json={
        "rows": many, "key": "transaction_id", "label": "is_fraud"}),
        400, "ValidationError", "columns")
    assert served.state() == before


def _raw_request(base: str, method: str, path: str, secret: str | None,
                 body: bytes = b"", gzipped: bool = False) -> socket.socket:
    """A connection on which the whole request has been sent (no answer read yet)."""
    url = urlsplit(base)
    sock = socket.create_connection((url.hostname, url.port))
    head = [f"{method} {path} HTTP/1.1", f"Host: {url.netloc}", "Connection: close",
            f"Content-Length: {len(body)}", "Content-Type: application/json"]
    if gzipped:
        head.append("Content-Encoding: gzip")
    if secret:
        head.append(f"Authorization: Bearer {secret}")
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    return sock


def _answer(sock: socket.socket) -> bytes:
    parts = []
    while chunk := sock.recv(65536):
        parts.append(chunk)
    sock.close()
    return b"".join(parts)


def test_health_answers_while_a_large_training_check_is_still_being_worked_on(
        sqlite_url: str) -> None:
    """Ordering, not time: /health is sent after a large check has been sent whole (gzip:
    it arrives at once and decompresses to 5 MB), and answers while the check's connection
    has no answer yet (the check's parsing, table building and guard run off the loop)."""
    with lineage.connect(sqlite_url) as store:
        lineage.manifest.register_text(store, SCENARIO)
        reader = auth.create_token(store, "reader", ["read"], [])[1]
        # a label column the table lacks: the check fails at once once the table is
        # built, so the answer comes as soon as the request's own work is done
        rows = [{"transaction_id": f"t{i}", "is_fraud": i % 2 == 0, "note": "x" * 40}
                for i in range(60_000)]
        body = json.dumps({"rows": rows, "key": "transaction_id",
                           "label": "is_fraud_label"}).encode()
        settings = ServerSettings(max_body_bytes=16 * 1024 * 1024)
        with running(sqlite_url, settings) as base:
            slow = _raw_request(base, "POST", "/api/v1/training/check", reader,
                                gzip.compress(body), gzipped=True)
            health = httpx.get(base + "/api/v1/health", timeout=120)
            assert health.status_code == 200
            pending, _, _ = select.select([slow], [], [], 0)
            assert not pending, "the check answered before /health: the loop was blocked"
            answer = _answer(slow)
            assert answer.startswith(b"HTTP/1.1 400"), answer[:300]
            assert b"no column 'is_fraud_label'" in answer


def test_large_table_bodies_are_read_in_a_process_of_their_own_with_the_same_answers(
        sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A large /training/check or /assertions body is parsed, validated and built into a
    table outside the server's process (whose interpreter lock those steps held for up to
    a second): the server parses none of it, and the answers are those of the routes."""
    parsed: list[int] = []
    real = lineage.server._http.parse_json
    monkeypatch.setattr(lineage.server._http, "parse_json",
                        lambda body: parsed.append(len(body)) or real(body))
    ids = [f"t{i}" for i in range(4000)]
    rows = [{"transaction_id": t, "predicted_fraud": i % 2 == 0, "score": 0.9}
            for i, t in enumerate(ids)]
    nested_cell = [dict(r) for r in rows]
    nested_cell[3001]["predicted_fraud"] = [True]
    with lineage.connect(sqlite_url) as store:
        lineage.manifest.register_text(store, SCENARIO)
        reader = auth.create_token(store, "reader", ["read"], [])[1]
        scorer = auth.create_token(store, "scorer", ["assert"], ["ai_inferred"])[1]
        with running(sqlite_url, ServerSettings(max_body_bytes=16 * 1024 * 1024)) as base, \
                httpx.Client(timeout=120) as client:
            def post(path: str, secret: str, body: dict[str, Any]) -> httpx.Response:
                data = json.dumps(body).encode()
                assert len(data) > 64 * 1024  # large: read outside the server's process
                return client.post(base + path, content=data, headers={
                    "Authorization": f"Bearer {secret}", "Content-Type": "application/json"})

            check = post("/api/v1/training/check", reader,
                         {"rows": rows, "key": "transaction_id", "label": "predicted_fraud",
                          "dataset": "fraud.predictions"})
            missing = post("/api/v1/training/check", reader,
                           {"rows": rows, "key": "transaction_id", "label": "nope"})
            bad_cell = post("/api/v1/assertions", scorer,
                            {**assertion("ai_inferred"), "rows": nested_cell})
            not_allowed = post("/api/v1/assertions", scorer,
                               {**assertion("human_labelled"), "rows": nested_cell})
            written = post("/api/v1/assertions", scorer, {**assertion("ai_inferred"),
                                                          "rows": rows})
    assert check.status_code == 200, check.text
    assert check.json()["counts"]
    assert_error(missing, 400, "ValidationError", "no column 'nope'")
    assert assert_error(bad_cell, 400, "ValidationError", "a table cell")["key"] == \
        "rows[3001].predicted_fraud"
    assert_error(not_allowed, 403, "PermissionDenied")  # the origin first, as before
    assert written.status_code == 201, written.text
    assert written.json()["rows"] == 4000 and written.json()["origin"] == "ai_inferred"
    assert not [n for n in parsed if n > 64 * 1024]


def test_a_table_reader_process_that_died_gives_503_once_and_a_new_one_reads_the_next(
        sqlite_url: str) -> None:
    import multiprocessing

    rows = [{"transaction_id": f"t{i}", "predicted_fraud": i % 2 == 0, "score": 0.9}
            for i in range(4000)]
    body = json.dumps({"rows": rows, "key": "transaction_id", "label": "nope"}).encode()
    with lineage.connect(sqlite_url) as store:
        reader = auth.create_token(store, "reader", ["read"], [])[1]
    headers = {"Authorization": f"Bearer {reader}", "Content-Type": "application/json"}
    with running(sqlite_url, ServerSettings(max_body_bytes=16 * 1024 * 1024)) as base, \
            httpx.Client(timeout=120) as client:
        before = set(multiprocessing.active_children())
        first = client.post(base + "/api/v1/training/check", content=body, headers=headers)
        assert_error(first, 400, "ValidationError", "no column 'nope'")
        readers = [p for p in multiprocessing.active_children() if p not in before]
        assert len(readers) == 1  # the table reader, started by the first large body
        os.kill(readers[0].pid, signal.SIGKILL)
        readers[0].join()
        died = client.post(base + "/api/v1/training/check", content=body, headers=headers)
        assert_error(died, 503, "StoreError", "send it again")
        again = client.post(base + "/api/v1/training/check", content=body, headers=headers)
        assert_error(again, 400, "ValidationError", "no column 'nope'")


# ------------------------------------------------------------------ item 2: file channels


def consumer_with(channel: str) -> str:
    """A manifest whose one consumer has `channel` (a YAML flow mapping) on line 8."""
    return f"""\
datasets:
  - name: public.orders
    fields: [{{name: id, type: int64}}]
consumers:
  - name: ops
    consumes: [public.orders]
    channels:
      - {channel}
"""


def test_file_channels_outside_the_notifications_root_are_refused_at_register_time(
        store: lineage.Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "root"
    (root / "teams").mkdir(parents=True)
    outside = tmp_path / "victim.txt"
    outside.write_text("keep\n")
    (root / "link.ndjson").symlink_to(outside)
    (root / "linked").symlink_to(tmp_path)
    monkeypatch.setenv("LINEAGE_NOTIFICATIONS_ROOT", str(root))
    before = snapshot(store)
    refused = {
        "{kind: file, path: ../../victim.txt}": "'..'",
        "{kind: file, path: teams/../../victim.txt}": "'..'",
        f"{{kind: file, path: {outside}}}": "outside the notifications root",
        "{kind: file, path: link.ndjson}": "symbolic link",
        "{kind: file, path: linked/victim.txt}": "symbolic link",
        "{kind: webhook, url: 'file:///etc/passwd'}": "not an http or https URL",
        "{kind: webhook, url: 'ftp://example.com/x'}": "not an http or https URL",
        "{kind: webhook, url: 'http:///nohost'}": "not an http or https URL",
    }
    for channel, message in refused.items():
        with pytest.raises(lineage.ValidationError, match=re.escape(message)) as caught:
            lineage.manifest.register_text(store, consumer_with(channel), file="m.yaml")
        error = caught.value
        assert (error.file, error.line) == ("m.yaml", 8), channel
        assert error.key in ("consumers[0].channels[0].path",
                             "consumers[0].channels[0].url"), error.key
        assert snapshot(store) == before
    assert outside.read_text() == "keep\n"

    accepted = [("{kind: file, path: teams/ops.ndjson}", "teams/ops.ndjson"),
                (f"{{kind: file, path: {root / 'ops.ndjson'}}}", str(root / "ops.ndjson")),
                ("{kind: webhook, url: 'https://hooks.example.com/x'}",
                 "https://hooks.example.com/x")]
    for channel, target in accepted:
        lineage.manifest.register_text(store, consumer_with(channel))
        assert [c.target for c in store.channels(["consumer:ops"])["consumer:ops"]] == [target]


def test_file_delivery_follows_no_link_and_writes_nothing_outside_the_root(
        store: lineage.Store, tmp_path: Path) -> None:
    """Channels stored without the manifest's checks, or links planted after registering:
    the deliverer refuses them as it opens (a failed attempt), and writes nothing outside."""
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "victim.txt"
    outside.write_text("keep\n")
    settings = NotifySettings(notifications_root=str(root))
    targets = {"up": "../victim.txt", "abs": str(outside), "link": "link.ndjson",
               "dir": "linked/victim.txt", "made": "../made/x.ndjson", "ok": "team/ok.ndjson"}
    channels = {name: lineage.ChannelSpec(kind="file", target=t) for name, t in targets.items()}
    add_consumer(store, "ops", *channels.values())
    (root / "link.ndjson").symlink_to(outside)  # planted after registration
    (root / "linked").symlink_to(tmp_path)
    store.enqueue([lineage.NotificationSpec(
        idempotency_key=f"k-{name}", consumer="consumer:ops", channel_kind="file",
        channel_target=target, event="proposed_change", payload={"name": name})
        for name, target in targets.items()])

    stats = deliver(store, settings=settings, backoff=Backoff(base=60))

    assert stats.delivered == 1 and stats.retried == 5, stats.errors
    assert outside.read_text() == "keep\n"
    assert not (tmp_path / "made").exists()
    assert json.loads((root / "team" / "ok.ndjson").read_text())["name"] == "ok"



# ------------------------------------------------------------------ item 3: DOT escaping

HOSTILE = ["ends with a backslash\\", "a\\N b\\G c\\l d\\E", 'say "hi"', 'back\\"slash',
           "two\nlines", "<b>not html</b>", "x\\", "} ]; evil [label=x"]


def hostile_graph(store: lineage.Store) -> str:
    """A dataset whose fields have hostile names, linked by derivations whose
    transformation is hostile too; returns the dataset's key."""
    batch = lineage.GraphBatch()
    ds = batch.add_node(keys.dataset_key("ns", "evil\\"), "evil\\", "ns").key
    previous = None
    for name in HOSTILE:
        key = batch.add_node(keys.field_key("ns", "evil\\", name), name, "ns").key
        batch.add_edge(ds, key, lineage.EdgeKind.HAS_FIELD)
        if previous is not None:
            batch.add_edge(previous, key, lineage.EdgeKind.DERIVED_FROM,
                           transformation='agg\\"; x\\')
        previous = key
    store.apply(batch)
    return ds


def svg_texts(svg: str) -> tuple[dict[str, list[str]], list[str]]:
    """The text lines drawn in each node (by its id in the DOT source) and on the edges,
    as SVG shows them: the labels after Graphviz interpreted them."""
    ns = {"s": "http://www.w3.org/2000/svg"}
    root = ET.fromstring(svg)
    nodes: dict[str, list[str]] = {}
    edges: list[str] = []
    for g in root.iter("{http://www.w3.org/2000/svg}g"):
        title = g.find("s:title", ns)
        texts = [t.text or "" for t in g.iter("{http://www.w3.org/2000/svg}text")]
        if g.get("class") == "node" and title is not None:
            nodes[title.text or ""] = texts
        elif g.get("class") == "edge":
            edges += texts
    return nodes, edges


def check_drawn_literally(dot_source: str | None, svg: str | None = None) -> None:
    """`dot` parses the source without a warning, and the picture shows every name, the
    transformation and the graph label exactly as stored."""
    if svg is None:
        assert dot_source is not None
        done = subprocess.run(["dot", "-Tsvg"], input=dot_source, capture_output=True,
                              text=True)
        assert done.returncode == 0 and not done.stderr, done.stderr
        svg = done.stdout
    nodes, edges = svg_texts(svg)
    drawn = {tuple(lines) for lines in nodes.values()}
    for name in HOSTILE:
        assert (*name.split("\n"), "[field]") in drawn, (name, drawn)
    assert ("evil\\", "[dataset]") in drawn
    assert len(nodes) == len(HOSTILE) + 1  # no node made up from a label read as DOT
    assert edges.count('(agg\\"; x\\)') == len(HOSTILE) - 1, edges
    assert "lineage of dataset:ns/evil\\" in svg.replace("&#45;", "-")


def test_hostile_names_are_escaped_in_graph_export_dot_and_the_svg_endpoint(
        store_url: str, tmp_path: Path) -> None:
    with lineage.connect(store_url) as store:
        ds = hostile_graph(store)
        check_drawn_literally(lineage.export.dot(store, ds, direction="both"))

    runner = CliRunner()
    for args in (["graph", ds, "--both", "-o", str(tmp_path / "g.dot")],
                 ["graph", ds, "--both", "-o", str(tmp_path / "g.svg")],
                 ["export", "dot", ds, "-o", str(tmp_path / "e.dot")]):
        result = runner.invoke(cli, ["--store", store_url, *args])
        assert result.exit_code == 0, result.output
    check_drawn_literally((tmp_path / "g.dot").read_text())
    check_drawn_literally(None, (tmp_path / "g.svg").read_text())
    check_drawn_literally((tmp_path / "e.dot").read_text())

    with running(store_url, ServerSettings(auth=False)) as base:
        svg = httpx.get(base + "/api/v1/lineage/graph",
                        params={"node": ds, "direction": "both", "format": "svg"})
        assert svg.status_code == 200, svg.text
        check_drawn_literally(None, svg.text)
        dot = httpx.get(base + "/api/v1/lineage/graph",
                        params={"node": ds, "direction": "both", "format": "dot"})
        check_drawn_literally(dot.text)


# ------------------------------------------------------------------ item 4: outbox under kill -9

#: `lineage` from this checkout, whatever is installed
CLI = "import sys; from lineage_cli.main import cli; cli(sys.argv[1:], prog_name='lineage')"


def test_a_watching_deliverer_killed_mid_batch_again_and_again_loses_nothing_and_counts_exactly(
        store: lineage.Store, store_url: str) -> None:
    """`lineage notify deliver --watch` killed with SIGKILL mid-batch, four times, against a
    receiver that refuses every notification's first request: nothing is lost, nothing the
    receiver accepted ends dead, no item records more attempts than --max-attempts or than
    requests it was sent, and only what was in flight at a kill comes twice."""
    receiver = Receiver(fail_first=1, delay=0.02).start()
    n, kills, workers, max_attempts = 60, 4, 2, 3
    command = [sys.executable, "-c", CLI, "--store", store_url, "notify", "deliver", "--watch",
               "--batch", "30", "--workers", str(workers), "--lease", "1",
               "--max-attempts", str(max_attempts), "--poll", "0.05"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])}
    try:
        channel = webhook(receiver.url)
        consumer = add_consumer(store, "ops", channel)
        store.enqueue(specs(consumer, channel, n))
        for _ in range(kills):
            seen = len(receiver.requests)
            process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
            try:
                for _ in range(12000):  # until 15 more requests went out (hang guard only)
                    if len(receiver.requests) >= seen + 15 or process.poll() is not None:
                        break
                    time.sleep(0.005)
                assert process.poll() is None, "the deliverer stopped before it was killed"
                os.kill(process.pid, signal.SIGKILL)
            finally:
                process.wait()
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
        try:
            for _ in range(6000):  # until everything is settled (hang guard only)
                if store.outbox_status()["pending"] == 0 or process.poll() is not None:
                    break
                time.sleep(0.02)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(60)
    finally:
        receiver.stop()

    assert store.outbox_status() == {"pending": 0, "delivered": n, "dead": 0}
    assert set(receiver.accepted) == {f"k{i}" for i in range(n)}  # nothing lost
    sent = receiver.attempts()
    for item in store.outbox("delivered", limit=1000):
        assert 1 <= item.attempts <= max_attempts, item
        assert item.attempts <= sent[item.idempotency_key]  # counted only when sent
    # accepted twice: only what was being sent when a kill came (at most a worker's
    # request each, and what finished while the last outcomes were being written)
    duplicates = sum(receiver.accepted.values()) - n
    assert duplicates <= kills * 2 * workers, receiver.accepted


def test_the_webhook_timestamp_is_signed_with_the_body_so_a_replay_is_refused(
        store: lineage.Store) -> None:
    receiver = Receiver().start()
    try:
        channel = webhook(receiver.url)
        store.enqueue(specs(add_consumer(store, "ops", channel), channel, 1))
        assert deliver(store).delivered == 1
    finally:
        receiver.stop()
    (_key, body, signed, headers) = receiver.requests[0]
    stamp, sig = headers["X-Lineage-Timestamp"], headers["X-Lineage-Signature"]
    assert signed and lineage.notify.verify(SECRET, body, sig, stamp)
    # replayed later: under its own timestamp it is stale; under a fresh one, the
    # signature no longer matches; a changed body does not match either
    later = int(stamp) + 3600
    assert not lineage.notify.verify(SECRET, body, sig, stamp, now=later)
    assert not lineage.notify.verify(SECRET, body, sig, str(later), now=later)
    assert not lineage.notify.verify(SECRET, body + b" ", sig, stamp)
    assert not lineage.notify.verify("other", body, sig, stamp)


# ------------------------------------------------------------------ item 5: the client's errors


def test_a_key_over_the_limit_is_the_clients_error_on_every_backend(
        served: Served, store_url: str, tmp_path: Path) -> None:
    before = served.state()
    for name in ("x" * 3000, "€" * 700):  # 3,000 and 2,100 characters, both over 2,048 bytes
        event = tests.test_server.event("run_start")
        event["outputs"][0]["name"] = name
        refused = served.post("/api/v1/lineage", json=event)
        assert_error(refused, 400, "ValidationError", "at most 2,048 bytes")
        manifest = tmp_path / "long.yaml"
        manifest.write_text(f"datasets:\n  - name: {name}\n"
                            "    fields: [{name: id, type: int64}]\n", encoding="utf-8")
        result = CliRunner().invoke(cli, ["--store", store_url, "register", str(manifest)])
        assert result.exit_code == 2, result.output
        assert "at most 2,048 bytes" in result.output and "Traceback" not in result.output
        assert store_url.split("@")[-1] not in result.output  # no store URL in the message
        # read with it: no key is that long, said as such (not a page-long NotFound)
        assert_error(served.get("/api/v1/impact", params={"field": name}), 400,
                     "ValidationError", "at most 2,048 bytes")
        result = CliRunner().invoke(cli, ["--store", store_url, "impact", name])
        assert result.exit_code == 2 and "at most 2,048 bytes" in result.output
    assert served.state() == before
    fits = tests.test_server.event("run_start")
    fits["outputs"][0]["name"] = "é" * 900  # 1,800 bytes, with its namespace under the limit
    assert served.post("/api/v1/lineage", json=fits).status_code == 201


def test_deep_nesting_long_integers_and_infinite_numbers_are_400_not_500(
        served: Served) -> None:
    lineage.manifest.register_text(served.store, SCENARIO)
    before = served.state()
    headers = {"Content-Type": "application/json"}
    for depth in (506, 600, 946):  # deep enough to overflow the pickling to the writer
        body = '{"eventType": "START", "x": ' + '[' * depth + ']' * depth + '}'
        assert_error(served.post("/api/v1/lineage", content=body, headers=headers),
                     400, "ValidationError", "nested deeper than 64")
    huge = "1" * 5000
    for path, who, body in (
            ("/api/v1/lineage", "writer", '{"eventType": "START", "x": ' + huge + '}'),
            ("/api/v1/lineage/batch", "writer", '[{"x": ' + huge + '}]'),
            ("/api/v1/assertions", "scorer",
             json.dumps(assertion("ai_inferred"))[:-1] + ', "confidence": ' + huge + '}'),
            ("/api/v1/training/check", "reader",
             '{"rows": [{"k": ' + huge + '}], "key": "k", "label": "k"}')):
        assert_error(served.post(path, who=who, content=body, headers=headers),
                     400, "ValidationError", "more than 4,300 digits")
    wide = {"rows": [{"k": 2**70, "label": 1}], "key": "k", "label": "label"}
    assert_error(served.post("/api/v1/training/check", who="reader", json=wide),
                 400, "ValidationError", "fit in 64 bits")
    for number in ("1e999", "-1e999"):
        assert_error(served.post("/api/v1/assertions", who="scorer", headers=headers,
                                 content=json.dumps(assertion("ai_inferred"))[:-1]
                                 + f', "confidence": {number}}}'),
                     400, "ValidationError", "out of range")
    assert served.state() == before


def test_a_lone_surrogate_or_nul_in_a_manifest_is_exit_2_with_file_key_and_line(
        store_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    for text in ('"bad\\ud800name"', '"bad\\0name"', '"\\udc80"'):
        manifest = tmp_path / "m.yaml"
        manifest.write_text("datasets:\n  - name: public.orders\n    fields:\n"
                            f"      - {{name: {text}, type: int64}}\n")
        result = runner.invoke(cli, ["--store", store_url, "register", str(manifest)])
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
        assert f"{manifest}:4 (datasets[0].fields[0].name)" in result.output, result.output
        assert "unpaired surrogate" in result.output
    with lineage.connect(store_url) as store:
        assert not snapshot(store)["nodes"]


# ------------------------------------------------------------------ a bounded fuzz of the POSTs

#: raw JSON put in place of a value: what parsers and stores choke on
_HOSTILE_JSON = ["1" * 5000, "1e999", "-1e999", '"\\ud800"', '"a\\u0000b"', "[" * 70 + "]" * 70,
                 '{"a":' * 70 + "1" + "}" * 70, '"' + "x" * 3000 + '"', "1" * 4300,
                 "18446744073709551616", "-0.0", '"\\\\"', '""']
_SLOT = "\x01hostile\x01"


def _mutated(base: Any, draw: st.DrawFn) -> bytes:
    """`base` with one to three values replaced (by generated JSON or a slot for a hostile
    fragment) or removed, as bytes."""
    base = json.loads(json.dumps(base))
    fragments: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in tests.test_server._paths(base) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = base
        for part in path[:-1]:
            parent = parent[part]
        choice = draw(st.integers(0, 2))
        if choice == 0 and isinstance(parent, dict):
            del parent[path[-1]]
        elif choice == 1:
            fragments.append(draw(st.sampled_from(_HOSTILE_JSON)))
            parent[path[-1]] = _SLOT
        else:
            parent[path[-1]] = draw(tests.test_server._json_values())
    text = json.dumps(base)
    for fragment in fragments:
        text = text.replace(json.dumps(_SLOT), fragment, 1)
    return text.encode()


TRAINING = {"rows": [{"transaction_id": "t1", "is_fraud": True, "w": 1.5},
                     {"transaction_id": "t3", "is_fraud": False, "w": None}],
            "key": "transaction_id", "label": "is_fraud", "dataset": "fraud.labels",
            "model": "fraud@3", "policy": {"allow_ai_above": 0.9, "unverified": "warn"}}


@st.composite
def post_requests(draw: st.DrawFn) -> tuple[str, str, bytes]:
    """(path, token, body) for one of the main POST endpoints."""
    endpoint = draw(st.sampled_from(["lineage", "batch", "assertions", "check"]))
    if endpoint == "assertions":
        return "/api/v1/assertions", "scorer", _mutated(assertion("ai_inferred"), draw)
    if endpoint == "check":
        return "/api/v1/training/check", "reader", _mutated(TRAINING, draw)
    name = draw(st.sampled_from(["run_start", "run_complete", "dataset_event", "job_event"]))
    body = _mutated(tests.test_server.event(name), draw)
    if endpoint == "batch":
        return "/api/v1/lineage/batch", "writer", b"[" + body + b"]"
    return "/api/v1/lineage", "writer", body


@settings(max_examples=80, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(request=post_requests())
def test_fuzzed_posts_never_answer_5xx_and_write_nothing_when_refused(
        served: Served, request: tuple[str, str, bytes]) -> None:
    """Bounded and deterministic (derandomize): 80 bodies per backend, mutations of valid
    requests to /lineage, /lineage/batch, /assertions and /training/check with generated
    JSON and hostile fragments (long integers, 1e999, lone surrogates, NUL, deep nesting,
    long names)."""
    lineage.manifest.register_text(served.store, SCENARIO)  # idempotent
    path, who, body = request
    before = served.state()
    response = served.post(path, who=who, content=body,
                           headers={"Content-Type": "application/json"})
    assert response.status_code < 500, (path, body[:300], response.text)
    assert response.headers["content-type"].startswith("application/json")
    if response.status_code >= 400:
        answer = response.json()
        if "failed_events" in answer:  # /lineage/batch answers per event (the spec's shape)
            assert answer["failed_events"] and all(f["reason"] for f in answer["failed_events"])
        else:
            assert answer["error"] and answer["message"]
        assert served.state() == before, (path, body[:300], response.text)


def test_a_table_built_in_pieces_is_the_table_built_whole() -> None:
    """`rows` are made into a frame a few thousand at a time (so the event loop runs in
    between); column types must come out as one build infers them."""
    import polars as pl

    from lineage.server._tables import _FRAME_CHUNK_ROWS, _frame

    n = 2 * _FRAME_CHUNK_ROWS + 10
    rows: list[dict[str, Any]] = [{"k": f"t{i}", "x": i, "y": None, "z": True} for i in range(n)]
    rows[-1].update(x=1.5, y="late", w=3)  # types and a column that change in the last piece
    whole = pl.DataFrame(rows, infer_schema_length=None)
    built = _frame(rows)
    assert built.schema == whole.schema and built.equals(whole)
