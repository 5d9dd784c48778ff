"""Printing: rich tables for people, JSON for machines, errors on stderr.

Formatting only. Nothing here queries the store or decides anything about lineage.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

import click
from rich.console import Console, ConsoleOptions, Group, JustifyMethod, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from lineage import EdgeKind, NodeKind, NodeRef
from lineage._vocabulary import path_words

from .context import App

#: width of tables written to a pipe or a file (a terminal uses its own width); wide enough
#: that keys and paths are not folded for the next program in the pipe
PIPE_WIDTH = 240
#: the width `lineage --wide` prints at: lines as long as their content
_UNBOUNDED = 100_000


def _wide() -> bool:
    """Whether the running command was given `--wide` (every column, every cell whole)."""
    ctx = click.get_current_context(silent=True)
    app = None if ctx is None else ctx.find_object(App)
    return app is not None and app.wide


class _Console(Console):
    """A console whose `soft_wrap=True` lines (sentences that a pipe should get whole) are
    word-wrapped on a terminal, which would otherwise cut them mid-word at its edge."""

    def print(self, *objects: Any, soft_wrap: bool | None = None, **kwargs: Any) -> None:
        if soft_wrap and self.is_terminal and not _wide():
            soft_wrap = False
        super().print(*objects, soft_wrap=soft_wrap, **kwargs)


def _console(file: TextIO) -> Console:
    width = None
    if _wide():
        width = _UNBOUNDED
    elif not file.isatty():
        columns = os.environ.get("COLUMNS", "")
        width = int(columns) if columns.isdigit() else PIPE_WIDTH
    # markup off: keys and messages contain [brackets] that are data, not styles
    return _Console(file=file, width=width, markup=False, highlight=False, emoji=False)


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


# ------------------------------------------------------------------ tables that fit

#: characters after which an identifier may break: a key's scheme, path and name steps and a
#: version (`field:s3://ml-warehouse/` `features.` `user_features.` `category_share`)
_SEPARATORS = "./@:"
#: a path's step (`-feeds-> name`, `-is used by-> name`) is one word, so that a path breaks
#: between its steps and every continued line starts with an arrow
_WORDS = re.compile(r"-[a-z_ ]+-> \S+|\S+")
#: a prose column (`wrap`) may be made this narrow even when it holds a longer word
_PROSE_MIN = 16
#: how wide a path or prose column must be before an optional column is shown beside it
COMFORTABLE = 40


def _chunks(word: str) -> list[str]:
    """`word` cut after each separator (and after a step's arrow): the places an identifier
    may break."""
    parts, begin = [], 0
    for i, char in enumerate(word):
        if (char in _SEPARATORS or char == " ") and i + 1 < len(word):
            parts.append(word[begin:i + 1])
            begin = i + 1
    parts.append(word[begin:])
    return parts


def _word_spans(line: str) -> list[tuple[int, int]]:
    return [m.span() for m in _WORDS.finditer(line)]


def _pieces(word: str, width: int) -> list[str]:
    """`word`, wider than `width`, cut into pieces that each fit: a path step after its
    arrow first, then after separators, and only a piece wider than the whole width
    anywhere."""
    arrow = word.find("> ") + 2 if word.startswith("-") and "> " in word else 0
    parts = [word[:arrow], word[arrow:]] if arrow and len(word) - arrow <= width else [word]
    out: list[str] = []
    for part in parts:
        if not part:
            continue
        if len(part) <= width:
            out.append(part)
            continue
        line = ""
        for chunk in _chunks(part):
            if line and len(line) + len(chunk) > width:
                out.append(line)
                line = ""
            while len(chunk) > width:  # the last resort: a piece wider than the column
                out.append(chunk[:width])
                chunk = chunk[width:]
            line += chunk
        if line:
            out.append(line)
    return out


def _breaks(line: str, width: int) -> list[tuple[int, int]]:
    """Where one line of a cell is cut to fit `width`: (start, end) offsets per printed line.

    Between words (so a path breaks between its steps, each continued line starting with
    an arrow); a word wider than the width is cut into pieces (`_pieces`) on lines of
    their own. Nothing is ever dropped or ellipsised."""
    out: list[tuple[int, int]] = []
    begin = end = -1  # the printed line being filled
    for w_begin, w_end in _word_spans(line):
        if begin >= 0 and w_end - begin <= width:
            end = w_end
            continue
        if begin >= 0:
            out.append((begin, end))
        if w_end - w_begin <= width:
            begin, end = w_begin, w_end
            continue
        at = w_begin
        for piece in _pieces(line[w_begin:w_end], width):
            out.append((at, at + len(piece)))
            at += len(piece)
        begin = end = -1
    if begin >= 0:
        out.append((begin, end))
    return out or [(0, 0)]


class Cell:
    """A table cell that wraps like an identifier: between words, then after `.`, `/`, `@`
    or `:`; never mid-word while the column is as wide as the cell's longest such piece,
    never ellipsised. Its measure tells rich that narrowest width."""

    def __init__(self, content: str | Text, justify: JustifyMethod = "left",
                 prose: bool = False, steps: bool = False) -> None:
        self.text = content if isinstance(content, Text) else Text(content)
        self.justify: JustifyMethod = justify
        lines = self.text.plain.split("\n")
        self.maximum = max(len(line) for line in lines)
        longest = max((len(piece) for line in lines for b, e in _word_spans(line)
                       for piece in _chunks(line[b:e])), default=1)
        #: the narrowest width at which nothing breaks mid-word
        self.least = min(longest, _PROSE_MIN) if prose else longest
        #: the narrowest width it prefers: a path's longest step, so that steps stay whole
        self.minimum = self.least
        if steps:
            self.minimum = max((e - b for line in lines for b, e in _word_spans(line)),
                               default=1)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(self.minimum, self.maximum).with_maximum(options.max_width)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = max(1, options.max_width)
        pieces: list[Text] = []
        offset = 0
        for line in self.text.plain.split("\n"):
            for begin, end in _breaks(line, width):
                pieces.append(self.text[offset + begin:offset + end])
            offset += len(line) + 1
        result = Text("\n").join(pieces)
        result.justify = self.justify
        result.no_wrap = True
        yield result


class FittedTable:
    """A table laid out for the width it is printed at.

    Columns are as wide as their widest cell when that fits. Otherwise every column gets at
    least its narrowest clean width (its longest unbreakable piece), columns of names and
    values (a key, a kind, an action, a time) are kept whole left to right, and the rest of
    the width goes to the paths and prose (`wrap`), essential columns before optional ones.
    When the essential columns would be cramped, the `optional` columns are left out, in
    the order given, and a line under the table names them (`--wide` shows every column).
    """

    def __init__(self, columns: Sequence[str], rows: list[list[Cell]], right: Sequence[str],
                 optional: Sequence[str], flexible: Sequence[str]) -> None:
        self.columns = list(columns)
        self.rows = rows
        self.right = set(right)
        self.optional = [self.columns.index(c) for c in optional if c in self.columns]
        self.flexible = {i for i, c in enumerate(self.columns) if c in flexible}

    def _bounds(self, index: int, least: bool) -> tuple[int, int]:
        header = Cell(self.columns[index])
        cells = [row[index] for row in self.rows]
        return (max([header.least, *(c.least if least else c.minimum for c in cells)]),
                max([header.maximum, *(c.maximum for c in cells)]))

    @staticmethod
    def _widths(bounds: list[tuple[int, int]], room: int, first: set[int],
                flexible: set[int]) -> list[int] | None:
        """Column widths for `room` characters of content, or None if the minima do not fit.

        Columns of names and values (not `flexible`: paths and prose) are whole, those in
        `first` and then left to right, while the others can still have their minimum; the
        spare width then goes to the columns that still lack some in proportion to what
        each lacks, those in `first` before the others."""
        if sum(hi for _lo, hi in bounds) <= room:
            return [hi for _lo, hi in bounds]
        if sum(lo for lo, _hi in bounds) > room:
            return None
        widths = [lo for lo, _hi in bounds]
        for i in sorted(range(len(bounds)), key=lambda i: i not in first):
            lo, hi = bounds[i]
            if i not in flexible and hi - lo <= room - sum(widths):
                widths[i] = hi
        for group in ([i for i in range(len(bounds)) if i in first],
                      [i for i in range(len(bounds)) if i not in first]):
            lacking = {i: bounds[i][1] - widths[i] for i in group if bounds[i][1] > widths[i]}
            spare, total = room - sum(widths), sum(lacking.values())
            for i, lack in lacking.items():
                widths[i] += min(lack, spare * lack // total)
            # what integer division left over, to the columns that still lack most
            for i in sorted(lacking, key=lambda i: widths[i] - bounds[i][1]):
                widths[i] += max(0, min(room - sum(widths), bounds[i][1] - widths[i]))
        return widths

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        bounds = [self._bounds(i, least=False) for i in range(len(self.columns))]
        essential = [i for i in range(len(self.columns)) if i not in self.optional]

        def room(count: int) -> int:
            # each column: one space of padding either side and a border on its left, plus
            # the table's right border
            return options.max_width - 3 * count - 1

        def wanted(i: int) -> int:
            # what an essential column asks for before an optional one is shown: all of it,
            # or for a path or prose, a readable width
            lo, hi = bounds[i]
            return min(hi, max(lo, COMFORTABLE)) if i in self.flexible else hi

        # what matters first: optional columns are left out, in the order given, while the
        # essential ones would be cramped
        kept = list(self.optional)
        hidden: list[int] = []
        while kept and (sum(wanted(i) for i in essential) + sum(bounds[i][0] for i in kept)
                        > room(len(essential) + len(kept))):
            hidden.append(kept.pop(0))
        shown = [i for i in range(len(self.columns)) if i not in hidden]
        first = {n for n, i in enumerate(shown) if i in essential}
        flexible = {n for n, i in enumerate(shown) if i in self.flexible}
        widths = self._widths([bounds[i] for i in shown], room(len(shown)), first, flexible)
        if widths is None:  # paths too may break inside a step, after a separator
            widths = self._widths([self._bounds(i, least=True) for i in shown],
                                  room(len(shown)), first, flexible)
        t = Table(header_style="bold")
        for n, i in enumerate(shown):
            name = self.columns[i]
            # fixed widths: rich would otherwise shrink columns below their minimum (when even
            # the minima do not fit, rich shares the width out, and pieces fold)
            t.add_column(name, justify="right" if name in self.right else "left",
                         width=None if widths is None else widths[n], overflow="fold")
        for row in self.rows:
            t.add_row(*(row[i] for i in shown))
        yield t
        if hidden:
            names = ", ".join(self.columns[i] for i in hidden)
            yield Text(f"({names} not shown at this width; --wide shows every column)",
                       style="dim")


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]],
          *, wrap: Sequence[str] = (), right: Sequence[str] = ("depth", "count"),
          optional: Sequence[str] = (), steps: Sequence[str] = ("path",)) -> RenderableType:
    """A table under a bold `title` line that fits the width it is printed at (see
    FittedTable): every cell wraps like an identifier, whole and unambiguous; the columns
    named in `wrap` are prose and may be narrower than their longest word; those in `steps`
    are paths (`a -feeds-> b`) that break between steps while the width allows; those in
    `right` are right-aligned; those in `optional` are left out, in that order, when the table
    cannot fit otherwise (saying so). Put the columns that matter first."""
    prose, paths = set(wrap) - set(steps), set(steps)
    cells = [[Cell(cell if isinstance(cell, Text) else text(cell),
                   "right" if name in right else "left", prose=name in prose,
                   steps=name in paths)
              for name, cell in zip(columns, row, strict=True)] for row in rows]
    fitted = FittedTable(columns, cells, right, optional, flexible=[*wrap, *steps])
    # a title line of its own: rich pads a table's title to the table's width
    return fitted if title is None else Group(Text(title, style="bold"), fitted)


def text(value: Any) -> str:
    """A property value as one cell: strings as they are, everything else as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    return json.dumps(value, default=str)


def utc(at: datetime) -> str:
    """`2026-11-01 08:00:00` for a column headed `(UTC)`: no offset repeated on every row."""
    return (at.astimezone(UTC) if at.tzinfo else at).strftime("%Y-%m-%d %H:%M:%S")


def plural(count: int, kind: NodeKind | str) -> str:
    """`1 model version`, `2 model versions`."""
    word = str(kind).replace("_", " ")
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def group_title(kind: NodeKind, count: int) -> str:
    return f"{str(kind).replace('_', ' ')}s ({count})"


def path_text(steps: Sequence[tuple[EdgeKind | None, NodeRef]],
              through: NodeRef | None = None, *, data_flow: bool = False) -> str:
    """A path by node names, each arrow labelled by what happens along it:
    `a -feeds-> b -is used by-> c` (`lineage.EDGE_VERB`).

    `steps` run from the start of a walk (as `Reached.path` gives them). An upstream walk
    runs against the data; `data_flow=True` prints it the way data flows, so that it reads
    from the furthest source to the start like any other path."""
    names = [node.name for _edge, node in steps]
    edges = [edge for edge, _node in steps[1:]]
    if data_flow:
        names.reverse()
        edges.reverse()
    text = path_words(names, edges)
    if through is not None:
        text += f" (consumes dataset {through.name})"
    return text


def with_state(name: str, state: str | None) -> str:
    """A name marked with its lifecycle state (`fraud-dashboard (deprecated)`)."""
    return f"{name} ({state})" if state in ("deprecated", "deleted") else name
