"""`Store.bulk_load`: every input form, its checks, and whole-or-nothing, on every backend."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import polars as pl
import pyarrow as pa
import pytest

import lineage
from lineage import EdgeKind, EdgeSpec, NodeKind, NodeSpec
from lineage.store.base import Store

from .conftest import snapshot

# a small graph: a dataset with three fields, a derived field and a feature
NODES: list[tuple[str, str, str, str | None, dict[str, Any]]] = [
    ("dataset:pg://db/public.orders", "dataset", "public.orders", "pg://db", {"owner": "ops"}),
    ("field:pg://db/public.orders.id", "field", "id", "pg://db", {}),
    ("field:pg://db/public.orders.amount", "field", "amount", "pg://db", {"type": "decimal"}),
    ("field:pg://db/public.orders.total", "field", "total", "pg://db", {}),
    ("feature:order_total", "feature", "order_total", None, {}),
]
EDGES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("dataset:pg://db/public.orders", "field:pg://db/public.orders.id", "has_field", {}),
    ("dataset:pg://db/public.orders", "field:pg://db/public.orders.amount", "has_field", {}),
    ("dataset:pg://db/public.orders", "field:pg://db/public.orders.total", "has_field", {}),
    ("field:pg://db/public.orders.amount", "field:pg://db/public.orders.total", "derived_from",
     {"transformation": "aggregation"}),
    ("field:pg://db/public.orders.total", "feature:order_total", "derived_from",
     {"transformation": "identity"}),
]


def _specs() -> tuple[list[NodeSpec], list[EdgeSpec]]:
    return ([NodeSpec(key=k, kind=kind, name=n, namespace=ns, properties=p)
             for k, kind, n, ns, p in NODES],
            [EdgeSpec(src=s, dst=d, kind=kind, properties=p) for s, d, kind, p in EDGES])


def _tuples() -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    # kinds as enums for nodes and as text for edges: both are accepted
    return ([(k, NodeKind(kind), n, ns, p) for k, kind, n, ns, p in NODES],
            [(s, d, kind, p) for s, d, kind, p in EDGES])


def _polars() -> tuple[pl.DataFrame, pl.DataFrame]:
    nodes = pl.DataFrame([(k, kind, n, ns, json.dumps(p)) for k, kind, n, ns, p in NODES],
                         schema=["key", "kind", "name", "namespace", "properties"],
                         orient="row")
    edges = pl.DataFrame([(s, d, kind, json.dumps(p)) for s, d, kind, p in EDGES],
                         schema=["src", "dst", "kind", "properties"], orient="row")
    return nodes, edges


def _arrow() -> tuple[pa.Table, pa.Table]:
    nodes, edges = _polars()
    return nodes.to_arrow(), edges.to_arrow()


FORMS = {"specs": _specs, "tuples": _tuples, "polars": _polars, "arrow": _arrow}


def _expected() -> dict[str, object]:
    return {
        "nodes": {k: (n, ns, p) for k, _, n, ns, p in NODES},
        "edges": sorted((s, d, kind, str(p)) for s, d, kind, p in EDGES),
        "schemas": {},
    }


@pytest.mark.parametrize("form", sorted(FORMS))
def test_every_input_form_gives_the_same_store(store: Store, form: str) -> None:
    nodes, edges = FORMS[form]()
    assert store.bulk_load(nodes, edges) == (5, 5)
    assert snapshot(store) == _expected()
    assert store.node("feature:order_total").kind is NodeKind.FEATURE
    # the walk sees the loaded edges
    assert store.downstream("public.orders.amount").keys() == {
        "field:pg://db/public.orders.total", "feature:order_total"}


def test_a_columnar_load_needs_only_the_required_columns(store: Store) -> None:
    nodes = pl.DataFrame({"key": ["feature:a", "feature:b"], "kind": ["feature", "feature"],
                          "name": ["a", "b"]})
    edges = pa.table({"src": ["feature:a"], "dst": ["feature:b"], "kind": ["derived_from"]})
    assert store.bulk_load(nodes, edges) == (2, 1)
    assert store.node("feature:a").namespace is None
    assert store.edges_among(["feature:a", "feature:b"])[0].properties == {}


def test_properties_may_be_a_struct_column(store: Store) -> None:
    nodes = pl.DataFrame({"key": ["feature:a"], "kind": ["feature"], "name": ["a"],
                          "properties": [{"owner": "ml", "tier": 1}]})
    assert store.bulk_load(nodes, []) == (1, 0)
    assert store.node("feature:a").properties == {"owner": "ml", "tier": 1}


def test_loading_again_writes_nothing_and_keeps_stored_properties(store: Store) -> None:
    nodes, edges = _specs()
    store.bulk_load(nodes, edges)
    changed = [(k, kind, n, ns, {"owner": "someone else"}) for k, kind, n, ns, _ in NODES]
    assert store.bulk_load(changed, [(s, d, k) for s, d, k, _ in EDGES]) == (0, 0)
    assert snapshot(store) == _expected()


def test_a_load_may_add_to_a_store_and_link_to_stored_nodes(store: Store) -> None:
    nodes, edges = _specs()
    store.bulk_load(nodes[:3], edges[:2])
    new_edges = [(s, d, k, p) for s, d, k, p in EDGES]  # two of them stored already
    assert store.bulk_load(_tuples()[0], new_edges) == (2, 3)
    assert snapshot(store) == _expected()


def test_empty_input_writes_nothing(store: Store) -> None:
    assert store.bulk_load([], []) == (0, 0)
    empty_nodes = pl.DataFrame(schema={"key": pl.String, "kind": pl.String, "name": pl.String})
    empty_edges = pl.DataFrame(schema={"src": pl.String, "dst": pl.String, "kind": pl.String})
    assert store.bulk_load(empty_nodes, empty_edges) == (0, 0)
    assert store.stats() == {"edges": 0}


def _loaded(store: Store) -> dict[str, object]:
    nodes, edges = _specs()
    store.bulk_load(nodes[:2], edges[:1])
    return snapshot(store)


def test_a_node_key_twice_in_one_load_is_refused(store: Store) -> None:
    """Behaviour change: the first copy used to win silently."""
    before = _loaded(store)
    nodes = [*_tuples()[0], ("feature:order_total", "feature", "again")]
    with pytest.raises(lineage.ValidationError, match="feature:order_total"):
        store.bulk_load(nodes, [])
    assert snapshot(store) == before


@pytest.mark.parametrize("form", ["tuples", "polars"])
def test_an_edge_twice_in_one_load_is_refused(store: Store, form: str) -> None:
    before = _loaded(store)
    nodes, _ = FORMS[form]()
    edges = [*EDGES, ("field:pg://db/public.orders.total", "feature:order_total",
                      "derived_from", {"transformation": "other"})]
    if form == "polars":
        edge_input: Any = pl.DataFrame([(s, d, k, json.dumps(p)) for s, d, k, p in edges],
                                       schema=["src", "dst", "kind", "properties"],
                                       orient="row")
    else:
        edge_input = edges
    with pytest.raises(lineage.ValidationError,
                       match=r"repeat.*public.orders.total -\[derived_from\]-> feature"):
        store.bulk_load(nodes, edge_input)
    assert snapshot(store) == before


def test_an_edge_to_an_unknown_node_is_refused(store: Store) -> None:
    before = _loaded(store)
    edges = [*EDGES[:3], ("field:pg://db/public.orders.total", "feature:nowhere",
                          "derived_from", {}), *EDGES[3:]]
    with pytest.raises(lineage.ValidationError, match="feature:nowhere"):
        store.bulk_load(_tuples()[0], edges)
    assert snapshot(store) == before


@pytest.mark.parametrize("bad_node, message", [
    (("feature:x", "featur", "x"), "unknown node kind.*'featur'"),
    (("feature:x", "feature"), "item 5 is a tuple of 2"),
    ((42, "feature", "x"), "item 5 has a int as key"),
    (("", "feature", "x"), "key is empty"),
    (("feature:x", "feature", None), "name is missing"),
    (("feature:x", "feature", "x", None, ["not", "a", "dict"]), "properties of type list"),
    (("feature:x", "feature", "x", None, "[1, 2]"), "JSON objects"),
])
def test_a_bad_node_in_the_middle_leaves_the_store_unchanged(
        store: Store, bad_node: tuple[Any, ...], message: str) -> None:
    before = _loaded(store)
    nodes: list[Any] = list(_tuples()[0])
    nodes.insert(5, bad_node)
    if message == "JSON objects":  # text properties are checked on columnar input
        frame = pl.DataFrame([(k, str(kind), n, ns, p if isinstance(p, str) else json.dumps(p))
                              for k, kind, n, ns, p in nodes],
                             schema=["key", "kind", "name", "namespace", "properties"],
                             orient="row")
        with pytest.raises(lineage.ValidationError, match=message):
            store.bulk_load(frame, EDGES)
    else:
        with pytest.raises(lineage.ValidationError, match=message):
            store.bulk_load(nodes, EDGES)
    assert snapshot(store) == before


def test_a_bad_edge_kind_is_refused(store: Store) -> None:
    before = _loaded(store)
    with pytest.raises(lineage.ValidationError, match="unknown edge kind.*'derives'"):
        store.bulk_load(_tuples()[0], [*EDGES, ("feature:order_total",
                                               "dataset:pg://db/public.orders", "derives")])
    assert snapshot(store) == before


@pytest.mark.parametrize("nodes, message", [
    (pl.DataFrame({"key": ["feature:a"], "kind": ["feature"]}), "missing column.*name"),
    (pl.DataFrame({"key": ["feature:a"], "kind": ["feature"], "name": ["a"],
                   "namespce": ["x"]}), "unknown column.*namespce"),
    (pl.DataFrame({"key": [1], "kind": ["feature"], "name": ["a"]}), "key is Int64; expected text"),
    ("feature:a", "expected NodeSpecs"),
])
def test_a_malformed_table_is_refused(store: Store, nodes: Any, message: str) -> None:
    with pytest.raises(lineage.ValidationError, match=message):
        store.bulk_load(nodes, [])
    assert store.stats() == {"edges": 0}


class Boom(Exception):
    pass


def test_an_error_raised_by_the_callers_iterator_leaves_the_store_unchanged(
        store: Store) -> None:
    before = _loaded(store)

    def edges() -> Iterator[tuple[str, str, str]]:
        yield EDGES[0][:3]
        raise Boom("the source went away")

    with pytest.raises(Boom):
        store.bulk_load(_tuples()[0], edges())
    assert snapshot(store) == before


def test_a_load_in_small_chunks_and_ordinary_writes_after_it(store: Store) -> None:
    before = _loaded(store)
    nodes = pl.DataFrame({"key": ["feature:a", "feature:b"], "kind": ["feature", "feature"],
                          "name": ["a", "b"]})
    assert store.bulk_load(nodes, [("feature:a", "feature:b", "derived_from")],
                           chunk_size=1) == (2, 1)
    assert snapshot(store) != before
    # the store accepts ordinary writes after a load (the load's settings were set back)
    batch = lineage.GraphBatch()
    batch.add_node("feature:c", "c")
    batch.add_edge("feature:b", "feature:c", EdgeKind.DERIVED_FROM)
    assert store.apply(batch).nodes_created == 1


def test_columns_with_one_value_in_every_row_are_stored_exactly(store: Store) -> None:
    # the SQLite loader writes such a column into the INSERT text instead of binding it
    # per row: quotes must survive, and a null must stay a null (more than one INSERT's
    # worth of rows, so both the 200-row statements and the rest are used)
    n = 450
    nodes = pl.DataFrame({"key": [f"feature:f{i:03d}" for i in range(n)],
                          "kind": ["feature"] * n, "name": [f"f{i}" for i in range(n)],
                          "namespace": ["o'brien's db"] * n,
                          "properties": [json.dumps({"note": "it's '' quoted"})] * n})
    edges = pl.DataFrame({"src": [f"feature:f{i:03d}" for i in range(n - 1)],
                          "dst": [f"feature:f{i + 1:03d}" for i in range(n - 1)],
                          "kind": ["derived_from"] * (n - 1),
                          "properties": [json.dumps({"why": "'x'"})] * (n - 1)})
    assert store.bulk_load(nodes, edges) == (n, n - 1)
    got = snapshot(store)
    assert got["nodes"] == {f"feature:f{i:03d}": (f"f{i}", "o'brien's db",
                                                  {"note": "it's '' quoted"})
                            for i in range(n)}
    assert got["edges"] == sorted((f"feature:f{i:03d}", f"feature:f{i + 1:03d}",
                                   "derived_from", str({"why": "'x'"})) for i in range(n - 1))
    nulls = pl.DataFrame({"key": ["feature:z1", "feature:z2"], "kind": ["feature"] * 2,
                          "name": ["z1", "z2"], "namespace": [None, None]},
                         schema_overrides={"namespace": pl.String})
    assert store.bulk_load(nulls, []) == (2, 0)
    assert store.node("feature:z1").namespace is None


def test_every_value_of_every_row_lands_in_its_own_column_and_row(store: Store) -> None:
    # the SQLite loader binds a statement's rows column by column (numbered parameters):
    # every column varies here, over more than one statement's worth of rows and a rest
    n = 457
    kinds = ["feature", "field", "dataset", "job"]
    nodes = pl.DataFrame({
        "key": [f"{kinds[i % 4]}:n{i:03d}" for i in range(n)],
        "kind": [kinds[i % 4] for i in range(n)],
        "name": [f"name {i}" for i in range(n)],
        "namespace": [None if i % 3 == 0 else f"ns{i % 7}" for i in range(n)],
        "properties": [json.dumps({"i": i}) if i % 5 else "{}" for i in range(n)]},
        schema_overrides={"namespace": pl.String})
    edge_kinds = ["derived_from", "has_field"]
    edges = pl.DataFrame({
        "src": [f"{kinds[i % 4]}:n{i:03d}" for i in range(n - 1)],
        "dst": [f"{kinds[(i + 1) % 4]}:n{i + 1:03d}" for i in range(n - 1)],
        "kind": [edge_kinds[i % 2] for i in range(n - 1)],
        "properties": [json.dumps({"e": i}) if i % 3 else "{}" for i in range(n - 1)]})
    assert store.bulk_load(nodes, edges) == (n, n - 1)
    got = snapshot(store)
    assert got["nodes"] == {f"{kinds[i % 4]}:n{i:03d}": (
        f"name {i}", None if i % 3 == 0 else f"ns{i % 7}", {"i": i} if i % 5 else {})
        for i in range(n)}
    assert got["edges"] == sorted(
        (f"{kinds[i % 4]}:n{i:03d}", f"{kinds[(i + 1) % 4]}:n{i + 1:03d}", edge_kinds[i % 2],
         str({"e": i} if i % 3 else {})) for i in range(n - 1))
    assert {store.node(f"{kinds[i % 4]}:n{i:03d}").kind.value for i in range(8)} == set(kinds)


def test_columns_with_few_distinct_values_and_nulls_are_stored_exactly(store: Store) -> None:
    # many rows, few distinct kinds, namespaces (a null and an empty text among them) and
    # properties: the SQLite loader makes each distinct value once and repeats it
    n = 2400
    kinds = ["feature", "field", "dataset"]
    namespaces = [None, "", "ns'1", "ns\u00e9"]
    props = ["{}", json.dumps({"a": 1}), json.dumps({"b": "x"})]
    nodes = pl.DataFrame({"key": [f"feature:m{i:04d}" for i in range(n)],
                          "kind": [kinds[i % 3] for i in range(n)],
                          "name": [f"m{i}" for i in range(n)],
                          "namespace": [namespaces[i % 4] for i in range(n)],
                          "properties": [props[i % 3] for i in range(n)]},
                         schema_overrides={"namespace": pl.String})
    edges = pl.DataFrame({"src": [f"feature:m{i:04d}" for i in range(n - 1)],
                          "dst": [f"feature:m{i + 1:04d}" for i in range(n - 1)],
                          "kind": [["derived_from", "has_field"][i % 2] for i in range(n - 1)],
                          "properties": [props[(i + 1) % 3] for i in range(n - 1)]})
    assert store.bulk_load(nodes, edges) == (n, n - 1)
    got = snapshot(store)
    assert got["nodes"] == {f"feature:m{i:04d}": (f"m{i}", namespaces[i % 4],
                                                  json.loads(props[i % 3])) for i in range(n)}
    assert got["edges"] == sorted((f"feature:m{i:04d}", f"feature:m{i + 1:04d}",
                                   ["derived_from", "has_field"][i % 2],
                                   str(json.loads(props[(i + 1) % 3]))) for i in range(n - 1))
    assert [store.node(f"feature:m{i:04d}").kind.value for i in range(3)] == kinds


def test_chunk_size_must_be_positive(store: Store) -> None:
    with pytest.raises(lineage.ValidationError, match="chunk_size"):
        store.bulk_load([], [], chunk_size=0)


def test_sqlite_settings_are_set_back_after_a_load(sqlite_url: str) -> None:
    with lineage.connect(sqlite_url) as store:
        nodes, edges = _specs()
        store.bulk_load(nodes, edges)
        engine = store.engine  # type: ignore[attr-defined]
        with engine.connect() as conn:
            raw = conn.connection.driver_connection
            settings = {p: raw.execute(f"PRAGMA {p}").fetchone()[0]
                        for p in ("journal_mode", "foreign_keys", "synchronous")}
    assert settings == {"journal_mode": "wal", "foreign_keys": 1, "synchronous": 1}


def test_a_load_into_an_empty_sqlite_store_works_while_another_connection_reads(
        sqlite_url: str) -> None:
    """The loader cannot leave WAL while the file is open elsewhere: it loads in WAL."""
    import sqlite3

    with lineage.connect(sqlite_url) as store:
        reader = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            reader.execute("BEGIN")
            assert reader.execute("SELECT count(*) FROM node").fetchone() == (0,)
            nodes, edges = _specs()
            assert store.bulk_load(nodes, edges) == (5, 5)
            reader.execute("COMMIT")
            assert reader.execute("SELECT count(*) FROM edge").fetchone() == (5,)
        finally:
            reader.close()
        assert snapshot(store) == _expected()


def test_driver_errors_of_the_loader_become_lineage_errors() -> None:
    import sqlite3

    from lineage.store.sql.bulk import driver_errors

    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
    db.execute("INSERT INTO t VALUES ('a')")
    with pytest.raises(lineage.ConflictError, match="UNIQUE"):
        with driver_errors("bulk load"):
            db.execute("INSERT INTO t VALUES ('a')")
    with pytest.raises(lineage.StoreError, match="no such table"):
        with driver_errors("bulk load"):
            db.execute("SELECT * FROM missing")
    import psycopg

    with pytest.raises(lineage.ConflictError, match="duplicate key"):
        with driver_errors("bulk load"):
            raise psycopg.errors.UniqueViolation("duplicate key value violates ...")
    with pytest.raises(lineage.StoreError, match="gone"):
        with driver_errors("bulk load"):
            raise psycopg.OperationalError("server gone")


def test_a_sqlite_bulk_load_does_not_import_the_postgresql_driver(tmp_path: Any) -> None:
    """Importing psycopg cost 0.05 s of CPU inside the timed load (the bench compares the
    load with SQLite's own floor)."""
    import subprocess
    import sys

    code = ("import sys, lineage\n"
            f"with lineage.connect('sqlite:///{tmp_path}/s.db') as store:\n"
            "    store.bulk_load([('feature:a', 'feature', 'a'), ('feature:b', 'feature', 'b')],"
            " [('feature:a', 'feature:b', 'derived_from')])\n"
            "print('psycopg' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "False"


def test_equal_but_differently_typed_properties_stay_apart(store: Store) -> None:
    """1, 1.0 and True are equal in Python; their JSON texts are not."""
    nodes = [(f"feature:f{i}", "feature", f"f{i}", None, {"w": w})
             for i, w in enumerate([1, True, 1.0, "1"])]
    store.bulk_load(nodes, [])
    got = {k: n.properties["w"] for k, n in store.nodes(k for k, *_ in nodes).items()}
    assert [type(got[f"feature:f{i}"]) for i in range(4)] == [int, bool, float, str]


_KILLED_LOADER = """
import sys
import polars as pl
import lineage

n = 200_000
keys = [f"field:pg://db/public.t{i // 50}.c{i % 50}" for i in range(n)]
nodes = pl.DataFrame({"key": keys, "kind": ["field"] * n, "name": [k[-3:] for k in keys]})
edges = pl.DataFrame({"src": keys[:-1], "dst": keys[1:], "kind": ["derived_from"] * (n - 1)})
with lineage.connect(sys.argv[1]) as store:
    print("loading", flush=True)
    store.bulk_load(nodes, edges)
print("done", flush=True)
"""


def test_a_loader_killed_mid_load_into_an_empty_sqlite_store_leaves_it_empty(
        sqlite_url: str, tmp_path: Any) -> None:
    """The fast path into an empty store writes a rollback journal, not a WAL: SIGKILL in
    the middle of the writes leaves a journal that restores the empty store on next open."""
    import os
    import signal
    import sqlite3
    import subprocess
    import sys
    import time
    from pathlib import Path

    db = Path(sqlite_url.removeprefix("sqlite:///"))
    lineage.connect(sqlite_url).close()  # migrated and empty
    script = tmp_path / "loader.py"
    script.write_text(_KILLED_LOADER)
    journal = Path(f"{db}-journal")
    proc = subprocess.Popen([sys.executable, str(script), sqlite_url],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "loading"
        while not journal.exists() and proc.poll() is None:
            time.sleep(0.002)  # the journal exists from the first write until the commit
        assert proc.poll() is None, "the load ended before it could be interrupted"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    with lineage.connect(sqlite_url) as store:  # opening rolls the hot journal back
        assert store.stats().get("edges", 0) == 0 and store.stats().get("field", 0) == 0
        nodes, edges = _specs()
        assert store.bulk_load(nodes, edges) == (5, 5)  # and the store works as before
        assert snapshot(store) == _expected()
    check = sqlite3.connect(db)
    try:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        check.close()


def test_edge_ends_found_by_a_shared_hash_are_matched_by_their_texts() -> None:
    """The loader finds edge ends by 64-bit hashes of their texts; a hash two texts share
    must not make an unknown end (or the other key) look found. Forced here with a 'hash'
    that is only the text's length, so every end collides with several keys."""
    from lineage.store.sql.bulk import _positions

    keys = pl.Series(["field:a.x", "field:a.y", "field:b.x", "dataset:a", "dataset:b"])
    texts = pl.Series(["field:b.x", "field:a.z", "dataset:b", "field:a.x", "dataset:c",
                       "field:a.y", "dataset:a"])

    def by_length(series: pl.Series) -> pl.Series:
        return series.str.len_bytes().cast(pl.UInt64)

    exact = [keys.to_list().index(t) if t in keys.to_list() else -1 for t in texts]
    assert exact == [2, -1, 4, 0, -1, 1, 3]
    assert _positions(texts, keys, by_length).tolist() == exact
    assert _positions(texts, keys).tolist() == exact
    assert _positions(texts, pl.Series([], dtype=pl.String)).tolist() == [-1] * 7


def test_many_edges_of_several_kinds_between_the_same_ends_land_in_their_rows(
        store: Store) -> None:
    """Edges sharing (src, dst) with different kinds, keys differing in one character,
    ends among stored and loaded nodes: each edge row as given (the loader orders them by
    ids and kind, found by hashing the key texts)."""
    stored = [(f"field:t.c{i:03d}", "field", f"c{i:03d}") for i in range(0, 300, 2)]
    store.bulk_load(stored, [])
    loaded = [(f"field:t.c{i:03d}", "field", f"c{i:03d}") for i in range(1, 300, 2)]
    kinds = ("derived_from", "has_field", "read")
    edges = [(f"field:t.c{i:03d}", f"field:t.c{(i * 7 + 3) % 300:03d}", kinds[j],
              json.dumps({"j": j, "i": i}))
             for i in range(300) for j in range(3) if (i + j) % 2 == 0 or j == 2]
    frame = pl.DataFrame(edges, schema=["src", "dst", "kind", "properties"], orient="row")
    assert store.bulk_load(loaded, frame.sample(fraction=1.0, shuffle=True, seed=3)) == (
        150, len(edges))
    got = store.edges_among(f"field:t.c{i:03d}" for i in range(300))
    # properties compared as sorted JSON: Neo4j gives a map's keys back in its own order
    assert sorted((e.src, e.dst, e.kind.value, json.dumps(e.properties, sort_keys=True))
                  for e in got) == sorted(
        (src, dst, kind, json.dumps(json.loads(props), sort_keys=True))
        for src, dst, kind, props in edges)


def test_node_rows_written_in_parts_keep_every_value_in_its_row(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The SQLite loader makes the node rows' Python values a part at a time (the reversed
    tails a part ahead on its helper thread): here parts of 400 rows, where a column holds
    one value in one part and varies in another, and one part has a key that is not ASCII
    (its tails reversed in Python, the others' as bytes)."""
    from lineage._keys import tail
    from lineage.store.sql import bulk

    monkeypatch.setattr(bulk, "_NODE_PART", 400)
    n = 1_030  # parts of 400, 400 and 230 (a rest after the 200-row statements)
    keys = [f"field:ns/t{i // 50}.c{i:04d}" + ("\u00e9" if i == 555 else "") for i in range(n)]
    nodes = pl.DataFrame({
        "key": keys, "kind": ["field"] * n, "name": [f"c{i}" for i in range(n)],
        # the first part: no namespace anywhere; then one per row
        "namespace": [None if i < 400 else f"ns{i % 3}" for i in range(n)],
        # the second part: the same properties in every row
        "properties": ["{}" if 400 <= i < 800 else json.dumps({"i": i}) for i in range(n)]},
        schema_overrides={"namespace": pl.String})
    assert store.bulk_load(nodes, []) == (n, 0)
    got = snapshot(store)["nodes"]
    assert got == {keys[i]: (f"c{i}", None if i < 400 else f"ns{i % 3}",
                             {} if 400 <= i < 800 else {"i": i}) for i in range(n)}
    # the reversed tails, read back by suffix lookups on the tail of each key
    for i in (0, 399, 400, 555, 799, 800, n - 1):
        assert store.resolve(tail(keys[i])).key == keys[i]


def test_edges_naming_unknown_nodes_are_all_counted_and_shown_in_input_order(
        store: Store) -> None:
    """The message counts every edge with an unknown end (either end) and shows the first
    ones as given, whatever order the loader resolves them in."""
    before = _loaded(store)
    edges = [("feature:ghost", "feature:order_total", "derived_from", {}), *EDGES[:2],
             ("field:pg://db/public.orders.total", "feature:nowhere", "derived_from", {}),
             ("feature:ghost", "feature:nowhere", "derived_from", {}), *EDGES[2:]]
    with pytest.raises(lineage.ValidationError) as caught:
        store.bulk_load(_tuples()[0], edges)
    assert str(caught.value) == (
        "bulk load: 3 edge(s) name nodes that are neither in the load nor in the store: "
        "feature:ghost -> feature:order_total, "
        "field:pg://db/public.orders.total -> feature:nowhere, "
        "feature:ghost -> feature:nowhere")
    assert snapshot(store) == before


def test_repeated_edges_are_counted_and_shown_once_each(store: Store) -> None:
    """Every repeat counted; each repeated edge shown once, in the order first given."""
    before = _loaded(store)
    again = ("field:pg://db/public.orders.amount", "field:pg://db/public.orders.total",
             "derived_from", {"transformation": "other"})
    edges = [*EDGES, again, EDGES[0], again]
    with pytest.raises(lineage.ValidationError) as caught:
        store.bulk_load(_tuples()[0], edges)
    assert str(caught.value) == (
        "bulk load: 3 edge(s) repeat a (src, dst, kind) given earlier in the same load: "
        "dataset:pg://db/public.orders -[has_field]-> field:pg://db/public.orders.id, "
        "field:pg://db/public.orders.amount -[derived_from]-> "
        "field:pg://db/public.orders.total; give each edge once")
    assert snapshot(store) == before
