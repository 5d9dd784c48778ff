"""`lineage consumers`: who depends on what, with contracts and channels."""

from __future__ import annotations

from typing import Any

import click

from lineage.consumers import consumers as list_consumers

from . import output
from .context import App, depth_option, format_option, pass_app


@click.command()
@click.argument("name", required=False)
@depth_option
@click.option("--deleted", "include_deleted", is_flag=True,
              help="Also list deleted consumers (`lineage delete`), marked (deleted). Only "
                   "the full listing has any: nothing depends on NAME through a deleted "
                   "node.")
@format_option
@pass_app
def consumers(app: App, name: str | None, depth: int | None, include_deleted: bool,
              fmt: str) -> None:
    """List consumers: all of them, or those that depend on NAME, transitively.

    For each: its owner, the assets it consumes directly, its contracts (per asset, the
    fields it relies on) and its notification channels. With NAME (a dataset, field,
    feature, model...: a full key or an unambiguous suffix), only the consumers downstream
    of it, each with one shortest path from NAME; a consumer of a dataset depends on each
    of its fields. With --depth, an answer the bound cut says so (a 'truncated' line;
    "truncated": true in JSON). In the contract column, `*` marks a required field. A deprecated
    consumer is marked (deprecated); a deleted one is left out unless --deleted (`state`
    in JSON). No consumers is not an error (exit 0).

    \b
    Examples:
      lineage consumers
      lineage consumers transactions.category
      lineage consumers fraud.scores --format json
      lineage consumers transactions.category --depth 3   # says if it cut any
      lineage consumers --deleted          # retired ones too, marked (deleted)
    """
    uses = list_consumers(app.store, name, depth, include_deleted=include_deleted)
    if fmt == "json":
        output.emit_json({"name": name, "max_depth": uses.max_depth,
                          "truncated": uses.truncated,
                          "consumers": [u.to_dict() for u in uses]})
        return
    console = output.out()
    if not uses:
        console.print(f"no consumer depends on {name}" if name else "no consumers registered",
                      soft_wrap=True)
        _print_truncated(console, uses.truncated, uses.max_depth)
        return
    # who first, then how they depend on NAME (or what they consume), what they hold to,
    # how to reach them
    columns = (["consumer", "path", "contract", "consumes", "channels", "owner"] if name else
               ["consumer", "consumes", "contract", "channels", "owner"])
    names = {u.consumer.key: u.consumer.name for u in uses}
    for u in uses:
        names.update({c.key: c.name for c in u.consumes})
    rows = []
    for u in uses:
        contract = "; ".join(
            f"{names.get(asset, asset)}: "
            + ", ".join(f["name"] + ("*" if f.get("required") else "") for f in c["fields"])
            for asset, c in sorted(u.contracts.items()) if c.get("fields"))
        channels = ", ".join(f"{c.kind} {c.target}" for c in u.channels)
        cells = {"consumer": output.with_state(u.consumer.name, u.state), "owner": u.owner or "",
                 "consumes": ", ".join(c.name for c in u.consumes), "contract": contract,
                 "channels": channels,
                 "path": (output.path_text(u.reached.path, u.reached.through)
                          + (" [dataset-level lineage, column unknown]"
                             if u.reached.column_unknown else "")) if u.reached else ""}
        rows.append([cells[c] for c in columns])
    title = f"Consumers of {name}" if name else "Consumers"
    console.print(output.table(f"{title} ({len(uses)})", columns, rows,
                               wrap=["consumes", "contract", "channels", "path"],
                               optional=["owner", "channels",
                                         *(["consumes", "contract"] if name else [])]))
    _print_truncated(console, uses.truncated, uses.max_depth)


def _print_truncated(console: Any, truncated: bool, depth: int | None) -> None:
    """The line saying a --depth bound left out consumers."""
    if truncated:
        console.print(f"truncated at depth {depth}: more consumers lie beyond it (leave out "
                      "--depth to see them all)", soft_wrap=True)
