"""Data health at job boundaries: `validate`, `profile`, `drift`. Thin: parse, call
`lineage.health`, print."""

from __future__ import annotations

from typing import Any

import click

import lineage

from . import output
from .context import App, format_option, pass_app


def _share(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def _names(keys: list[str]) -> str:
    return ", ".join(k.partition(":")[2] for k in keys)


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
    values or a contract's minimum/maximum, missing columns (errors) and columns nobody
    declared (warnings). Each violation names the consumers it breaks: the contract's
    owner, or those change impact finds downstream of a schema violation.

    Exit codes: 0 passed (warnings allowed), 8 a violation, 2 unreadable batch,
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
         "message"], rows, wrap=("message", "breaks"), right=("nulls",)))
    for note in report.notes:
        console.print(f"note: {note}", soft_wrap=True)
    if report.recorded:
        console.print(f"recorded {report.recorded} ({report.notifications} notification(s) "
                      "enqueued; `lineage notify deliver` sends them)", soft_wrap=True)
    console.print(report.summary(), soft_wrap=True)
