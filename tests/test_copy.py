"""`lineage copy` / `lineage.copy_store`: a whole store moves between backends, idempotently,
and answers the same questions afterwards."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

import lineage
from lineage import auth, provenance
from lineage.store.base import Store

from .conftest import EXAMPLE, snapshot

IDS = [f"t{i}" for i in range(6)]
#: names whose impact (plain and with a change) must read the same on every backend
QUESTIONS = [("transactions.category", None), ("transactions.category", "type:string"),
             ("transactions.amount", None), ("fraud.scores.score", "drop"),
             ("fraud@2", None)]


def _everything(store: Store) -> None:
    """The fraud example plus one of each record: assertions and a review of them, outbox
    items in each state, tokens (one revoked), audit entries."""
    with store.audited("local:me", "register", str(EXAMPLE)):
        lineage.register(store, EXAMPLE)
    at = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    predictions = pl.DataFrame({"transaction_id": IDS, "predicted_fraud": [True, False] * 3,
                                "score": [0.9, 0.4, 0.99, 0.2, 0.7, 0.95]})
    provenance.tag(store, predictions, dataset="fraud.scores", field="predicted_fraud",
                   key="transaction_id", origin="ai_inferred", agent="fraud@2",
                   confidence_column="score", asserted_at=at)
    labels = pl.DataFrame({"transaction_id": IDS[:3], "is_fraud": [True, True, True]})
    provenance.review(store, labels, dataset="fraud.labels", field="is_fraud",
                      key="transaction_id", reviewer="annotator/alice",
                      asserted_at=at + timedelta(hours=1))
    assert lineage.notify_change(store, "transactions.category", ["type:string"]) > 0
    assert lineage.notify_change(store, "fraud.scores.score", ["drop"]) > 0
    items = store.outbox()
    store.mark_delivered([items[0].id])
    store.mark_failed(items[1].id, "HTTP 500", None)  # dead
    auth.create_token(store, "airflow-prod", ["write:lineage"])
    auth.create_token(store, "scorer", ["assert"], origins=["ai_inferred"])
    store.revoke_token("scorer")
    store.audit("local:me", "check", "fraud@3", {"rows": 6})


def _answers(store: Store) -> dict[str, Any]:
    """Every question a user asks of a store, as comparable data."""
    answers: dict[str, Any] = {"graph": snapshot(store), "stats": store.stats()}
    for name, change in QUESTIONS:
        report = store.impact(name, change=change)
        answers[f"impact {name} {change}"] = json.loads(json.dumps(report.to_dict(),
                                                                  default=str))
    consumers = [r.key for r in store.find("", [lineage.NodeKind.CONSUMER])]
    answers["contracts"] = store.contracts(consumers)
    answers["channels"] = {k: [c.model_dump() for c in v]
                           for k, v in store.channels(consumers).items()}
    answers["outbox"] = [(i.idempotency_key, i.consumer, i.channel.target, i.event, i.payload,
                          i.state, i.attempts, i.last_error, i.delivered_at is not None)
                         for i in store.outbox(limit=1000)]
    answers["tokens"] = [(t.name, t.scopes, t.origins, t.created_at, t.revoked_at, h)
                         for t, h in store.tokens_with_hashes()]
    answers["audit"] = [(e.at, e.principal, e.action, e.target, e.detail)
                        for e in store.audit_log(1000)]
    batches = store.assertion_batches()
    answers["assertion batches"] = [(b.field, b.concept, b.origin, b.agent, b.asserted_at,
                                     b.rows, b.dataset_version, b.principal) for b in batches]
    arrays = store.assertion_arrays([b.id for b in batches if b.id is not None])
    position = {b.id: i for i, b in enumerate(batches)}
    rows = []
    for b in batches:
        a = arrays[b.id]  # type: ignore[index]
        reviewed = (None if a.reviewed_batch is None else
                    [position.get(int(x), -1) for x in a.reviewed_batch])
        rows.append((a.entity.tolist(), a.value.tolist(),
                     np.nan_to_num(a.confidence, nan=-1).tolist(), reviewed,
                     None if a.reviewed_row is None else a.reviewed_row.tolist()))
    answers["assertion rows"] = rows  # reviews compared by the position of what they review
    return answers


def test_sqlite_to_neo4j_to_postgresql_keeps_every_answer_and_a_second_copy_changes_nothing(
        sqlite_url: str, neo4j_url: str, postgres_url: str) -> None:
    with lineage.connect(sqlite_url) as source:
        _everything(source)
        before = _answers(source)
    assert before["outbox"] and before["assertion rows"][1][3] is not None
    for src_url, dst_url in [(sqlite_url, neo4j_url), (neo4j_url, postgres_url)]:
        with lineage.connect(src_url) as src, lineage.connect(dst_url) as dst:
            first = lineage.copy_store(src, dst)
            assert first.changed and first.nodes == before["graph"]["nodes"].__len__()
            assert _answers(dst) == before
            again = lineage.copy_store(src, dst)
            assert again.to_dict() == {**{k: 0 for k in first.to_dict()}, "changed": False}
            assert _answers(dst) == before


def test_a_copy_into_a_store_that_holds_part_of_it_adds_only_the_rest(
        store_url: str, tmp_path: Path) -> None:
    source_url = f"sqlite:///{tmp_path / 'source.db'}"
    with lineage.connect(source_url) as source:
        _everything(source)
        before = _answers(source)
    with lineage.connect(store_url) as dst:
        lineage.register(dst, EXAMPLE)  # the graph is there already, the records are not
        with lineage.connect(source_url) as source:
            report = lineage.copy_store(source, dst)
        assert (report.nodes, report.edges) == (1, 0)  # the reviewer, an agent
        assert report.tokens == 2 and report.assertion_batches == 2
        assert _answers(dst) == before


def test_lineage_copy_prints_what_it_wrote_and_refuses_one_store_twice(
        sqlite_url: str, tmp_path: Path) -> None:
    from lineage_cli.main import cli

    with lineage.connect(sqlite_url) as source:
        lineage.register(source, EXAMPLE)
    target = f"sqlite:///{tmp_path / 'copy.db'}"
    runner = CliRunner()
    result = runner.invoke(cli, ["copy", "--from", sqlite_url, "--to", target,
                                 "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["changed"] is True
    again = runner.invoke(cli, ["--store", sqlite_url, "copy", "--to", target])
    assert again.exit_code == 0 and "nothing to copy" in again.stdout
    same = runner.invoke(cli, ["copy", "--from", target, "--to", target])
    assert same.exit_code == 2 and "same store" in same.output


@pytest.mark.parametrize("what", ["tokens", "outbox"])
def test_importing_records_that_name_nothing_known_is_refused(store: Store, what: str) -> None:
    if what == "tokens":
        info = lineage.TokenInfo(1, "x", ("read",), (), datetime.now(UTC))
        with pytest.raises(lineage.ValidationError, match="SHA-256"):
            store.import_tokens([(info, "not-a-hash")])
    else:
        lineage.register(store, EXAMPLE)
        item = lineage.OutboxItem(
            id=1, idempotency_key="k", consumer="consumer:fraud-dashboard",
            channel=lineage.ChannelSpec(kind="webhook", target="http://127.0.0.1:9/x"),
            event="proposed_change", payload={}, state="pending", attempts=0,
            next_attempt_at=datetime.now(UTC), created_at=datetime.now(UTC))
        with pytest.raises(lineage.ValidationError, match="channels their consumers"):
            store.import_outbox([item])
        assert store.outbox_status() == {"pending": 0, "delivered": 0, "dead": 0}
