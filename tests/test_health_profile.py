"""Profiles as artefacts: compact per-field distributions stored with dataset versions (and
with the runs that saw them), through the Store's public interface on every backend."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

import lineage
from lineage import health
from lineage.health.profile import KNOTS, TOP_K, field_size
from lineage.store.base import Store
from lineage_cli.main import cli

from .conftest import snapshot

VERSION = "user_features@2026-03"
VERSION_KEY = "dataset_version:s3://ml-warehouse/features.user_features@2026-03"


def features(n: int = 5_000, seed: int = 1, shift: float = 0.0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame({
        "user_id": np.arange(n),
        "avg_amount_7d": rng.lognormal(3.5 + shift, 0.6, n),
        "txn_count_7d": rng.poisson(9, n),
        "country": rng.choice(["FR", "DE", "US", None], n, p=[0.4, 0.3, 0.2, 0.1]),
    })


def test_profile_keeps_moments_quantiles_and_an_exact_count_at_every_knot() -> None:
    frame = features().with_columns(
        pl.when(pl.col("user_id") % 10 == 0).then(None).otherwise(pl.col("avg_amount_7d"))
        .alias("avg_amount_7d"))
    made = health.profile(frame)
    amount = made.fields["avg_amount_7d"]
    values = frame["avg_amount_7d"].drop_nulls().to_numpy()
    assert amount["kind"] == "numeric" and amount["nulls"] == 500 and amount["n"] == 4_500
    assert amount["mean"] == pytest.approx(values.mean())
    assert amount["std"] == pytest.approx(values.std(ddof=1))
    assert amount["min"] == values.min() and amount["max"] == values.max()
    sketch = amount["sketch"]
    assert not sketch["exact"] and len(sketch["values"]) == KNOTS + 1
    for knot, count in zip(sketch["values"], sketch["cdf"], strict=True):
        assert count == int((values <= knot).sum())
    assert sum(amount["bins"]["counts"]) == 4_500 and len(amount["bins"]["counts"]) == 10
    # a field of few distinct values is kept whole
    counts = made.fields["txn_count_7d"]
    assert counts["sketch"]["exact"]
    distinct = np.unique(frame["txn_count_7d"].to_numpy())
    assert counts["sketch"]["values"] == distinct.tolist()
    country = made.fields["country"]
    assert country["kind"] == "categorical" and country["cardinality"] == 3
    assert country["nulls"] == frame["country"].null_count()
    assert [v for v, _c in country["top"]] == ["FR", "DE", "US"]


def test_profile_of_many_distinct_values_stays_a_few_kilobytes_per_field() -> None:
    rng = np.random.default_rng(0)
    frame = pl.DataFrame({"x": rng.normal(size=200_000),
                          "label": [f"v{i}" for i in rng.integers(0, 10_000, 200_000)]})
    made = health.profile(frame)
    assert field_size(made.fields["x"]) < 8_000
    assert field_size(made.fields["label"]) < 4_000
    assert len(made.fields["label"]["top"]) == TOP_K
    assert not made.fields["label"]["exact"]


@pytest.mark.parametrize("suffix", [".parquet", ".arrow"])
def test_a_columnar_file_profiled_a_column_at_a_time_equals_its_frames_profile(
        tmp_path: Path, suffix: str) -> None:
    rng = np.random.default_rng(4)
    frame = pl.DataFrame({"x": rng.lognormal(2, 1, 3_000), "n": rng.poisson(4, 3_000),
                          "c": [["a", "b", None][i % 3] for i in range(3_000)],
                          "t": pl.datetime_range(pl.datetime(2026, 1, 1),
                                                 pl.datetime(2026, 1, 1, 0, 49, 59),
                                                 "1s", eager=True)})
    path = tmp_path / f"batch{suffix}"
    frame.write_parquet(path) if suffix == ".parquet" else frame.write_ipc(path)
    from_file, from_frame = health.profile(path), health.profile(frame)
    assert from_file.rows == 3_000 and from_file.source == str(path)
    assert from_file.fields == from_frame.fields
    assert list(health.profile(path, ["c", "x"]).fields) == ["c", "x"]
    with pytest.raises(lineage.ValidationError, match="no column 'y'; columns are: x, n"):
        health.profile(path, ["y"])
    broken = tmp_path / f"broken{suffix}"
    broken.write_bytes(b"not a table")
    with pytest.raises(lineage.ValidationError, match="cannot read"):
        health.profile(broken)


def test_a_profile_counts_infinities_as_missing_and_is_valid_json() -> None:
    """A division by zero upstream: +-inf would make the mean NaN and the profile JSON that
    neither an HTTP answer nor a PostgreSQL column can hold."""
    made = health.profile(pl.DataFrame({"x": [1.0, float("inf"), 2.0, float("-inf"),
                                              float("nan"), None]}))
    x = made.fields["x"]
    assert (x["count"], x["nulls"], x["n"]) == (6, 1, 2)
    assert (x["mean"], x["min"], x["max"]) == (1.5, 1.0, 2.0)
    json.dumps(made.to_dict(), allow_nan=False)


def test_record_profile_stores_it_with_the_dataset_version(fraud_store: Store,
                                                           tmp_path: Path) -> None:
    path = tmp_path / "train.parquet"
    features().write_parquet(path)
    made = health.record_profile(fraud_store, path, VERSION)
    assert made.dataset_version == VERSION_KEY
    stored = health.stored_profile(fraud_store, VERSION)
    assert stored is not None and stored.same_as(made)
    node = fraud_store.node(VERSION_KEY)
    assert node.properties["version"] == "2026-03"  # merged, not replaced
    assert fraud_store.schema(VERSION)  # the schema snapshot is untouched
    # the same distribution again changes nothing; a different one is refused
    before = snapshot(fraud_store)
    health.record_profile(fraud_store, path, VERSION)
    assert snapshot(fraud_store) == before
    with pytest.raises(lineage.ConflictError, match="different profile"):
        health.record_profile(fraud_store, features(seed=2), VERSION)
    assert snapshot(fraud_store) == before
    health.record_profile(fraud_store, features(seed=2), VERSION, replace=True)
    assert not health.stored_profile(fraud_store, VERSION).same_as(made)  # type: ignore[union-attr]


def test_record_profile_with_a_run_stores_what_the_run_saw(fraud_store: Store) -> None:
    run = "0190d6f4-3c1e-7a5e-9b1e-3f0a2c4d5e6f"
    health.record_profile(fraud_store, features(), VERSION, run=run)
    health.record_profile(fraud_store, features(seed=4), "user_features@2026-02", run=run)
    assert health.stored_profile(fraud_store, VERSION) is None  # the version's own: none
    seen = health.stored_profile(fraud_store, VERSION, run=run)
    assert seen is not None and seen.run == f"run:{run}"
    assert health.stored_profile(fraud_store, "user_features@2026-02", run=run) is not None
    edges = {(e.src, e.kind.value) for e, _ref in fraud_store.neighbours(f"run:{run}")}
    assert (VERSION_KEY, "read") in edges


def test_record_profile_refuses_a_dataset_without_a_version(fraud_store: Store) -> None:
    before = snapshot(fraud_store)
    with pytest.raises(lineage.ValidationError, match="@VERSION"):
        health.record_profile(fraud_store, features(), "user_features")
    with pytest.raises(lineage.NotFound):
        health.record_profile(fraud_store, features(), "user_features@2099-01")
    assert snapshot(fraud_store) == before


def test_cli_profile_records_and_shows(fraud_store: Store, tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    features().write_csv(path)
    runner = CliRunner()
    made = runner.invoke(cli, ["--store", fraud_store.url, "profile", str(path),
                               "--dataset", VERSION])
    assert made.exit_code == 0, made.output
    assert "avg_amount_7d" in made.stdout and "257 knots" in made.stdout
    shown = runner.invoke(cli, ["--store", fraud_store.url, "profile", "--dataset", VERSION,
                                "--format", "json"])
    data = json.loads(shown.stdout)
    assert data["dataset_version"] == VERSION_KEY and data["rows"] == 5_000
    other = tmp_path / "other.csv"
    features(seed=9).write_csv(other)
    refused = runner.invoke(cli, ["--store", fraud_store.url, "profile", str(other),
                                  "--dataset", VERSION])
    assert refused.exit_code == 5
    missing = runner.invoke(cli, ["--store", fraud_store.url, "profile", "--dataset",
                                  "user_features@2026-01"])
    assert missing.exit_code == 4 and "no profile stored" in missing.stderr


def test_show_summarises_a_stored_profile_instead_of_printing_its_sketches(
        fraud_store: Store) -> None:
    health.record_profile(fraud_store, features(), VERSION)
    shown = CliRunner().invoke(cli, ["--store", fraud_store.url, "show", VERSION])
    assert shown.exit_code == 0, shown.output
    assert "4 fields, 5,000 rows" in shown.stdout and '"sketch"' not in shown.stdout
    as_json = CliRunner().invoke(cli, ["--store", fraud_store.url, "show", VERSION,
                                       "--format", "json"])
    assert "sketch" in json.loads(as_json.stdout)["node"]["properties"]["profile"]["fields"][
        "avg_amount_7d"]
