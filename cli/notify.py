"""`lineage notify`: deliver the notification outbox, and look into it.

Registered on the root group by `lineage_cli.main`; the store comes from the root group's
`--store` (the `App` in the click context).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, cast

import click
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from lineage import OUTBOX_STATES, OutboxItem, OutboxState
from lineage.notify import DeliveryStats, deliver

from . import output
from .context import App, format_option, pass_app


@click.group()
def notify() -> None:
    """Notify consumers of breaking changes: deliver the outbox, inspect it, redrive it.

    Registering a dataset version whose schema breaks a consumer, or `lineage.notify_change`
    for a proposed change, puts one notification per consumer judged breaking or unknown
    (told that it may break) and channel
    (webhook, email, file) in the store's outbox, in the same transaction as the change.
    `deliver` sends them: at least once, retried with backoff, dead after --max-attempts.

    \b
    Examples:
      lineage notify deliver
      lineage notify deliver --watch
      lineage notify status
      lineage notify list --state dead
      lineage notify redrive --all
    """


@notify.command("deliver")
@click.option("--watch", is_flag=True,
              help="Keep delivering as notifications come in, until Ctrl-C (or SIGTERM); "
                   "the batch in flight is finished first.")
@click.option("--batch", "batch_size", type=click.IntRange(min=1), default=100,
              show_default=True, metavar="N", help="Notifications claimed per round.")
@click.option("--max-attempts", type=click.IntRange(min=1), default=8, show_default=True,
              metavar="N", help="Failed attempts (requests sent, outcome recorded) before a "
                                "notification is dead-lettered.")
@click.option("--lease", "lease_seconds", type=click.FloatRange(min=0, min_open=True),
              default=60.0, show_default=True, metavar="S",
              help="Seconds a claimed batch is reserved for this deliverer; if it dies, "
                   "another one sends the batch after that.")
@click.option("--workers", type=click.IntRange(min=1), default=8, show_default=True,
              metavar="N", help="Notifications sent at once.")
@click.option("--poll", "poll_interval", type=click.FloatRange(min=0), default=1.0,
              show_default=True, metavar="S", help="With --watch: seconds between looks.")
@format_option
@pass_app
def deliver_command(app: App, watch: bool, batch_size: int, max_attempts: int,
                    lease_seconds: float, workers: int, poll_interval: float,
                    fmt: str) -> None:
    """Send the due notifications of the outbox to their channels, then print a summary.

    A webhook is delivered when it answers 2xx; anything else is retried with
    exponential backoff and jitter (1 s doubling up to 1 h) until --max-attempts, then
    dead (see `notify list --state dead`, `notify redrive`). Several deliverers may run
    at once, on any machines: each claims its own batch. Each outcome is recorded as it
    comes, so a deliverer killed mid-batch leaves only what it was sending to be sent
    again (same idempotency key and body). Webhooks are signed: X-Lineage-Signature is
    the HMAC-SHA256 of X-Lineage-Timestamp, ".", and the body (see the README). Failed
    deliveries are reported, not an error: the exit code is 0 unless the store fails.

    SMTP comes from LINEAGE_SMTP_HOST, LINEAGE_SMTP_PORT (default 127.0.0.1:25) and
    LINEAGE_SMTP_FROM; webhook secrets named by a channel's secret_env are read from the
    environment. File channels append below LINEAGE_NOTIFICATIONS_ROOT (default
    out/notifications), following no symbolic link below it.

    \b
    Examples:
      lineage notify deliver
      LINEAGE_NOTIFICATIONS_ROOT=/var/lib/lineage/notifications lineage notify deliver
      lineage notify deliver --batch 500 --workers 16
      lineage notify deliver --watch --lease 120
      lineage notify deliver --format json
    """
    stop = threading.Event()
    with _stop_on_signals(stop, watch), _progress(fmt) as show:
        stats = deliver(app.store, batch_size=batch_size, lease_seconds=lease_seconds,
                        max_attempts=max_attempts, watch=watch, poll_interval=poll_interval,
                        stop=stop, workers=workers, on_batch=show)
    if fmt == "json":
        output.emit_json(stats.to_dict())
        return
    console = output.out()
    console.print(f"delivered {stats.delivered:,}, to retry {stats.retried:,}, dead "
                  f"{stats.dead:,} in {stats.seconds:.1f}s ({stats.per_second:,.0f}/s)",
                  soft_wrap=True)
    for item_id, error in stats.errors:
        console.print(f"  #{item_id}: {error}", soft_wrap=True)


@notify.command("status")
@format_option
@pass_app
def status_command(app: App, fmt: str) -> None:
    """How many notifications the outbox holds: pending, delivered, dead.

    \b
    Examples:
      lineage notify status
      lineage notify status --format json
    """
    counts = app.store.outbox_status()
    if fmt == "json":
        output.emit_json(counts)
        return
    output.out().print(output.table("outbox", ["state", "count"],
                                    [(state, f"{n:,}") for state, n in counts.items()],
                                    right=["count"]))


@notify.command("list")
@click.option("--state", type=click.Choice(list(OUTBOX_STATES)), default=None,
              help="Only notifications in this state [default: all].")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True,
              metavar="N", help="Show at most N notifications.")
@format_option
@pass_app
def list_command(app: App, state: str | None, limit: int, fmt: str) -> None:
    """List notifications in the outbox, oldest first (JSON includes their payloads).

    \b
    Examples:
      lineage notify list
      lineage notify list --state dead
      lineage notify list --state pending --limit 20 --format json
    """
    items = app.store.outbox(cast(OutboxState | None, state), limit)
    if fmt == "json":
        output.emit_json([item.to_dict() for item in items])
        return
    output.out().print(output.table(
        f"outbox ({len(items)})",
        ["id", "consumer", "state", "event", "error", "attempts", "next attempt", "channel"],
        [_row(item) for item in items], wrap=["error"], right=["id", "attempts"],
        optional=["channel", "attempts", "next attempt"]))


@notify.command("redrive")
@click.option("--id", "ids", type=click.IntRange(min=1), multiple=True, metavar="N",
              help="A dead notification to retry (repeatable).")
@click.option("--all", "everything", is_flag=True, help="Retry every dead notification.")
@format_option
@pass_app
def redrive_command(app: App, ids: tuple[int, ...], everything: bool, fmt: str) -> None:
    """Give dead notifications another round: pending again, attempts reset to 0.

    `notify deliver` sends them next. Ids that are not dead are left as they are.

    \b
    Examples:
      lineage notify redrive --id 17 --id 18
      lineage notify redrive --all
    """
    if bool(ids) == everything:
        raise click.UsageError("give --id N (repeatable) or --all")
    with app.audited("notify.redrive", "all" if everything else ", ".join(map(str, ids))):
        count = app.store.redrive(None if everything else list(ids))
    if fmt == "json":
        output.emit_json({"redriven": count})
        return
    output.out().print(f"redriven: {output.plural(count, 'notification')}", soft_wrap=True)


def _row(item: OutboxItem) -> list[Any]:
    def when(value: datetime | None) -> str:
        return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")

    return [str(item.id), item.consumer.partition(":")[2], item.state, item.event,
            item.last_error or "", str(item.attempts),
            when(item.next_attempt_at) if item.state == "pending" else "",
            f"{item.channel.kind} {item.channel.target}"]


@contextmanager
def _stop_on_signals(stop: threading.Event, watch: bool) -> Iterator[None]:
    """With --watch, Ctrl-C and SIGTERM end the loop after the batch in flight."""
    if not watch or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def _progress(fmt: str) -> Iterator[Any]:
    """A spinner with running counts on a terminal; silent for JSON and in pipes."""
    if fmt != "table" or not output.err().is_terminal:
        yield None
        return
    bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                   console=output.err(), transient=True)
    task = bar.add_task("delivering")

    def show(stats: DeliveryStats) -> None:
        bar.update(task, description=f"delivered {stats.delivered:,}, to retry "
                                     f"{stats.retried:,}, dead {stats.dead:,}")

    with bar:
        yield show
