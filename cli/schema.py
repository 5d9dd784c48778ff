"""`lineage schema diff`: what changed between two schemas, and how much it matters."""

from __future__ import annotations

from pathlib import Path

import click

from lineage import FieldSchema
from lineage.schema import SchemaDiff, diff, load_schema, parse_renames, version_schema
from lineage.store.base import Store

from . import output
from .context import App, fail_on_option, format_option, gate, pass_app


@click.group()
def schema() -> None:
    """Schemas of dataset versions: compare them, or a version with a proposed schema.

    \b
    Examples:
      lineage schema diff public.transactions@2026-01 public.transactions@2026-03
      lineage schema diff public.transactions@2026-03 proposed_schema.yaml
    """


def _fields(store: Store, ref: str) -> tuple[str, list[FieldSchema]]:
    """A dataset version's snapshot, or a schema file (YAML/JSON/OpenLineage facet)."""
    if Path(ref).is_file():
        return ref, load_schema(ref)
    return version_schema(store, ref)


@schema.command("diff")
@click.argument("old")
@click.argument("new")
@click.option("--rename", "renames", multiple=True, metavar="OLD=NEW",
              help="Declare a rename (repeatable); undeclared ones are suggested.")
@fail_on_option("change's verdict")
@format_option
@pass_app
def diff_cmd(app: App, old: str, new: str, renames: tuple[str, ...], fail_on: str | None,
             fmt: str) -> None:
    """Classify every change from OLD to NEW: added, dropped, renamed, type changed
    (widening, narrowing, incompatible), nullability, allowed values.

    OLD and NEW are dataset versions (`public.transactions@2026-01`) or schema files
    (YAML or JSON: a list of fields, `{fields: [...]}`, or an OpenLineage
    SchemaDatasetFacet). Exits 0 whether or not something breaks, unless --fail-on
    breaking (or unknown) is given: then it exits 9 after printing the report when any
    change's verdict is at or above that level (for CI).

    \b
    Examples:
      lineage schema diff user_features@2026-01 user_features@2026-03
      lineage schema diff transactions@2026-03 proposed.yaml --format json
      lineage schema diff users@v1 users@v2 --rename user_name=username
      lineage schema diff transactions@2026-03 proposed.yaml --fail-on breaking  # CI
    """
    declared = parse_renames(renames, key="--rename")
    old_name, before = _fields(app.store, old)
    new_name, after = _fields(app.store, new)
    result = SchemaDiff(old_name, new_name, diff(before, after, declared))
    if fmt == "json":
        output.emit_json(result.to_dict())
    elif not result.changes:
        output.out().print(f"no changes from {old_name} to {new_name}", soft_wrap=True)
    else:
        output.out().print(output.table(
            f"{old_name} -> {new_name}", ["field", "change", "verdict", "detail"],
            [(c.field, c.kind, c.compatibility, c.describe()) for c in result.changes],
            wrap=("detail",)))
        output.out().print(f"{len(result.breaking)} breaking of {len(result.changes)} "
                           "changes")
    gate(fail_on is not None and result.fails(fail_on))
