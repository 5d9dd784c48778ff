"""PostgreSQL array parameters and results built without psycopg's per-element adaptation
(lineage/store/sql/pgarray.py), on the real server, and the store lookups that send them."""

from __future__ import annotations

import numpy as np
import pytest

import lineage
from lineage import EdgeKind, GraphBatch
from lineage.store.sql import pgarray


@pytest.mark.parametrize("count", [0, 1, 3, 1_999, 2_000, 2_500])
def test_id_lists_reach_postgresql_as_the_same_bigints_whichever_way_they_are_built(
        postgres_url: str, count: int) -> None:
    """Below 2,000 ids `struct.pack` builds the binary array, from 2,000 on numpy: the
    server reads the same values, in order, extremes included; binary results come back as
    lists of ints below 2,000 ids (no numpy import for a typical walk) and as int64 numpy
    arrays from 2,000 on, text results as lists (as psycopg reads them)."""
    values = [(-1) ** i * (i * 7_919 + 1) for i in range(count)]
    if count >= 3:
        values[:2] = [2**63 - 1, -(2**63)]
    with lineage.connect(postgres_url) as store, store._cursor() as cur:  # type: ignore[attr-defined]
        param = pgarray.array_param(values)
        cur.execute("SELECT array_length(%s::bigint[], 1), %s::bigint[]", (param, param))
        length, text_result = cur.fetchone()
        assert (length or 0) == count
        assert (text_result or []) == values
        cur.execute("SELECT %s::bigint[]", (param,), binary=True)
        (binary_result,) = cur.fetchone()
        if count < 2_000:
            assert type(binary_result) is list
            assert all(type(v) is int for v in binary_result) and binary_result == values
        else:
            assert isinstance(binary_result, np.ndarray) and binary_result.dtype == np.int64
            assert binary_result.tolist() == values
        cur.execute("SELECT ARRAY[1, NULL]::bigint[]", binary=True)  # NULLs: decoded as before
        assert cur.fetchone()[0] == [1, None]


def test_lookups_by_many_keys_keep_keys_with_quotes_commas_braces_and_backslashes(
        store: lineage.Store) -> None:
    """Key lists go to PostgreSQL as one quoted array literal: a key holding the literal's
    own syntax (quote, backslash, comma, braces, spaces, the word NULL) is looked up as it is."""
    odd = ['field:x/t."a,b"', "field:x/t.c\\d", "field:x/t.{e}", "field:x/t. NULL ",
           "field:x/t.NULL", "field:x/t.ü ✓"]
    batch = GraphBatch()
    batch.add_node("consumer:odd", "odd")
    for key in odd:
        batch.add_node(key, key.rsplit(".", 1)[-1], lifecycle="deprecated")
        batch.add_edge(key, "consumer:odd", EdgeKind.CONSUMES)
    store.apply(batch)
    assert store.lifecycle_states(odd) == dict.fromkeys(odd, "deprecated")
    found = store.adjacent(odd, "downstream", [EdgeKind.CONSUMES])
    assert sorted(key for key, _, _ in found) == sorted(odd)
    assert {ref.key for _, _, ref in found} == {"consumer:odd"}


@pytest.mark.parametrize(("server", "expected"), [(None, "16MB"), ("64MB", "64MB")])
def test_store_sessions_get_at_least_16mb_work_mem_and_keep_a_larger_setting(
        postgres_url: str, server: str | None, expected: str) -> None:
    """Sorts of a hub's impact() spilled to disk with PostgreSQL's default 4 MB; a server or
    URL that sets more is never lowered."""
    url = postgres_url.replace("options=", f"options=-cwork_mem%3D{server}%20", 1) \
        if server else postgres_url
    with lineage.connect(url) as store, store._cursor() as cur:  # type: ignore[attr-defined]
        cur.execute("SHOW work_mem")
        assert cur.fetchone()[0] == expected
        cur.execute("SHOW jit")
        assert cur.fetchone()[0] == "off"
