"""No silent truncation (issue 12, item 3): complete by default, a cut that says so, the
true number of suffix candidates, shortest paths to consumers."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import lineage
from lineage import GraphBatch, Store
from lineage.impact import change_impact, impact
from lineage_cli.main import cli


def _chain(store: Store, length: int, *, cycle: bool = False) -> None:
    """Fields c0 -> c1 -> ... (identity copies), a consumer of the last; optionally an edge
    from the last back to c1."""
    batch = GraphBatch()
    for i in range(length):
        batch.add_node(f"dataset:pg/t{i}", f"t{i}", "pg")
        batch.add_node(f"field:pg/t{i}.c", f"t{i}.c", "pg", type="int32")
        batch.add_edge(f"dataset:pg/t{i}", f"field:pg/t{i}.c", "has_field")
        if i:
            batch.add_edge(f"field:pg/t{i - 1}.c", f"field:pg/t{i}.c", "derived_from",
                           transformation="identity")
    batch.add_node("consumer:end", "end")
    batch.add_edge(f"field:pg/t{length - 1}.c", "consumer:end", "consumes")
    if cycle:
        batch.add_edge(f"field:pg/t{length - 1}.c", "field:pg/t1.c", "derived_from",
                       transformation="identity")
    store.apply(batch)


def test_default_impact_reaches_the_end_of_a_chain_longer_than_the_old_bound(
        store: Store) -> None:
    _chain(store, 80)
    report = impact(store, "field:pg/t0.c")
    assert len(report.closure) == 80 and not report.closure.truncated
    assert report.to_dict()["max_depth"] is None and report.to_dict()["truncated"] is False
    dropped = {j.node.key: j.verdict for j in change_impact(store, "field:pg/t0.c",
                                                            ["drop"]).judged}
    assert dropped["consumer:end"] == "breaking"
    assert len(store.upstream("consumer:end")) == 80 + 80  # the fields and their datasets


def test_impact_on_a_cycle_is_complete_and_ends(store: Store) -> None:
    _chain(store, 70, cycle=True)
    report = impact(store, "field:pg/t0.c")
    assert len(report.closure) == 70 and not report.closure.truncated


def test_a_depth_that_cuts_the_answer_says_so(store: Store) -> None:
    _chain(store, 10)
    cut = impact(store, "field:pg/t0.c", 5)
    assert cut.closure.truncated and cut.to_dict()["truncated"] is True
    assert cut.to_dict()["max_depth"] == 5
    whole = impact(store, "field:pg/t0.c", 10)  # the consumer sits at depth 10: nothing cut
    assert not whole.closure.truncated and len(whole.closure) == 10
    assert change_impact(store, "field:pg/t0.c", ["drop"], 3).to_dict()["truncated"] is True
    assert store.downstream("field:pg/t0.c", 4).truncated
    assert not store.upstream("field:pg/t3.c", 7).truncated


def test_cli_says_when_depth_cut_the_answer(store_url: str) -> None:
    with lineage.connect(store_url) as store:
        _chain(store, 10)
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(cli, ["--store", store_url, *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    assert "truncated at depth 3" in run("impact", "field:pg/t0.c", "--depth", "3")
    assert "truncated" not in run("impact", "field:pg/t0.c")
    assert json.loads(run("impact", "field:pg/t0.c", "--depth", "3", "--format",
                          "json"))["truncated"] is True
    assert "truncated at depth 2" in run("impact", "field:pg/t0.c", "--depth", "2",
                                         "--change", "drop")
    assert json.loads(run("downstream", "field:pg/t0.c", "--depth", "2", "--format",
                          "json"))["truncated"] is True
    assert "truncated at depth 1" in run("upstream", "consumer:end", "--depth", "1")


def test_suffix_lookup_counts_every_candidate_however_many_look_alike(store: Store) -> None:
    """1,100 keys end with 's.x.y' but not at a boundary; two do: both are candidates."""
    nodes = [(f"field:pg/a{i:04d}s.x.y", "field", f"a{i:04d}s.x.y") for i in range(1100)]
    store.bulk_load(nodes, [])  # stored first: a capped lookup sees only these
    store.bulk_load([("field:pg/y.s.x.y", "field", "y.s.x.y"),
                     ("field:pg/z.s.x.y", "field", "z.s.x.y")], [])
    with pytest.raises(lineage.AmbiguousName) as caught:
        store.resolve("s.x.y")
    assert sorted(caught.value.candidates) == ["field:pg/y.s.x.y", "field:pg/z.s.x.y"]


def test_a_dataset_consumer_is_reported_on_its_shortest_path(store: Store) -> None:
    """d.a comes first by key but sits two steps away; d.z one step: the path goes by d.z."""
    lineage.manifest.register_text(store, """\
namespace: pg
datasets:
  - name: s
    fields: [{name: x, type: int32}]
  - name: m
    fields: [{name: y, type: int32}]
  - name: d
    fields: [{name: a, type: int32}, {name: z, type: int32}]
derivations:
  - {from: s.x, to: d.z, transformation: identity}
  - {from: s.x, to: m.y, transformation: identity}
  - {from: m.y, to: d.a, transformation: identity}
consumers:
  - name: reader
    consumes: [d]
""")
    reader = next(r for r in impact(store, "s.x").closure.reached
                  if r.node.key == "consumer:reader")
    assert [n.key for _, n in reader.path] == ["field:pg/s.x", "field:pg/d.z",
                                               "consumer:reader"]
    judged = next(j for j in change_impact(store, "s.x", ["drop"]).judged
                  if j.node.key == "consumer:reader")
    assert len(judged.path) == 3
