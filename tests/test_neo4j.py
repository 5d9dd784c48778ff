"""What only the Neo4j backend has: its URL, its schema version and constraints, errors
translated at the driver boundary, and writes spanning the graph and its SQL side.
The shared contract runs on Neo4j through the `store` fixture (conftest)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import lineage
from lineage import EdgeKind, GraphBatch
from lineage.store.neo4j import SCHEMA_VERSION, Neo4jStore, parse_url

from .conftest import (
    EXAMPLE,
    nodes_read_whole,
    snapshot,
    unwritten,
    without_sizes,
    without_symlink_links,
)


@pytest.fixture
def neo(neo4j_url: str) -> Iterator[Neo4jStore]:
    with lineage.connect(neo4j_url) as store:
        assert isinstance(store, Neo4jStore)
        yield store


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_bolt_url_is_a_store_error(tmp_path: Path) -> None:
    url = f"bolt://127.0.0.1:{_free_port()}?records=sqlite:///{tmp_path}/r.db"
    with pytest.raises(lineage.StoreError, match="unreachable"):
        lineage.connect(url)


def test_the_cli_exits_7_when_neo4j_is_unreachable(tmp_path: Path) -> None:
    from lineage_cli.main import cli

    url = f"neo4j://127.0.0.1:{_free_port()}?records=sqlite:///{tmp_path}/r.db"
    result = CliRunner().invoke(cli, ["--store", url, "stats"])
    assert result.exit_code == 7, result.output
    assert "unreachable" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("url", "message"), [
    ("bolt://127.0.0.1:7687?record=sqlite:///x.db", "unknown parameter.*record"),
    ("bolt://127.0.0.1:7687?records=bolt://other:7687", "records of a Neo4j store live in"),
])
def test_a_bad_neo4j_url_is_refused_before_connecting(url: str, message: str) -> None:
    with pytest.raises(lineage.ValidationError, match=message):
        lineage.connect(url)


def test_the_url_names_credentials_database_and_records() -> None:
    assert parse_url("neo4j://neo:s%40cret@db.example:7687?database=lineage&records="
                     "postgresql%3A%2F%2Fpg%2Flineage%3Foptions%3Dx") == (
        "neo4j://db.example:7687", ("neo", "s@cret"), "lineage",
        "postgresql://pg/lineage?options=x")
    assert parse_url("bolt://localhost:7687")[1:] == (None, None,
                                                       "sqlite:///lineage-records.db")
    # a "+" stays a "+" (not a space, as in form encoding)
    assert parse_url("bolt://h:7687?records=postgresql+psycopg://pg/db")[3] == (
        "postgresql+psycopg://pg/db")


def test_messages_show_no_password_of_either_store(tmp_path: Path) -> None:
    url = (f"bolt://neo:s3cret@127.0.0.1:{_free_port()}?records=postgresql%3A%2F%2Fpg%3A"
           "hidden%40127.0.0.1%2Fdb")
    with pytest.raises(lineage.StoreError) as err:
        lineage.connect(url)
    assert "s3cret" not in str(err.value) and "hidden" not in str(err.value)
    assert "neo:***@" in str(err.value)


def test_connect_creates_the_constraints_and_records_the_schema_version(
        neo: Neo4jStore) -> None:
    constraints = {r["name"]: r for r in neo._query("SHOW CONSTRAINTS")}
    assert constraints["lineage_node_key"]["properties"] == ["key"]
    assert constraints["lineage_node_key"]["type"] == "UNIQUENESS"
    indexes = {r["name"] for r in neo._query("SHOW INDEXES")}
    assert {"lineage_node_rtail", "lineage_node_kind"} <= indexes
    (version,) = neo._query("MATCH (s:LineageSchema) RETURN s.version AS v")
    assert version["v"] == SCHEMA_VERSION


def test_a_graph_of_a_newer_schema_version_is_refused(neo: Neo4jStore, neo4j_url: str) -> None:
    with neo._tx() as tx:
        tx.run("MATCH (s:LineageSchema) SET s.version = $v", v=SCHEMA_VERSION + 1)
    with pytest.raises(lineage.StoreError, match="newer than this release"):
        lineage.connect(neo4j_url)


def test_the_key_constraint_violation_is_a_conflict_error(neo: Neo4jStore) -> None:
    batch = GraphBatch()
    batch.add_node("feature:f", "f")
    neo.apply(batch)
    with pytest.raises(lineage.ConflictError, match="conflicts with stored data"):
        with neo._tx() as tx:  # a raw write past `apply`, as another program might make
            tx.run("CREATE (:LineageNode {key: 'feature:f'})")
    assert neo.stats() == {"feature": 1, "edges": 0}


def test_nodes_carry_their_kind_as_a_label_and_edges_their_kind_as_a_type(
        neo: Neo4jStore) -> None:
    lineage.register(neo, EXAMPLE)
    labels = {r["k"]: set(r["l"]) for r in neo._query(
        "MATCH (n:LineageNode) RETURN n.kind AS k, labels(n) AS l")}
    assert labels["model_version"] == {"LineageNode", "ModelVersion"}
    assert labels["field"] == {"LineageNode", "Field"}
    types = {r["t"] for r in neo._query("MATCH ()-[r]->() RETURN DISTINCT type(r) AS t")}
    assert {"DERIVED_FROM", "HAS_FIELD", "TRAINED_ON"} <= types


def test_a_cycle_terminates_and_every_node_is_reached_once_at_its_shortest_depth(
        neo: Neo4jStore) -> None:
    batch = GraphBatch()
    keys = [f"feature:c{i}" for i in range(4)]
    for key in keys:
        batch.add_node(key, key)
    for src, dst in zip(keys, [*keys[1:], keys[0]], strict=True):
        batch.add_edge(src, dst, EdgeKind.DERIVED_FROM)
    batch.add_edge("feature:c0", "feature:c2", EdgeKind.USES_FEATURE)  # a short cut
    neo.apply(batch)
    down = neo.downstream("feature:c0")
    assert [(r.node.key, r.depth, r.edge) for r in down] == [
        ("feature:c1", 1, EdgeKind.DERIVED_FROM), ("feature:c2", 1, EdgeKind.USES_FEATURE),
        ("feature:c3", 2, EdgeKind.DERIVED_FROM)]
    sub = neo.subgraph("feature:c0")
    assert ("feature:c3", "feature:c0", EdgeKind.DERIVED_FROM, {}) in sub.edges  # back edge
    assert len(sub.edges) == 5
    assert [r.node.key for r in neo.upstream("feature:c0", max_depth=1)] == ["feature:c3"]


def test_a_failing_records_write_rolls_the_graph_back(neo: Neo4jStore,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The SQL part of a write runs inside the open graph transaction: when it fails, the
    graph part is rolled back, so the store is exactly as it was."""
    lineage.register(neo, EXAMPLE)
    before = snapshot(neo)
    batch = GraphBatch()
    batch.add_node("feature:new", "new")
    batch.add_edge("feature:category_share", "feature:new", EdgeKind.DERIVED_FROM)
    batch.add_node("consumer:team", "team")
    batch.contracts["consumer:team"] = {"feature:new": {"fields": []}}

    def interrupted(self: Any, part: GraphBatch, merge: Any) -> Any:
        raise lineage.StoreError("the records database went away")

    monkeypatch.setattr(type(neo.records), "_apply", interrupted)
    with pytest.raises(lineage.StoreError, match="went away"):
        neo.apply(batch)
    monkeypatch.undo()
    assert snapshot(neo) == before
    assert neo.contracts(["consumer:team"]) == {}


def test_a_notification_for_an_unknown_channel_writes_no_graph_change(
        neo: Neo4jStore) -> None:
    lineage.register(neo, EXAMPLE)
    before = snapshot(neo)
    batch = GraphBatch()
    batch.add_node("feature:new", "new")
    batch.notifications.append(lineage.NotificationSpec(
        idempotency_key="k1", consumer="consumer:fraud-dashboard", channel_kind="webhook",
        channel_target="http://127.0.0.1:9/nowhere", event="change"))
    with pytest.raises(lineage.ValidationError, match="channels their consumers do not have"):
        neo.apply(batch)
    assert snapshot(neo) == before


def test_records_name_graph_nodes_through_stubs_on_the_sql_side(neo: Neo4jStore) -> None:
    """Contracts live in SQL and come back by the graph's keys."""
    lineage.register(neo, EXAMPLE)
    consumers = [r.key for r in neo.find("", [lineage.NodeKind.CONSUMER])]
    contracts = neo.contracts(consumers)
    assert contracts  # the example declares contracts
    assert all(neo.exists(assets) == set(assets) for assets in contracts.values())
    assert neo.records.stats().get("edges") == 0  # the SQL side holds no graph


def test_reopening_a_neo4j_store_keeps_graph_and_records(neo4j_url: str) -> None:
    with lineage.connect(neo4j_url) as store:
        lineage.register(store, EXAMPLE)
        store.audit("me", "check")
        before = snapshot(store)
    with lineage.connect(neo4j_url) as store:
        assert snapshot(store) == before
        assert [e.action for e in store.audit_log()] == ["check"]


def test_a_url_without_records_opens_the_records_the_graph_was_created_with_from_any_directory(
        neo4j_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default records file is relative to the working directory: without the pairing,
    `lineage` run from another directory saw no audit, consumers or outbox beside the same
    graph, and said nothing."""
    bare = neo4j_url.split("?", 1)[0]  # the emptied graph, no records= parameter
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    with lineage.connect(bare) as store:
        lineage.register(store, EXAMPLE)
        store.audit("me", "check")
        before = snapshot(store)
    assert (tmp_path / "a" / "lineage-records.db").exists()
    monkeypatch.chdir(tmp_path / "b")
    with lineage.connect(bare) as store:
        assert snapshot(store) == before
        assert [e.action for e in store.audit_log()] == ["check"]
    assert not (tmp_path / "b" / "lineage-records.db").exists()
    # a records store named in the URL is the one used
    with lineage.connect(f"{bare}?records=sqlite:///{tmp_path / 'other.db'}") as store:
        assert store.audit_log() == []
    # the remembered file gone (another machine): refused, the graph left as it was
    for name in ("lineage-records.db", "lineage-records.db-wal", "lineage-records.db-shm"):
        (tmp_path / "a" / name).unlink(missing_ok=True)
    with pytest.raises(lineage.StoreError, match="not on this machine"):
        lineage.connect(bare)
    assert not (tmp_path / "b" / "lineage-records.db").exists()


def test_a_transient_neo4j_failure_is_retried_and_the_write_lands_once(
        neo: Neo4jStore, monkeypatch: pytest.MonkeyPatch) -> None:
    from neo4j.exceptions import TransientError

    from lineage.store.neo4j import store as module

    real = module._apply_graph
    calls: list[int] = []

    def deadlocked_once(tx: Any, batch: GraphBatch, *merges: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            real(tx, batch, *merges)  # written, then the transaction fails
            raise TransientError("ForsetiClient can't acquire ExclusiveLock: deadlock")
        return real(tx, batch, *merges)

    monkeypatch.setattr(module, "_apply_graph", deadlocked_once)
    batch = GraphBatch()
    batch.add_node("feature:a", "a")
    result = neo.apply(batch)
    assert len(calls) == 2 and result.nodes_created == 1
    assert neo.stats() == {"feature": 1, "edges": 0}


def test_concurrent_merges_into_the_same_nodes_in_any_order_lose_nothing(
        neo: Neo4jStore) -> None:
    import threading

    keys = [f"feature:shared{i}" for i in range(4)]
    errors: list[BaseException] = []

    def merge(key: str, stored: Any, given: Any) -> dict[str, Any]:
        return {"facts": sorted({*stored.get("facts", []), *given["facts"]})}

    def writer(n: int) -> None:
        try:
            for round_ in range(8):
                batch = GraphBatch()
                order = keys if (n + round_) % 2 else list(reversed(keys))
                for key in order:
                    batch.add_node(key, key, facts=[f"w{n}r{round_}"])
                neo.apply(batch, merge=merge)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    expected = sorted(f"w{n}r{r}" for n in range(4) for r in range(8))
    assert all(node.properties["facts"] == expected for node in neo.nodes(keys).values())


def test_a_load_too_large_for_one_transaction_is_checked_whole_then_written_in_parts(
        neo: Neo4jStore, monkeypatch: pytest.MonkeyPatch) -> None:
    from lineage.store.neo4j import store as module

    monkeypatch.setattr(module, "ONE_TRANSACTION_ROWS", 3)
    nodes = [(f"feature:f{i}", "feature", f"f{i}") for i in range(6)]
    edges = [(f"feature:f{i}", f"feature:f{i + 1}", "derived_from") for i in range(5)]
    with pytest.raises(lineage.ValidationError, match="feature:nowhere"):
        neo.bulk_load(nodes, [*edges, ("feature:f0", "feature:nowhere", "derived_from")],
                      chunk_size=2)
    assert neo.stats() == {"edges": 0}  # checked before anything was written
    assert neo.bulk_load(nodes, edges, chunk_size=2) == (6, 5)
    assert neo.bulk_load(nodes, edges, chunk_size=2) == (0, 0)  # a rerun completes, no more
    assert [r.node.key for r in neo.downstream("feature:f0")] == [k for k, _, _ in nodes[1:]]


def test_a_load_in_parts_writes_node_batches_at_once_and_every_node_and_edge_once(
        neo: Neo4jStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A load of several transactions writes its node batches through BULK_WRITERS
    sessions at once (the server's second core), into a non-empty graph; every node and
    edge lands once, a rerun writes nothing."""
    import threading
    import time

    from lineage.store.neo4j import store as module

    monkeypatch.setattr(module, "ONE_TRANSACTION_ROWS", 10)
    monkeypatch.setattr(module, "BULK_WRITERS", 2)
    lock = threading.Lock()
    running: set[int] = set()
    most = [0]
    original = module._parallel

    def spied(writers: int, call: Any, args: list[Any]) -> list[Any]:
        def counted(*a: Any) -> Any:
            with lock:
                running.add(threading.get_ident())
                most[0] = max(most[0], len(running))
            try:
                time.sleep(0.05)  # long enough for the other writer's batch to overlap
                return call(*a)
            finally:
                with lock:
                    running.discard(threading.get_ident())
        return list(original(writers, counted, args))

    monkeypatch.setattr(module, "_parallel", spied)
    assert neo.bulk_load([("feature:hub", "feature", "hub")], []) == (1, 0)
    nodes = [(f"feature:f{i:02}", "feature", f"f{i:02}") for i in range(40)]
    edges = [("feature:hub", key, "derived_from") for key, _, _ in nodes]
    edges += [(nodes[i][0], nodes[(i * 7 + 3) % 40][0], "derived_from") for i in range(40)]
    assert neo.bulk_load([("feature:hub", "feature", "hub"), *nodes], edges,
                         chunk_size=3) == (40, 80)
    assert most[0] == 2  # node batches did run at once
    assert neo.stats() == {"feature": 41, "edges": 80}
    assert neo.bulk_load(nodes, edges, chunk_size=3) == (0, 0)  # nothing twice
    assert neo.stats() == {"feature": 41, "edges": 80}
    assert {r.node.key for r in neo.downstream("feature:hub")} == {k for k, _, _ in nodes}
    assert neo.nodes(["feature:f07"])["feature:f07"].name == "f07"


def test_parallel_batches_stop_starting_once_one_fails_and_raise_its_error() -> None:
    """Like a one-writer load, which stops at its first failed batch, the writers start
    no batch after one failed (the batches already running end first)."""
    import threading
    import time

    from lineage.store.neo4j import store as module

    started: list[int] = []
    lock = threading.Lock()

    def batch(i: int) -> int:
        with lock:
            started.append(i)
        time.sleep(0.05)
        if i == 1:
            raise lineage.StoreError("batch 1 failed")
        return i

    with pytest.raises(lineage.StoreError, match="batch 1 failed"):
        module._parallel(2, batch, [(i,) for i in range(20)])
    assert len(started) < 6
    assert module._parallel(2, lambda a, b: a + b, [(1, 2), (3, 4), (5, 6)]) == [3, 7, 11]


def test_a_read_only_connect_to_an_empty_neo4j_says_there_is_no_store_and_creates_nothing(
        neo4j_url: str, tmp_path: Path) -> None:
    with pytest.raises(lineage.NotFound, match="no store at .*lineage register"):
        lineage.connect(neo4j_url, create=False)
    from neo4j import GraphDatabase

    from .conftest import NEO4J_URL

    with GraphDatabase.driver(str(NEO4J_URL)) as driver:
        assert driver.execute_query("MATCH (n) RETURN count(n) AS n").records[0]["n"] == 0
    assert not (tmp_path / "records.db").exists()
    with lineage.connect(neo4j_url) as store:  # created, then a read-only connect works
        store.audit("me", "check")
    with lineage.connect(neo4j_url, create=False) as store:
        assert [e.action for e in store.audit_log()] == ["check"]


def test_a_version_1_graph_of_runs_keyed_by_run_id_migrates_to_runs_keyed_by_job(
        neo: Neo4jStore, neo4j_url: str, tmp_path: Path) -> None:
    """Version 2 re-keys runs from `run:{runId}` to `run:{job}/{runId}`, as the SQL
    migration 0006 does: a graph holding what the older release wrote for these events
    (tests/data/migrations/runs_0005.json) ends as the current code makes them."""
    import json

    from lineage import openlineage as ol
    from lineage._model import FieldSchema

    old = json.loads((Path(__file__).parent / "data" / "migrations" /
                      "runs_0005.json").read_text())
    batch = GraphBatch()
    for n in old["nodes"]:
        batch.add_node(n["key"], n["name"], n["namespace"], **n["properties"])
    for src, dst, kind, props in old["edges"]:
        batch.add_edge(src, dst, EdgeKind(kind), **props)
    for version, fields in old["schemas"].items():
        batch.schemas[version] = [FieldSchema(**f) for f in fields]
    neo.apply(batch)
    with neo._tx() as tx:
        tx.run("MATCH (s:LineageSchema) SET s.version = 1")
    data = Path(__file__).parent / "data" / "openlineage"
    with lineage.connect(f"sqlite:///{tmp_path / 'now.db'}") as now:
        for name in old["events"]:
            ol.ingest(now, json.loads((data / name).read_text()))
        expected = without_symlink_links(snapshot(now))
    with lineage.connect(neo4j_url) as migrated:
        (version,) = migrated._query(  # type: ignore[attr-defined]
            "MATCH (s:LineageSchema) RETURN s.version AS v")
        assert version["v"] == SCHEMA_VERSION == 3
        # (types as version 1 stored them: no lengths or precisions; nor `last_written`,
        # which ingest stamps since the lifecycle's writes)
        assert without_sizes(snapshot(migrated)) == without_sizes(unwritten(expected))
        assert migrated.resolve("0190d6f4-3c1e-7a5e-9b1e-3f0a2c4d5e6f").key == (
            "run:airflow/daily_etl.build_order_facts/0190d6f4-3c1e-7a5e-9b1e-3f0a2c4d5e6f")


def test_impact_reads_a_walks_datasets_and_their_consumers_by_element_id_as_sqlite_answers(
        neo: Neo4jStore, tmp_path: Path) -> None:
    from lineage.impact import downstream
    from lineage.lifecycle import delete, deprecate

    sqlite = lineage.connect(f"sqlite:///{tmp_path / 'same.db'}")
    datasets: list[str] = []
    for store in (neo, sqlite):
        lineage.register(store, EXAMPLE)
        datasets = sorted(r.key for r in store.find("", [lineage.NodeKind.DATASET], 100))
        batch = GraphBatch()
        for i, dataset in enumerate(datasets):  # a consumer of each dataset as a whole
            batch.add_node(f"consumer:of-{i}", f"of-{i}")
            batch.add_edge(dataset, f"consumer:of-{i}", EdgeKind.CONSUMES)
        store.apply(batch)
        delete(store, "consumer:of-0")
        deprecate(store, "consumer:of-1")
    starts = sorted(r.key for r in neo.find("", [lineage.NodeKind.FIELD,
                                                 lineage.NodeKind.DATASET], 1000))
    assert len(starts) > 20
    for key in starts:
        for depth in (None, 1, 2):
            assert neo.impact(key, max_depth=depth).to_dict() == \
                sqlite.impact(key, max_depth=depth).to_dict(), (key, depth)
    # the consumers' lifecycle states came with the walk's datasets: no query to screen them
    field = next(k for k in starts if k.startswith(f"field:{datasets[0].split(':', 1)[1]}."))
    closure = downstream(neo, field)
    assert closure.table is not None
    assert closure.table.states.get("consumer:of-0") == "deleted"
    assert closure.retired["consumer:of-0"] == "deleted"
    sqlite.close()


def test_a_relationship_another_program_drew_between_lineage_nodes_is_no_edge_of_a_walk(
        neo: Neo4jStore) -> None:
    batch = GraphBatch()
    for key in ("feature:a", "feature:b", "feature:c"):
        batch.add_node(key, key)
    batch.add_edge("feature:a", "feature:b", EdgeKind.DERIVED_FROM)
    neo.apply(batch)
    with neo._tx() as tx:  # e.g. a team's own annotations, drawn in Neo4j's browser
        tx.run("MATCH (a:LineageNode {key: 'feature:a'}), (c:LineageNode {key: 'feature:c'}), "
               "(b:LineageNode {key: 'feature:b'}) CREATE (a)-[:MENTIONS]->(c), "
               "(c)-[:MENTIONS]->(b)")
    assert [(r.node.key, r.edge) for r in neo.downstream("feature:a")] == [
        ("feature:b", EdgeKind.DERIVED_FROM)]
    assert [r.node.key for r in neo.upstream("feature:b")] == ["feature:a"]
    assert [(s, d) for s, d, _, _ in neo.subgraph("feature:a").edges] == [
        ("feature:a", "feature:b")]


def _sparse_graph(url: str) -> str:
    """A dataset with one field read by a job: no model, consumer or feature, so most
    relationship types the walks name do not exist in the graph."""
    with lineage.connect(url) as store:
        batch = GraphBatch()
        batch.add_node("dataset:warehouse/orders", "orders")
        batch.add_node("field:warehouse/orders.amount", "amount")
        batch.add_node("job:etl/load", "load")
        batch.add_edge("dataset:warehouse/orders", "field:warehouse/orders.amount",
                       EdgeKind.HAS_FIELD)
        batch.add_edge("dataset:warehouse/orders", "job:etl/load", EdgeKind.READ)
        store.apply(batch)
    return "field:warehouse/orders.amount"


def test_the_cli_on_a_sparse_neo4j_graph_prints_nothing_on_stderr(neo4j_url: str) -> None:
    import subprocess
    import sys

    field = _sparse_graph(neo4j_url)
    done = subprocess.run([sys.executable, "-m", "lineage_cli", "--store", neo4j_url,
                           "impact", field], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "amount" in done.stdout


def test_a_walk_over_a_graph_lacking_some_relationship_types_logs_no_driver_warnings(
        neo: Neo4jStore, caplog: pytest.LogCaptureFixture) -> None:
    # Neo4j notes each relationship type a query names that the graph holds none of (this
    # one has no models: no TRAINED_ON); the driver logged each note as a warning, ~6 per
    # walk level, on the user's stderr
    batch = GraphBatch()
    for key in ("feature:a", "feature:b"):
        batch.add_node(key, key)
    batch.add_edge("feature:a", "feature:b", EdgeKind.DERIVED_FROM)
    neo.apply(batch)
    with caplog.at_level("INFO", logger="neo4j"):
        assert [r.node.key for r in neo.downstream("feature:a")] == ["feature:b"]
        assert neo.impact("feature:a").counts() == {"feature": 1}
    assert [r.getMessage() for r in caplog.records if r.name.startswith("neo4j")
            and r.levelno >= 30] == []


def test_impact_reads_quality_checks_from_the_walks_ids_and_only_nodes_that_mention_them(
        neo: Neo4jStore, monkeypatch: pytest.MonkeyPatch) -> None:
    from lineage import NodeKind, NodeRef
    from lineage.store.graph import GraphStore

    check = {"t": {"assertion": "not_null", "success": False}}
    batch = GraphBatch()
    batch.add_node("dataset:pg/t", "t", "pg", quality_checks={"d": {"assertion": "rows"}})
    for name, props in (("a", {"quality_checks": check}), ("b", {}),
                        ("c", {"meta": {"quality_checks": 1}}),  # mentioned, not a check
                        ("d", {"note": '"quality_checks"'})):
        batch.add_node(f"field:pg/t.{name}", name, "pg", **props)
    batch.add_node("field:pg/u.x", "x", "pg", quality_checks=check)  # not reached
    batch.add_edge("field:pg/t.a", "field:pg/t.b", EdgeKind.DERIVED_FROM)
    batch.add_edge("field:pg/t.b", "field:pg/t.c", EdgeKind.DERIVED_FROM)
    batch.add_edge("field:pg/t.c", "field:pg/t.d", EdgeKind.DERIVED_FROM)
    batch.add_edge("field:pg/t.d", "dataset:pg/t", EdgeKind.DERIVED_FROM)
    neo.apply(batch)
    closure = neo.downstream("field:pg/t.a")
    # a row added after the walk (as dataset-level lineage adds them) is read by key
    closure.extend([("field:pg/t.d", NodeRef("field:pg/u.x", NodeKind.FIELD, "x"),
                     EdgeKind.DERIVED_FROM, None)])
    asked = nodes_read_whole(neo, monkeypatch)
    kinds = (NodeKind.FIELD, NodeKind.DATASET)
    found = neo.closure_properties(closure, "quality_checks", kinds)
    assert found == {"field:pg/t.a": check, "dataset:pg/t": {"d": {"assertion": "rows"}},
                     "field:pg/u.x": check}
    assert asked == ["field:pg/u.x"]  # the walk's nodes by id, and none whole
    assert found == GraphStore.closure_properties(neo, closure, "quality_checks", kinds)
    report = neo.impact("field:pg/t.a")
    assert [(c["on"], c["assertion"]) for c in report.quality_checks] == [
        ("field:pg/t.a", "not_null"), ("dataset:pg/t", "rows")]

