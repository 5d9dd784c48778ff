"""Commands that retire nodes: `deprecate` and `delete` (soft: history is kept)."""

from __future__ import annotations

import click

from lineage.lifecycle import LifecycleResult
from lineage.lifecycle import delete as delete_node
from lineage.lifecycle import deprecate as deprecate_node

from . import output
from .context import App, format_option, pass_app

_REASON = click.option("--reason", default=None, metavar="TEXT",
                       help="Why, recorded on the node and in the audit log.")


@click.command()
@click.argument("name")
@_REASON
@format_option
@pass_app
def deprecate(app: App, name: str, reason: str | None, fmt: str) -> None:
    """Mark NAME deprecated and show where it is still depended on.

    A deprecated node stays in every answer, marked `deprecated` (impact's table and JSON);
    this lists the consumers and model versions downstream of it that are not deleted, so
    you know whom to move first. A dataset's fields and versions, and a model's versions,
    are deprecated with it. Audited; re-running it changes nothing.

    \b
    Examples:
      lineage deprecate transactions --reason "replaced by transactions_v2"
      lineage deprecate fraud --format json
    """
    with app.audited("deprecate", name, {"reason": reason}):
        result = deprecate_node(app.store, name, reason, app.principal)
    _show(result, fmt)


@click.command()
@click.argument("name")
@_REASON
@format_option
@pass_app
def delete(app: App, name: str, reason: str | None, fmt: str) -> None:
    """Mark NAME deleted: impact and notifications leave it out from now on.

    A soft delete: the node, its edges and its history stay in the store (and in the audit
    log), but impact answers leave it out (saying how many they left out) and no
    notification goes to a deleted consumer. A dataset's fields and versions, and a model's
    versions, are deleted with it. Registering a manifest that still declares NAME brings
    it back: remove it from the manifest too, or use `lineage register --prune`. A table an
    OpenLineage DROP already retired (`lifecycle_by: openlineage`) becomes yours: a later
    event that writes it no longer brings it back.

    \b
    Examples:
      lineage delete alerting-service --reason "decommissioned"
      lineage delete transactions --format json
    """
    with app.audited("delete", name, {"reason": reason}):
        result = delete_node(app.store, name, reason, app.principal)
    _show(result, fmt)


def _show(result: LifecycleResult, fmt: str) -> None:
    if fmt == "json":
        output.emit_json(result.to_dict())
        return
    console = output.out()
    what = f"{result.node.kind.value} {result.node.key}"
    if result.unchanged:
        console.print(f"nothing changed: {what} is already {result.state}", soft_wrap=True)
    else:
        also = len(result.marked) - 1 if result.node.key in result.marked else len(result.marked)
        suffix = f" (and {output.plural(also, 'node')} it owns)" if also else ""
        console.print(f"{result.state} {what}{suffix}", soft_wrap=True)
    if result.state == "deprecated":
        if not result.dependents:
            console.print("nothing depends on it any more", soft_wrap=True)
        else:
            console.print(output.table("still depended on by", ["kind", "key"],
                                       [(r.kind.value, r.key) for r in result.dependents]))
