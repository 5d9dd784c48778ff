"""Quality checks recorded from OpenLineage `dataQualityAssertions` (dbt tests and the like).

Ingest keeps each check's newest result on the dataset it tests and on the column it names
(the `quality_checks` property; see `_mapping`). This reads them back for an answer.
"""

from __future__ import annotations

from typing import Any

from ..store.base import Store


def checks_covering(store: Store, name: str) -> list[dict[str, Any]]:
    """The quality checks recorded on node `name` (a key or an unambiguous suffix: a column
    or a dataset), each `{assertion, success, column, job, run, at, ...}`, failing ones
    first, then by assertion. Raises NotFound / AmbiguousName as `Store.resolve` does."""
    node = store.node(store.resolve(name).key)
    return sorted(checks_of(node.properties.get("quality_checks")),
                  key=lambda c: (c.get("success") is not False, str(c.get("assertion")),
                                 str(c.get("column"))))


def checks_of(value: Any) -> list[dict[str, Any]]:
    """The checks of one node's `quality_checks` property (check id -> newest result), as
    plain dicts; anything else gives none."""
    return [dict(c) for c in value.values() if isinstance(c, dict)] \
        if isinstance(value, dict) else []
