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
