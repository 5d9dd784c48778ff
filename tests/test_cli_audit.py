"""CLI writes land in the audit log with their principal, as server requests do; failed
writes leave no entry."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from lineage_cli.main import cli

from .conftest import EXAMPLE

PRINCIPAL = f"local:{getpass.getuser()}"


@pytest.fixture
def run(store_url: str) -> Any:
    runner = CliRunner()

    def invoke(*args: Any) -> Result:
        return runner.invoke(cli, ["--store", store_url, *(str(a) for a in args)],
                             catch_exceptions=False)

    return invoke


def entries(run: Any, *args: str) -> list[dict[str, Any]]:
    result = run("audit", "--format", "json", *args)
    assert result.exit_code == 0, result.output
    return list(json.loads(result.stdout)["entries"])


def test_register_and_token_writes_are_audited_with_the_local_principal(run: Any) -> None:
    assert run("register", EXAMPLE).exit_code == 0
    assert run("token", "create", "airflow-prod", "--scope", "write:lineage").exit_code == 0
    assert run("token", "revoke", "airflow-prod").exit_code == 0

    log = entries(run)
    assert [(e["principal"], e["action"], e["target"]) for e in log] == [
        (PRINCIPAL, "token.revoke", "airflow-prod"),
        (PRINCIPAL, "token.create", "airflow-prod"),
        (PRINCIPAL, "register", str(EXAMPLE)),
    ]
    assert entries(run, "--limit", "1")[0]["action"] == "token.revoke"
    assert entries(run, "--since", "2999-01-01") == []

    table = run("audit")
    assert table.exit_code == 0 and "token.create" in table.stdout and PRINCIPAL in table.stdout


def test_a_rejected_write_leaves_no_audit_entry(run: Any, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("datasets:\n  - name: x\n    fields: [oops\n")
    assert run("register", bad).exit_code == 2
    labels = tmp_path / "labels.csv"
    labels.write_text("transaction_id,is_fraud\n1,1\n")
    failed = run("tag", labels, "--dataset", "no.such.dataset", "--field", "is_fraud",
                 "--key", "transaction_id", "--origin", "observed", "--agent", "x")
    assert failed.exit_code != 0
    assert entries(run) == []


def test_tag_is_audited_with_its_file_origin_and_agent(run: Any, tmp_path: Path) -> None:
    assert run("register", EXAMPLE).exit_code == 0
    labels = tmp_path / "chargebacks.csv"
    labels.write_text("transaction_id,is_fraud\n1,1\n2,0\n")
    tagged = run("tag", labels, "--dataset", "fraud.labels", "--field", "is_fraud",
                 "--key", "transaction_id", "--origin", "observed", "--agent", "disputes")
    assert tagged.exit_code == 0, tagged.output
    newest = entries(run)[0]
    assert newest["principal"] == PRINCIPAL and newest["action"] == "tag"
    assert newest["target"] == "fraud.labels.is_fraud"
    assert newest["detail"] == {"file": str(labels), "origin": "observed", "agent": "disputes"}
