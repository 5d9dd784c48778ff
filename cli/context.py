"""What every command shares: the store (opened lazily) and the chosen output format."""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

import click

import lineage

OutputFormat = Literal["table", "json"]
F = TypeVar("F", bound=Callable[..., Any])


class App:
    """The state of one `lineage` invocation.

    The store is opened on first use only, so `--help`, `--version` and argument errors
    never touch the database; the group closes it when the command ends.
    """

    def __init__(self, url: str, creates: bool = True, wide: bool = False) -> None:
        self.url = url
        #: `--wide`: tables unabridged, whatever the terminal's width
        self.wide = wide
        #: whether the running command may create the store (a write); a read command on
        #: a store that does not exist says so instead of leaving an empty one behind
        self.creates = creates
        #: the output format of the running command (set by `format_option`), so errors
        #: can be printed in the same format
        self.fmt: OutputFormat = "table"
        self._store: lineage.Store | None = None

    @property
    def store(self) -> lineage.Store:
        if self._store is None:
            self._store = lineage.connect(self.url, create=self.creates)
        return self._store

    @property
    def principal(self) -> str:
        """Who the audit log names for this command's writes: `local:<OS user>`."""
        from lineage.auth import LOCAL

        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry and no $USER, e.g. some containers
            return LOCAL
        return f"{LOCAL}:{user}"

    @contextmanager
    def audited(self, action: str, target: str | None = None,
                detail: dict[str, Any] | None = None) -> Iterator[None]:
        """Record the writes of the block in the audit log, in their own transaction, as
        the server does for its requests: the CLI writes the same store."""
        with self.store.audited(self.principal, action, target, detail):
            yield

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


pass_app = click.make_pass_decorator(App)


def _remember_format(ctx: click.Context, _param: click.Parameter, value: str) -> str:
    app = ctx.find_object(App)
    if app is not None and value in ("table", "json"):
        app.fmt = value  # type: ignore[assignment]
    return value


def format_option(f: F) -> F:
    """`--format table|json` (JSON goes to stdout alone; errors then print as JSON too)."""
    return click.option(
        "--format", "fmt", type=click.Choice(["table", "json"]), default="table",
        show_default=True, callback=_remember_format,
        help="table for people; json (the only thing on stdout) for machines.",
    )(f)


def depth_option(f: F) -> F:
    """`--depth N`: how many edges a traversal may follow (default: all)."""
    return click.option(
        "--depth", "depth", type=click.IntRange(min=0), default=None, metavar="N",
        help="Follow at most N edges [default: no bound; walks are cycle-safe]. An answer "
             "this cuts says so (a 'truncated' line; \"truncated\": true in JSON).",
    )(f)


#: the exit code of a tripped `--fail-on` gate (README "Exit codes")
EXIT_GATE = 9


def fail_on_option(what: str) -> Callable[[F], F]:
    """`--fail-on breaking|unknown`: exit EXIT_GATE when any `what` is at or above it."""
    from lineage.schema import GATE_LEVELS

    def decorate(f: F) -> F:
        return click.option(
            "--fail-on", "fail_on", type=click.Choice(GATE_LEVELS), default=None,
            help=f"For CI: exit {EXIT_GATE} (after printing the report) when any {what} is "
                 "at or above this level (unknown: unknown or breaking).")(f)
    return decorate


def gate(fails: bool) -> None:
    """Exit EXIT_GATE when the report's gate tripped (`report.fails(level)`)."""
    if fails:
        click.get_current_context().exit(EXIT_GATE)
