"""Impact across jobs and models that record no column lineage (issue 12, item 1).

A job that reads a dataset and writes another without field-level derivations (table-level
lineage, as most producers send it) may use any column: impact crosses it at dataset level
and marks what it reaches "column unknown" (verdict `unknown`, never `compatible`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner

import lineage
from lineage import Store
from lineage.impact import change_impact, downstream, impact, upstream
from lineage.render import subgraph, to_dot
from lineage_cli.main import cli

from .conftest import nodes_read_whole
from .test_server import Served, served  # noqa: F401  (the running-server fixture)

SESSIONS = """\
namespace: pg
datasets:
  - name: raw.events
    fields: [{name: a, type: int32}, {name: b, type: int32}]
  - name: mart.sessions
    fields: [{name: q, type: int64}]
  - name: mart.other
    fields: [{name: x, type: int64}]
  - name: mart.after
    fields: [{name: z, type: int64}]
jobs:
  - name: sessionize
    inputs: [raw.events]
    outputs: [mart.sessions, mart.other]
    derivations:
      - {from: events.a, to: other.x, transformation: identity}
derivations:
  - {from: sessions.q, to: after.z, transformation: identity}
consumers:
  - name: dash
    consumes: [sessions.q]
"""
B = "field:pg/raw.events.b"
Q = "field:pg/mart.sessions.q"
JOB = "job:pg/sessionize"


def _reached(report: lineage.ImpactReport) -> dict[str, lineage.Reached]:
    return {r.node.key: r for r in report.closure.reached}


def test_impact_crosses_a_job_without_column_lineage_marked_column_unknown(store: Store) -> None:
    lineage.manifest.register_text(store, SESSIONS)
    report = impact(store, "events.b")
    reached = _reached(report)
    assert {JOB, "dataset:pg/mart.sessions", Q, "field:pg/mart.after.z",
            "consumer:dash"} <= set(reached)
    assert all(r.column_unknown for r in reached.values())
    assert [n.key for _, n in reached[Q].path] == [B, JOB, "dataset:pg/mart.sessions", Q]
    assert reached[JOB].through is not None
    assert reached[JOB].through.key == "dataset:pg/raw.events"
    # mart.other has column lineage from raw.events (a -> x): it does not fall back
    assert "dataset:pg/mart.other" not in reached and "field:pg/mart.other.x" not in reached
    data = report.to_dict()
    assert data["column_unknown"] == len(reached)
    assert all(item["column_unknown"] for items in data["affected"].values() for item in items)


def test_impact_keeps_column_level_reach_precise_beside_the_fallback(store: Store) -> None:
    lineage.manifest.register_text(store, SESSIONS)
    reached = _reached(impact(store, "events.a"))
    assert not reached["field:pg/mart.other.x"].column_unknown  # its own column lineage
    assert reached[Q].column_unknown  # mart.sessions has none from raw.events


def test_impact_precise_shows_only_column_level_reach(store: Store) -> None:
    lineage.manifest.register_text(store, SESSIONS)
    assert impact(store, "events.b", precise=True).closure.reached == []
    precise = _reached(impact(store, "events.a", precise=True))
    assert set(precise) == {"field:pg/mart.other.x"}


def test_change_through_dataset_level_lineage_is_unknown_never_compatible(store: Store) -> None:
    lineage.manifest.register_text(store, SESSIONS)
    report = change_impact(store, "events.b", ["type:int64"])  # a widening: would be compatible
    verdicts = {j.node.key: j for j in report.judged}
    assert {JOB, Q, "consumer:dash", "field:pg/mart.after.z"} <= set(verdicts)
    assert all(j.verdict == "unknown" and j.column_unknown for j in verdicts.values())
    assert "column unknown" in verdicts["consumer:dash"].reason
    assert report.to_dict()["column_unknown"] == len(verdicts)
    assert change_impact(store, "events.b", ["type:int64"], precise=True).judged == []


def test_a_column_level_dependent_also_reached_at_dataset_level_is_at_least_unknown(
        store: Store) -> None:
    """x is an identity copy of a (compatible under widening) and also downstream of
    mart.sessions, which the job fills from raw.events without column lineage."""
    lineage.manifest.register_text(store, SESSIONS + """\
  - name: also
    consumes: [other.x]
""".replace("consumers:\n", "consumers:\n", 1))
    lineage.manifest.register_text(store, """\
namespace: pg
derivations:
  - {from: sessions.q, to: other.x, transformation: identity}
""")
    report = change_impact(store, "events.a", ["type:int64"])
    x = next(j for j in report.judged if j.node.key == "field:pg/mart.other.x")
    assert not x.column_unknown and x.verdict == "unknown"


def test_fraud_scores_are_reached_through_the_scoring_job_without_column_lineage(
        fraud_store: Store) -> None:
    """scoring.fraud_batch reads user_features and writes fraud.scores with no derivations."""
    reached = _reached(impact(fraud_store, "transactions.category"))
    job = "job:airflow://scheduler.prod/scoring.fraud_batch"
    version = "field:s3://ml-warehouse/fraud.scores.model_version"
    assert reached[job].column_unknown and reached[version].column_unknown
    assert not reached["model_version:fraud@3"].column_unknown
    assert "model_version:fraud@1" not in reached  # its features cover user_features


def test_a_model_trained_on_a_dataset_without_column_inputs_is_reached(
        fraud_store: Store) -> None:
    """fraud@1..3 train on fraud.labels@2026-03 but use none of its fields as features."""
    report = change_impact(fraud_store, "fraud.labels.is_fraud", ["type:string"])
    verdicts = {j.node.key: j for j in report.judged}
    for version in ("fraud@1", "fraud@2", "fraud@3"):
        judged = verdicts[f"model_version:{version}"]
        assert judged.verdict == "unknown" and judged.column_unknown
        assert judged.path[1][0] is lineage.EdgeKind.TRAINED_ON
    assert "consumer:risk-rules-engine" in verdicts


def test_impact_table_and_json_mark_dataset_level_dependents(store_url: str) -> None:
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(cli, ["--store", store_url, *args], catch_exceptions=False)

    with lineage.connect(store_url) as store:
        lineage.manifest.register_text(store, SESSIONS)
    table = run("impact", "events.b")
    assert table.exit_code == 0, table.output
    assert "sessions.q *" in table.stdout
    assert "reached only through dataset-level lineage, column unknown" in table.stdout
    data = json.loads(run("impact", "events.b", "--format", "json").stdout)
    assert data["column_unknown"] == 5 and data["precise"] is False
    precise = run("impact", "events.b", "--precise")
    assert "nothing downstream" in precise.stdout
    judged = run("impact", "events.b", "--change", "type:int64")
    assert "unknown" in judged.stdout and "column unknown" in judged.stdout


def test_impact_over_http_marks_dataset_level_dependents(served: Served) -> None:  # noqa: F811
    lineage.manifest.register_text(served.store, SESSIONS)
    report = served.get("/api/v1/impact", params={"field": "events.b"}).json()
    q = next(r for r in report["affected"]["field"] if r["key"] == Q)
    assert q["column_unknown"] is True
    precise = served.get("/api/v1/impact", params={"field": "events.b", "precise": "true"})
    assert precise.json()["affected"] == {}
    judged = served.get("/api/v1/impact", params={"field": "events.b",
                                                   "change": ["type:int64"]}).json()
    assert {j["verdict"] for items in judged["affected"].values() for j in items} == {"unknown"}
    graph = served.get("/api/v1/lineage/graph", params={"node": "events.b"}).json()
    assert {n["key"]: n["column_unknown"] for n in graph["nodes"]}[Q] is True
    assert isinstance(served.client, httpx.Client)


def test_the_picture_draws_dataset_level_reach_dashed(store: Store, tmp_path: Path) -> None:
    lineage.manifest.register_text(store, SESSIONS)
    start, nodes, edges, unknown = subgraph(store, "events.b")
    assert Q in unknown and JOB in unknown
    crossing = [e for e in edges if e.properties.get("column_unknown")]
    assert [(e.src, e.dst) for e in crossing] == [(B, JOB)]
    source = to_dot(start, nodes, edges, unknown).source
    assert "column unknown" in source and "dashed" in source


def test_upstream_and_downstream_agree_across_dataset_level_lineage(fraud_store: Store) -> None:
    """A field is upstream of Z exactly when Z is downstream of it, both with the fallback:
    checked for every field and every node of the fraud example and the sessions graph."""
    lineage.manifest.register_text(fraud_store, SESSIONS)
    # a consumer of a whole dataset the fallback reaches: it depends on each of its fields
    lineage.manifest.register_text(fraud_store, "namespace: pg\nconsumers:\n"
                                                "  - {name: board, consumes: [mart.after]}\n")
    every = [r.key for r in fraud_store.find("", None, 10_000)]
    fields = [k for k in every if k.startswith("field:")]
    down = {x: downstream(fraud_store, x) for x in fields}
    up = {z: upstream(fraud_store, z) for z in every}
    assert B in up[Q].keys() and up[Q].keys() - upstream(
        fraud_store, Q, precise=True).keys() == {B, "field:pg/raw.events.a"}
    board = {r.node.key: r for r in up["consumer:board"]}
    assert board["field:pg/mart.after.z"].through is not None
    assert not board[Q].column_unknown and board[B].column_unknown
    assert [(x, z) for x in fields for z in every
            if z != x and (z in down[x].keys()) != (x in up[z].keys())] == []
    marks = {(x, r.node.key): r.column_unknown for x in fields for r in down[x]}
    assert [(r.node.key, z) for z in every for r in up[z] if r.node.key in down
            and marks[(r.node.key, z)] != r.column_unknown] == []


def test_cli_upstream_marks_fields_reached_through_a_job_without_column_lineage(
        store_url: str) -> None:
    with lineage.connect(store_url) as store:
        lineage.manifest.register_text(store, SESSIONS)
    runner = CliRunner()
    out = runner.invoke(cli, ["--store", store_url, "upstream", "sessions.q"]).stdout
    assert f"{B} *" in out and "column unknown" in out
    data = json.loads(runner.invoke(cli, ["--store", store_url, "upstream", "sessions.q",
                                          "--precise", "--format", "json"]).stdout)
    assert B not in {r["key"] for r in data["reached"]}
    down = json.loads(runner.invoke(cli, ["--store", store_url, "downstream", "events.b",
                                          "--format", "json"]).stdout)
    assert {r["key"]: r["column_unknown"] for r in down["reached"]}[Q] is True


def test_consumers_reached_through_dataset_level_lineage_are_marked(store: Store) -> None:
    from lineage.consumers import consumers

    lineage.manifest.register_text(store, SESSIONS)
    (dash,) = consumers(store, "events.b")
    assert dash.consumer.key == "consumer:dash" and dash.to_dict()["column_unknown"] is True


def test_store_impact_takes_precise_too(store: Store) -> None:
    lineage.manifest.register_text(store, SESSIONS)
    assert store.impact("events.b").closure.reached  # type: ignore[union-attr]
    assert store.impact("events.b", precise=True).closure.reached == []  # type: ignore[union-attr]
    assert store.impact("events.b", "type:int64", precise=True).judged == []  # type: ignore[union-attr]


def test_the_upward_picture_draws_dataset_level_sources_dashed(store: Store) -> None:
    lineage.manifest.register_text(store, SESSIONS)
    start, nodes, edges, unknown = subgraph(store, "sessions.q", "up")
    assert B in unknown and B in {n.key for n in nodes}
    assert (B, JOB) in [(e.src, e.dst) for e in edges if e.properties.get("column_unknown")]


def _with_checks(store: Store, key: str, checks: dict[str, dict[str, Any]]) -> None:
    """Record quality checks on a node as OpenLineage ingest keeps them."""
    node = store.node(key)
    batch = lineage.GraphBatch()
    batch.add_node(key, node.name, node.namespace, quality_checks=checks)
    store.apply(batch, merge=lambda _k, stored, given: {**stored, **given})


def test_impact_lists_the_quality_checks_of_everything_it_reaches(
        served: Served) -> None:  # noqa: F811
    """The checks of the start and of every field and dataset reached, in the report
    itself: the CLI and the HTTP API print the same list."""
    store = served.store
    lineage.manifest.register_text(store, SESSIONS)
    _with_checks(store, "field:pg/raw.events.a", {"t1": {
        "assertion": "not_null", "success": True, "column": "a"}})
    _with_checks(store, "field:pg/mart.other.x", {"t2": {
        "assertion": "accepted_values", "success": False, "column": "x"}})
    _with_checks(store, "field:pg/raw.events.b", {"t3": {  # not reached from events.a
        "assertion": "unique", "success": True, "column": "b"}})
    report = impact(store, "events.a")
    assert [(c["on"], c["assertion"]) for c in report.quality_checks] == [
        ("field:pg/mart.other.x", "accepted_values"),  # failing first
        ("field:pg/raw.events.a", "not_null")]
    url = store.shared_url()
    assert url is not None
    data = json.loads(CliRunner().invoke(cli, ["--store", url, "impact", "events.a",
                                               "--format", "json"]).output)
    assert data["quality_checks"] == report.quality_checks
    table = CliRunner().invoke(cli, ["--store", url, "impact", "events.a"]).output
    assert "accepted_values" in table and "not_null" in table and "unique" not in table
    answer = served.get("/api/v1/impact?field=events.a").json()
    assert answer["quality_checks"] == report.quality_checks


def test_an_impact_reports_dict_reads_quality_checks_from_the_walk_not_every_node_whole(
        store: Store, monkeypatch: Any) -> None:
    """`to_dict` (the JSON of `lineage impact` and of the API) builds the rows; the checks
    are read before, while the backend still has the walk's ids: the nodes whole only for
    the start and rows added after the walk, never for what the walk reached."""
    lineage.manifest.register_text(store, SESSIONS)
    _with_checks(store, "field:pg/mart.other.x", {"t2": {
        "assertion": "accepted_values", "success": False, "column": "x"}})
    report = impact(store, "events.a")
    walked = {r.node.key for r in store.downstream("events.a")}
    asked = nodes_read_whole(store, monkeypatch)
    data = report.to_dict()
    assert [(c["on"], c["assertion"]) for c in data["quality_checks"]] == [
        ("field:pg/mart.other.x", "accepted_values")]
    assert "field:pg/mart.other.x" in walked
    assert not walked & set(asked), sorted(walked & set(asked))
