"""PostgreSQL's impact() in few round trips: the walk's first levels in one statement
(lineage/store/sql/graph.py `_pg_first_levels`), a small walk's dataset pass in one
(consumers.py `_PG_DATASET_PASS`), the consumers' lifecycle read with it. On the real
server; the statements are counted on psycopg's cursor, nothing is replaced."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

import lineage
from lineage import EdgeKind, GraphBatch
from lineage.lifecycle import delete, deprecate

_TYPICAL = """
namespace: pg
datasets:
  - name: raw.src
    fields: [{name: a, type: int64}, {name: z, type: int64}]
  - name: stage.mid
    fields: [{name: b, type: int64}]
  - name: mart.out
    fields: [{name: c, type: int64}]
derivations:
  - {from: src.a, to: mid.b, transformation: identity}
  - {from: mid.b, to: out.c, transformation: identity}
consumers:
  - name: src-dash
    consumes: [src.a]
  - name: out-dash
    consumes: [out.c]
  - name: gone-dash
    consumes: [out.c]
"""


@contextmanager
def _statements() -> Iterator[list[str]]:
    """The statements psycopg's cursors send meanwhile."""
    sent: list[str] = []
    original = psycopg.Cursor.execute

    def counted(self: Any, query: Any, params: Any = None, **kw: Any) -> Any:
        sent.append(str(query))
        return original(self, query, params, **kw)

    psycopg.Cursor.execute = counted  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        psycopg.Cursor.execute = original  # type: ignore[method-assign]


def test_a_typical_impact_on_postgresql_is_two_statements_the_name_and_the_walk(
        postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The name, then the walk (start and levels) with each field's dataset, the datasets'
    consumers and their lifecycle: 13 round trips before at 10^6 nodes (a statement per
    level, three for the datasets, one for the consumers' states), each waiting on the
    server. The same answer as the walk level by level with its dataset pass apart; a
    deleted consumer is still left out and a deprecated one marked."""
    import lineage.store.sql.graph as sql_graph

    with lineage.connect(postgres_url) as store:
        lineage.manifest.register_text(store, _TYPICAL)
        delete(store, "gone-dash", None, "local:ana")
        deprecate(store, "out-dash", None, "local:ana")
        with monkeypatch.context() as patched:
            patched.setattr(sql_graph, "_PG_FIRST_LEVELS", 0)  # no level in the statement
            with _statements() as apart:
                expected = store.impact("src.a").to_dict()
        assert len(apart) > 3
        with _statements() as sent:
            report = store.impact("src.a")
        assert len(sent) == 2, sent
        assert report.to_dict() == expected
        keys = report.closure.keys()
        assert {"consumer:src-dash", "consumer:out-dash", "field:pg/mart.out.c"} <= keys
        assert "consumer:gone-dash" not in keys and report.deleted == 1
        assert report.deprecated == frozenset({"consumer:out-dash"})


def _walk_graph() -> GraphBatch:
    """A chain of 12 fields with side branches, two kinds joining one pair, a cycle, a
    deleted node at depth 2 (and what only it reaches) and a deprecated one at depth 3."""
    batch = GraphBatch()
    chain = [f"field:ns/t.c{i:02d}" for i in range(13)]
    for key in chain:
        batch.add_node(key, key.rsplit(".", 1)[1])
    for src, dst in zip(chain, chain[1:], strict=False):
        batch.add_edge(src, dst, EdgeKind.DERIVED_FROM)
    batch.add_edge(chain[5], chain[1], EdgeKind.DERIVED_FROM)  # a cycle
    for i in (0, 1, 3, 8):
        side = f"field:ns/side.s{i}"
        batch.add_node(side, f"s{i}")
        batch.add_edge(chain[i], side, EdgeKind.DERIVED_FROM)
        batch.add_edge(chain[i], side, EdgeKind.USES_FIELD)  # two kinds, one pair
        batch.add_edge(side, chain[i + 2], EdgeKind.DERIVED_FROM)
    batch.add_node("field:ns/gone.g", "g", lifecycle="deleted")
    batch.add_node("field:ns/gone.behind", "behind")
    batch.add_edge(chain[1], "field:ns/gone.g", EdgeKind.DERIVED_FROM)
    batch.add_edge("field:ns/gone.g", "field:ns/gone.behind", EdgeKind.DERIVED_FROM)
    batch.add_node("field:ns/old.o", "o", lifecycle="deprecated")
    batch.add_edge(chain[2], "field:ns/old.o", EdgeKind.DERIVED_FROM)
    return batch


def _table(closure: lineage.Closure) -> tuple[Any, ...]:
    t = closure.table
    assert t is not None
    return (t.keys, t.kinds, t.names, t.depths, t.parents, t.edges, t.truncated,
            dict(t.retired))


@pytest.mark.parametrize(("wide", "fanout"), [(2_000, 5_000), (2, 5_000), (2_000, 3),
                                             (2_000, 1)],
                         ids=["narrow", "wide-from-level-2", "many-edges-wide", "all-wide"])
def test_the_first_levels_statement_walks_as_a_statement_per_level_does(
        postgres_url: str, monkeypatch: pytest.MonkeyPatch, wide: int, fanout: int) -> None:
    """The one statement for the first 8 levels gives the table a statement per level gives
    (the same rows, parents, edge kinds, depth bound cuts and lifecycle marks), whether
    the walk ends inside it, goes on past its 8 levels, turns wide inside it, or leaves a
    level of many edges to the wide way."""
    import lineage.store.sql.graph as sql_graph

    monkeypatch.setattr(sql_graph, "_WIDE_FRONTIER", wide)
    monkeypatch.setattr(sql_graph, "_PG_FANOUT", fanout)
    monkeypatch.setattr(sql_graph, "_PG_FANOUT_LEVELS", 8)  # checked on every level
    with lineage.connect(postgres_url) as store:
        store.apply(_walk_graph())
        for start, direction in [("field:ns/t.c00", "downstream"),
                                 ("field:ns/t.c12", "upstream")]:
            walk = store.downstream if direction == "downstream" else store.upstream
            for depth in (None, 0, 1, 2, 3, 7, 8, 9, 11, 12, 13):
                for skip in (False, True):
                    monkeypatch.setattr(sql_graph, "_PG_FIRST_LEVELS", 8)
                    one = _table(walk(start, depth, skip_deleted=skip))
                    monkeypatch.setattr(sql_graph, "_PG_FIRST_LEVELS", 0)
                    per_level = _table(walk(start, depth, skip_deleted=skip))
                    assert one == per_level, (start, depth, skip)
        full = store.downstream("field:ns/t.c00", skip_deleted=True)
        assert "field:ns/gone.behind" not in full.keys() and len(full.keys()) == 17
        assert full.retired == {"field:ns/gone.g": "deleted", "field:ns/old.o": "deprecated"}


def test_a_level_of_many_edges_from_a_narrow_frontier_is_read_the_wide_way(
        postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hub's first level (one node, 10^4 edges at 10^6 nodes) is not read as rows of the
    first statement, which cost the client a Python tuple per edge: from `_PG_FANOUT`
    edges the statement stops before it and the walk reads it wide (aggregated arrays),
    though the frontier (one node) is far below `_WIDE_FRONTIER`. Same table, same
    impact() answer as the walk level by level."""
    import lineage.store.sql.graph as sql_graph

    batch = GraphBatch()
    batch.add_node("field:ns/hub.h", "h")
    for i in range(30):
        batch.add_node(f"field:ns/out.o{i:02d}", f"o{i:02d}")
        batch.add_edge("field:ns/hub.h", f"field:ns/out.o{i:02d}", EdgeKind.DERIVED_FROM)
        batch.add_node(f"field:ns/end.e{i:02d}", f"e{i:02d}")
        batch.add_edge(f"field:ns/out.o{i:02d}", f"field:ns/end.e{i:02d}",
                       EdgeKind.DERIVED_FROM)
    monkeypatch.setattr(sql_graph, "_PG_FANOUT", 10, raising=False)
    with lineage.connect(postgres_url) as store:
        store.apply(batch)
        with monkeypatch.context() as patched:
            patched.setattr(sql_graph, "_PG_FIRST_LEVELS", 0)
            per_level = (_table(store.downstream("hub.h", skip_deleted=True)),
                         store.impact("hub.h").to_dict())
        with _statements() as sent:
            walked = (_table(store.downstream("hub.h", skip_deleted=True)),
                      store.impact("hub.h").to_dict())
        assert walked == per_level
        assert len(walked[0][0]) == 60
        wide_levels = [s for s in sent if s.startswith("SELECT array_agg(r)")]
        assert len(wide_levels) >= 2, sent  # the hub's level read wide, in both walks


def test_a_wide_level_split_over_two_connections_walks_as_one_statement_does(
        postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A large wide level runs as two halves on two connections at once (graph.py
    `_Helper`): the parents' positions of the second half move by the first half's
    length, and the halves join in order, so the table is the one a single statement
    gives; the second connection goes back to the pool."""
    import lineage.store.sql.graph as sql_graph

    batch = GraphBatch()
    batch.add_node("field:ns/hub.h", "h")
    leaves = []
    for i in range(40):
        mid = f"field:ns/mid.m{i:02d}"
        batch.add_node(mid, f"m{i:02d}")
        batch.add_edge("field:ns/hub.h", mid, EdgeKind.DERIVED_FROM)
        for j in range(3):
            leaf = f"field:ns/leaf.l{(i * 7 + j * 11) % 60:02d}"
            if leaf not in batch.nodes:
                batch.add_node(leaf, leaf.rsplit(".", 1)[1], lifecycle=(
                    "deleted" if leaf.endswith("l13") else
                    "deprecated" if leaf.endswith("l14") else None))
                leaves.append(leaf)
            batch.add_edge(mid, leaf, EdgeKind.DERIVED_FROM if j else EdgeKind.USES_FIELD)
            batch.add_edge(leaf, f"field:ns/mid.m{(i + j + 1) % 40:02d}",
                           EdgeKind.DERIVED_FROM)
    monkeypatch.setattr(sql_graph, "_WIDE_FRONTIER", 2)
    with lineage.connect(postgres_url) as store:
        store.apply(batch)
        tables = []
        for split_from in (10**9, 2, 3):
            monkeypatch.setattr(sql_graph, "_SPLIT_FROM", split_from)
            for skip in (False, True):
                tables.append((skip, _table(store.downstream("hub.h", skip_deleted=skip)),
                               _table(store.upstream("leaf.l00", skip_deleted=skip))))
        assert tables[2:4] == tables[:2] and tables[4:] == tables[:2]
        assert len(tables[1][1][0]) == 40 + len(leaves) - 1  # the deleted leaf left out
        pool = store.engine.pool  # type: ignore[attr-defined]
        assert pool.checkedout() == 0 and pool.checkedin() >= 2  # the second one is back


def test_a_wide_dataset_pass_split_over_two_connections_answers_as_one_statement_does(
        postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hub's dataset pass (each field's dataset, then those datasets' links) runs as two
    halves on two connections at once, the fields split by id (each half's merge join
    reads its own range of the index): the impact() answers, consumers and datasets
    feeding jobs included, are the ones a single statement gives, from every field."""
    import lineage.store.sql.consumers as sql_consumers
    import lineage.store.sql.graph as sql_graph

    from .conftest import EXAMPLE

    monkeypatch.setattr(sql_consumers, "NUMPY_FIELDS", 0)  # the wide (numpy) pass
    with lineage.connect(postgres_url) as store:
        lineage.register(store, EXAMPLE)
        fields = [ref.key for ref in store.find("", [lineage.NodeKind.FIELD], limit=1000)]
        answers = []
        for split_from in (10**9, 2):
            monkeypatch.setattr(sql_graph, "_SPLIT_FROM", split_from)
            with _statements() as sent:
                answers.append([store.impact(key).to_dict() for key in fields])
            halves = [s for s in sent if "BETWEEN" in s]
            assert bool(halves) == (split_from == 2), halves
        assert answers[1] == answers[0]
        assert any(answer["affected"].get("consumer") for answer in answers[0])
        pool = store.engine.pool  # type: ignore[attr-defined]
        assert pool.checkedout() == 0  # the second connection went back


def test_wide_levels_read_every_vocabulary_edge_kind_by_its_number_and_no_other(
        postgres_url: str) -> None:
    """A wide level reads each edge's kind as a number the server computes
    (graph.py `_PG_KIND_CODE`): every vocabulary kind reads back as itself, and a number
    no vocabulary kind has makes the level read the names instead (None)."""
    import numpy as np

    from lineage.store.sql import graph as sql_graph

    names = sorted(k.value for k in EdgeKind)
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute(
            "SELECT " + sql_graph._PG_KIND_CODE + " FROM unnest(%s::text[]) AS e(kind)",
            (names + ["zz-not-a-kind"],)).fetchall()
    codes = np.array([r[0] for r in rows], dtype=np.int64)
    found = sql_graph._edge_kind_indices(codes[:-1])
    assert found is not None and sql_graph._edge_kind_names(found) == names
    assert sql_graph._edge_kind_indices(codes) is None
