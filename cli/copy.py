"""`lineage copy`: move a whole store between backends."""

from __future__ import annotations

import click

import lineage

from . import output
from .context import App, format_option, pass_app


@click.command("copy")
@click.option("--from", "src", metavar="URL", default=None,
              help="The store to copy (default: the global --store).")
@click.option("--to", "dst", metavar="URL", required=True, help="The store to copy into.")
@format_option
@pass_app
def copy_cmd(app: App, src: str | None, dst: str, fmt: str) -> None:
    """Copy a whole store into another, between any two backends.

    Copies the graph (nodes, edges, schema snapshots), consumers' contracts and channels,
    record assertions, the notification outbox with each item's state, API tokens (as
    hashes) and the audit log. The source must exist; the destination is created if needed.

    Idempotent: what the destination already holds is matched and not written again, so
    running the same copy twice changes nothing the second time, and an interrupted copy
    is completed by running it again. Node timestamps and assertion batch ids are the
    destination's own.

    \b
    Examples:
      lineage copy --from sqlite:///lineage.db --to postgresql://postgres@127.0.0.1:5432/test
      lineage copy --from sqlite:///lineage.db \\
          --to 'bolt://127.0.0.1:7687?records=sqlite:///lineage-records.db'
      lineage --store sqlite:///lineage.db copy --to sqlite:///backup.db --format json
    """
    source_url = src or app.url
    if source_url == dst:
        raise lineage.ValidationError("--from and --to name the same store; copy into "
                                      "another one")
    with lineage.connect(source_url, create=False) as source, lineage.connect(dst) as target:
        report = lineage.copy_store(
            source, target,
            progress=None if fmt == "json" else lambda part: output.err().print(
                f"copying {part}"))
    if fmt == "json":
        output.emit_json(report.to_dict())
        return
    rows = [(part.replace("_", " "), count) for part, count in report.to_dict().items()
            if part != "changed"]
    output.out().print(output.table("written", ["part", "count"], rows))
    if not report.changed:
        output.out().print("nothing to copy: the destination already holds all of it")
