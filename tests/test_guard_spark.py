"""The guard on Spark gives the local guard's answer, row by row, on every laundering scenario.

The guard scenarios of tests/test_guard.py (renamed columns, re-encoded booleans, composite
keys in either order, float precision, mixed human/AI, confidence, loops, taint, entity
scopes, collations, bad input) run again here with `check_training` replaced by `_both`:
each call checks the table locally, then the same rows as a Spark DataFrame (local[2], two
partitions) against a fresh fingerprint export, and requires the same report — counts,
examples with their row numbers, verdicts and agents, findings, matched concepts — or the
same error. When the report's examples leave offending rows out (max_examples), both run
again with room for every offending row, so each blocked or warned row is compared by its
number; the allowed rows are then the same by count. The scenarios run on SQLite only: the
backends are compared by the guard's own tests.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import lineage
from lineage.guard import GuardReport, Policy, check_training
from lineage.provenance._tables import read_table
from lineage.store.base import Store

from . import test_guard

try:
    import pyspark  # noqa: F401
except ImportError:  # pragma: no cover - the test extra installs it
    if os.environ.get("CI"):
        raise
    pytest.skip("pyspark is not installed (pip install -e '.[test]')", allow_module_level=True)

from lineage.guard_spark import check_spark, export_fingerprints, read_export  # noqa: E402

# the scenarios, collected here again (fixtures included) with the Spark check beside;
# those that never run the guard (tagging, review, taint) are left to test_guard
from .test_guard import *  # noqa: E402, F403

for _name in [n for n in dir(test_guard) if n.startswith("test_")]:
    if not any(call in inspect.getsource(getattr(test_guard, _name))
               for call in ("check_training(", "_counts(", "_named(")):
        del globals()[_name]


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local Spark for the session: two cores, no UI, bound to loopback."""
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("lineage-tests")
               .config("spark.driver.host", "127.0.0.1")
               .config("spark.driver.bindAddress", "127.0.0.1")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", "2")
               .config("spark.default.parallelism", "2")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture
def store_url(sqlite_url: str) -> str:
    return sqlite_url


def _outcome(run: Callable[[], GuardReport]) -> tuple[dict[str, Any] | None, str | None]:
    try:
        return run().to_dict(), None
    except lineage.LineageError as exc:
        report = getattr(exc, "report", None)
        return (report.to_dict() if report is not None else None,
                f"{type(exc).__name__}: {exc}")


def _both(spark: Any, tmp_path: Path) -> Callable[..., GuardReport]:
    calls = iter(range(1_000))

    def check(store: Store, table: Any, **kwargs: Any) -> GuardReport:
        local = _outcome(lambda: check_training(store, table, **kwargs))
        try:
            frame = read_table(table, "training table")
        except lineage.ValidationError:
            return check_training(store, table, **kwargs)  # unreadable: nothing for Spark
        path = tmp_path / f"fingerprints-{next(calls)}.parquet"
        export_fingerprints(store, path)
        rows = spark.createDataFrame(frame.to_arrow()) if frame.width else None
        if rows is not None:
            remote = _outcome(lambda: check_spark(store, rows, path, **kwargs))
            assert remote == local
            report = local[0]
            if report is not None and len(report["examples"]) < (
                    report["blocked_rows"] + report["warned_rows"]):
                policy = kwargs.get("policy") or Policy()
                wide = {**kwargs, "policy": policy.model_copy(
                    update={"max_examples": report["rows"]})}
                assert (_outcome(lambda: check_spark(store, rows, path, **wide))
                        == _outcome(lambda: check_training(store, table, **wide)))
        return check_training(store, table, **kwargs)

    return check


@pytest.fixture(autouse=True)
def _spark_beside_local(spark: Any, tmp_path: Path,
                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(test_guard, "check_training", _both(spark, tmp_path))


# ------------------------------------------------------------------ the export itself


def test_the_export_is_refused_when_the_store_recorded_a_batch_after_it(
        scenario: Store, spark: Any, tmp_path: Path) -> None:
    path = tmp_path / "fingerprints.parquet"
    exported = export_fingerprints(scenario, path)
    assert read_export(path).batches == exported.batches
    rows = spark.createDataFrame(pl.DataFrame({"transaction_id": ["t2"],
                                               "is_fraud": [False]}).to_arrow())
    lineage.provenance.tag(scenario, pl.DataFrame({"transaction_id": ["t2"],
                                                   "is_fraud": [False]}),
                           dataset="fraud.chargebacks", field="is_fraud",
                           key="transaction_id", origin="observed", agent="disputes-system")
    with pytest.raises(lineage.ValidationError, match="re-run `lineage export-fingerprints`"):
        check_spark(scenario, rows, path, key="transaction_id", label="is_fraud",
                    dataset="fraud.labels_v3")
    # re-exported, the new chargeback makes t2 ground truth
    export_fingerprints(scenario, path)
    report = check_spark(scenario, rows, path, key="transaction_id", label="is_fraud",
                         dataset="fraud.labels_v3")
    assert report.counts == {"ground_truth": 1}


def test_a_file_that_is_not_an_export_is_refused(scenario: Store, spark: Any,
                                                 tmp_path: Path) -> None:
    other = tmp_path / "other.parquet"
    pl.DataFrame({"a": [1]}).write_parquet(other)
    rows = spark.createDataFrame(pl.DataFrame({"transaction_id": ["t2"],
                                               "is_fraud": [False]}).to_arrow())
    for path, message in ((other, "not a fingerprint export"),
                          (tmp_path / "missing.parquet", "cannot read the fingerprint export")):
        with pytest.raises(lineage.ValidationError, match=message):
            check_spark(scenario, rows, path, key="transaction_id", label="is_fraud")
