"""The SQL store's hub paths answer as its small-walk paths do: a wide level (read column-
wise), the dataset pass with numpy arrays, consumers placed by node id (issue 12, the hub's
impact() target). Each test forces the hub path on a small graph and compares."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import numpy as np
import pytest

import lineage
from lineage import EdgeKind, GraphBatch, NodeKind
from lineage.impact import impact


def _consumers_graph() -> GraphBatch:
    """A field whose dataset has three consumers: one the walk reaches itself (it also
    consumes a field downstream), one only dataset-level lineage reaches first (a job reads
    the dataset and writes another, whose field it consumes), one reached only as the
    dataset's consumer."""
    batch = GraphBatch()
    for dataset, fields in (("src", ("a", "b")), ("out", ("x",))):
        batch.add_node(f"dataset:pg/{dataset}", dataset, "pg")
        for name in fields:
            batch.add_node(f"field:pg/{dataset}.{name}", f"{dataset}.{name}", "pg",
                           type="int32")
            batch.add_edge(f"dataset:pg/{dataset}", f"field:pg/{dataset}.{name}",
                           EdgeKind.HAS_FIELD)
    batch.add_edge("field:pg/src.a", "field:pg/src.b", EdgeKind.DERIVED_FROM,
                   transformation="identity")
    batch.add_node("job:etl", "etl")
    batch.add_edge("dataset:pg/src", "job:etl", EdgeKind.READ)
    batch.add_edge("job:etl", "dataset:pg/out", EdgeKind.WROTE)
    for consumer in ("walked", "late", "plain"):
        batch.add_node(f"consumer:{consumer}", consumer)
        batch.add_edge("dataset:pg/src", f"consumer:{consumer}", EdgeKind.CONSUMES)
    batch.add_edge("field:pg/src.b", "consumer:walked", EdgeKind.CONSUMES)
    batch.add_edge("field:pg/out.x", "consumer:late", EdgeKind.CONSUMES)
    return batch


@pytest.mark.parametrize("start", ["field:pg/src.a", "field:pg/src.b"])
def test_impact_places_each_dataset_consumer_once_whichever_way_the_walk_is_read(
        sql_store_url: str, monkeypatch: pytest.MonkeyPatch, start: str) -> None:
    """A consumer the walk reached, or dataset-level lineage added, is not added again as
    its dataset's consumer, whether its row is found by key (a small walk) or by node id
    (a hub's numpy pass, `Closure.note_rows`), and whether the levels are read row by row
    or column-wise."""
    from lineage.store.sql import consumers as sql_consumers
    from lineage.store.sql import graph as sql_graph

    with lineage.connect(sql_store_url) as store:
        store.apply(_consumers_graph())
        answers: list[dict[str, Any]] = []
        for numpy_fields, wide_frontier in ((10**9, 2000), (0, 2000), (0, 1), (10**9, 1)):
            monkeypatch.setattr(sql_consumers, "NUMPY_FIELDS", numpy_fields)
            monkeypatch.setattr(sql_graph, "_WIDE_FRONTIER", wide_frontier)
            answers.append(impact(store, start).to_dict())
    consumers = [item["node"]["key"] if "node" in item else item["key"]
                 for item in answers[0]["affected"]["consumer"]]
    assert sorted(consumers) == ["consumer:late", "consumer:plain", "consumer:walked"]
    assert all(answer == answers[0] for answer in answers[1:])


def _kinds_graph() -> GraphBatch:
    """Every node kind a walk meets, in one region, keys not in insertion order."""
    batch = GraphBatch()
    batch.add_node("dataset:pg/t", "t", "pg")
    batch.add_node("field:pg/t.z", "t.z", "pg")
    batch.add_node("field:pg/t.a", "t.a", "pg")
    batch.add_edge("dataset:pg/t", "field:pg/t.z", EdgeKind.HAS_FIELD)
    batch.add_edge("dataset:pg/t", "field:pg/t.a", EdgeKind.HAS_FIELD)
    batch.add_node("feature:f", "f")
    batch.add_edge("field:pg/t.z", "feature:f", EdgeKind.DERIVED_FROM)
    batch.add_node("model:m", "m")
    batch.add_node("model_version:m@1", "m@1")
    batch.add_edge("model_version:m@1", "model:m", EdgeKind.VERSION_OF)
    batch.add_edge("feature:f", "model_version:m@1", EdgeKind.USES_FEATURE)
    batch.add_edge("dataset:pg/t", "model_version:m@1", EdgeKind.TRAINED_ON)
    batch.add_node("consumer:c", "c")
    batch.add_edge("model:m", "consumer:c", EdgeKind.CONSUMES)
    batch.add_node("job:j", "j")
    batch.add_node("run:j/1", "j/1")
    batch.add_edge("field:pg/t.a", "job:j", EdgeKind.READ)
    batch.add_edge("job:j", "run:j/1", EdgeKind.DERIVED_FROM)
    return batch


def test_a_wide_walk_reads_every_node_kind_as_a_row_by_row_walk_does(
        sql_store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A wide level's node kinds are read as codes (length and first letter, no split of
    its 10^5 joined names): every kind of the vocabulary comes back as itself."""
    from lineage.store.sql import graph as sql_graph

    with lineage.connect(sql_store_url) as store:
        store.apply(_kinds_graph())

        def walks() -> list[list[tuple[str, NodeKind, int, str | None, EdgeKind | None]]]:
            return [[(r.node.key, r.node.kind, r.depth, r.via.node.key if r.via else None,
                      r.edge) for r in closure]
                    for closure in (store.downstream("dataset:pg/t"),
                                    store.upstream("consumer:c"))]

        narrow = walks()
        monkeypatch.setattr(sql_graph, "_WIDE_FRONTIER", 1)
        wide = walks()
    assert wide == narrow
    kinds = {kind for walk in narrow for _, kind, *_ in walk}
    assert kinds >= {NodeKind.FIELD, NodeKind.FEATURE, NodeKind.MODEL_VERSION, NodeKind.MODEL,
                     NodeKind.CONSUMER, NodeKind.JOB, NodeKind.RUN, NodeKind.DATASET}


@pytest.mark.parametrize("ids", [
    [0], [7, 0, 10], list(range(0, 2000, 3)), [9, 10, 99, 100, 999_999, 1_000_000],
    [2**31 - 1, 2**31, 2**40 + 5, 1], [-1, 5],
], ids=["zero", "unsorted", "many", "widths", "past-int32", "negative"])
def test_id_text_is_json_that_sqlite_reads_as_the_same_ids_in_the_same_order(
        ids: list[int]) -> None:
    """The wide walk's and the dataset pass's id parameter, built by numpy (fixed width,
    leading spaces), is the JSON array `json.dumps` would give, to json and json_each."""
    from lineage.store.sql.graph import _id_text

    text = _id_text(np.array(ids, dtype=np.int64))
    assert json.loads(text) == ids
    with sqlite3.connect(":memory:") as conn:
        assert [v for (v,) in conn.execute("SELECT value FROM json_each(?)", (text,))] == ids
    assert _id_text(np.zeros(0, dtype=np.int64)) == "[]"


def test_a_wide_walk_reads_keys_and_names_with_any_characters_as_stored(
        sql_store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A wide level's keys and names come back as one JSON array each: quotes, backslashes,
    commas, control characters and non-ASCII text read back unchanged."""
    from lineage.store.sql import graph as sql_graph

    odd = ['q"uote', "back\\slash", "com,ma", "unit\x1fsep", "tab\there", "ünï€😀", "end"]
    batch = GraphBatch()
    batch.add_node("field:odd/t.start", "start", "odd")
    for i, text in enumerate(odd):
        key = f"field:odd/t.{text}{i}"
        batch.add_node(key, f"name {text}", "odd")
        batch.add_edge("field:odd/t.start", key, EdgeKind.DERIVED_FROM)
    with lineage.connect(sql_store_url) as store:
        store.apply(batch)
        narrow = [(r.node.key, r.node.name) for r in store.downstream("field:odd/t.start")]
        monkeypatch.setattr(sql_graph, "_WIDE_FRONTIER", 1)
        wide = [(r.node.key, r.node.name) for r in store.downstream("field:odd/t.start")]
    assert wide == narrow
    assert sorted(name for _, name in wide) == sorted(f"name {text}" for text in odd)
