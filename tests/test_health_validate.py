"""`lineage validate`: a batch against its dataset's schema and every consumer contract.

Story 1 of STORIES.md: `category` arrives as text labels instead of integer codes; a lenient
cast would silently null 30% of it. The store says so per column, with the share the cast
would lose and the consumers the change breaks."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import polars as pl
import pytest
from click.testing import CliRunner

import lineage
from lineage import health
from lineage.store.base import Store
from lineage_cli.main import cli

from .conftest import ROOT, snapshot

HEALTH = ROOT / "examples" / "fraud" / "health.yaml"
N = 2_000


@pytest.fixture
def health_store(fraud_store: Store) -> Store:
    """The fraud pipeline plus the feature job's contract on transactions."""
    lineage.register(fraud_store, HEALTH)
    return fraud_store


def transactions(n: int = N, *, label_share: float = 0.0, seed: int = 3) -> pl.DataFrame:
    """A transactions batch; `label_share` of the categories arrive as text labels."""
    rng = random.Random(seed)
    category = [rng.choice(["grocery", "gambling", "travel"]) if rng.random() < label_share
                else str(rng.choice([5411, 5812, 7995])) for _ in range(n)]
    frame = pl.DataFrame({
        "transaction_id": [f"tx-{i:05d}" for i in range(n)],
        "user_id": [rng.randrange(1, 500) for _ in range(n)],
        "amount": [round(rng.uniform(1, 300), 2) for _ in range(n)],
        "category": category,
        "merchant_id": [rng.randrange(1, 50) for _ in range(n)],
        "created_at": pl.Series([datetime(2026, 3, 1, 12, tzinfo=UTC)] * n,
                                dtype=pl.Datetime("us", "UTC")),
    })
    return frame if label_share else frame.with_columns(pl.col("category").cast(pl.Int32))


def test_validate_reports_text_in_a_numeric_column_with_the_share_a_lenient_cast_nulls(
        health_store: Store, tmp_path: Path) -> None:
    batch = transactions(label_share=0.3)
    path = tmp_path / "batch.csv"
    batch.write_csv(path)
    report = health.validate(health_store, path, "transactions")
    assert not report.passed
    category = next(c for c in report.columns if c.name == "category")
    # what pandas' lenient cast would silently turn into NaN
    lost = pd.to_numeric(pd.read_csv(path)["category"], errors="coerce").isna().mean()
    assert category.coerced_null_share == pytest.approx(lost)
    assert 0.25 < lost < 0.35
    checks = {(v.check, v.source) for v in category.violations}
    assert checks == {("coercion", "schema"), ("nulls", "contract")}
    coercion = next(v for v in category.violations if v.check == "coercion")
    # change impact: every consumer downstream of transactions.category that a string breaks
    assert {"consumer:risk-rules-engine", "consumer:fraud-dashboard",
            "consumer:alerting-service", "consumer:rolling-features-job"} <= set(
                coercion.consumers)
    assert set(coercion.examples) <= {"grocery", "gambling", "travel"}
    nulls = next(v for v in category.violations if v.check == "nulls")
    assert nulls.by == "consumer:rolling-features-job"
    assert nulls.share == pytest.approx(lost)
    others = [c for c in report.columns if c.name != "category"]
    assert all(c.status == "ok" for c in others), [c.to_dict() for c in others]


def test_validate_passes_a_batch_that_keeps_schema_and_contracts(health_store: Store) -> None:
    report = health.validate(health_store, transactions(), "transactions")
    assert report.passed, report.to_dict()
    assert report.contracts == ["consumer:rolling-features-job"]
    assert report.schema_version is not None and report.schema_version.endswith("@2026-03")


def test_validate_reports_missing_unexpected_columns_nulls_and_ranges(
        health_store: Store) -> None:
    batch = transactions().drop("merchant_id").with_columns(
        pl.when(pl.col("user_id") < 50).then(None).otherwise(pl.col("transaction_id"))
        .alias("transaction_id"),
        pl.when(pl.col("user_id") > 450).then(-5.0).otherwise(pl.col("amount")).alias("amount"),
        pl.lit(1).alias("surprise"))
    report = health.validate(health_store, batch, "transactions")
    by_column = {c.name: c for c in report.columns}
    assert [v.check for v in by_column["merchant_id"].violations] == ["missing_column"]
    assert by_column["surprise"].status == "warning"
    ids = {(v.check, v.source) for v in by_column["transaction_id"].violations}
    assert ids == {("nulls", "schema"), ("nulls", "contract")}
    expected_nulls = batch["transaction_id"].null_count()
    assert all(v.count == expected_nulls for v in by_column["transaction_id"].violations)
    minimum = next(v for v in by_column["amount"].violations if v.check == "minimum")
    assert minimum.count == int((batch["amount"] < 0).sum())
    assert minimum.consumers == ["consumer:rolling-features-job"]
    assert minimum.examples == [-5]


def test_validate_reports_values_outside_the_allowed_ones(fraud_store: Store) -> None:
    events = pl.DataFrame({"user_id": [1, 2, 3, 4], "session_id": ["a", "b", "c", "d"],
                           "event_type": ["login", "view", "refund", None],
                           "event_ts": pl.Series([None] * 4, dtype=pl.Datetime("us", "UTC"))})
    report = health.validate(fraud_store, events, "user_activity")
    by_column = {c.name: c for c in report.columns}
    allowed = by_column["event_type"].violations
    assert [(v.check, v.count, v.examples) for v in allowed] == [("allowed_values", 1,
                                                                  ["refund"])]
    assert [v.check for v in by_column["event_ts"].violations] == ["nulls"]
    # no version of user_activity is registered: the answer says what it checked against
    assert report.schema_version is None
    assert any("no registered version" in n for n in report.notes)


@pytest.mark.parametrize("form", ["parquet", "arrow", "pandas", "polars"])
def test_validate_takes_typed_batches_and_reports_a_string_column_even_when_all_parse(
        health_store: Store, tmp_path: Path, form: str) -> None:
    batch = transactions().with_columns(pl.col("category").cast(pl.String))
    given: object = batch
    if form == "parquet":
        given = tmp_path / "b.parquet"
        batch.write_parquet(given)
    elif form == "arrow":
        given = tmp_path / "b.arrow"
        batch.write_ipc(given)
    elif form == "pandas":
        given = batch.to_pandas()
    report = health.validate(health_store, given, "transactions")
    category = next(c for c in report.columns if c.name == "category")
    # typed input: a string column where int32 was declared is a type change, even at 0% loss
    assert [v.check for v in category.violations] == ["coercion"]
    assert category.coerced_null_share == 0.0


def test_validate_accepts_a_wider_integer_whose_values_fit_and_refuses_those_that_do_not(
        health_store: Store) -> None:
    fits = transactions().with_columns(pl.col("category").cast(pl.Int64))
    assert health.validate(health_store, fits, "transactions").passed
    big = fits.with_columns(pl.lit(2**40).alias("category"))
    report = health.validate(health_store, big, "transactions")
    category = next(c for c in report.columns if c.name == "category")
    assert [v.check for v in category.violations] == ["integer_range"]


def test_validate_record_registers_the_observed_schema_and_notifies_broken_consumers(
        health_store: Store, tmp_path: Path) -> None:
    path = tmp_path / "batch.csv"
    transactions(label_share=0.3).write_csv(path)
    before = health_store.outbox_status()["pending"]
    report = health.validate(health_store, path, "transactions", record=True,
                             record_version="2026-04")
    version = "dataset_version:postgres://db.prod:5432/public.transactions@2026-04"
    assert report.recorded == version
    schema = {f.name: f for f in health_store.schema(version)}
    assert schema["category"].type == "string"
    assert schema["user_id"].type == "int64"  # conforming columns keep their declared type
    assert report.notifications > 0
    pending = health_store.outbox(state="pending", limit=1000)
    assert health_store.outbox_status()["pending"] == before + report.notifications
    notified = {item.consumer for item in pending if item.event == "new_version"}
    assert {"consumer:risk-rules-engine", "consumer:rolling-features-job"} <= notified
    # the new version is now the reference: the same batch breaks no schema any more
    again = health.validate(health_store, path, "transactions")
    assert again.schema_version == version
    assert not any(v.source == "schema" for v in again.errors)


def test_validate_record_writes_nothing_when_the_schema_is_unchanged_or_the_version_exists(
        health_store: Store) -> None:
    before = snapshot(health_store)
    report = health.validate(health_store, transactions(), "transactions", record=True)
    assert report.recorded is None
    assert snapshot(health_store) == before
    with pytest.raises(lineage.ConflictError, match="exists already"):
        health.validate(health_store, transactions(label_share=0.3), "transactions",
                        record=True, record_version="2026-03")
    assert snapshot(health_store) == before


def test_validate_raises_contract_violation_when_asked(health_store: Store) -> None:
    with pytest.raises(lineage.ContractViolation) as caught:
        health.validate(health_store, transactions(label_share=0.3), "transactions",
                        raise_on_violation=True)
    assert caught.value.exit_code == 10
    assert not caught.value.report.passed


def test_cli_validate_exits_8_on_a_violation_and_prints_json(
        health_store: Store, tmp_path: Path) -> None:
    path = tmp_path / "batch.csv"
    transactions(label_share=0.3).write_csv(path)
    runner = CliRunner()
    result = runner.invoke(cli, ["--store", health_store.url, "validate", str(path),
                                 "--dataset", "transactions", "--format", "json"])
    assert result.exit_code == 10, result.output
    data = json.loads(result.stdout)
    assert data["passed"] is False
    assert "consumer:rolling-features-job" in data["broken_consumers"]
    table = runner.invoke(cli, ["--store", health_store.url, "validate", str(path),
                                "--dataset", "transactions"])
    assert table.exit_code == 10
    assert "would become null" in table.stdout and "rolling-features-job" in table.stdout
    good = tmp_path / "good.csv"
    transactions().write_csv(good)
    ok = runner.invoke(cli, ["--store", health_store.url, "validate", str(good),
                             "--dataset", "transactions"])
    assert ok.exit_code == 0, ok.output


def test_cli_validate_record_ends_with_what_it_recorded_then_the_verdict(
        health_store: Store, tmp_path: Path) -> None:
    path = tmp_path / "batch.csv"
    transactions(label_share=0.3).write_csv(path)
    result = CliRunner().invoke(cli, ["--store", health_store.url, "validate", str(path),
                                      "--dataset", "transactions", "--record",
                                      "--version", "2026-04"])
    assert result.exit_code == 10, result.output
    # the closing lines every health command prints alike (drift --notify: test_health_drift)
    *_, done, verdict = result.stdout.strip().splitlines()
    assert done.startswith("recorded dataset_version:postgres://db.prod:5432/public."
                           "transactions@2026-04 (")
    assert done.endswith(" notification(s) enqueued; `lineage notify deliver` sends them)")
    assert verdict.startswith("VIOLATION: ")


def test_cli_validate_unreadable_batch_is_bad_input(health_store: Store, tmp_path: Path
                                                    ) -> None:
    result = CliRunner().invoke(cli, ["--store", health_store.url, "validate",
                                      str(tmp_path / "nope.csv"), "--dataset", "transactions"])
    assert result.exit_code == 2
    assert "no such file" in result.stderr


def test_cli_help_lists_exit_code_10() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert "10  a batch broke its schema or a consumer contract" in result.output
    assert "lineage validate" in CliRunner().invoke(cli, ["validate", "--help"]).output


def test_validate_record_gives_a_dataset_without_versions_its_first(fraud_store: Store
                                                                     ) -> None:
    requests = pl.DataFrame({"user_id": [1, 2], "age_filled": [30, 0]},
                            schema={"user_id": pl.Int64, "age_filled": pl.Int16})
    report = health.validate(fraud_store, requests, "fraud_requests", record=True,
                             record_version="2026-04-02")
    assert report.passed
    version = "dataset_version:kafka://serving.prod:9092/fraud_requests@2026-04-02"
    assert report.recorded == version
    assert [f.name for f in fraud_store.schema(version)] == ["user_id", "age_filled"]


def test_validate_reads_a_pandas_column_mixing_codes_and_labels_as_text(
        health_store: Store) -> None:
    frame = transactions(100).to_pandas()
    frame["category"] = frame["category"].astype(object)
    frame.loc[::4, "category"] = "grocery"  # what a feed sends once labels start arriving
    frame.loc[1, "category"] = None
    report = health.validate(health_store, frame, "transactions")
    category = next(c for c in report.columns if c.name == "category")
    assert category.observed_type == "string" and category.nulls == 1
    assert category.coerced_nulls == 25
    assert category.coerced_null_share == pytest.approx(25 / 99)


SIZED = """\
namespace: t
datasets:
  - name: orders
    fields:
      - {name: country, type: char(2)}
      - {name: note, type: varchar(10)}
      - {name: amount, type: "decimal(5,2)"}
  - name: order_copy
    fields: [{name: note, type: varchar(10)}]
derivations:
  - {from: orders.note, to: order_copy.note, transformation: identity}
consumers:
  - name: labels
    consumes: [orders]
    contracts:
      - asset: orders
        properties: [{name: country, physicalType: char(2), required: true}]
"""


def test_validate_refuses_text_longer_than_a_declared_length_and_names_what_it_breaks(
        store: Store) -> None:
    """varchar(10) and char(2) were checked as plain strings: an 11-character note passed,
    though the engine that stores it refuses or silently cuts it (and so does the identity
    copy declared varchar(10) downstream)."""
    lineage.manifest.register_text(store, SIZED)
    fits = pl.DataFrame({"country": ["FR", "DE"], "note": ["0123456789", None],
                         "amount": [999.99, -12.5]})
    assert health.validate(store, fits, "orders").passed
    long = fits.with_columns(pl.Series("note", ["0123456789", "01234567890"]),
                             pl.Series("country", ["FRA", "DE"]))
    report = health.validate(store, long, "orders")
    assert not report.passed
    by_name = {c.name: c for c in report.columns}
    note = by_name["note"].violations
    assert [(v.check, v.severity, v.count) for v in note] == [("length", "error", 1)]
    assert note[0].examples == ["01234567890"]
    assert "longer than 10 character(s)" in note[0].message
    # a contract repeating the schema's char(2) is judged through change impact: the
    # widening breaks the contract declared shorter
    country = by_name["country"].violations
    assert [(v.check, v.source) for v in country] == [("length", "schema")]
    assert country[0].consumers == ["consumer:labels"]


def test_validate_refuses_numbers_too_large_for_a_decimal_and_warns_of_rounding(
        store: Store) -> None:
    lineage.manifest.register_text(store, SIZED)
    batch = pl.DataFrame({"country": ["FR", "DE", "IT"], "note": ["a", "b", "c"],
                          "amount": [1000.0, 0.1 * 3, 12.345]})
    report = health.validate(store, batch, "orders")
    amount = next(c for c in report.columns if c.name == "amount").violations
    assert [(v.check, v.severity, v.examples) for v in amount] == [
        ("decimal_range", "error", [1000.0]), ("decimal_scale", "warning", [12.345])]
    assert not report.passed
    fine = batch.with_columns(pl.Series("amount", [999.99, 0.1 * 3, 12.34]))
    report = health.validate(store, fine, "orders")
    assert report.passed, [c.to_dict() for c in report.columns]


def test_cli_validate_exits_10_on_text_longer_than_the_declared_length(
        store: Store, tmp_path: Path) -> None:
    lineage.manifest.register_text(store, SIZED)
    path = tmp_path / "orders.csv"
    pl.DataFrame({"country": ["FR"], "note": ["far too long a note"],
                  "amount": [1.5]}).write_csv(path)
    result = CliRunner().invoke(cli, ["--store", store.url, "validate", str(path),
                                      "--dataset", "orders", "--format", "json"])
    assert result.exit_code == 10, result.output
    body = json.loads(result.output)
    checks = [v["check"] for c in body["columns"] for v in c["violations"]]
    assert checks == ["length"]
