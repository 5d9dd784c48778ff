"""Round-3 held-out graphs (issues 12 and 16): graphs the earlier rounds did not build, each
answer written down before `lineage impact ... --format json` was run on it, then run through
the CLI on every reachable backend (SQLite, PostgreSQL, Neo4j: the `store_url` fixture), so
the three backends are held to one expected answer.

Each expected reach is `{key: (shortest path length, column_unknown)}`; each verdict case is
(field, change, {key: verdict}). The table of cases (expected, got before, got after) is in
the commit message that added this file.
"""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner, Result

import lineage
from lineage_cli.main import cli

# ------------------------------------------------------------------ graph A
# Column-level and dataset-level-only lineage through two jobs; one job with one output
# covered by column lineage and one not; field names with dots and non-ASCII letters; the
# same dataset name in two namespaces.
GRAPH_A = """\
namespace: a
datasets:
  - name: raw.events
    fields:
      - {name: id, type: int64, nullable: false}
      - {name: amount, type: int32}
      - {name: geo.city, type: string, nullable: false}
      - {name: größe, type: int32}
      - {name: status, type: string, allowed_values: [new, paid]}
  - name: raw.events
    namespace: b
    fields:
      - {name: amount, type: int32}
  - name: stage.clean
    fields:
      - {name: id, type: int64, nullable: false}
      - {name: amount, type: int64}
      - {name: geo.city, type: string}
  - name: stage.extra
    fields: [{name: x, type: int64}]
  - name: mart.daily
    fields: [{name: total, type: int64}]
  - name: mart.report
    fields: [{name: total_copy, type: int64}]
jobs:
  - name: j_clean
    inputs: ['dataset:a/raw.events']
    outputs: [stage.clean, stage.extra]
    derivations:
      - {from: 'field:a/raw.events.id', to: stage.clean.id, transformation: identity}
      - {from: 'field:a/raw.events.amount', to: stage.clean.amount, transformation: identity}
      - {from: 'field:a/raw.events.geo.city', to: 'field:a/stage.clean.geo.city',
         transformation: identity}
  - name: j_mart
    inputs: [stage.clean]
    outputs: [mart.daily]
derivations:
  - {from: mart.daily.total, to: mart.report.total_copy, transformation: identity}
consumers:
  - {name: c_extra, consumes: [stage.extra]}
  - {name: c_report, consumes: [mart.report.total_copy]}
  - name: c_clean
    consumes: [stage.clean]
    contracts: [{asset: stage.clean, properties: [{name: amount, physicalType: int64}]}]
  - name: c_city
    consumes: [stage.clean]
    contracts: [{asset: stage.clean, properties: [{name: geo.city, required: true}]}]
  - name: c_uni
    consumes: ['dataset:a/raw.events']
    contracts:
      - asset: 'dataset:a/raw.events'
        properties: [{name: größe, validValues: [1, 2, 3]}]
  - {name: c_b, consumes: ['dataset:b/raw.events']}
"""

_A_DOWN_CLEAN = {  # what j_clean's uncovered output and j_mart's output give (column unknown)
    "job:a/j_clean": (1, True), "dataset:a/stage.extra": (2, True),
    "field:a/stage.extra.x": (3, True), "consumer:c_extra": (3, True),
}
_A_MART = {
    "job:a/j_mart": (2, True), "dataset:a/mart.daily": (3, True),
    "field:a/mart.daily.total": (4, True), "field:a/mart.report.total_copy": (5, True),
    "consumer:c_report": (6, True),
}
#: (name, precise, expected reach)
REACH_A = [
    ("field:a/raw.events.amount", False, {
        "field:a/stage.clean.amount": (1, False), "consumer:c_clean": (2, False),
        "consumer:c_city": (2, False), "consumer:c_uni": (1, False),
        **_A_DOWN_CLEAN, **_A_MART}),
    ("field:a/raw.events.amount", True, {
        "field:a/stage.clean.amount": (1, False), "consumer:c_clean": (2, False),
        "consumer:c_city": (2, False), "consumer:c_uni": (1, False)}),
    ("field:a/raw.events.status", False, {"consumer:c_uni": (1, False), **_A_DOWN_CLEAN}),
    ("field:a/raw.events.status", True, {"consumer:c_uni": (1, False)}),
    ("events.geo.city", False, {
        "field:a/stage.clean.geo.city": (1, False), "consumer:c_clean": (2, False),
        "consumer:c_city": (2, False), "consumer:c_uni": (1, False),
        **_A_DOWN_CLEAN, **_A_MART}),
    ("events.größe", True, {"consumer:c_uni": (1, False)}),
    ("field:b/raw.events.amount", False, {"consumer:c_b": (1, False)}),
    # a consumer at the end: upstream is the mirror
    ("stage.clean.amount", False, {"consumer:c_clean": (1, False), "consumer:c_city": (1, False),
                                   **{k: (d - 1, u) for k, (d, u) in _A_MART.items()}}),
]
_A_UNKNOWN = {k: "unknown" for k in {**_A_DOWN_CLEAN, **_A_MART}}
#: (name, change, {key: verdict}) ; every dependent listed (nothing else may be reached)
VERDICTS_A = [
    ("field:a/raw.events.amount", "type:int64", {
        "field:a/stage.clean.amount": "compatible", "consumer:c_clean": "compatible",
        "consumer:c_city": "compatible", "consumer:c_uni": "compatible", **_A_UNKNOWN}),
    # a copy that breaks fails the job writing it: every reader of its dataset is affected,
    # whatever its contract names (c_city; first expected compatible, the store was right)
    ("field:a/raw.events.amount", "type:string", {
        "field:a/stage.clean.amount": "breaking", "consumer:c_clean": "breaking",
        "consumer:c_city": "breaking", "consumer:c_uni": "compatible", **_A_UNKNOWN}),
    ("field:a/raw.events.amount", "drop", {
        "field:a/stage.clean.amount": "breaking", "consumer:c_clean": "breaking",
        "consumer:c_city": "breaking", "consumer:c_uni": "compatible", **_A_UNKNOWN}),
    ("field:a/raw.events.amount", "not_null", {
        "field:a/stage.clean.amount": "compatible", "consumer:c_clean": "compatible",
        "consumer:c_city": "compatible", "consumer:c_uni": "compatible", **_A_UNKNOWN}),
    ("events.geo.city", "rename:city", {
        "field:a/stage.clean.geo.city": "breaking", "consumer:c_clean": "breaking",
        "consumer:c_city": "breaking", "consumer:c_uni": "compatible", **_A_UNKNOWN}),
    ("events.geo.city", "nullable", {
        "field:a/stage.clean.geo.city": "compatible", "consumer:c_clean": "compatible",
        "consumer:c_city": "breaking", "consumer:c_uni": "compatible", **_A_UNKNOWN}),
    ("field:a/raw.events.id", "nullable", {
        "consumer:c_clean": "breaking", "consumer:c_city": "breaking",
        "consumer:c_uni": "compatible", "field:a/stage.clean.id": "breaking",
        **_A_UNKNOWN}),
    ("events.größe", "values:+4", {
        "consumer:c_uni": "breaking",
        **{k: "unknown" for k in _A_DOWN_CLEAN}}),
    ("events.größe", "type:string", {
        "consumer:c_uni": "breaking", **{k: "unknown" for k in _A_DOWN_CLEAN}}),
    ("events.größe", "drop", {
        "consumer:c_uni": "breaking", **{k: "unknown" for k in _A_DOWN_CLEAN}}),
    ("field:a/raw.events.status", "values:-paid", {
        "consumer:c_uni": "compatible", **{k: "unknown" for k in _A_DOWN_CLEAN}}),
]
NO_CHANGE_A = [("field:a/raw.events.amount", "type:int32"),
               ("events.geo.city", "type:string"), ("field:a/raw.events.id", "not_null")]


def _cli(url: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--store", url, *args], catch_exceptions=False)


def _json(url: str, *args: str) -> dict[str, Any]:
    result = _cli(url, *args, "--format", "json")
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def _reached(answer: dict[str, Any]) -> dict[str, tuple[int, bool]]:
    return {a["key"]: (len(a["path"]) - 1, a["column_unknown"])
            for items in answer["affected"].values() for a in items}


def _verdicts(answer: dict[str, Any]) -> dict[str, str]:
    return {a["key"]: a["verdict"] for items in answer["affected"].values() for a in items}


def _wrong_reach(url: str, cases: list[tuple[str, bool, dict[str, tuple[int, bool]]]],
                 command: str = "impact") -> list[str]:
    wrong = []
    for name, precise, want in cases:
        got = _reached(_json(url, command, name, *(["--precise"] if precise else [])))
        if got != want:
            diff = sorted((k, want.get(k), got.get(k)) for k in want.keys() | got.keys()
                          if want.get(k) != got.get(k))
            wrong.append(f"{command} {name} precise={precise}: (key, expected, got) {diff}")
    return wrong


def _wrong_verdicts(url: str, cases: list[tuple[str, str, dict[str, str]]],
                    unchanged: list[tuple[str, str]]) -> list[str]:
    wrong = []
    for name, change, want in cases:
        answer = _json(url, "impact", name, "--change", change)
        got = _verdicts(answer)
        if got != want:
            diff = sorted((k, want.get(k), got.get(k)) for k in want.keys() | got.keys()
                          if want.get(k) != got.get(k))
            wrong.append(f"{name} --change {change}: (key, expected, got) {diff}")
    for name, change in unchanged:
        if _json(url, "impact", name, "--change", change)["no_change"] is not True:
            wrong.append(f"{name} --change {change}: expected no change")
    return wrong


def _registered(url: str, manifest: str) -> str:
    with lineage.connect(url) as store:
        lineage.manifest.register_text(store, manifest)
    return url


def test_graph_a_mixed_column_and_dataset_level_reach_is_exact(store_url: str) -> None:
    url = _registered(store_url, GRAPH_A)
    assert _wrong_reach(url, REACH_A) == []


def test_graph_a_verdicts_are_what_a_careful_engineer_expects(store_url: str) -> None:
    url = _registered(store_url, GRAPH_A)
    assert _wrong_verdicts(url, VERDICTS_A, NO_CHANGE_A) == []


def test_graph_a_a_short_name_in_two_namespaces_is_ambiguous_and_lists_both(
        store_url: str) -> None:
    url = _registered(store_url, GRAPH_A)
    result = _cli(url, "impact", "events.amount")
    assert result.exit_code == 4, result.output
    assert "field:a/raw.events.amount" in result.output
    assert "field:b/raw.events.amount" in result.output
