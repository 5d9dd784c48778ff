"""Data health over HTTP: validate, profile, drift, freshness and skew on a real server on
127.0.0.1, over every reachable backend, on the fraud example's stories (the README tour's
files, `examples/fraud/make_health_data.py`). Each answer is checked against the CLI's
`--format json` for the same file (the same serialiser); a violation or a drift is a 200
with the verdict in the body; bad input is a JSON 400/403/404/409/413/415 that writes
nothing."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
from click.testing import CliRunner

import lineage
from lineage import auth
from lineage.server import ServerSettings
from lineage_cli.main import cli

from .conftest import EXAMPLE, LINEAGE, ROOT, serve_in_subprocess, snapshot
from .test_server import assert_error, running

sys.path.insert(0, str(ROOT / "examples" / "fraud"))
import make_health_data  # noqa: E402

HEALTH = ROOT / "examples" / "fraud" / "health.yaml"
MAX_BODY = 3 * 1024 * 1024
API = "/api/v1"
TYPES = {".csv": "text/csv", ".parquet": "application/vnd.apache.parquet",
         ".arrow": "application/vnd.apache.arrow.file"}


@dataclass
class Api:
    """A server over the fraud pipeline with the tour's batch files in `folder` (the
    working directory, so the CLI names them as the uploads do)."""

    base: str
    store: lineage.Store
    folder: Path
    secrets: dict[str, str] = field(default_factory=dict)
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=120))

    def headers(self, who: str | None) -> dict[str, str]:
        return {} if who is None else {"Authorization": f"Bearer {self.secrets[who]}"}

    def upload(self, path: str, file: str, who: str = "reader", **form: str
               ) -> httpx.Response:
        name = Path(file).name
        content = (self.folder / file).read_bytes()
        return self.client.post(self.base + API + path, headers=self.headers(who), data=form,
                                files={"table": (name, content,
                                                 TYPES.get(Path(file).suffix, ""))})

    def post(self, path: str, who: str = "reader", **kwargs: Any) -> httpx.Response:
        headers = {**self.headers(who), **kwargs.pop("headers", {})}
        return self.client.post(self.base + API + path, headers=headers, **kwargs)

    def get(self, path: str, who: str = "reader", **params: str) -> httpx.Response:
        return self.client.get(self.base + API + path, headers=self.headers(who),
                               params=params)

    def cli_json(self, *args: str, exit_code: int = 0) -> Any:
        result = CliRunner().invoke(cli, ["--store", self.store.url, *args, "--format",
                                          "json"])
        assert result.exit_code == exit_code, result.output
        return json.loads(result.stdout)

    def state(self) -> dict[str, Any]:
        """Everything a request could change: the graph, the outbox, the audit log."""
        return {**snapshot(self.store),
                "outbox": [i.idempotency_key for i in self.store.outbox(limit=10_000)],
                "audit": [e.id for e in self.store.audit_log(1000)]}


@pytest.fixture
def api(store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    monkeypatch.chdir(tmp_path)
    make_health_data.main(tmp_path)
    with lineage.connect(store_url) as store:
        lineage.register(store, EXAMPLE)
        lineage.register(store, HEALTH)
        secrets = {"reader": auth.create_token(store, "reader", ["read"])[1],
                   "writer": auth.create_token(store, "writer", ["write:lineage"])[1],
                   "asserter": auth.create_token(store, "asserter", ["assert"],
                                                 ["observed"])[1]}
        with running(store_url, ServerSettings(max_body_bytes=MAX_BODY)) as base:
            served = Api(base, store, tmp_path, secrets)
            try:
                yield served
            finally:
                served.client.close()


def record_training_profiles(api: Api) -> None:
    for version in ("2026-01", "2026-02", "2026-03"):
        made = api.upload("/profile", f"user_features_{version}.parquet", who="writer",
                          dataset=f"user_features@{version}")
        assert made.status_code == 201, made.text


# ------------------------------------------------------------------ the stories


def test_validate_over_http_answers_story_1_as_the_cli_with_200_and_passed_false(
        api: Api) -> None:
    """The int-to-string change with coercion: `category` arrives as text labels for 30%
    of rows; a lenient cast would null them."""
    before = api.state()
    answer = api.upload("/validate", "transactions_batch.csv", dataset="transactions")
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["passed"] is False and report["summary"].startswith("VIOLATION")
    category = next(c for c in report["columns"] if c["name"] == "category")
    assert 0.25 < category["coerced_null_share"] < 0.35
    assert {v["check"] for v in category["violations"]} == {"coercion", "nulls"}
    assert "consumer:rolling-features-job" in report["broken_consumers"]
    assert report == api.cli_json("validate", "transactions_batch.csv", "--dataset",
                                  "transactions", exit_code=10)
    # Parquet and Arrow are held to their types: category is a string column there
    frame = pl.read_csv(api.folder / "transactions_batch.csv", infer_schema_length=10_000)
    frame.write_parquet(api.folder / "batch.parquet")
    frame.write_ipc(api.folder / "batch.arrow")
    for file in ("batch.parquet", "batch.arrow"):
        typed = api.upload("/validate", file, dataset="transactions")
        assert typed.status_code == 200, typed.text
        assert typed.json() == api.cli_json("validate", file, "--dataset", "transactions",
                                            exit_code=10)
        assert "type" in {v["check"] for c in typed.json()["columns"]
                          for v in c["violations"]}
    # an Arrow stream, and a file named by its media type only
    stream = io.BytesIO()
    frame.write_ipc_stream(stream)
    by_type = api.post("/validate", files={"table": ("blob", stream.getvalue(),
                                                     "application/vnd.apache.arrow.stream")},
                       data={"dataset": "transactions"})
    assert by_type.status_code == 200, by_type.text
    assert by_type.json()["source"] == "blob.arrow"
    assert by_type.json()["columns"] == typed.json()["columns"]
    assert api.state() == before  # a check writes nothing


def test_validate_record_over_http_needs_write_and_registers_the_observed_version(
        api: Api) -> None:
    before = api.state()
    assert_error(api.upload("/validate", "transactions_batch.csv", dataset="transactions",
                            record="true"), 403, "PermissionDenied", "write:lineage")
    assert api.state() == before
    recorded = api.upload("/validate", "transactions_batch.csv", who="writer",
                          dataset="transactions", record="true", version="2026-04-02")
    assert recorded.status_code == 200, recorded.text
    body = recorded.json()
    assert body["passed"] is False
    assert body["recorded"] == "dataset_version:postgres://db.prod:5432/public.transactions" \
                               "@2026-04-02"
    assert body["notifications"] > 0
    entry = api.store.audit_log(1)[0]
    assert (entry.principal, entry.action) == ("writer", "validate --record")


def test_profile_and_drift_over_http_answer_story_5_as_the_cli(api: Api) -> None:
    """A shifted distribution: production `avg_amount_7d` drifted from what fraud@1..3
    trained on; the answer follows it to the consumers behind those models."""
    assert_error(api.upload("/profile", "user_features_2026-01.parquet",
                            dataset="user_features@2026-01"), 403, "PermissionDenied")
    record_training_profiles(api)
    assert api.store.audit_log(1)[0].action == "profile"
    # infinities (a division by zero upstream) are missing values: a 201, not a 500
    odd = io.BytesIO()
    pl.DataFrame({"amount": [1.0, float("inf"), 2.0]}).write_parquet(odd)
    infinite = api.post("/profile", who="writer", data={"dataset": "transactions@2026-02"},
                        files={"table": ("odd.parquet", odd.getvalue(), "")})
    assert infinite.status_code == 201, infinite.text
    assert infinite.json()["fields"]["amount"]["n"] == 2
    stored = api.get("/profile", dataset="user_features@2026-03")
    assert stored.status_code == 200, stored.text
    assert stored.json() == api.cli_json("profile", "--dataset", "user_features@2026-03")
    assert stored.json()["fields"]["avg_amount_7d"]["kind"] == "numeric"

    before = api.state()
    drift = api.upload("/drift", "user_features_prod.parquet", dataset="user_features")
    assert drift.status_code == 200, drift.text
    report = drift.json()
    assert report["drifted"] is True and report["drifted_fields"] == ["avg_amount_7d"]
    assert {r["key"] for r in report["impact"]["avg_amount_7d"]["model_versions"]} == {
        "model_version:fraud@1", "model_version:fraud@2", "model_version:fraud@3"}
    assert report == api.cli_json("drift", "user_features_prod.parquet", "--dataset",
                                  "user_features", exit_code=11)
    # thresholds as a JSON policy and as fields, as the CLI's --policy and --psi
    (api.folder / "drift.yaml").write_text("psi: 5\nks_statistic: 1\n"
                                           "fields:\n  txn_count_7d: {psi: 0}\n")
    policy = api.upload("/drift", "user_features_prod.parquet", dataset="user_features",
                        policy=json.dumps({"ks_statistic": 1,
                                           "fields": {"txn_count_7d": {"psi": 0}}}),
                        psi="5")
    assert policy.json()["drifted_fields"] == ["txn_count_7d"]
    assert policy.json() == api.cli_json("drift", "user_features_prod.parquet", "--dataset",
                                         "user_features", "--policy", "drift.yaml",
                                         exit_code=11)
    steady = api.upload("/drift", "user_features_2026-03.parquet", dataset="user_features",
                        against="user_features@2026-03")
    assert steady.status_code == 200 and steady.json()["drifted"] is False
    assert api.state() == before  # comparing writes nothing

    # a stored profile instead of a file: what a serving run sent
    served = api.upload("/profile", "user_features_prod.parquet", who="writer",
                        dataset="user_features@2026-03", run="serving-2026-04-02")
    assert served.status_code == 201 and served.json()["run"] == "run:serving-2026-04-02"
    named = api.post("/drift", json={"dataset": "user_features",
                                     "current": "user_features@2026-03",
                                     "run": "serving-2026-04-02"})
    assert named.status_code == 200, named.text
    assert named.json()["drifted_fields"] == ["avg_amount_7d"]
    assert named.json() == api.cli_json("drift", "--dataset", "user_features", "--current",
                                        "user_features@2026-03", "--run",
                                        "serving-2026-04-02", exit_code=11)


def test_drift_notify_over_http_needs_write_and_tells_the_consumers_once(api: Api) -> None:
    record_training_profiles(api)
    before = api.state()
    assert_error(api.upload("/drift", "user_features_prod.parquet", dataset="user_features",
                            notify="true"), 403, "PermissionDenied", "write:lineage")
    assert api.state() == before
    told = api.upload("/drift", "user_features_prod.parquet", who="writer",
                      dataset="user_features", notify="true")
    assert told.status_code == 200, told.text
    assert told.json()["notifications"] == 3
    assert {i.consumer for i in api.store.outbox(limit=100) if i.event == "drift"} == {
        "consumer:risk-rules-engine", "consumer:fraud-dashboard", "consumer:alerting-service"}
    entry = api.store.audit_log(1)[0]
    assert (entry.principal, entry.action) == ("writer", "drift --notify")
    again = api.upload("/drift", "user_features_prod.parquet", who="writer",
                       dataset="user_features", notify="true")
    assert again.json()["notifications"] == 0


def test_freshness_over_http_answers_story_2_as_the_cli(api: Api) -> None:
    """Late data: user_activity lands four hours after the feature run's window closed."""
    lineage.openlineage.ingest(api.store, make_health_data.late_events())
    noon = "2026-04-02T12:00:00Z"
    answer = api.get("/freshness", now=noon)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["fresh"] is False and report["late"][0]["lateness"] == "4h"
    assert report == api.cli_json("freshness", "--now", noon)
    scoped = api.get("/freshness", name="fraud@3", now=noon).json()
    assert scoped == api.cli_json("freshness", "fraud@3", "--now", noon)
    assert [c["name"] for c in scoped["checked"]] == ["user_activity"]
    assert_error(api.get("/freshness", now="2026-04-02T12:00:00"), 400, "ValidationError",
                 "time zone")


def test_skew_over_http_answers_story_3_as_the_cli(api: Api) -> None:
    """Median vs zero fill on `age`: a derivation difference and a shifted distribution,
    once both sides' profiles are stored through the API."""
    record_training_profiles(api)
    recorded = api.upload("/validate", "fraud_requests.parquet", who="writer",
                          dataset="fraud_requests", record="true", version="2026-04-02")
    assert recorded.status_code == 200, recorded.text
    assert api.upload("/profile", "fraud_requests.parquet", who="writer",
                      dataset="fraud_requests@2026-04-02").status_code == 201
    answer = api.get("/skew/fraud@3")
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["skewed"] == ["feature:age"]
    age = next(i for i in report["inputs"] if i["input"] == "feature:age")
    assert any(d.startswith("fill: median (training) vs 0 (serving)")
               for d in age["differences"])
    assert age["distribution"]["psi"] > 0.05
    assert report == api.cli_json("skew", "fraud@3")
    assert_error(api.get("/skew/fraud"), 400, "ValidationError", "per model version")
    assert_error(api.get("/skew/nosuchmodel@1"), 404, "NotFound")


# ------------------------------------------------------------------ bad input


def test_bad_health_requests_are_precise_json_errors_and_write_nothing(api: Api) -> None:
    record_training_profiles(api)
    before = api.state()
    csv = "transactions_batch.csv"
    # 415: not an upload, or an upload whose format neither its name nor its type says
    assert_error(api.post("/validate", json={"dataset": "transactions"}), 415,
                 "UnsupportedMediaType", "multipart/form-data")
    assert_error(api.post("/validate", files={"table": ("batch.xlsx", b"PK..",
                                                        "application/octet-stream")},
                          data={"dataset": "transactions"}), 415, "UnsupportedMediaType",
                 "cannot tell the format of the upload 'batch.xlsx'")
    assert_error(api.post("/drift", content=b"a,b\n1,2\n", headers={
        "Content-Type": "text/csv"}), 415, "UnsupportedMediaType", "stored profile")
    # 400: unreadable, missing or malformed fields, a bad policy
    bad = assert_error(api.post("/validate", files={"table": ("b.parquet", b"not parquet",
                                                              "")},
                                data={"dataset": "transactions"}), 400, "ValidationError",
                       "cannot read parquet")
    assert bad["file"] == "b.parquet"
    assert assert_error(api.upload("/validate", csv), 400, "ValidationError",
                        "form field 'dataset' is required")["key"] == "dataset"
    assert assert_error(api.post("/validate", data={"dataset": "transactions"}, files={
        "other": ("x.csv", b"a\n1\n", "text/csv")}), 400, "ValidationError",
        "file field 'table'")["key"] == "table"
    assert_error(api.upload("/validate", csv, dataset="transactions", record="maybe"), 400,
                 "ValidationError", "true or false")
    assert_error(api.upload("/validate", csv, dataset="transactions", version="v9"), 400,
                 "ValidationError", "add record=true")
    key = assert_error(api.upload("/drift", "user_features_prod.parquet",
                                  dataset="user_features", policy='{"psi_max": 0.1}'),
                       400, "ValidationError", "unknown key 'psi_max'")["key"]
    assert key == "policy.psi_max"
    assert_error(api.upload("/drift", "user_features_prod.parquet", dataset="user_features",
                            ks_pvalue="2"), 400, "ValidationError", "<= 1")
    assert_error(api.post("/drift", json={"dataset": "user_features"}), 400,
                 "ValidationError")
    # 404: unknown names, nothing stored, nothing to compare with
    assert_error(api.upload("/validate", csv, dataset="nosuchdataset"), 404, "NotFound")
    assert_error(api.get("/profile", dataset="transactions@2026-03"), 404, "NotFound",
                 "POST /api/v1/profile")
    assert_error(api.upload("/drift", csv, dataset="transactions"), 404, "NotFound",
                 "no model version was trained")
    assert_error(api.post("/drift", json={"dataset": "user_features",
                                          "current": "user_features@2026-03",
                                          "run": "nosuchrun"}), 404, "NotFound")
    # 409: a version's profile does not change
    assert_error(api.upload("/profile", "user_features_prod.parquet", who="writer",
                            dataset="user_features@2026-03"), 409, "ConflictError",
                 "different profile")
    # 413: larger than the server takes, refused before it is read
    (api.folder / "big.csv").write_bytes(b"a\n" + b"1\n" * MAX_BODY)
    assert_error(api.upload("/validate", "big.csv", dataset="transactions"), 413,
                 "PayloadTooLarge")
    # 401 / 403 before the body is read
    assert_error(api.upload("/validate", csv, who="asserter", dataset="transactions"), 403,
                 "PermissionDenied")
    assert api.client.post(api.base + API + "/validate").status_code == 401
    assert api.state() == before


def test_lineage_serve_in_a_subprocess_validates_an_upload(sqlite_url: str, tmp_path: Path
                                                            ) -> None:
    make_health_data.main(tmp_path)
    with lineage.connect(sqlite_url) as store:
        lineage.register(store, EXAMPLE)
        lineage.register(store, HEALTH)
    with serve_in_subprocess(LINEAGE, sqlite_url, "--no-auth") as base:
        answer = httpx.post(f"{base}{API}/validate", data={"dataset": "transactions"},
                            files={"table": ("transactions_batch.csv", (
                                tmp_path / "transactions_batch.csv").read_bytes(),
                                "text/csv")}, timeout=120)
    assert answer.status_code == 200, answer.text
    assert answer.json()["passed"] is False
