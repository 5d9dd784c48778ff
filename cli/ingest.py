"""`lineage ingest`: OpenLineage events from JSON / NDJSON files."""

from __future__ import annotations

import click

from lineage import openlineage

from . import output
from .context import App, format_option, pass_app


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False),
                metavar="FILE...")
@click.option("--strict", is_flag=True,
              help="Reject the whole input when an event has an invalid facet (by default "
                   "the facet is dropped and listed, and the event ingested).")
@format_option
@pass_app
def ingest(app: App, files: tuple[str, ...], strict: bool, fmt: str) -> None:
    """Ingest OpenLineage events (RunEvent, DatasetEvent, JobEvent) in one transaction.

    Each FILE is JSON (one event, or an array of events) or NDJSON (one event per line;
    .ndjson/.jsonl, or any file with one JSON value per line), as the OpenLineage clients'
    file transport writes them. Every event of every FILE is validated against the
    OpenLineage spec (2-0-2) before anything is written: the core event strictly (the first
    bad event is reported with its file, line and the JSON path of the offending field, and
    nothing is written); an invalid optional facet is dropped and listed with its JSON path
    (with --strict it rejects the input instead), a naive eventTime is read as UTC and a
    missing schemaURL accepted, with a warning. The dropped facets also go to the audit log.
    A run is its job and runId together: a runId another job's run has too is stored as a
    run of its own, with a warning (`lineage show RUNID` then lists both runs' keys).
    Ingesting the same events again changes nothing. Exit code 2 means bad input.

    \b
    Examples:
      lineage ingest events.ndjson
      lineage ingest start.json complete.json --format json
      lineage ingest --strict spark-events.ndjson
      lineage --store postgresql://postgres@127.0.0.1:5432/test ingest /var/log/ol/*.ndjson
    """
    prepared = openlineage.prepare_files(list(files), strict=strict)
    openlineage.note_shared_runs(app.store, [prepared])  # its warnings go to the audit too
    with app.audited("ingest", ", ".join(files), prepared.audit_detail()):
        result = openlineage.write(app.store, [prepared])
    if fmt == "json":
        output.emit_json({"files": list(files), **result.to_dict()})
        return
    console = output.out()
    by_index = {e.index: e for e in prepared.events}
    for event, path, what in [*((d["event"], d["path"], f"facet dropped: {d['reason']}")
                                for d in result.dropped_facets),
                              *((w["event"], w["path"], w["message"])
                                for w in result.warnings)]:
        ev = by_index[event]
        where = f"{ev.file}:{ev.line}" if ev.file and ev.line else f"event {event + 1}"
        console.print(f"warning: {where}: {path}: {what}", soft_wrap=True)
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
