"""Write the tour's record-level data: what fraud@2 predicted, what disputes confirmed,
and two candidate training tables for fraud@3.

    python examples/fraud/make_data.py out/

- predictions.csv      fraud@2's predictions (to tag as ai_inferred, with its confidence)
- chargebacks.csv      confirmed chargebacks (to tag as observed, agent disputes-system)
- labels_exported.csv  "labels" rebuilt from a CSV export of the predictions: the trap
- labels_confirmed.csv labels taken from the chargebacks only: what training should use
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import polars as pl

N = 2_000


def main(out: Path) -> None:
    rng = random.Random(7)
    out.mkdir(parents=True, exist_ok=True)
    ids = [f"tx-{i:05d}" for i in range(N)]
    score = [round(rng.random(), 3) for _ in ids]
    predictions = pl.DataFrame({"transaction_id": ids, "score": score,
                                "predicted_fraud": [s > 0.8 for s in score],
                                # how sure the model is of the label it gave
                                "confidence": [round(max(s, 1 - s), 3) for s in score]})
    predictions.write_csv(out / "predictions.csv")

    # Disputes confirmed a quarter of the transactions; on some the model was wrong.
    confirmed = rng.sample(range(N), N // 4)
    truth = [score[i] > 0.8 if rng.random() > 0.1 else score[i] <= 0.8 for i in confirmed]
    chargebacks = pl.DataFrame({"transaction_id": [ids[i] for i in confirmed],
                                "is_fraud": truth})
    chargebacks.write_csv(out / "chargebacks.csv")

    # Months later someone builds "labels" from an export of the predictions.
    exported = predictions.select("transaction_id", is_fraud="predicted_fraud")
    exported.write_csv(out / "labels_exported.csv")
    chargebacks.write_csv(out / "labels_confirmed.csv")
    print(f"wrote {N} predictions, {len(confirmed)} chargebacks and two label tables to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "out"))
