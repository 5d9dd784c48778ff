"""Quality checks recorded from OpenLineage `dataQualityAssertions` (dbt tests and the like).

Ingest keeps each check's newest result on the dataset it tests and on the column it names
(the `quality_checks` property; see `_mapping`). This reads them back for an answer.
"""

from __future__ import annotations

from typing import Any

from .._vocabulary import EdgeKind, NodeKind
from ..store.base import Store

#: a dbt test's status (run_results) as a check's success: None when it did not run
_DBT_SUCCESS = {"pass": True, "fail": False, "error": False, "warn": False}


def checks_covering(store: Store, name: str) -> list[dict[str, Any]]:
    """The quality checks recorded on node `name` (a key or an unambiguous suffix: a column
    or a dataset), each `{assertion, success, column, job, run, at, source, ...}`, failing
    ones first, then by assertion. A dataset's answer includes the checks recorded on its
    columns (dbt keeps a column test on the column only), each check once.

    Both recorded forms are read: OpenLineage `dataQualityAssertions` (a mapping, `source`
    "openlineage") and dbt tests from `lineage import dbt` (a list; `assertion` is the
    test's name, `success` from its status, None when it did not run, `at` its execution
    time). Raises NotFound / AmbiguousName as `Store.resolve` does."""
    ref = store.resolve(name)
    keys = [ref.key]
    if ref.kind is NodeKind.DATASET:
        keys += [r.key for _, _, r in store.adjacent([ref.key], "downstream",
                                                     [EdgeKind.HAS_FIELD])]
    checks: dict[tuple[Any, ...], dict[str, Any]] = {}
    for node in store.nodes(keys).values():
        for check in _recorded(node.properties.get("quality_checks")):
            ident = (check["source"], check.get("id"), check.get("job"),
                     check.get("assertion"), check.get("column"))
            checks.setdefault(ident, check)
    return sorted(checks.values(), key=lambda c: (c.get("success") is not False,
                                                  str(c.get("assertion")),
                                                  str(c.get("column"))))


def checks_of(value: Any) -> list[dict[str, Any]]:
    """The checks of one node's `quality_checks` property as plain dicts, both recorded
    forms (see `checks_covering`); anything else gives none."""
    return _recorded(value)


def _recorded(found: Any) -> list[dict[str, Any]]:
    if isinstance(found, dict):  # OpenLineage: {"<job>|<assertion>|<column>": entry}
        return [{"source": "openlineage", **c} for c in found.values() if isinstance(c, dict)]
    if not isinstance(found, list):
        return []
    out = []
    for c in found:  # dbt: [{"source": "dbt", "id", "name", "test", "status", ...}]
        if not isinstance(c, dict):
            continue
        status = c.get("status")
        out.append({"source": "dbt", **c, "assertion": c.get("test") or c.get("name"),
                    "success": _DBT_SUCCESS.get(status) if isinstance(status, str) else None,
                    "at": c.get("executed_at")})
    return out
