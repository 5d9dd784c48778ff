"""Write the data-health tour's batches (README tour, steps 8-10).

    python examples/fraud/make_health_data.py out/

- transactions_batch.csv        story 1: the payments service now sends `category` as a
                                text label for 30% of rows (it was an integer MCC code)
- user_features_<version>.parquet
                                what fraud@1..3 trained on (user_features@2026-01..03)
- user_features_prod.parquet    story 5: this week's production features; `avg_amount_7d`
                                has drifted upwards, the rest has not
"""

from __future__ import annotations

import sys
from pathlib import Path

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
    """Daily per-user features; `shift` moves log(avg_amount_7d) (0: the training mix)."""
    age = rng.normal(41, 12, n).clip(18, 90).round()
    frame = pl.DataFrame({
        "user_id": np.arange(1, n + 1),
        "avg_amount_7d": np.round(rng.lognormal(3.5 + shift, 0.6, n), 2),
        "txn_count_7d": rng.poisson(9, n),
        "category_share": np.round(rng.beta(2, 8, n), 4),
        "activity_7d": rng.poisson(30, n),
        "age_filled": age.astype(np.int16),
    })
    return frame.select(columns) if columns else frame


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
    print(f"wrote a transactions batch, three training feature tables and a production "
          f"batch ({N:,} rows each) to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "out"))
