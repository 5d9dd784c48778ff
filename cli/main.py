"""The `lineage` group: global options, the lazy store, and error handling done once."""

from __future__ import annotations

from typing import Any, NoReturn

import click

import lineage

from . import output
from .audit import audit
from .consumers import consumers
from .context import App
from .export import export
from .health import drift_cmd, freshness_cmd, profile_cmd, skew_cmd, validate
from .ingest import ingest
from .notify import notify
from .provenance import check_training_cmd, history, provenance_cmd, review, tag, taint
from .read import downstream, find, graph, impact, show, stats, upstream
from .schema import schema
from .serve import serve
from .token import token
from .write import init, register


class LineageGroup(click.Group):
    """A group that turns the library's errors into a message and an exit code.

    Every `LineageError` prints as `error: <message>` on stderr (its `to_dict()` JSON
    when the command ran with `--format json`) and exits with the error's `exit_code`,
    never with a traceback. Anything else is a bug and keeps its traceback.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except lineage.LineageError as exc:
            _fail(ctx, exc.to_dict(), exc.exit_code)
        except OSError as exc:
            # A file we were told to write cannot be (a missing folder, no permission):
            # the library lets the OS error through (see render.render).
            where = f"{exc.filename}: " if exc.filename else ""
            message = f"{where}{exc.strerror or exc}"
            _fail(ctx, {"error": type(exc).__name__, "message": message}, 1)
        finally:
            app = ctx.find_object(App)
            if app is not None:
                app.close()


def _fail(ctx: click.Context, data: dict[str, Any], code: int) -> NoReturn:
    app = ctx.find_object(App)
    output.print_error(data, as_json=app is not None and app.fmt == "json")
    ctx.exit(code)


#: the commands that may create a store that does not exist yet; every other command reads
#: and fails with "no store at ..." rather than creating an empty one
CREATING_COMMANDS = frozenset({"init", "register", "tag", "review", "ingest", "serve", "token"})

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(cls=LineageGroup, context_settings=CONTEXT_SETTINGS)
@click.option(
    "--store", "url", envvar="LINEAGE_URL", default=lineage.Settings().url, show_default=True,
    show_envvar=True, metavar="URL",
    help="The store: sqlite:///path.db or postgresql://user@host:port/db.",
)
@click.version_option(lineage.__version__, "--version", prog_name="lineage")
@click.pass_context
def cli(ctx: click.Context, url: str) -> None:
    """Lineage and provenance for data and ML: what depends on what, and by which path.

    The store holds datasets, fields, features, models and their versions, jobs and
    consumers. Register them from a YAML manifest, then ask what a change would affect.
    NAME arguments are full node keys or any unambiguous suffix of one
    (transactions.category, fraud@3). Read commands print tables, or JSON with
    --format json.

    \b
    Exit codes:
      0  ok
      1  error
      2  bad input or usage (a manifest error, a bad option or argument)
      3  blocked by the training guard (a provenance violation)
      4  name not found, or ambiguous (the message lists the candidates)
      5  conflict with the data already stored
      6  permission denied
      7  store unreachable or failed
      8  a batch broke its schema or a consumer contract (lineage validate)
      9  a batch drifted past a threshold from what a model trained on (lineage drift)

    \b
    Examples:
      lineage register examples/fraud/manifest.yaml
      lineage impact transactions.category
      lineage --store postgresql://postgres@127.0.0.1:5432/test stats
    """
    ctx.obj = App(url, creates=ctx.invoked_subcommand in CREATING_COMMANDS)


for _command in (init, register, impact, graph, show, find, upstream, downstream, stats,
                 schema, tag, review, history, provenance_cmd, taint, check_training_cmd,
                 ingest, export, notify, serve, token, audit,
                 consumers, validate, profile_cmd, drift_cmd, freshness_cmd,
                 skew_cmd):
    cli.add_command(_command)
