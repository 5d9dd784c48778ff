"""Printing: rich tables for people, JSON for machines, errors on stderr.

Formatting only. Nothing here queries the store or decides anything about lineage.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TextIO

import click
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from lineage import EdgeKind, NodeKind, NodeRef

#: width of tables written to a pipe or a file (a terminal uses its own width); wide enough
#: that keys and paths are not folded mid-word for the next program in the pipe
PIPE_WIDTH = 240


def _console(file: TextIO) -> Console:
    width = None
    if not file.isatty():
        columns = os.environ.get("COLUMNS", "")
        width = int(columns) if columns.isdigit() else PIPE_WIDTH
    # markup off: keys and messages contain [brackets] that are data, not styles
    return Console(file=file, width=width, markup=False, highlight=False, emoji=False)


def out() -> Console:
    """A console on the current stdout (looked up per call, so test runners can swap it)."""
    return _console(sys.stdout)


def err() -> Console:
    return _console(sys.stderr)


def emit_json(data: Any) -> None:
    """Print `data` as JSON: the only thing a `--format json` command writes to stdout."""
    click.echo(json.dumps(data, indent=2, default=str))


def print_error(data: dict[str, Any], as_json: bool) -> None:
    """An error on stderr: its JSON form, or `error: <message>` (red on a terminal)."""
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str), err=True)
        return
    err().print(Text(f"error: {data['message']}", style="bold red"), soft_wrap=True)


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]],
          *, wrap: Sequence[str] = (), right: Sequence[str] = ("depth", "count")
          ) -> RenderableType:
    """A rich table under a bold `title` line; only the columns named in `wrap` may fold
    (keys and names never do), and the columns named in `right` are right-aligned."""
    t = Table(header_style="bold")
    for name in columns:
        if name in wrap:
            t.add_column(name, overflow="fold")
        else:
            t.add_column(name, no_wrap=True, justify="right" if name in right else "left")
    for row in rows:
        t.add_row(*(cell if isinstance(cell, Text) else text(cell) for cell in row))
    # a title line of its own: rich pads a table's title to the table's width
    return t if title is None else Group(Text(title, style="bold"), t)


def text(value: Any) -> str:
    """A property value as one cell: strings as they are, everything else as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    return json.dumps(value, default=str)


def plural(count: int, kind: NodeKind | str) -> str:
    """`1 model version`, `2 model versions`."""
    word = str(kind).replace("_", " ")
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def group_title(kind: NodeKind, count: int) -> str:
    return f"{str(kind).replace('_', ' ')}s ({count})"


def path_text(steps: Sequence[tuple[EdgeKind | None, NodeRef]],
              through: NodeRef | None = None, *, data_flow: bool = False) -> str:
    """A path by node names: `a -derived_from-> b -uses_feature-> c`.

    `steps` run from the start of a walk (as `Reached.path` gives them). An upstream walk
    runs against the data; `data_flow=True` prints it the way data flows, so that every
    arrow reads like its edge kind (`b -derived_from-> a`: a is derived from b)."""
    names = [node.name for _edge, node in steps]
    edges = [edge.value if edge is not None else "?" for edge, _node in steps[1:]]
    if data_flow:
        names.reverse()
        edges.reverse()
    text = names[0] + "".join(f" -{edge}-> {name}" for edge, name in zip(edges, names[1:],
                                                                         strict=True))
    if through is not None:
        text += f" (consumes dataset {through.name})"
    return text


def with_state(name: str, state: str | None) -> str:
    """A name marked with its lifecycle state (`fraud-dashboard (deprecated)`)."""
    return f"{name} ({state})" if state in ("deprecated", "deleted") else name
