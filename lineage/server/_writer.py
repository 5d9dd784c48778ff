"""Group commit for OpenLineage ingest: one writer, one transaction per group.

The writer is a thread of the server (`IngestWriter`) or, on a SQL store by default, a
process of its own fed through a pipe (`ProcessIngestWriter`, see there for why). The
server hands it each request's raw body; the writer parses and checks it (`events_of`).

Why: an ingest transaction has a fixed cost (on PostgreSQL a WAL flush per commit, on SQLite
the write lock and a WAL append; on both, one round of node reads, inserts and updates per
call whatever its size), and producers send one event per request. Requests that arrive while
a transaction is being written queue up; the writer takes everything queued (up to
`max_group_events` events) and ingests it in one `openlineage.ingest` call, so under load the
fixed cost is shared, and when idle a request is written at once (no waiting for a batch to
fill, unless `linger_seconds` asks the writer to wait that long for company).

Producers are closed loops: the OpenLineage clients send an event, wait for its answer, send
the next. So under load the producers answered by one group send their next events while the
writer takes what queued meanwhile, and with no wait the groups settle at about half the
producers each (4 producers: 2.2 requests a transaction). A transaction's fixed cost (on
PostgreSQL ~1.6 ms of the writer's CPU and ~0.9 ms of the server's, against ~1 ms an event
both together) is then paid twice as often as needed. So the writer can expect the
producers it has just answered back (`expect_seconds` > 0; off by default): once it has
taken what was queued, it waits, at most `expect_seconds`, until the group holds that many
requests more (when nothing was queued, the first request to come is one of theirs). A
single producer is never kept waiting, and when none of the expected requests came in time
(producers that stopped or think between events), the next group does not wait.
"""

from __future__ import annotations

import functools
import itertools
import logging
import multiprocessing
import queue
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from contextlib import ExitStack
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from .. import openlineage
from .._access import AuditEntry
from .._errors import LineageError, StoreError, ValidationError
from ..store.base import Store
from . import _http

log = logging.getLogger("lineage.server")

#: most events one group transaction takes (bounds its latency and memory)
DEFAULT_MAX_GROUP_EVENTS = 1000
#: longest wait for the producers answered by the previous group (see the module docstring;
#: off by default: on this busy 2-core machine it grouped 3.1-3.2 requests a transaction
#: instead of 2.2 but its events/s and CPU per event were not better beyond the noise;
#: bench/NOTES-2026-12.md, "Ingest", round 7)
DEFAULT_EXPECT_SECONDS = 0.0


@dataclass(eq=False)
class _Request:
    """One request's events, or its raw JSON body (`events` bytes, read by `resolve` in the
    writer: no parse on the server's event loop)."""

    events: list[Any] | bytes
    principal: str
    reported_by: str | None
    target: str | None
    detail: dict[str, Any]
    per_event: bool = False
    future: Future[dict[str, Any]] = field(default_factory=Future)
    #: why the raw body could not be read (`resolve`)
    failed: LineageError | None = None
    #: the events were parsed from a raw body with no `\u` escape (see openlineage.prepare)
    plain: bool = False

    def resolve(self) -> list[Any]:
        """The events; a raw body is parsed and checked here (ValidationError as the
        route's, raised again by every later call), and the audit detail and target filled
        in from its events."""
        if isinstance(self.events, bytes | bytearray):
            try:
                events = events_of(bytes(self.events), batch=self.per_event)
            except LineageError as exc:
                self.events = []
                self.failed = exc
                raise
            self.failed = None
            self.plain = b"\\u" not in self.events
            target, detail = describe(events)
            self.events = events
            self.detail = {**detail, **self.detail}
            if self.target is None:
                self.target = target
        if self.failed is not None:
            raise self.failed
        return self.events

    def size(self) -> int:
        """How many events the request holds (0 for a body that could not be read)."""
        try:
            return len(self.resolve())
        except LineageError:
            return 0


def events_of(body: bytes, *, batch: bool = False) -> list[Any]:
    """The events of a POST /lineage body (one event, or an array of them) or, `batch`, of
    a POST /lineage/batch body (an array, or `{"events": [...]}`); ValidationError (400)
    for malformed JSON, values the store cannot hold and bodies of another shape."""
    value = _http.parse_json(body)
    if batch:
        if isinstance(value, dict) and set(value) == {"events"}:
            value = value["events"]
        if not isinstance(value, list) or not value:
            raise ValidationError("a batch is a non-empty JSON array of events, or "
                                  "{\"events\": [...]}")
        return value
    events = value if isinstance(value, list) else [value]
    for i, event in enumerate(events):
        if not isinstance(event, dict):
            prefix: list[str | int] = [i] if len(events) > 1 else []
            raise ValidationError("an OpenLineage event is a JSON object",
                                  key=_http.path_text(prefix) or None)
    return events


def describe(events: list[Any]) -> tuple[str | None, dict[str, Any]]:
    """The audit target (the job, when the events name one) and detail of a request."""
    jobs = sorted({f"{e['job'].get('namespace')}/{e['job'].get('name')}" for e in events
                   if isinstance(e, dict) and isinstance(e.get("job"), dict)})
    runs = sorted({str(e["run"].get("runId")) for e in events
                   if isinstance(e, dict) and isinstance(e.get("run"), dict)})
    return (f"job:{jobs[0]}" if len(jobs) == 1 else None,
            {"events": len(events), "jobs": jobs[:20], "runs": runs[:20]})


_STOP = object()


class IngestWriter:
    """Writes OpenLineage events for many concurrent requests, group-committed."""

    def __init__(self, store: Store, *, max_group_events: int = DEFAULT_MAX_GROUP_EVENTS,
                 linger_seconds: float = 0.0, strict: bool = False,
                 expect_seconds: float = DEFAULT_EXPECT_SECONDS) -> None:
        self.store = store
        #: whether an invalid facet rejects its event (else it is dropped and reported)
        self.strict = strict
        self.max_group_events = max(1, max_group_events)
        self.linger_seconds = max(0.0, linger_seconds)
        #: longest wait for the requests of the producers the last group answered
        self.expect_seconds = max(0.0, expect_seconds)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        #: groups written and requests in them (for the bench and the logs)
        self.groups = 0
        self.requests = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="lineage-ingest-writer",
                                            daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish what is queued, then stop."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            self._thread = None

    def submit(self, events: Sequence[Any] | bytes, principal: str, *,
               reported_by: str | None, target: str | None,
               detail: dict[str, Any], per_event: bool = False) -> Future[dict[str, Any]]:
        """Queue one request's events, or its raw JSON body (bytes: parsed by the writer,
        see `events_of`; `per_event` then reads it as a batch body), `principal`: who sent
        them, for the audit log. The future resolves to its answer or its error.
        `per_event`: a bad event is listed in the answer's `rejected` and left out, instead
        of failing the request."""
        if self._thread is None:
            raise RuntimeError("the ingest writer is not running")
        request = _Request(_payload(events), principal, reported_by, target, detail,
                           per_event)
        self._queue.put(request)
        return request.future

    # ---------------------------------------------------------------- the writer thread

    def _run(self) -> None:
        self.run(self._take)

    def _take(self, timeout: float | None) -> Any:
        if timeout is None:
            return self._queue.get()
        return self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()

    def run(self, take: Callable[[float | None], Any]) -> None:
        """Write groups of the requests `take(timeout)` gives until it gives `_STOP`, in
        this thread. `take(None)` waits for a request; `take(seconds)` raises queue.Empty
        when none comes that soon (0: only one already waiting)."""
        stopping = False
        answered = 0  # requests of the last group: their producers send again soon
        expect = True  # False after a wait in vain (see the module docstring)
        while not stopping:
            # What queued while the last group was written: not the answered producers'.
            group: list[_Request] = []
            size = 0
            while size < self.max_group_events:
                try:
                    item = take(0)
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                group.append(item)
                size += item.size()
            # What queued meanwhile came from other producers than the answered ones; when
            # nothing had, the first request to come is one of theirs.
            wanted = len(group) + answered if expect and self.expect_seconds > 0 else 0
            if not group and not stopping:
                first = take(None)
                if first is _STOP:
                    break
                group.append(first)
                size += first.size()
            now = time.monotonic()
            deadline = now + self.linger_seconds
            expected_by = now + self.expect_seconds
            before_wait = len(group)
            while not stopping and size < self.max_group_events:
                now = time.monotonic()
                wait = deadline - now
                if len(group) < wanted:
                    wait = max(wait, expected_by - now)
                try:
                    item = take(max(0.0, wait))  # 0: only what is queued already
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                group.append(item)
                size += item.size()
            if not group:
                break
            # a wait that brought none of them (producers that stopped, or think between
            # events): the next group does not wait; one that brought some, even late, does
            expect = len(group) >= wanted or len(group) > before_wait
            answered = len(group)
            # One principal per transaction: ingest records it on the runs it writes.
            by_principal: dict[str | None, list[_Request]] = {}
            for request in group:
                by_principal.setdefault(request.reported_by, []).append(request)
            for reported_by, requests in by_principal.items():
                self._write(requests, reported_by)

    def _write(self, requests: list[_Request], reported_by: str | None) -> None:
        # Each request is read and checked on its own first: one that fails is answered
        # with its error at once, and the others still share one transaction.
        ready: list[_Request] = []
        checked: list[openlineage.Prepared] = []
        for request in requests:
            try:
                checked.append(openlineage.prepare(request.resolve(), strict=self.strict,
                                                   per_event=request.per_event,
                                                   plain=request.plain))
            except Exception as exc:  # noqa: BLE001 - this request's own answer
                request.future.set_exception(exc)
                continue
            ready.append(request)
        if not ready:
            return
        try:
            result, prepared = self._ingest(ready, reported_by, checked)
        except Exception as exc:  # noqa: BLE001 - each request is retried alone below
            if len(ready) == 1:
                ready[0].future.set_exception(exc)
                return
            # What failed in the transaction (an event the mapping refuses, a conflict, the
            # database) rolled the group back: each request alone, so each gets its outcome.
            for request in ready:
                self._write([request], reported_by)
            return
        requests = ready
        self.groups += 1
        self.requests += len(requests)
        for request, done in zip(requests, prepared, strict=True):
            answer = {
                "status": "accepted",
                "events": len(done.events),
                "dropped_facets": done.dropped_facets,
                "warnings": done.warnings,
                "transaction": {"requests": len(requests), **result},
            }
            if request.per_event:
                answer["rejected"] = done.rejected
                answer["received"] = done.received
            request.future.set_result(answer)

    def _ingest(self, requests: list[_Request], reported_by: str | None,
                prepared: list[openlineage.Prepared]
                ) -> tuple[dict[str, Any], list[openlineage.Prepared]]:
        with ExitStack() as stack:
            entries: list[tuple[AuditEntry, openlineage.Prepared]] = []
            for r, done in zip(requests, prepared, strict=True):
                if r.per_event and not done.events:
                    continue  # a batch refused whole (400) wrote nothing: no audit entry
                detail = {**r.detail, **done.audit_detail()}
                entries.append((stack.enter_context(self.store.audited(
                    r.principal, "ingest", r.target, detail)), done))

            def noted() -> None:
                # the shared-runId warnings, found in the write transaction, before the
                # entries are written: the audit keeps them too
                for entry, done in entries:
                    entry.detail.update(done.audit_detail())

            result = openlineage.write(self.store, prepared, principal=reported_by,
                                       on_warnings=noted).to_dict()
        for name in ("dropped_facets", "warnings", "rejected"):
            del result[name]  # each request's own are in its answer
        return result, prepared


# ------------------------------------------------------------------ in a process of its own


class ProcessIngestWriter:
    """An `IngestWriter` run in a process of its own, with the same `submit`.

    Why: in one process the HTTP event loop and the writer take turns on one interpreter
    lock, so a server's ingest tops out where their CPU per event adds up to one core, and
    each hands the lock to the other twice per request. Here the writer process opens the
    store by `url`, and requests and answers cross a pipe (a few tens of microseconds each).

    Errors keep their answers: the writer process turns a LineageError into its HTTP answer
    (`_http.error_answer`), raised here as `_http.AnsweredError`. If the process dies, the
    requests waiting fail with StoreError (503; a group it was writing rolled back, or had
    committed: ingest is idempotent, so the producer's retry is safe), and a new process is
    started, unless the one that died had run less than `restart_after_seconds` (a process
    that cannot stay up is left stopped, and every request fails with 503 saying so).
    """

    def __init__(self, url: str, *, max_group_events: int = DEFAULT_MAX_GROUP_EVENTS,
                 linger_seconds: float = 0.0, restart_after_seconds: float = 10.0,
                 strict: bool = False, expect_seconds: float = DEFAULT_EXPECT_SECONDS) -> None:
        self.url = url
        self.strict = strict
        self.expect_seconds = expect_seconds
        self.max_group_events = max_group_events
        self.linger_seconds = linger_seconds
        self.restart_after_seconds = restart_after_seconds
        self.groups = 0
        self.requests = 0
        self._lock = threading.Lock()  # guards _pending, _stopped and the current process
        self._sending = threading.Lock()  # one message at a time into the pipe
        self._pending: dict[int, Future[dict[str, Any]]] = {}
        self._ids = itertools.count()
        self._conn: Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        self._reader: threading.Thread | None = None
        self._started_at = 0.0
        #: groups and requests written by the processes before the current one
        self._counted = (0, 0)
        #: why requests are refused now; "" while a process is running
        self._stopped = "the ingest writer is not running"

    def start(self) -> None:
        """Start the process and wait until it has opened the store (StoreError if not)."""
        if self._process is None:
            self._launch()

    def _launch(self) -> None:
        context = multiprocessing.get_context("spawn")  # no fork of a threaded server
        here, there = context.Pipe()
        process = context.Process(
            target=_writer_process, name="lineage-ingest-writer", daemon=True,
            args=(self.url, self.max_group_events, self.linger_seconds, there,
                  log.getEffectiveLevel(), self.strict, self.expect_seconds))
        process.start()
        there.close()
        try:
            ready = here.recv()
        except EOFError:
            process.join(5)
            ready = ("failed", f"exit code {process.exitcode}")
        if ready[0] != "ready":
            here.close()
            process.join(5)
            raise StoreError(f"the ingest writer process could not start: {ready[1]}")
        with self._lock:
            if self._stopped == _STOPPING:  # the server stopped while this one started
                installed = False
            else:
                installed = True
                self._process, self._conn, self._stopped = process, here, ""
                self._started_at = time.monotonic()
        if not installed:
            try:
                here.send(None)  # it writes nothing queued (nothing was sent), and exits
            except OSError:
                pass
            process.join(30)
            if process.is_alive():
                process.kill()
            here.close()
            return
        self._reader = threading.Thread(target=self._read_answers, args=(here, process),
                                        daemon=True, name="lineage-ingest-answers")
        self._reader.start()

    def submit(self, events: Sequence[Any] | bytes, principal: str, *,
               reported_by: str | None, target: str | None,
               detail: dict[str, Any], per_event: bool = False) -> Future[dict[str, Any]]:
        """`IngestWriter.submit`: a raw body crosses the pipe as bytes and is parsed in the
        writer process, so the server's process never holds its interpreter lock for a
        large body's parse or pickling."""
        future: Future[dict[str, Any]] = Future()
        with self._lock:
            if self._stopped or self._conn is None:
                raise StoreError(self._stopped or "the ingest writer is not running")
            ident, conn = next(self._ids), self._conn
            self._pending[ident] = future
        # Not under `_lock`, which the answers' reader takes: a large request waits here
        # until the writer process reads it (after the group it is writing), and that
        # process may meanwhile be sending answers.
        try:
            with self._sending:
                conn.send((ident, _payload(events), principal, reported_by, target, detail,
                           per_event))
        except OSError as exc:
            with self._lock:
                self._pending.pop(ident, None)
            raise StoreError(f"the ingest writer process is gone: {exc}") from None
        return future

    def stop(self, timeout: float = 30.0) -> None:
        """Finish what is queued (every request gets its answer), then stop."""
        with self._lock:
            conn, process, self._stopped = self._conn, self._process, _STOPPING
        if conn is not None:
            try:
                with self._sending:
                    conn.send(None)
            except OSError:
                pass  # already gone: the reader fails what waits
        if process is not None:
            process.join(timeout)
            if process.is_alive():  # it ignores SIGTERM (see _writer_process)
                process.kill()
                process.join(5)
        if self._reader is not None:
            self._reader.join(timeout)
        self._process = self._reader = self._conn = None

    def _read_answers(self, conn: Connection, process: multiprocessing.process.BaseProcess
                      ) -> None:
        """Resolve each request's future from the answers of `process`; when its pipe
        closes, fail what still waits and, unless the server is stopping, start anew."""
        groups, requests = self._counted
        while True:
            try:
                ident, outcome, payload, done_groups, done_requests = conn.recv()
            except (EOFError, OSError):
                break
            self.groups, self.requests = groups + done_groups, requests + done_requests
            with self._lock:
                future = self._pending.pop(ident, None)
            if future is None:  # its sender gave up (the pipe broke)
                continue
            if outcome == "ok":
                future.set_result(payload)
            elif outcome == "error":
                future.set_exception(_http.AnsweredError(*payload))
            else:
                future.set_exception(RuntimeError(f"the ingest writer failed: {payload}"))
        conn.close()
        if self._stopped != _STOPPING:
            process.join(1)  # dead, or about to be: for its exit code
        lived = time.monotonic() - self._started_at
        restart = False
        with self._lock:
            if self._stopped != _STOPPING:
                restart = lived >= self.restart_after_seconds
                self._stopped = (
                    "the ingest writer process stopped; a new one is starting" if restart else
                    f"the ingest writer process stopped {lived:.0f} s after it started; "
                    "restart the server")
                log.error("%s (exit code %s)", self._stopped, process.exitcode)
            message = self._stopped
            waiting, self._pending = self._pending, {}
        for future in waiting.values():
            future.set_exception(StoreError(message))
        if restart:
            self._counted = (self.groups, self.requests)
            try:
                self._launch()
            except StoreError as exc:
                with self._lock:
                    self._stopped = f"{exc}; restart the server"
                log.error("%s", self._stopped)


def _payload(events: Sequence[Any] | bytes) -> list[Any] | bytes:
    return bytes(events) if isinstance(events, bytes | bytearray) else list(events)


#: `ProcessIngestWriter._stopped` once `stop` is called
_STOPPING = "the server is stopping"


def _writer_process(url: str, max_group_events: int, linger_seconds: float,
                    conn: Connection, log_level: int, strict: bool = False,
                    expect_seconds: float = DEFAULT_EXPECT_SECONDS) -> None:
    """The writer process: an IngestWriter over its own connection to `url`, fed from
    `conn`; each answer goes back as (id, outcome, payload, groups, requests). It logs at
    the server's level to stderr, as the server does (a spawned process starts with no
    logging set up)."""
    from ..store import connect

    logging.basicConfig(level=log_level,
                        format="%(levelname)s:  [ingest writer %(process)d] %(message)s")
    # Ctrl-C reaches every process of the terminal's group: the server stops this one
    # through the pipe once the requests queued are written (or this one sees the pipe
    # close), so a signal must not cut a group short.
    for name in ("SIGINT", "SIGTERM"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    try:
        store = connect(url)
    except Exception as exc:  # noqa: BLE001 - told to the server, which refuses to start
        conn.send(("failed", str(exc)))
        return
    writer = IngestWriter(store, max_group_events=max_group_events,
                          linger_seconds=linger_seconds, strict=strict,
                          expect_seconds=expect_seconds)

    def answer(ident: int, future: Future[dict[str, Any]]) -> None:
        exc = future.exception()
        if exc is None:
            message: tuple[Any, ...] = (ident, "ok", future.result())
        elif isinstance(exc, LineageError):
            message = (ident, "error", _http.error_answer(exc))
        else:
            log.error("ingest failed", exc_info=exc)
            message = (ident, "failed", f"{type(exc).__name__}: {exc}")
        conn.send((*message, writer.groups, writer.requests))

    def take(timeout: float | None) -> Any:
        if timeout is not None and not conn.poll(timeout):
            raise queue.Empty
        try:
            message = conn.recv()
        except EOFError:  # the server is gone
            return _STOP
        if message is None:
            return _STOP
        ident, events, principal, reported_by, target, detail, per_event = message
        request = _Request(events, principal, reported_by, target, detail, per_event)
        request.future.add_done_callback(functools.partial(answer, ident))
        return request

    conn.send(("ready",))
    try:
        # In this process's only thread: a thread reading the pipe would take turns with
        # the writer on the interpreter lock, as the event loop did.
        writer.run(take)
    finally:
        store.close()
        conn.close()
