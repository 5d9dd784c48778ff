"""Writes runs_0005.json: the nodes and edges a store of schema revision 0005 (runs keyed
``run:{runId}``) holds after ingesting EVENTS, as that release wrote them. Run it with that
release's code (here: main at c6d8b92), e.g.

    PYTHONPATH=/path/to/old/checkout python3 tests/data/migrations/make_runs_0005.py

tests/test_migrations.py loads the rows into a 0005 schema, opens the store with the current
code (which migrates it) and compares it with a store the current code ingested the same
events into.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import lineage
from lineage import openlineage

HERE = Path(__file__).parent
DATA = HERE.parent / "openlineage"
#: events with parents, failures and quality checks (no `root` facet: a root run is a
#: property only, its job unknown to the old store, so it keeps its old key form)
EVENTS = ["run_start.json", "run_complete.json", "run_fail.json", "job_event.json",
          "upstream/dbt_test_result.json", "upstream/fluentd_event_full.json"]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, \
            lineage.connect(f"sqlite:///{tmp}/old.db") as store:
        for name in EVENTS:
            openlineage.ingest(store, json.loads((DATA / name).read_text()))
        refs = store.find("", limit=100_000)
        nodes = store.nodes(r.key for r in refs)
        edges = store.edges_among(nodes)
        out = {
            "revision": "0005",
            "events": EVENTS,
            "nodes": [{"key": k, "kind": n.kind.value, "name": n.name,
                       "namespace": n.namespace, "properties": n.properties}
                      for k, n in sorted(nodes.items())],
            "schemas": {k: [f.model_dump() for f in store.schema(k)]
                        for k, n in sorted(nodes.items()) if n.kind.value == "dataset_version"},
            "edges": sorted(([e.src, e.dst, e.kind.value, e.properties] for e in edges),
                            key=lambda e: (e[0], e[1], e[2])),
        }
    (HERE / "runs_0005.json").write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
