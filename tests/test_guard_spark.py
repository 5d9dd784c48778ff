"""The guard on Spark gives the local guard's answer, row by row, on the laundering scenarios.

The guard scenarios of tests/test_guard.py (renamed columns, re-encoded booleans, composite
keys in either order, float precision, mixed human/AI, confidence, loops, taint, entity
scopes, collations, bad input; see SCENARIOS) run again here with `check_training` replaced
by `_both`: each call checks the table locally, then the same rows as a Spark DataFrame
(local[2], two partitions) against a fresh fingerprint export, and requires the same report
— counts, examples with their row numbers, verdicts and agents, findings, matched concepts
— or the same error. When the report's examples leave offending rows out (max_examples), both run
again with room for every offending row, so each blocked or warned row is compared by its
number; the allowed rows are then the same by count. The scenarios run on SQLite only: the
backends are compared by the guard's own tests.
"""

from __future__ import annotations

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

# the scenarios, collected here again (fixtures included) with the Spark check beside.
# Each Spark check is a few jobs (seconds on a busy 2-core machine), so the scenarios
# that only vary what both sides share by construction (the policy's actions, lineage
# findings, which run on the driver for both) are left to test_guard.
from .test_guard import *  # noqa: E402, F403

SCENARIOS = {
    # renamed and re-encoded copies, entity scopes, collations
    "test_laundered_predictions_are_blocked_exactly",
    "test_a_renamed_label_without_a_dataset_is_matched_by_content",
    "test_a_dataset_without_a_concept_is_matched_by_content",
    "test_a_renamed_key_is_matched_by_content",
    "test_a_concept_named_explicitly_maps_the_column",
    "test_content_matching_takes_truth_and_ai_recorded_under_other_key_names",
    "test_a_generic_label_without_a_dataset_is_not_blocked_by_another_entitys_model",
    "test_one_concept_for_users_and_transactions_is_scoped_by_entity",
    "test_a_key_with_leading_zeros_is_another_key_unless_declared_numeric",
    "test_key_case_follows_the_declared_collation",
    "test_a_composite_key_matches_whatever_the_key_order",
    "test_booleans_spelled_otherwise_match_a_boolean_field",
    "test_declared_label_values_map_to_what_they_mean",
    "test_floats_match_at_the_declared_precision",
    "test_a_float32_round_trip_matches_a_float32_field",
    "test_lineage_carries_assertions_to_downstream_copies",
    # mixed human/AI, confidence, agents
    "test_a_human_label_that_agrees_with_the_model_passes",
    "test_a_corrected_label_passes_with_the_corrected_value_only",
    "test_a_later_human_review_overrules_an_earlier_agreement",
    "test_a_fact_asserted_twice_by_humans_and_the_model_is_ground_truth_once",
    "test_a_value_contradicting_recorded_ground_truth_is_contradicted",
    "test_a_blank_label_where_the_model_returned_null_is_not_ai_only",
    "test_pseudo_labelling_is_explicit_and_counted",
    "test_low_confidence_human_labels_are_reported",
    "test_an_ai_label_without_confidence_is_never_a_pseudo_label",
    "test_an_offending_row_names_the_most_confident_ai_agent_then_the_latest",
    "test_a_more_confident_assertion_on_another_concept_is_named",
    "test_examples_show_every_offending_verdict",
    # loops and taint
    "test_a_feedback_loop_is_reported_when_pseudo_labels_are_allowed",
    "test_training_a_version_on_its_own_outputs_is_self_training",
    "test_feedback_loop_counts_rows_not_labels",
    "test_a_label_derived_from_an_ai_inferred_field_is_model_derived_as_taint_says",
    # nothing matched, bad input
    "test_a_table_nothing_recorded_matches_fails_unless_unverified_rows_are_allowed",
    "test_unusable_training_tables_are_refused_with_the_reason",
}
for _name in [n for n in dir(test_guard) if n.startswith("test_")]:
    if _name not in SCENARIOS:
        del globals()[_name]


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local Spark for the session: two cores, no UI, bound to loopback."""
    from pyspark.sql import SparkSession

    # the JVM otherwise looks the host up and may pick a non-loopback interface
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    session = (SparkSession.builder.master("local[2]").appName("lineage-tests")
               .config("spark.driver.host", "127.0.0.1")
               .config("spark.driver.bindAddress", "127.0.0.1")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", "2")
               .config("spark.default.parallelism", "2")
               # tiny tables: adaptive execution would only add a job per stage
               .config("spark.sql.adaptive.enabled", "false")
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
