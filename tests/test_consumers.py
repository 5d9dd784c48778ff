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
        ("file", "sre-payments.ndjson")]
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
    # a widening: compatible for risk-rules-engine (nothing to announce), unknown for the
    # two consumers behind the scoring job (no column lineage): they are told it may break
    widen = run("impact", "transactions.category", "--change", "type:int64", "--notify",
                "--format", "json")
    assert json.loads(widen.stdout)["notifications_enqueued"] == 2

    assert run("notify", "deliver").exit_code == 0
    sent = tmp_path / "out" / "notifications" / "risk-team.ndjson"
    (message,) = [json.loads(line) for line in sent.read_text().splitlines()]
    assert message["event"] == "proposed_change" and message["field"] == CATEGORY
    assert "risk-rules-engine" in message["text"]
    dashboard = tmp_path / "out" / "notifications" / "risk-analytics.ndjson"
    told = [json.loads(line) for line in dashboard.read_text().splitlines()]
    assert sorted(m["verdict"]["verdict"] for m in told) == ["breaking", "unknown"]
    with lineage.connect(store_url) as store:
        assert store.outbox_status()["delivered"] == 5
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


def _answer(closure: lineage.Closure) -> list[tuple[Any, ...]]:
    return [(r.node.key, r.depth, [(e, n.key) for e, n in r.path],
             None if r.through is None else r.through.key) for r in closure.reached]


@pytest.mark.parametrize("depth", [None, 1, 2])
def test_dataset_consumers_added_to_a_walk_table_equal_those_added_to_built_objects(
        fraud_store: lineage.Store, depth: int | None) -> None:
    """`impact` adds dataset consumers to the closure's columns (a hub's 10^5 `Reached`
    objects are not built for it); the answer is the one the object path gives: same nodes,
    depths, paths, `through`, order."""
    from lineage.impact import with_dataset_consumers

    fields = fraud_store.find("", [lineage.NodeKind.FIELD], 1000)
    assert len(fields) > 5
    added = 0
    for ref in [*fields, *fraud_store.find("public.", [lineage.NodeKind.DATASET], 100)]:
        lazy = with_dataset_consumers(fraud_store, fraud_store.downstream(ref.key, depth))
        built = fraud_store.downstream(ref.key, depth)
        built.reached  # noqa: B018 - the Reached objects first: the other code path
        with_dataset_consumers(fraud_store, built)
        assert _answer(lazy) == _answer(built), ref.key
        assert len(lazy) == len(built) and lazy.keys() == built.keys()
        added += sum(r.through is not None for r in lazy.reached)
    assert added > 0  # the example's consumers read datasets: the additions were exercised


def test_a_dataset_consumer_takes_its_place_by_depth_then_key_among_the_walk(
        store: lineage.Store) -> None:
    """A consumer of the start's dataset is one step away: it comes before the fields two
    steps downstream, whichever way the closure holds its nodes."""
    from lineage.impact import impact

    lineage.manifest.register_text(store, """\
namespace: pg
datasets:
  - name: raw.a
    fields: [{name: x, type: int64}]
  - name: stg.b
    fields: [{name: y, type: int64}]
  - name: mart.c
    fields: [{name: z, type: int64}]
derivations:
  - {from: raw.a.x, to: stg.b.y, transformation: identity}
  - {from: stg.b.y, to: mart.c.z, transformation: identity}
consumers:
  - name: a-reader
    consumes: [raw.a]
  - name: b-field-reader
    consumes: [stg.b.y]
""")
    # the walk reaches b-field-reader (depth 2) before a-reader is added (depth 1)
    first = impact(store, "raw.a.x").first(lineage.NodeKind.CONSUMER, 5)
    assert [(r.depth, r.node.key) for r in first] == [
        (1, "consumer:a-reader"), (2, "consumer:b-field-reader")]
    report = impact(store, "raw.a.x")
    assert [(r.depth, r.node.key) for r in report.closure.reached] == [
        (1, "consumer:a-reader"), (1, "field:pg/stg.b.y"), (2, "consumer:b-field-reader"),
        (2, "field:pg/mart.c.z")]
    reader = report.closure.reached[0]
    assert reader.through is not None and reader.through.key == "dataset:pg/raw.a"
    assert [n.key for _, n in reader.path] == ["field:pg/raw.a.x", "consumer:a-reader"]


@pytest.mark.parametrize("limit", [1, 2, 50])
def test_the_first_dependents_of_a_kind_are_those_the_full_grouping_starts_with(
        fraud_store: lineage.Store, limit: int) -> None:
    """`lineage impact` shows the first --limit rows of each kind, built alone from the walk's
    columns; they are the rows the full grouping starts with, paths and `through` included,
    and the counts are the full grouping's."""
    from lineage.impact import impact

    for ref in fraud_store.find("", [lineage.NodeKind.FIELD, lineage.NodeKind.DATASET], 1000):
        lazy, full = impact(fraud_store, ref.key), impact(fraud_store, ref.key)
        groups = full.groups
        assert lazy.counts() == {kind.value: len(items) for kind, items in groups.items()}
        for kind, items in groups.items():
            first = lazy.first(kind, limit)
            assert [(r.node, r.depth, r.path, r.through) for r in first] == [
                (r.node, r.depth, r.path, r.through) for r in items[:limit]], (ref.key, kind)
        assert lazy.closure.table is not None  # nothing built for the whole closure
