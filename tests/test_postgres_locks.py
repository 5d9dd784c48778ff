"""PostgreSQL's merge locks: a write that merges many nodes (a dbt project's first import)
fits the server's lock table, and still excludes the small writes that merge one node."""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlparse

import psycopg
import pytest

import lineage
from lineage import GraphBatch
from lineage.store.sql.graph import PG_NODE_LOCKS_MAX


def _keep_first(key: str, old: Any, new: Any) -> dict[str, Any]:
    return {**new, **old}


def _batch(n: int, prefix: str = "feature:f") -> GraphBatch:
    batch = GraphBatch()
    for i in range(n):
        batch.add_node(f"{prefix}{i}", f"f{i}", note=i)
    return batch


def test_a_merge_of_more_nodes_than_the_servers_lock_table_holds_is_written(
        postgres_url: str) -> None:
    # the server's lock table holds max_locks_per_transaction x max_connections entries
    # (64 x 100 by default); one advisory lock per node overflowed it ("out of shared
    # memory"), so a dbt project of 1,058 models could not be imported into PostgreSQL
    with psycopg.connect(postgres_url.split("?")[0]) as conn:
        row = conn.execute("SELECT current_setting('max_locks_per_transaction')::int * "
                           "current_setting('max_connections')::int").fetchone()
    assert row is not None
    n = row[0] * 4
    with lineage.connect(postgres_url) as store:
        done = store.apply(_batch(n), merge=_keep_first)
        assert done.nodes_created == n
        again = store.apply(_batch(n), merge=_keep_first)
        assert again.unchanged == n


def _schema_of(url: str) -> str:
    options = parse_qs(urlparse(url).query)["options"][0]
    return options.split("search_path=")[1]


@pytest.mark.parametrize(("held", "n"), [
    ("pg_advisory_xact_lock", 1),  # as a large merge holds it: a small one waits
    ("pg_advisory_xact_lock_shared", PG_NODE_LOCKS_MAX + 1),  # a small one's: a large waits
])
def test_large_and_small_merges_of_one_store_wait_for_each_other(
        postgres_url: str, held: str, n: int) -> None:
    with lineage.connect(postgres_url) as store:
        store.apply(_batch(n), merge=_keep_first)
    base = postgres_url.split("?")[0]
    holder = psycopg.connect(base)
    holder.execute(f"SELECT {held}(hashtext('lineage'), hashtext(%s))",
                   (_schema_of(postgres_url),))
    finished = threading.Event()

    def merge() -> None:
        with lineage.connect(postgres_url) as store:
            store.apply(_batch(n), merge=lambda k, o, new: {**o, "note": "later"})
        finished.set()

    worker = threading.Thread(target=merge)
    worker.start()
    try:
        with psycopg.connect(base) as watcher:
            for _ in range(600):  # until the merge waits on the lock (or ends)
                waiting = watcher.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND NOT granted").fetchone()
                if (waiting and waiting[0]) or finished.is_set():
                    break
                time.sleep(0.05)
        assert not finished.is_set(), "the merge ran while the other kind held the store"
    finally:
        holder.rollback()
        holder.close()
        worker.join()
    assert finished.is_set()
    with lineage.connect(postgres_url) as store:
        assert store.node("feature:f0").properties["note"] == "later"


@pytest.mark.parametrize("n", [PG_NODE_LOCKS_MAX, PG_NODE_LOCKS_MAX + 1])
def test_merges_on_either_side_of_the_per_node_limit_keep_the_merge(
        postgres_url: str, n: int) -> None:
    with lineage.connect(postgres_url) as store:
        store.apply(_batch(n), merge=_keep_first)
        store.apply(_batch(n), merge=lambda k, o, new: {**o, "seen": o.get("seen", 0) + 1})
        assert store.node("feature:f0").properties == {"note": 0, "seen": 1}
