"""Notifications: the outbox in the store, channels against real servers, retries, dead
letters, registration-time notifications and a deliverer killed mid-batch.

Every receiver here is real and local: an HTTP server (http.server in a thread) that checks
each HMAC signature against the exact body bytes, an SMTP server (aiosmtpd), a file.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

import lineage
from lineage import GraphBatch, NotificationSpec
from lineage.impact import change_impact
from lineage.notify import Backoff, DeliveryStats, deliver, notifications_for, notify_change
from lineage.store.base import Store

from .conftest import EXAMPLE, snapshot

SECRET = "s3cret"
FAST = Backoff(base=0.001, cap=0.01)  # retries come (almost) at once: no test waits on time


# ------------------------------------------------------------------ a real webhook receiver


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that answers 500 to the first `fail_first` attempts of
    each idempotency key (to every attempt while `always_fail`), then 200, after `delay`
    seconds. It checks every signature against the exact body bytes it read: a request
    signed wrongly is refused (500) and recorded as unsigned."""

    fail_first: int = 0
    always_fail: bool = False
    delay: float = 0.0
    secret: str = SECRET
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: every request in arrival order: (key, body, signature ok, headers)
    requests: list[tuple[str, bytes, bool, dict[str, str]]] = field(default_factory=list)
    accepted: Counter[str] = field(default_factory=Counter)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def attempts(self) -> Counter[str]:
        with self.lock:
            return Counter(key for key, *_ in self.requests)

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the deliverer's client expects

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                data = self.rfile.read(int(self.headers["Content-Length"]))
                key = self.headers.get("X-Lineage-Idempotency-Key", "")
                # as a receiver checks: the timestamp is signed with the body, and fresh
                stamp = self.headers.get("X-Lineage-Timestamp", "")
                expected = "sha256=" + hmac.new(receiver.secret.encode(),
                                                stamp.encode() + b"." + data,
                                                hashlib.sha256).hexdigest()
                signed = (hmac.compare_digest(self.headers.get("X-Lineage-Signature", ""),
                                              expected)
                          and stamp.isdigit() and abs(time.time() - int(stamp)) <= 300)
                with receiver.lock:
                    receiver.requests.append((key, data, signed, dict(self.headers)))
                    seen = sum(1 for k, *_ in receiver.requests if k == key)
                    ok = signed and not receiver.always_fail and seen > receiver.fail_first
                    if ok:
                        receiver.accepted[key] += 1
                if receiver.delay:
                    time.sleep(receiver.delay)
                answer = b'{"ok":true}' if ok else b'{"ok":false}'
                try:
                    self.send_response(200 if ok else 500)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:  # the sender died while we slept (the crash test)
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


# ------------------------------------------------------------------ helpers


def add_consumer(store: Store, name: str, *channels: lineage.ChannelSpec) -> str:
    batch = GraphBatch()
    key = batch.add_node(f"consumer:{name}", name).key
    batch.channels[key] = list(channels)
    store.apply(batch)
    return key


def webhook(url: str, secret: str | None = SECRET) -> lineage.ChannelSpec:
    return lineage.ChannelSpec(kind="webhook", target=url, secret=secret)


def specs(consumer: str, channel: lineage.ChannelSpec, n: int,
          prefix: str = "k") -> list[NotificationSpec]:
    return [NotificationSpec(idempotency_key=f"{prefix}{i}", consumer=consumer,
                             channel_kind=channel.kind, channel_target=channel.target,
                             event="proposed_change", payload={"text": f"n{i}", "i": i})
            for i in range(n)]


def drain(store: Store, rounds: int = 400, **options: Any) -> DeliveryStats:
    """Deliver until nothing is pending (retries included), adding up the stats."""
    total = DeliveryStats()
    options.setdefault("backoff", FAST)
    for _ in range(rounds):
        if store.outbox_status()["pending"] == 0:
            break
        stats = deliver(store, **options)
        for name in ("batches", "claimed", "delivered", "retried", "dead"):
            setattr(total, name, getattr(total, name) + getattr(stats, name))
        total.errors += stats.errors
        time.sleep(0.01)
    return total


def fraud_manifest(receiver_url: str, *, category: str = "int32",
                   new_version: str | None = None) -> str:
    """The example manifest, its consumers given webhook channels; optionally with a new
    version of public.transactions whose category has type `category`."""
    data = yaml.safe_load(EXAMPLE.read_text())
    for consumer in data["consumers"]:
        consumer["channels"] = [{"kind": "webhook", "url": receiver_url, "secret": SECRET}]
    transactions = data["datasets"][0]
    assert transactions["name"] == "public.transactions"
    for f in transactions["fields"]:
        if f["name"] == "category":
            f["type"] = category
    if new_version:
        transactions["versions"].append({"version": new_version, "created_at": "2026-04-30"})
    return yaml.safe_dump(data, sort_keys=False)


# ------------------------------------------------------------------ the outbox in the store


def test_enqueueing_the_same_notification_twice_is_a_no_op(store: Store) -> None:
    consumer = add_consumer(store, "ops", webhook("http://127.0.0.1:9/hook"))
    batch = specs(consumer, webhook("http://127.0.0.1:9/hook"), 3)
    assert store.enqueue(batch) == 3
    assert store.enqueue(batch) == 0
    assert store.enqueue([*batch, *batch, *specs(consumer, webhook("http://127.0.0.1:9/hook"),
                                                 1, "other")]) == 1
    assert store.outbox_status() == {"pending": 4, "delivered": 0, "dead": 0}
    delivered = store.claim(10)
    store.mark_delivered([i.id for i in delivered])
    assert store.enqueue(batch) == 0  # a delivered key stays taken
    assert store.outbox_status() == {"pending": 0, "delivered": 4, "dead": 0}


def test_a_notification_for_a_channel_the_consumer_lacks_writes_nothing(store: Store) -> None:
    consumer = add_consumer(store, "ops", webhook("http://127.0.0.1:9/hook"))
    before = snapshot(store)
    batch = GraphBatch()
    batch.add_node("feature:new", "new")
    batch.notifications = specs(consumer, webhook("http://127.0.0.1:9/other"), 1)
    with pytest.raises(lineage.ValidationError, match="channels their consumers do not have"):
        store.apply(batch)
    assert snapshot(store) == before
    assert store.outbox_status()["pending"] == 0
    with pytest.raises(Exception, match="consumers"):
        NotificationSpec(idempotency_key="k", consumer="model:fraud", channel_kind="webhook",
                         channel_target="x", event="e")


def test_claimed_items_are_leased_to_one_deliverer_until_the_lease_expires(
        store: Store) -> None:
    consumer = add_consumer(store, "ops", webhook("http://127.0.0.1:9/hook"))
    store.enqueue(specs(consumer, webhook("http://127.0.0.1:9/hook"), 5))
    now = datetime.now(UTC)
    first = store.claim(3, lease_seconds=30, now=now)
    second = store.claim(10, lease_seconds=30, now=now)
    assert len(first) == 3 and len(second) == 2
    assert not {i.id for i in first} & {i.id for i in second}
    assert store.claim(10, now=now) == []
    # a claim is no attempt: attempts count recorded outcomes (settle)
    assert all(i.attempts == 0 and i.lease_until is not None for i in first)
    later = store.claim(10, now=now + timedelta(seconds=31))  # every lease ran out
    assert len(later) == 5 and {i.attempts for i in later} == {0}
    with pytest.raises(lineage.ValidationError):
        store.claim(0)
    with pytest.raises(lineage.ValidationError, match="timezone"):
        store.claim(1, now=datetime.now())


def test_concurrent_claimers_never_get_the_same_item(store: Store) -> None:
    consumer = add_consumer(store, "ops", webhook("http://127.0.0.1:9/hook"))
    store.enqueue(specs(consumer, webhook("http://127.0.0.1:9/hook"), 120))
    claimed: list[int] = []
    lock = threading.Lock()

    def claimer() -> None:
        while items := store.claim(7, lease_seconds=300):
            with lock:
                claimed.extend(i.id for i in items)

    threads = [threading.Thread(target=claimer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(claimed) == len(set(claimed)) == 120


def test_a_failure_is_retried_later_and_never_undoes_a_delivery(store: Store) -> None:
    consumer = add_consumer(store, "ops", webhook("http://127.0.0.1:9/hook"))
    store.enqueue(specs(consumer, webhook("http://127.0.0.1:9/hook"), 2))
    now = datetime.now(UTC)
    a, b = store.claim(2, now=now)
    assert store.mark_failed(a.id, "HTTP 500", now + timedelta(seconds=60), now=now)
    assert store.mark_delivered([b.id]) == 1
    assert not store.mark_failed(b.id, "late failure", None)  # b stays delivered
    assert store.claim(10, now=now + timedelta(seconds=59)) == []
    (retry,) = store.claim(10, now=now + timedelta(seconds=61))
    assert retry.id == a.id and retry.last_error == "HTTP 500" and retry.attempts == 1
    assert store.outbox_status() == {"pending": 1, "delivered": 1, "dead": 0}


# ------------------------------------------------------------------ channels, for real


def test_every_webhook_arrives_signed_and_once_per_key_after_failed_attempts(
        store: Store) -> None:
    receiver = Receiver(fail_first=2).start()
    try:
        consumer = add_consumer(store, "ops", webhook(receiver.url))
        store.enqueue(specs(consumer, webhook(receiver.url), 25))
        stats = drain(store, batch_size=10, workers=4)
    finally:
        receiver.stop()
    keys = {f"k{i}" for i in range(25)}
    assert set(receiver.accepted) == keys and set(receiver.accepted.values()) == {1}
    assert receiver.attempts() == Counter({k: 3 for k in keys})
    assert all(signed for _, _, signed, _ in receiver.requests)
    for key in keys:  # a redelivery carries the same key and the very same bytes
        bodies = {data for k, data, _, _ in receiver.requests if k == key}
        assert len(bodies) == 1
    headers = receiver.requests[0][3]
    assert headers["X-Lineage-Timestamp"].isdigit()
    assert (stats.delivered, stats.retried, stats.dead) == (25, 50, 0)
    assert store.outbox_status() == {"pending": 0, "delivered": 25, "dead": 0}
    assert {i.attempts for i in store.outbox("delivered")} == {3}


def test_a_webhook_secret_can_come_from_the_environment(store: Store,
                                                        receiver: Receiver) -> None:
    channel = lineage.ChannelSpec(kind="webhook", target=receiver.url,
                                  settings={"secret_env": "OPS_HOOK_SECRET"})
    consumer = add_consumer(store, "ops", channel)
    store.enqueue(specs(consumer, channel, 1))
    settings = lineage.notify.NotifySettings.from_env({})
    stats = deliver(store, settings=settings, backoff=Backoff(base=0.5))
    assert stats.retried == 1 and "OPS_HOOK_SECRET" in stats.errors[0][1]
    settings = lineage.notify.NotifySettings.from_env({"OPS_HOOK_SECRET": SECRET})
    drain(store, settings=settings)
    assert receiver.accepted == Counter({"k0": 1})


def test_failing_notifications_are_dead_lettered_after_max_attempts_then_redriven(
        store: Store) -> None:
    receiver = Receiver(always_fail=True).start()
    try:
        consumer = add_consumer(store, "ops", webhook(receiver.url))
        store.enqueue(specs(consumer, webhook(receiver.url), 4))
        stats = drain(store, max_attempts=3)
        assert (stats.delivered, stats.retried, stats.dead) == (0, 8, 4)
        assert store.outbox_status() == {"pending": 0, "delivered": 0, "dead": 4}
        dead = store.outbox("dead")
        assert {i.attempts for i in dead} == {3}
        assert all("HTTP 500" in (i.last_error or "") for i in dead)
        assert receiver.attempts() == Counter({f"k{i}": 3 for i in range(4)})

        assert store.redrive([dead[0].id]) == 1
        assert store.redrive([dead[0].id]) == 0  # no longer dead
        assert store.outbox_status() == {"pending": 1, "delivered": 0, "dead": 3}
        receiver.always_fail = False
        drain(store)
        assert store.redrive() == 3
        assert store.outbox("pending")[0].attempts == 0
        drain(store)
    finally:
        receiver.stop()
    assert store.outbox_status() == {"pending": 0, "delivered": 4, "dead": 0}
    assert receiver.accepted == Counter({f"k{i}": 1 for i in range(4)})


def test_an_unreachable_webhook_is_a_failure_not_a_crash(store: Store) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    channel = webhook(f"http://127.0.0.1:{port}/hook")
    consumer = add_consumer(store, "ops", channel)
    store.enqueue(specs(consumer, channel, 2))
    stats = drain(store, max_attempts=2)
    assert stats.dead == 2 and "ConnectError" in stats.errors[-1][1]


def test_email_reaches_a_real_smtp_server_with_a_subject_naming_the_change(
        fraud_store: Store) -> None:
    from aiosmtpd.controller import Controller

    received: list[Any] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            received.append(envelope)
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        channel = lineage.ChannelSpec(kind="email", target="risk@example.com")
        batch = GraphBatch()
        batch.channels["consumer:fraud-dashboard"] = [channel]
        # the example's other consumers have file sinks: leave them out of this test
        batch.channels["consumer:risk-rules-engine"] = []
        batch.channels["consumer:alerting-service"] = []
        fraud_store.apply(batch)
        assert notify_change(fraud_store, "transactions.category", ["type:string"]) == 1
        settings = lineage.notify.NotifySettings.from_env({
            "LINEAGE_SMTP_HOST": "127.0.0.1", "LINEAGE_SMTP_PORT": str(port),
            "LINEAGE_SMTP_FROM": "lineage@example.com"})
        stats = drain(fraud_store, settings=settings)
    finally:
        controller.stop()
    assert stats.delivered == 1 and len(received) == 1
    envelope = received[0]
    assert envelope.mail_from == "lineage@example.com"
    assert envelope.rcpt_tos == ["risk@example.com"]
    message = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert "category" in message["Subject"] and "int32 -> string" in message["Subject"]
    assert "fraud-dashboard" in message["Subject"]
    body = message.get_content()
    assert body.startswith("Proposed breaking change to public.transactions.category")
    document = json.loads(body.replace("\r\n", "\n").split("\n\n", 1)[1])
    assert document["verdict"]["verdict"] == "breaking"
    assert message["X-Lineage-Idempotency-Key"].strip() == document["idempotency_key"]


def test_file_channel_appends_one_ndjson_line_per_notification(
        store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "notices.ndjson"
    # paths are below the notifications root: relative to it, or absolute inside it
    root = lineage.notify.NotifySettings(notifications_root=str(tmp_path))
    to_file = lineage.ChannelSpec(kind="file", target=str(path))
    to_stdout = lineage.ChannelSpec(kind="file", target="-")
    consumer = add_consumer(store, "ops", to_file, to_stdout)
    store.enqueue(specs(consumer, to_file, 3) + specs(consumer, to_stdout, 2, "out"))
    stats = deliver(store, workers=3, settings=root)
    assert stats.delivered == 5
    lines = path.read_text().splitlines()
    assert sorted(json.loads(line)["i"] for line in lines) == [0, 1, 2]
    printed = capsys.readouterr().out.splitlines()
    assert sorted(json.loads(line)["i"] for line in printed) == [0, 1]
    # a missing folder is created; a path that cannot be a file is a failed attempt
    nested = lineage.ChannelSpec(kind="file", target="new/x.ndjson")
    (tmp_path / "plain").write_text("")
    bad = lineage.ChannelSpec(kind="file", target="plain/x.ndjson")
    consumer = add_consumer(store, "bad", nested, bad)
    store.enqueue(specs(consumer, nested, 1, "new") + specs(consumer, bad, 1, "bad"))
    stats = deliver(store, backoff=Backoff(base=60), settings=root)
    assert stats.delivered == 1 and (tmp_path / "new" / "x.ndjson").exists()
    assert stats.retried == 1 and "plain" in stats.errors[0][1]


def test_watch_mode_delivers_what_comes_in_until_stopped(store: Store,
                                                        receiver: Receiver) -> None:
    consumer = add_consumer(store, "ops", webhook(receiver.url))
    stop = threading.Event()
    seen: list[int] = []
    result: list[DeliveryStats] = []
    worker = threading.Thread(target=lambda: result.append(deliver(
        store, watch=True, poll_interval=0.01, stop=stop,
        on_batch=lambda s: seen.append(s.delivered))))
    worker.start()
    store.enqueue(specs(consumer, webhook(receiver.url), 3))
    for _ in range(2000):
        if seen and seen[-1] >= 3:
            break
        time.sleep(0.005)
    stop.set()
    worker.join(timeout=30)
    assert not worker.is_alive() and result[0].delivered == 3


def test_backoff_grows_exponentially_with_jitter_up_to_its_cap() -> None:
    backoff = Backoff(base=1.0, cap=3600.0)
    for attempt, step in [(1, 1.0), (2, 2.0), (5, 16.0), (30, 3600.0), (500, 3600.0)]:
        delays = [backoff.delay(attempt) for _ in range(50)]
        assert all(step / 2 <= d <= step for d in delays)
        assert len(set(delays)) > 1
    with pytest.raises(lineage.ValidationError):
        Backoff(base=0)


# ------------------------------------------------------------------ producing notifications


CONTRACTS = """\
namespace: pg
datasets:
  - name: public.orders
    fields:
      - {name: id, type: int64, nullable: false}
      - {name: status, type: int32, nullable: false}
      - {name: amount, type: float64}
    versions:
      - {version: "1", created_at: 2026-01-01}
  - name: marts.daily
    fields:
      - {name: status, type: int32}
derivations:
  - {from: orders.status, to: daily.status, transformation: identity}
features:
  - {name: status_f, from: daily.status, transformation: identity}
consumers:
  - name: billing
    consumes: [public.orders]
    contracts:
      - asset: public.orders
        properties:
          - {name: status, physicalType: int32, required: true}
    channels:
      - {kind: webhook, url: URL, secret: s3cret}
  - name: bi
    consumes: [public.orders]
    contracts:
      - asset: public.orders
        fields: [{name: amount}]
    channels:
      - {kind: webhook, url: URL, secret: s3cret}
  - name: feature-pipeline
    consumes: [daily.status]
    channels:
      - {kind: webhook, url: URL, secret: s3cret}
"""


def test_category_int_to_string_notifies_the_breaking_consumers_with_models_and_paths(
        fraud_store: Store, receiver: Receiver) -> None:
    """Story 1: the type change nobody announced, announced."""
    lineage.manifest.register_text(fraud_store, fraud_manifest(receiver.url))
    impact = change_impact(fraud_store, "transactions.category", ["type:string"])
    notes = notifications_for(fraud_store, impact)
    assert {n.consumer for n in notes} == {"consumer:risk-rules-engine",
                                           "consumer:fraud-dashboard",
                                           "consumer:alerting-service"}
    assert notify_change(fraud_store, "transactions.category", ["type:string"]) == 3
    assert notify_change(fraud_store, "transactions.category", ["type:string"]) == 0
    drain(fraud_store)
    payloads = [json.loads(data) for _, data, _, _ in receiver.requests]
    assert len(payloads) == 3 and all(signed for _, _, signed, _ in receiver.requests)
    engine = next(p for p in payloads if p["consumer"]["key"] == "consumer:risk-rules-engine")
    assert engine["event"] == "proposed_change" and engine["verdict"]["verdict"] == "breaking"
    assert engine["path"][0] == "field:postgres://db.prod:5432/public.transactions.category"
    assert engine["path"][-1] == "consumer:risk-rules-engine"
    assert "model:fraud" in engine["path"] and "feature:category_share" in engine["path"]
    breaking = {j["key"] for j in engine["impact"]["breaking"]}
    assert {"model_version:fraud@2", "model_version:fraud@3", "model:fraud"} <= breaking
    assert "category" in engine["text"] and "risk-rules-engine" in engine["text"]


def test_registering_a_new_version_that_breaks_consumers_notifies_them_with_it(
        fraud_store: Store, receiver: Receiver) -> None:
    """Story 1 as it happens: the new version arrives, its consumers are told."""
    lineage.manifest.register_text(fraud_store, fraud_manifest(receiver.url))
    assert fraud_store.outbox_status()["pending"] == 0  # channels alone notify nobody
    text = fraud_manifest(receiver.url, category="string", new_version="2026-04")
    result = lineage.manifest.register_text(fraud_store, text)
    assert result.notifications_enqueued == 3
    items = fraud_store.outbox("pending")
    assert {i.consumer for i in items} == {"consumer:risk-rules-engine",
                                           "consumer:fraud-dashboard",
                                           "consumer:alerting-service"}
    version = "dataset_version:postgres://db.prod:5432/public.transactions@2026-04"
    for item in items:
        assert item.event == "new_version" and item.payload["dataset_version"] == version
        assert item.payload["context"]["previous_version"].endswith("transactions@2026-03")
        assert item.payload["verdict"]["verdict"] == "breaking"
        assert item.payload["path"][0].endswith("public.transactions.category")
        assert item.payload["path"][-1] == item.consumer
        assert item.payload["changes"][0]["kind"] == "type_changed"
    assert not lineage.manifest.register_text(fraud_store, text).notifications_enqueued
    drain(fraud_store)
    assert set(receiver.accepted) == {i.idempotency_key for i in items}


def test_a_failed_registration_enqueues_no_notification(
        fraud_store: Store, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    lineage.manifest.register_text(fraud_store, fraud_manifest(receiver.url))
    before = snapshot(fraud_store)
    text = fraud_manifest(receiver.url, category="string", new_version="2026-04")
    # the SQL store that holds the outbox: the store itself, or a Neo4j store's records side
    sql = getattr(fraud_store, "records", fraud_store)
    enqueue_in = type(sql)._enqueue_in

    def enqueue_then_fail(self: Any, conn: Any, notifications: Any) -> int:
        assert enqueue_in(self, conn, notifications) == 3  # written, in the transaction...
        raise lineage.StoreError("the database went away")  # ...which then fails

    monkeypatch.setattr(type(sql), "_enqueue_in", enqueue_then_fail)
    with pytest.raises(lineage.StoreError):
        lineage.manifest.register_text(fraud_store, text)
    monkeypatch.undo()
    assert fraud_store.outbox_status() == {"pending": 0, "delivered": 0, "dead": 0}
    assert snapshot(fraud_store) == before
    assert not fraud_store.exists(
        ["dataset_version:postgres://db.prod:5432/public.transactions@2026-04"])


def test_a_field_becoming_nullable_notifies_the_consumer_whose_contract_requires_it(
        store: Store, receiver: Receiver) -> None:
    """Story 2: nullability, under a contract that says required. The feature pipeline
    reads a copy of status without a contract: nulls may break it (unknown), so it is told
    too, as unknown."""
    lineage.manifest.register_text(store, CONTRACTS.replace("URL", receiver.url))
    assert notify_change(store, "orders.status", ["nullable"]) == 2
    items = {i.consumer: i for i in store.outbox("pending")}
    assert set(items) == {"consumer:billing", "consumer:feature-pipeline"}  # bi: amount only
    item = items["consumer:billing"]
    assert "requires 'status'" in item.payload["verdict"]["reason"]
    assert item.payload["verdict"]["through"] == "dataset:pg/public.orders"
    assert item.payload["verdict"]["verdict"] == "breaking"
    assert items["consumer:feature-pipeline"].payload["verdict"]["verdict"] == "unknown"
    drain(store)
    assert set(receiver.accepted) == {i.idempotency_key for i in items.values()}


def test_a_column_renamed_under_a_feature_pipeline_notifies_it_on_registration(
        store: Store, receiver: Receiver) -> None:
    """Story 3: a rename, observed in a new version's schema, breaks the feature pipeline."""
    lineage.manifest.register_text(store, CONTRACTS.replace("URL", receiver.url))
    renamed = (CONTRACTS.replace("URL", receiver.url)
               .replace("{name: status, type: int32, nullable: false}",
                        "{name: order_status, type: int32, nullable: false}")
               .replace('{version: "1", created_at: 2026-01-01}',
                        '{version: "1", created_at: 2026-01-01, fields: [{name: id, type: '
                        'int64, nullable: false}, {name: status, type: int32, nullable: false}, '
                        '{name: amount, '
                        'type: float64}]}\n      - {version: "2", created_at: 2026-02-01}'))
    result = lineage.manifest.register_text(store, renamed)
    items = {i.consumer: i for i in store.outbox("pending")}
    assert result.notifications_enqueued == len(items) >= 2
    assert set(items) == {"consumer:billing", "consumer:feature-pipeline"}
    pipeline = items["consumer:feature-pipeline"].payload
    assert pipeline["changes"][0]["kind"] == "renamed"
    assert pipeline["changes"][0]["new_name"] == "order_status"
    assert pipeline["path"] == ["field:pg/public.orders.status", "field:pg/marts.daily.status",
                                "consumer:feature-pipeline"]
    feature = next(j for j in pipeline["impact"]["breaking"] if j["kind"] == "feature")
    assert [s["key"] for s in feature["path"]] == [
        "field:pg/public.orders.status", "field:pg/marts.daily.status", "feature:status_f"]
    drain(store)
    assert len(receiver.accepted) == len(items)


# ------------------------------------------------------------------ a deliverer killed mid-batch

_DELIVERER = """
import sys
import lineage
from lineage.notify import deliver

store = lineage.connect(sys.argv[1])
deliver(store, batch_size=10, lease_seconds=float(sys.argv[2]), workers=2)
"""


def test_a_deliverer_killed_mid_batch_loses_nothing_and_resends_only_what_was_in_flight(
        store: Store, store_url: str) -> None:
    receiver = Receiver(delay=0.1).start()
    try:
        channel = webhook(receiver.url)
        consumer = add_consumer(store, "ops", channel)
        store.enqueue(specs(consumer, channel, 40))
        proc = subprocess.Popen([sys.executable, "-c", _DELIVERER, store_url, "2.0"])
        try:
            for _ in range(6000):  # until the second batch is on its way (hang guard only)
                if len(receiver.requests) >= 13 or proc.poll() is not None:
                    break
                time.sleep(0.01)
            assert proc.poll() is None, "the deliverer finished before it could be killed"
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait()
        before_kill = receiver.attempts()
        pending = store.outbox("pending", limit=1000)
        in_flight = {i.idempotency_key for i in pending if i.lease_until is not None}
        settled = {i.idempotency_key for i in store.outbox("delivered", limit=1000)}
        assert len(settled) >= 10 and 0 < len(in_flight) <= 10
        assert {k for k in before_kill} <= settled | in_flight

        for _ in range(200):  # a normal run, once the dead deliverer's leases expire
            deliver(store, batch_size=10)
            if store.outbox_status()["pending"] == 0:
                break
            time.sleep(0.05)
    finally:
        receiver.stop()
    counts = receiver.attempts()
    assert set(counts) == {f"k{i}" for i in range(40)}  # nothing lost
    resent = {key for key, n in counts.items() if n > 1}
    assert resent and resent <= in_flight  # only what was in flight came twice
    assert all(n <= 2 for n in counts.values())
    assert store.outbox_status() == {"pending": 0, "delivered": 40, "dead": 0}


# ------------------------------------------------------------------ the CLI


def test_notify_cli_delivers_reports_lists_and_redrives(store: Store, store_url: str) -> None:
    from lineage_cli.context import App
    from lineage_cli.notify import notify

    receiver = Receiver(always_fail=True).start()
    try:
        consumer = add_consumer(store, "ops", webhook(receiver.url))
        store.enqueue(specs(consumer, webhook(receiver.url), 2))
        runner = CliRunner()

        def run(*args: str) -> Any:
            result = runner.invoke(notify, list(args), obj=App(store_url),
                                   catch_exceptions=False)
            assert result.exit_code == 0, result.output
            return result

        out = run("deliver", "--max-attempts", "1", "--format", "json")
        assert json.loads(out.output)["dead"] == 2
        assert json.loads(run("status", "--format", "json").output) == {
            "pending": 0, "delivered": 0, "dead": 2}
        listed = json.loads(run("list", "--state", "dead", "--format", "json").output)
        assert [i["idempotency_key"] for i in listed] == ["k0", "k1"]
        assert SECRET not in json.dumps(listed)
        assert "dead" in run("list").output and "HTTP 500" in run("list").output
        assert "redriven: 1 notification" in run("redrive", "--id", str(listed[0]["id"])).output
        assert json.loads(run("redrive", "--all", "--format", "json").output) == {"redriven": 1}
        receiver.always_fail = False
        assert "delivered 2" in run("deliver").output
        assert "delivered" in run("status").output
        bad = runner.invoke(notify, ["redrive"], obj=App(store_url))
        assert bad.exit_code == 2 and "--all" in bad.output
        for command in ("deliver", "status", "list", "redrive"):
            assert "Examples:" in run(command, "--help").output
    finally:
        receiver.stop()


UNSURE = """\
namespace: u
datasets:
  - name: raw
    fields: [{name: a, type: int32}, {name: b, type: int32}]
  - name: mart
    fields: [{name: q, type: int64}]
  - name: copy
    fields: [{name: a, type: int32}]
jobs:
  - {name: load, inputs: [raw], outputs: [mart]}
derivations:
  - {from: raw.a, to: copy.a, transformation: identity}
consumers:
  - name: behind-the-job
    consumes: [mart]
    channels: [{kind: file, path: behind.ndjson}]
  - name: of-the-copy
    consumes: [copy.a]
    channels: [{kind: file, path: copy.ndjson}]
  - name: elsewhere
    consumes: [raw]
    contracts: [{asset: raw, properties: [{name: b}]}]
    channels: [{kind: file, path: elsewhere.ndjson}]
"""


def test_a_consumer_whose_verdict_is_unknown_is_told_it_may_break(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """int32 -> int64 on raw.a: the copy overflows (its consumer breaks); the job reads raw
    without column lineage, so the consumer of its output may break (unknown): it was
    skipped, it is now told, as unknown; a consumer whose contract does not use raw.a
    (compatible) is not."""
    monkeypatch.setenv("LINEAGE_NOTIFICATIONS_ROOT", str(tmp_path))
    lineage.manifest.register_text(store, UNSURE)
    impact = change_impact(store, "raw.a", ["type:int64"])
    notes = {n.consumer: n for n in notifications_for(store, impact)}
    assert set(notes) == {"consumer:behind-the-job", "consumer:of-the-copy"}
    unsure = notes["consumer:behind-the-job"]
    assert unsure.payload["verdict"]["verdict"] == "unknown"
    assert "may break" in unsure.payload["text"] and "unknown" in unsure.payload["subject"]
    sure = notes["consumer:of-the-copy"]
    assert sure.payload["verdict"]["verdict"] == "breaking"
    assert sure.payload["text"].startswith("Proposed breaking change")
