"""Delivering the outbox: claim a batch under a lease, send it, record each outcome as it
comes.

At-least-once: an item leaves the outbox's pending state only after its channel said it
arrived. Outcomes are recorded while the batch is still being sent (those that finished
while the previous record was being written go together in one transaction), so a
deliverer that dies mid-batch leaves unrecorded only what it was sending at that moment;
the leases of those items expire and the next deliverer sends them (and only them) again,
with the same idempotency key and body, so receivers can drop the copy. An attempt counts
when its outcome is recorded: a claim that died before it sent anything costs none.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .._errors import ValidationError
from .._model import DeliveryOutcome, OutboxItem
from ..store.operations import OperationsStore
from ._channels import Channel, DeliveryFailed, NotifySettings, channel_for


@dataclass(frozen=True)
class Backoff:
    """When to retry after the n-th failed attempt: exponential from `base` seconds, capped
    at `cap`, with jitter (each delay is drawn from the upper half of its step, so retries
    of a batch that failed together spread out and never come sooner than half a step)."""

    base: float = 1.0
    cap: float = 3600.0

    def __post_init__(self) -> None:
        if not (self.base > 0 and self.cap >= self.base):
            raise ValidationError(f"backoff needs 0 < base <= cap, got base={self.base}, "
                                  f"cap={self.cap}")

    def delay(self, attempt: int) -> float:
        step = min(self.cap, self.base * 2.0 ** min(max(attempt - 1, 0), 64))
        return step / 2 + random.uniform(0, step / 2)


@dataclass
class DeliveryStats:
    """What one `deliver` call did. `retried`: failed attempts to be retried later;
    `dead`: items dead-lettered (failed `max_attempts` times)."""

    batches: int = 0
    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    seconds: float = 0.0
    #: the last few failures as (outbox id, error), newest last
    errors: list[tuple[int, str]] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.delivered / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "errors": [{"id": i, "error": e} for i, e in self.errors],
                "per_second": round(self.per_second, 1)}


class _Channels:
    """The channel object of each kind, made on first use and closed at the end."""

    def __init__(self, given: Mapping[str, Channel] | None,
                 settings: NotifySettings | None) -> None:
        self._given = dict(given or {})
        self._made: dict[str, Channel] = {}
        self._settings = settings
        self._lock = threading.Lock()

    def __getitem__(self, kind: str) -> Channel:
        if kind in self._given:
            return self._given[kind]
        with self._lock:
            if kind not in self._made:
                self._settings = self._settings or NotifySettings.from_env()
                self._made[kind] = channel_for(kind, self._settings)
            return self._made[kind]

    def close(self) -> None:
        for channel in self._made.values():
            channel.close()


def _send(channels: _Channels, item: OutboxItem) -> str | None:
    """None when delivered, else why not."""
    try:
        channels[item.channel.kind].send(item)
    except DeliveryFailed as exc:
        return exc.message
    except Exception as exc:  # a broken channel must not stop the others' deliveries
        return f"{type(exc).__name__}: {exc}"
    return None


#: how long outcomes wait for others to share their transaction (see `deliver`)
_SETTLE_LINGER_SECONDS = 0.01


def _outcome(item: OutboxItem, error: str | None, now: datetime, max_attempts: int,
             backoff: Backoff, stats: DeliveryStats) -> DeliveryOutcome:
    """The outcome of this attempt of `item` (its `attempts` recorded before this one),
    counted in `stats`."""
    if error is None:
        stats.delivered += 1
        return DeliveryOutcome(item.id)
    stats.errors = [*stats.errors[-9:], (item.id, error)]
    attempts = item.attempts + 1
    if attempts >= max_attempts:
        stats.dead += 1
        return DeliveryOutcome(item.id, error)
    stats.retried += 1
    return DeliveryOutcome(item.id, error, now + timedelta(seconds=backoff.delay(attempts)))


def deliver(store: OperationsStore, *, batch_size: int = 100, lease_seconds: float = 60.0,
            max_attempts: int = 8, backoff: Backoff | None = None, watch: bool = False,
            poll_interval: float = 1.0, stop: threading.Event | None = None,
            workers: int = 8, channels: Mapping[str, Channel] | None = None,
            settings: NotifySettings | None = None,
            on_batch: Callable[[DeliveryStats], None] | None = None) -> DeliveryStats:
    """Deliver due notifications until none is due (or, with `watch`, until `stop` is set),
    and return what was done.

    Each round claims up to `batch_size` items leased for `lease_seconds` (more than a
    batch takes to send: an item whose lease runs out may be sent twice) and sends them on
    `workers` threads; each outcome is recorded as soon as it is known (those known
    together in one transaction): delivered, retried after `backoff` (default: 1 s
    doubling up to 1 h, with jitter), or dead once `max_attempts` attempts failed. An item
    is never sent more than `max_attempts` times by deliverers that live to record it.
    `channels` (kind -> Channel) replaces the built-in channel objects; `settings`
    defaults to NotifySettings.from_env(). `on_batch` is called with the running totals
    after each batch. Without `watch`, items that are not due yet (a
    retry scheduled later) are left for a later call.
    """
    if batch_size <= 0 or workers <= 0 or max_attempts <= 0:
        raise ValidationError("batch_size, workers and max_attempts must be positive")
    if not (lease_seconds > 0 and poll_interval >= 0):
        raise ValidationError("lease_seconds must be positive and poll_interval >= 0")
    backoff = backoff or Backoff()
    stop = stop or threading.Event()
    stats = DeliveryStats()
    started = time.perf_counter()
    kinds = _Channels(channels, settings)
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lineage-deliver"
                                ) as pool:
            while not stop.is_set():
                items = store.claim(batch_size, lease_seconds)
                if not items:
                    if not watch:
                        break
                    stop.wait(poll_interval)
                    continue
                sending: dict[Future[str | None], OutboxItem] = {
                    pool.submit(_send, kinds, item): item for item in items}
                waiting = set(sending)
                while waiting:
                    # whatever finished while the last outcomes were written, and in the
                    # next few ms: one transaction (one per outcome cost 25-35% of the
                    # webhooks/s; a crash can lose at most these few outcomes more)
                    done, waiting = wait(waiting, return_when=FIRST_COMPLETED)
                    if waiting:
                        more, waiting = wait(waiting, timeout=_SETTLE_LINGER_SECONDS)
                        done |= more
                    now = datetime.now(UTC)
                    store.settle([_outcome(sending[f], f.result(), now, max_attempts,
                                           backoff, stats) for f in done], now)
                stats.batches += 1
                stats.claimed += len(items)
                stats.seconds = time.perf_counter() - started
                if on_batch is not None:
                    on_batch(stats)
    finally:
        kinds.close()
    stats.seconds = time.perf_counter() - started
    return stats
