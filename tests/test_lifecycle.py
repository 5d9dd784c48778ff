"""Lifecycle: deprecate, delete (soft), and register --prune, on every backend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

import lineage
import lineage.manifest
from lineage import Store
from lineage.impact import change_impact, impact
from lineage.lifecycle import delete, deprecate
from lineage.notify import notify_change
from lineage_cli.main import cli

from .conftest import EXAMPLE, snapshot

ALERTING = "consumer:alerting-service"
DASHBOARD = "consumer:fraud-dashboard"


def cli_run(store: Store, *args: Any) -> Result:
    """`lineage --store <the store's URL> ARGS...`, in-process."""
    url = store.shared_url()
    assert url is not None
    return CliRunner().invoke(cli, ["--store", url, *(str(a) for a in args)],
                              catch_exceptions=False)


def test_delete_marks_the_node_and_keeps_it_with_its_edges(fraud_store: Store) -> None:
    before = {e.kind for e, _ in fraud_store.neighbours(ALERTING)}
    result = delete(fraud_store, "alerting-service", "decommissioned", "local:ana")
    assert result.marked == [ALERTING] and not result.unchanged
    props = fraud_store.node(ALERTING).properties
    assert props["lifecycle"] == "deleted" and props["lifecycle_by"] == "local:ana"
    assert props["lifecycle_reason"] == "decommissioned" and props["lifecycle_at"]
    assert props["owner"] == "sre-payments"  # the rest of the node is kept
    assert {e.kind for e, _ in fraud_store.neighbours(ALERTING)} == before
    again = delete(fraud_store, "alerting-service", "again", "local:bob")
    assert again.unchanged and fraud_store.node(ALERTING).properties["lifecycle_by"] == "local:ana"


def test_deleting_a_dataset_marks_its_fields_and_versions(fraud_store: Store) -> None:
    result = delete(fraud_store, "public.transactions", None, "local:ana")
    marked = set(result.marked)
    assert any(k.startswith("field:") and k.endswith("transactions.category") for k in marked)
    assert any(k.startswith("dataset_version:") for k in marked)
    nodes = fraud_store.nodes(marked)
    assert all(n.properties["lifecycle"] == "deleted" for n in nodes.values())


def test_delete_hides_the_node_from_impact_and_says_how_many(fraud_store: Store) -> None:
    assert ALERTING in impact(fraud_store, "transactions.category").closure.keys()
    delete(fraud_store, "alerting-service", None, "local:ana")
    report = impact(fraud_store, "transactions.category")
    assert ALERTING not in report.closure.keys() and report.deleted == 1
    data = report.to_dict()
    assert data["deleted_left_out"] == 1
    assert ALERTING not in {r["key"] for rows in data["affected"].values() for r in rows}
    judged = change_impact(fraud_store, "transactions.category", ["type:string"])
    assert ALERTING not in {j.node.key for j in judged.judged} and judged.deleted == 1
    assert judged.to_dict()["deleted_left_out"] == 1
    table = cli_run(fraud_store, "impact", "transactions.category")
    assert table.exit_code == 0 and "1 deleted node left out" in table.output
    assert "alerting-service" not in table.output


def test_a_deleted_consumer_is_never_notified(fraud_store: Store) -> None:
    delete(fraud_store, "alerting-service", None, "local:ana")
    assert notify_change(fraud_store, "transactions.category", ["type:string"]) == 2
    assert ALERTING not in {item.consumer for item in fraud_store.outbox()}


def test_deprecate_reports_where_the_node_is_still_depended_on(fraud_store: Store) -> None:
    result = deprecate(fraud_store, "fraud.scores", "use fraud.scores_v2", "local:ana")
    dependents = {r.key for r in result.dependents}
    assert {ALERTING, DASHBOARD} <= dependents
    assert fraud_store.node(result.node.key).properties["lifecycle"] == "deprecated"
    delete(fraud_store, "alerting-service", None, "local:ana")
    again = deprecate(fraud_store, "fraud.scores", None, "local:ana")
    assert again.unchanged and ALERTING not in {r.key for r in again.dependents}
    shown = cli_run(fraud_store, "deprecate", "fraud.scores", "--format", "json")
    assert shown.exit_code == 0, shown.output
    assert DASHBOARD in {d["key"] for d in json.loads(shown.output)["dependents"]}


def test_a_deprecated_node_is_still_reported_and_marked(fraud_store: Store) -> None:
    deprecate(fraud_store, "fraud-dashboard", None, "local:ana")
    data = impact(fraud_store, "transactions.category").to_dict()
    rows = {r["key"]: r for rows in data["affected"].values() for r in rows}
    assert rows[DASHBOARD]["deprecated"] is True and rows[ALERTING]["deprecated"] is False
    table = cli_run(fraud_store, "impact", "transactions.category")
    assert "fraud-dashboard (deprecated)" in table.output
    judged = change_impact(fraud_store, "transactions.category", ["type:string"]).to_dict()
    rows = {r["key"]: r for rows in judged["affected"].values() for r in rows}
    assert rows[DASHBOARD]["deprecated"] is True


def test_delete_and_deprecate_are_audited(fraud_store: Store) -> None:
    result = cli_run(fraud_store, "delete", "alerting-service", "--reason", "gone")
    assert result.exit_code == 0, result.output
    assert "deleted consumer consumer:alerting-service" in result.output
    entry = fraud_store.audit_log(limit=1)[0]
    assert entry.action == "delete" and entry.target == "alerting-service"
    assert entry.principal.startswith("local")


def test_an_unknown_name_exits_4_with_candidates_and_writes_nothing(fraud_store: Store) -> None:
    before = snapshot(fraud_store)
    result = cli_run(fraud_store, "delete", "alerting-servic")
    assert result.exit_code == 4 and "alerting-service" in result.output
    unknown = cli_run(fraud_store, "deprecate", "no.such.thing", "--format", "json")
    assert unknown.exit_code == 4 and json.loads(unknown.output)["error"] == "NotFound"
    assert snapshot(fraud_store) == before


def test_deprecating_a_deleted_node_is_a_conflict_and_writes_nothing(fraud_store: Store) -> None:
    delete(fraud_store, "alerting-service", None, "local:ana")
    before = snapshot(fraud_store)
    result = cli_run(fraud_store, "deprecate", "alerting-service")
    assert result.exit_code == 5 and "is deleted" in result.output
    assert snapshot(fraud_store) == before


def _manifests(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the example manifest (`manifest.yaml`), and its text without the
    alerting-service consumer (`smaller.yaml`), to write over the first."""
    text = EXAMPLE.read_text()
    head, cut, _ = text.partition("  - name: alerting-service")
    assert cut, "the example manifest changed: update this test"
    path = tmp_path / "manifest.yaml"
    path.write_text(text)
    smaller = tmp_path / "smaller.yaml"
    smaller.write_text(head)
    return path, smaller


def test_a_consumer_removed_from_the_manifest_stops_receiving_notifications(
        store: Store, tmp_path: Path) -> None:
    """The story: alerting-service is deleted from the manifest; register --prune retires
    it, and the next breaking change notifies only the consumers still declared."""
    path, smaller = _manifests(tmp_path)
    assert cli_run(store, "register", path).exit_code == 0
    path.write_text(smaller.read_text())
    before = snapshot(store)
    dry = cli_run(store, "register", path, "--prune", "--dry-run", "--format", "json")
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output)["retired"] == [ALERTING]
    assert snapshot(store) == before  # the dry run wrote nothing
    done = cli_run(store, "register", path, "--prune")
    assert done.exit_code == 0, done.output
    assert "retired 1 node" in done.output and ALERTING in done.output
    props = store.node(ALERTING).properties
    assert props["lifecycle"] == "deleted" and "manifest.yaml" in props["lifecycle_reason"]
    assert ALERTING in store.exists([ALERTING])  # history kept
    assert notify_change(store, "transactions.category", ["type:string"]) == 2
    assert ALERTING not in {item.consumer for item in store.outbox()}
    again = cli_run(store, "register", path, "--prune", "--format", "json")
    assert json.loads(again.output)["retired"] == []


def test_prune_keeps_what_another_manifest_still_declares(store: Store, tmp_path: Path) -> None:
    path, smaller = _manifests(tmp_path)
    lineage.register(store, path)
    other = tmp_path / "other.yaml"
    other.write_text("consumers:\n  - name: alerting-service\n    owner: sre-payments\n"
                     "    consumes: [fraud.scores.score]\n")
    lineage.register(store, other)
    path.write_text(smaller.read_text())
    pruned = lineage.manifest.register_pruning(store, path, principal="local:ana")
    assert pruned.retired == [] and pruned.released == [ALERTING]
    node = store.node(ALERTING)
    assert "lifecycle" not in node.properties
    assert node.properties["declared_by"] == [str(other)]


def test_declaring_a_deleted_node_again_brings_it_back(store: Store, tmp_path: Path) -> None:
    path, _ = _manifests(tmp_path)
    lineage.register(store, path)
    delete(store, "alerting-service", None, "local:ana")
    deprecate(store, "fraud-dashboard", None, "local:ana")
    lineage.register(store, path)
    assert "lifecycle" not in store.node(ALERTING).properties
    assert store.node(DASHBOARD).properties["lifecycle"] == "deprecated"  # kept


def test_dry_run_without_prune_is_a_usage_error(store: Store, tmp_path: Path) -> None:
    path, _ = _manifests(tmp_path)
    result = cli_run(store, "register", path, "--dry-run")
    assert result.exit_code == 2 and "--prune" in result.output
    assert not store.find("")


def test_a_bad_manifest_under_prune_writes_nothing(store: Store, tmp_path: Path) -> None:
    path, _ = _manifests(tmp_path)
    lineage.register(store, path)
    before = snapshot(store)
    path.write_text("consumers:\n  - name: x\n    consumes: [no.such.dataset]\n")
    result = cli_run(store, "register", path, "--prune")
    assert result.exit_code == 2 and "no.such.dataset" in result.output
    assert snapshot(store) == before


def test_deleting_a_model_marks_its_versions(fraud_store: Store) -> None:
    result = delete(fraud_store, "model:fraud", None, "local:ana")
    assert {"model:fraud", "model_version:fraud@2", "model_version:fraud@3"} <= set(result.marked)


def test_lifecycle_states_names_only_retired_nodes(fraud_store: Store) -> None:
    delete(fraud_store, "alerting-service", None, "local:ana")
    deprecate(fraud_store, "fraud-dashboard", None, "local:ana")
    states = fraud_store.lifecycle_states(
        [ALERTING, DASHBOARD, "consumer:risk-rules-engine", "consumer:nobody"])
    assert states == {ALERTING: "deleted", DASHBOARD: "deprecated"}
    assert fraud_store.lifecycle_states([]) == {}


# A deleted node cuts the walk: what is reachable only through it is no longer downstream.
# src.a -> mid.b -> out.c (consumed by out-dash), mid.b consumed by mid-dash; src.a -> kept.k
# -> both.d <- mid.b (both.d stays: a live path reaches it). stage.mid is deleted.
THROUGH_DELETED = """\
namespace: pg
datasets:
  - name: raw.src
    fields: [{name: a, type: int64}]
  - name: stage.mid
    fields: [{name: b, type: int64}]
  - name: mart.out
    fields: [{name: c, type: int64}]
  - name: mart.kept
    fields: [{name: k, type: int64}]
  - name: mart.both
    fields: [{name: d, type: int64}]
derivations:
  - {from: src.a, to: mid.b, transformation: identity}
  - {from: mid.b, to: out.c, transformation: identity}
  - {from: src.a, to: kept.k, transformation: identity}
  - {from: kept.k, to: both.d, transformation: identity}
  - {from: mid.b, to: both.d, transformation: identity}
consumers:
  - name: out-dash
    consumes: [out.c]
    channels: [{kind: file, path: out-dash.ndjson}]
  - name: mid-dash
    consumes: [mid.b]
    channels: [{kind: file, path: mid-dash.ndjson}]
  - name: both-dash
    consumes: [both.d]
    channels: [{kind: file, path: both-dash.ndjson}]
"""
_CUT = {"field:pg/stage.mid.b", "field:pg/mart.out.c", "consumer:out-dash", "consumer:mid-dash"}
_KEPT = {"field:pg/mart.kept.k", "field:pg/mart.both.d", "consumer:both-dash"}


def test_impact_leaves_out_what_only_a_deleted_node_reaches(store: Store) -> None:
    lineage.manifest.register_text(store, THROUGH_DELETED)
    assert _CUT | _KEPT <= impact(store, "src.a").closure.keys()
    delete(store, "stage.mid", "retired", "local:ana")
    report = impact(store, "src.a")
    keys = report.closure.keys()
    assert not keys & _CUT and _KEPT <= keys
    assert report.deleted == 1  # mid.b, met and cut; what lies behind it is not counted
    both = report.closure.get("field:pg/mart.both.d")
    assert both is not None and [n.key for _, n in both.path] == [
        "field:pg/raw.src.a", "field:pg/mart.kept.k", "field:pg/mart.both.d"]
    judged = change_impact(store, "src.a", ["type:string"])
    assert not {j.node.key for j in judged.judged} & _CUT and judged.deleted == 1
    assert _KEPT <= {j.node.key for j in judged.judged}
    assert notify_change(store, "src.a", ["type:string"]) == 1
    assert {item.consumer for item in store.outbox()} == {"consumer:both-dash"}


def test_a_deleted_node_cuts_the_walk_read_level_by_level_column_wise(
        store: Store, monkeypatch: Any) -> None:
    """The same cut when SQLite reads every level the hub's wide way (forced here)."""
    import lineage.store.sql.graph as sql_graph

    monkeypatch.setattr(sql_graph, "_WIDE_FRONTIER", 1)
    lineage.manifest.register_text(store, THROUGH_DELETED)
    delete(store, "stage.mid", None, "local:ana")
    closure = store.downstream("src.a", skip_deleted=True)
    assert not closure.keys() & _CUT and {"field:pg/mart.kept.k", "field:pg/mart.both.d",
                                          "consumer:both-dash"} <= closure.keys()
    assert closure.retired == {"field:pg/stage.mid.b": "deleted"}
    deprecate(store, "mart.kept", None, "local:ana")
    marked = store.downstream("src.a", skip_deleted=True).retired
    assert marked["field:pg/mart.kept.k"] == "deprecated"
    assert _CUT <= store.downstream("src.a").keys()  # without skip_deleted: the whole graph


def test_the_directions_agree_when_a_deleted_node_cuts_the_walk(store: Store) -> None:
    from lineage.impact import downstream, upstream

    lineage.manifest.register_text(store, THROUGH_DELETED)
    delete(store, "stage.mid", None, "local:ana")
    assert "field:pg/mart.out.c" not in downstream(store, "src.a").keys()
    assert "field:pg/raw.src.a" not in upstream(store, "out.c").keys()
    assert "field:pg/raw.src.a" in upstream(store, "both.d").keys()


def test_impact_of_a_deleted_node_still_walks_from_it(store: Store) -> None:
    """Asking about the deleted node itself answers what depended on it (the start is
    never cut): the question is explicit."""
    lineage.manifest.register_text(store, THROUGH_DELETED)
    delete(store, "stage.mid", None, "local:ana")
    assert {"field:pg/mart.out.c", "consumer:mid-dash"} <= impact(store, "mid.b").closure.keys()


def test_a_deleted_job_cuts_the_dataset_level_fallback(store: Store) -> None:
    lineage.manifest.register_text(store, """\
namespace: pg
datasets:
  - name: raw.events
    fields: [{name: b, type: int32}]
  - name: mart.sessions
    fields: [{name: q, type: int64}]
jobs:
  - name: sessionize
    inputs: [raw.events]
    outputs: [mart.sessions]
""")
    assert "field:pg/mart.sessions.q" in impact(store, "events.b").closure.keys()
    delete(store, "job:pg/sessionize", None, "local:ana")
    report = impact(store, "events.b")
    assert report.closure.keys() == set() and report.deleted == 1
    assert change_impact(store, "events.b", ["drop"]).judged == []


def test_consumers_and_show_hide_deleted_nodes_unless_asked(fraud_store: Store) -> None:
    delete(fraud_store, "alerting-service", None, "local:ana")
    deprecate(fraud_store, "fraud-dashboard", None, "local:ana")
    listed = cli_run(fraud_store, "consumers")
    assert listed.exit_code == 0, listed.output
    assert "alerting-service" not in listed.output
    assert "fraud-dashboard (deprecated)" in listed.output
    every = json.loads(cli_run(fraud_store, "consumers", "--deleted", "--format",
                               "json").output)["consumers"]
    assert {c["key"]: c["state"] for c in every}[ALERTING] == "deleted"
    assert "alerting-service (deleted)" in cli_run(fraud_store, "consumers",
                                                   "--deleted").output
    assert ALERTING not in {c["key"] for c in json.loads(cli_run(
        fraud_store, "consumers", "fraud.scores", "--format", "json").output)["consumers"]}
    deprecate(fraud_store, "fraud.scores.score", None, "local:ana")
    shown = cli_run(fraud_store, "show", "fraud.scores")
    assert shown.exit_code == 0, shown.output
    assert ALERTING not in shown.output and "1 edge to deleted nodes left out" in shown.output
    assert "(deprecated)" in shown.output  # the name column may wrap
    data = json.loads(cli_run(fraud_store, "show", "fraud.scores", "--format", "json").output)
    assert data["deleted_left_out"] == 1
    states = {e["key"]: e["state"] for e in data["outgoing"]}
    assert states["field:s3://ml-warehouse/fraud.scores.score"] == "deprecated"
    assert ALERTING not in {e["key"] for e in data["outgoing"]}
    full = json.loads(cli_run(fraud_store, "show", "fraud.scores", "--deleted", "--format",
                              "json").output)
    assert {e["key"]: e["state"] for e in full["outgoing"]}[ALERTING] == "deleted"
    assert "--deleted" in cli_run(fraud_store, "show", "--help").output
    assert "--deleted" in cli_run(fraud_store, "consumers", "--help").output
