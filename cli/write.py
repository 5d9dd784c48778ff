"""Commands that write the store: `init` and `register`."""

from __future__ import annotations

import dataclasses
from urllib.parse import urlsplit, urlunsplit

import click

import lineage

from . import output
from .context import App, format_option, pass_app


def display_url(url: str) -> str:
    """The URL without its password, for printing."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


@click.command()
@format_option
@pass_app
def init(app: App, fmt: str) -> None:
    """Create or migrate the store.

    Creates the store at --store, or migrates it to this release's schema. Opening a
    store creates its tables when they are missing and applies pending migrations, so
    this is safe on a store that already exists: it changes no lineage and prints what
    the store holds.

    \b
    Examples:
      lineage init
      lineage --store sqlite:///out/lineage.db init
      lineage --store postgresql://postgres@127.0.0.1:5432/test init --format json
    """
    counts = app.store.stats()
    edges = counts.get("edges", 0)
    nodes = sum(n for kind, n in counts.items() if kind != "edges")
    url = display_url(app.url)
    if fmt == "json":
        output.emit_json({"url": url, "nodes": nodes, "edges": edges, "counts": counts})
        return
    output.out().print(f"store ready at {url}: {output.plural(nodes, 'node')}, "
                       f"{output.plural(edges, 'edge')}", soft_wrap=True)


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False),
                metavar="FILE...")
@click.option("--prune", is_flag=True,
              help="Also retire (mark deleted) what an earlier registration of these FILEs "
                   "declared and they no longer do, unless another manifest still declares it.")
@click.option("--dry-run", "dry_run", is_flag=True,
              help="With --prune: show what would be retired and write nothing.")
@format_option
@pass_app
def register(app: App, files: tuple[str, ...], prune: bool, dry_run: bool, fmt: str) -> None:
    """Register YAML manifests in one transaction.

    Declares the datasets, fields, versions, jobs, features, models and consumers of
    the manifests. All FILEs are one transaction: references resolve across them and
    the store, and an error in any of them (bad YAML, an unknown key or reference, a
    bad type, a duplicate) is reported with its file, line and key path while nothing
    is written. Registering the same manifests again changes nothing.

    Each node remembers the manifest files that declare it, so --prune can retire what a
    file no longer declares (a soft delete, as `lineage delete`: impact and notifications
    leave it out, history keeps it), in the same transaction; --dry-run shows that list
    first. A node a manifest declares again is live again.

    \b
    Examples:
      lineage register examples/fraud/manifest.yaml
      lineage register examples/fraud/manifest.yaml --format json
      lineage register examples/fraud/manifest.yaml --prune --dry-run
      LINEAGE_URL=sqlite:///out/lineage.db lineage register examples/fraud/manifest.yaml
    """
    if dry_run and not prune:
        raise click.UsageError("--dry-run goes with --prune (it shows what would be retired)")
    if prune:
        _register_pruning(app, files, dry_run, fmt)
        return
    with app.audited("register", ", ".join(files)):
        result = lineage.register(app.store, *files)
    if fmt == "json":
        output.emit_json({**dataclasses.asdict(result), "changed": result.changed})
        return
    console = output.out()
    if not result.changed:
        console.print(f"nothing changed: {', '.join(files)} already registered "
                      f"({result.unchanged} items as declared)", soft_wrap=True)
        return
    console.print(f"registered {', '.join(files)}", soft_wrap=True)
    # every non-zero count of ApplyResult, in its field order (nodes, edges, schemas, ...)
    counts = [(f.name.replace("_", " "), getattr(result, f.name))
              for f in dataclasses.fields(result)]
    console.print(output.table(None, ["what", "count"],
                               [(label, str(n)) for label, n in counts
                                if isinstance(n, int) and n]))


def _register_pruning(app: App, files: tuple[str, ...], dry_run: bool, fmt: str) -> None:
    from lineage.manifest import register_pruning

    if dry_run:  # writes nothing, so no audit entry either
        pruned = register_pruning(app.store, *files, dry_run=True, principal=app.principal)
    else:
        with app.audited("register", ", ".join(files), {"prune": True}):
            pruned = register_pruning(app.store, *files, principal=app.principal)
    if fmt == "json":
        output.emit_json(pruned.to_dict())
        return
    console = output.out()
    verb = "would retire" if dry_run else "retired"
    if pruned.applied is not None:
        state = "registered" if pruned.applied.changed else "nothing new in"
        console.print(f"{state} {', '.join(files)}", soft_wrap=True)
    if not pruned.retired:
        console.print(f"{verb} nothing: every node these files declared before they still "
                      "declare", soft_wrap=True)
    else:
        console.print(output.table(f"{verb} {output.plural(len(pruned.retired), 'node')}",
                                   ["key"], [(k,) for k in pruned.retired]))
    if pruned.released:
        console.print(f"{output.plural(len(pruned.released), 'node')} no longer declared here "
                      "kept: another manifest still declares them", soft_wrap=True)
    if dry_run:
        console.print("dry run: nothing written", soft_wrap=True)
