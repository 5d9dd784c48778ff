"""Validate a batch against its dataset's registered schema and every consumer contract on it.

    report = validate(store, "out/transactions_batch.csv", dataset="transactions")
    report.passed            # False: 'category' arrived as strings, 30% would coerce to null
    report.columns[3].violations[0].consumers   # the consumers that change breaks

What a lenient cast (`pd.to_numeric(errors="coerce")`) hides is exactly what this reports:
a numeric column arriving as strings and the share of its values that would become null,
nulls where the schema or a contract forbids them (or above a contract's `max_null_rate`),
values outside `allowed_values` / `validValues` or a contract's `minimum`/`maximum`,
missing columns, and columns nobody declared. Each violation names what it breaks: the
dataset version's schema (and, through change impact, the consumers downstream that the
change breaks) or the consumer whose contract it is.

With `record=True` a batch whose observed schema differs from the registered one becomes a
new dataset version, through the same path as registering a manifest: the new version, its
schema snapshot and the notifications for the consumers its change breaks commit together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import polars as pl

from .. import _keys as keys
from .._errors import ConflictError, ContractViolation, ValidationError
from .._model import FieldSchema, GraphBatch, NodeRef
from .._types import INT_RANGES, SCALE_TOLERANCE, parse_type, value_text
from .._vocabulary import EdgeKind, NodeKind
from ..schema import Change, diff
from ..store.base import Store
from ._frames import lineage_type, read_batch, type_family

Severity = Literal["error", "warning"]
#: what a violation is about, in the order a column's checks run
CHECKS = ("missing_column", "unexpected_column", "type", "coercion", "integer_range",
          "decimal_range", "decimal_scale", "length", "nulls", "allowed_values", "minimum",
          "maximum")
#: checks whose failure means the values do not fit the declared type (as a schema change:
#: the type changed to what arrived)
_TYPE_CHECKS = frozenset({"type", "coercion", "integer_range", "decimal_range", "length"})
#: distinct offending values shown per violation
MAX_EXAMPLES = 5


@dataclass
class Violation:
    """One broken expectation on one column.

    `source` is `schema` (the dataset version's registered schema, `by` its key) or
    `contract` (`by` the consumer's key). `consumers` are the consumer keys it breaks: the
    contract's owner, or for a schema violation those that change impact judges breaking
    downstream. `count`/`share` are the offending rows (share of the batch's rows)."""

    column: str
    check: str
    severity: Severity
    message: str
    source: Literal["schema", "contract"]
    by: str | None
    consumers: list[str] = field(default_factory=list)
    count: int | None = None
    share: float | None = None
    examples: list[Any] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "check": self.check, "severity": self.severity,
                "message": self.message, "source": self.source, "by": self.by,
                "consumers": self.consumers, "count": self.count, "share": self.share,
                "examples": self.examples}


@dataclass
class ColumnReport:
    """A column as the batch has it beside what was declared, and what it breaks."""

    name: str
    declared_type: str | None
    observed_type: str | None
    rows: int
    nulls: int
    #: for a column declared numeric that arrived as text: the share of its non-null
    #: values a lenient numeric cast would turn into null (None when not applicable)
    coerced_null_share: float | None = None
    #: how many non-null values that cast would turn into null
    coerced_nulls: int = 0
    violations: list[Violation] = field(default_factory=list)

    @property
    def status(self) -> str:
        if any(v.severity == "error" for v in self.violations):
            return "violation"
        return "warning" if self.violations else "ok"

    @property
    def null_share(self) -> float:
        return self.nulls / self.rows if self.rows else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "declared_type": self.declared_type,
                "observed_type": self.observed_type, "rows": self.rows, "nulls": self.nulls,
                "null_share": self.null_share, "coerced_null_share": self.coerced_null_share,
                "coerced_nulls": self.coerced_nulls,
                "violations": [v.to_dict() for v in self.violations]}


@dataclass
class ValidationReport:
    """The whole check: per column, what was checked against, and what was recorded."""

    dataset: NodeRef
    #: the dataset version whose schema snapshot was the reference (None: none registered)
    schema_version: str | None
    rows: int
    columns: list[ColumnReport]
    #: consumer keys whose contracts on the dataset were checked
    contracts: list[str]
    observed_schema: list[FieldSchema]
    source: str | None = None
    #: the dataset version `record=True` registered (None: not asked, or nothing differed)
    recorded: str | None = None
    notifications: int = 0
    #: limits of this answer, said in the answer
    notes: list[str] = field(default_factory=list)

    @property
    def violations(self) -> list[Violation]:
        return [v for c in self.columns for v in c.violations]

    @property
    def errors(self) -> list[Violation]:
        return [v for v in self.violations if v.severity == "error"]

    @property
    def passed(self) -> bool:
        return not self.errors

    @property
    def broken_consumers(self) -> list[str]:
        return sorted({c for v in self.errors for c in v.consumers})

    def summary(self) -> str:
        if self.passed:
            warn = len(self.violations)
            return (f"passed: {self.rows:,} rows match the schema and {len(self.contracts)} "
                    f"contract(s)" + (f" ({warn} warning(s))" if warn else ""))
        columns = sorted({v.column for v in self.errors})
        return (f"VIOLATION: {len(self.errors)} violation(s) on {len(columns)} column(s) "
                f"({', '.join(columns)}); breaks {len(self.broken_consumers)} consumer(s)")

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset.key, "schema_version": self.schema_version,
                "source": self.source, "rows": self.rows, "passed": self.passed,
                "summary": self.summary(), "contracts": self.contracts,
                "broken_consumers": self.broken_consumers,
                "columns": [c.to_dict() for c in self.columns],
                "observed_schema": [f.model_dump() for f in self.observed_schema],
                "recorded": self.recorded, "notifications": self.notifications,
                "notes": self.notes}


# ------------------------------------------------------------------ the dataset's expectations


def resolve_dataset(store: Store, name: str) -> tuple[NodeRef, str | None]:
    """The dataset `name` means and the version it names (`transactions@2026-03`), if any."""
    ref = store.resolve(name, [NodeKind.DATASET, NodeKind.DATASET_VERSION])
    if ref.kind is NodeKind.DATASET:
        return ref, None
    for edge, other in store.neighbours(ref.key):
        if edge.kind is EdgeKind.VERSION_OF and edge.src == ref.key:
            return other, ref.key
    raise ValidationError(f"dataset version '{ref.key}' belongs to no dataset (no version_of "
                          "edge); register it under its dataset")


def declared_schema(store: Store, dataset: NodeRef, version: str | None = None
                    ) -> tuple[str | None, list[FieldSchema] | None]:
    """The schema a batch of `dataset` is held to: the snapshot of `version`, else of the
    dataset's latest version; else (no version registered) its fields' declarations with
    version None; (None, None) when the store knows no fields of it at all."""
    from ..notify import latest_version

    version = version or latest_version(store, dataset.key)
    if version is not None:
        snapshot = store.schema(version)
        if snapshot:
            return version, snapshot
    fields = [(edge, ref) for edge, ref in store.neighbours(dataset.key)
              if edge.kind is EdgeKind.HAS_FIELD and edge.src == dataset.key]
    if not fields:
        return version, None
    nodes = store.nodes(ref.key for _e, ref in fields)
    prefix = keys.fields_prefix(dataset.key)
    declared = []
    for key in sorted(nodes):
        props = nodes[key].properties
        declared.append(FieldSchema(name=key[len(prefix):] if key.startswith(prefix) else
                                    nodes[key].name, type=props.get("type") or "string",
                                    nullable=bool(props.get("nullable", True)),
                                    allowed_values=props.get("allowed_values")))
    return version, declared


def dataset_contracts(store: Store, dataset: str) -> dict[str, list[dict[str, Any]]]:
    """Consumer key -> its contract's field entries on `dataset` (consumers with one)."""
    consumers = sorted({ref.key for edge, ref in store.neighbours(dataset)
                        if edge.kind is EdgeKind.CONSUMES and edge.src == dataset})
    stored = store.contracts(consumers) if consumers else {}
    return {c: list(stored[c][dataset].get("fields", [])) for c in consumers
            if c in stored and dataset in stored[c]}


# ------------------------------------------------------------------ validation


def validate(store: Store, batch: Any, dataset: str, *, record: bool = False,
             record_version: str | None = None, raise_on_violation: bool = False
             ) -> ValidationReport:
    """Check `batch` (a Parquet/CSV/NDJSON/Arrow file, or a polars/pandas frame or Arrow
    table) against `dataset`'s schema (its latest version's snapshot, or the version named
    `dataset@VERSION`) and every consumer contract on it.

    Returns the report; with `raise_on_violation`, raises ContractViolation (carrying it)
    when an error-level violation was found. `record=True` registers the batch's observed
    schema as a new version (`record_version`, default `observed-<UTC time>`) when it
    differs from the reference, with the notifications its change calls for; nothing is
    written otherwise. Raises NotFound/AmbiguousName for the dataset, ValidationError for
    a batch that cannot be read, ConflictError when `record_version` exists already.
    """
    ref, version = resolve_dataset(store, dataset)
    frame, typed, source = read_batch(batch)
    schema_version, schema = declared_schema(store, ref, version)
    contracts = dataset_contracts(store, ref.key)
    notes: list[str] = []
    if schema is None:
        notes.append(f"no schema registered for {ref.name}: only consumer contracts checked")
    elif schema_version is None:
        notes.append(f"{ref.name} has no registered version: checked against its fields' "
                     "declarations")
    if not contracts:
        notes.append(f"no consumer declares a contract on {ref.name}")
    if not typed:
        notes.append("the batch is text (CSV/NDJSON): column types were inferred, so a "
                     "column is only a type violation when its values do not parse")
    declared = {f.name: f for f in schema or []}
    by_column: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for consumer, entries in contracts.items():
        for entry in entries:
            by_column.setdefault(str(entry.get("name")), []).append((consumer, entry))
    names = list(frame.columns) + [n for n in [*declared, *by_column] if n not in frame.columns]
    columns = []
    for name in dict.fromkeys(names):
        columns.append(_check_column(frame, name, declared.get(name), by_column.get(name, []),
                                     schema_version, schema is not None, typed))
    _consumers_broken(store, ref, columns, declared)
    observed = _observed_schema(frame, columns, declared)
    report = ValidationReport(ref, schema_version, frame.height, columns, sorted(contracts),
                              observed, source=source, notes=notes)
    if record:
        _record(store, report, schema or [], record_version)
    if raise_on_violation and not report.passed:
        raise ContractViolation(report.summary(), report)
    return report


def _check_column(frame: pl.DataFrame, name: str, declared: FieldSchema | None,
                  contract_entries: Sequence[tuple[str, dict[str, Any]]],
                  schema_version: str | None, has_schema: bool, typed: bool) -> ColumnReport:
    rows = frame.height
    if name not in frame.columns:
        column = ColumnReport(name, declared.type if declared else None, None, rows, rows)
        if declared is not None:
            column.violations.append(Violation(
                name, "missing_column", "error", f"'{name}' is declared ({declared.type}) but "
                "missing from the batch", "schema", schema_version, count=rows, share=1.0))
        for consumer, _entry in contract_entries:
            column.violations.append(Violation(
                name, "missing_column", "error", f"'{name}' is in the contract of "
                f"{keys.identity(consumer)} but missing from the batch", "contract", consumer,
                [consumer], count=rows, share=1.0))
        return column
    series = frame[name]
    observed = lineage_type(series.dtype)
    column = ColumnReport(name, declared.type if declared else None, observed, rows,
                          series.null_count())
    if declared is None and has_schema:
        column.violations.append(Violation(
            name, "unexpected_column", "warning", f"'{name}' ({observed}) is not in the "
            "registered schema", "schema", schema_version))
    numeric: pl.Series | None = None
    if declared is not None:
        numeric = _check_type(column, series, declared, schema_version, typed)
    elif type_family(observed) == "numeric":
        numeric = series.cast(pl.Float64)
    for consumer, entry in contract_entries:
        wanted = entry.get("type")
        if wanted and (declared is None or wanted != declared.type):
            # a contract stricter than the schema, or a dataset without one; a contract
            # that repeats the schema's type is judged through change impact instead
            checked = _check_type(column, series, FieldSchema(name=name, type=wanted),
                                  consumer, typed, contract=True)
            numeric = checked if numeric is None else numeric
    if declared is not None and not declared.nullable and column.nulls:
        column.violations.append(Violation(
            name, "nulls", "error", f"{column.nulls:,} null(s) ({column.null_share:.1%}) in "
            "a field declared not nullable", "schema", schema_version,
            count=column.nulls, share=column.null_share))
    if declared is not None and declared.allowed_values is not None:
        column.violations += _allowed(series, numeric, declared.allowed_values, "schema",
                                      schema_version, rows)
    for consumer, entry in contract_entries:
        _check_contract(column, series, numeric, consumer, entry)
    return column


def _check_type(column: ColumnReport, series: pl.Series, declared: FieldSchema,
                by: str | None, typed: bool, contract: bool = False) -> pl.Series | None:
    """Type checks against `declared`; returns the column as numbers when it is declared
    numeric (what range checks run on), else None."""
    source: Literal["schema", "contract"] = "contract" if contract else "schema"
    consumers = [by] if contract and by else []
    name, want = column.name, declared.type
    family, observed = type_family(want), column.observed_type or "string"
    got = type_family(observed)
    non_null = len(series) - series.null_count()
    if family == "numeric":
        if got == "numeric":
            numeric = series.cast(pl.Float64)
        elif got == "string":
            # the lenient cast a feature job does; what it turns into null is the damage
            numeric = series.str.strip_chars().cast(pl.Float64, strict=False)
            lost = int((numeric.is_null() & series.is_not_null()).sum())
            share = lost / non_null if non_null else 0.0
            column.coerced_null_share, column.coerced_nulls = share, lost
            if lost or typed:
                examples = _examples(series.filter(numeric.is_null() & series.is_not_null()))
                column.violations.append(Violation(
                    name, "coercion", "error", f"declared {want}, arrived as text: {lost:,} of "
                    f"{non_null:,} values ({share:.1%}) are not numbers and would become null "
                    "under a lenient numeric cast", source, by, list(consumers), count=lost,
                    share=lost / column.rows if column.rows else 0.0, examples=examples))
        else:
            column.violations.append(Violation(
                name, "type", "error", f"declared {want}, arrived as {observed}", source, by,
                list(consumers), count=non_null))
            return None
        if want in INT_RANGES:
            _integer_checks(column, numeric, want, source, by, consumers)
        elif parse_type(want).digits is not None:
            _decimal_checks(column, numeric, want, source, by, consumers)
        return numeric
    if family == "string" and got != "string" and typed:
        column.violations.append(Violation(
            name, "type", "error", f"declared {want}, arrived as {observed}", source, by,
            list(consumers), count=non_null))
    elif family == "string" and parse_type(want).length is not None:
        _length_check(column, series, want, source, by, consumers)
    elif family in ("boolean", "temporal") and got != family and (typed or got != "string"):
        column.violations.append(Violation(
            name, "type", "error", f"declared {want}, arrived as {observed}", source, by,
            list(consumers), count=non_null))
    return None


def _integer_checks(column: ColumnReport, numeric: pl.Series, want: str,
                    source: Literal["schema", "contract"], by: str | None,
                    consumers: list[str]) -> None:
    values = numeric.drop_nulls().drop_nans()  # NaN is a missing value, as pandas has it
    if values.is_empty():
        return
    fractional = values.filter(values != values.floor())
    if len(fractional):
        column.violations.append(Violation(
            column.name, "type", "error", f"declared {want}: {len(fractional):,} value(s) are "
            "not whole numbers", source, by, list(consumers),
            count=len(fractional), share=len(fractional) / column.rows,
            examples=_examples(fractional)))
    low, high = INT_RANGES[want]
    outside = values.filter((values < low) | (values > high))
    if len(outside):
        column.violations.append(Violation(
            column.name, "integer_range", "error", f"declared {want}: {len(outside):,} value(s) "
            f"outside [{low}, {high}]", source, by, list(consumers), count=len(outside),
            share=len(outside) / column.rows, examples=_examples(outside)))


def _decimal_checks(column: ColumnReport, numeric: pl.Series, want: str,
                    source: Literal["schema", "contract"], by: str | None,
                    consumers: list[str]) -> None:
    """decimal(p,s): a value with more than p-s integer digits does not fit (the write
    fails or, in some engines, becomes null); one with more than s fractional digits is
    rounded on the way in (a warning: the value changes, quietly)."""
    digits = parse_type(want).digits
    assert digits is not None
    precision, scale = digits
    values = numeric.drop_nulls().drop_nans()
    if values.is_empty():
        return
    # at or above `decimal_bound(p, s)`, in float64 as the values are
    outside = values.filter(values.abs() >= 10.0 ** (precision - scale))
    if len(outside):
        column.violations.append(Violation(
            column.name, "decimal_range", "error", f"declared {want}: {len(outside):,} "
            f"value(s) have more than {precision - scale} digit(s) before the decimal point",
            source, by, list(consumers), count=len(outside),
            share=len(outside) / column.rows, examples=_examples(outside)))
    # the rule of `lineage._types.fits`, a column at a time
    scaled = values * 10.0 ** scale
    rounded = values.filter((scaled - scaled.round(0)).abs()
                            > SCALE_TOLERANCE * scaled.abs().clip(1.0))
    if len(rounded):
        column.violations.append(Violation(
            column.name, "decimal_scale", "warning", f"declared {want}: {len(rounded):,} "
            f"value(s) have more than {scale} decimal place(s) and would be rounded",
            source, by, list(consumers), count=len(rounded),
            share=len(rounded) / column.rows, examples=_examples(rounded)))


def _length_check(column: ColumnReport, series: pl.Series, want: str,
                  source: Literal["schema", "contract"], by: str | None,
                  consumers: list[str]) -> None:
    """varchar(n)/char(n): a longer value is refused or silently cut by the engine that
    stores it, a change no reader sees."""
    length = parse_type(want).length
    assert length is not None
    text = series if series.dtype == pl.String else series.cast(pl.String, strict=False)
    longer = text.filter(text.str.len_chars() > length)
    if len(longer):
        column.violations.append(Violation(
            column.name, "length", "error", f"declared {want}: {len(longer):,} value(s) are "
            f"longer than {length} character(s)", source, by, list(consumers),
            count=len(longer), share=len(longer) / column.rows, examples=_examples(longer)))


def _check_contract(column: ColumnReport, series: pl.Series, numeric: pl.Series | None,
                    consumer: str, entry: dict[str, Any]) -> None:
    name, who = column.name, keys.identity(consumer)
    if entry.get("required") and column.nulls:
        column.violations.append(Violation(
            name, "nulls", "error", f"{column.nulls:,} null(s) ({column.null_share:.1%}); the "
            f"contract of {who} requires '{name}'", "contract", consumer, [consumer],
            count=column.nulls, share=column.null_share))
    rate = entry.get("max_null_rate")
    # a consumer that casts leniently sees the values its cast loses as nulls too
    nulls = column.nulls + column.coerced_nulls
    share = nulls / column.rows if column.rows else 0.0
    if rate is not None and share > float(rate):
        how = (f" after a lenient numeric cast ({column.null_share:.1%} as sent)"
               if column.coerced_nulls else "")
        column.violations.append(Violation(
            name, "nulls", "error", f"{share:.1%} null{how}, above the {float(rate):.1%} "
            f"the contract of {who} allows", "contract", consumer, [consumer],
            count=nulls, share=share))
    if entry.get("allowed_values") is not None:
        column.violations += _allowed(series, numeric, entry["allowed_values"], "contract",
                                      consumer, column.rows)
    for bound in ("minimum", "maximum"):
        limit = entry.get(bound)
        if limit is None:
            continue
        if numeric is None:
            numeric = series.cast(pl.Float64, strict=False)
        bad = numeric.filter(numeric < float(limit)) if bound == "minimum" else \
            numeric.filter(numeric > float(limit))
        if len(bad):
            word = "below the minimum" if bound == "minimum" else "above the maximum"
            column.violations.append(Violation(
                name, bound, "error", f"{len(bad):,} value(s) {word} {limit} in the contract "
                f"of {who}", "contract", consumer, [consumer], count=len(bad),
                share=len(bad) / column.rows if column.rows else 0.0, examples=_examples(bad)))


def _allowed(series: pl.Series, numeric: pl.Series | None, allowed: list[Any],
             source: Literal["schema", "contract"], by: str | None, rows: int
             ) -> list[Violation]:
    """Values outside `allowed`: compared as numbers when both sides are, else as text."""
    if numeric is not None and allowed and all(isinstance(v, int | float) and not
                                               isinstance(v, bool) for v in allowed):
        values = numeric.drop_nulls()
        bad = values.filter(~values.is_in([float(v) for v in allowed]))
    else:
        values = series.drop_nulls().cast(pl.String)
        bad = values.filter(~values.is_in([value_text(v) for v in allowed]))
    if not len(bad):
        return []
    consumers = [by] if source == "contract" and by else []
    owner = "the schema" if source == "schema" else f"the contract of {keys.identity(by or '')}"
    return [Violation(series.name, "allowed_values", "error",
                      f"{len(bad):,} value(s) outside the values {owner} allows "
                      f"({', '.join(map(value_text, allowed[:10]))})", source, by, consumers,
                      count=len(bad), share=len(bad) / rows if rows else 0.0,
                      examples=_examples(bad))]


def _examples(values: pl.Series) -> list[Any]:
    """The most frequent offending values, JSON-ready."""
    if values.is_empty():
        return []
    counted = values.value_counts(sort=True).head(MAX_EXAMPLES)
    return [_plain(v) for v in counted[counted.columns[0]].to_list()]


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    return str(value)


# ------------------------------------------------------------------ what the violations break


def _schema_change(violation: Violation, declared: FieldSchema | None,
                   column: ColumnReport) -> Change | None:
    """The schema change a schema violation amounts to, as change impact judges it."""
    name = violation.column
    if violation.check == "missing_column":
        return Change("dropped", name, old_type=declared.type if declared else None)
    if violation.check in _TYPE_CHECKS:
        new = column.observed_type or "string"
        if declared is not None and new == declared.type:
            return None
        return Change("type_changed", name, old_type=declared.type if declared else None,
                      new_type=new)
    if violation.check == "nulls":
        return Change("nullable", name)
    if violation.check == "allowed_values":
        return Change("values_added", name, values=tuple(violation.examples))
    return None


def _consumers_broken(store: Store, dataset: NodeRef, columns: list[ColumnReport],
                      declared: dict[str, FieldSchema]) -> None:
    """Fill each schema violation's `consumers`: those change impact judges it breaks."""
    prefix = keys.fields_prefix(dataset.key)
    wanted = {prefix + c.name for c in columns
              if any(v.source == "schema" and v.severity == "error" for v in c.violations)}
    existing = store.exists(wanted) if wanted else set()
    for column in columns:
        key = prefix + column.name
        if key not in existing:
            continue
        for violation in column.violations:
            if violation.source != "schema" or violation.severity != "error":
                continue
            change = _schema_change(violation, declared.get(column.name), column)
            if change is None:
                continue
            judged = store.impact(key, change=change)
            violation.consumers = sorted({j.node.key for j in judged.of(  # type: ignore[union-attr]
                "breaking", NodeKind.CONSUMER)})


# ------------------------------------------------------------------ recording a new version


def _observed_schema(frame: pl.DataFrame, columns: list[ColumnReport],
                     declared: dict[str, FieldSchema]) -> list[FieldSchema]:
    """The schema the batch shows: the declared type where the values conform (a CSV's
    inferred int64 is still an int32 field), else what arrived; nullable when declared so
    or nulls came; allowed values widened by the values that came outside them."""
    result = []
    for column in columns:
        if column.name not in frame.columns:
            continue
        before = declared.get(column.name)
        schema_errors = {v.check for v in column.violations
                         if v.source == "schema" and v.severity == "error"}
        type_broken = bool(schema_errors & _TYPE_CHECKS)
        if before is None:
            result.append(FieldSchema(name=column.name, type=column.observed_type or "string"))
            continue
        allowed = before.allowed_values
        if allowed is not None and "allowed_values" in schema_errors:
            seen = frame[column.name].drop_nulls().unique().sort().to_list()
            texts = {value_text(v) for v in allowed}
            allowed = [*allowed, *[_plain(v) for v in seen if value_text(_plain(v)) not in texts]]
        result.append(FieldSchema(
            name=column.name,
            type=(column.observed_type or "string") if type_broken else before.type,
            nullable=before.nullable or column.nulls > 0, description=before.description,
            allowed_values=allowed))
    return result


def _record(store: Store, report: ValidationReport, reference: list[FieldSchema],
            version: str | None) -> None:
    """Register the observed schema as a new version of the dataset when it differs from
    the latest version's (a dataset without any version gets its first)."""
    from ..notify import new_version_notifications

    changes = diff(reference, report.observed_schema)
    if report.schema_version is not None and not changes:
        report.notes.append("the observed schema equals the registered one: no version "
                            "recorded")
        return
    dataset = store.node(report.dataset.key)
    namespace = dataset.namespace or keys.identity(dataset.key).rsplit("/", 1)[0]
    now = datetime.now(UTC)
    version = version or f"observed-{now:%Y%m%dT%H%M%SZ}"
    vkey = keys.dataset_version_key(namespace, dataset.name, version)
    if store.exists([vkey]):
        raise ConflictError(f"dataset version '{keys.identity(vkey)}' exists already; "
                            "history is immutable: name the new version with --version")
    batch = GraphBatch()
    batch.add_node(vkey, f"{dataset.name}@{version}", namespace, version=version,
                   created_at=now.isoformat(),
                   description="schema observed by lineage validate"
                   + (f" in {report.source}" if report.source else ""))
    batch.add_edge(vkey, dataset.key, EdgeKind.VERSION_OF)
    batch.schemas[vkey] = list(report.observed_schema)
    known = {f.name for f in reference}
    for f in report.observed_schema:
        if f.name not in known:  # a new column becomes a field, so lineage can reach it
            fkey = keys.field_key(namespace, dataset.name, f.name)
            if not store.exists([fkey]):
                batch.add_node(fkey, f"{dataset.name}.{f.name}", namespace, type=f.type,
                               nullable=f.nullable)
            batch.add_edge(dataset.key, fkey, EdgeKind.HAS_FIELD)
    batch.notifications += new_version_notifications(store, batch)
    result = store.apply(batch)
    report.recorded = vkey
    report.notifications = result.notifications_enqueued
