"""Data health at job boundaries: `validate`, `profile`, `drift`. Thin: parse, call
`lineage.health`, print."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import click

import lineage

from . import output
from .context import App, format_option, pass_app

if TYPE_CHECKING:
    from rich.console import Console


def _share(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def _names(keys: list[str]) -> str:
    return ", ".join(k.partition(":")[2] for k in keys)


class _Concluded(Protocol):
    """A health report: what it could not judge or judged with a caveat, and its verdict."""

    @property
    def notes(self) -> Sequence[str]: ...

    def summary(self) -> str: ...


def _print_conclusion(console: Console, report: _Concluded, done: str | None = None) -> None:
    """The lines under a health report's tables, alike for every command: its notes, what
    the command did besides checking (`done`: recorded, notified), and the verdict."""
    for note in report.notes:
        console.print(f"note: {note}", soft_wrap=True)
    if done:
        console.print(done, soft_wrap=True)
    console.print(report.summary(), soft_wrap=True)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--dataset", required=True, metavar="NAME",
              help="The dataset the batch is (NAME@VERSION: check against that version).")
@click.option("--record", is_flag=True,
              help="Register the observed schema as a new dataset version when it differs "
                   "(its change impact notifies the consumers it breaks).")
@click.option("--version", "record_version", metavar="NAME", default=None,
              help="The name of the version --record registers [default: observed-<UTC time>].")
@format_option
@pass_app
def validate(app: App, file: str, dataset: str, record: bool, record_version: str | None,
             fmt: str) -> None:
    """Check a batch against its dataset's schema and every consumer contract on it.

    FILE is Parquet, CSV, NDJSON or Arrow. The reference is the schema snapshot of the
    dataset's latest version and the contracts consumers declared on the dataset. Per
    column: a numeric column arriving as text (and the share a lenient cast such as
    pd.to_numeric(errors="coerce") would turn into null), nulls where the schema or a
    contract forbids them or above a contract's maxNullRate, values outside allowed
    values or a contract's minimum/maximum, text longer than a varchar(n)/char(n),
    numbers too large for a decimal(p,s), missing columns (errors), more decimal places
    than a decimal's scale and columns nobody declared (warnings). Each violation names
    the consumers it breaks: the contract's owner, or those change impact finds
    downstream of a schema violation.

    Exit codes: 0 passed (warnings allowed), 10 a violation, 2 unreadable batch,
    4 unknown dataset, 5 --version names an existing version.

    \b
    Examples:
      lineage validate out/transactions_batch.csv --dataset transactions
      lineage validate batch.parquet --dataset transactions@2026-03 --format json
      lineage validate out/transactions_batch.csv --dataset transactions --record
    """
    from lineage.health import validate as check

    if record_version is not None and not record:
        raise lineage.ValidationError("--version names the version --record registers; "
                                      "add --record")
    if record:
        with app.audited("validate --record", dataset, {"file": file}):
            report = check(app.store, file, dataset, record=True,
                           record_version=record_version)
    else:
        report = check(app.store, file, dataset)
    if fmt == "json":
        output.emit_json(report.to_dict())
    else:
        _print_validation(report)
    if not report.passed:
        raise click.exceptions.Exit(lineage.ContractViolation.exit_code)


def _print_validation(report: Any) -> None:
    console = output.out()
    rows = []
    for column in report.columns:
        base = [column.name, column.status, column.declared_type or "",
                column.observed_type or "(missing)", _share(column.null_share)]
        if not column.violations:
            rows.append([*base, "", "", "", ""])
        for i, v in enumerate(column.violations):
            who = "schema" if v.source == "schema" else f"contract {_names([v.by or ''])}"
            rows.append([*(base if i == 0 else [""] * len(base)), v.check, who,
                         _names(v.consumers), v.message])
    against = (report.schema_version or "").rpartition("/")[2] or "(no registered version)"
    console.print(output.table(
        f"{report.dataset.name}: {report.rows:,} rows against {against} and "
        f"{len(report.contracts)} contract(s)",
        ["column", "status", "declared", "observed", "nulls", "check", "by", "breaks",
         "message"], rows, wrap=("message", "breaks"), right=("nulls",),
        # at a narrow width: which column, whether it is ok, what is wrong first
        optional=["by", "check", "nulls", "declared", "observed", "breaks"]))
    _print_conclusion(console, report, done=None if not report.recorded else (
        f"recorded {report.recorded} ({report.notifications} notification(s) enqueued; "
        "`lineage notify deliver` sends them)"))


@click.command("profile")
@click.argument("file", type=click.Path(dir_okay=False), required=False)
@click.option("--dataset", required=True, metavar="NAME@VERSION",
              help="The dataset version the batch is (its profile is stored with it).")
@click.option("--run", default=None, metavar="RUN",
              help="Store it as what this run saw of the version (a training run's "
                   "features, a serving job's batch); the run is created when unknown.")
@click.option("--replace", is_flag=True,
              help="Replace a different profile stored for the same version (or run).")
@format_option
@pass_app
def profile_cmd(app: App, file: str | None, dataset: str, run: str | None, replace: bool,
                fmt: str) -> None:
    """Profile a batch and store the profile with its dataset version; without FILE, show
    the stored one.

    Per field, a few KB: numeric fields keep count, nulls, mean, std, min/max, quantiles
    and a 256-step quantile sketch with exact counts (exact altogether when the field has
    at most 257 distinct values) and decile bins, enough for KS and PSI in `lineage drift`;
    categorical ones keep their 50 most frequent values, cardinality and nulls. A version's
    profile does not change: a different one is refused (exit 5) unless --replace.

    \b
    Examples:
      lineage profile out/user_features_2026-03.parquet --dataset user_features@2026-03
      lineage profile serving_batch.parquet --dataset user_features@2026-03 --run 0190d6f4
      lineage profile --dataset user_features@2026-03 --format json
    """
    from lineage.health import record_profile, stored_profile

    if file is None:
        if replace:
            raise lineage.ValidationError("--replace needs a FILE to profile")
        found = stored_profile(app.store, dataset, run)
        if found is None:
            raise lineage.NotFound(f"no profile stored for {dataset}"
                                   + (f" and run {run}" if run else "")
                                   + "; record one with `lineage profile FILE --dataset ...`")
        made = found
    else:
        with app.audited("profile", dataset, {"file": file, "run": run}):
            made = record_profile(app.store, file, dataset, run=run, replace=replace)
    if fmt == "json":
        output.emit_json(made.to_dict())
        return
    _print_profile(made)


def _num(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:,.4g}" if isinstance(value, float) else f"{value:,}"


def _print_profile(made: Any) -> None:
    from lineage.health.profile import field_size

    rows = []
    for name, f in made.fields.items():
        nulls = f"{f['nulls'] / f['count']:.1%}" if f["count"] else ""
        if f["kind"] == "numeric":
            q = f.get("quantiles", {})
            what = (f"mean {_num(f['mean'])} std {_num(f['std'])} · min {_num(f['min'])} "
                    f"p50 {_num(q.get('0.5'))} p99 {_num(q.get('0.99'))} max {_num(f['max'])}")
            exact = "exact" if f["sketch"]["exact"] else f"{len(f['sketch']['values'])} knots"
        elif f["kind"] == "categorical":
            top = ", ".join(f"{v} {c / max(f['n'], 1):.0%}" for v, c in f["top"][:4])
            what = f"{f['cardinality']:,} distinct · {top}"
            exact = "exact" if f["exact"] else f"top {len(f['top'])}"
        else:
            what, exact = "", ""
        rows.append((name, f["kind"], f["type"], _num(f["count"]), nulls, what, exact,
                     f"{field_size(f) / 1024:.1f} KB"))
    where = (made.dataset_version or "").partition(":")[2] + (
        f" (run {made.run.partition(':')[2]})" if made.run else "")
    output.out().print(output.table(
        f"profile of {where}: {made.rows:,} rows", ["field", "kind", "type", "count", "nulls",
                                                     "distribution", "sketch", "size"],
        rows, wrap=("distribution",), right=("count", "nulls", "size"),
        optional=["size", "sketch", "count", "kind"]))


@click.command("drift")
@click.argument("file", type=click.Path(dir_okay=False), required=False)
@click.option("--dataset", required=True, metavar="NAME",
              help="The dataset the batch is; every model version trained on one of its "
                   "versions is compared with that version's profile.")
@click.option("--against", default=None, metavar="NAME@VERSION",
              help="Compare with this profiled version only.")
@click.option("--current", default=None, metavar="NAME@VERSION",
              help="Instead of FILE: compare a stored profile (with --run: a run's).")
@click.option("--run", default=None, metavar="RUN", help="With --current: the run's profile.")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False), default=None,
              help="Thresholds as YAML (psi, ks_statistic, ks_pvalue, fields: {NAME: ...}).")
@click.option("--psi", type=click.FloatRange(min=0), default=None,
              help="Flag a field at or above this PSI [default: 0.2].")
@click.option("--ks", "ks_statistic", type=click.FloatRange(0, 1), default=None,
              help="Flag a KS statistic at or above this, with --ks-pvalue [default: 0.1].")
@click.option("--ks-pvalue", type=click.FloatRange(0, 1), default=None,
              help="...when its p-value is also below this [default: 0.01].")
@click.option("--notify", is_flag=True,
              help="Tell the consumers behind the drifted fields, through their channels.")
@format_option
@pass_app
def drift_cmd(app: App, file: str | None, dataset: str, against: str | None,
              current: str | None, run: str | None, policy_file: str | None,
              psi: float | None, ks_statistic: float | None, ks_pvalue: float | None,
              notify: bool, fmt: str) -> None:
    """Compare a batch with what the models trained on, then follow the drift downstream.

    The references are the stored profiles (`lineage profile`) of the dataset versions
    model versions were trained on (`trained_on`). Per field and model version: PSI over
    the reference's decile bins plus a missing-value bin (categorical: its top values),
    and the two-sample KS statistic and p-value for numbers (exact when the reference's
    sketch is, else within the reported error). Then, for each drifted field: the features
    derived from it, the model versions using them, and the consumers behind those.

    Exit codes: 0 no drift, 11 a field crossed a threshold, 4 nothing to compare with
    (no model version trained on the dataset, or an unknown name), 2 bad input.

    \b
    Examples:
      lineage drift out/user_features_prod.parquet --dataset user_features
      lineage drift batch.parquet --dataset user_features --policy drift.yaml --format json
      lineage drift --dataset user_features --current user_features@2026-03 --run 0190d6f4
    """
    from lineage.health import DriftPolicy, drift

    if (file is None) == (current is None):
        raise lineage.ValidationError("give a FILE to compare, or --current NAME@VERSION for "
                                      "a stored profile (not both)")
    if run is not None and current is None:
        raise lineage.ValidationError("--run names whose profile --current means; add "
                                      "--current")
    policy = DriftPolicy.load(policy_file, psi=psi, ks_statistic=ks_statistic,
                              ks_pvalue=ks_pvalue)
    if notify:
        with app.audited("drift --notify", dataset, {"file": file}):
            report = drift(app.store, file, dataset, against=against, current=current,
                           run=run, policy=policy, notify=True)
    else:
        report = drift(app.store, file, dataset, against=against, current=current, run=run,
                       policy=policy)
    if fmt == "json":
        output.emit_json(report.to_dict())
    else:
        _print_drift(report)
    if report.drifted:
        raise click.exceptions.Exit(lineage.DriftDetected.exit_code)


def _fmt(value: float | None, spec: str) -> str:
    return "" if value is None or value != value else format(value, spec)


def _print_drift(report: Any) -> None:
    console = output.out()
    rows = []
    for c in report.comparisons:
        models = _names(c.model_versions)
        reference = c.reference.rpartition("/")[2]
        if not c.profiled:
            rows.append((reference, models, "", "", "", "", "", "not compared", c.note))
            continue
        for f in c.fields:
            ks_text = _fmt(f.ks_statistic, ".3f") + (f" ±{f.ks_error:.3f}" if f.ks_error else "")
            rows.append((reference, models, f.field, _fmt(f.psi, ".3f"), ks_text,
                         _fmt(f.ks_pvalue, ".2g"),
                         f"{f.reference_missing:.1%} -> {f.current_missing:.1%}",
                         "DRIFT" if f.drifted else "ok",
                         "; ".join([*f.reasons, *([f.note] if f.note else [])])))
            models = reference = ""
    console.print(output.table(
        f"{report.dataset.name}: {report.rows:,} rows against the training profiles",
        ["reference", "model versions", "field", "PSI", "KS", "p-value", "missing",
         "verdict", "why"], rows, wrap=("why",), right=("PSI", "KS", "p-value"),
        optional=["p-value", "missing", "KS", "PSI", "reference"]))
    for name, reached in report.impact.items():
        lines = [(kind.replace("_", " "), r["name"], r["path"])
                 for kind in ("features", "model_versions", "consumers")
                 for r in reached.get(kind, [])]
        console.print(output.table(f"{name} drifted; through lineage it reaches",
                                   ["kind", "name", "path"], lines, wrap=("path",)))
    _print_conclusion(console, report, done=None if not report.notifications else (
        f"{report.notifications} notification(s) enqueued; `lineage notify deliver` sends "
        "them"))


@click.command("freshness")
@click.argument("name", required=False)
@click.option("--now", "now_text", default=None, metavar="TIME",
              help="Judge as of this ISO 8601 time instead of now (replaying an incident).")
@format_option
@pass_app
def freshness_cmd(app: App, name: str | None, now_text: str | None, fmt: str) -> None:
    """Inputs older than their freshness SLA, and runs that read data which landed after
    their window closed, with the model versions and consumers downstream.

    Datasets and features declare `freshness: 6h` in their manifest. A dataset's last
    landing is its newest version (declared created_at, or the event time of the
    OpenLineage run that produced it) or completed run that wrote it; a feature's, the
    newest of the tables it is computed from. A run whose window (OpenLineage nominalTime)
    ended before an input version it read had landed computed over an incomplete window.
    With NAME: only what is upstream of it (fraud@3: everything that feeds fraud@3).

    \b
    Examples:
      lineage freshness
      lineage freshness fraud@3 --format json
      lineage freshness --now 2026-04-02T12:00:00Z
    """
    from datetime import datetime

    from lineage.health.freshness import freshness

    now = None
    if now_text is not None:
        try:
            now = datetime.fromisoformat(now_text.replace("Z", "+00:00"))
        except ValueError:
            raise lineage.ValidationError(f"--now must be an ISO 8601 time, got {now_text!r}"
                                          ) from None
        if now.tzinfo is None:
            raise lineage.ValidationError("--now needs a time zone (2026-04-02T12:00:00Z)")
    report = freshness(app.store, name, now=now)
    if fmt == "json":
        output.emit_json(report.to_dict())
        return
    console = output.out()
    rows = [(f.node.name, f.node.kind.value, f.sla,
             "" if f.last_landed is None else f.last_landed.isoformat(timespec="minutes"),
             (f.landed_by or "never").partition(":")[2] or "never",
             "" if f.age is None else f.to_dict()["age"], "STALE" if f.stale else "ok",
             _names([m["key"] for m in f.downstream.model_versions]),
             _names([c["key"] for c in f.downstream.consumers]))
            for f in report.checked]
    if rows:
        console.print(output.table(
            f"freshness as of {report.now.isoformat(timespec='minutes')}",
            ["input", "kind", "SLA", "last landed", "by", "age", "verdict", "model versions",
             "consumers"], rows, wrap=("by", "model versions", "consumers"),
            optional=["by", "kind", "last landed", "consumers"]))
    if report.late:
        console.print(output.table(
            "runs that read data which landed after their window closed",
            ["run", "job", "window end", "input version", "landed", "late by",
             "model versions", "consumers"],
            [(x.run.name, (x.job or "").partition(":")[2],
              x.window_end.isoformat(timespec="minutes"), x.version.name,
              x.landed.isoformat(timespec="minutes"), x.to_dict()["lateness"],
              _names([m["key"] for m in x.downstream.model_versions]),
              _names([c["key"] for c in x.downstream.consumers])) for x in report.late],
            wrap=("job", "model versions", "consumers"),
            optional=["window end", "landed", "consumers", "job"]))
    _print_conclusion(console, report)


@click.command("skew")
@click.argument("model_version", metavar="MODEL@VERSION")
@format_option
@pass_app
def skew_cmd(app: App, model_version: str, fmt: str) -> None:
    """Training-serving skew: for each input of a model version, the derivation its training
    data recorded beside the one its serving path recorded, and every difference.

    Sources of an input in a dataset the model version trained on are the training side;
    sources elsewhere (the serving request table) are the serving side. Compared: the
    fields each is computed from, the transformation, every property recorded on the
    derivation (description, fill rule) and the jobs' code properties. Where both sides
    have a stored profile (`lineage profile`), PSI and KS between them too.

    \b
    Examples:
      lineage skew fraud@3
      lineage skew fraud@3 --format json
    """
    from lineage.health.skew import skew

    report = skew(app.store, model_version)
    if fmt == "json":
        output.emit_json(report.to_dict())
        return
    console = output.out()
    rows = []
    for item in report.inputs:
        train = ", ".join(d.field.rpartition("/")[2] for d in item.training)
        serve = ", ".join(d.field.rpartition("/")[2] for d in item.serving)
        dist = item.distribution
        shift = "" if dist is None else (
            f"PSI {_fmt(dist.psi, '.3f')} · KS {_fmt(dist.ks_statistic, '.3f')} "
            f"(p {_fmt(dist.ks_pvalue, '.2g')})")
        what = "; ".join(item.differences) or (item.note or "same derivation")
        if item.differences and item.note:
            what += f" ({item.note})"
        verdict = "SKEW" if item.skewed else ("ok" if item.compared else "not compared")
        rows.append((item.input.name, verdict, train, serve, shift, what))
    trained = ", ".join(k.rpartition("/")[2] for k in report.trained_on)
    console.print(output.table(
        f"{report.model_version.name}: training ({trained}) vs serving",
        ["input", "verdict", "training source", "serving source", "distribution",
         "differences"], rows, wrap=("differences", "training source", "serving source"),
        optional=["distribution", "serving source", "training source"]))
    _print_conclusion(console, report)
