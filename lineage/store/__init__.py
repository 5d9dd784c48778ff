"""Stores, chosen by URL scheme.

`connect(url)` looks the scheme up in `BACKENDS`; a plugin registers a factory for its own
scheme with `register_backend`.
"""

from __future__ import annotations

from collections.abc import Callable

from .._errors import ValidationError
from .._settings import Settings
from .base import Store

#: a backend's factory: (url, create) -> Store; with create=False it raises NotFound for a
#: store that does not exist yet instead of creating it
BackendFactory = Callable[[str, bool], Store]
BACKENDS: dict[str, BackendFactory] = {}


def register_backend(scheme: str, factory: BackendFactory) -> None:
    """Make `connect` open URLs of `scheme` (the part before `://`, before any `+driver`)."""
    BACKENDS[scheme] = factory


def _sql(url: str, create: bool) -> Store:
    from .sql import SqlStore

    return SqlStore(url, create=create)


def _neo4j(url: str, create: bool) -> Store:
    from .neo4j import Neo4jStore

    return Neo4jStore(url, create=create)


for _scheme in ("sqlite", "postgresql", "postgres"):
    register_backend(_scheme, _sql)
for _scheme in ("neo4j", "neo4j+s", "neo4j+ssc", "bolt", "bolt+s", "bolt+ssc"):
    register_backend(_scheme, _neo4j)


def connect(url: str | None = None, *, create: bool = True) -> Store:
    """Open the store at `url` (default: `$LINEAGE_URL`, else `sqlite:///lineage.db`).

    Creates and migrates the schema when needed. With `create=False` (what read-only
    commands use) a store that does not exist yet is not created: NotFound says so and how
    to make one. Raises ValidationError for a URL of an unknown scheme (a usage error, exit
    code 2) and StoreError for an unreachable database.
    """
    url = url or Settings.from_env().url
    scheme = url.split("://", 1)[0] if "://" in url else ""
    factory = BACKENDS.get(scheme) or BACKENDS.get(scheme.split("+", 1)[0])
    if factory is None:
        known = ", ".join(sorted(BACKENDS))
        raise ValidationError(f"no store backend for '{url}'; URL schemes known: {known}")
    return factory(url, create)


__all__ = ["Store", "connect", "register_backend", "BACKENDS"]
