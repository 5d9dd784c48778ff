"""The `lineage` group: global options, the lazy store, and error handling done once."""

from __future__ import annotations

import importlib
from typing import Any, NoReturn

import click

import lineage

from .context import App

#: every command: name -> (module in this package, attribute, the one-line help that
#: `lineage --help` lists). The module is imported only when its command runs (or shows its
#: own help), so `lineage --help` costs no database, dataframe or web-framework imports.
#: tests/test_cli.py checks each line here against the command's own docstring.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "init": ("write", "init", "Create or migrate the store."),
    "register": ("write", "register", "Register YAML manifests in one transaction."),
    "impact": ("read", "impact", "Show what is affected if NAME changes."),
    "graph": ("read", "graph", "Draw the lineage around NAME to a file."),
    "show": ("read", "show", "Show one node, its edges and its schema."),
    "find": ("read", "find", "Find nodes by a part of their key."),
    "upstream": ("read", "upstream", "List everything NAME depends on."),
    "downstream": ("read", "downstream", "List everything that depends on NAME."),
    "stats": ("read", "stats", "Count the nodes by kind, and the edges."),
    "schema": ("schema", "schema",
               "Schemas of dataset versions: compare them, or a version with a proposed schema."),
    "tag": ("provenance", "tag",
            "Record who asserted each row's value: observed, human-labelled or AI-inferred."),
    "review": ("provenance", "review",
               "Record a person's review of AI-inferred values: accept or correct, row by row."),
    "history": ("provenance", "history",
                "Every assertion about one entity's value of a field: who, when, how sure; "
                "reviews name what they accepted or corrected."),
    "provenance": ("provenance", "provenance_cmd",
                   "Who asserted a dataset's values: share by origin, agents, confidence, per "
                   "field."),
    "taint": ("provenance", "taint",
              "Fields, features and model versions that derive from AI-inferred values."),
    "check-training": ("provenance", "check_training_cmd",
                       "Check a training table before fitting: are its labels ground truth?"),
    "export-fingerprints": ("provenance", "export_fingerprints_cmd",
                            "Export what the training guard joins against to Parquet, for the "
                            "guard on Spark."),
    "ingest": ("ingest", "ingest", "Ingest OpenLineage events (RunEvent, DatasetEvent, "
               "JobEvent) in one transaction."),
    "export": ("export", "export", "Export the lineage graph as W3C PROV (PROV-JSON, PROV-O "
               "Turtle) or Graphviz DOT."),
    "notify": ("notify", "notify", "Notify consumers of breaking changes: deliver the outbox, "
               "inspect it, redrive it."),
    "serve": ("serve", "serve", "Serve the HTTP API until interrupted (Ctrl-C)."),
    "token": ("token", "token", "API tokens for `lineage serve`: scopes, and the origins a "
              "token may assert."),
    "audit": ("audit", "audit", "Show the audit log, newest first: every write with its "
              "principal."),
    "consumers": ("consumers", "consumers", "List consumers: all of them, or those that "
                  "depend on NAME, transitively."),
    "deprecate": ("lifecycle", "deprecate",
                  "Mark NAME deprecated and show where it is still depended on."),
    "delete": ("lifecycle", "delete",
               "Mark NAME deleted: impact and notifications leave it out from now on."),
    "copy": ("copy", "copy_cmd", "Copy a whole store into another, between any two backends."),
    "import": ("imports", "import_group", "Import a project from another tool's own artifacts."),
    "validate": ("health", "validate",
                 "Check a batch against its dataset's schema and every consumer contract on it."),
    "profile": ("health", "profile_cmd", "Profile a batch and store the profile with its dataset "
                "version; without FILE, show the stored one."),
    "drift": ("health", "drift_cmd",
              "Compare a batch with what the models trained on, then follow the drift "
              "downstream."),
    "freshness": ("health", "freshness_cmd",
                  "Inputs older than their freshness SLA, and runs that read data which landed "
                  "after their window closed, with the model versions and consumers "
                  "downstream."),
    "skew": ("health", "skew_cmd", "Training-serving skew: for each input of a model version, the "
             "derivation its training data recorded beside the one its serving path "
             "recorded, and every difference."),
}


class LineageGroup(click.Group):
    """A group that loads its commands lazily (see COMMANDS) and turns the library's errors
    into a message and an exit code.

    Every `LineageError` prints as `error: <message>` on stderr (its `to_dict()` JSON
    when the command ran with `--format json`) and exits with the error's `exit_code`,
    never with a traceback. Anything else is a bug and keeps its traceback.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _store_first(args))

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module, attribute, _ = COMMANDS[cmd_name]
            command = getattr(importlib.import_module(f".{module}", __package__), attribute)
            self.add_command(command, cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # the listed help comes from COMMANDS, so listing imports no command module
        limit = formatter.width - 6 - max(len(name) for name in self.list_commands(ctx))
        rows = []
        for name in self.list_commands(ctx):
            if name in COMMANDS and name not in self.commands:
                rows.append((name, _shorten(COMMANDS[name][2], limit)))
            elif (command := self.get_command(ctx, name)) is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

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


def _store_first(args: list[str]) -> list[str]:
    """`--store URL` and `--wide` may follow the command (`lineage impact x --store URL`):
    move them before the command, where click reads the group's options. Stops at `--`
    (what follows is arguments, whatever it looks like)."""
    head: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        if arg == "--store" and i + 1 < len(args):
            head.extend(args[i:i + 2])
            i += 2
            continue
        if arg.startswith("--store=") or arg == "--wide":
            head.append(arg)
        else:
            rest.append(arg)
        i += 1
    return head + rest


def _shorten(text: str, limit: int) -> str:
    """What click's short help does to a docstring's first sentence: cut at a word."""
    if len(text) <= limit:
        return text
    return text[: limit - 3].rsplit(" ", 1)[0].rstrip(" ,;:") + "..."


def _fail(ctx: click.Context, data: dict[str, Any], code: int) -> NoReturn:
    from . import output  # rich, and the domain types: only when there is an error to print

    app = ctx.find_object(App)
    output.print_error(data, as_json=app is not None and app.fmt == "json")
    ctx.exit(code)


#: the commands that may create a store that does not exist yet; every other command reads
#: and fails with "no store at ..." rather than creating an empty one
CREATING_COMMANDS = frozenset({"init", "register", "tag", "review", "ingest", "serve", "token",
                               "import"})

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(cls=LineageGroup, context_settings=CONTEXT_SETTINGS)
@click.option(
    "--store", "url", envvar="LINEAGE_URL", default=lineage.Settings().url, show_default=True,
    show_envvar=True, metavar="URL",
    help="The store: sqlite:///path.db, postgresql://user@host:port/db or "
         "bolt://host:7687?records=sqlite:///lineage-records.db (Neo4j).",
)
@click.option(
    "--wide", is_flag=True, envvar="LINEAGE_WIDE", show_envvar=True,
    help="Tables with every column and every cell on one line, however wide the terminal "
         "(e.g. for `less -S` or a wide window). Without it, tables fit the terminal: long "
         "names wrap at '.', '/', '@', ':' and between path steps, never cut, and a column "
         "left out for lack of width is named under the table.",
)
@click.version_option(lineage.__version__, "--version", prog_name="lineage")
@click.pass_context
def cli(ctx: click.Context, url: str, wide: bool) -> None:
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
      4  name not found, or ambiguous (the message lists the candidates), or no store
      5  conflict with the data already stored
      6  permission denied
      7  store unreachable or failed
      8  training guard: no label column could be matched to recorded assertions
      9  a --fail-on gate tripped: a dependent's verdict (impact --change) or a change
         (schema diff) is at or above the level given; the report is printed as usual
     10  a batch broke its schema or a consumer contract (lineage validate)
     11  a batch drifted past a threshold from what a model trained on (lineage drift)

    \b
    Examples:
      lineage register examples/fraud/manifest.yaml
      lineage impact transactions.category
      lineage import dbt examples/jaffle_shop/target
      lineage --store postgresql://postgres@127.0.0.1:5432/test stats
      lineage audit --wide
    """
    ctx.obj = App(url, creates=ctx.invoked_subcommand in CREATING_COMMANDS, wide=wide)


