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
    found = node.properties.get("quality_checks")
    checks = [dict(c) for c in found.values() if isinstance(c, dict)] \
        if isinstance(found, dict) else []
    return sorted(checks, key=lambda c: (c.get("success") is not False,
                                         str(c.get("assertion")), str(c.get("column"))))
