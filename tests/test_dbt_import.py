"""`lineage import dbt`: a real jaffle_shop project's artifacts (examples/jaffle_shop, built
with dbt-core 1.11 + dbt-duckdb), on every backend.

The expected column lineage below is read by hand from the models' SQL (`raw_code` in
manifest.json), not from the importer's output."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import lineage
from lineage import EdgeKind, NodeKind, Transformation
from lineage.dbt import column_lineage, import_dbt
from lineage.impact import change_impact, impact
from lineage.manifest import register_text
from lineage_cli.main import cli
from tests.conftest import ROOT, snapshot

TARGET = ROOT / "examples" / "jaffle_shop" / "target"
NS = "duckdb"


def ds(name: str) -> str:
    return f"dataset:{NS}/jaffle.{name if '.' in name else 'main.' + name}"


def fld(name: str) -> str:
    table, column = name.rsplit(".", 1)
    return f"field:{NS}/jaffle.{table if '.' in table else 'main.' + table}.{column}"


def job(unique_id: str) -> str:
    return f"job:dbt/{unique_id}"


def edges(store: lineage.Store, kind: EdgeKind) -> set[tuple[str, str]]:
    keys = [r.key for r in store.find("", limit=100_000)]
    return {(e.src, e.dst) for e in store.edges_among(keys) if e.kind is kind}


def manifest() -> dict[str, Any]:
    return dict(json.loads((TARGET / "manifest.json").read_text()))


def copy_target(tmp_path: Path) -> Path:
    target = tmp_path / "target"
    shutil.copytree(TARGET, target)
    return target


def edit(path: Path, change: Any) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


# Hand-read from the SQL. stg_refunds is `select * from source('raw', 'refunds')`; customers,
# orders and order_refunds are CTE chains whose first CTEs are `select *`.
HAND_READ: dict[str, set[tuple[str, str]]] = {
    "stg_refunds": {(f"raw.refunds.{c}", f"stg_refunds.{c}")
                    for c in ("refund_id", "order_id", "amount_cents", "refunded_at")},
    "stg_customers": {("raw_customers.id", "stg_customers.customer_id"),
                      ("raw_customers.first_name", "stg_customers.first_name"),
                      ("raw_customers.last_name", "stg_customers.last_name")},
    "stg_orders": {("raw_orders.id", "stg_orders.order_id"),
                   ("raw_orders.user_id", "stg_orders.customer_id"),
                   ("raw_orders.order_date", "stg_orders.order_date"),
                   ("raw_orders.status", "stg_orders.status")},
    "stg_payments": {("raw_payments.id", "stg_payments.payment_id"),
                     ("raw_payments.order_id", "stg_payments.order_id"),
                     ("raw_payments.payment_method", "stg_payments.payment_method"),
                     ("raw_payments.amount", "stg_payments.amount")},
    "customers": {("stg_customers.customer_id", "customers.customer_id"),
                  ("stg_customers.first_name", "customers.first_name"),
                  ("stg_customers.last_name", "customers.last_name"),
                  ("stg_orders.order_date", "customers.first_order"),
                  ("stg_orders.order_date", "customers.most_recent_order"),
                  ("stg_orders.order_id", "customers.number_of_orders"),
                  ("stg_payments.amount", "customers.customer_lifetime_value")},
    "orders": {("stg_orders.order_id", "orders.order_id"),
               ("stg_orders.customer_id", "orders.customer_id"),
               ("stg_orders.order_date", "orders.order_date"),
               ("stg_orders.status", "orders.status"),
               ("stg_payments.amount", "orders.amount"),
               *{(f"stg_payments.{c}", f"orders.{m}_amount")
                 for m in ("credit_card", "coupon", "bank_transfer", "gift_card")
                 for c in ("amount", "payment_method")}},  # sum(case when payment_method..)
    # refund_count is count(*): no source column
    "order_refunds": {("orders.order_id", "order_refunds.order_id"),
                      ("stg_refunds.amount_cents", "order_refunds.refunded_amount"),
                      ("stg_refunds.refunded_at", "order_refunds.last_refunded_at")},
    "orders_snapshot": {(f"stg_orders.{c}", f"orders_snapshot.{c}")
                        for c in ("order_id", "customer_id", "order_date", "status")},
}


def test_import_dbt_registers_every_table_edge_of_the_manifest(store: lineage.Store) -> None:
    import_dbt(store, TARGET)
    m = manifest()
    relations = {**m["sources"], **{k: v for k, v in m["nodes"].items()
                                    if v["resource_type"] in ("seed", "model", "snapshot")}}

    def key(node: dict[str, Any]) -> str:
        ident = node.get("identifier") if node["resource_type"] == "source" else node["alias"]
        return f"dataset:{NS}/{node['database']}.{node['schema']}.{ident}"

    read, wrote = edges(store, EdgeKind.READ), edges(store, EdgeKind.WROTE)
    expected = set()
    for uid, node in m["nodes"].items():
        if node["resource_type"] not in ("model", "snapshot", "seed"):
            continue
        assert (job(uid), key(node)) in wrote
        expected |= {(key(relations[p]), job(uid)) for p in node["depends_on"].get("nodes", [])}
    assert len(expected) == 12  # seeds -> staging, source -> stg_refunds, and so on
    assert expected <= read, expected - read
    # seeds and sources are datasets with the catalog's columns and types
    # (DuckDB's INTEGER, the adapter's: 32 bits)
    assert store.node(fld("raw.refunds.amount_cents")).properties["type"] == "int32"
    assert store.node(fld("raw_orders.order_date")).properties["type"] == "date"
    assert store.node(fld("customers.customer_lifetime_value")).properties["source_type"] \
        == "DOUBLE"


def test_import_dbt_column_lineage_of_select_star_models_matches_hand_read_lineage(
        store: lineage.Store) -> None:
    result = import_dbt(store, TARGET)
    found = edges(store, EdgeKind.DERIVED_FROM)
    expected = {(fld(a), fld(b)) for pairs in HAND_READ.values() for a, b in pairs}
    recall = len(expected & found) / len(expected)
    assert recall >= 0.9, sorted(expected - found)
    for model in ("stg_refunds", "customers", "order_refunds", "orders"):  # explicit, exact
        into = {(a, b) for a, b in found if b.startswith(fld(f"{model}.x")[:-1])}
        assert into == {(fld(a), fld(b)) for a, b in HAND_READ[model]}, model
    assert recall == 1.0 and found == expected  # and nothing invented
    assert result.column_lineage_unknown == [] and result.columns_unknown == {}
    props = {(e.src, e.dst): e.properties for e in store.edges_among(
        [fld("stg_orders.order_date"), fld("customers.first_order"),
         fld("raw_orders.user_id"), fld("stg_orders.customer_id")])}
    assert props[(fld("stg_orders.order_date"), fld("customers.first_order"))] == {
        "job": job("model.jaffle_shop.customers"), "transformation": "aggregation",
        "function": "min"}
    assert props[(fld("raw_orders.user_id"), fld("stg_orders.customer_id"))][
        "transformation"] == "identity"


def test_impact_lists_the_dbt_tests_covering_an_imported_column_with_their_results(
        store: lineage.Store) -> None:
    from lineage.openlineage import checks_covering

    import_dbt(store, TARGET)
    checks = checks_covering(store, fld("orders.customer_id"))
    assert {(c["assertion"], c["success"], c["source"]) for c in checks} == {
        ("not_null", True, "dbt"), ("relationships", True, "dbt")}
    # a dataset's checks include its columns' (dbt keeps a column test on the column)
    assert {"relationships", "unique"} <= {c["assertion"] for c in
                                           checks_covering(store, ds("orders"))}
    shown = CliRunner().invoke(cli, ["--store", store.url, "impact", fld("orders.customer_id")])
    assert shown.exit_code == 0, shown.output
    assert "tests covering" in shown.output and "relationships" in shown.output


def test_import_dbt_records_tests_as_quality_checks_never_as_datasets(
        store: lineage.Store) -> None:
    result = import_dbt(store, TARGET)
    tests = [n for n in manifest()["nodes"].values() if n["resource_type"] == "test"]
    datasets = store.find("", [NodeKind.DATASET], 1000)
    assert len(datasets) == 12  # 3 seeds, 1 source, 7 models, 1 snapshot: no test dataset
    assert not [d for d in datasets if "test" in d.key or "audit" in d.key]
    assert not [j for j in store.find("", [NodeKind.JOB], 1000) if ".test." in j.key
                or j.key.startswith("job:dbt/test.")]
    assert result.quality_checks == len(tests) == 23
    checks = store.node(fld("orders.customer_id")).properties["quality_checks"]
    assert {c["test"] for c in checks} == {"not_null", "relationships"}
    assert result.failing_checks == []
    rel = next(c for c in checks if c["test"] == "relationships")
    assert rel["args"] == {"to": "ref('customers')", "field": "customer_id"}
    assert rel["status"] == "pass" and rel["source"] == "dbt" and rel["column"] == "customer_id"
    # a not_null test makes the field non-nullable in the version's schema
    version = next(v for v in result.new_versions if "/jaffle.main.orders@" in v)
    schema = {f.name: f for f in store.schema(version)}
    assert schema["order_id"].nullable is False and schema["order_date"].nullable is True


def test_import_dbt_registers_contracts_exposures_and_runs(store: lineage.Store) -> None:
    import_dbt(store, TARGET)
    contract_consumer = "consumer:dbt-contract/model.jaffle_shop.order_refunds"
    contract = store.contracts([contract_consumer])[contract_consumer][ds("order_refunds")]
    assert {f["name"]: (f.get("type"), f.get("required")) for f in contract["fields"]} == {
        "order_id": ("int32", True), "refunded_amount": ("float64", None),
        "refund_count": ("int64", None), "last_refunded_at": ("date", None)}
    exposure = store.node("consumer:customer_dashboard")
    assert exposure.properties["owner"] == "Analytics team <analytics@example.com>"
    consumes = edges(store, EdgeKind.CONSUMES)
    assert {(ds("customers"), exposure.key), (ds("order_refunds"), exposure.key)} <= consumes
    runs = store.find("", [NodeKind.RUN], 1000)
    assert len(runs) == 12  # the invocation and its 11 seeds, models and snapshot
    run_of = edges(store, EdgeKind.RUN_OF)
    stg = next(r.key for r in runs if (job("model.jaffle_shop.stg_orders"), r.key) in run_of)
    assert store.node(stg).properties["state"] == "COMPLETE"
    assert (stg, ds("stg_orders")) in edges(store, EdgeKind.WROTE)


def test_reimporting_the_same_dbt_artifacts_changes_nothing(store: lineage.Store) -> None:
    first = import_dbt(store, TARGET)
    assert first.changed and len(first.new_versions) == 12
    before = snapshot(store)
    again = import_dbt(store, TARGET)
    assert not again.changed and again.new_versions == []
    assert again.apply.nodes_created == again.apply.edges_created == 0
    assert snapshot(store) == before


def test_a_changed_column_type_gives_a_new_version_and_notifies_breaking_consumers(
        store: lineage.Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = import_dbt(store, TARGET)
    old = next(v for v in first.new_versions if "order_refunds@" in v)
    # file channels write only below the notifications root
    monkeypatch.setenv("LINEAGE_NOTIFICATIONS_ROOT", str(tmp_path))
    sink = tmp_path / "notes.ndjson"
    # as the README says: an exposure's consumer gets its channels from a manifest
    register_text(store, "consumers:\n  - name: customer_dashboard\n"
                         f"    channels: [{{kind: file, path: '{sink}'}}]\n")
    target = copy_target(tmp_path)

    def to_varchar(catalog: dict[str, Any]) -> None:
        columns = catalog["nodes"]["model.jaffle_shop.order_refunds"]["columns"]
        columns["refunded_amount"]["type"] = "VARCHAR"

    edit(target / "catalog.json", to_varchar)
    result = import_dbt(store, target)
    assert len(result.new_versions) == 1 and result.new_versions[0] != old
    new = result.new_versions[0]
    assert {f.name: f.type for f in store.schema(new)}["refunded_amount"] == "string"
    assert {f.name: f.type for f in store.schema(old)}["refunded_amount"] == "float64"
    assert result.apply.notifications_enqueued == 1
    [item] = store.outbox()
    assert item.consumer == "consumer:customer_dashboard" and item.event == "new_version"
    assert item.channel.target == str(sink)
    # the import gave the consumer back what the manifest did not say (its owner)
    assert store.node("consumer:customer_dashboard").properties["owner"] == \
        "Analytics team <analytics@example.com>"
    # the model's own contract breaks too (no channel: judged, not notified); the column is
    # a string now, so `type:string` would be "no change": judge dropping it instead
    report = change_impact(store, fld("order_refunds.refunded_amount"), ["drop"])
    verdicts = {j.node.key: j.verdict for j in report.judged}
    assert verdicts["consumer:dbt-contract/model.jaffle_shop.order_refunds"] == "breaking"


def test_a_column_dropped_from_a_model_is_retired_not_left_current(
        store: lineage.Store, tmp_path: Path) -> None:
    import_dbt(store, TARGET)
    target = copy_target(tmp_path)
    edit(target / "catalog.json", lambda c: c["nodes"]["model.jaffle_shop.customers"][
        "columns"].pop("last_name"))

    def drop_from_sql(m: dict[str, Any]) -> None:
        node = m["nodes"]["model.jaffle_shop.customers"]
        assert "customers.last_name," in node["compiled_code"]
        node["compiled_code"] = node["compiled_code"].replace("customers.last_name,", "")

    edit(target / "manifest.json", drop_from_sql)
    result = import_dbt(store, target)
    assert result.retired_fields == [fld("customers.last_name")]
    assert result.retired_edges == 1
    field = store.node(fld("customers.last_name"))
    assert field.properties["retired"] is True and field.properties["type"] == "string"
    [edge] = [e for e in store.edges_among([fld("stg_customers.last_name"),
                                            fld("customers.last_name")])
              if e.kind is EdgeKind.DERIVED_FROM]
    assert edge.properties["retired"] is True
    [new] = [v for v in result.new_versions if "main.customers@" in v]
    assert "last_name" not in {f.name for f in store.schema(new)}
    assert store.node(fld("customers.first_name")).properties.get("retired") is None
    before = snapshot(store)
    assert not import_dbt(store, target).changed and snapshot(store) == before
    # the column comes back: current again
    back = import_dbt(store, TARGET)
    assert back.retired_fields == [] and "retired" not in store.node(
        fld("customers.last_name")).properties


def test_a_failing_dbt_test_is_reported_and_recorded_on_its_column(
        store: lineage.Store, tmp_path: Path) -> None:
    target = copy_target(tmp_path)
    test_id = "test.jaffle_shop.not_null_orders_amount.106140f9fd"

    def fail(r: dict[str, Any]) -> None:
        [entry] = [x for x in r["results"] if x["unique_id"] == test_id]
        entry.update(status="fail", failures=3)

    edit(target / "run_results.json", fail)
    result = import_dbt(store, target)
    assert result.failing_checks == [{"test": test_id, "on": fld("orders.amount"),
                                      "status": "fail"}]
    [check] = store.node(fld("orders.amount")).properties["quality_checks"]
    assert (check["status"], check["failures"]) == ("fail", 3)


def test_a_source_declared_on_a_seeds_table_is_one_dataset(
        store: lineage.Store, tmp_path: Path) -> None:
    # jaffle-shop (the newer one) loads its seeds into the tables its sources declare
    target = copy_target(tmp_path)

    def add_source(m: dict[str, Any]) -> None:
        m["sources"]["source.jaffle_shop.ecom.raw_orders"] = {
            "resource_type": "source", "database": "jaffle", "schema": "main",
            "identifier": "raw_orders", "name": "raw_orders", "source_name": "ecom",
            "description": "One record per order"}

    edit(target / "manifest.json", add_source)
    result = import_dbt(store, target)
    assert result.datasets == 12 and len(store.find("", [NodeKind.DATASET], 100)) == 12
    props = store.node(ds("raw_orders")).properties
    assert props["dbt_unique_id"] == "seed.jaffle_shop.raw_orders"
    assert props["also_dbt_unique_ids"] == ["source.jaffle_shop.ecom.raw_orders"]
    assert props["description"] == "One record per order"


def test_singular_and_unit_tests_are_quality_checks_on_the_datasets_they_test(
        store: lineage.Store, tmp_path: Path) -> None:
    target = copy_target(tmp_path)
    singular = "test.jaffle_shop.assert_refunds_not_above_orders"
    unit = "unit_test.jaffle_shop.order_refunds.sums_cents"

    def add_tests(m: dict[str, Any]) -> None:
        m["nodes"][singular] = {
            "resource_type": "test", "name": "assert_refunds_not_above_orders",
            "config": {"severity": "warn"},
            "depends_on": {"nodes": ["model.jaffle_shop.order_refunds",
                                     "model.jaffle_shop.orders"]}}
        m["unit_tests"] = {unit: {"name": "sums_cents", "model": "order_refunds",
                                  "depends_on": {"nodes": ["model.jaffle_shop.order_refunds"]}}}

    def add_results(r: dict[str, Any]) -> None:
        r["results"].append({"unique_id": unit, "status": "fail", "failures": 1,
                             "timing": []})

    edit(target / "manifest.json", add_tests)
    edit(target / "run_results.json", add_results)
    result = import_dbt(store, target)
    assert result.quality_checks == 23 + 2 + 1  # the singular test reads two datasets
    on_refunds = {c["id"]: c for c in
                  store.node(ds("order_refunds")).properties["quality_checks"]}
    assert on_refunds[singular]["test"] == "singular"
    assert on_refunds[singular]["severity"] == "warn"
    assert on_refunds[unit]["test"] == "unit_test" and on_refunds[unit]["status"] == "fail"
    assert singular in {c["id"] for c in store.node(ds("orders")).properties["quality_checks"]}
    assert {"test": unit, "on": ds("order_refunds"), "status": "fail"} in result.failing_checks
    assert len(store.find("", [NodeKind.DATASET], 100)) == 12


def test_a_model_sqlglot_cannot_parse_keeps_table_lineage_and_says_column_lineage_unknown(
        store: lineage.Store, tmp_path: Path) -> None:
    target = copy_target(tmp_path)

    def garble(m: dict[str, Any]) -> None:
        m["nodes"]["model.jaffle_shop.customers"]["compiled_code"] = "select from from (( ;"

    edit(target / "manifest.json", garble)
    result = import_dbt(store, target)
    [unknown] = result.column_lineage_unknown
    assert unknown["model"] == "model.jaffle_shop.customers"
    assert "sqlglot could not read" in unknown["reason"]
    customers_job = store.node(job("model.jaffle_shop.customers"))
    assert customers_job.properties["column_lineage"] == "unknown"
    assert (ds("stg_orders"), customers_job.key) in edges(store, EdgeKind.READ)
    derived = edges(store, EdgeKind.DERIVED_FROM)
    assert not [e for e in derived if "main.customers." in e[1]]  # no field-to-field guess
    # impact through it is table-level and says the column is unknown, never "compatible"
    report = change_impact(store, fld("stg_orders.order_date"), ["type:string"])
    reached = {j.node.key: j.verdict for j in report.judged}
    assert reached["consumer:customer_dashboard"] == "unknown"


def test_impact_through_a_model_without_column_lineage_is_marked_column_unknown(
        store: lineage.Store, tmp_path: Path) -> None:
    """Everything only the unreadable model leads to is reached through dataset-level
    lineage (its read/wrote edges), marked column unknown as any table-level job is; no
    dataset-wide field -> dataset edge stands in for it (such an edge read as column
    lineage: the dependents were not marked)."""
    target = copy_target(tmp_path)

    def garble(m: dict[str, Any]) -> None:
        m["nodes"]["model.jaffle_shop.customers"]["compiled_code"] = "select from from (( ;"

    edit(target / "manifest.json", garble)
    import_dbt(store, target)
    assert not [e for e in edges(store, EdgeKind.DERIVED_FROM) if e[1] == ds("customers")]
    report = impact(store, fld("stg_orders.order_date"))
    reached = {r.node.key: r for r in report.closure.reached}
    dashboard = reached["consumer:customer_dashboard"]
    assert dashboard.column_unknown
    assert reached[ds("customers")].column_unknown
    assert all(r.column_unknown for r in reached.values()
               if r.node.key.startswith("field:") and ".main.customers." in r.node.key)


def test_a_model_the_catalog_lacks_or_whose_star_cannot_expand_is_column_lineage_unknown(
        store: lineage.Store, tmp_path: Path) -> None:
    target = copy_target(tmp_path)

    def drop(c: dict[str, Any]) -> None:
        del c["nodes"]["model.jaffle_shop.customers"]  # not built
        del c["sources"]["source.jaffle_shop.raw.refunds"]  # stg_refunds: select * of it

    edit(target / "catalog.json", drop)
    result = import_dbt(store, target)
    why = {u["model"]: u["reason"] for u in result.column_lineage_unknown}
    assert set(why) == {"model.jaffle_shop.customers", "model.jaffle_shop.stg_refunds"}
    assert "catalog has no columns" in why["model.jaffle_shop.customers"]
    assert "catalog lacks" in why["model.jaffle_shop.stg_refunds"]
    assert (ds("raw.refunds"), job("model.jaffle_shop.stg_refunds")) in edges(
        store, EdgeKind.READ)  # table lineage kept
    assert not [e for e in edges(store, EdgeKind.DERIVED_FROM)
                if e[1] == ds("customers")]  # the read/wrote edges say it: no stand-in


def _drop_nodes(m: dict[str, Any]) -> None:
    del m["nodes"]


def _drop_resource_type(m: dict[str, Any]) -> None:
    del m["nodes"]["model.jaffle_shop.orders"]["resource_type"]


def _bad_catalog_columns(c: dict[str, Any]) -> None:
    c["nodes"]["model.jaffle_shop.orders"]["columns"] = ["order_id"]


def _result_without_id(r: dict[str, Any]) -> None:
    del r["results"][3]["unique_id"]


@pytest.mark.parametrize(("file", "change", "key"), [
    ("manifest.json", _drop_nodes, "nodes"),
    ("manifest.json", _drop_resource_type, "nodes.model.jaffle_shop.orders.resource_type"),
    ("catalog.json", _bad_catalog_columns, "nodes.model.jaffle_shop.orders.columns"),
    ("run_results.json", _result_without_id, "results[3].unique_id"),
    ("catalog.json", None, None),  # not JSON at all
    ("manifest.json", "missing", None),
], ids=["no-nodes", "no-resource-type", "columns-not-object", "result-without-id",
        "catalog-not-json", "no-manifest"])
def test_bad_dbt_artifacts_are_rejected_naming_file_and_key_with_the_store_unchanged(
        store: lineage.Store, tmp_path: Path, file: str, change: Any, key: str | None) -> None:
    import_dbt(store, TARGET)
    before = snapshot(store)
    target = copy_target(tmp_path)

    def to_varchar(catalog: dict[str, Any]) -> None:  # would be a new version if accepted
        catalog["nodes"]["model.jaffle_shop.orders"]["columns"]["status"]["type"] = "INTEGER"

    edit(target / "catalog.json", to_varchar)
    if change == "missing":
        (target / file).unlink()
    elif change is None:
        (target / file).write_text('{"metadata": {}, "nodes": {')
    else:
        edit(target / file, change)
    with pytest.raises(lineage.ValidationError) as err:
        import_dbt(store, target)
    assert err.value.file == str(target / file)
    assert err.value.key == key
    assert snapshot(store) == before
    assert store.outbox() == []


def test_cli_import_dbt_reports_then_says_nothing_changed_and_exits_2_on_bad_input(
        store_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(cli, ["--store", store_url, "import", "dbt", str(TARGET)])
    assert first.exit_code == 0, first.output
    assert "column lineage edges" in first.stdout and "42" in first.stdout
    again = runner.invoke(cli, ["--store", store_url, "import", "dbt", str(TARGET),
                                "--format", "json"])
    assert again.exit_code == 0, again.output
    data = json.loads(again.stdout)
    assert data["changed"] is False and data["column_lineage_unknown"] == []
    bad = runner.invoke(cli, ["--store", store_url, "import", "dbt", str(tmp_path)])
    assert bad.exit_code == 2
    assert "manifest.json" in bad.stderr and "Traceback" not in bad.output


# ------------------------------------------------------------------ the SQL reader alone

SCHEMA = {"db": {"main": {"payments": {"order_id": "INTEGER", "amount": "DOUBLE"},
                          "refunds": {"order_id": "INTEGER", "amount_cents": "INTEGER"}}}}


def test_column_lineage_reads_through_dbt_ephemeral_ctes_and_unions() -> None:
    # as dbt compiles a model over an ephemeral one: the ephemeral model is an injected CTE
    sql = ('with __dbt__cte__eph as (select * from "db"."main"."payments" where amount > 0) '
           "select order_id, amount, 'payment' as kind from __dbt__cte__eph "
           "union all select order_id, amount_cents / 100.0 as amount, 'refund' as kind "
           'from "db"."main"."refunds"')
    found, unknown = column_lineage(sql, SCHEMA, "duckdb", ["order_id", "amount", "kind"])
    assert unknown == {}
    assert found["amount"] == {("db", "main", "payments", "amount"): Transformation.IDENTITY,
                               ("db", "main", "refunds", "amount_cents"):
                                   Transformation.TRANSFORMATION}
    assert set(found["order_id"]) == {("db", "main", "payments", "order_id"),
                                      ("db", "main", "refunds", "order_id")}
    assert found["kind"] == {}  # a literal: no source column, and not unknown


def test_column_lineage_keeps_quoted_names_and_says_which_columns_it_cannot_trace() -> None:
    schema = {"Db": {"Sch": {"Tab": {"Id": "integer"}}}}
    found, unknown = column_lineage('select "Id" as x, y from "Db"."Sch"."Tab"', schema,
                                    "postgres", ["x", "missing"])
    assert found["x"] == {("Db", "Sch", "Tab", "Id"): Transformation.IDENTITY}
    assert "missing" in unknown and "x" not in unknown
    star, unknown = column_lineage("select * from db.main.elsewhere", SCHEMA, "duckdb", ["a"])
    assert star == {} and "catalog lacks" in unknown["a"]


def _as_docs_generate_left_it(r: dict[str, Any]) -> None:
    # what `dbt docs generate` writes over run_results.json: every node compiled, none run,
    # each "success" with a few milliseconds of timing (seen on dbt-labs/jaffle-shop)
    r["args"]["which"] = "generate"
    r["args"]["invocation_command"] = "dbt docs generate"
    for entry in r["results"]:
        entry.update(status="success", failures=None, message=None)


def test_run_results_of_docs_generate_give_no_runs_and_no_test_results(
        store: lineage.Store, tmp_path: Path) -> None:
    # `dbt build && dbt docs generate` (the order the help asks for) leaves docs generate's
    # run_results.json: it ran nothing, so it must not become runs that wrote the datasets
    # nor tests that passed
    target = copy_target(tmp_path)
    edit(target / "run_results.json", _as_docs_generate_left_it)
    result = import_dbt(store, target)
    assert result.runs == 0 and store.find("", [NodeKind.RUN], 1000) == []
    assert result.run_results_ignored == (
        "run_results.json is from `dbt docs generate`, which runs no model and no test: "
        "no runs or test results were read from it (keep the run_results.json of "
        "`dbt build`, `run`, `seed`, `snapshot` or `test`: run "
        "`dbt docs generate --no-write-json` after them)")
    [check, _] = store.node(fld("orders.order_id")).properties["quality_checks"]
    assert (check["status"], check["executed_at"]) == (None, None)
    assert result.to_dict()["run_results_ignored"] == result.run_results_ignored


def test_cli_import_dbt_says_when_run_results_were_ignored(store_url: str,
                                                           tmp_path: Path) -> None:
    target = copy_target(tmp_path)
    edit(target / "run_results.json", _as_docs_generate_left_it)
    out = CliRunner().invoke(cli, ["--store", store_url, "import", "dbt", str(target)])
    assert out.exit_code == 0, out.output
    assert "run_results.json is from `dbt docs generate`" in out.output


# ------------------------------------------------------------------ star_patterns

STAR = ROOT / "tests" / "data" / "dbt_star_patterns" / "target"
SALES = ("id", "shop_id", "amount", "sold_at")
SHOPS = ("ID", "Shop Name", "cityCode")


def _star(name: str) -> str:
    return f"field:duckdb/star.{name}"


# Hand-read from tests/data/dbt_star_patterns/models/*.sql: (source column, output column)
STAR_HAND_READ: set[tuple[str, str]] = {
    *{(f"raw.shops.{c}", f"main.stg_shops.{c}") for c in SHOPS},
    *{(f"raw.sales.{c}", f"main.stg_sales.{c}") for c in SALES},
    *{(f"main.stg_sales.{c}", f"main.sales_via_eph.{c}") for c in SALES},  # ephemeral between
    *{(f"main.stg_sales.{c}", f"main.sales_exclude.{c}") for c in SALES if c != "sold_at"},
    *{(f"main.stg_sales.{c}", f"main.sales_replace.{c}") for c in SALES},
    ("main.stg_sales.id", "main.ids_union.id"), ("main.stg_shops.ID", "main.ids_union.id"),
    ("main.stg_sales.amount", "main.ids_union.amount"),
    *{(f"main.stg_sales.{c}", f"main.sales_using.{c}") for c in SALES},
    # the USING key is both sides' column
    ("main.stg_shops.ID", "main.sales_using.shop_id"),
    ("main.stg_shops.Shop Name", "main.sales_using.Shop Name"),
    ("main.stg_shops.cityCode", "main.sales_using.cityCode"),
    ("main.stg_sales.shop_id", "main.totals_sub.shop_id"),
    ("main.stg_sales.amount", "main.totals_sub.total"),
    *{(f"main.stg_sales.{c}", f"main.sales_cte.{c}") for c in SALES},
    ("main.stg_sales.amount", "main.sales_cte.double_amount"),
    *{(f"main.stg_sales.{c}", f"main.sales_incr.{c}") for c in SALES},
    *{(f"main.stg_shops.{c}", f"main.shops_snapshot.{c}") for c in SHOPS},
}


def test_select_star_forms_get_exactly_the_hand_read_column_lineage(
        store: lineage.Store) -> None:
    result = import_dbt(store, STAR)
    assert result.column_lineage_unknown == [] and result.columns_unknown == {}
    assert edges(store, EdgeKind.DERIVED_FROM) >= {(_star(s), _star(d))
                                                   for s, d in STAR_HAND_READ}
    fields = {k for k in (r.key for r in store.find("", [NodeKind.FIELD], 1000))}
    derived = {(s, d) for s, d in edges(store, EdgeKind.DERIVED_FROM) if d in fields}
    assert derived == {(_star(s), _star(d)) for s, d in STAR_HAND_READ}
    transformation = {(s, d): e.properties["transformation"] for e in store.edges_among(
        store.nodes([_star("main.stg_sales.amount"), _star("main.sales_replace.amount"),
                     _star("main.totals_sub.total"), _star("main.sales_cte.amount")]))
        for s, d in [(e.src, e.dst)]}
    assert transformation == {
        (_star("main.stg_sales.amount"), _star("main.sales_replace.amount")): "transformation",
        (_star("main.stg_sales.amount"), _star("main.totals_sub.total")): "aggregation",
        (_star("main.stg_sales.amount"), _star("main.sales_cte.amount")): "identity"}


def test_select_star_forms_keep_every_table_edge_and_make_no_test_dataset(
        store: lineage.Store) -> None:
    import_dbt(store, STAR)
    m = json.loads((STAR / "manifest.json").read_text())
    datasets = {r.key for r in store.find("", [NodeKind.DATASET], 1000)}
    assert datasets == {f"dataset:duckdb/star.{n}" for n in (
        "raw.shops", "raw.sales", "main.stg_shops", "main.stg_sales", "main.sales_via_eph",
        "main.sales_exclude", "main.sales_replace", "main.ids_union", "main.sales_using",
        "main.totals_sub", "main.sales_cte", "main.sales_incr", "main.shops_snapshot")}
    read, wrote = edges(store, EdgeKind.READ), edges(store, EdgeKind.WROTE)
    for uid, node in m["nodes"].items():
        if node["resource_type"] not in ("seed", "model", "snapshot") or \
                node["config"]["materialized"] == "ephemeral":
            continue
        out = f"dataset:duckdb/star.{node['schema']}.{node['alias']}"
        assert (f"job:dbt/{uid}", out) in wrote
        for parent in node["depends_on"].get("nodes", []):
            if parent == "model.star_patterns.sales_eph":  # ephemeral: its own parent
                parent = "model.star_patterns.stg_sales"
            p = m["nodes"][parent]
            assert (f"dataset:duckdb/star.{p['schema']}.{p['alias']}", f"job:dbt/{uid}") in read


# ------------------------------------------------------------------ heldout_forms

FORMS = ROOT / "tests" / "data" / "dbt_heldout_forms" / "target"


def _forms(name: str) -> str:
    return f"field:duckdb/forms.{name}"


# Hand-read from tests/data/dbt_heldout_forms/models/*.sql: (source, output, transformation)
FORMS_HAND_READ: set[tuple[str, str, str]] = {
    ("raw.users.id", "main.stg_users.id", "identity"),  # source app.people, identifier users
    ("raw.users.name", "main.stg_users.name", "identity"),
    ("raw.events.id", "main.event_windows.id", "identity"),
    ("raw.events.amount", "main.event_windows.prev_amount", "transformation"),  # lag
    ("raw.events.amount", "main.event_windows.running_amount", "aggregation"),  # sum over
    *{(f"raw.events.{c}", f"main.event_windows.{out}", "window")
      for c in ("user_id", "happened_at")
      for out in ("prev_amount", "event_number", "running_amount")},
    ("raw.events.id", "main.unaliased.id", "identity"),
    ("raw.events.amount", "main.unaliased.CASE  WHEN ((amount > 0)) THEN (amount) ELSE 0 END",
     "transformation"),
    *{(f"raw.events.{c}", f"main.user_totals_v{v}.{o}", how) for v in (1, 2)
      for c, o, how in (("user_id", "user_id", "identity"), ("amount", "total", "aggregation"))},
    ("main.stg_users.name", "main.top_users.name", "identity"),
    ("main.user_totals_v2.total", "main.top_users.total", "identity"),  # the latest version
    # a snapshot whose dbt columns are renamed (scd_id, valid_from, ..., is_deleted): no source
    ("main.stg_users.id", "snapshots.users_snapshot.id", "identity"),
    ("main.stg_users.name", "snapshots.users_snapshot.name", "identity"),
}


def test_column_lineage_tells_a_windows_values_from_its_partition_and_order_columns() -> None:
    # jaffle-shop-expand's adv_customer_order_pairs: `lag(x) over (...)` was an aggregation,
    # and its partition and order columns looked like sources of its values
    sql = ('with e as (select * from "db"."main"."payments") select '
           "lag(amount) over (partition by order_id order by paid_at) as prev, "
           "row_number() over (partition by order_id order by paid_at, amount) as n, "
           "sum(amount) over (partition by order_id) as running from e")
    schema = {"db": {"main": {"payments": {"order_id": "INTEGER", "amount": "INTEGER",
                                           "paid_at": "DATE"}}}}
    found, unknown = column_lineage(sql, schema, "duckdb", ["prev", "n", "running"])
    assert unknown == {}
    col = ("db", "main", "payments")
    assert found == {
        "prev": {(*col, "amount"): Transformation.TRANSFORMATION,
                 (*col, "order_id"): Transformation.WINDOW,
                 (*col, "paid_at"): Transformation.WINDOW},
        "n": {(*col, "order_id"): Transformation.WINDOW, (*col, "paid_at"): Transformation.WINDOW,
              (*col, "amount"): Transformation.WINDOW},
        "running": {(*col, "amount"): Transformation.AGGREGATION,
                    (*col, "order_id"): Transformation.WINDOW}}


def test_unaliased_select_expressions_get_column_lineage_under_their_catalog_names() -> None:
    # jaffle-shop-expand's dq_missing_invoices and fin_tax_efficiency: DuckDB names an
    # unaliased expression by its text, sqlglot `_col_N`; they were "not an output column"
    sql = ("with m as (select order_id, 'done', case when amount > 0 then amount else 0 end "
           'from "db"."main"."payments") select * from m')
    catalog = ["order_id", "'done'", "CASE  WHEN ((amount > 0)) THEN (amount) ELSE 0 END"]
    found, unknown = column_lineage(sql, SCHEMA, "duckdb", catalog)
    assert unknown == {}
    assert found == {"order_id": {("db", "main", "payments", "order_id"):
                                  Transformation.IDENTITY},
                     "'done'": {},
                     catalog[2]: {("db", "main", "payments", "amount"):
                                  Transformation.TRANSFORMATION}}
    # a named select the catalog lacks is a stale catalog, not matched by position
    _, stale = column_lineage('select order_id, amount as paid from "db"."main"."payments"',
                              SCHEMA, "duckdb", ["order_id", "amount"])
    assert "amount" in stale


def test_heldout_forms_get_exactly_the_hand_read_column_lineage_and_table_edges(
        store: lineage.Store) -> None:
    result = import_dbt(store, FORMS)
    assert result.column_lineage_unknown == [] and result.columns_unknown == {}
    fields = {r.key for r in store.find("", [NodeKind.FIELD], 1000)}
    derived = {(e.src, e.dst): e.properties["transformation"] for e in store.edges_among(
        fields) if e.kind is EdgeKind.DERIVED_FROM}
    assert derived == {(_forms(s), _forms(d)): how for s, d, how in FORMS_HAND_READ}
    datasets = {r.key for r in store.find("", [NodeKind.DATASET], 1000)}
    assert datasets == {f"dataset:duckdb/forms.{n}" for n in (
        "raw.events", "raw.users", "main.stg_users", "main.event_windows", "main.unaliased",
        "main.user_totals_v1", "main.user_totals_v2", "main.top_users",
        "snapshots.users_snapshot")}  # old_report is disabled
    users = store.node("dataset:duckdb/forms.raw.users").properties
    assert users["also_dbt_unique_ids"] == ["source.heldout_forms.app.people"]
    read = edges(store, EdgeKind.READ)
    assert ("dataset:duckdb/forms.main.user_totals_v2", job("model.heldout_forms.top_users")) \
        in read
    assert ("dataset:duckdb/forms.raw.users", job("model.heldout_forms.stg_users")) in read
    # the seed's column_types are the catalog's types
    assert store.node(_forms("raw.events.amount")).properties["source_type"] == "DECIMAL(10,2)"


def test_impact_judges_a_type_change_under_a_dbt_count_by_the_aggregate_the_sql_applies(
        store: lineage.Store) -> None:
    # customers: `count(order_id) as number_of_orders`, `min(order_date) as first_order`:
    # without the aggregate's name impact could only say "aggregation ... unknown"
    import_dbt(store, TARGET)
    report = change_impact(store, fld("stg_orders.order_id"), ["type:string"])
    verdicts = {j.node.key: (j.verdict, j.reason) for j in report.judged}
    verdict, reason = verdicts[fld("customers.number_of_orders")]
    assert verdict == "compatible" and reason.startswith("count of ")
    found: dict[tuple[str, tuple[str, str, str, str]], str] = {}
    column_lineage("select order_id, sum(amount) as total, sum(amount) / count(*) as mean, "
                   'max(amount) > 0 as paid from "db"."main"."payments" group by 1', SCHEMA,
                   "duckdb", ["order_id", "total", "mean", "paid"], (), found)
    assert found == {("total", ("db", "main", "payments", "amount")): "sum"}


def test_columns_read_from_a_table_function_are_unknown_not_silently_sourceless() -> None:
    # dbt-duckdb models read files directly (`from read_csv('x.csv')`): those columns had
    # no source and no "unknown", so impact saw a model with no column lineage and no word
    found, unknown = column_lineage("select id, amount from read_csv('data/pay.csv')", SCHEMA,
                                    "duckdb", ["id", "amount"])
    assert unknown == {"id": "sources not traced: READ_CSV('data/pay.csv') (a table function)",
                       "amount": "sources not traced: READ_CSV('data/pay.csv') "
                                 "(a table function)"}
    mixed, unknown = column_lineage(
        'select p.order_id, f.rate from "db"."main"."payments" as p '
        "join read_parquet('fx.parquet') as f on f.order_id = p.order_id", SCHEMA, "duckdb",
        ["order_id", "rate"])
    assert mixed["order_id"] == {("db", "main", "payments", "order_id"):
                                 Transformation.IDENTITY}
    assert list(unknown) == ["rate"] and "READ_PARQUET('fx.parquet')" in unknown["rate"]
    # a generator (a date spine's range) has no source, and that is known
    spine, unknown = column_lineage(
        "select cast(range as date) as day from range(date '2024-01-01', date '2024-02-01', "
        "interval 1 day)", SCHEMA, "duckdb", ["day"])
    assert spine == {"day": {}} and unknown == {}
