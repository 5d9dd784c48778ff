"""`lineage export prov|dot`: the graph in standard formats."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import click

from lineage import export as exports

from .context import App, depth_option, pass_app

Direction = Literal["down", "up", "both"]


def _direction_options(f: click.decorators.FC) -> click.decorators.FC:
    for option in reversed((
        click.option("--both", "direction", flag_value="both", default=True,
                     help="What NODE depends on and what depends on it (the default)."),
        click.option("--down", "direction", flag_value="down",
                     help="Only what depends on NODE."),
        click.option("--up", "direction", flag_value="up", help="Only what NODE depends on."),
    )):
        f = option(f)
    return f


def _write(text: str, path: str | None) -> None:
    if path is None or path == "-":
        click.echo(text, nl=not text.endswith("\n"))
    else:
        Path(path).write_text(text, encoding="utf-8")


@click.group()
def export() -> None:
    """Export the lineage graph as W3C PROV (PROV-JSON, PROV-O Turtle) or Graphviz DOT.

    \b
    Examples:
      lineage export prov -o lineage.provjson
      lineage export prov --format turtle orders.status --down --depth 3
      lineage export dot fraud@3 --up -o fraud3.dot
    """


@export.command()
@click.argument("nodes", nargs=-1, metavar="[NODE]...")
@click.option("--format", "fmt", type=click.Choice(["json", "turtle"]), default="json",
              show_default=True, help="PROV-JSON or PROV-O in Turtle.")
@click.option("-o", "--output", "path", type=click.Path(dir_okay=False), metavar="FILE",
              help="The file to write [default: stdout].")
@_direction_options
@depth_option
@pass_app
def prov(app: App, nodes: tuple[str, ...], fmt: Literal["json", "turtle"], path: str | None,
         direction: Direction, depth: int | None) -> None:
    """Export as W3C PROV: the whole store, or the lineage around each NODE.

    Runs are activities, consumers and agents are agents, everything else is an entity;
    edges become PROV relations as ontology/lineage.ttl maps them (derived_from
    wasDerivedFrom, read used, wrote wasGeneratedBy, version_of specializationOf, ...), each
    with its edge kind and properties (transformation, ...). NODE is a key or an unambiguous
    suffix; with NODEs, --up/--down/--both and --depth choose what around them is exported.

    \b
    Examples:
      lineage export prov > lineage.json
      lineage export prov --format turtle -o lineage.ttl
      lineage export prov transactions.category --down --depth 4
      lineage export prov fraud@3 --up --format turtle
    """
    _write(exports.prov(app.store, list(nodes), fmt=fmt, direction=direction, depth=depth),
           path)


@export.command()
@click.argument("node", metavar="NODE")
@click.option("-o", "--output", "path", type=click.Path(dir_okay=False), metavar="FILE",
              help="The file to write [default: stdout].")
@_direction_options
@depth_option
@pass_app
def dot(app: App, node: str, path: str | None, direction: Direction,
        depth: int | None) -> None:
    """Export the lineage around NODE as Graphviz DOT source.

    The same picture `lineage graph` draws, as text for `dot -Tsvg` or another tool.

    \b
    Examples:
      lineage export dot orders.status > orders_status.dot
      lineage export dot fraud@3 --up --depth 2 -o fraud3.dot
    """
    _write(exports.dot(app.store, node, direction=direction, depth=depth), path)
