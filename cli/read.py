"""Commands that read the store: impact, graph, show, find, upstream, downstream, stats."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

import click
from rich.text import Text

import lineage
from lineage import Closure, EdgeSpec, FieldSchema, Node, NodeKind, NodeRef, edge_verb
from lineage.impact import ChangeImpact, ImpactReport, change_impact
from lineage.impact import downstream as impact_downstream
from lineage.impact import upstream as impact_upstream
from lineage.store.base import UNBOUNDED

from . import output
from .context import App, depth_option, fail_on_option, format_option, gate, pass_app

# ------------------------------------------------------------------ impact

T = TypeVar("T")

#: tables of a walk stop at --limit rows: a hub reaches 10^5 nodes, which no one reads in a
#: terminal (and rich takes minutes to lay out); the counts stay complete
limit_option = click.option(
    "--limit", type=click.IntRange(min=0), default=50, show_default=True,
    help="Rows shown per table (the counts are always complete); 0 shows every row. "
         "--format json always has every node.")


@click.command()
@click.argument("name")
@depth_option
@click.option(
    "--change", "changes", multiple=True, metavar="SPEC",
    help="Judge a proposed change of the field: type:TYPE, drop, rename:NEW, nullable, "
         "not_null, values:+X (repeatable). Each dependent gets a verdict.",
)
@click.option("--notify", is_flag=True,
              help="With --change: put a notification for every consumer the change breaks "
                   "or may break (verdict unknown, told as such) in the outbox (sent by "
                   "`lineage notify deliver`).")
@click.option("--precise", is_flag=True,
              help="Only what column-level lineage reaches: leave out what a job or model "
                   "reading NAME's dataset as a whole (no column lineage) may affect.")
@fail_on_option("dependent's verdict (with --change)")
@click.option("--paths/--no-paths", default=True, show_default=True,
              help="Show the path that reaches each dependent.")
@limit_option
@format_option
@pass_app
def impact(app: App, name: str, depth: int | None, changes: tuple[str, ...], notify: bool,
           precise: bool, fail_on: str | None, paths: bool, limit: int, fmt: str) -> None:
    """Show what is affected if NAME changes.

    Every dependent of NAME, grouped by kind: the fields, features, model versions,
    models and consumers (then datasets, jobs, ...) downstream of NAME, each with one
    shortest path from it. A consumer of a dataset depends on each of its fields. With
    --change, each dependent is also judged breaking, unknown or compatible, with the
    reason. With --notify as well, each consumer the change breaks or may break (verdict
    unknown: the payload's verdict says which) gets a notification (with this report) on
    each of its channels; announcing the same change again sends
    nothing new. The tests covering NAME and every field and dataset it reaches (dbt tests
    from `lineage import dbt` or from OpenLineage events, and other quality checks, with
    their newest result; failing ones first) are listed after the dependents
    (`quality_checks` in JSON). Nothing downstream is not an error (exit 0).

    Where a job reads the dataset of a field but records no column lineage from it into an
    output (table-level lineage only: `select *`, most operators), that output and all
    downstream of it are included, marked "dataset-level lineage, column unknown"
    (`column_unknown` in JSON; verdict `unknown`, never `compatible`). So is what a
    column reaches only by filtering or joining a whole dataset (OpenLineage's
    dataset-level column lineage): it decides which rows the dataset holds, not which
    column values. --precise leaves them out.

    \b
    Examples:
      lineage register examples/fraud/manifest.yaml
      lineage impact transactions.category
      lineage impact transactions.category --depth 3 --no-paths
      lineage impact raw.events.user_id --limit 10      # a hub: 10 rows per kind
      lineage impact transactions.category --format json
      lineage impact transactions.category --change type:string
      lineage impact transactions.category --change type:string --notify
      lineage impact features.user_features.txn_count_7d --precise
      lineage impact public.orders.status      # a filter column: its outputs marked *
      lineage impact transactions.category --change type:string --fail-on breaking  # CI

    With --fail-on breaking (or unknown), the command exits 9 after printing the report
    when any dependent's verdict is at or above that level: a pull request pipeline can
    stop a breaking schema change.
    """
    if notify and not changes:
        raise click.UsageError("--notify needs --change: it announces a proposed change")
    if fail_on and not changes:
        raise click.UsageError("--fail-on needs --change: it gates on the verdicts")
    if changes:
        judged = change_impact(app.store, name, list(changes), depth, precise=precise)
        enqueued = None
        if notify:
            from lineage.notify import notifications_for  # only a --notify pays for it

            with app.audited("notify.propose", judged.start.key,
                             {"changes": list(changes)}):
                enqueued = app.store.enqueue(notifications_for(app.store, judged))
        if fmt == "json":
            data = judged.to_dict()
            if enqueued is not None:
                data["notifications_enqueued"] = enqueued
            output.emit_json(data)
        else:
            _print_change_impact(judged, paths, limit)
            if enqueued is not None:
                output.out().print(f"notifications enqueued: {enqueued} (deliver with "
                                   "`lineage notify deliver`)", soft_wrap=True)
        gate(fail_on is not None and judged.fails(fail_on))
        return
    report = lineage.impact(app.store, name, depth, precise=precise)
    if fmt == "json":
        output.emit_json(report.to_dict())
    else:
        checks = report.quality_checks  # before the rows are built (see `to_dict`)
        _print_impact(report, paths, limit)
        _print_checks(checks, limit)


def _print_checks(checks: list[dict[str, Any]], limit: int) -> None:
    """The tests on NAME and on the fields and datasets it reaches (dbt tests and other
    quality checks, from OpenLineage): `ImpactReport.quality_checks`."""
    if not checks:
        return
    console = output.out()
    console.print()
    console.print(output.table(
        f"tests covering what is affected ({len(checks)})",
        ["on", "test", "column", "result", "at", "job"],
        [(c["on"], c.get("assertion"), c.get("column") or "(table)",
          "pass" if c.get("success") is True else "FAIL" if c.get("success") is False
          else "?", c.get("at"), c.get("job"))
         for c in _shown(checks, limit)], wrap=["on", "job"]))
    _more(console, len(checks), limit)


def _shown(items: list[T], limit: int) -> list[T]:
    """The rows of one kind the table shows: the first `limit` (all with 0)."""
    return items if limit == 0 else items[:limit]


def _more(console: Any, total: int, limit: int) -> None:
    """The line under a table cut at `limit` rows, saying how to see the rest."""
    if 0 < limit < total:
        console.print(f"... {total - limit:,} more not shown (--limit 0 shows all; "
                      "--format json has every one)", soft_wrap=True)


def _print_impact(report: ImpactReport, paths: bool, limit: int) -> None:
    console = output.out()
    console.print(Text(f"Impact of {report.start.key}", style="bold"), soft_wrap=True)
    found = {NodeKind(kind): n for kind, n in report.counts().items()}
    if not found:
        console.print("nothing downstream", soft_wrap=True)
        _print_deleted(console, report.deleted)
        _print_truncated(console, report.closure.truncated, report.closure.max_depth)
        return
    columns = ["name", "depth", *(["path"] if paths else [])]
    every = None if limit else report.groups
    for kind, count in found.items():
        # only the rows shown are built: a hub has 10^5 dependents
        items = report.first(kind, limit) if every is None else every[kind]
        rows = [[_retired(_marked(r.node.name, r.column_unknown), r.node.key,
                          report.deprecated), str(r.depth),
                 *([output.path_text(r.path, r.through)] if paths else [])] for r in items]
        console.print()
        console.print(output.table(output.group_title(kind, count), columns, rows,
                                   wrap=["path"]))
        _more(console, count, limit)
    total = sum(found.values())
    counts = ", ".join(output.plural(n, kind) for kind, n in found.items())
    console.print()
    console.print(f"{total} affected: {counts}", soft_wrap=True)
    _print_unknown(console, report.column_unknown())
    _print_deleted(console, report.deleted)
    _print_truncated(console, report.closure.truncated, report.closure.max_depth)


def _retired(name: str, key: str, deprecated: frozenset[str]) -> str:
    return f"{name} (deprecated)" if key in deprecated else name


def _print_deleted(console: Any, count: int) -> None:
    """The line saying how many deleted dependents the answer left out."""
    if count:
        console.print(f"{output.plural(count, 'deleted node')} left out (lineage delete; "
                      "kept in the store's history)", soft_wrap=True)


def _print_truncated(console: Any, truncated: bool, depth: int) -> None:
    """The line saying a --depth bound cut the answer."""
    if truncated:
        console.print(f"truncated at depth {depth}: more lies beyond it (leave out --depth "
                      "to see everything)", soft_wrap=True)


def _print_unknown(console: Any, count: int) -> None:
    """The line saying how many dependents only dataset-level lineage reaches."""
    if count:
        console.print(f"{count} of them reached only through dataset-level lineage, column "
                      "unknown (marked *): a job or model reads a dataset as a whole; "
                      "--precise leaves them out", soft_wrap=True)


VERDICT_STYLE = {"breaking": "bold red", "unknown": "yellow", "compatible": "green"}
VERDICT_RANK = {verdict: rank for rank, verdict in enumerate(VERDICT_STYLE)}


def _print_change_impact(report: ChangeImpact, paths: bool, limit: int) -> None:
    console = output.out()
    changes = "; ".join(c.describe() for c in report.changes)
    console.print(Text(f"Impact of {report.start.key}: {changes}", style="bold"),
                  soft_wrap=True)
    for reason in report.unchanged:
        console.print(f"no change: {reason}", soft_wrap=True)
    if report.no_change:
        return
    groups = report.groups
    if not groups:
        console.print("nothing downstream", soft_wrap=True)
        _print_deleted(console, report.deleted)
        _print_truncated(console, report.truncated, report.max_depth)
        return
    columns = ["name", "verdict", "reason", *(["path"] if paths else [])]
    for kind, unsorted in groups.items():
        # breaking first, so that a table cut at --limit never hides one behind a safe row
        items = sorted(unsorted, key=lambda j: VERDICT_RANK[j.verdict])
        rows = [[_retired(_marked(j.node.name, j.column_unknown), j.node.key,
                          report.deprecated),
                 Text(j.verdict, style=VERDICT_STYLE[j.verdict]), j.reason,
                 *([output.path_text(j.path, j.through)] if paths else [])]
                for j in _shown(items, limit)]
        console.print()
        console.print(output.table(output.group_title(kind, len(items)), columns, rows,
                                   wrap=["reason", "path"]))
        _more(console, len(items), limit)
    counts = report.counts()
    console.print()
    console.print(", ".join(f"{n} {verdict}" for verdict, n in counts.items()), soft_wrap=True)
    _print_unknown(console, sum(1 for j in report.judged if j.column_unknown))
    _print_deleted(console, report.deleted)
    _print_truncated(console, report.truncated, report.max_depth)


def _marked(name: str, column_unknown: bool) -> str:
    return f"{name} *" if column_unknown else name


# ------------------------------------------------------------------ graph


@click.command()
@click.argument("name")
@click.option("--both", "direction", flag_value="both", default=True,
              help="Draw both directions (the default, as `export dot`).")
@click.option("--down", "direction", flag_value="down", help="Draw what depends on NAME.")
@click.option("--up", "direction", flag_value="up", help="Draw what NAME depends on.")
@depth_option
@click.option("-o", "--output", "path", required=True, type=click.Path(dir_okay=False),
              metavar="FILE", help="The file to write; its suffix picks the format: "
                                   ".svg, .png, .dot, or .pdf (needs Graphviz's dot).")
@pass_app
def graph(app: App, name: str, direction: Literal["down", "up", "both"], depth: int | None,
          path: str) -> None:
    """Draw the lineage around NAME to a file.

    Writes a picture (SVG, PNG, PDF: these need Graphviz's dot) or a DOT file. NAME is
    drawn with a red border; node shapes tell datasets, fields, features, models and
    consumers apart, and edges carry their kind and transformation.

    \b
    Examples:
      lineage graph transactions.category -o category.svg
      lineage graph transactions.category --both -o fraud.svg
      lineage graph fraud@3 --up --depth 2 -o fraud3.png
      lineage graph fraud@3 --up -o fraud3.dot
    """
    from lineage.render import render  # graphviz: only a picture pays for it

    written = render(app.store, name, path, direction=direction, depth=depth)
    output.out().print(f"wrote {written}", soft_wrap=True)


# ------------------------------------------------------------------ show


def _describe(store: lineage.Store, name: str) -> tuple[Node, list[tuple[EdgeSpec, NodeRef]],
                                                         list[FieldSchema] | None]:
    """The node, its edges and (for a dataset version) its schema snapshot.

    Several store calls because the library has no single "describe a node" function
    yet; when it does, call that instead.
    """
    node = store.node(store.resolve(name).key)
    edges = store.neighbours(node.key)
    schema = store.schema(node.key) if node.kind is NodeKind.DATASET_VERSION else None
    return node, edges, schema


def _property_shown(key: str, value: Any) -> tuple[str, Any]:
    """A property as the table shows it: data-health profiles (KBs of sketches) as a line
    that says where to read them; --format json keeps everything."""
    if key == "profile" and isinstance(value, dict):
        fields = value.get("fields") or {}
        return key, (f"{len(fields)} fields, {value.get('rows', 0):,} rows "
                     f"(`lineage profile --dataset NAME@VERSION` shows it)")
    if key == "profiles" and isinstance(value, dict):
        return key, f"profiles of {', '.join(sorted(value))} (`lineage profile --run`)"
    return key, value


def _names_unique(pairs: list[tuple[EdgeSpec, NodeRef]]) -> bool:
    keys_by_name: dict[str, set[str]] = {}
    for _edge, other in pairs:
        keys_by_name.setdefault(other.name, set()).add(other.key)
    return all(len(keys) == 1 for keys in keys_by_name.values())


def _edge_dict(edge: EdgeSpec, other: NodeRef, state: str | None) -> dict[str, Any]:
    return {"edge": edge.kind.value, "verb": edge_verb(edge.kind), "key": other.key,
            "kind": other.kind.value, "name": other.name, "state": state,
            "properties": edge.properties}


@click.command()
@click.argument("name")
@click.option("--deleted", "include_deleted", is_flag=True,
              help="Also list the edges to deleted nodes (`lineage delete`), marked "
                   "(deleted); by default they are left out and counted.")
@format_option
@pass_app
def show(app: App, name: str, include_deleted: bool, fmt: str) -> None:
    """Show one node, its edges and its schema.

    Prints the key, kind, name, namespace and properties of NAME, then its edges:
    incoming edges come from what NAME depends on, outgoing edges go to what depends
    on it (edges point the way data flows). A dataset version also shows its schema
    snapshot. A deprecated neighbour is marked (deprecated); edges to deleted ones are
    left out (a line counts them) unless --deleted (`state` in JSON, and
    `deleted_left_out`).

    \b
    Examples:
      lineage show transactions.category
      lineage show fraud@3
      lineage show user_features@2026-02 --format json
      lineage show transactions --deleted      # edges to deleted nodes too
    """
    node, edges, schema = _describe(app.store, name)
    states = app.store.lifecycle_states(other.key for _, other in edges)
    hidden = 0 if include_deleted else sum(
        1 for _, other in edges if states.get(other.key) == "deleted")
    if hidden:
        edges = [(e, other) for e, other in edges if states.get(other.key) != "deleted"]
    incoming = [(e, other) for e, other in edges if e.dst == node.key]
    outgoing = [(e, other) for e, other in edges if e.dst != node.key]
    if fmt == "json":
        output.emit_json({
            "node": node.model_dump(mode="json"),
            "incoming": [_edge_dict(e, other, states.get(other.key)) for e, other in incoming],
            "outgoing": [_edge_dict(e, other, states.get(other.key)) for e, other in outgoing],
            "deleted_left_out": hidden,
            "schema": None if schema is None else [f.model_dump(mode="json") for f in schema],
        })
        return
    console = output.out()
    console.print(Text(node.key, style="bold"), soft_wrap=True)
    about = [("kind", node.kind.value), ("name", node.name), ("namespace", node.namespace),
             ("created", node.created_at), ("updated", node.updated_at),
             *sorted(_property_shown(k, v) for k, v in node.properties.items())]
    console.print(output.table(None, ["attribute", "value"],
                               [(k, output.text(v)) for k, v in about if v is not None],
                               wrap=["value"]))
    for title, pairs, other_end in (("incoming", incoming, "from"),
                                    ("outgoing", outgoing, "to")):
        console.print()
        if not pairs:
            console.print(f"{title}: none", soft_wrap=True)
            continue
        rows = [(edge_verb(e.kind), output.with_state(other.name, states.get(other.key)),
                 output.text(e.properties.get("transformation")), other.key)
                for e, other in pairs]
        console.print(output.table(f"{title} ({len(pairs)})",
                                   ["edge", other_end, "transformation", "key"], rows,
                                   # a name that two keys share keeps the key column
                                   optional=["key"] if _names_unique(pairs) else []))
    if hidden:
        console.print()
        console.print(f"{output.plural(hidden, 'edge')} to deleted nodes left out (--deleted "
                      "shows them)", soft_wrap=True)
    if schema is not None:
        console.print()
        rows = [(f.name, f.type, "yes" if f.nullable else "no", output.text(f.description))
                for f in schema]
        console.print(output.table(f"schema ({len(schema)} fields)",
                                   ["field", "type", "nullable", "description"], rows,
                                   wrap=["description"]))


# ------------------------------------------------------------------ find


@click.command()
@click.argument("text", required=False, default="")
@click.option("--kind", "kinds", multiple=True, type=click.Choice([k.value for k in NodeKind]),
              help="Only nodes of this kind (repeatable).")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True,
              help="Show at most this many nodes.")
@format_option
@pass_app
def find(app: App, text: str, kinds: tuple[str, ...], limit: int, fmt: str) -> None:
    """Find nodes by a part of their key.

    Lists the nodes whose key contains TEXT (case-insensitive), ordered by key; without
    TEXT, every node (up to --limit). Use the keys it prints, or any unambiguous suffix
    of them, as NAME in the other commands.

    \b
    Examples:
      lineage find category
      lineage find fraud --kind model_version
      lineage find --kind consumer --format json
      lineage find user_id --kind field --limit 10
    """
    refs = app.store.find(text, [NodeKind(k) for k in kinds] or None, limit)
    if fmt == "json":
        output.emit_json([{"key": r.key, "kind": r.kind.value, "name": r.name} for r in refs])
        return
    console = output.out()
    if not refs:
        console.print(f"no node matches '{text}'" if text else "the store is empty",
                      soft_wrap=True)
        return
    # the key is what a command takes; the name is its tail, shown when there is room
    console.print(output.table(None, ["key", "kind", "name"],
                               [(r.key, r.kind.value, r.name) for r in refs],
                               optional=["name"]))
    if len(refs) == limit:
        console.print(f"showing the first {limit}; use --limit to see more", soft_wrap=True)


# ------------------------------------------------------------------ upstream / downstream


def _closure_dict(closure: Closure) -> dict[str, Any]:
    start = closure.start.node
    return {"start": {"key": start.key, "kind": start.kind.value, "name": start.name},
            "direction": closure.direction,
            "max_depth": None if closure.max_depth >= UNBOUNDED else closure.max_depth,
            "truncated": closure.truncated,
            "reached": [r.to_dict() for r in closure.reached]}


def _print_closure(closure: Closure, fmt: str, limit: int) -> None:
    if fmt == "json":
        output.emit_json(_closure_dict(closure))
        return
    console = output.out()
    title = closure.direction.capitalize()
    console.print(Text(f"{title} of {closure.start.node.key}", style="bold"), soft_wrap=True)
    if not closure.reached:
        console.print(f"nothing {closure.direction}", soft_wrap=True)
        _print_truncated(console, closure.truncated, closure.max_depth)
        return
    data_flow = closure.direction == "upstream"
    rows = [(_marked(r.node.key, r.column_unknown), r.node.kind.value, str(r.depth),
             output.path_text(r.path, r.through, data_flow=data_flow))
            for r in _shown(closure.reached, limit)]
    console.print(output.table(None, ["key", "kind", "depth", "path"], rows, wrap=["path"],
                               optional=["kind"]))
    _more(console, len(closure), limit)
    console.print(f"{output.plural(len(closure), 'node')} {closure.direction}", soft_wrap=True)
    _print_unknown(console, sum(1 for r in closure.reached if r.column_unknown))
    _print_truncated(console, closure.truncated, closure.max_depth)


precise_option = click.option(
    "--precise", is_flag=True,
    help="Only the recorded graph: leave out what crosses a job or model that reads a "
         "whole dataset without column lineage (marked * and column_unknown otherwise).")


@click.command()
@click.argument("name")
@depth_option
@precise_option
@limit_option
@format_option
@pass_app
def upstream(app: App, name: str, depth: int | None, precise: bool, limit: int,
             fmt: str) -> None:
    """List everything NAME depends on.

    Each node NAME depends on, with one shortest path to it. Paths are printed the way
    data flows, ending at NAME. Where a job or model reads a dataset as a whole (no column
    lineage into what leads to NAME), that dataset's fields are included, marked * (JSON
    `column_unknown`; --precise leaves them out). A consumer of a whole dataset depends on
    each of its fields: they are listed (through the dataset), with their own upstream.
    The mirror of `lineage impact`, so a field is upstream of X exactly when X is
    downstream of it.

    \b
    Examples:
      lineage upstream fraud@3
      lineage upstream fraud@3 --depth 2
      lineage upstream fraud@3 --limit 0                # every row, however many
      lineage upstream user_features.category_share --format json
      lineage upstream fraud.scores.score --precise
      lineage upstream fraud-dashboard                  # a consumer and its sources
    """
    _print_closure(impact_upstream(app.store, name, depth, precise=precise), fmt,
                   limit)


@click.command()
@click.argument("name")
@depth_option
@precise_option
@limit_option
@format_option
@pass_app
def downstream(app: App, name: str, depth: int | None, precise: bool, limit: int,
               fmt: str) -> None:
    """List everything that depends on NAME.

    Each dependent, with one shortest path from NAME: the graph walk, plus what crosses a
    job or model reading a dataset as a whole (marked *, JSON `column_unknown`; --precise
    leaves it out), plus the consumers of the datasets of the fields reached (a consumer
    of a dataset depends on each of its fields). `lineage impact` groups the same
    dependents by kind.

    \b
    Examples:
      lineage downstream transactions.category
      lineage downstream public.transactions --depth 1
      lineage downstream raw.events.user_id --limit 20  # a hub: the first 20 rows
      lineage downstream fraud@2 --format json
    """
    _print_closure(impact_downstream(app.store, name, depth, precise=precise), fmt,
                   limit)


# ------------------------------------------------------------------ stats


@click.command()
@format_option
@pass_app
def stats(app: App, fmt: str) -> None:
    """Count the nodes by kind, and the edges.

    What the store at --store holds, for a quick look or a health check.

    \b
    Examples:
      lineage stats
      lineage --store sqlite:///out/tour.db stats --format json
    """
    counts = app.store.stats()
    if fmt == "json":
        output.emit_json(counts)
        return
    rows = [(kind, str(n)) for kind, n in sorted(counts.items()) if kind != "edges"]
    rows.append(("edges", str(counts.get("edges", 0))))
    output.out().print(output.table(None, ["kind", "count"], rows))
    if len(counts) <= 1 and not counts.get("edges"):
        output.out().print("the store is empty: `lineage register MANIFEST` or "
                           "`lineage ingest EVENTS` fills it")
