"""Shared fixtures: one contract, every reachable backend.

`store` is parametrised over SQLite (always, a real file in tmp_path), PostgreSQL
(when LINEAGE_TEST_POSTGRES_URL is set; each test gets a fresh schema, dropped afterwards)
and Neo4j (when LINEAGE_TEST_NEO4J_URL is set; the one database is emptied before each test,
and the records side is a SQLite file in tmp_path). In CI (CI=true) an unset URL is a
failure, never a silent skip.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa

import lineage

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "fraud" / "manifest.yaml"
POSTGRES_URL = os.environ.get("LINEAGE_TEST_POSTGRES_URL")
NEO4J_URL = os.environ.get("LINEAGE_TEST_NEO4J_URL")

SQL_BACKENDS = ["sqlite", "postgresql"]
BACKENDS = [*SQL_BACKENDS, "neo4j"]


def _admin_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema (dropped afterwards)."""
    with fresh_postgres_schema() as url:
        yield url


@contextmanager
def fresh_postgres_schema() -> Iterator[str]:
    """`postgres_url` for a test that needs more than one PostgreSQL store (skips, or fails
    in CI, when LINEAGE_TEST_POSTGRES_URL is not set)."""
    if not POSTGRES_URL:
        if os.environ.get("CI"):
            pytest.fail("CI must set LINEAGE_TEST_POSTGRES_URL: PostgreSQL tests may not skip")
        pytest.skip("LINEAGE_TEST_POSTGRES_URL is not set")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(_admin_url(POSTGRES_URL))
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'lineage.db'}"


def clear_neo4j(url: str) -> None:
    """Empty the Neo4j database (community edition has one): every node and relationship,
    in batches so a large graph does not need one huge transaction. Constraints and indexes
    stay; the schema-version node goes too, so the next connect re-runs its (idempotent)
    migration."""
    from neo4j import GraphDatabase

    with GraphDatabase.driver(url, auth=None) as driver:
        while True:
            records = driver.execute_query(
                "MATCH (n) WITH n LIMIT 10000 DETACH DELETE n RETURN count(*) AS n").records
            if not records or records[0]["n"] == 0:
                break


@pytest.fixture
def neo4j_url(tmp_path: Path) -> str:
    """The URL of an empty Neo4j store (graph emptied, records in a fresh SQLite file)."""
    if not NEO4J_URL:
        if os.environ.get("CI"):
            pytest.fail("CI must set LINEAGE_TEST_NEO4J_URL: Neo4j tests may not skip")
        pytest.skip("LINEAGE_TEST_NEO4J_URL is not set (bash tests/neo4j/start.sh prints one)")
    clear_neo4j(NEO4J_URL)
    records = quote(f"sqlite:///{tmp_path / 'records.db'}", safe=":/")
    return f"{NEO4J_URL}?records={records}"


_BACKEND_FIXTURE = {"sqlite": "sqlite_url", "postgresql": "postgres_url", "neo4j": "neo4j_url"}


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest) -> str:
    """The URL of an empty store, once per backend."""
    return str(request.getfixturevalue(_BACKEND_FIXTURE[request.param]))


@pytest.fixture(params=SQL_BACKENDS)
def sql_store_url(request: pytest.FixtureRequest) -> str:
    """The URL of an empty SQL store, once per SQL backend (for what only SQL has:
    migrations, query plans)."""
    return str(request.getfixturevalue(_BACKEND_FIXTURE[request.param]))


@pytest.fixture
def store(store_url: str) -> Iterator[lineage.Store]:
    """An empty store, once per backend."""
    with lineage.connect(store_url) as s:
        yield s


@pytest.fixture
def fraud_store(store: lineage.Store) -> lineage.Store:
    """A store holding the example fraud pipeline (examples/fraud/manifest.yaml)."""
    lineage.register(store, EXAMPLE)
    return store


def run_node(store: lineage.Store, run_id: str) -> lineage.Node:
    """The one run stored under `run_id` (runs are keyed by job and runId, and a runId
    alone names its run while only one job has it)."""
    return store.node(store.resolve(run_id, [lineage.NodeKind.RUN]).key)


def snapshot(store: lineage.Store) -> dict[str, object]:
    """Everything a store holds that a write could change, for 'unchanged' assertions."""
    refs = store.find("", limit=100_000)
    nodes = store.nodes(r.key for r in refs)
    edges = store.edges_among(nodes)
    schemas = {k: store.schema(k) for k, n in nodes.items()
               if n.kind is lineage.NodeKind.DATASET_VERSION}
    return {
        "nodes": {k: (n.name, n.namespace, n.properties) for k, n in nodes.items()},
        "edges": sorted((e.src, e.dst, e.kind.value, str(e.properties)) for e in edges),
        "schemas": {k: [f.model_dump() for f in v] for k, v in schemas.items()},
    }


def without_symlink_links(value: dict[str, Any]) -> dict[str, Any]:
    """A `snapshot` without what OpenLineage symlinks add since they are linked (the alias
    datasets, their fields and the `declared: symlink` edges): for comparing a store
    migrated from a release that kept them as a property only with one ingested now."""
    aliases = {k for k, (_, _, p) in value["nodes"].items()
               if isinstance(p, dict) and p.get("symlink_of")}
    fields = {k for k in value["nodes"] if k.startswith("field:") and any(
        k.startswith("field:" + a.removeprefix("dataset:") + ".") for a in aliases)}
    gone = aliases | fields
    return {**value,
            "nodes": {k: v for k, v in value["nodes"].items() if k not in gone},
            "edges": [e for e in value["edges"] if e[0] not in gone and e[1] not in gone
                      and "'declared': 'symlink'" not in e[3]]}


_SIZE = re.compile(r"\b(?:(n?var)?char|(timestamp_tz|timestamp|time))\(\d+\)")


def unwritten(value: object) -> object:
    """`value` (a snapshot, or part of one) without `last_written` (and its event time),
    which releases before the OpenLineage lifecycle's writes did not stamp: for comparing a
    store migrated from such a release with one written now."""
    if isinstance(value, dict):
        return {k: unwritten(v) for k, v in value.items() if k != "last_written"}
    if isinstance(value, list | tuple):
        return type(value)(unwritten(v) for v in value)
    return value


def without_sizes(value: object) -> object:
    """`value` (a snapshot, or part of one) with every type's length or precision dropped,
    as releases up to 0005 stored them (varchar(10) as string, timestamp(9) as timestamp):
    for comparing a store migrated from such a release with one written now."""
    if isinstance(value, dict):
        return {k: (_SIZE.sub(lambda m: m.group(2) or "string", v)
                    if k == "type" and isinstance(v, str) else without_sizes(v))
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(without_sizes(v) for v in value)
    return value


#: `python -c LAUNCH ARGS...` runs the `lineage` command of this checkout (no installed script)
LAUNCH = "import sys; from lineage_cli.main import cli; cli(sys.argv[1:], prog_name='lineage')"


def nodes_read_whole(store: lineage.Store, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The keys `store` reads whole from here on (its `_nodes` hook, which still answers),
    in order: a test asserts a read asked only for what it must."""
    asked: list[str] = []
    nodes = store._nodes

    def recorded(keys: list[str]) -> dict[str, lineage.Node]:
        asked.extend(keys)
        return nodes(keys)

    monkeypatch.setattr(store, "_nodes", recorded)
    return asked


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_in_subprocess(command: list[str], url: str, *options: str,
                        seconds: float = 90) -> Iterator[str]:
    """`COMMAND --store URL serve --port P OPTIONS...` in a subprocess on 127.0.0.1, its base
    URL once /api/v1/health answers; terminated afterwards."""
    import httpx

    port = free_port()
    process = subprocess.Popen([*command, "--store", url, "serve", "--port", str(port),
                                "--log-level", "warning", *options], env={**os.environ})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + seconds
        while True:
            try:
                httpx.get(f"{base}/api/v1/health", timeout=1)
                break
            except httpx.HTTPError:
                assert process.poll() is None, "lineage serve exited"
                assert time.monotonic() < deadline, "lineage serve did not start"
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(30)


#: the `lineage` command of this checkout, for `serve_in_subprocess`
LINEAGE = [sys.executable, "-c", LAUNCH]
