"""The `lineage` command: what people and scripts see, on every backend.

Each test drives the click app with `--store` pointing at the `store_url` fixture, so it runs
on SQLite and (when LINEAGE_TEST_POSTGRES_URL is set) PostgreSQL. One test runs the installed
`lineage` program in a real subprocess.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

import lineage
from lineage_cli.main import cli

from .conftest import EXAMPLE, snapshot

Run = Callable[..., Result]

CATEGORY = "field:postgres://db.prod:5432/public.transactions.category"
CONSUMERS = {"risk-rules-engine", "fraud-dashboard", "alerting-service"}


@pytest.fixture
def run(store_url: str) -> Run:
    """Invoke `lineage --store <store_url> ARGS...` in-process; stdout and stderr apart."""
    runner = CliRunner()

    def invoke(*args: Any, env: dict[str, str] | None = None) -> Result:
        return runner.invoke(cli, ["--store", store_url, *(str(a) for a in args)], env=env,
                             catch_exceptions=False)

    return invoke


@pytest.fixture
def registered(run: Run) -> Run:
    """`run`, on a store holding the example fraud pipeline (registered through the CLI)."""
    result = run("register", EXAMPLE)
    assert result.exit_code == 0, result.output
    return run


@pytest.fixture
def stored(store_url: str) -> Iterator[Callable[[], dict[str, object]]]:
    """A function returning a snapshot of everything the store at `store_url` holds."""
    def take() -> dict[str, object]:
        with lineage.connect(store_url) as s:
            return snapshot(s)

    yield take


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # JSON is the only thing on stdout


def assert_clean_error(result: Result, code: int) -> str:
    """An expected error: its exit code, `error: ...` on stderr, nothing on stdout."""
    assert result.exit_code == code, result.output
    assert result.stderr.startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""
    return result.stderr


# ------------------------------------------------------------------ register


def test_register_reports_what_it_created(run: Run) -> None:
    result = run("register", EXAMPLE)
    assert result.exit_code == 0, result.output
    assert "registered" in result.stdout
    assert "nodes created" in result.stdout and "edges created" in result.stdout


def test_registering_the_same_manifest_again_prints_nothing_changed(registered: Run,
                                                                    stored: Any) -> None:
    before = stored()
    result = registered("register", EXAMPLE)
    assert result.exit_code == 0, result.output
    assert "nothing changed" in result.stdout
    assert stored() == before


def test_register_json_gives_the_counts_of_what_changed(run: Run) -> None:
    first = as_json(run("register", EXAMPLE, "--format", "json"))
    assert first["changed"] is True and first["nodes_created"] > 0 and first["edges_created"] > 0
    again = as_json(run("register", EXAMPLE, "--format", "json"))
    assert again["changed"] is False
    assert again["nodes_created"] == again["edges_created"] == 0


# ------------------------------------------------ bad input leaves the store as it was

BAD_MANIFESTS = {
    "malformed_yaml": (
        "datasets:\n  - name: new.things\n    fields: [{name: x, type: int}\n  - name: c\n",
        [r"bad\.yaml:\d+", "malformed YAML"],
    ),
    "unknown_reference": (
        "datasets:\n  - name: new.things\n    fields: [{name: x, type: int}]\n"
        "jobs:\n  - name: j\n    inputs: [public.transactionz]\n",
        [r"bad\.yaml:6", re.escape("jobs[0].inputs[0]"), "public.transactionz",
         "did you mean '.*public.transactions'"],
    ),
    "bad_field_type": (
        "datasets:\n  - name: new.things\n    fields:\n      - {name: x, type: integr}\n",
        [r"bad\.yaml:4", re.escape("datasets[0].fields[0].type"), "integr",
         "did you mean 'integer'"],
    ),
    "duplicate_field": (
        "datasets:\n  - name: new.things\n    fields:\n      - {name: x, type: int}\n"
        "      - {name: x, type: string}\n",
        [r"bad\.yaml:5", "'x' appears twice"],
    ),
    "unknown_key": (
        "datasets:\n  - name: new.things\n    fieldz: []\n",
        [r"bad\.yaml:3", "unknown key 'fieldz'", "did you mean 'fields'"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_MANIFESTS))
def test_register_rejects_a_bad_manifest_with_where_and_what_and_writes_nothing(
        case: str, registered: Run, stored: Any, tmp_path: Path) -> None:
    text, expected = BAD_MANIFESTS[case]
    bad = tmp_path / "bad.yaml"
    bad.write_text(text, encoding="utf-8")
    before = stored()
    message = assert_clean_error(registered("register", bad), 2)
    for pattern in expected:
        assert re.search(pattern, message), (pattern, message)
    assert stored() == before


def test_register_of_a_file_that_does_not_exist_exits_2_and_names_it(registered: Run,
                                                                     stored: Any,
                                                                     tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    before = stored()
    message = assert_clean_error(registered("register", EXAMPLE, missing), 2)
    assert f"{missing}: no such file" in message
    assert stored() == before


def test_register_writes_nothing_from_a_good_file_when_the_next_one_is_bad(
        run: Run, stored: Any, tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("datasets:\n  - name: new.things\n    fields: [{name: x, type: int}]\n",
                    encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text("jobs:\n  - name: j\n    inputs: [no.such_dataset]\n", encoding="utf-8")
    before = stored()
    message = assert_clean_error(run("register", good, bad), 2)
    assert "bad.yaml:3" in message and "no.such_dataset" in message
    assert stored() == before
    assert as_json(run("find", "new.things", "--format", "json")) == []


def test_register_errors_print_as_json_on_stderr_with_format_json(registered: Run,
                                                                  tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("datasets:\n  - name: new.things\n    fieldz: []\n", encoding="utf-8")
    result = registered("register", bad, "--format", "json")
    assert result.exit_code == 2 and result.stdout == ""
    error = json.loads(result.stderr)
    assert error["error"] == "ValidationError"
    assert (error["file"], error["key"], error["line"]) == (str(bad), "datasets[0].fieldz", 3)


# ------------------------------------------------------------------ impact


def test_impact_names_every_model_and_consumer_downstream_of_category(registered: Run) -> None:
    report = as_json(registered("impact", "transactions.category", "--format", "json"))
    assert report["start"]["key"] == CATEGORY
    affected = report["affected"]
    assert {r["name"] for r in affected["model_version"]} == {"fraud@2", "fraud@3"}
    assert [r["name"] for r in affected["model"]] == ["fraud"]
    assert {r["name"] for r in affected["consumer"]} == CONSUMERS
    everything = {r["key"] for items in affected.values() for r in items}
    assert "model_version:fraud@1" not in everything  # fraud@1 never used category_share
    for r in affected["consumer"]:
        assert r["path"][0]["key"] == CATEGORY and r["path"][-1]["key"] == r["key"]
    assert report["counts"]["consumer"] == 3


def test_impact_table_lists_models_and_consumers_with_their_paths(registered: Run) -> None:
    result = registered("impact", "transactions.category")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"Impact of {CATEGORY}" in out
    for name in ["fraud@2", "fraud@3", "fraud", *CONSUMERS]:
        assert name in out
    assert "fraud@1" not in out
    assert "model versions (2)" in out and "consumers (3)" in out
    assert ("public.transactions.category -feeds-> features.user_features.category_share"
            in out)
    assert "-is used by-> fraud@3" in out
    assert "3 consumers" in out.splitlines()[-2]
    # scoring.fraud_batch reads user_features with no column lineage into fraud.scores
    assert "scoring.fraud_batch *" in out
    assert "reached only through dataset-level lineage" in out.splitlines()[-1]


def test_impact_paths_read_the_way_data_flows_in_the_table_and_json(registered: Run) -> None:
    table = registered("impact", "transactions.category").stdout
    # every arrow says what happens along it, never the stored kind read backwards
    assert "-feeds-> category_share -is used by-> fraud@3" in table
    assert "fraud.scores.score -is consumed by-> fraud-dashboard" in table
    for stored_kind in ("derived_from", "uses_feature", "consumes", "trained_on", "generated"):
        assert f"-{stored_kind}->" not in table
    report = json.loads(registered("impact", "transactions.category", "--format",
                                   "json").stdout)
    steps = [step for items in report["affected"].values() for item in items
             for step in item["path"][1:]]
    assert steps and all(step["verb"] == lineage.EDGE_VERB[lineage.EdgeKind(step["edge"])]
                         for step in steps)
    assert {(s["edge"], s["verb"]) for s in steps} >= {("derived_from", "feeds"),
                                                      ("uses_feature", "is used by"),
                                                      ("consumes", "is consumed by")}


def test_upstream_paths_read_from_the_source_to_the_start(registered: Run) -> None:
    table = registered("upstream", "fraud@3").stdout
    assert "-trains-> fraud@3" in table
    assert "category_share -is used by-> fraud@3" in table


def test_impact_no_paths_leaves_the_paths_out(registered: Run) -> None:
    result = registered("impact", "transactions.category", "--no-paths")
    assert result.exit_code == 0, result.output
    assert "-feeds->" not in result.stdout
    assert "risk-rules-engine" in result.stdout


def test_impact_depth_bounds_how_far_it_looks(registered: Run) -> None:
    report = as_json(registered("impact", "transactions.category", "--depth", "1",
                                "--format", "json"))
    assert report["max_depth"] == 1
    assert report["counts"] == {"field": 1}


def test_impact_of_a_node_nothing_depends_on_says_so_and_exits_0(registered: Run) -> None:
    result = registered("impact", "risk-rules-engine")
    assert result.exit_code == 0, result.output
    assert "nothing downstream" in result.stdout
    assert as_json(registered("impact", "risk-rules-engine", "--format", "json"))[
        "affected"] == {}


def test_impact_with_a_change_judges_every_dependent(registered: Run) -> None:
    report = as_json(registered("impact", "transactions.category", "--change", "type:string",
                                "--format", "json"))
    verdicts = {j["name"]: j["verdict"] for items in report["affected"].values() for j in items}
    assert verdicts["fraud@2"] == verdicts["fraud@3"] == "breaking"
    table = registered("impact", "transactions.category", "--change", "type:string")
    assert table.exit_code == 0 and "breaking" in table.stdout


def test_impact_limit_cuts_each_table_but_keeps_the_counts_and_the_json_whole(
        registered: Run) -> None:
    """A hub reaches 10^5 nodes: the table shows --limit rows per kind and says how many it
    left out; the totals and --format json are never cut."""
    table = registered("impact", "transactions.category", "--limit", "1")
    assert table.exit_code == 0, table.output
    consumers = table.stdout.split("consumers (3)")[1]
    assert sum(name in consumers for name in CONSUMERS) == 1
    assert "... 2 more not shown (--limit 0 shows all" in consumers
    assert ("14 affected: 5 fields, 1 feature, 2 model versions, 1 model, 3 consumers, "
            "1 dataset, 1 job") in table.stdout
    every = registered("impact", "transactions.category", "--limit", "0")
    assert all(name in every.stdout for name in CONSUMERS) and "not shown" not in every.stdout
    report = as_json(registered("impact", "transactions.category", "--limit", "1",
                                "--format", "json"))
    assert len(report["affected"]["consumer"]) == 3


def test_change_impact_table_puts_breaking_dependents_first_so_limit_never_hides_one(
        run: Run, tmp_path: Path) -> None:
    from .test_schema_change import CONTRACTS

    manifest = tmp_path / "contracts.yaml"
    manifest.write_text(CONTRACTS)
    assert run("register", manifest).exit_code == 0
    # by key the consumers are bi (compatible), billing (breaking), finance (compatible)
    table = run("impact", "orders.status", "--change", "type:int64", "--limit", "1",
                "--no-paths")
    assert table.exit_code == 0, table.output
    consumers = table.stdout.split("consumers (3)")[1]
    assert "billing" in consumers and "breaking" in consumers
    assert " bi " not in consumers and "finance" not in consumers
    assert "... 2 more not shown" in consumers


def test_downstream_limit_shows_the_first_rows_and_counts_them_all(registered: Run) -> None:
    table = registered("downstream", "transactions.category", "--limit", "2")
    assert table.exit_code == 0, table.output
    assert "more not shown" in table.stdout and "nodes downstream" in table.stdout
    full = as_json(registered("downstream", "transactions.category", "--format", "json"))
    assert f"{len(full['reached'])} nodes downstream" in table.stdout
    assert f"... {len(full['reached']) - 2} more not shown" in table.stdout


def test_a_negative_limit_is_a_usage_error(registered: Run) -> None:
    result = registered("impact", "transactions.category", "--limit", "-1")
    assert result.exit_code == 2 and "--limit" in result.stderr


def test_impact_of_an_unknown_name_exits_4_and_suggests_the_right_one(registered: Run) -> None:
    message = assert_clean_error(registered("impact", "transactions.categroy"), 4)
    assert "transactions.categroy" in message
    assert f"did you mean '{CATEGORY}'" in message


def test_an_ambiguous_name_exits_4_and_lists_every_candidate(registered: Run) -> None:
    message = assert_clean_error(registered("impact", "user_id"), 4)
    assert "ambiguous" in message
    for dataset in ["public.transactions", "public.users", "user_activity",
                    "features.user_features", "fraud_requests"]:
        assert f"{dataset}.user_id" in message


def test_errors_print_the_error_as_json_on_stderr_with_format_json(registered: Run) -> None:
    result = registered("impact", "user_id", "--format", "json")
    assert result.exit_code == 4 and result.stdout == ""
    error = json.loads(result.stderr)
    assert error["error"] == "AmbiguousName"
    assert len(error["candidates"]) == 5


def test_a_negative_depth_is_a_usage_error(registered: Run) -> None:
    result = registered("impact", "transactions.category", "--depth", "-1")
    assert result.exit_code == 2
    assert "--depth" in result.stderr


# ---------------------------------------------- show, find, upstream, downstream, stats


def test_show_prints_the_node_and_its_edges_with_transformations(registered: Run) -> None:
    result = registered("show", "transactions.category")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert CATEGORY in out and "int32" in out and "merchant category code" in out
    # edges read the way data flows: the dataset has the field; the field feeds category_share
    assert "has field" in out and "public.transactions" in out  # incoming, from the dataset
    assert "feeds" in out and "aggregation" in out  # outgoing, to category_share


def test_show_json_gives_properties_edges_and_the_schema_of_a_dataset_version(
        registered: Run) -> None:
    shown = as_json(registered("show", "user_features@2026-02", "--format", "json"))
    assert shown["node"]["kind"] == "dataset_version"
    assert shown["node"]["properties"]["version"] == "2026-02"
    assert [f["name"] for f in shown["schema"]] == ["user_id", "avg_amount_7d", "txn_count_7d",
                                                    "category_share"]
    assert {(e["edge"], e["name"]) for e in shown["outgoing"]} >= {("trained_on", "fraud@2")}
    field = as_json(registered("show", "transactions.category", "--format", "json"))
    assert field["schema"] is None
    assert [(e["edge"], e["properties"]["transformation"]) for e in field["outgoing"]] == [
        ("derived_from", "aggregation")]


def test_find_lists_the_nodes_of_a_kind_whose_key_contains_the_text(registered: Run) -> None:
    found = as_json(registered("find", "fraud", "--kind", "model_version", "--format", "json"))
    assert [n["key"] for n in found] == [f"model_version:fraud@{v}" for v in (1, 2, 3)]
    table = registered("find", "--kind", "consumer")
    assert table.exit_code == 0 and all(c in table.stdout for c in CONSUMERS)
    limited = as_json(registered("find", "--limit", "2", "--format", "json"))
    assert len(limited) == 2


def test_find_of_nothing_says_so(registered: Run) -> None:
    result = registered("find", "no-such-thing")
    assert result.exit_code == 0 and "no node matches" in result.stdout


def test_upstream_of_fraud3_reaches_transactions_category_through_its_feature(
        registered: Run) -> None:
    closure = as_json(registered("upstream", "fraud@3", "--format", "json"))
    assert closure["direction"] == "upstream"
    reached = {r["key"]: r for r in closure["reached"]}
    assert CATEGORY in reached
    assert [step["key"] for step in reached[CATEGORY]["path"]] == [
        "model_version:fraud@3", "feature:category_share",
        "field:s3://ml-warehouse/features.user_features.category_share", CATEGORY]
    table = registered("upstream", "fraud@3")
    assert table.exit_code == 0 and CATEGORY in table.stdout
    # printed the way data flows, ending at fraud@3
    assert "public.transactions.category -feeds->" in table.stdout


def test_upstream_depth_stops_at_the_direct_inputs(registered: Run) -> None:
    closure = as_json(registered("upstream", "fraud@3", "--depth", "1", "--format", "json"))
    assert {r["depth"] for r in closure["reached"]} == {1}
    assert CATEGORY not in {r["key"] for r in closure["reached"]}


def test_downstream_lists_what_depends_on_a_node(registered: Run) -> None:
    closure = as_json(registered("downstream", "fraud@2", "--format", "json"))
    keys = {r["key"] for r in closure["reached"]}
    assert {"model:fraud", "consumer:risk-rules-engine",
            "field:s3://ml-warehouse/fraud.scores.predicted_fraud"} <= keys
    table = registered("downstream", "fraud@2", "--depth", "1")
    assert table.exit_code == 0 and "fraud@2 -is a version of-> fraud" in table.stdout


def test_stats_counts_nodes_by_kind_and_edges(registered: Run, store_url: str) -> None:
    counts = as_json(registered("stats", "--format", "json"))
    with lineage.connect(store_url) as s:
        assert counts == s.stats()
    assert counts["model_version"] == 3 and counts["consumer"] == 3
    table = registered("stats")
    assert table.exit_code == 0 and "model_version" in table.stdout and "edges" in table.stdout


def test_init_creates_the_store_and_reports_what_it_holds(run: Run) -> None:
    result = run("init")
    assert result.exit_code == 0, result.output
    assert "store ready at" in result.stdout and "0 nodes" in result.stdout
    assert as_json(run("init", "--format", "json"))["nodes"] == 0


def test_init_of_an_unreachable_store_exits_7(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'no' / 'such' / 'folder' / 'lineage.db'}"
    result = CliRunner().invoke(cli, ["--store", url, "init"])
    message = assert_clean_error(result, 7)
    assert "does not exist" in message


def test_a_read_command_never_creates_a_store_and_says_there_is_none(store_url: str,
                                                                    tmp_path: Path) -> None:
    for url in (store_url, f"sqlite:///{tmp_path / 'never.db'}"):
        for args in (["impact", "transactions.category"], ["stats"], ["find", "orders"]):
            result = CliRunner().invoke(cli, ["--store", url, *args])
            message = assert_clean_error(result, 4)
            assert "no store at" in message and "lineage register" in message
    assert not (tmp_path / "never.db").exists()
    # ...and nothing was made where the store would be: a write still creates it
    result = CliRunner().invoke(cli, ["--store", store_url, "register", str(EXAMPLE)])
    assert result.exit_code == 0, result.output


def test_an_empty_store_says_it_is_empty(run: Run) -> None:
    assert run("init").exit_code == 0
    message = assert_clean_error(run("impact", "transactions.category"), 4)
    assert "the store is empty" in message
    assert "the store is empty" in run("stats").stdout


def test_the_store_comes_from_LINEAGE_URL_when_no_store_is_given(registered: Run,
                                                                 store_url: str) -> None:
    result = CliRunner().invoke(cli, ["stats", "--format", "json"],
                                env={"LINEAGE_URL": store_url})
    assert as_json(result)["model_version"] == 3


# ------------------------------------------------------------------ graph


def _need_dot() -> None:
    if shutil.which("dot") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install Graphviz (dot) for the SVG test")
        pytest.skip("Graphviz's dot is not installed")


@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_graph_draws_svg_and_png_without_the_system_dot(registered: Run, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        fmt: str) -> None:
    """A plain pip install draws: with no `dot` on PATH the bundled Graphviz does it."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))
    assert shutil.which("dot") is None
    target = tmp_path / f"x.{fmt}"
    result = registered("graph", "transactions.category", "--both", "-o", target)
    assert result.exit_code == 0, result.output
    data = target.read_bytes()
    if fmt == "svg":
        assert b"<svg" in data and b"category_share" in data
    else:
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000
    pdf = registered("graph", "transactions.category", "-o", tmp_path / "x.pdf")
    assert pdf.exit_code == 1 and "PDF needs Graphviz's `dot`" in pdf.stderr


def test_graph_writes_a_real_svg(registered: Run, tmp_path: Path) -> None:
    _need_dot()
    target = tmp_path / "x.svg"
    result = registered("graph", "transactions.category", "--both", "-o", target)
    assert result.exit_code == 0, result.output
    assert str(target) in result.stdout
    svg = target.read_text(encoding="utf-8")
    assert "<svg" in svg and "</svg>" in svg
    assert "category_share" in svg and "fraud@3" in svg


def test_graph_writes_dot_for_a_dot_suffix(registered: Run, tmp_path: Path) -> None:
    up = tmp_path / "up.dot"
    assert registered("graph", "fraud@3", "--up", "-o", up).exit_code == 0
    text = up.read_text(encoding="utf-8")
    assert text.startswith("digraph") and "lineage of model_version:fraud@3" in text
    assert "public.transactions.category" in text and "risk-rules-engine" not in text
    down = tmp_path / "down.dot"
    assert registered("graph", "fraud@2", "--down", "-o", down).exit_code == 0
    text = down.read_text(encoding="utf-8")
    assert "risk-rules-engine" in text and "category_share" not in text
    both = tmp_path / "both.dot"  # --both is the default, as in `export dot`
    assert registered("graph", "fraud@2", "-o", both).exit_code == 0
    text = both.read_text(encoding="utf-8")
    assert "risk-rules-engine" in text and "category_share" in text


def test_graph_with_an_unknown_suffix_exits_2_and_writes_nothing(registered: Run,
                                                                 tmp_path: Path) -> None:
    target = tmp_path / "x.txt"
    message = assert_clean_error(registered("graph", "fraud@3", "-o", target), 2)
    assert "dot, svg, png, pdf" in message
    assert not target.exists()


def test_graph_into_a_missing_folder_is_an_error_without_traceback(registered: Run,
                                                                   tmp_path: Path) -> None:
    target = tmp_path / "missing" / "x.dot"
    message = assert_clean_error(registered("graph", "fraud@3", "-o", target), 2)
    assert str(target) in message


def test_graph_of_an_unknown_name_exits_4(registered: Run, tmp_path: Path) -> None:
    assert_clean_error(registered("graph", "fraud@9", "-o", tmp_path / "x.dot"), 4)


# ------------------------------------------------------------------ help, version


def _leaf_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[list[str]]:
    """Every runnable command, as the words that invoke it (`schema diff` for a subgroup)."""
    ctx = click.Context(group)
    for name in group.list_commands(ctx):  # the lazy group loads each command it lists
        command = group.get_command(ctx, name)
        assert command is not None, name
        if isinstance(command, click.Group):
            yield from _leaf_commands(command, (*prefix, name))
        else:
            yield [*prefix, name]


@pytest.mark.parametrize("words", list(_leaf_commands(cli)), ids=" ".join)
def test_every_command_has_help_with_examples(words: list[str]) -> None:
    result = CliRunner().invoke(cli, [*words, "--help"])
    assert result.exit_code == 0, result.output
    assert "Examples:" in result.stdout
    assert "lineage " in result.stdout.split("Examples:", 1)[1]


def test_help_documents_every_exit_code() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    errors: list[type[lineage.LineageError]] = [
        lineage.NotFound, lineage.AmbiguousName, lineage.ValidationError, lineage.ConflictError,
        lineage.ProvenanceViolation, lineage.PermissionDenied, lineage.StoreError,
        lineage.LineageError]
    for code in {0, *(e.exit_code for e in errors)}:
        assert re.search(rf"^\s+{code}\s+\w", result.stdout, re.MULTILINE), code
    assert "LINEAGE_URL" in result.stdout


def test_version_prints_the_library_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and lineage.__version__ in result.stdout


# ------------------------------------------------------------------ the installed program


def test_installed_lineage_command_registers_and_reports_impact(store_url: str) -> None:
    program = shutil.which("lineage")
    assert program, "the `lineage` entry point is not installed (pip install -e .)"
    env = {k: v for k, v in os.environ.items() if k != "LINEAGE_URL"}

    def lineage_cmd(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([program, "--store", store_url, *args], capture_output=True,
                              text=True, timeout=120, env=env, check=False)

    registered = lineage_cmd("register", str(EXAMPLE))
    assert registered.returncode == 0, registered.stderr
    assert "registered" in registered.stdout
    impact = lineage_cmd("impact", "transactions.category", "--format", "json")
    assert impact.returncode == 0, impact.stderr
    report = json.loads(impact.stdout)
    assert {r["name"] for r in report["affected"]["model_version"]} == {"fraud@2", "fraud@3"}
    assert {r["name"] for r in report["affected"]["consumer"]} == CONSUMERS
    unknown = lineage_cmd("impact", "transactions.categroy")
    assert unknown.returncode == 4
    assert unknown.stderr.startswith("error: ") and "Traceback" not in unknown.stderr


def test_postgres_scheme_is_read_as_postgresql(postgres_url: str) -> None:
    url = postgres_url.replace("postgresql://", "postgres://", 1)
    result = CliRunner().invoke(cli, ["--store", url, "register", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    with lineage.connect(postgres_url) as store:
        assert store.stats()["model_version"] == 3


def test_lineage_help_lists_every_command_with_its_own_help_and_imports_no_backend() -> None:
    """`lineage --help` reads the one-line help of each command from main.COMMANDS, so it
    imports no command module; each line must be the command's own short help."""
    from lineage_cli import main

    ctx = click.Context(main.cli)
    for name, (_, _, line) in main.COMMANDS.items():
        command = main.cli.get_command(ctx, name)
        assert command is not None, name
        assert command.get_short_help_str(limit=10_000) == line, name
    code = ("import sys; from lineage_cli.main import cli\n"
            "try:\n    cli(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = {'sqlalchemy', 'sqlmodel', 'pydantic', 'numpy', 'polars', 'fastapi',"
            " 'rdflib', 'rich'} & {m.split('.')[0] for m in sys.modules}\n"
            "print(sorted(heavy))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert "impact" in result.stdout and result.stdout.strip().endswith("[]"), result.stdout


def test_an_impact_read_imports_no_database_toolkit_dataframe_ingest_or_picture_library(
        registered: Run, store_url: str) -> None:
    """What a read does not use it does not import: the start-up of `lineage impact` is
    mostly imports (bench/cli.py). On a SQLite file a read runs on the standard library's
    sqlite3, so SQLAlchemy and the SQLModel tables load only when something writes; numpy
    only for a wide walk's dataset pass (lineage.store.sql.consumers.NUMPY_FIELDS). The
    PostgreSQL and Neo4j reads need their own drivers (and SQLAlchemy for PostgreSQL), but
    never polars nor the ingest or picture libraries, and PostgreSQL no numpy either (its
    binary id arrays are read with struct below 2,000 ids, lineage/store/sql/pgarray.py; the
    neo4j driver imports numpy and pandas, so pyarrow, whenever they are installed:
    neo4j/_optional_deps.py)."""
    heavy = {"polars", "fastapi", "rdflib", "alembic", "jsonschema",
             "yaml", "graphviz", "networkx"}
    if store_url.startswith("sqlite"):
        heavy |= {"sqlalchemy", "sqlmodel", "psycopg", "numpy", "pyarrow"}
    elif store_url.startswith("postgresql"):
        heavy |= {"numpy", "pyarrow"}
    code = ("import sys; from lineage_cli.main import cli\n"
            f"cli(['--store', {store_url!r}, 'impact', 'transactions.category'],"
            " standalone_mode=False)\n"
            f"heavy = {sorted(heavy)!r}\n"
            "loaded = {m.split('.')[0] for m in sys.modules}\n"
            "print(sorted(set(heavy) & loaded))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert "fraud@3" in result.stdout, result.stdout
    assert result.stdout.strip().endswith("[]"), result.stdout


def test_store_is_accepted_after_the_command_too(registered: Run, store_url: str) -> None:
    for args in (["stats", "--format", "json", "--store", store_url],
                 ["stats", f"--store={store_url}", "--format", "json"]):
        result = CliRunner().invoke(cli, args, catch_exceptions=False)
        assert as_json(result)["model_version"] == 3, result.output


def _all_commands() -> list[tuple[str, click.Command]]:
    from lineage_cli import main

    found: list[tuple[str, click.Command]] = []

    def walk(prefix: str, group: click.Group) -> None:
        ctx = click.Context(group)
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            assert command is not None
            found.append((f"{prefix} {name}", command))
            if isinstance(command, click.Group):
                walk(f"{prefix} {name}", command)

    walk("lineage", main.cli)
    return found


def test_every_option_has_help_and_every_command_an_example() -> None:
    missing = []
    for path, command in _all_commands():
        if "Example" not in (command.help or ""):
            missing.append(f"{path}: no example")
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden and not param.help:
                missing.append(f"{path} {param.opts[0]}: no help")
    assert not missing, "\n".join(missing)


def test_shell_completion_offers_the_commands() -> None:
    env = {**os.environ, "COMP_WORDS": "lineage imp", "COMP_CWORD": "1",
           "_LINEAGE_COMPLETE": "bash_complete"}
    program = shutil.which("lineage")
    argv = [program] if program else [sys.executable, "-m", "lineage_cli"]
    result = subprocess.run(argv, env=env, capture_output=True, text=True)
    assert result.stdout.split() == ["plain,impact", "plain,import"], result
