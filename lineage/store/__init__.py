"""Stores, chosen by URL scheme.

`connect(url)` looks the scheme up in `BACKENDS`; a plugin registers a factory for its own
scheme with `register_backend`.
"""

from __future__ import annotations

from collections.abc import Callable

from .._errors import ValidationError
from .._settings import Settings
from .base import Store

BACKENDS: dict[str, Callable[[str], Store]] = {}


def register_backend(scheme: str, factory: Callable[[str], Store]) -> None:
    """Make `connect` open URLs of `scheme` (the part before `://`, before any `+driver`)."""
    BACKENDS[scheme] = factory


def _sql(url: str) -> Store:
    from .sql import SqlStore

    return SqlStore(url)


def _neo4j(url: str) -> Store:
    from .neo4j import Neo4jStore

    return Neo4jStore(url)


for _scheme in ("sqlite", "postgresql", "postgres"):
    register_backend(_scheme, _sql)
for _scheme in ("neo4j", "neo4j+s", "neo4j+ssc", "bolt", "bolt+s", "bolt+ssc"):
    register_backend(_scheme, _neo4j)


def connect(url: str | None = None) -> Store:
    """Open the store at `url` (default: `$LINEAGE_URL`, else `sqlite:///lineage.db`).

    Creates and migrates the schema when needed. Raises ValidationError for a URL of an
    unknown scheme (a usage error, exit code 2) and StoreError for an unreachable database.
    """
    url = url or Settings.from_env().url
    scheme = url.split("://", 1)[0] if "://" in url else ""
    factory = BACKENDS.get(scheme) or BACKENDS.get(scheme.split("+", 1)[0])
    if factory is None:
        known = ", ".join(sorted(BACKENDS))
        raise ValidationError(f"no store backend for '{url}'; URL schemes known: {known}")
    return factory(url)


__all__ = ["Store", "connect", "register_backend", "BACKENDS"]
