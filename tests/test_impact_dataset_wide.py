"""Impact across dataset-wide column lineage (issue 12, item 1).

OpenLineage's column lineage facet lists, besides each output field's inputs, the fields
that act on the output as a whole (`dataset` entries; INDIRECT transformations: FILTER,
JOIN, GROUP_BY, SORT, WINDOW). Ingest stores each as `field -derived_from-> dataset` with
`scope: dataset`. A change to a filter column changes which rows the output holds, so every
field of the output and everything downstream of it is affected, indirectly: no column
lineage says which of their values depend on it. Impact marks what it reaches only that way
"dataset-level lineage, column unknown" (verdict never `compatible`), and `--precise`
leaves it out, in both directions.
"""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner

import lineage
from lineage import Store
from lineage import openlineage as ol
from lineage.impact import change_impact, downstream, impact, upstream
from lineage_cli.main import cli

from .test_server import Served, served  # noqa: F401  (the running-server fixture)

PRODUCER = "https://example.com/spark-app"
PG = "postgres://db:5432"


def _facet(name: str) -> dict[str, str]:
    return {"_producer": PRODUCER,
            "_schemaURL": f"https://openlineage.io/spec/facets/1-2-0/{name}.json#/$defs/{name}"}


def _schema(*fields: tuple[str, str]) -> dict[str, Any]:
    return {**_facet("SchemaDatasetFacet"),
            "fields": [{"name": n, "type": t} for n, t in fields]}


def _source(name: str, field: str, *kinds: tuple[str, str]) -> dict[str, Any]:
    return {"namespace": PG, "name": name, "field": field,
            "transformations": [{"type": t, "subtype": s} for t, s in kinds]}


def _run(run_id: str, job: str, inputs: list[dict[str, Any]],
         outputs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"eventType": "COMPLETE", "eventTime": "2026-12-01T02:00:00Z", "producer": PRODUCER,
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {"runId": run_id}, "job": {"namespace": "spark", "name": job},
            "inputs": inputs, "outputs": outputs}


DIRECT = ("DIRECT", "IDENTITY")
# `SELECT id, amount FROM orders WHERE status = 3`, then revenue summed from the paid orders
EVENTS = [
    _run("01a204b8-b18f-7518-bd2c-000000000001", "paid_orders",
         [{"namespace": PG, "name": "public.orders", "facets": {"schema": _schema(
             ("id", "BIGINT"), ("amount", "BIGINT"), ("status", "int32"))}}],
         [{"namespace": PG, "name": "mart.paid", "facets": {
             "schema": _schema(("id", "BIGINT"), ("amount", "BIGINT")),
             "columnLineage": {**_facet("ColumnLineageDatasetFacet"), "fields": {
                 "id": {"inputFields": [_source("public.orders", "id", DIRECT)]},
                 "amount": {"inputFields": [_source("public.orders", "amount", DIRECT)]}},
                 "dataset": [_source("public.orders", "status", ("INDIRECT", "FILTER"))]}}}]),
    _run("01a204b8-b18f-7518-bd2c-000000000002", "revenue",
         [{"namespace": PG, "name": "mart.paid"}],
         [{"namespace": PG, "name": "mart.revenue", "facets": {
             "schema": _schema(("total", "BIGINT")),
             "columnLineage": {**_facet("ColumnLineageDatasetFacet"), "fields": {
                 "total": {"inputFields": [_source("mart.paid", "amount",
                                                   ("DIRECT", "AGGREGATION"))]}}}}}]),
]
STATUS = f"field:{PG}/public.orders.status"
AMOUNT = f"field:{PG}/public.orders.amount"
PAID = f"dataset:{PG}/mart.paid"
PAID_ID = f"field:{PG}/mart.paid.id"
PAID_AMOUNT = f"field:{PG}/mart.paid.amount"
TOTAL = f"field:{PG}/mart.revenue.total"
REVENUE_JOB = "job:spark/revenue"
#: what the filter column reaches, all of it only through the filter
FILTERED = {PAID, PAID_ID, PAID_AMOUNT, TOTAL, REVENUE_JOB, f"dataset:{PG}/mart.revenue"}


def _ingested(store: Store) -> Store:
    ol.ingest(store, EVENTS)
    return store


def test_impact_marks_what_a_filter_column_reaches_through_its_dataset_column_unknown(
        store: Store) -> None:
    report = impact(_ingested(store), "orders.status")
    reached = {r.node.key: r for r in report.closure.reached}
    assert FILTERED <= set(reached)
    assert all(r.column_unknown for r in reached.values()), [
        k for k, r in reached.items() if not r.column_unknown]
    assert [n.key for _, n in reached[PAID_ID].path] == [STATUS, PAID, PAID_ID]
    assert report.to_dict()["column_unknown"] == len(reached)
    # --precise: a filter records no column-level reach
    assert impact(store, "orders.status", precise=True).closure.reached == []


def test_impact_keeps_the_column_level_reach_of_a_filtered_dataset_precise(store: Store) -> None:
    """amount is copied into mart.paid (identity) and summed into revenue: column lineage,
    not the filter, reaches them."""
    reached = {r.node.key: r for r in impact(_ingested(store), "orders.amount").closure.reached}
    assert {PAID_AMOUNT, TOTAL} <= set(reached)
    assert not reached[PAID_AMOUNT].column_unknown and not reached[TOTAL].column_unknown
    assert set(impact(store, "orders.amount", precise=True).closure.keys()) >= {PAID_AMOUNT,
                                                                                 TOTAL}


def test_a_change_to_a_filter_column_is_never_compatible_downstream(store: Store) -> None:
    report = change_impact(_ingested(store), "orders.status", ["type:int64"])  # widening
    verdicts = {j.node.key: j for j in report.judged}
    assert FILTERED <= set(verdicts)
    assert {j.verdict for j in verdicts.values()} == {"unknown"}
    assert all(j.column_unknown for j in verdicts.values())
    assert report.to_dict()["column_unknown"] == len(verdicts)
    assert change_impact(store, "orders.status", ["type:int64"], precise=True).judged == []


def test_a_copied_column_that_also_filters_its_output_is_not_compatible(store: Store) -> None:
    """`SELECT id, status FROM orders WHERE status = 3`, as Spark reports it without dataset
    lineage: status is both copied (DIRECT/IDENTITY) and a filter (INDIRECT/FILTER) of the
    output's fields. A widening copied through is compatible for the copy alone, but the
    filter may keep other rows: unknown."""
    out = {"namespace": PG, "name": "mart.open", "facets": {
        "schema": _schema(("id", "BIGINT"), ("status", "BIGINT")),
        "columnLineage": {**_facet("ColumnLineageDatasetFacet"), "fields": {
            "id": {"inputFields": [_source("public.orders", "id", DIRECT),
                                   _source("public.orders", "status", ("INDIRECT", "FILTER"))]},
            "status": {"inputFields": [_source("public.orders", "status", DIRECT,
                                               ("INDIRECT", "FILTER"))]}}}}}
    ol.ingest(store, [_run("01a204b8-b18f-7518-bd2c-000000000003", "open_orders",
                           [{"namespace": PG, "name": "public.orders", "facets": {
                               "schema": _schema(("id", "BIGINT"), ("status", "int32"))}}],
                           [out])])
    verdicts = {j.node.key: j for j in change_impact(store, "orders.status",
                                                       ["type:int64"]).judged}
    copy = verdicts[f"field:{PG}/mart.open.status"]
    assert copy.verdict == "unknown" and "INDIRECT/FILTER" in copy.reason
    assert verdicts[f"field:{PG}/mart.open.id"].verdict == "unknown"


def test_upstream_marks_a_filter_column_and_agrees_with_downstream(store: Store) -> None:
    _ingested(store)
    up = {r.node.key: r for r in upstream(store, "revenue.total")}
    assert up[STATUS].column_unknown and not up[AMOUNT].column_unknown
    assert not up[PAID_AMOUNT].column_unknown
    assert STATUS not in upstream(store, "revenue.total", precise=True).keys()
    # a consumer of the filtered dataset: the filter column reaches it only through it
    lineage.manifest.register_text(store, "consumers:\n  - {name: board, consumes: [mart.paid]}\n")
    board = {r.node.key: r for r in upstream(store, "consumer:board")}
    assert board[STATUS].column_unknown and not board[AMOUNT].column_unknown
    assert board[PAID_ID].through is not None and not board[PAID_ID].column_unknown
    every = [r.key for r in store.find("", None, 10_000)]
    for precise in (False, True):
        down = {x: downstream(store, x, precise=precise) for x in every}
        ups = {z: upstream(store, z, precise=precise) for z in every}
        assert [(x, z) for x in every for z in every if z != x
                and (z in down[x].keys()) != (x in ups[z].keys())] == [], precise
        marks = {(x, r.node.key): r.column_unknown for x in every for r in down[x]}
        assert [(r.node.key, z) for z in every for r in ups[z]
                if marks[(r.node.key, z)] != r.column_unknown] == [], precise


def test_cli_and_http_mark_what_a_filter_column_reaches(store_url: str,
                                                        served: Served) -> None:  # noqa: F811
    with lineage.connect(store_url) as store:
        _ingested(store)
    runner = CliRunner()

    def run(*args: str) -> Any:
        result = runner.invoke(cli, ["--store", store_url, *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result

    data = json.loads(run("impact", "orders.status", "--format", "json").stdout)
    marked = {item["key"]: item["column_unknown"]
              for items in data["affected"].values() for item in items}
    assert FILTERED <= set(marked) and all(marked.values())
    assert data["column_unknown"] == len(marked)
    table = run("impact", "orders.status").stdout
    assert "paid.id *" in table and "column unknown" in table
    judged = json.loads(run("impact", "orders.status", "--change", "type:int64",
                            "--format", "json").stdout)
    assert {j["verdict"] for items in judged["affected"].values() for j in items} == {"unknown"}

    _ingested(served.store)
    answer = served.get("/api/v1/impact", params={"field": "orders.status"}).json()
    assert {item["key"]: item["column_unknown"] for items in answer["affected"].values()
            for item in items} == marked
    assert served.get("/api/v1/impact", params={"field": "orders.status",
                                                 "precise": "true"}).json()["affected"] == {}


def test_a_filter_column_copied_into_its_output_keeps_that_copy_precise(store: Store) -> None:
    """`SELECT id, status FROM orders WHERE status = 3` with dataset lineage: status both
    filters mart.open (dataset-wide) and is copied into mart.open.status. The copy is
    reached by column lineage (unmarked, and kept by --precise with its own path), the
    other field only through the filter; a consumer of the dataset depends on the copy."""
    out = {"namespace": PG, "name": "mart.open", "facets": {
        "schema": _schema(("id", "BIGINT"), ("status", "BIGINT")),
        "columnLineage": {**_facet("ColumnLineageDatasetFacet"), "fields": {
            "id": {"inputFields": [_source("public.orders", "id", DIRECT)]},
            "status": {"inputFields": [_source("public.orders", "status", DIRECT)]}},
            "dataset": [_source("public.orders", "status", ("INDIRECT", "FILTER"))]}}}
    ol.ingest(store, [_run("01a204b8-b18f-7518-bd2c-000000000004", "open_orders",
                           [{"namespace": PG, "name": "public.orders", "facets": {
                               "schema": _schema(("id", "BIGINT"), ("status", "int32"))}}],
                           [out])])
    lineage.manifest.register_text(store, "consumers:\n  - name: board\n"
                                          "    consumes: [mart.open]\n")
    copy, other, dataset = (f"field:{PG}/mart.open.status", f"field:{PG}/mart.open.id",
                            f"dataset:{PG}/mart.open")
    reached = {r.node.key: r for r in impact(store, "orders.status").closure.reached}
    assert not reached[copy].column_unknown and not reached["consumer:board"].column_unknown
    assert reached[other].column_unknown and reached[dataset].column_unknown
    precise = {r.node.key: r for r in impact(store, "orders.status", precise=True).closure}
    assert set(precise) == {copy, "consumer:board"}
    assert [n.key for _, n in precise[copy].path] == [STATUS, copy]
    assert precise["consumer:board"].through is not None
    down = {r.node.key for r in downstream(store, "orders.status", precise=True)}
    assert down == {copy, "consumer:board"}  # a consumer of the dataset of a field reached
    up = {r.node.key: r for r in upstream(store, "consumer:board", precise=True)}
    assert STATUS in up and copy in up and not up[STATUS].column_unknown
    verdicts = {j.node.key: j for j in change_impact(store, "orders.status",
                                                       ["type:int64"]).judged}
    assert verdicts[copy].verdict == "unknown" and not verdicts[copy].column_unknown
    assert verdicts[other].column_unknown
    assert {j.node.key for j in change_impact(store, "orders.status", ["type:int64"],
                                              precise=True).judged} == {copy, "consumer:board"}
