"""Shared fixtures: one contract, every reachable backend.

`store` is parametrised over SQLite (always, a real file in tmp_path) and PostgreSQL
(when LINEAGE_TEST_POSTGRES_URL is set; each test gets a fresh schema, dropped afterwards).
In CI (CI=true) an unset PostgreSQL URL is a failure, never a silent skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa

import lineage

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "fraud" / "manifest.yaml"
POSTGRES_URL = os.environ.get("LINEAGE_TEST_POSTGRES_URL")
NEO4J_URL = os.environ.get("LINEAGE_TEST_NEO4J_URL")

BACKENDS = ["sqlite", "postgresql"]


def _admin_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema (dropped afterwards)."""
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


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest) -> str:
    """The URL of an empty store, once per backend."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


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
