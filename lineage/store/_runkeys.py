"""Re-keying runs stored as ``run:{runId}`` to ``run:{job}/{runId}`` (`lineage._keys.run_key`).

Before, a run's key was its runId alone, and a second job reporting that runId was refused;
now each job's run has its own key. A store made before keeps its runs under the old keys
until migrated: the SQL migration 0006 and the Neo4j graph's schema version 2 call these,
so the rule is written once. What moves: the key of every run that knows its job (its
`job` property), and every property that names such a run by key (a run's `parent` and
`root`, a dataset version's `run`, each `quality_checks` entry's `run`). Edges follow their
nodes (the SQL edge table holds node ids; Neo4j relationships hold nodes). A run without
a `job` (known by its id alone) keeps its key, and so does a `root` naming a run the store
does not hold (its job is unknown).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._keys import identity, run_key, tail

#: the node kinds whose properties may name a run by key
REFERRING_KINDS = ("run", "dataset_version", "dataset", "field")


def new_run_key(key: str, properties: Mapping[str, Any]) -> str | None:
    """The key run `key` moves to, or None when it stays (it has a job in its key already,
    or no job is known)."""
    rid = identity(key)
    job = properties.get("job")
    if "/" in rid or not rid or not isinstance(job, str) or not job.startswith("job:"):
        return None
    return run_key(rid, job)


def rtail(key: str) -> str:
    """A key's reversed tail, as the stores index it for suffix lookups."""
    return tail(key)[::-1]


def rewritten(properties: Mapping[str, Any], moved: Mapping[str, str]
              ) -> dict[str, Any] | None:
    """`properties` with every run key in `moved` replaced by its new key, or None when
    none of them names a moved run."""
    out = dict(properties)
    changed = False
    for name in ("parent", "root", "run"):
        value = out.get(name)
        if isinstance(value, str) and value in moved:
            out[name] = moved[value]
            changed = True
    checks = out.get("quality_checks")
    if isinstance(checks, dict):
        updated = {}
        for check, entry in checks.items():
            run = entry.get("run") if isinstance(entry, dict) else None
            if isinstance(run, str) and run in moved:
                entry = {**entry, "run": moved[run]}
                changed = True
            updated[check] = entry
        out["quality_checks"] = updated
    return out if changed else None
