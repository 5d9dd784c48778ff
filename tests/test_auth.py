"""API tokens, scopes, who may assert what, and the audit log: the library, on every backend,
and the `lineage token` commands."""

from __future__ import annotations

import copy
import getpass
import hashlib
import json
from datetime import UTC, datetime, timedelta

import click
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

import lineage
from lineage import GraphBatch, auth
from lineage.store.base import TOKEN_USE_RESOLUTION_SECONDS
from tests.conftest import snapshot


def cli_with_my_commands() -> click.Group:
    """The `lineage` group with `token` and `serve`: cli/main.py's own when it registers
    them, else a copy of it with them added (the real group is left as it is)."""
    from lineage_cli.main import cli
    from lineage_cli.serve import serve
    from lineage_cli.token import token

    if "token" in cli.commands and "serve" in cli.commands:
        return cli
    group = copy.copy(cli)
    group.commands = {**cli.commands, "token": token, "serve": serve}
    return group


# ------------------------------------------------------------------ tokens


def test_a_secret_is_shown_once_and_stored_only_as_its_sha256(store: lineage.Store) -> None:
    info, secret = auth.create_token(store, "airflow-prod", ["write:lineage"])

    assert secret.startswith(auth.SECRET_PREFIX) and len(secret) > 40
    assert (info.name, info.scopes, info.origins, info.active) == (
        "airflow-prod", ("write:lineage",), (), True)
    # the SQL store that holds tokens: the store itself, or a Neo4j store's records side
    engine = getattr(store, "records", store).engine
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM api_token"))]
    assert rows[0]["token_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in json.dumps(rows, default=str)
    assert "secret" not in json.dumps([t.to_dict() for t in auth.list_tokens(store)])


def test_two_tokens_never_share_a_secret(store: lineage.Store) -> None:
    secrets = {auth.create_token(store, f"t{i}", ["read"])[1] for i in range(20)}
    assert len(secrets) == 20


def test_authenticate_gives_the_tokens_principal_and_records_its_last_use(
        store: lineage.Store) -> None:
    info, secret = auth.create_token(store, "scorer", ["assert", "read"], ["ai_inferred"])
    assert info.last_used_at is None

    who = auth.authenticate(store, secret)

    assert who.name == "scorer" and who.scopes == {"assert", "read"}
    assert who.origins == {lineage.Origin.AI_INFERRED}
    used = store.token("scorer").last_used_at
    assert used is not None
    # within the resolution a use is only a read; after it, the time moves on
    assert store.use_token(auth.hash_secret(secret)).last_used_at == used
    later = used + timedelta(seconds=TOKEN_USE_RESOLUTION_SECONDS + 1)
    assert store.use_token(auth.hash_secret(secret), now=later).last_used_at == later
    assert store.token("scorer").last_used_at == later


def test_unknown_secrets_are_not_found_and_revoked_tokens_are_denied(
        store: lineage.Store) -> None:
    _info, secret = auth.create_token(store, "ci", ["read"])
    for wrong in ("", "   ", "lin_not-a-token", secret + "x"):
        with pytest.raises(lineage.NotFound) as caught:
            auth.authenticate(store, wrong)
        assert secret not in caught.value.message

    revoked = auth.revoke_token(store, "ci")

    assert not revoked.active and revoked.revoked_at is not None
    with pytest.raises(lineage.PermissionDenied, match="'ci' was revoked"):
        auth.authenticate(store, secret)
    assert auth.revoke_token(store, "ci").revoked_at == revoked.revoked_at  # no-op
    assert [t.name for t in auth.list_tokens(store, include_revoked=False)] == []
    with pytest.raises(lineage.NotFound, match="no API token named 'cj'; did you mean 'ci'"):
        auth.revoke_token(store, "cj")


def test_token_names_stay_taken_after_revocation(store: lineage.Store) -> None:
    auth.create_token(store, "etl", ["write:lineage"])
    auth.revoke_token(store, "etl")
    with pytest.raises(lineage.ConflictError, match="'etl' already exists"):
        auth.create_token(store, "etl", ["write:lineage"])
    assert len(auth.list_tokens(store)) == 1


@pytest.mark.parametrize(("name", "scopes", "origins", "message"), [
    ("", ["read"], [], "token name"),
    ("has space", ["read"], [], "token name"),
    ("x" * 101, ["read"], [], "token name"),
    ("ok", [], [], "at least one scope"),
    ("ok", ["write"], [], "unknown scope 'write'"),
    ("ok", ["assert"], [], "must list the origins"),
    ("ok", ["read"], ["observed"], "origins only apply"),
    ("ok", ["assert"], ["guessed"], "unknown origin 'guessed'"),
])
def test_token_names_scopes_and_origins_are_checked(store: lineage.Store, name: str,
                                                    scopes: list[str], origins: list[str],
                                                    message: str) -> None:
    with pytest.raises(lineage.ValidationError, match=message):
        auth.create_token(store, name, scopes, origins)
    assert auth.list_tokens(store) == [] and store.audit_log() == []


def test_admin_implies_read_and_write_but_never_assert() -> None:
    admin = lineage.Principal("ops", frozenset({"admin"}))
    for scope in ("read", "write:lineage", "admin"):
        auth.require(admin, scope)
    with pytest.raises(lineage.PermissionDenied, match="lacks the assert scope"):
        auth.require(admin, "assert")
    reader = lineage.Principal("dash", frozenset({"read"}))
    with pytest.raises(lineage.PermissionDenied, match="'dash' lacks the write:lineage scope"):
        auth.require(reader, "write:lineage")
    with pytest.raises(lineage.ValidationError, match="unknown scope"):
        auth.require(reader, "superuser")


def test_an_inference_token_may_assert_ai_inferred_and_never_human_labelled(
        store: lineage.Store) -> None:
    _info, secret = auth.create_token(store, "fraud-scorer", ["assert"], ["ai_inferred"])
    scorer = auth.authenticate(store, secret)

    auth.require_origin(scorer, "ai_inferred")
    for origin in ("human_labelled", "observed"):
        with pytest.raises(lineage.PermissionDenied, match=f"may not assert {origin}"):
            auth.require_origin(scorer, origin)
    no_assert = lineage.Principal("etl", frozenset({"write:lineage"}),
                                  frozenset(lineage.Origin))
    with pytest.raises(lineage.PermissionDenied, match="lacks the assert scope"):
        auth.require_origin(no_assert, "observed")


# ------------------------------------------------------------------ the audit log


def test_creating_and_revoking_tokens_is_audited_with_its_principal(
        store: lineage.Store) -> None:
    auth.create_token(store, "scorer", ["assert"], ["ai_inferred"], principal="alice")
    auth.revoke_token(store, "scorer", principal="bob")

    log = store.audit_log()
    assert [(e.principal, e.action, e.target) for e in log] == [
        ("bob", "token.revoke", "scorer"), ("alice", "token.create", "scorer")]
    assert log[1].detail == {"scopes": ["assert"], "origins": ["ai_inferred"]}
    assert log[0].at is not None and log[0].at >= log[1].at  # type: ignore[operator]


def _one_node_batch(name: str = "t") -> GraphBatch:
    batch = GraphBatch()
    batch.add_node(f"dataset:ns/{name}", name, "ns")
    return batch


def test_an_audited_write_and_its_entry_commit_together(store: lineage.Store,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    with store.audited("etl", "register", "dataset:ns/t", {"nodes": 1}):
        store.apply(_one_node_batch())
    assert [(e.principal, e.action, e.detail) for e in store.audit_log()] == [
        ("etl", "register", {"nodes": 1})]

    # The entry is written inside the write's transaction: when writing it fails, the
    # write is rolled back too.
    before = snapshot(store)

    # A real failure of the database, after the write's own statements went out: the audit
    # row goes to a table that does not exist (on PostgreSQL it rides in the apply's own
    # round trip, on SQLite it follows it; both must roll the write back).
    from lineage.store.sql import admin

    for dialect, statement in list(admin._AUDIT_INSERT.items()):
        monkeypatch.setitem(admin._AUDIT_INSERT, dialect,
                            statement.replace("INTO audit_log ", "INTO audit_log_gone "))
    with pytest.raises(lineage.StoreError, match="audit_log_gone"):
        with store.audited("etl", "register"):
            store.apply(_one_node_batch("u"))
    monkeypatch.undo()
    assert snapshot(store) == before
    assert len(store.audit_log()) == 1


def test_a_failed_write_leaves_no_entry_and_a_block_without_writes_leaves_one(
        store: lineage.Store) -> None:
    bad = GraphBatch()
    bad.add_edge("dataset:ns/a", "dataset:ns/b", "derived_from")
    with pytest.raises(lineage.ValidationError):
        with store.audited("etl", "register"):
            store.apply(bad)
    with pytest.raises(RuntimeError):
        with store.audited("etl", "register"):
            raise RuntimeError("the caller failed")
    assert store.audit_log() == []

    with store.audited("etl", "dry-run", detail={"checked": 3}):
        pass
    assert [e.action for e in store.audit_log()] == ["dry-run"]


def test_nested_audited_blocks_commit_with_the_same_write(store: lineage.Store) -> None:
    with store.audited("a", "ingest"), store.audited("b", "ingest"):
        store.apply(_one_node_batch())
        store.apply(_one_node_batch("u"))  # the entries went with the first write only
    assert sorted(e.principal for e in store.audit_log()) == ["a", "b"]


def test_audit_entries_must_be_plain(store: lineage.Store) -> None:
    with pytest.raises(lineage.ValidationError, match="principal"):
        store.audit("", "ingest")
    with pytest.raises(lineage.ValidationError, match="plain JSON"):
        store.audit("etl", "ingest", detail={"x": float("nan")})
    with pytest.raises(lineage.ValidationError, match="limit"):
        store.audit_log(0)


def test_the_audit_log_is_newest_first_and_filters_by_time(store: lineage.Store) -> None:
    for i in range(5):
        store.audit("etl", "ingest", f"job:{i}")
    log = store.audit_log()
    assert [e.target for e in log] == [f"job:{i}" for i in (4, 3, 2, 1, 0)]
    assert [e.target for e in store.audit_log(limit=2)] == ["job:4", "job:3"]
    assert store.audit_log(since=datetime.now(UTC) + timedelta(hours=1)) == []
    assert len(store.audit_log(since=log[-1].at)) == 5
    with pytest.raises(lineage.ValidationError, match="timezone-aware"):
        store.audit_log(since=datetime(2024, 1, 1))


# ------------------------------------------------------------------ the CLI


def test_lineage_token_create_list_and_revoke(store_url: str) -> None:
    cli = cli_with_my_commands()
    runner = CliRunner()

    made = runner.invoke(cli, ["--store", store_url, "token", "create", "scorer", "--scope",
                               "assert", "--origin", "ai_inferred", "--format", "json"])
    assert made.exit_code == 0, made.output
    created = json.loads(made.output)
    assert created["scopes"] == ["assert"] and created["origins"] == ["ai_inferred"]
    secret = created["secret"]

    listed = runner.invoke(cli, ["--store", store_url, "token", "list", "--format", "json"])
    assert listed.exit_code == 0 and secret not in listed.output
    assert [t["name"] for t in json.loads(listed.output)["tokens"]] == ["scorer"]

    table = runner.invoke(cli, ["--store", store_url, "token", "create", "etl", "--scope",
                                "write:lineage"])
    assert table.exit_code == 0 and "shown once" in table.output
    assert table.output.strip().splitlines()[-1].startswith(auth.SECRET_PREFIX)

    again = runner.invoke(cli, ["--store", store_url, "token", "create", "etl", "--scope",
                                "read"])
    assert again.exit_code == 5 and "already exists" in again.output
    bad = runner.invoke(cli, ["--store", store_url, "token", "create", "x", "--scope",
                              "assert"])
    assert bad.exit_code == 2 and "must list the origins" in bad.output

    revoked = runner.invoke(cli, ["--store", store_url, "token", "revoke", "scorer"])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    missing = runner.invoke(cli, ["--store", store_url, "token", "revoke", "nobody"])
    assert missing.exit_code == 4
    with lineage.connect(store_url) as store:
        local = f"local:{getpass.getuser()}"  # the CLI's principal
        assert [(e.principal, e.action, e.target) for e in store.audit_log()] == [
            (local, "token.revoke", "scorer"), (local, "token.create", "etl"),
            (local, "token.create", "scorer")]
        with pytest.raises(lineage.PermissionDenied):
            auth.authenticate(store, secret)
