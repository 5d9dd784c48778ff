"""`lineage drift`: a batch against the training profile of every model version trained on
its dataset, then through lineage to the features, model versions and consumers behind it.

Story 5 of STORIES.md (the green dashboard): production `avg_amount_7d` drifts from what
fraud@1..3 trained on. KS is checked against scipy.stats.ks_2samp on the raw samples, PSI
against a hand computation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from scipy import stats

import lineage
from lineage import health
from lineage.health.drift import compare_field, ks_pvalue
from lineage.health.profile import profile_series
from lineage.store.base import Store
from lineage_cli.main import cli

from .conftest import snapshot

COLUMNS = {"2026-01": ["user_id", "avg_amount_7d", "txn_count_7d"],
           "2026-02": ["user_id", "avg_amount_7d", "txn_count_7d", "category_share"],
           "2026-03": ["user_id", "avg_amount_7d", "txn_count_7d", "category_share",
                       "activity_7d", "age_filled"]}


def features(n: int = 4_000, seed: int = 1, shift: float = 0.0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame({
        "user_id": np.arange(n),
        "avg_amount_7d": rng.lognormal(3.5 + shift, 0.6, n),
        "txn_count_7d": rng.poisson(9, n),
        "category_share": rng.beta(2, 8, n),
        "activity_7d": rng.poisson(30, n),
        "age_filled": rng.normal(41, 12, n).clip(18, 90).round().astype(np.int16),
    })


@pytest.fixture
def trained(fraud_store: Store) -> Store:
    """fraud@1..3 with the profiles of the feature-table versions each trained on."""
    for i, (version, columns) in enumerate(COLUMNS.items()):
        health.record_profile(fraud_store, features(seed=10 + i).select(columns),
                              f"user_features@{version}")
    return fraud_store


def test_drift_compares_every_model_version_trained_on_the_dataset_and_follows_lineage(
        trained: Store) -> None:
    report = health.drift(trained, features(seed=7, shift=0.4), "user_features")
    assert report.drifted and report.drifted_fields == ["avg_amount_7d"]
    assert [c.model_versions for c in report.comparisons] == [
        ["model_version:fraud@1"], ["model_version:fraud@2"], ["model_version:fraud@3"]]
    assert all([f.field for f in c.drifted] == ["avg_amount_7d"] for c in report.comparisons)
    reached = report.impact["avg_amount_7d"]
    assert [r["key"] for r in reached["features"]] == ["feature:avg_amount_7d"]
    assert {r["key"] for r in reached["model_versions"]} == {
        "model_version:fraud@1", "model_version:fraud@2", "model_version:fraud@3"}
    assert {"consumer:risk-rules-engine", "consumer:fraud-dashboard",
            "consumer:alerting-service"} <= {r["key"] for r in reached["consumers"]}
    fraud3 = next(r for r in reached["model_versions"] if r["key"].endswith("@3"))
    assert fraud3["path_keys"][0].endswith("user_features.avg_amount_7d")


def test_drift_finds_nothing_in_a_batch_from_the_training_distribution(trained: Store
                                                                       ) -> None:
    report = health.drift(trained, features(seed=8), "user_features")
    assert not report.drifted, report.to_dict()
    assert report.impact == {}


def test_drift_says_which_model_versions_it_could_not_compare(fraud_store: Store) -> None:
    health.record_profile(fraud_store, features(), "user_features@2026-03")
    report = health.drift(fraud_store, features(seed=3), "user_features")
    unprofiled = [c for c in report.comparisons if not c.profiled]
    assert [c.model_versions for c in unprofiled] == [["model_version:fraud@1"],
                                                      ["model_version:fraud@2"]]
    assert all("no profile stored" in (c.note or "") for c in unprofiled)


def test_drift_without_any_training_reference_is_not_found(fraud_store: Store) -> None:
    with pytest.raises(lineage.NotFound, match="no model version was trained"):
        health.drift(fraud_store, features(), "transactions")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ks_equals_scipy_ks_2samp_when_the_reference_sketch_is_exact(seed: int) -> None:
    rng = np.random.default_rng(seed)
    reference = rng.poisson(9, 5_000)
    current = rng.poisson(9.4 if seed else 9, 3_000)
    result = compare_field("x", profile_series(pl.Series("x", reference)),
                           pl.Series("x", current), health.DriftPolicy())
    expected = stats.ks_2samp(reference, current)
    assert result.ks_error == 0.0
    assert result.ks_statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert result.ks_pvalue == pytest.approx(expected.pvalue, abs=0.02)


@pytest.mark.parametrize("shift", [0.0, 0.05, 0.3])
def test_ks_is_within_its_stated_error_of_scipy_for_a_sketched_reference(shift: float
                                                                         ) -> None:
    rng = np.random.default_rng(42)
    reference = rng.normal(0, 1, 50_000)
    current = rng.normal(shift, 1, 20_000)
    result = compare_field("x", profile_series(pl.Series("x", reference)),
                           pl.Series("x", current), health.DriftPolicy())
    expected = stats.ks_2samp(reference, current)
    assert 0 < result.ks_error <= 2 / 256
    assert result.ks_statistic is not None
    assert abs(result.ks_statistic - expected.statistic) <= result.ks_error + 1e-12
    # the estimate itself is much closer than its bound: a smooth distribution function is
    # nearly linear over one step of the sketch
    assert result.ks_statistic == pytest.approx(expected.statistic, abs=1e-3)
    # the p-value of scipy's own statistic, by our formula, is scipy's within 0.02
    assert ks_pvalue(expected.statistic, 50_000, 20_000) == pytest.approx(expected.pvalue,
                                                                          abs=0.02)


def _spread(spread: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if spread == "normal":
        return rng.normal(0, 1, n)
    if spread == "codes":
        return rng.integers(-3, 40, n).astype(np.float64)
    if spread == "long_tail":
        return np.concatenate([rng.pareto(1.1, n), [1e300, -np.inf, np.inf]])
    if spread == "narrow":
        return 1e6 + rng.normal(0, 1e-9, n)
    return np.round(rng.normal(0, 1, n), 2)


@pytest.mark.parametrize("spread", ["normal", "codes", "long_tail", "narrow", "rounded"])
def test_counting_a_batch_at_knots_is_exact_for_ties_tails_and_infinities(spread: str
                                                                          ) -> None:
    """The bucketed count (`count_at`, what KS and PSI of a batch read) equals a count
    over the sorted batch, at and strictly below every point, whatever the values."""
    from lineage.health.drift import count_at

    rng = np.random.default_rng(len(spread))
    for n in (1, 7, 5_000):
        values = _spread(spread, n, rng)
        for points in (np.unique(values), np.unique(values[: max(1, n // 9)]),
                       np.unique(np.concatenate([values[:50], rng.normal(0, 3, 40)])),
                       np.unique(values[:1])):
            ordered = np.sort(values)
            le, lt = count_at(values, points)
            assert le.tolist() == np.searchsorted(ordered, points, side="right").tolist()
            assert lt.tolist() == np.searchsorted(ordered, points, side="left").tolist()


def test_psi_equals_a_hand_computation_over_the_reference_deciles() -> None:
    # ten values, 100 rows each: the deciles cut between every value, shares 0.1 each
    reference = pl.Series("x", np.repeat(np.arange(10), 100))
    current = pl.Series("x", np.repeat(np.arange(10),
                                       [200, 100, 100, 100, 100, 100, 100, 100, 50, 50]))
    result = compare_field("x", profile_series(reference), current, health.DriftPolicy())
    hand = (0.2 - 0.1) * math.log(0.2 / 0.1) + 2 * (0.05 - 0.1) * math.log(0.05 / 0.1)
    assert result.psi == pytest.approx(hand, rel=1e-12)
    # missing values are a bin of their own: 10% of the batch arrives null
    with_nulls = pl.Series("x", [*np.repeat(np.arange(10), 90).tolist(), *[None] * 100])
    result = compare_field("x", profile_series(reference), with_nulls, health.DriftPolicy())
    floor = 1e-4  # an empty bin counts as this share
    hand = 10 * (0.09 - 0.1) * math.log(0.09 / 0.1) + (0.1 - floor) * math.log(0.1 / floor)
    assert result.psi == pytest.approx(hand, rel=1e-12)
    assert result.current_missing == pytest.approx(0.1)


def test_psi_of_categories_pools_unseen_values_and_counts_missing_ones() -> None:
    reference = pl.Series("c", ["a"] * 500 + ["b"] * 300 + ["c"] * 200)
    current = pl.Series("c", ["a"] * 400 + ["b"] * 300 + ["z"] * 200 + [None] * 100)
    result = compare_field("c", profile_series(reference), current, health.DriftPolicy())
    floor = 1e-4
    hand = ((0.4 - 0.5) * math.log(0.4 / 0.5) + 0  # b unchanged
            + (floor - 0.2) * math.log(floor / 0.2)  # c vanished
            + (0.2 - floor) * math.log(0.2 / floor)  # the rest: z, new
            + (0.1 - floor) * math.log(0.1 / floor))  # missing
    assert result.psi == pytest.approx(hand, rel=1e-12)
    assert result.ks_statistic is None and result.drifted


def test_drift_compares_text_in_a_numeric_field_after_the_lenient_cast(fraud_store: Store
                                                                       ) -> None:
    """Story 1 seen as drift: the category codes the reference knew, 30% now labels."""
    rng = np.random.default_rng(5)
    codes = rng.choice([5411, 5812, 7995], 5_000)
    health.record_profile(fraud_store, pl.DataFrame({"category": codes.astype(np.int32)}),
                          "transactions@2026-03")
    labels = [str(c) if rng.random() > 0.3 else "grocery" for c in codes.tolist()]
    report = health.drift(fraud_store, pl.DataFrame({"category": labels}), "transactions",
                          against="transactions@2026-03")
    category = report.comparisons[0].fields[0]
    assert category.drifted and "lenient numeric cast" in (category.note or "")
    assert category.current_missing == pytest.approx(labels.count("grocery") / 5_000)
    consumers = {r["key"] for r in report.impact["category"]["consumers"]}
    assert "consumer:risk-rules-engine" in consumers


def test_drift_policy_sets_thresholds_per_field_and_refuses_unknown_keys(
        trained: Store, tmp_path: Path) -> None:
    policy_file = tmp_path / "drift.yaml"
    policy_file.write_text("psi: 5\nks_statistic: 1\nfields:\n  txn_count_7d: {psi: 0}\n")
    policy = health.DriftPolicy.load(policy_file)
    report = health.drift(trained, features(seed=7, shift=0.4), "user_features",
                          policy=policy)
    assert report.drifted_fields == ["txn_count_7d"]  # PSI >= 0 always; amount's 5 is too high
    bad = tmp_path / "bad.yaml"
    bad.write_text("psi_max: 0.1\n")
    with pytest.raises(lineage.ValidationError, match="unknown key 'psi_max'"):
        health.DriftPolicy.load(bad)


def test_drift_of_a_stored_profile_against_the_training_profiles(trained: Store) -> None:
    run = "serving-2026-04-02"
    health.record_profile(trained, features(seed=7, shift=0.4), "user_features@2026-03",
                          run=run)
    report = health.drift(trained, None, "user_features", current="user_features@2026-03",
                          run=run)
    assert report.drifted_fields == ["avg_amount_7d"]
    amount = next(f for f in report.comparisons[2].fields if f.field == "avg_amount_7d")
    assert amount.ks_error > 0 and "profile against profile" in (amount.note or "")


def test_drift_notify_tells_the_consumers_behind_the_drifted_fields_once(trained: Store
                                                                         ) -> None:
    batch = features(seed=7, shift=0.4)
    report = health.drift(trained, batch, "user_features", notify=True)
    assert report.notifications == 3  # risk-team, risk-analytics, sre-payments: a file each
    items = trained.outbox(state="pending", limit=100)
    assert {i.consumer for i in items if i.event == "drift"} == {
        "consumer:risk-rules-engine", "consumer:fraud-dashboard", "consumer:alerting-service"}
    assert all("avg_amount_7d" in i.payload["text"] for i in items if i.event == "drift")
    before = snapshot(trained)
    again = health.drift(trained, batch, "user_features", notify=True)
    assert again.notifications == 0
    assert snapshot(trained) == before


def test_cli_drift_notify_ends_with_what_it_enqueued_then_the_verdict(
        trained: Store, tmp_path: Path) -> None:
    drifted = tmp_path / "prod.parquet"
    features(seed=7, shift=0.4).write_parquet(drifted)
    result = CliRunner().invoke(cli, ["--store", trained.url, "drift", str(drifted),
                                      "--dataset", "user_features", "--notify"])
    assert result.exit_code == 11, result.output
    # the closing lines every health command prints alike (validate --record:
    # test_health_validate)
    *_, done, verdict = result.stdout.strip().splitlines()
    assert done == "3 notification(s) enqueued; `lineage notify deliver` sends them"
    assert verdict.startswith("DRIFT: avg_amount_7d drifted from what ")


def test_cli_drift_exits_11_on_drift_and_0_without(trained: Store, tmp_path: Path) -> None:
    drifted, steady = tmp_path / "prod.parquet", tmp_path / "steady.parquet"
    features(seed=7, shift=0.4).write_parquet(drifted)
    features(seed=8).write_parquet(steady)
    runner = CliRunner()
    result = runner.invoke(cli, ["--store", trained.url, "drift", str(drifted),
                                 "--dataset", "user_features", "--format", "json"])
    assert result.exit_code == 11, result.output
    data = json.loads(result.stdout)
    assert data["drifted_fields"] == ["avg_amount_7d"]
    table = runner.invoke(cli, ["--store", trained.url, "drift", str(drifted),
                                "--dataset", "user_features"])
    assert table.exit_code == 11 and "risk-rules-engine" in table.stdout
    ok = runner.invoke(cli, ["--store", trained.url, "drift", str(steady),
                             "--dataset", "user_features"])
    assert ok.exit_code == 0, ok.output
    neither = runner.invoke(cli, ["--store", trained.url, "drift", "--dataset",
                                  "user_features"])
    assert neither.exit_code == 2
    assert "11  a batch drifted" in runner.invoke(cli, ["--help"]).output
