"""`lineage import`: whole projects from other tools' own artifacts (`import dbt`)."""

from __future__ import annotations

import click

from . import output
from .context import App, format_option, pass_app


@click.group(name="import")
def import_group() -> None:
    """Import a project from another tool's own artifacts.

    \b
    Examples:
      lineage import dbt path/to/dbt_project/target
    """


@import_group.command(name="dbt")
@click.argument("target", type=click.Path(file_okay=False), metavar="TARGET_DIR")
@click.option("--namespace", default=None, metavar="NS",
              help="Dataset namespace, as your OpenLineage producers name the warehouse so "
                   "both land on the same datasets (dbt-ol: postgres://HOST:PORT, "
                   "duckdb://PATH, snowflake://ACCOUNT) [default: the adapter type, e.g. "
                   "duckdb].")
@click.option("--job-namespace", default="dbt", show_default=True, metavar="NS",
              help="Namespace of the jobs (one per seed, model and snapshot).")
@click.option("--no-cache", "no_cache", is_flag=True,
              help="Parse every model's SQL again, even those whose SQL and upstream "
                   "columns are unchanged since the last import (the store ends the same).")
@format_option
@pass_app
def dbt(app: App, target: str, namespace: str | None, job_namespace: str, no_cache: bool,
        fmt: str) -> None:
    """Import a dbt project from its target directory, in one transaction.

    Reads TARGET_DIR/manifest.json and catalog.json (run `dbt docs generate --no-write-json`
    after building: a plain `docs generate` overwrites build's run_results.json with its own,
    which runs nothing, so it is not read as runs or test results, and the output says so),
    and run_results.json when present. Seeds, sources, models and snapshots become datasets
    with their catalog columns and types and a dataset version per schema; models and
    snapshots jobs with table lineage (seeds and sources included) and column lineage read
    from their compiled SQL with sqlglot (select * expanded from the catalog); enforced model
    contracts consumer contracts (dbt-contract/<model>); exposures consumers with their
    owners; tests quality checks on the columns and datasets they test (never datasets);
    run results runs. A model whose SQL cannot be read keeps its table lineage and is listed
    as "column lineage unknown". Importing the same artifacts again changes nothing; a
    changed column type gives a new dataset version and notifies the consumers it breaks.
    A missing or malformed artifact is reported with its file and key (exit code 2) and
    nothing is written.

    Re-importing after each `dbt build` costs what changed: a model's SQL is parsed again
    only when its compiled SQL, its columns or the columns and types of a relation it reads
    changed since the last import into this store (or the dialect, or the parsing rules'
    version); the others keep the column lineage stored for them. The output says how many
    models were parsed and reused (models_parsed, models_reused in JSON); --no-cache
    parses them all.

    \b
    Examples:
      lineage import dbt examples/jaffle_shop/target
      dbt build && dbt docs generate --no-write-json && lineage import dbt target
      lineage import dbt target --namespace postgres://db.prod:5432 --format json
      lineage import dbt target --no-cache     # parse every model, as a first import does
    """
    from lineage.dbt import import_dbt

    with app.audited("import dbt", target):
        result = import_dbt(app.store, target, namespace=namespace,
                            job_namespace=job_namespace, cache=not no_cache)
    if fmt == "json":
        output.emit_json(result.to_dict())
        return
    console = output.out()
    applied = result.apply
    console.print(f"read dbt project '{result.project}' from {target}", soft_wrap=True)
    console.print(f"column lineage: {result.models_parsed} models parsed, "
                  f"{result.models_reused} reused unchanged from the last import"
                  + (" (--no-cache)" if no_cache else ""), soft_wrap=True)
    if not applied.changed:
        console.print(f"nothing changed: already imported ({applied.unchanged} items as "
                      "read)", soft_wrap=True)
    else:
        rows = [("datasets", result.datasets), ("fields", result.fields),
                ("jobs", result.jobs), ("table lineage edges", result.table_edges),
                ("column lineage edges", result.column_edges),
                ("quality checks", result.quality_checks), ("runs", result.runs),
                ("consumers", result.consumers), ("contracts", result.contracts),
                ("new dataset versions", len(result.new_versions)),
                ("columns retired (gone from the catalog)", len(result.retired_fields)),
                ("lineage edges retired (no longer in the SQL)", result.retired_edges),
                ("notifications enqueued", applied.notifications_enqueued),
                ("nodes created", applied.nodes_created),
                ("nodes updated", applied.nodes_updated),
                ("edges created", applied.edges_created),
                ("edges updated", applied.edges_updated), ("unchanged", applied.unchanged)]
        console.print(output.table(None, ["what", "count"],
                                   [(k, str(n)) for k, n in rows if n]))
    if result.run_results_ignored:
        console.print(f"runs and test results: none read; {result.run_results_ignored}",
                      soft_wrap=True)
    if result.failing_checks:
        console.print(output.table("dbt tests not passing (last run)", ["test", "on", "status"],
                                   [(c["test"], c["on"], c["status"])
                                    for c in result.failing_checks]))
    # honest output: the models (and columns) whose column lineage is not known
    unknown = [(m["model"], "(whole model)", m["reason"]) for m in result.column_lineage_unknown]
    unknown += [(model, c["column"], c["reason"])
                for model, cols in sorted(result.columns_unknown.items()) for c in cols]
    if unknown:
        console.print(output.table("column lineage unknown (table lineage kept)",
                                   ["model", "column", "why"], unknown))
