"""`lineage ingest`: OpenLineage events from JSON / NDJSON files."""

from __future__ import annotations

import click

from lineage import openlineage

from . import output
from .context import App, format_option, pass_app


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False),
                metavar="FILE...")
@format_option
@pass_app
def ingest(app: App, files: tuple[str, ...], fmt: str) -> None:
    """Ingest OpenLineage events (RunEvent, DatasetEvent, JobEvent) in one transaction.

    Each FILE is JSON (one event, or an array of events) or NDJSON (one event per line;
    .ndjson/.jsonl, or any file with one JSON value per line), as the OpenLineage clients'
    file transport writes them. Every event of every FILE is validated against the
    OpenLineage spec (2-0-2) before anything is written; the first bad event is reported
    with its file, line and the JSON path of the offending field, and nothing is written.
    Ingesting the same events again changes nothing. Exit code 2 means bad input.

    \b
    Examples:
      lineage ingest events.ndjson
      lineage ingest start.json complete.json --format json
      lineage --store postgresql://postgres@127.0.0.1:5432/test ingest /var/log/ol/*.ndjson
    """
    with app.audited("ingest", ", ".join(files)):
        result = openlineage.ingest_files(app.store, list(files))
    if fmt == "json":
        output.emit_json({"files": list(files), **result.to_dict()})
        return
    console = output.out()
    applied = result.applied
    kinds = ", ".join(output.plural(n, kind) for n, kind in (
        (result.run_events, "run event"), (result.dataset_events, "dataset event"),
        (result.job_events, "job event")) if n)
    console.print(f"read {output.plural(result.events, 'event')} ({kinds}) from "
                  f"{', '.join(files)}", soft_wrap=True)
    if not applied.changed:
        console.print(f"nothing changed: already ingested ({applied.unchanged} items as "
                      "reported)", soft_wrap=True)
        return
    rows = [("runs", result.runs), ("jobs", result.jobs), ("datasets", result.datasets),
            ("dataset versions", result.dataset_versions), ("fields", result.fields),
            ("derivations", result.derivations),
            ("nodes created", applied.nodes_created), ("nodes updated", applied.nodes_updated),
            ("edges created", applied.edges_created), ("edges updated", applied.edges_updated),
            ("schemas written", applied.schemas_written), ("unchanged", applied.unchanged)]
    console.print(output.table(None, ["what", "count"], [(k, str(n)) for k, n in rows if n]))
