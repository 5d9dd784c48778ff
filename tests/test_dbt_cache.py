"""`lineage import dbt` re-imports at the cost of what changed: a model's SQL is parsed again
only when an input of its column lineage changed, and the store ends as a full re-parse
leaves it (examples/jaffle_shop's artifacts, edited as a later `dbt build` would leave them).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import lineage
from lineage import EdgeKind
from lineage import dbt as dbt_import
from lineage.dbt import import_dbt
from lineage_cli.main import cli
from tests.conftest import ROOT, SQL_BACKENDS, fresh_postgres_schema, snapshot
from tests.test_dbt_import import FORMS, STAR, TARGET, copy_target, edit, fld, job

#: tests/data/dbt_heldout_forms built again after a change (its README says which)
FORMS_LATER = ROOT / "tests" / "data" / "dbt_heldout_forms" / "target_later"

#: the jobs whose column lineage is read from SQL: models and the snapshot, not seeds
MODELS = {f"model.jaffle_shop.{m}" for m in (
    "orders", "customers", "order_refunds", "stg_refunds", "stg_payments", "stg_customers",
    "stg_orders")} | {"snapshot.jaffle_shop.orders_snapshot"}


@pytest.fixture(params=SQL_BACKENDS)
def two_stores(request: pytest.FixtureRequest, tmp_path: Path
               ) -> Iterator[tuple[lineage.Store, lineage.Store]]:
    """Two empty stores on one backend: one imports with the cache, one without."""
    with ExitStack() as stack:
        if request.param == "sqlite":
            urls = [f"sqlite:///{tmp_path / name}" for name in ("cached.db", "full.db")]
        else:
            urls = [stack.enter_context(fresh_postgres_schema()) for _ in range(2)]
        yield (stack.enter_context(lineage.connect(urls[0])),
               stack.enter_context(lineage.connect(urls[1])))


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The compiled SQL of each model whose column lineage the import reads from SQL."""
    seen: list[str] = []
    real = dbt_import.column_lineage

    def recording(sql: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(sql)
        return real(sql, *args, **kwargs)

    monkeypatch.setattr(dbt_import, "column_lineage", recording)
    return seen


def models_of(target: Path, sqls: list[str]) -> set[str]:
    nodes = json.loads((target / "manifest.json").read_text())["nodes"]
    return {uid for uid, node in nodes.items() if node.get("compiled_code") in sqls}


def a_later_build(target: Path) -> None:
    """What a later `dbt build` leaves: one model's SQL changed, an upstream column's type
    changed, an upstream column renamed and a new one, each read by models left unchanged."""

    def sql(m: dict[str, Any]) -> None:
        node = m["nodes"]["model.jaffle_shop.stg_payments"]
        assert "amount / 100 as amount" in node["compiled_code"]
        node["compiled_code"] = node["compiled_code"].replace("amount / 100 as amount",
                                                              "amount as amount")

    def catalog(c: dict[str, Any]) -> None:
        nodes = c["nodes"]
        nodes["seed.jaffle_shop.raw_orders"]["columns"]["order_date"]["type"] = "VARCHAR"
        # order_refunds reads `refunds.refunded_at` from stg_refunds: renamed there only
        refunds = nodes["model.jaffle_shop.stg_refunds"]["columns"]
        refunds["refund_date"] = {**refunds.pop("refunded_at"), "name": "refund_date"}
        nodes["model.jaffle_shop.stg_customers"]["columns"]["email"] = {
            "type": "VARCHAR", "index": 4, "name": "email", "comment": None}

    edit(target / "manifest.json", sql)
    edit(target / "catalog.json", catalog)


def without_counts(result: dbt_import.DbtImportResult) -> dict[str, Any]:
    data = result.to_dict()
    del data["models_parsed"], data["models_reused"]
    return data


def test_reimporting_an_unchanged_dbt_project_parses_no_model_and_changes_nothing(
        store: lineage.Store, parsed: list[str]) -> None:
    first = import_dbt(store, TARGET)
    assert (first.models_parsed, first.models_reused) == (len(MODELS), 0)
    assert models_of(TARGET, parsed) == MODELS
    before = snapshot(store)
    parsed.clear()
    again = import_dbt(store, TARGET)
    assert parsed == []
    assert (again.models_parsed, again.models_reused) == (0, len(MODELS))
    assert not again.changed and snapshot(store) == before
    # the same answer as the import that read the SQL: edges, unknown columns, versions
    assert without_counts(again) == {**without_counts(first), "apply": again.to_dict()[
        "apply"], "changed": False, "new_versions": []}
    assert again.column_edges == first.column_edges == 42


def test_a_reimport_with_the_cache_parses_only_the_models_whose_inputs_changed_and_leaves_the_store_as_a_full_reparse_does(  # noqa: E501
        two_stores: tuple[lineage.Store, lineage.Store], tmp_path: Path,
        parsed: list[str]) -> None:
    cached, full = two_stores
    later = copy_target(tmp_path)
    a_later_build(later)
    import_dbt(cached, TARGET)
    import_dbt(full, TARGET, cache=False)
    assert snapshot(cached) == snapshot(full)
    parsed.clear()
    result = import_dbt(cached, later)
    # stg_payments: its SQL; stg_orders: raw_orders.order_date's type; stg_refunds and
    # stg_customers: their own columns; order_refunds: stg_refunds' renamed column;
    # customers: stg_customers' new column. orders and the snapshot read none of those.
    changed = {f"model.jaffle_shop.{m}" for m in (
        "stg_payments", "stg_orders", "stg_refunds", "stg_customers", "order_refunds",
        "customers")}
    assert models_of(later, parsed) == changed
    assert (result.models_parsed, result.models_reused) == (len(changed),
                                                            len(MODELS - changed))
    reparsed = import_dbt(full, later, cache=False)
    assert (reparsed.models_parsed, reparsed.models_reused) == (len(MODELS), 0)
    assert snapshot(cached) == snapshot(full)
    assert without_counts(result) == without_counts(reparsed)
    # what the cache must not keep: the renamed column's edge (retired), the old kind
    edges = {(e.src, e.dst): e.properties for e in cached.edges_among(
        [fld("stg_refunds.refunded_at"), fld("order_refunds.last_refunded_at"),
         fld("raw_payments.amount"), fld("stg_payments.amount")])
        if e.kind is EdgeKind.DERIVED_FROM}
    assert edges[(fld("stg_refunds.refunded_at"), fld("order_refunds.last_refunded_at"))][
        "retired"] is True
    assert edges[(fld("raw_payments.amount"), fld("stg_payments.amount"))][
        "transformation"] == "identity"
    [unknown] = result.column_lineage_unknown
    assert unknown["model"] == "model.jaffle_shop.order_refunds"
    assert "refunded_at" in unknown["reason"]
    # and back to the first build: the same again, with and without the cache
    import_dbt(cached, TARGET)
    import_dbt(full, TARGET, cache=False)
    assert snapshot(cached) == snapshot(full)


def test_a_later_dbt_build_parses_only_the_models_it_changed_and_ends_as_a_full_reparse(
        two_stores: tuple[lineage.Store, lineage.Store], parsed: list[str]) -> None:
    # a real second `dbt build` of heldout_forms: the seed events' amount is a double now
    # (was decimal(10,2)) and user_totals v1 takes max(amount) (was sum)
    cached, full = two_stores
    for target in (FORMS, FORMS_LATER):
        parsed.clear()
        result = import_dbt(cached, target)
        sqls = list(parsed)
        reparsed = import_dbt(full, target, cache=False)
        assert snapshot(cached) == snapshot(full)
        assert without_counts(result) == without_counts(reparsed)
    # every reader of events, and top_users (user_totals v2's total is a double now); not
    # stg_users and the snapshot over it
    changed = {"model.heldout_forms.event_windows", "model.heldout_forms.unaliased",
               "model.heldout_forms.user_totals.v1", "model.heldout_forms.user_totals.v2",
               "model.heldout_forms.top_users"}
    assert models_of(FORMS_LATER, sqls) == changed
    assert (result.models_parsed, result.models_reused) == (5, 2)
    [edge] = [e for e in cached.edges_among([
        "field:duckdb/forms.raw.events.amount", "field:duckdb/forms.main.user_totals_v1.total"])
        if e.kind is EdgeKind.DERIVED_FROM]
    assert edge.properties["function"] == "max"


@pytest.mark.parametrize("target", [FORMS, STAR], ids=["heldout_forms", "star_patterns"])
def test_reimporting_other_unchanged_projects_parses_no_model_and_changes_nothing(
        store: lineage.Store, target: Path) -> None:
    first = import_dbt(store, target)
    before = snapshot(store)
    again = import_dbt(store, target)
    assert (again.models_parsed, again.models_reused) == (0, first.models_parsed)
    assert not again.changed and snapshot(store) == before
    assert again.columns_unknown == first.columns_unknown
    assert again.column_edges == first.column_edges


def test_a_model_whose_stored_column_edges_another_writer_changed_is_parsed_again(
        two_stores: tuple[lineage.Store, lineage.Store]) -> None:
    cached, full = two_stores
    # an OpenLineage producer writing the same edge under its own job takes it over
    edge = (fld("stg_orders.status"), fld("orders.status"))
    for store, cache in ((cached, True), (full, False)):
        import_dbt(store, TARGET, cache=cache)
        batch = lineage.GraphBatch()
        batch.add_edge(*edge, EdgeKind.DERIVED_FROM, job="job:airflow/orders_dag",
                       transformation="identity")
        store.apply(batch)
    result = import_dbt(cached, TARGET)
    assert (result.models_parsed, result.models_reused) == (1, len(MODELS) - 1)
    import_dbt(full, TARGET, cache=False)
    assert snapshot(cached) == snapshot(full)
    [stored] = [e for e in cached.edges_among(edge) if e.kind is EdgeKind.DERIVED_FROM]
    assert stored.properties["job"] == job("model.jaffle_shop.orders")


def test_new_column_lineage_rules_parse_every_model_again(
        store: lineage.Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import_dbt(store, TARGET)
    monkeypatch.setattr(dbt_import, "COLUMN_LINEAGE_VERSION",
                        dbt_import.COLUMN_LINEAGE_VERSION + 1)
    result = import_dbt(store, TARGET)
    assert (result.models_parsed, result.models_reused) == (len(MODELS), 0)
    again = import_dbt(store, TARGET)
    assert (again.models_parsed, again.models_reused) == (0, len(MODELS))


def test_cli_import_dbt_says_how_many_models_were_parsed_and_reused_and_no_cache_parses_all(
        store_url: str) -> None:
    runner = CliRunner()
    first = runner.invoke(cli, ["--store", store_url, "import", "dbt", str(TARGET)])
    assert first.exit_code == 0, first.output
    assert f"column lineage: {len(MODELS)} models parsed, 0 reused" in first.stdout
    again = runner.invoke(cli, ["--store", store_url, "import", "dbt", str(TARGET)])
    assert f"column lineage: 0 models parsed, {len(MODELS)} reused unchanged" in again.stdout
    forced = runner.invoke(cli, ["--store", store_url, "import", "dbt", str(TARGET),
                                 "--no-cache", "--format", "json"])
    assert forced.exit_code == 0, forced.output
    data = json.loads(forced.stdout)
    assert (data["models_parsed"], data["models_reused"]) == (len(MODELS), 0)
    assert data["changed"] is False
