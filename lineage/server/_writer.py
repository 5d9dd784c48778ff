"""Group commit for OpenLineage ingest: one writer thread, one transaction per group.

Why: an ingest transaction has a fixed cost (on PostgreSQL a WAL flush per commit, on SQLite
the write lock and a WAL append; on both, one round of node reads, inserts and updates per
call whatever its size), and producers send one event per request. Requests that arrive while
a transaction is being written queue up; the writer takes everything queued (up to
`max_group_events` events) and ingests it in one `openlineage.ingest` call, so under load the
fixed cost is shared, and when idle a request is written at once (no waiting for a batch to
fill, unless `linger_seconds` asks the writer to wait that long for company).

Each request still gets its own answer: when a group's transaction fails (one request holds
an event the spec rejects, a conflict, the database is down), nothing of the group is
written, and the writer ingests its requests one by one, so each succeeds or fails alone
with its own error. Every request's audit entry commits in the transaction that writes its
events (`Store.audited`).

Concurrent writers (several server processes, `lineage serve --workers`) are safe: `ingest`
merges run states over the stored nodes inside its write transaction
(`Store.apply(batch, merge=...)`), so no writer loses another's state of the same run.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from .. import openlineage
from .._access import Principal
from ..store.base import Store

log = logging.getLogger("lineage.server")

#: most events one group transaction takes (bounds its latency and memory)
DEFAULT_MAX_GROUP_EVENTS = 1000


@dataclass(eq=False)
class _Request:
    events: list[Any]
    principal: Principal
    reported_by: str | None
    target: str | None
    detail: dict[str, Any]
    future: Future[dict[str, Any]] = field(default_factory=Future)


_STOP = object()


class IngestWriter:
    """Writes OpenLineage events for many concurrent requests, group-committed."""

    def __init__(self, store: Store, *, max_group_events: int = DEFAULT_MAX_GROUP_EVENTS,
                 linger_seconds: float = 0.0) -> None:
        self.store = store
        self.max_group_events = max(1, max_group_events)
        self.linger_seconds = max(0.0, linger_seconds)
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

    def submit(self, events: Sequence[Any], principal: Principal, *,
               reported_by: str | None, target: str | None,
               detail: dict[str, Any]) -> Future[dict[str, Any]]:
        """Queue one request's events; the future resolves to its answer or its error."""
        if self._thread is None:
            raise RuntimeError("the ingest writer is not running")
        request = _Request(list(events), principal, reported_by, target, detail)
        self._queue.put(request)
        return request.future

    # ---------------------------------------------------------------- the writer thread

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            group: list[_Request] = [first]
            size = len(first.events)
            deadline = time.monotonic() + self.linger_seconds
            while size < self.max_group_events:
                try:
                    wait = deadline - time.monotonic()
                    item = (self._queue.get(timeout=wait) if wait > 0
                            else self._queue.get_nowait())
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                group.append(item)
                size += len(item.events)
            # One principal per transaction: ingest records it on the runs it writes.
            by_principal: dict[str | None, list[_Request]] = {}
            for request in group:
                by_principal.setdefault(request.reported_by, []).append(request)
            for reported_by, requests in by_principal.items():
                self._write(requests, reported_by)

    def _write(self, requests: list[_Request], reported_by: str | None) -> None:
        try:
            result = self._ingest(requests, reported_by)
        except Exception as exc:  # noqa: BLE001 - each request is retried alone below
            if len(requests) == 1:
                requests[0].future.set_exception(exc)
                return
            for request in requests:
                self._write([request], reported_by)
            return
        self.groups += 1
        self.requests += len(requests)
        for request in requests:
            request.future.set_result({
                "status": "accepted",
                "events": len(request.events),
                "transaction": {"requests": len(requests), **result},
            })

    def _ingest(self, requests: list[_Request], reported_by: str | None) -> dict[str, Any]:
        events = [e for r in requests for e in r.events]
        with ExitStack() as stack:
            for r in requests:
                stack.enter_context(self.store.audited(r.principal.name, "ingest", r.target,
                                                       r.detail))
            result = openlineage.ingest(self.store, events, principal=reported_by)
        return result.to_dict()
