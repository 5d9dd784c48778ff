"""`lineage skew`: training-serving skew (story 3 of STORIES.md: training fills a missing
`age` with the median, serving with 0): the derivations differ, and the profiles show it."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

import lineage
from lineage import health
from lineage.store.base import Store
from lineage_cli.main import cli


def ages(n: int = 5_000, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(41, 12, n).clip(18, 90).round(), rng.random(n) < 0.08


def test_skew_reports_the_fill_rule_that_differs_between_training_and_serving(
        fraud_store: Store) -> None:
    report = health.skew(fraud_store, "fraud@3")
    age = next(i for i in report.inputs if i.input.key == "feature:age")
    assert age.skewed and age.compared
    assert [d.field for d in age.training] == [
        "field:s3://ml-warehouse/features.user_features.age_filled"]
    assert [d.field for d in age.serving] == [
        "field:kafka://serving.prod:9092/fraud_requests.age_filled"]
    assert age.training[0].job == "job:airflow://scheduler.prod/features.training_preprocess"
    assert age.serving[0].job == "job:k8s://serving.prod/serving.online_features"
    assert any(d.startswith("fill: median (training) vs 0 (serving)") for d in age.differences)
    assert "no stored profile" in (age.note or "")
    # inputs computed only for training are said to be uncompared, not declared fine
    amount = next(i for i in report.inputs if i.input.key == "feature:avg_amount_7d")
    assert not amount.compared and not amount.skewed and "no serving" in (amount.note or "")
    assert [i.input.name for i in report.skewed] == ["age"]


def test_skew_compares_the_two_sides_profiles_when_both_are_stored(fraud_store: Store
                                                                   ) -> None:
    age, missing = ages()
    median_filled = np.where(missing, np.median(age), age).astype(np.int16)
    zero_filled = np.where(missing, 0, age).astype(np.int16)
    health.record_profile(fraud_store, pl.DataFrame({"age_filled": median_filled}),
                          "user_features@2026-03")
    serving = pl.DataFrame({"user_id": np.arange(len(age)), "age_filled": zero_filled})
    health.validate(fraud_store, serving, "fraud_requests", record=True,
                    record_version="2026-04-02")
    health.record_profile(fraud_store, serving, "fraud_requests@2026-04-02", run="serve-1")
    report = health.skew(fraud_store, "fraud@3")
    item = next(i for i in report.inputs if i.input.key == "feature:age")
    assert item.distribution is not None
    assert item.profiles == ["dataset_version:s3://ml-warehouse/features.user_features@2026-03",
                             "run:serve-1"]
    # the same comparison drift makes: both are exact sketches, so KS is the exact one
    from scipy import stats
    expected = stats.ks_2samp(median_filled, zero_filled).statistic
    assert item.distribution.ks_statistic == pytest.approx(expected, abs=1e-12)
    assert item.distribution.psi is not None and item.distribution.psi > 0.1


def test_skew_refuses_a_model_without_a_version(fraud_store: Store) -> None:
    with pytest.raises(lineage.ValidationError, match="per model version"):
        health.skew(fraud_store, "fraud")


def test_cli_skew_prints_the_difference(fraud_store: Store) -> None:
    runner = CliRunner()
    table = runner.invoke(cli, ["--store", fraud_store.url, "skew", "fraud@3"])
    assert table.exit_code == 0, table.output
    assert "SKEW" in table.stdout and "not compared" in table.stdout
    data = json.loads(runner.invoke(cli, ["--store", fraud_store.url, "skew", "fraud@3",
                                          "--format", "json"]).stdout)
    assert data["skewed"] == ["feature:age"]
