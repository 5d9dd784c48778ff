"""Judge `lineage import dbt` on a held-out dbt project against column lineage read by hand.

    python -m bench.dbt_heldout TARGET_DIR bench/dbt_heldout_expected/<project>.txt

Prints, never asserts: column-edge recall (the hand-read identity/transformation/aggregation
edges found) and precision (found edges into the hand-read models that are hand-read, window
edges included), recall over the models whose compiled SQL has a `select *`, how many found
edges have the hand-read kind, the manifest's table edges found as `dataset -read-> job`,
test datasets (must be 0), quality checks, runs, consumers and the models whose column
lineage is unknown or partial, with why. The import is built against an empty SQLite store
(`lineage.dbt.build`), nothing is written.

An expected file has one line per edge, ``model.column <- upstream.column KIND`` (tables by
their identifier), KIND I identity, T transformation, A aggregation, W window (a column that
only partitions or orders a window function's rows; counted for precision, not recall).

The two projects judged on 2026-12-06 (their artifacts are not shipped: no licence file):

- dbt-labs/jaffle-shop: its seeds `raw_items.csv` and `raw_orders.csv` are git-LFS and not
  stored here: write small ones with their headers (`id,order_id,sku`;
  `id,customer,ordered_at,store_id,subtotal,tax_paid,order_total`); replace packages.yml
  with `local:` entries for dbt-utils and dbt-date checkouts (no hub.getdbt.com here).
- DataRecce/jaffle-shop-expand: the same, plus its own profile's duckdb path.

Both: `dbt deps && dbt seed --vars '{load_source_data: true}' && dbt build --vars ...`
(jaffle-shop-expand: then `dbt run` and `dbt snapshot`, since a failing test skips the
models after it), keep build's run_results.json, `dbt docs generate --vars ...`, put it back.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from lineage.dbt import build
from lineage.store import connect

KINDS = {"I": "identity", "T": "transformation", "A": "aggregation", "W": "window"}


def _short(key: str) -> str:
    """``field:ns/db.schema.table.column`` -> ``table.column``."""
    return ".".join(key.split("/", 1)[1].split(".")[-2:])


def read_expected(path: Path) -> dict[tuple[str, str], str]:
    expected: dict[tuple[str, str], str] = {}
    for line in path.read_text().splitlines():
        if "<-" not in line or line.lstrip().startswith("#"):
            continue
        out, rest = line.split("<-")
        source, kind = rest.split()
        expected[(source.strip(), out.strip())] = KINDS[kind]
    return expected


def judge(target: Path, expected: dict[tuple[str, str], str]) -> None:
    models = {out.split(".")[0] for _, out in expected}
    with tempfile.TemporaryDirectory() as tmp:
        batch, result = build(connect(f"sqlite:///{tmp}/judge.db"), target)
    found: dict[tuple[str, str], str] = {}
    for (src, dst, kind), edge in batch.edges.items():
        if str(kind) == "derived_from" and _short(dst).split(".")[0] in models:
            found[(_short(src), _short(dst))] = str(edge.properties.get("transformation"))
    direct = {k for k, v in expected.items() if v != "window"}
    hit = direct & set(found)
    right = set(found) & set(expected)
    print(f"column edges: {len(direct)} hand-read (+{len(expected) - len(direct)} window), "
          f"{len(found)} found")
    print(f"  recall {len(hit)}/{len(direct)} = {len(hit) / max(1, len(direct)):.1%}, "
          f"precision {len(right)}/{len(found)} = {len(right) / max(1, len(found)):.1%}, "
          f"kind as read {sum(found[k] == expected[k] for k in right)}/{len(right)}")
    for key in sorted(direct - set(found)):
        print("  missing", key, expected[key])
    for key in sorted(set(found) - set(expected)):
        print("  not hand-read", key, found[key])
    for key in sorted(k for k in right if found[k] != expected[k]):
        print("  kind", key, found[key], "read", expected[key])
    manifest: dict[str, Any] = json.loads((target / "manifest.json").read_text())
    star = {n["name"] for n in manifest["nodes"].values()
            if n.get("name") in models and "*" in (n.get("compiled_code") or "")}
    star_edges = {k for k in direct if k[1].split(".")[0] in star}
    print(f"  select * models ({len(star)}): recall {len(star_edges & set(found))}/"
          f"{len(star_edges)}")
    everything = {**manifest["nodes"], **manifest["sources"]}
    relations = {uid for uid, n in everything.items()
                 if n["resource_type"] in ("seed", "model", "snapshot", "source")
                 and n.get("config", {}).get("materialized") != "ephemeral"}
    want = {(parent, uid) for uid, n in manifest["nodes"].items() if uid in relations
            for parent in n.get("depends_on", {}).get("nodes", []) if parent in relations}
    ids: dict[str, set[str]] = {
        key: {str(node.properties.get("dbt_unique_id")), *node.properties.get(
            "also_dbt_unique_ids", [])} for key, node in batch.nodes.items()
        if key.startswith("dataset:")}
    have = {(uid, job.split("/", 1)[1]) for (src, job, kind) in batch.edges
            if str(kind) == "read" and job.startswith("job:") for uid in ids.get(src, ())}
    print(f"table edges: {len(want & have)}/{len(want)} of the manifest's")
    datasets = [k for k in batch.nodes if k.startswith("dataset:")]
    fake = [k for k in datasets if "dbt_test__audit" in k or ".test." in k]
    print(f"datasets {len(datasets)}, test datasets {len(fake)}, quality checks "
          f"{result.quality_checks}, runs {result.runs}, consumers {result.consumers} "
          f"(contracts {result.contracts})")
    status = Counter(str(node.properties.get("column_lineage")) for key, node in
                     batch.nodes.items() if key.startswith("job:")
                     and node.properties.get("dbt_resource_type") in ("model", "snapshot"))
    print(f"models' column lineage: {dict(status)}")
    for entry in result.column_lineage_unknown:
        print("  unknown", entry["model"], entry["reason"][:120])
    for uid, columns in result.columns_unknown.items():
        print("  partial", uid, [c["column"] for c in columns][:5])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", type=Path, help="the dbt project's target directory")
    parser.add_argument("expected", type=Path, help="the hand-read column lineage")
    args = parser.parse_args()
    judge(args.target, read_expected(args.expected))


if __name__ == "__main__":
    main()
