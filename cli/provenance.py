"""Record provenance commands: `tag`, `review`, `history`, `provenance`, `taint`, and the
training guard, `check-training` (and `export-fingerprints`, for the guard on Spark)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import click
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

import lineage
from lineage import provenance
from lineage.guard import VERDICTS, GuardReport, Policy, check_training, parse_concepts

from . import output
from .context import App, format_option, pass_app

_STEPS = ("reading", "fingerprinting", "writing")


def _key_option(f: Any) -> Any:
    return click.option("--key", "keys", multiple=True, required=True, metavar="COLUMN",
                        help="Key column naming the entity (repeat for a composite key).")(f)


def _batch_dict(batch: lineage.AssertionBatch) -> dict[str, Any]:
    data = dataclasses.asdict(batch)
    data["origin"] = batch.origin.value
    return data


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--dataset", required=True, metavar="NAME", help="The dataset the file's rows are.")
@click.option("--field", "field_name", required=True, metavar="FIELD",
              help="The field whose values are asserted (read from the column of that name).")
@_key_option
@click.option("--origin", required=True, type=click.Choice([o.value for o in lineage.Origin]),
              help="Who asserted the values.")
@click.option("--agent", required=True, metavar="NAME",
              help="A model version (fraud@3), a person or a system.")
@click.option("--confidence", type=click.FloatRange(0, 1), default=None,
              help="One confidence for every row.")
@click.option("--confidence-column", metavar="COLUMN", default=None,
              help="Per-row confidence in [0, 1].")
@click.option("--value-column", metavar="COLUMN", default=None,
              help="Read the values from this column instead of one named like the field.")
@click.option("--version", "version", metavar="NAME", default=None,
              help="The dataset version the rows belong to.")
@format_option
@pass_app
def tag(app: App, file: str, dataset: str, field_name: str, keys: tuple[str, ...], origin: str,
        agent: str, confidence: float | None, confidence_column: str | None,
        value_column: str | None, version: str | None, fmt: str) -> None:
    """Record who asserted each row's value: observed, human-labelled or AI-inferred.

    FILE is Parquet, CSV, NDJSON or Arrow. The whole file is one batch: a missing
    column, a missing key, a row without a value, one key with two values, a NaN
    confidence in --confidence-column (an empty cell means "not given"), a confidence
    outside [0, 1], a model version given as a human or observed agent, or an unknown
    dataset, field or model version rejects it whole (exit 2 or 4, naming the row) and
    nothing is written. Values are stored as fingerprints. Tagging the same rows again
    (same field, origin, agent, values and confidences) writes nothing and says so
    ("unchanged": true in JSON).

    \b
    Examples:
      lineage tag out/predictions.csv --dataset fraud.scores --field predicted_fraud \\
          --key transaction_id --origin ai_inferred --agent fraud@2 \\
          --confidence-column confidence
      lineage tag out/chargebacks.csv --dataset fraud.labels --field is_fraud \\
          --key transaction_id --origin observed --agent disputes-system
    """
    if confidence is not None and confidence_column is not None:
        raise lineage.ValidationError("give --confidence or --confidence-column, not both")
    with _progress(fmt) as say, app.audited(
            "tag", f"{dataset}.{field_name}",
            {"file": file, "origin": origin, "agent": agent}):
        batch = provenance.tag(
            app.store, file, dataset=dataset, field=field_name, key=list(keys), origin=origin,
            agent=agent, confidence=confidence, confidence_column=confidence_column,
            value_column=value_column, dataset_version=version, source=file, progress=say)
    if fmt == "json":
        output.emit_json(_batch_dict(batch))
        return
    if batch.unchanged:
        output.out().print(f"nothing new: these {batch.rows:,} rows of {batch.field} were "
                           f"already recorded as {batch.origin.value} by {batch.agent} "
                           f"(batch {batch.id})", soft_wrap=True)
        return
    output.out().print(f"tagged {batch.rows:,} rows of {batch.field} as {batch.origin.value} "
                       f"by {batch.agent} (batch {batch.id})", soft_wrap=True)


class _progress:
    """A bar over the steps (read, check, fingerprint, write...) on a terminal: one batch is
    one transaction, so the steps are what a user waits on. Silent for JSON and in pipes."""

    def __init__(self, fmt: str) -> None:
        self.enabled = fmt == "table" and output.err().is_terminal
        self.bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                            MofNCompleteColumn(), TimeElapsedColumn(), console=output.err(),
                            transient=True)

    def __enter__(self) -> Any:
        if not self.enabled:
            return lambda _step: None
        self.bar.start()
        task = self.bar.add_task("starting", total=len(_STEPS))

        def say(step: str) -> None:
            self.bar.update(task, description=step, advance=1)

        return say

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.bar.stop()


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--dataset", required=True, metavar="NAME",
              help="The dataset the reviewed rows are.")
@click.option("--field", "field_name", required=True, metavar="FIELD",
              help="The field whose values were reviewed.")
@_key_option
@click.option("--reviewer", required=True, metavar="NAME", help="The person who reviewed.")
@click.option("--value-column", metavar="COLUMN", default=None,
              help="Read the reviewed values from this column instead of one named like "
                   "the field.")
@format_option
@pass_app
def review(app: App, file: str, dataset: str, field_name: str, keys: tuple[str, ...],
           reviewer: str, value_column: str | None, fmt: str) -> None:
    """Record a person's review of AI-inferred values: accept or correct, row by row.

    Each row holds the reviewer's value. Equal to the newest AI assertion for that entity:
    accepted; different: corrected. Both are written as human_labelled assertions that
    point at the AI assertion reviewed (see `lineage history`).

    \b
    Examples:
      lineage review reviewed.csv --dataset fraud.scores --field predicted_fraud \\
          --key transaction_id --reviewer annotator/alice
    """
    with app.audited("review", f"{dataset}.{field_name}",
                     {"file": file, "reviewer": reviewer}):
        result = provenance.review(app.store, file, dataset=dataset, field=field_name,
                                   key=list(keys), reviewer=reviewer,
                                   value_column=value_column, source=file)
    counts = {"accepted": result.accepted, "corrected": result.corrected,
              "unmatched": result.unmatched}
    if fmt == "json":
        output.emit_json({**counts, "batch": _batch_dict(result.batch)})
        return
    output.out().print(f"reviewed {result.batch.rows:,} rows: {result.accepted} accepted, "
                       f"{result.corrected} corrected, {result.unmatched} with no AI "
                       f"assertion (batch {result.batch.id})", soft_wrap=True)


@click.command()
@click.argument("dataset")
@click.argument("field_name", metavar="FIELD")
@click.argument("key", nargs=-1, required=True)
@click.option("--value", default=None, help="Say which assertions asserted this value.")
@format_option
@pass_app
def history(app: App, dataset: str, field_name: str, key: tuple[str, ...], value: str | None,
            fmt: str) -> None:
    """Every assertion about one entity's value of a field: who, when, how sure; reviews
    name what they accepted or corrected.

    \b
    Examples:
      lineage history fraud.scores predicted_fraud tx-00042
      lineage history fraud.scores predicted_fraud tx-00042 --value true --format json
    """
    records = provenance.history(app.store, dataset=dataset, field=field_name, key=list(key),
                                 value=value)
    if fmt == "json":
        output.emit_json([r.to_dict() for r in records])
        return
    if not records:
        output.out().print("no assertions about this entity")
        return
    # who asserted it, how sure, what review said; then when, and the assertion's id
    rows = [(r.origin.value, r.agent, "" if r.confidence is None else f"{r.confidence:.3f}",
             (f"{r.verdict} {r.reviews[0]}:{r.reviews[1]}" if r.reviews else ""),
             output.utc(r.asserted_at),
             "" if r.matches_value is None else ("yes" if r.matches_value else "no"),
             f"{r.batch}:{r.row}")
            for r in records]
    output.out().print(output.table(
        f"history of {' '.join(key)} in {dataset}.{field_name}",
        ["origin", "agent", "confidence", "review", "asserted at (UTC)", "this value",
         "assertion"], rows, optional=["assertion", "this value", "asserted at (UTC)"]))


@click.command("provenance")
@click.argument("dataset")
@click.option("--version", default=None, metavar="NAME", help="Only assertions on a version.")
@format_option
@pass_app
def provenance_cmd(app: App, dataset: str, version: str | None, fmt: str) -> None:
    """Who asserted a dataset's values: share by origin, agents, confidence, per field.

    \b
    Examples:
      lineage provenance fraud.scores
      lineage provenance fraud.labels --format json
    """
    summaries = provenance.summary(app.store, dataset, version)
    if fmt == "json":
        output.emit_json([s.to_dict() for s in summaries])
        return
    rows = []
    for s in summaries:
        if not s.total:
            continue
        shares = " ".join(f"{o.value} {s.share(o):.0%}" for o in lineage.Origin
                          if s.by_origin.get(o.value))
        agents = ", ".join(f"{a} ({n:,})" for a, n in sorted(s.agents.items()))
        hist = " ".join(str(n) for n in s.confidence)
        rows.append((s.field, f"{s.total:,}", shares, agents, hist))
    if not rows:
        output.out().print(f"no record assertions on {dataset}")
        return
    output.out().print(output.table(
        f"provenance of {dataset}", ["field", "records", "origin", "agents",
                                     "confidence (10 bins, 0..1)"], rows,
        wrap=("agents", "confidence (10 bins, 0..1)"), right=("records",),
        optional=["confidence (10 bins, 0..1)"]))


@click.command()
@format_option
@pass_app
def taint(app: App, fmt: str) -> None:
    """Fields, features and model versions that derive from AI-inferred values.

    Through column lineage, and through dataset-level lineage for fields without column
    lineage of their own (a job that read an AI field's dataset and wrote theirs): those
    are marked "dataset-level lineage, column unknown". The training guard uses the same
    answer for label fields.

    \b
    Examples:
      lineage taint
      lineage taint --format json
    """
    tainted = provenance.taint(app.store)
    if fmt == "json":
        output.emit_json([t.to_dict() for t in tainted])
        return
    if not tainted:
        output.out().print("nothing derives from AI-inferred values")
        return
    output.out().print(output.table(
        "derived from AI-inferred values", ["key", "path", "kind", "from"],
        [(t.node.key, output.path_text(t.path) + (" (dataset-level lineage, column unknown)"
                                                  if t.column_unknown else ""),
          t.node.kind.value, t.source.key)
         for t in tainted], wrap=("path",), optional=["from", "kind"]))


@click.command("export-fingerprints")
@click.argument("out", type=click.Path(dir_okay=False))
@format_option
@pass_app
def export_fingerprints_cmd(app: App, out: str, fmt: str) -> None:
    """Export what the training guard joins against to Parquet, for the guard on Spark.

    One Parquet file holds, per concept and entity scope, the value fingerprints the
    guard joins a training table's rows against (the observed/human and the AI side,
    with confidences and batches), the entities recorded ground truth speaks of, and
    what content matching needs; its metadata names the batches it covers. Write it
    where the Spark executors can read it, then call
    lineage.guard_spark.check_spark(store, df, OUT, key=..., label=...), which refuses
    an export older than a batch it needs. The file is replaced atomically. Exit codes:
    0 written, 2 the file cannot be written there, 4 no store at the URL.

    \b
    Examples:
      lineage export-fingerprints fingerprints.parquet
      lineage --store postgresql://lineage@db/lineage export-fingerprints \\
          /mnt/lake/lineage/fingerprints.parquet --format json
    """
    from lineage.guard_spark import export_fingerprints

    exported = export_fingerprints(app.store, out)
    if fmt == "json":
        output.emit_json(exported.to_dict())
        return
    summary = exported.to_dict()
    output.out().print(f"wrote {summary['rows']:,} fingerprints of {summary['batches']} "
                       f"batch(es) on {summary['scopes']} scope(s) to {out}")


@click.command("check-training")
@click.argument("file", type=click.Path(dir_okay=False))
@_key_option
@click.option("--label", "labels", multiple=True, required=True, metavar="COLUMN",
              help="Label column (repeat for several).")
@click.option("--dataset", default=None, metavar="NAME",
              help="The dataset the table claims to be (its label field is looked up).")
@click.option("--concept", "concepts", multiple=True, metavar="[COLUMN=]CONCEPT",
              help="Check a label column against this concept (for every label, or "
                   "COLUMN=CONCEPT, repeatable) instead of the one its field declares.")
@click.option("--model", default=None, metavar="NAME",
              help="The model being trained (fraud or fraud@3), for feedback-loop checks.")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False), default=None,
              help="Policy YAML (min_confidence, unverified, low_confidence, "
                   "allow_ai_above, lineage, max_examples); flags override it.")
@click.option("--min-confidence", type=click.FloatRange(0, 1), default=None,
              help="Observed/human assertions below this confidence do not count as ground "
                   "truth [default: the policy's].")
@click.option("--unverified", type=click.Choice(["allow", "warn", "block"]), default=None,
              help="What to do with rows nobody asserted [default: warn].")
@click.option("--allow-ai-above", type=click.FloatRange(0, 1), default=None,
              help="Pseudo-labelling on purpose: allow AI labels at or above this.")
@click.option("--report", "report_file", type=click.Path(dir_okay=False), default=None,
              help="Also write the full report as JSON to this file.")
@format_option
@pass_app
def check_training_cmd(app: App, file: str, keys: tuple[str, ...], labels: tuple[str, ...],
                       dataset: str | None, concepts: tuple[str, ...], model: str | None,
                       policy_file: str | None,
                       min_confidence: float | None, unverified: str | None,
                       allow_ai_above: float | None, report_file: str | None,
                       fmt: str) -> None:
    """Check a training table before fitting: are its labels ground truth?

    For every row: ground_truth (an observed or human assertion supports it),
    ai_only (only models ever asserted it — blocked, even when the copy lost its
    lineage), contradicted (recorded ground truth gives the key another value —
    blocked), unverified (nobody did — the policy decides), low_confidence, or
    pseudo_label (allowed on purpose). Lineage checks: a label that descends from a
    model's output; a model trained on its own or another version's outputs.

    Each label column is checked against its field's concept (--dataset), else the
    fields named like it; when those know nothing of the table's entities, against the
    concept whose recorded keys and values it matches best (the report says which);
    --concept names one outright.

    Exit codes: 0 passed, 3 blocked, 8 no label column could be matched to recorded
    assertions (nothing was checked; --unverified allow lets it pass), 2 unusable input
    (missing column, empty table, conflicting labels for one key, not UTF-8), 4 unknown
    dataset, model or concept.

    \b
    Examples:
      lineage check-training out/labels_exported.csv --key transaction_id \\
          --label is_fraud --dataset fraud.training_labels --model fraud@3
      lineage check-training train.parquet --key user_id --label churned \\
          --policy policy.yaml --format json --report report.json
      lineage check-training export.csv --key transaction_id --label y \\
          --concept y=fraud_label
    """
    policy = Policy.load(policy_file, min_confidence=min_confidence, unverified=unverified,
                         allow_ai_above=allow_ai_above)
    mapping = parse_concepts(concepts, labels)
    report = check_training(app.store, file, key=list(keys), label=list(labels),
                            dataset=dataset, model=model, policy=policy, raise_on_block=False,
                            concept=mapping or None)
    if report_file:
        Path(report_file).write_text(json.dumps(report.to_dict(), indent=2, default=str),
                                     encoding="utf-8")
    if fmt == "json":
        output.emit_json(report.to_dict())
    else:
        _print_report(report)
    if not report.passed:
        blind = report.unmatched and not report.lineage_blocked
        raise click.exceptions.Exit(lineage.UnmatchedLabels.exit_code if blind
                                    else lineage.ProvenanceViolation.exit_code)


def _print_report(report: GuardReport) -> None:
    console = output.out()
    console.print(output.table(
        f"training table: {report.rows:,} rows", ["verdict", "rows", "action"],
        [(v, f"{report.counts.get(v, 0):,}", report.policy.action(v)) for v in VERDICTS
         if report.counts.get(v)], right=("rows",)))
    if report.examples:
        console.print(output.table(
            "examples", ["row", "verdict", "key", "label", "reason", "asserted by"],
            [(str(e["row"]), e["verdict"], json.dumps(e["key"]), json.dumps(e["label"]),
              e["reason"], ", ".join((e.get("ai_agent") or {}).values()))
             for e in report.examples], wrap=("reason",), optional=["row", "asserted by"]))
    for column, matched in report.matched.items():
        concepts = ", ".join(matched["concepts"]) or "nothing recorded"
        console.print(f"label '{column}' checked against {concepts} ({matched['matched_by']})",
                      soft_wrap=True)
    for finding in report.findings:
        path = " -> ".join(finding.path)
        console.print(f"{finding.kind}: {finding.message}" + (f"\n  path: {path}" if path
                                                                else ""), soft_wrap=True)
    console.print(report.summary(), soft_wrap=True)
