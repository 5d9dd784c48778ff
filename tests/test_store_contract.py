"""The Store contract, run against every reachable backend (see conftest.store)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lineage
from lineage import EdgeKind, GraphBatch, NodeKind, provenance
from lineage.store.base import Store

from .conftest import snapshot


def _chain(batch: GraphBatch, *keys: str, kind: EdgeKind = EdgeKind.DERIVED_FROM) -> None:
    for key in keys:
        if key not in batch.nodes:
            batch.add_node(key, key.split(":", 1)[1])
    for src, dst in zip(keys, keys[1:], strict=False):
        batch.add_edge(src, dst, kind)


def test_apply_is_idempotent_and_reports_what_changed(store: Store) -> None:
    batch = GraphBatch()
    _chain(batch, "field:ns/a.x", "field:ns/b.x", "feature:fx")
    first = store.apply(batch)
    assert (first.nodes_created, first.edges_created) == (3, 2)
    again = store.apply(batch)
    assert not again.changed and again.unchanged == 5


def test_apply_counts_properties_unchanged_when_they_differ_only_in_python_types(
        store: Store) -> None:
    # apply compares what a node or edge would read back as (tuples as lists): given as a
    # tuple, a stored list is unchanged; a different value is written, as JSON gives it
    def batch(tags: Any, weight: Any) -> GraphBatch:
        b = GraphBatch()
        b.add_node("field:ns/a.x", "a.x", "ns", tags=tags)
        b.add_node("field:ns/b.x", "b.x", "ns")
        b.add_edge("field:ns/a.x", "field:ns/b.x", EdgeKind.DERIVED_FROM, path=weight)
        return b

    store.apply(batch(["p", "q"], ["s"]))
    again = store.apply(batch(("p", "q"), ("s",)))
    assert not again.changed and again.unchanged == 3
    moved = store.apply(batch(("p", "r"), ("t",)))
    assert (moved.nodes_updated, moved.edges_updated) == (1, 1)
    assert store.node("field:ns/a.x").properties["tags"] == ["p", "r"]
    edges = store.edges_among(["field:ns/a.x", "field:ns/b.x"])
    assert [e.properties["path"] for e in edges] == [["t"]]


def test_apply_updates_properties_in_place(store: Store) -> None:
    batch = GraphBatch()
    batch.add_node("field:ns/a.x", "a.x", "ns", type="int32")
    store.apply(batch)
    batch.add_node("field:ns/a.x", "a.x", "ns", type="string")
    result = store.apply(batch)
    assert result.nodes_updated == 1
    assert store.node("field:ns/a.x").properties == {"type": "string"}


def test_apply_removes_edges_a_merge_callback_retires_after_merging_the_nodes(
        store: Store) -> None:
    # The contract OpenLineage ingest relies on to retire a dropped column: `removed_edges`
    # is read after the nodes are merged (so the callback may add to it), a stored edge in
    # it is deleted, one also in the batch is not written, an absent one is ignored.
    first = GraphBatch()
    first.add_node("dataset:ns/t", "t", "ns")
    for name in ("kept", "gone", "late"):
        first.add_node(f"field:ns/t.{name}", f"t.{name}", "ns")
        first.add_edge("dataset:ns/t", f"field:ns/t.{name}", EdgeKind.HAS_FIELD)
    store.apply(first)
    second = GraphBatch()
    second.add_node("dataset:ns/t", "t", "ns", fields=["kept"])
    second.add_node("field:ns/t.late", "t.late", "ns")
    second.add_edge("dataset:ns/t", "field:ns/t.late", EdgeKind.HAS_FIELD)
    second.add_edge("dataset:ns/t", "field:ns/t.kept", EdgeKind.HAS_FIELD)

    def merge(key: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
        for name in ("gone", "late", "never"):
            second.removed_edges.add(("dataset:ns/t", f"field:ns/t.{name}", "has_field"))
        return {**old, **new}

    result = store.apply(second, merge=merge)
    assert result.edges_removed == 2 and result.changed
    kept = store.edges_among(["dataset:ns/t", "field:ns/t.kept", "field:ns/t.gone",
                              "field:ns/t.late"])
    assert [(e.src, e.dst) for e in kept] == [("dataset:ns/t", "field:ns/t.kept")]
    assert store.node("field:ns/t.gone")  # the node stays
    assert not store.apply(second, merge=merge).changed


def test_apply_merges_edge_properties_with_the_callback(store: Store) -> None:
    batch = GraphBatch()
    batch.add_node("field:ns/a.x", "a.x", "ns")
    batch.add_node("field:ns/b.x", "b.x", "ns")
    batch.add_edge("field:ns/a.x", "field:ns/b.x", EdgeKind.DERIVED_FROM, rank=2)
    store.apply(batch)
    seen: list[tuple[tuple[str, str, str], dict[str, Any]]] = []

    def keep_higher(ident: tuple[str, str, str], old: Mapping[str, Any],
                    new: Mapping[str, Any]) -> dict[str, Any]:
        seen.append((ident, dict(old)))
        return dict(old) if old.get("rank", 0) > new["rank"] else dict(new)

    batch.add_edge("field:ns/a.x", "field:ns/b.x", EdgeKind.DERIVED_FROM, rank=1)
    assert not store.apply(batch, merge_edges=keep_higher).changed
    assert seen == [(("field:ns/a.x", "field:ns/b.x", "derived_from"), {"rank": 2})]
    batch.add_edge("field:ns/a.x", "field:ns/b.x", EdgeKind.DERIVED_FROM, rank=3)
    assert store.apply(batch, merge_edges=keep_higher).edges_updated == 1
    assert store.edges_among(["field:ns/a.x", "field:ns/b.x"])[0].properties == {"rank": 3}


def test_one_apply_that_creates_updates_and_keeps_reports_and_stores_each(store: Store) -> None:
    # Every branch of a write in one batch: nodes new, changed and unchanged; edges new,
    # changed and unchanged, among new and stored nodes; schema snapshots new, rewritten and
    # unchanged. Each must be counted once and stored, and the edges must join the nodes
    # they name whichever way those got their ids (read back, or just inserted).
    from lineage import FieldSchema

    def fields(*names: str, type: str = "string") -> list[FieldSchema]:
        return [FieldSchema(name=n, type=type) for n in names]

    first = GraphBatch()
    for key in ("dataset_version:ns/t@1", "dataset_version:ns/t@2", "field:ns/t.kept",
                "field:ns/t.changed"):
        first.add_node(key, key.split(":", 1)[1], "ns")
    first.add_edge("field:ns/t.kept", "field:ns/t.changed", EdgeKind.DERIVED_FROM,
                   transformation="identity")
    first.add_edge("field:ns/t.changed", "field:ns/t.kept", EdgeKind.DERIVED_FROM)
    first.schemas["dataset_version:ns/t@1"] = fields("a", "b")
    first.schemas["dataset_version:ns/t@2"] = fields("a")
    store.apply(first)

    second = GraphBatch()
    for key in ("dataset_version:ns/t@1", "dataset_version:ns/t@2", "field:ns/t.kept",
                "dataset_version:ns/t@3", "field:ns/t.new", "feature:ns/f"):
        second.add_node(key, key.split(":", 1)[1], "ns")
    second.add_node("field:ns/t.changed", "t.changed", "ns", type="int64")
    second.add_edge("field:ns/t.kept", "field:ns/t.changed", EdgeKind.DERIVED_FROM,
                    transformation="aggregation")  # changed
    second.add_edge("field:ns/t.changed", "field:ns/t.kept", EdgeKind.DERIVED_FROM)  # as it was
    second.add_edge("field:ns/t.kept", "field:ns/t.new", EdgeKind.DERIVED_FROM)  # stored -> new
    second.add_edge("field:ns/t.new", "feature:ns/f", EdgeKind.USES_FIELD)  # new -> new
    second.schemas["dataset_version:ns/t@1"] = fields("a", "b")  # as it was
    second.schemas["dataset_version:ns/t@2"] = fields("a", "c", type="int64")  # rewritten
    second.schemas["dataset_version:ns/t@3"] = fields("z")  # new
    result = store.apply(second)

    assert (result.nodes_created, result.nodes_updated) == (3, 1)
    assert (result.edges_created, result.edges_updated) == (2, 1)
    assert result.schemas_written == 2
    assert result.unchanged == 3 + 1 + 1  # nodes, the edge as it was, the schema as it was
    assert store.node("field:ns/t.changed").properties == {"type": "int64"}
    assert store.schema("dataset_version:ns/t@1") == fields("a", "b")
    assert store.schema("dataset_version:ns/t@2") == fields("a", "c", type="int64")
    assert store.schema("dataset_version:ns/t@3") == fields("z")
    stored = {(e.src, e.dst, e.kind, tuple(sorted(e.properties.items())))
              for e in store.edges_among(["field:ns/t.kept", "field:ns/t.changed",
                                          "field:ns/t.new", "feature:ns/f"])}
    assert stored == {
        ("field:ns/t.kept", "field:ns/t.changed", EdgeKind.DERIVED_FROM,
         (("transformation", "aggregation"),)),
        ("field:ns/t.changed", "field:ns/t.kept", EdgeKind.DERIVED_FROM, ()),
        ("field:ns/t.kept", "field:ns/t.new", EdgeKind.DERIVED_FROM, ()),
        ("field:ns/t.new", "feature:ns/f", EdgeKind.USES_FIELD, ())}
    assert store.apply(second).unchanged == 7 + 4 + 3


def test_apply_reads_the_edges_it_writes_by_index_not_by_scanning_the_table(
        postgres_url: str) -> None:
    # Every ingest reads back the stored edges among those it writes, and writes edges and
    # schema rows by their nodes' keys. As plain joins PostgreSQL's planner hashed the whole
    # edge table for it while the table was small (1.3 ms a write at 4,600 edges, growing
    # with every write): each plan must probe the indexes.
    # (PostgreSQL only: SQLite drives that join from json_each, probing the primary key.)
    from lineage.store.sql.graph import (
        _PG_EDGE_DELETE,
        _PG_EDGE_INSERT,
        _PG_EDGE_ROWS,
        _PG_EDGE_UPDATE,
        _PG_NODE_ROWS,
        _PG_NODE_UPDATE,
        _PG_SCHEMA_DELETE,
        _PG_SCHEMA_INSERT,
        _pg_rows,
        _pg_set,
    )

    batch = GraphBatch()
    keys = [f"field:ns/t.c{i:04d}" for i in range(2000)]
    for key in keys:
        batch.add_node(key, key)
    for src, dst in zip(keys, keys[1:], strict=False):
        batch.add_edge(src, dst, EdgeKind.DERIVED_FROM)
    with lineage.connect(postgres_url) as store:
        store.apply(batch)
        raw = store.engine.raw_connection()  # type: ignore[attr-defined]
        try:
            cur = raw.cursor()
            cur.execute("ANALYZE edge")
            cur.execute("ANALYZE node")
            wanted = [(keys[0], keys[1], "derived_from"), (keys[1], keys[2], "derived_from")]
            plans = []
            cur.execute("SELECT id FROM node WHERE key = ANY(%s)", (keys[:3],))
            ids = [row[0] for row in cur.fetchall()]
            for sql, params in (
                    (_PG_EDGE_ROWS, (_pg_rows(wanted),)),
                    (_PG_EDGE_INSERT, (_pg_rows([(*w, "{}") for w in wanted]),)),
                    (_PG_SCHEMA_INSERT, (_pg_rows([(keys[0], 0, "a", "string", True, None,
                                                    "null")]),)),
                    (_PG_NODE_ROWS, (_pg_rows(keys[:3]),)),
                    # joined to a table, not probed through LATERAL: the row count helps
                    (_PG_NODE_UPDATE, (datetime.now(UTC),
                                       *_pg_set([(i, "n", None, "{}") for i in ids]))),
                    (_PG_EDGE_UPDATE, _pg_set([(ids[0], ids[1], "derived_from", "{}")])),
                    (_PG_EDGE_DELETE, _pg_set(wanted)),
                    (_PG_SCHEMA_DELETE, _pg_set(ids))):
                cur.execute("EXPLAIN " + sql, params)
                plans.append("\n".join(row[0] for row in cur.fetchall()))
            cur.execute(_PG_EDGE_ROWS, (_pg_rows(wanted),))
            found = sorted(row[:2] for row in cur.fetchall())
        finally:
            raw.rollback()
            raw.close()
    assert found == [(keys[0], keys[1]), (keys[1], keys[2])]
    for plan in plans:
        assert "Seq Scan on edge" not in plan and "Seq Scan on node" not in plan, plan


def test_apply_keeps_index_probes_in_the_plans_it_prepares_on_a_small_store_on_postgresql(
        postgres_url: str) -> None:
    # psycopg prepares a statement run five times, and PostgreSQL then keeps one generic
    # plan for it. Made while the store was small, the node read's plan was a Seq Scan on
    # node that grew with every write (1 ms at 2,300 nodes). The apply's statements are
    # prepared (no parse or planning per call), so each plan they keep must probe indexes.
    from lineage import FieldSchema
    from lineage.store.sql.graph import _PG_PLANS

    with lineage.connect(postgres_url) as store:
        for i in range(12):
            batch = GraphBatch()
            _chain(batch, f"field:ns/t{i}.a", f"field:ns/t{i}.b", f"feature:ns/f{i}")
            batch.add_node(f"dataset_version:ns/t{i}@1", f"t{i}@1")
            batch.schemas[f"dataset_version:ns/t{i}@1"] = [FieldSchema(name="a", type="int")]
            store.apply(batch, run_ids=[f"r{i}"], on_runs=lambda found: None)
            batch = GraphBatch()
            batch.add_node(f"field:ns/t{i}.a", "a", properties={"changed": i})
            # all its nodes in the batch: no key read, whose ROLLBACK makes psycopg forget
            # the connection's prepared statements
            batch.add_node(f"field:ns/t{i}.b", f"ns/t{i}.b")
            batch.add_edge(f"field:ns/t{i}.a", f"field:ns/t{i}.b", EdgeKind.DERIVED_FROM,
                           properties={"changed": i})
            store.apply(batch)
        raw = store.engine.raw_connection()  # type: ignore[attr-defined]
        try:  # the pool hands back the one connection the writes used
            cur = raw.cursor()
            cur.execute("SELECT name, statement, parameter_types::text[] "
                        "FROM pg_prepared_statements")
            every = cur.fetchall()
            prepared = [row for row in every if any(
                f"{word} {table}" in row[1] for word in ("FROM", "INTO", "UPDATE")
                for table in ("node", "edge", "schema_field"))]
            plans = {}
            for name, statement, types in prepared:
                cur.execute(_PG_PLANS)  # as the apply's transaction is set up
                cur.execute("SET LOCAL plan_cache_mode = force_generic_plan")
                nulls = ", ".join(f"NULL::{t}" for t in types)
                cur.execute(f"EXPLAIN EXECUTE {name}({nulls})")
                plans[statement] = "\n".join(row[0] for row in cur.fetchall())
            raw.rollback()
        finally:
            raw.close()
    kinds = {word for text in plans for word in ("INSERT INTO node", "SELECT n.id",
                                                  "UPDATE node", "INSERT INTO edge",
                                                  "e.properties", "UPDATE edge",
                                                  "INSERT INTO schema_field", "f.name",
                                                  "n.kind, n.name")
             if word in text}
    assert len(kinds) == 9, (plans, every)  # every kind of statement the apply sends was prepared
    scans = {text: plan for text, plan in plans.items()
             if any(f"Seq Scan on {t} " in plan for t in ("node", "edge", "schema_field"))}
    assert not scans, scans


def test_apply_tells_on_runs_the_stored_runs_of_each_run_id_before_it_writes(
        store: Store) -> None:
    from lineage import _keys as keys

    ids = [str(uuid.uuid4()) for _ in range(3)]
    first = GraphBatch()
    stored = [keys.run_key(ids[0], "job:ns/a"), keys.run_key(ids[0], "job:ns/b"),
              keys.run_key(ids[1], "job:ns/a")]
    for key in stored:
        first.add_node(key, key.rsplit("/", 1)[-1])
    first.add_node(f"dataset:ns/{ids[0]}", ids[0])  # ends with the runId, but no run
    store.apply(first)
    later = GraphBatch()
    later.add_node(keys.run_key(ids[2], "job:ns/c"), ids[2])  # written after the callback
    told: list[dict[str, list[str]]] = []
    result = store.apply(later, run_ids=ids, on_runs=told.append)
    assert result.nodes_created == 1
    assert len(told) == 1
    found = {rid: sorted(keys) for rid, keys in told[0].items()}
    assert found == {ids[0]: sorted(stored[:2]), ids[1]: stored[2:], ids[2]: []}
    for rid in ids[:2]:  # what `candidates` gives
        assert found[rid] == sorted(r.key for r in store.candidates(rid, [NodeKind.RUN]))


def test_an_audited_entry_keeps_what_on_runs_adds_to_its_detail(store: Store) -> None:
    batch = GraphBatch()
    batch.add_node("dataset:ns/audited", "audited")
    with store.audited("someone", "ingest", None, {"events": 1}) as entry:
        store.apply(batch, run_ids=["r1"],
                    on_runs=lambda found: entry.detail.update(found=found))
    assert store.audit_log(1)[0].detail == {"events": 1, "found": {"r1": []}}


def test_apply_with_a_dangling_edge_writes_nothing(store: Store) -> None:
    store.apply(_batch_with("field:ns/kept"))
    before = snapshot(store)
    batch = GraphBatch()
    batch.add_node("field:ns/new", "new")
    batch.add_edge("field:ns/new", "field:ns/missing", EdgeKind.DERIVED_FROM)
    with pytest.raises(lineage.ValidationError, match="field:ns/missing"):
        store.apply(batch)
    assert snapshot(store) == before


def test_a_failed_write_rolls_back_every_row(store: Store) -> None:
    """An error in the middle of a transaction (a schema for a non-version) leaves nothing."""
    before = snapshot(store)
    batch = GraphBatch()
    batch.add_node("field:ns/a", "a")
    batch.schemas["field:ns/a"] = []
    with pytest.raises(lineage.ValidationError, match="dataset versions"):
        store.apply(batch)
    assert snapshot(store) == before


def _batch_with(*keys: str) -> GraphBatch:
    batch = GraphBatch()
    for key in keys:
        batch.add_node(key, key)
    return batch


def test_downstream_follows_data_flow_with_one_shortest_path(store: Store) -> None:
    batch = GraphBatch()
    _chain(batch, "field:ns/src.a", "field:ns/mid.a", "field:ns/far.a", "feature:f")
    _chain(batch, "field:ns/src.a", "feature:f")  # a shortcut: f is at depth 1
    batch.add_node("model_version:m@1", "m@1")
    batch.add_edge("feature:f", "model_version:m@1", EdgeKind.USES_FEATURE)
    store.apply(batch)
    closure = store.downstream("src.a")
    depths = {r.node.key: r.depth for r in closure}
    assert depths == {"field:ns/mid.a": 1, "field:ns/far.a": 2, "feature:f": 1,
                      "model_version:m@1": 2}
    model = closure.get("model_version:m@1")
    assert model is not None
    assert [(e, n.key) for e, n in model.path] == [
        (None, "field:ns/src.a"),
        (EdgeKind.DERIVED_FROM, "feature:f"),
        (EdgeKind.USES_FEATURE, "model_version:m@1"),
    ]


def test_upstream_is_the_mirror_of_downstream(store: Store) -> None:
    batch = GraphBatch()
    _chain(batch, "field:ns/a.x", "field:ns/b.x", "field:ns/c.x")
    store.apply(batch)
    assert store.upstream("c.x").keys() == {"field:ns/a.x", "field:ns/b.x"}
    assert store.downstream("c.x").keys() == set()


def test_closure_terminates_on_cycles(store: Store) -> None:
    batch = GraphBatch()
    _chain(batch, "field:ns/a", "field:ns/b", "field:ns/c", "field:ns/a")
    store.apply(batch)
    closure = store.downstream("field:ns/a")
    assert closure.keys() == {"field:ns/b", "field:ns/c"}
    assert {r.node.key: r.depth for r in closure} == {"field:ns/b": 1, "field:ns/c": 2}


def test_depth_bound_limits_the_walk(store: Store) -> None:
    batch = GraphBatch()
    _chain(batch, *[f"field:ns/t.c{i}" for i in range(6)])
    store.apply(batch)
    assert len(store.downstream("t.c0", max_depth=2)) == 2
    assert len(store.downstream("t.c0", max_depth=0)) == 0
    with pytest.raises(lineage.ValidationError, match="depth"):
        store.downstream("t.c0", max_depth=-1)


def test_resolve_accepts_full_keys_and_boundary_suffixes(fraud_store: Store) -> None:
    key = "field:postgres://db.prod:5432/public.transactions.category"
    assert fraud_store.resolve(key).key == key
    assert fraud_store.resolve("transactions.category").key == key
    assert fraud_store.resolve("public.transactions.category").key == key
    assert fraud_store.resolve("fraud@3").key == "model_version:fraud@3"
    with pytest.raises(lineage.NotFound):
        fraud_store.resolve("ransactions.category")  # not at a boundary


def test_every_suffix_form_resolves_after_apply_and_bulk_load(store: Store) -> None:
    """Suffixes of one to many segments, starting with a boundary, the key's last segment
    alone, and keys with non-ASCII text, through both write paths."""
    applied = ["field:pg://h:5432/public.orders.status", "field:pg://h:5432/staging.orders.status",
               "model_version:fraud@3", "field:pg://h/caf\u00e9.cre\u0301me"]
    bulk = ["field:pg://h:5432/public.old_orders.status", "dataset_version:s3://b/x.y@3",
            "field:pg://h/\U0001f600.z\u200d"]
    batch = GraphBatch()
    for key in applied:
        batch.add_node(key, key.rsplit(".", 1)[-1])
    store.apply(batch)
    store.bulk_load([(k, k.partition(":")[0], "n") for k in bulk], [])
    resolve = lambda name: store.resolve(name).key  # noqa: E731
    assert resolve("public.orders.status") == applied[0]
    assert resolve("h:5432/public.orders.status") == applied[0]
    assert resolve("/staging.orders.status") == applied[1]
    assert resolve("old_orders.status") == bulk[0]
    assert resolve("fraud@3") == applied[2]
    assert resolve("model_version:fraud@3") == applied[2]
    assert resolve("cre\u0301me") == applied[3]
    assert resolve("caf\u00e9.cre\u0301me") == applied[3]
    assert resolve("x.y@3") == bulk[1]
    assert resolve("\U0001f600.z\u200d") == bulk[2]
    with pytest.raises(lineage.AmbiguousName) as err:
        store.resolve("orders.status")
    assert sorted(err.value.candidates) == sorted(applied[:2])
    with pytest.raises(lineage.AmbiguousName) as err:
        store.resolve("@3")
    assert sorted(err.value.candidates) == sorted([applied[2], bulk[1]])
    with pytest.raises(lineage.AmbiguousName) as err:
        store.resolve("status")
    assert sorted(err.value.candidates) == sorted([*applied[:2], bulk[0]])
    with pytest.raises(lineage.NotFound) as missing:
        store.resolve("rders.status")  # not at a boundary
    assert missing.value.suggestions


def test_ambiguous_suffix_lists_every_candidate(fraud_store: Store) -> None:
    with pytest.raises(lineage.AmbiguousName) as err:
        fraud_store.resolve("user_id")
    assert "field:postgres://db.prod:5432/public.transactions.user_id" in err.value.candidates
    assert "field:postgres://db.prod:5432/public.users.user_id" in err.value.candidates
    assert len(err.value.candidates) >= 4


def test_unknown_name_suggests_the_closest_key(fraud_store: Store) -> None:
    with pytest.raises(lineage.NotFound) as err:
        fraud_store.resolve("transactions.categroy")
    assert "did you mean" in str(err.value)
    assert err.value.suggestions[0].endswith("public.transactions.category")


def test_kinds_narrow_resolution(fraud_store: Store) -> None:
    assert fraud_store.resolve("fraud", [NodeKind.MODEL]).key == "model:fraud"
    with pytest.raises(lineage.NotFound):
        fraud_store.resolve("fraud", [NodeKind.CONSUMER])


def test_neighbours_lists_both_directions(fraud_store: Store) -> None:
    pairs = fraud_store.neighbours("feature:category_share")
    seen = {(e.src, e.kind, e.dst) for e, _ in pairs}
    assert ("field:s3://ml-warehouse/features.user_features.category_share",
            EdgeKind.DERIVED_FROM, "feature:category_share") in seen
    assert ("feature:category_share", EdgeKind.USES_FEATURE, "model_version:fraud@3") in seen


def test_schema_snapshots_are_kept_per_version(fraud_store: Store) -> None:
    jan = [f.name for f in fraud_store.schema("user_features@2026-01")]
    mar = [f.name for f in fraud_store.schema("user_features@2026-03")]
    assert jan == ["user_id", "avg_amount_7d", "txn_count_7d"]
    assert "category_share" in mar and "age_filled" in mar


def test_bulk_load_writes_all_or_nothing(store: Store) -> None:
    nodes = [lineage.NodeSpec(key=f"field:ns/t.c{i}", kind=NodeKind.FIELD, name=f"c{i}")
             for i in range(50)]
    edges = [lineage.EdgeSpec(src=f"field:ns/t.c{i}", dst=f"field:ns/t.c{i + 1}",
                              kind=EdgeKind.DERIVED_FROM) for i in range(49)]
    assert store.bulk_load(nodes, edges, chunk_size=7) == (50, 49)
    assert store.bulk_load(nodes, edges) == (0, 0)
    before = snapshot(store)
    bad = [lineage.EdgeSpec(src="field:ns/t.c0", dst="field:ns/nowhere",
                            kind=EdgeKind.DERIVED_FROM)]
    extra = [lineage.NodeSpec(key="field:ns/t.extra", kind=NodeKind.FIELD, name="extra")]
    with pytest.raises(lineage.ValidationError, match="nowhere"):
        store.bulk_load(extra, bad)
    assert snapshot(store) == before


def _delete_during_the_next_load(store_url: str, monkeypatch: pytest.MonkeyPatch,
                                 key: str) -> list[str]:
    """Make the next bulk load delete node `key` (with its edges) through a second
    connection of the same backend, after the load has read the stored nodes and before it
    writes an edge: what another client of the database (psql, Neo4j Browser) may do
    meanwhile. The returned list then says "deleted", "absent" (not visible to the other
    connection: created by the load's open transaction), or "refused" (the load's open
    transaction holds a lock the delete needs: SQLite's write lock, Neo4j's node locks)."""
    import sqlite3

    import psycopg
    from neo4j import GraphDatabase, Query
    from neo4j.exceptions import ClientError, TransientError

    from lineage.store.neo4j import store as neo4j_module
    from lineage.store.sql import bulk

    outcome: list[str] = []

    def delete() -> None:
        if outcome:
            return
        if store_url.startswith("sqlite"):
            try:
                with sqlite3.connect(store_url.removeprefix("sqlite:///"), timeout=0) as conn:
                    conn.execute("DELETE FROM node WHERE key = ?", (key,))
            except sqlite3.OperationalError as exc:
                assert "locked" in str(exc)
                outcome.append("refused")
        elif store_url.startswith("postgresql"):
            with psycopg.connect(store_url) as conn:
                conn.execute("SET lock_timeout = '5s'")
                conn.execute("DELETE FROM edge WHERE src IN (SELECT id FROM node WHERE key = %s) "
                             "OR dst IN (SELECT id FROM node WHERE key = %s)", (key, key))
                gone = conn.execute("DELETE FROM node WHERE key = %s", (key,)).rowcount
                outcome.append("deleted" if gone else "absent")
        else:
            with GraphDatabase.driver(store_url.split("?", 1)[0]) as driver:
                try:  # the load's open transaction may hold the locks the delete needs
                    gone = driver.execute_query(Query(
                        "MATCH (n:LineageNode {key: $key}) DETACH DELETE n RETURN count(*) AS n",
                        timeout=3), {"key": key}).records[0]["n"]
                except (ClientError, TransientError) as exc:
                    assert "timed out" in str(exc).lower() or "terminated" in str(exc).lower()
                    outcome.append("refused")
                else:
                    outcome.append("deleted" if gone else "absent")

    def before(original: Any) -> Any:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            delete()
            return original(*args, **kwargs)
        return wrapped

    def after(original: Any) -> Any:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            delete()
            return result
        return wrapped

    monkeypatch.setattr(neo4j_module, "_write_edges", before(neo4j_module._write_edges))
    for loader in (bulk._Sqlite, bulk._Postgres):
        monkeypatch.setattr(loader, "stored_ids", after(loader.stored_ids))
    return outcome


@pytest.mark.parametrize("deleted", ["field:ns/old.b", "field:ns/new.c2"])
@pytest.mark.parametrize("in_parts", [False, True])
def test_bulk_load_reports_only_the_edges_written_when_an_end_is_deleted_during_it(
        store: Store, store_url: str, monkeypatch: pytest.MonkeyPatch, deleted: str,
        in_parts: bool) -> None:
    from lineage.store.neo4j import store as neo4j_module

    if in_parts:  # Neo4j: nodes and edges in transactions of their own (a large load)
        monkeypatch.setattr(neo4j_module, "ONE_TRANSACTION_ROWS", 0)
    old = [f"field:ns/old.{c}" for c in "abc"]
    store.bulk_load([(k, "field", k[-1]) for k in old],
                    [(old[0], old[1], "derived_from"), (old[1], old[2], "derived_from")])
    new = [f"field:ns/new.c{i}" for i in range(5)]
    edges = [(old[i % 3], k, "derived_from") for i, k in enumerate(new)]
    edges += [(a, b, "derived_from") for a, b in zip(new, new[1:], strict=False)]
    edges += [(old[2], old[0], "derived_from")]
    outcome = _delete_during_the_next_load(store_url, monkeypatch, deleted)
    before = store.stats()["edges"]
    try:
        nodes_written, edges_written = store.bulk_load([(k, "field", k[-2:]) for k in new],
                                                       edges)
    except lineage.ConflictError:  # the SQL load rolls back whole: nothing was written
        assert store.stats()["edges"] == before - (2 if deleted in old else 0)
        assert outcome == ["deleted"]
        return
    assert nodes_written == len(new)
    assert outcome in (["deleted"], ["absent"], ["refused"])
    stored = store.edges_among([*old, *new])
    assert len(stored) - (before - (2 if outcome == ["deleted"] and deleted in old else 0)) \
        == edges_written
    assert all(deleted not in (e.src, e.dst) for e in stored) or outcome != ["deleted"]
    if outcome == ["deleted"]:  # every edge but those of the deleted node
        touching = sum(deleted in (s, d) for s, d, _ in edges)
        assert edges_written == len(edges) - touching
    else:
        assert edges_written == len(edges)


def test_an_incomplete_backend_cannot_be_built() -> None:
    class HalfStore(Store):
        def close(self) -> None:
            pass

    with pytest.raises(TypeError, match="abstract"):
        HalfStore()  # type: ignore[abstract]


def test_every_shared_store_name_stays_importable_from_store_base() -> None:
    """`lineage.store.common` holds the shared value types and constants; `base` re-exports
    all of them for older imports, so every public name common assigns must be in its
    `__all__` (which base re-exports)."""
    import ast
    import inspect

    from lineage.store import base, common

    assigned = {t.id for node in ast.parse(inspect.getsource(common)).body
                if isinstance(node, ast.Assign) for t in node.targets
                if isinstance(t, ast.Name) and not t.id.startswith("_")}
    assert set(common.__all__) == assigned
    assert set(common.__all__) <= set(base.__all__)
    assert all(getattr(base, n) is getattr(common, n) for n in common.__all__)


def test_connect_rejects_unknown_schemes_and_missing_folders(tmp_path) -> None:
    with pytest.raises(lineage.ValidationError, match="no store backend"):
        lineage.connect("mysql://localhost/x")
    with pytest.raises(lineage.StoreError, match="does not exist"):
        lineage.connect(f"sqlite:///{tmp_path}/missing/dir/l.db")


def test_connect_uses_lineage_url_from_the_environment(tmp_path, monkeypatch) -> None:
    url = f"sqlite:///{tmp_path / 'env.db'}"
    monkeypatch.setenv("LINEAGE_URL", url)
    with lineage.connect() as s:
        assert s.url == url
    assert (tmp_path / "env.db").exists()


def test_sqlite_store_runs_in_wal_mode(sqlite_url: str) -> None:
    with lineage.connect(sqlite_url) as s:
        with s.engine.connect() as conn:  # type: ignore[attr-defined]
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000


# ---------------------------------------------------------------- against an independent walk

_EDGE_KINDS = [EdgeKind.DERIVED_FROM, EdgeKind.USES_FEATURE, EdgeKind.CONSUMES]


@st.composite
def graphs(draw: st.DrawFn) -> tuple[int, list[tuple[int, int, int]]]:
    n = draw(st.integers(min_value=2, max_value=25))
    pairs = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1),
                                    st.integers(0, len(_EDGE_KINDS) - 1)), max_size=60))
    return n, [(a, b, k) for a, b, k in pairs if a != b]


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(graph=graphs())
def test_closure_agrees_with_networkx_on_random_graphs(
    store_url: str, graph: tuple[int, list[tuple[int, int, int]]]
) -> None:
    n, pairs = graph
    tag = uuid.uuid4().hex[:10]  # fresh keys per example: the store outlives the example
    keys = [f"field:g{tag}/t.c{i}" for i in range(n)]
    batch = GraphBatch()
    for key in keys:
        batch.add_node(key, key)
    truth = nx.MultiDiGraph()
    truth.add_nodes_from(keys)
    for a, b, k in pairs:
        batch.add_edge(keys[a], keys[b], _EDGE_KINDS[k])
        truth.add_edge(keys[a], keys[b], kind=_EDGE_KINDS[k])
    with lineage.connect(store_url) as store:
        store.apply(batch)
        for direction, walk in (("down", store.downstream), ("up", store.upstream)):
            g = truth if direction == "down" else truth.reverse(copy=True)
            start = keys[0]
            expected = nx.single_source_shortest_path_length(g, start)
            expected.pop(start)
            closure = walk(start)
            assert {r.node.key: r.depth for r in closure} == expected
            for reached in closure:
                path = reached.path
                assert path[0][1].key == start and len(path) == reached.depth + 1
                for (_, a), (edge, b) in zip(path, path[1:], strict=False):
                    u, v = (a.key, b.key) if direction == "down" else (b.key, a.key)
                    assert edge in {d["kind"] for d in truth.get_edge_data(u, v).values()}


def test_assertion_columns_loads_only_the_columns_asked_for(store: Store) -> None:
    from .test_guard import SCENARIO

    lineage.manifest.register_text(store, SCENARIO)
    table = pl.DataFrame({"transaction_id": ["t1", "t2", "t3"], "is_fraud": [True, False, True],
                          "score": [0.5, None, 1.0]})
    ai = provenance.tag(store, table, dataset="fraud.labels_v3", field="is_fraud",
                        key="transaction_id", origin="ai_inferred", agent="fraud@2",
                        confidence_column="score")
    reviewed = provenance.review(store, table.head(1), dataset="fraud.labels_v3",
                                 field="is_fraud", key="transaction_id",
                                 reviewer="annotator/alice").batch
    assert ai.id is not None and reviewed.id is not None
    full = store.assertion_arrays([ai.id, reviewed.id])
    some = store.assertion_columns([ai.id, reviewed.id, 10_000], ["value", "confidence"])
    assert sorted(some) == sorted([ai.id, reviewed.id])  # an unknown batch is left out
    for batch_id, columns in some.items():
        assert list(columns) == ["value", "confidence"]
        assert columns["value"].dtype == np.int64 and columns["confidence"].dtype == np.float32
        assert columns["value"].tolist() == full[batch_id].value.tolist()
        np.testing.assert_array_equal(columns["confidence"], full[batch_id].confidence)
    reviews = store.assertion_columns([ai.id, reviewed.id], ["reviewed_batch", "entity"])
    assert list(reviews[ai.id]) == ["entity"]  # an AI batch reviews nothing
    assert reviews[reviewed.id]["reviewed_batch"].tolist() == [ai.id]
    with pytest.raises(lineage.ValidationError, match="assertion columns are entity, value"):
        store.assertion_columns([ai.id], ["value", "fingerprint"])


@pytest.mark.parametrize("wide", [False, True], ids=["narrow", "wide"])
def test_walk_reaches_a_node_through_the_smaller_edge_kind_when_two_join_one_pair(
        store_url: str, monkeypatch: pytest.MonkeyPatch, wide: bool) -> None:
    """Two edges of different kinds between one pair, the larger kind stored first: the
    step recorded is the smaller kind, however the level is read (a table scan of a small
    edge table returns the rows as stored, not by the key's kind)."""
    import lineage.store.sql.graph as sql_graph

    if wide:
        monkeypatch.setattr(sql_graph, "_WIDE_FRONTIER", 1)
    with lineage.connect(store_url) as store:
        for kind in (EdgeKind.DERIVED_FROM, EdgeKind.CONSUMES):  # 'consumes' sorts first
            batch = GraphBatch()
            batch.add_node("field:pair/t.a", "a")
            batch.add_node("field:pair/t.b", "b")
            batch.add_edge("field:pair/t.a", "field:pair/t.b", kind)
            store.apply(batch)
        (reached,) = store.downstream("field:pair/t.a")
        assert (reached.node.key, reached.edge) == ("field:pair/t.b", EdgeKind.CONSUMES)
        (back,) = store.upstream("field:pair/t.b")
        assert (back.node.key, back.edge) == ("field:pair/t.a", EdgeKind.CONSUMES)


@pytest.mark.parametrize("wide", [False, True], ids=["narrow", "wide"])
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(graph=graphs(), depth=st.integers(0, 6) | st.none(), names=st.randoms())
def test_walks_choose_the_smallest_parent_key_then_edge_kind(
    store_url: str, monkeypatch: pytest.MonkeyPatch, wide: bool,
    graph: tuple[int, list[tuple[int, int, int]]], depth: int | None, names: object
) -> None:
    """The same reached set, depths, order and one path per node on every backend, whichever
    way a level is read (`wide`: the hub's column-wise reading on SQLite, forced here)."""
    import lineage.store.sql.graph as sql_graph

    if wide:
        monkeypatch.setattr(sql_graph, "_WIDE_FRONTIER", 1)
    n, pairs = graph
    tag = uuid.uuid4().hex[:10]
    suffixes = list(range(n))
    names.shuffle(suffixes)  # type: ignore[attr-defined]  # key order != insertion order
    keys = [f"field:g{tag}/t.c{s:02d}" for s in suffixes]
    batch = GraphBatch()
    for i, key in enumerate(keys):
        batch.add_node(key, key, transformation=f"t{i}")
    truth = nx.MultiDiGraph()
    truth.add_nodes_from(keys)
    for a, b, k in pairs:
        batch.add_edge(keys[a], keys[b], _EDGE_KINDS[k], weight=k)
        truth.add_edge(keys[a], keys[b], kind=_EDGE_KINDS[k])
    bound = 64 if depth is None else depth
    with lineage.connect(store_url) as store:
        store.apply(batch)
        for direction in ("downstream", "upstream"):
            g = truth if direction == "downstream" else truth.reverse(copy=True)
            start = keys[0]
            dist = nx.single_source_shortest_path_length(g, start, cutoff=bound)
            closure = (store.downstream if direction == "downstream" else store.upstream)(
                start, depth)
            assert len(closure) == len(dist) - 1 and closure.keys() == set(dist) - {start}
            assert [r.node.key for r in closure] == sorted(
                set(dist) - {start}, key=lambda k: (dist[k], k))
            for r in closure:
                assert r.depth == dist[r.node.key] <= bound
                assert r.via is not None and r.edge is not None
                best = min((u, d["kind"].value) for u, _, d in g.in_edges(r.node.key, data=True)
                           if dist.get(u) == r.depth - 1)
                assert (r.via.node.key, r.edge.value) == best
                assert [n.key for _, n in r.path] == [*[n.key for _, n in r.via.path],
                                                       r.node.key]
            sub = store.subgraph(start, direction, depth)  # type: ignore[arg-type]
            assert [(r.node.key, r.depth, r.via.node.key if r.via else None, r.edge)
                    for r in sub.closure] == [(r.node.key, r.depth, r.via.node.key
                                               if r.via else None, r.edge) for r in closure]
            region = set(dist)
            assert sub.properties == {k: dict(store.node(k).properties) for k in region}
            among = {(e.src, e.dst, e.kind, e.properties["weight"])
                     for e in store.edges_among(region)}
            assert {(s, d, k, p["weight"]) for s, d, k, p in sub.edges} == among
            assert len(sub.edges) == len(among)


def test_a_store_says_whether_it_is_embedded_and_how_another_process_opens_it(
        store: Store, tmp_path: Path) -> None:
    import sqlalchemy as sa

    from lineage.store.sql import engine as engines

    sqlite = store.url.startswith("sqlite")
    assert store.embedded is sqlite
    assert store.shared_url() == store.url
    for in_memory in ("sqlite://", "sqlite:///:memory:"):
        with lineage.connect(in_memory) as private:
            assert private.embedded and private.shared_url() is None
    # a URI database in memory (opening one warns in SQLAlchemy about its pool choice)
    assert engines.in_memory(sa.make_url(f"sqlite:///file:{tmp_path}/m?mode=memory&uri=true"))
    assert not engines.in_memory(sa.make_url(f"sqlite:///file:{tmp_path}/m.db?uri=true"))


def test_a_subgraph_becomes_a_networkx_graph_with_kinds_and_data_flow_edges(
        fraud_store: Store) -> None:
    sub = fraud_store.subgraph("transactions.category", "downstream")
    g = sub.to_networkx()
    start = sub.closure.start.node.key
    assert g.graph["start"] == start and g.graph["direction"] == "downstream"
    assert set(g.nodes) == {start, *sub.closure.keys()}
    assert g.nodes[start]["depth"] == 0 and g.nodes[start]["kind"] == "field"
    assert g.number_of_edges() == len(sub.edges)
    for src, dst, kind, properties in sub.edges:
        assert g.edges[src, dst, kind.value]["properties"] == properties
    # every reached node has a data-flow path from the start of the length the walk found
    for reached in sub.closure:
        assert g.nodes[reached.node.key]["kind"] == reached.node.kind.value
        assert nx.shortest_path_length(g, start, reached.node.key) == reached.depth
    # upstream: edges still point the way data flows, so paths run towards the start
    up = fraud_store.subgraph("fraud@3", "upstream").to_networkx()
    top = up.graph["start"]
    assert all(nx.has_path(up, key, top) for key in up.nodes)


@pytest.mark.parametrize("direction", ["downstream", "upstream"])
def test_subgraph_edges_come_in_one_order_whatever_order_they_were_written_in(
        store: Store, direction: str) -> None:
    """Change impact iterates the region's edges, so their order is part of the answer:
    by the near end's row, then edge kind, then the far end's key, on every backend (it
    used to follow the stores' own node ids, i.e. the order of writing)."""
    hub = "feature:hub"
    batch = GraphBatch()
    batch.add_node(hub, "hub")
    others = [f"feature:n{i}" for i in (5, 3, 9, 1)]  # written out of key order
    for key in others:
        batch.add_node(key, key)
        ends = (hub, key) if direction == "downstream" else (key, hub)
        batch.add_edge(*ends, EdgeKind.USES_FEATURE)
        batch.add_edge(*ends, EdgeKind.DERIVED_FROM)
    for key in reversed(others):
        store.apply(GraphBatch(nodes={key: batch.nodes[key]}))
    store.apply(batch)
    sub = store.subgraph(hub, direction)  # type: ignore[arg-type]
    far = 1 if direction == "downstream" else 0
    assert [(e[2].value, e[far]) for e in sub.edges] == [
        (kind, key) for kind in ("derived_from", "uses_feature") for key in sorted(others)]


def test_a_pooled_postgresql_connection_closed_while_idle_is_replaced_before_use(
        postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The pool pings only connections idle for a while (not every checkout: a round trip
    # per ingest transaction); one the server closed meanwhile must still not fail a request.
    import psycopg

    from lineage.store.sql import engine as engines

    monkeypatch.setattr(engines, "PING_AFTER_IDLE_SECONDS", 0.0)
    with lineage.connect(postgres_url) as store:
        store.apply(_batch_with("field:ns/before"))
        raw = store.engine.raw_connection()  # type: ignore[attr-defined]
        pid = raw.driver_connection.info.backend_pid
        raw.close()
        with psycopg.connect(postgres_url.split("?")[0], autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        store.apply(_batch_with("field:ns/after"))
        assert store.node("field:ns/after").key == "field:ns/after"


# ------------------------------------------------------------------ SQLite reads without SQLAlchemy

_READ_AND_THEN_WRITE = """
import json, sys
import lineage
store = lineage.connect(sys.argv[1], create=False)
report = lineage.impact(store, "transactions.category").to_dict()
keys = sorted(store.downstream("transactions.category").keys())
answers = {"report": report, "stats": store.stats(),
           "nodes": sorted(n.model_dump_json() for n in store.nodes(keys).values()),
           "edges": sorted(e.model_dump_json() for e in store.edges_among(keys))}
before = "sqlalchemy" in sys.modules or "sqlmodel" in sys.modules
batch = lineage.GraphBatch()
batch.add_node("feature:written_later", "written_later")
store.apply(batch)
print(json.dumps({"answers": answers, "sqlalchemy_before_write": before,
                  "sqlalchemy_after_write": "sqlalchemy" in sys.modules,
                  "written": store.node("feature:written_later").name}))
"""


def _read_then_write(url: str) -> dict[str, Any]:
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _READ_AND_THEN_WRITE, url],
                          capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_a_read_on_a_sqlite_file_loads_no_sqlalchemy_and_answers_as_the_engine_does(
        tmp_path: Path) -> None:
    """A read command on a SQLite file runs its queries on standard-library connections
    and opens the SQLAlchemy engine only when it writes; the answers are the engine's
    (the same file opened through `sqlite+pysqlite://`, which takes the engine's path)."""
    from .conftest import EXAMPLE

    path = tmp_path / "lineage.db"
    with lineage.connect(f"sqlite:///{path}") as store:
        lineage.register(store, EXAMPLE)
    copy = tmp_path / "copy.db"
    copy.write_bytes(path.read_bytes())
    light = _read_then_write(f"sqlite:///{path}")
    engine = _read_then_write(f"sqlite+pysqlite:///{copy}")
    assert light["sqlalchemy_before_write"] is False
    assert engine["sqlalchemy_before_write"] is True
    assert light["sqlalchemy_after_write"] is True
    assert light["written"] == engine["written"] == "written_later"
    assert light["answers"] == engine["answers"]
    assert light["answers"]["report"]["affected"]["model_version"]


def test_a_store_written_by_a_newer_release_is_refused_with_its_revision(
        sql_store_url: str) -> None:
    """A store whose schema revision this release does not know is refused with the
    revision and what to do (it was Alembic's traceback), by reads and writes alike, and
    is left as it was."""
    import sqlalchemy as sa

    with lineage.connect(sql_store_url) as store:
        store.apply(_batch_with("field:ns/kept"))
        with store.engine.begin() as conn:  # type: ignore[attr-defined]
            conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    for create in (False, True):
        with pytest.raises(lineage.StoreError,
                           match="schema revision '9999'.*newer release.*upgrade lineage"):
            lineage.connect(sql_store_url, create=create)
    url = sa.make_url(sql_store_url)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")
                                ).scalar() == "9999"
            assert conn.execute(sa.text("SELECT count(*) FROM node")).scalar() == 1
    finally:
        engine.dispose()


def test_the_dataset_pass_of_a_walk_answers_the_same_in_plain_python_and_with_numpy(
        sql_store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A small walk's datasets and consumers are worked out in plain Python (no numpy to
    import), a wide one's with numpy arrays: from every field, both ways, the same."""
    from lineage.store.sql import consumers as sql_consumers

    from .conftest import EXAMPLE

    with lineage.connect(sql_store_url) as store:
        lineage.register(store, EXAMPLE)
        fields = [ref.key for ref in store.find("", [NodeKind.FIELD], limit=1000)]

        def answers() -> list[Any]:
            found: list[Any] = []
            for key in fields:
                for closure in (store.downstream(key), store.upstream(key)):
                    found.append((store.closure_dataset_consumers(closure),
                                  store.closure_datasets(closure)))
                found.append(lineage.impact(store, key).to_dict())
            return found

        monkeypatch.setattr(sql_consumers, "NUMPY_FIELDS", 10**9)
        plain = answers()
        monkeypatch.setattr(sql_consumers, "NUMPY_FIELDS", 0)
        with_numpy = answers()
    assert plain == with_numpy
    assert any(consumers for consumers, _ in plain[::3]), "no walk reached a consumer"
    assert any(datasets for _, datasets in plain[::3]), "no walk reached a feeding dataset"
