"""Write the data-health tour's batches (README tour, steps 8-10).

    python examples/fraud/make_health_data.py out/

- transactions_batch.csv        story 1: the payments service now sends `category` as a
                                text label for 30% of rows (it was an integer MCC code)
- user_features_<version>.parquet
                                what fraud@1..3 trained on (user_features@2026-01..03)
- user_features_prod.parquet    story 5: this week's production features; `avg_amount_7d`
                                has drifted upwards, the rest has not
- fraud_requests.parquet        story 3: what the serving path sends fraud@3; it fills a
                                missing age with 0 where training used the median
- late_events.ndjson            story 2: OpenLineage events of the "optimised" ingestion
                                job landing user_activity four hours after the feature
                                job's 7-day window closed, and of the feature run that
                                read it (`lineage ingest`, then `lineage freshness`)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

N = 20_000
LABELS = ["grocery", "restaurants", "gambling", "travel"]
MCC = [5411, 5812, 7995, 4511]


def transactions(rng: np.random.Generator, n: int) -> pl.DataFrame:
    code = rng.choice(MCC, n)
    as_label = rng.random(n) < 0.3
    category = [LABELS[MCC.index(c)] if lab else str(c)
                for c, lab in zip(code.tolist(), as_label.tolist(), strict=True)]
    return pl.DataFrame({
        "transaction_id": [f"tx-{i:06d}" for i in range(n)],
        "user_id": rng.integers(1, 5_000, n),
        "amount": np.round(rng.lognormal(3.5, 0.8, n), 2),
        "category": category,
        "merchant_id": rng.integers(1, 800, n),
        "created_at": ["2026-04-02T10:00:00Z"] * n,
    })


def features(rng: np.random.Generator, n: int, *, shift: float = 0.0,
             columns: list[str] | None = None) -> pl.DataFrame:
    """Daily per-user features; `shift` moves log(avg_amount_7d) (0: the training mix).
    Age is missing for ~8% of users; the training preprocessing fills it with the median."""
    age = _age(rng, n)
    age = np.where(np.isnan(age), np.nanmedian(age), age)
    frame = pl.DataFrame({
        "user_id": np.arange(1, n + 1),
        "avg_amount_7d": np.round(rng.lognormal(3.5 + shift, 0.6, n), 2),
        "txn_count_7d": rng.poisson(9, n),
        "category_share": np.round(rng.beta(2, 8, n), 4),
        "activity_7d": rng.poisson(30, n),
        "age_filled": age.astype(np.int16),
    })
    return frame.select(columns) if columns else frame


_PRODUCER = "https://github.com/apache/airflow/tree/2.9.0"
_FACETS = "https://openlineage.io/spec/facets/1-0-1/"


def _facet(name: str, **fields: Any) -> dict[str, Any]:
    return {"_producer": _PRODUCER, "_schemaURL": f"{_FACETS}{name}.json#/$defs/{name}",
            **fields}


def _dataset(namespace: str, name: str, version: str) -> dict[str, Any]:
    return {"namespace": namespace, "name": name,
            "facets": {"version": _facet("DatasetVersionDatasetFacet", datasetVersion=version)}}


def late_events() -> list[dict[str, Any]]:
    """The ingestion run lands user_activity@2026-04-01 at 04:00 on 04-02; the feature run
    whose 7-day window ended at 00:00 that day reads it."""
    run_event = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
    ingest = {
        "eventType": "COMPLETE", "eventTime": "2026-04-02T04:00:00Z", "producer": _PRODUCER,
        "schemaURL": run_event,
        "run": {"runId": "0196f0a0-0000-7000-8000-000000000001"},
        "job": {"namespace": "airflow://scheduler.prod", "name": "ingest.user_activity"},
        "inputs": [],
        "outputs": [_dataset("kafka://events.prod:9092", "user_activity", "2026-04-01")],
    }
    window = _facet("NominalTimeRunFacet", nominalStartTime="2026-03-26T00:00:00Z",
                    nominalEndTime="2026-04-02T00:00:00Z")
    features = {
        "eventType": "COMPLETE", "eventTime": "2026-04-02T04:20:00Z", "producer": _PRODUCER,
        "schemaURL": run_event,
        "run": {"runId": "0196f0a0-0000-7000-8000-000000000002",
                "facets": {"nominalTime": window}},
        "job": {"namespace": "airflow://scheduler.prod", "name": "features.rolling_spend_7d"},
        "inputs": [_dataset("kafka://events.prod:9092", "user_activity", "2026-04-01")],
        "outputs": [_dataset("s3://ml-warehouse", "features.user_features", "2026-04-02")],
    }
    return [ingest, features]


def _age(rng: np.random.Generator, n: int) -> np.ndarray:
    age = rng.normal(41, 12, n).clip(18, 90).round()
    return np.where(rng.random(n) < 0.08, np.nan, age)


def serving_requests(rng: np.random.Generator, n: int) -> pl.DataFrame:
    """Story 3: the online service fills a missing age with 0, not the median."""
    age = _age(rng, n)
    return pl.DataFrame({"user_id": np.arange(1, n + 1),
                         "age_filled": np.where(np.isnan(age), 0, age).astype(np.int16)})


def main(out: Path) -> None:
    rng = np.random.default_rng(18)
    out.mkdir(parents=True, exist_ok=True)
    transactions(rng, N).write_csv(out / "transactions_batch.csv")
    schemas = {"2026-01": ["user_id", "avg_amount_7d", "txn_count_7d"],
               "2026-02": ["user_id", "avg_amount_7d", "txn_count_7d", "category_share"],
               "2026-03": None}
    for version, columns in schemas.items():
        features(rng, N, columns=columns).write_parquet(out / f"user_features_{version}.parquet")
    features(rng, N, shift=0.35).write_parquet(out / "user_features_prod.parquet")
    serving_requests(rng, N).write_parquet(out / "fraud_requests.parquet")
    (out / "late_events.ndjson").write_text(
        "".join(json.dumps(e) + "\n" for e in late_events()), encoding="utf-8")
    print(f"wrote a transactions batch, three training feature tables and a production "
          f"batch, serving requests ({N:,} rows each), and two late OpenLineage events to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "out"))
