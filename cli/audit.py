"""`lineage audit`: who wrote what, from the CLI and the server alike."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click

from . import output
from .context import App, format_option, pass_app


@click.command()
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="Show the newest N entries.")
@click.option("--since", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]), default=None,
              help="Only entries at or after this UTC time (2026-11-01 or 2026-11-01T08:00:00).")
@format_option
@pass_app
def audit(app: App, limit: int, since: datetime | None, fmt: str) -> None:
    """Show the audit log, newest first: every write with its principal.

    Server requests are logged under their token's name; CLI writes (register, tag,
    review, ingest, token create/revoke, notify redrive) under `local:<OS user>`. An
    entry commits in the same transaction as the write it records.

    The table shows when, who, what and on which first; the detail column when the
    terminal is wide enough (`--wide` always shows it, one line per entry).

    \b
    Examples:
      lineage audit
      lineage audit --wide
      lineage audit --limit 10 --since 2026-11-01 --format json
    """
    if since is not None:
        since = since.replace(tzinfo=UTC)
    entries = app.store.audit_log(limit, since)
    if fmt == "json":
        output.emit_json({"entries": [e.to_dict() for e in entries]})
        return
    rows = [("" if e.at is None else output.utc(e.at), e.principal, e.action, e.target or "",
             json.dumps(e.detail, sort_keys=True) if e.detail else "") for e in entries]
    # who did what to which first; the detail (files, options) when the width allows
    output.out().print(output.table(None, ["at (UTC)", "principal", "action", "target",
                                           "detail"], rows, wrap=["detail"],
                                    optional=["detail"]))
