"""Neo4j's two walks give one answer: the server's `lineage.walk` procedure (which the
launcher in tests/neo4j/ installs, as a plugin jar would on a real server) and the Cypher
walk the store falls back to on a server without it."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from typing import Any

import pytest

import lineage
from lineage import EdgeKind, GraphBatch, StoreError
from lineage.lifecycle import delete, deprecate
from lineage.store.neo4j import Neo4jStore


@pytest.fixture
def neo(neo4j_url: str) -> Iterator[Neo4jStore]:
    """A store on a server with the procedure: in CI the launcher always installs it (so
    CI walks through it everywhere else too); elsewhere a server started with
    LINEAGE_NEO4J_PLUGIN=off skips these comparisons."""
    with lineage.connect(neo4j_url) as store:
        assert isinstance(store, Neo4jStore)
        if not store._has_server_walk():
            if os.environ.get("CI"):
                pytest.fail("CI's Neo4j must have lineage.walk (tests/neo4j/start.sh)")
            pytest.skip("this Neo4j has no lineage.walk procedure (LINEAGE_NEO4J_PLUGIN=off?)")
        yield store


def _rows(store: Neo4jStore, key: str, direction: str, depth: int | None,
          skip: bool, server: bool) -> tuple[Any, ...]:
    store.server_walk = server
    closure = store._walk(key, direction, depth, skip)  # type: ignore[arg-type]
    t = closure._table
    assert t is not None
    return (t.keys, t.kinds, t.names, t.depths, t.parents, t.edges, t.truncated, t.retired,
            closure.truncated, t.derived)


def _random_graph(store: Neo4jStore, seed: int) -> list[str]:
    """40 features with cycles, parallel edges of two kinds, keys whose order differs by
    UTF-16 unit and by code point, deleted and deprecated nodes, and a node and a
    relationship type another program wrote (not lineage's: never walked)."""
    rng = random.Random(seed)
    names = [f"f{i:02d}" for i in range(36)] + ["a\U0001f600", "a\ufffd", "a\u00e9", "A"]
    keys = [f"feature:{n}" for n in names]
    batch = GraphBatch()
    for key in keys:
        batch.add_node(key, key.removeprefix("feature:"))
    for _ in range(95):
        src, dst = rng.sample(keys, 2)
        batch.add_edge(src, dst, rng.choice([EdgeKind.DERIVED_FROM, EdgeKind.USES_FEATURE]))
    store.apply(batch)
    for key in rng.sample(keys, 4):
        delete(store, key, "gone")
    for key in rng.sample(keys, 3):
        if store.node(key).properties.get("lifecycle") is None:
            deprecate(store, key, "old")
    a, b = rng.sample(keys, 2)
    store.driver.execute_query(
        "MATCH (a:LineageNode {key: $a}), (b:LineageNode {key: $b}) "
        "CREATE (a)-[:DERIVED_FROM]->(:Other {key: 'feature:foreign', kind: 'feature', "
        "name: 'foreign'})-[:DERIVED_FROM]->(b), (b)-[:FOLLOWS]->(a)",
        {"a": a, "b": b}, database_=store.database)
    return keys


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_server_walk_and_the_cypher_walk_give_the_same_rows(neo: Neo4jStore,
                                                                seed: int) -> None:
    keys = _random_graph(neo, seed)
    compared = 0
    for key in keys:
        for direction in ("downstream", "upstream"):
            for depth in (None, 1, 2):
                for skip in (False, True):
                    assert _rows(neo, key, direction, depth, skip, True) == \
                        _rows(neo, key, direction, depth, skip, False), \
                        (key, direction, depth, skip)
                    compared += 1
    assert compared == 40 * 12


def test_impact_answers_alike_on_both_walks(neo: Neo4jStore) -> None:
    keys = _random_graph(neo, 4)
    for key in keys[:10]:
        neo.server_walk = True
        served = lineage.impact(neo, key).to_dict()
        neo.server_walk = False
        assert lineage.impact(neo, key).to_dict() == served, key


@pytest.mark.parametrize("server", [True, False], ids=["server walk", "cypher walk"])
def test_a_lineage_node_without_a_key_is_a_store_error_on_both_walks(
        neo: Neo4jStore, server: bool) -> None:
    batch = GraphBatch()
    batch.add_node("feature:start", "start")
    neo.apply(batch)
    neo.driver.execute_query(
        "MATCH (s:LineageNode {key: 'feature:start'}) "
        "CREATE (s)-[:DERIVED_FROM]->(:LineageNode {kind: 'feature', name: 'keyless'})",
        database_=neo.database)
    neo.server_walk = server
    with pytest.raises(StoreError, match="lacks its key, kind or name"):
        neo.downstream("feature:start")
