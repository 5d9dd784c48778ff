"""CI gates (issue 12, item 6): `--fail-on breaking|unknown` exits 9 after the report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import lineage
from lineage_cli.main import cli

from .conftest import EXAMPLE, ROOT
from .test_server import served  # noqa: F401  (the running-server fixture)

Run = Any


@pytest.fixture
def run(store_url: str) -> Run:
    runner = CliRunner()

    def invoke(*args: Any) -> Result:
        return runner.invoke(cli, ["--store", store_url, *(str(a) for a in args)],
                             catch_exceptions=False)

    assert invoke("register", EXAMPLE).exit_code == 0
    return invoke


def test_impact_fail_on_breaking_exits_9_after_printing_the_report(run: Run) -> None:
    gated = run("impact", "transactions.category", "--change", "type:string", "--fail-on",
                "breaking", "--format", "json")
    assert gated.exit_code == 9
    assert json.loads(gated.stdout)["counts"]["breaking"] > 0  # the report came first
    table = run("impact", "transactions.category", "--change", "type:string", "--fail-on",
                "breaking")
    assert table.exit_code == 9 and "breaking" in table.stdout


def test_impact_fail_on_passes_below_the_level(run: Run) -> None:
    """int32 -> int64 widens: nothing breaks, but the scoring job's output is unknown."""
    widen = ["impact", "transactions.category", "--change", "type:int64"]
    assert run(*widen, "--fail-on", "breaking").exit_code == 0
    assert run(*widen, "--fail-on", "unknown").exit_code == 9
    assert run(*widen, "--precise", "--fail-on", "unknown").exit_code == 0
    assert run("impact", "transactions.category", "--change", "type:int32",
               "--fail-on", "unknown").exit_code == 0  # no change at all


def test_impact_fail_on_needs_a_change(run: Run) -> None:
    result = CliRunner().invoke(cli, ["impact", "transactions.category", "--fail-on",
                                      "breaking"])
    assert result.exit_code == 2 and "--fail-on needs --change" in result.output
    assert "--fail-on" in run("impact", "--help").stdout


def test_schema_diff_fail_on_gates_on_the_changes(run: Run, tmp_path: Path) -> None:
    proposed = tmp_path / "proposed.yaml"
    proposed.write_text("fields:\n"
                        "  - {name: user_id, type: int64, nullable: false}\n"
                        "  - {name: avg_amount_7d, type: float64}\n", encoding="utf-8")
    breaking = run("schema", "diff", "user_features@2026-01", proposed, "--fail-on", "breaking")
    assert breaking.exit_code == 9 and "dropped" in breaking.stdout
    grows = ["schema", "diff", "user_features@2026-01", "user_features@2026-02"]
    assert run(*grows, "--fail-on", "breaking").exit_code == 0  # a field added
    assert run(*grows).exit_code == 0


def test_the_gate_exit_code_reaches_the_shell(tmp_path: Path) -> None:
    """One real subprocess: a CI step sees exit status 9."""
    url = f"sqlite:///{tmp_path / 'gate.db'}"
    # this checkout's code, whichever copy is installed
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    program = [sys.executable, "-c", "from lineage_cli.main import cli; cli()", "--store", url]
    subprocess.run([*program, "register", str(EXAMPLE)], check=True, cwd=ROOT,
                   capture_output=True, env=env, timeout=120)
    done = subprocess.run([*program, "impact", "transactions.category", "--change",
                           "type:string", "--fail-on", "breaking"], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 9, done.stderr
    assert "breaking" in done.stdout


def test_the_gate_is_a_method_of_the_report(fraud_store: Any) -> None:
    """One rule for the CLI, the API and a pipeline calling the library."""
    from lineage.impact import change_impact
    from lineage.schema import SchemaDiff, diff

    judged = change_impact(fraud_store, "transactions.category", ["type:int64"])
    assert not judged.fails("breaking") and judged.fails("unknown")
    assert change_impact(fraud_store, "transactions.category", ["type:string"]).fails(
        "breaking")
    with pytest.raises(lineage.ValidationError, match="breaking, unknown"):
        judged.fails("compatible")
    unchanged = SchemaDiff("a", "b", diff([], []))
    assert not unchanged.fails("unknown")


def test_the_http_impact_answers_the_gate_when_asked_with_fail_on(
        served: Any) -> None:  # noqa: F811
    import lineage.manifest

    lineage.manifest.register(served.store, EXAMPLE)
    path = "/api/v1/impact?field=transactions.category&change=type:int64"
    plain = served.get(path)
    assert plain.status_code == 200 and "fails" not in plain.json()
    gated = served.get(path + "&fail_on=unknown")
    assert gated.status_code == 200, gated.text
    assert gated.json()["fail_on"] == "unknown" and gated.json()["fails"] is True
    assert served.get(path + "&fail_on=breaking").json()["fails"] is False
    bad = served.get("/api/v1/impact?field=transactions.category&fail_on=breaking")
    assert bad.status_code == 400 and "fail_on needs change" in bad.json()["message"]
    assert served.get(path + "&fail_on=maybe").status_code == 400
