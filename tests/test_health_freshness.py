"""`lineage freshness`: inputs past their SLA and runs that read data which landed after
their window closed (story 2 of STORIES.md: activity events landing four hours late)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

import lineage
from lineage import health
from lineage.store.base import Store
from lineage_cli.main import cli

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "examples" / "fraud"))
from make_health_data import late_events  # noqa: E402

NOON = datetime(2026, 4, 2, 12, tzinfo=UTC)
LATE_RUN = ("run:airflow://scheduler.prod/features.rolling_spend_7d/"
            "0196f0a0-0000-7000-8000-000000000002")


@pytest.fixture
def late_store(fraud_store: Store) -> Store:
    lineage.openlineage.ingest(fraud_store, late_events())
    return fraud_store


def test_parse_duration_reads_short_and_iso_spellings_and_refuses_the_rest() -> None:
    assert health.parse_duration("6h") == timedelta(hours=6)
    assert health.parse_duration("1h30m") == timedelta(minutes=90)
    assert health.parse_duration("2d") == timedelta(days=2)
    assert health.parse_duration("PT6H") == timedelta(hours=6)
    assert health.parse_duration("P1DT2H") == timedelta(hours=26)
    for bad in ("", "6", "six hours", "0h", "PT", "-1h"):
        with pytest.raises(lineage.ValidationError, match="positive duration"):
            health.parse_duration(bad)


def test_manifest_freshness_is_stored_and_a_bad_one_rejects_the_manifest(store: Store
                                                                         ) -> None:
    lineage.manifest.register_text(store, "datasets:\n  - {name: events, freshness: 6h}\n")
    assert store.node("dataset:default/events").properties["freshness"] == "6h"
    with pytest.raises(lineage.ValidationError, match="freshness") as caught:
        lineage.manifest.register_text(store, "datasets:\n  - {name: other, freshness: soon}\n")
    assert caught.value.line == 2


def test_freshness_reports_an_input_older_than_its_sla_with_what_it_feeds(late_store: Store
                                                                          ) -> None:
    report = health.freshness(late_store, now=NOON)
    activity = next(f for f in report.checked if f.node.name == "user_activity")
    assert activity.stale and activity.sla == "6h"
    assert activity.last_landed == datetime(2026, 4, 2, 4, tzinfo=UTC)
    assert activity.age == timedelta(hours=8)
    assert activity.landed_by and activity.landed_by.endswith("user_activity@2026-04-01")
    assert "model_version:fraud@3" in {m["key"] for m in activity.downstream.model_versions}
    assert "consumer:risk-rules-engine" in {c["key"] for c in activity.downstream.consumers}
    # five hours after landing it is within its six
    early = health.freshness(late_store, now=datetime(2026, 4, 2, 9, tzinfo=UTC))
    assert not next(f for f in early.checked if f.node.name == "user_activity").stale


def test_freshness_reports_a_run_that_read_data_landing_after_its_window(late_store: Store
                                                                         ) -> None:
    report = health.freshness(late_store, now=NOON)
    assert [(x.run.key, x.lateness) for x in report.late] == [(LATE_RUN, timedelta(hours=4))]
    late = report.late[0]
    assert late.job == "job:airflow://scheduler.prod/features.rolling_spend_7d"
    assert {"model_version:fraud@3"} <= {m["key"] for m in late.downstream.model_versions}
    assert not report.fresh


def test_freshness_of_a_model_looks_only_upstream_of_it(late_store: Store) -> None:
    scoped = health.freshness(late_store, "fraud@3", now=NOON)
    assert [f.node.name for f in scoped.checked] == ["user_activity"]
    assert [x.run.key for x in scoped.late] == [LATE_RUN]
    unrelated = health.freshness(late_store, "fraud.labels", now=NOON)
    assert unrelated.checked == [] and unrelated.late == []
    assert any("declares a freshness SLA" in n for n in unrelated.notes)


def test_an_input_that_never_landed_is_stale(fraud_store: Store) -> None:
    report = health.freshness(fraud_store, now=NOON)
    activity = next(f for f in report.checked if f.node.name == "user_activity")
    assert activity.stale and activity.last_landed is None


def test_cli_freshness_prints_both_findings(late_store: Store) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["--store", late_store.url, "freshness", "--now",
                                 "2026-04-02T12:00:00Z", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["fresh"] is False and data["late"][0]["lateness"] == "4h"
    table = runner.invoke(cli, ["--store", late_store.url, "freshness", "fraud@3", "--now",
                                "2026-04-02T12:00:00Z"])
    assert "STALE" in table.stdout and "4h" in table.stdout
    naive = runner.invoke(cli, ["--store", late_store.url, "freshness", "--now",
                                "2026-04-02T12:00:00"])
    assert naive.exit_code == 2 and "time zone" in naive.stderr
