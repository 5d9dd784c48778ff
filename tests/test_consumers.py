"""Consumers: who depends on what (transitively), contracts on a dataset binding consumers
of its fields, and proposed changes announced with `impact --change ... --notify`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import lineage
from lineage.consumers import consumers
from lineage.impact import change_impact
from lineage_cli.main import cli

from .conftest import EXAMPLE, snapshot

ALL = ["alerting-service", "fraud-dashboard", "risk-rules-engine"]
CATEGORY = "field:postgres://db.prod:5432/public.transactions.category"


@pytest.fixture
def run(store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`lineage --store URL ...` on the registered example, in tmp_path (where the example's
    file channels write out/notifications/*.ndjson)."""
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args: Any) -> Result:
        return runner.invoke(cli, ["--store", store_url, *(str(a) for a in args)],
                             catch_exceptions=False)

    assert invoke("register", EXAMPLE).exit_code == 0
    return invoke


def test_every_consumer_with_owner_direct_assets_contract_and_channels(
        fraud_store: lineage.Store) -> None:
    uses = consumers(fraud_store)
    assert [u.consumer.name for u in uses] == ALL
    alerting = uses[0]
    assert alerting.owner == "sre-payments" and alerting.reached is None
    assert [c.name for c in alerting.consumes] == [
        "fraud.scores", "fraud.scores.model_version", "fraud.scores.score"]
    (contract,) = alerting.contracts.values()
    assert {f["name"]: f.get("required") for f in contract["fields"]} == {
        "score": True, "model_version": True}
    assert [(c.kind, c.target) for c in alerting.channels] == [
        ("file", "out/notifications/sre-payments.ndjson")]
    assert "secret" not in json.dumps(alerting.to_dict())


def test_consumers_of_a_field_are_found_transitively_with_their_paths(
        fraud_store: lineage.Store) -> None:
    uses = consumers(fraud_store, "transactions.category")
    assert sorted(u.consumer.name for u in uses) == ALL
    for u in uses:
        assert u.reached is not None
        path = u.reached.path
        assert path[0][1].key == CATEGORY and path[-1][1].key == u.consumer.key
    only = consumers(fraud_store, "fraud.scores.model_version")
    assert [u.consumer.name for u in only] == ["alerting-service"]
    with pytest.raises(lineage.NotFound):
        consumers(fraud_store, "no.such.field")


def test_a_dataset_contract_binds_a_consumer_reading_the_field_directly(
        fraud_store: lineage.Store) -> None:
    """The story: model_version becomes nullable under alerting-service, whose contract on
    fraud.scores requires it; the dashboard does not read it at all."""
    judged = change_impact(fraud_store, "fraud.scores.model_version", ["nullable"])
    (alerting,) = judged.of("breaking", lineage.NodeKind.CONSUMER)
    assert alerting.node.name == "alerting-service"
    assert "contract requires 'model_version'" in alerting.reason
    relaxed = change_impact(fraud_store, "fraud.scores.model_version", ["type:string"])
    assert relaxed.of("breaking", lineage.NodeKind.CONSUMER) == []


def test_cli_lists_consumers_as_table_and_json(run: Any) -> None:
    table = run("consumers")
    assert table.exit_code == 0 and all(name in table.stdout for name in ALL)
    data = json.loads(run("consumers", "transactions.category", "--format", "json").stdout)
    assert sorted(c["consumer"] for c in data["consumers"]) == ALL
    assert all(c["path"][0]["key"] == CATEGORY for c in data["consumers"])
    unknown = run("consumers", "transactions.nope")
    assert unknown.exit_code == 4 and "transactions.nope" in unknown.output


def test_notify_announces_a_breaking_change_once_and_delivers_it(
        run: Any, store_url: str, tmp_path: Path) -> None:
    first = run("impact", "transactions.category", "--change", "type:string", "--notify",
                "--format", "json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["notifications_enqueued"] == 3
    again = run("impact", "transactions.category", "--change", "type:string", "--notify")
    assert again.exit_code == 0 and "notifications enqueued: 0" in again.stdout
    # a compatible change breaks nobody: nothing to announce
    widen = run("impact", "transactions.category", "--change", "type:int64", "--notify",
                "--format", "json")
    assert json.loads(widen.stdout)["notifications_enqueued"] == 0

    assert run("notify", "deliver").exit_code == 0
    sent = tmp_path / "out" / "notifications" / "risk-team.ndjson"
    (message,) = [json.loads(line) for line in sent.read_text().splitlines()]
    assert message["event"] == "proposed_change" and message["field"] == CATEGORY
    assert "risk-rules-engine" in message["text"]
    with lineage.connect(store_url) as store:
        assert store.outbox_status()["delivered"] == 3
        actions = [e.action for e in store.audit_log()]
    assert actions.count("notify.propose") == 3


def test_notify_without_a_change_or_with_a_bad_one_writes_nothing(
        run: Any, store_url: str) -> None:
    with lineage.connect(store_url) as store:
        before = snapshot(store)
    bare = run("impact", "transactions.category", "--notify")
    assert bare.exit_code == 2 and "--notify needs --change" in bare.output
    bad = run("impact", "transactions.category", "--change", "type:nonsense", "--notify")
    assert bad.exit_code == 2
    with lineage.connect(store_url) as store:
        assert snapshot(store) == before
        assert store.outbox_status()["pending"] == 0
        assert [e.action for e in store.audit_log()] == ["register"]
