"""Train the next fraud model, but only after the store says the labels are ground truth.

    python examples/fraud/train.py out/labels_confirmed.csv     # passes, fits
    python examples/fraud/train.py out/labels_exported.csv      # refused: exit 3

The guard runs before any fitting: labels that only a model ever asserted (fraud@2's
predictions, laundered through a CSV export) are refused, and so is training fraud@3 on
its predecessor's outputs.
"""

from __future__ import annotations

import sys

import numpy as np
import polars as pl

import lineage
from lineage.guard import Policy, check_training


def fit_logistic(x: np.ndarray, y: np.ndarray, steps: int = 500) -> np.ndarray:
    """A small logistic regression by gradient descent (stands in for the real trainer)."""
    w = np.zeros(x.shape[1])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-x @ w))
        w -= 0.5 * x.T @ (p - y) / len(y)
    return w


def main(labels_path: str) -> int:
    store = lineage.connect()
    labels = pl.read_csv(labels_path)
    try:
        report = check_training(store, labels, key="transaction_id", label="is_fraud",
                                dataset="fraud.training_labels", model="fraud@3",
                                policy=Policy(unverified="block"))
    except lineage.ProvenanceViolation as refused:
        print(f"not training: {refused.report.summary()}")
        for finding in refused.report.findings:
            print(f"  {finding.message}")
        return 3
    print(report.summary())
    features = pl.read_csv(labels_path.replace(labels_path.rsplit("/", 1)[-1],
                                               "predictions.csv"))
    data = labels.join(features, on="transaction_id", how="inner")
    x = np.column_stack([np.ones(data.height), data["score"].to_numpy()])
    weights = fit_logistic(x, data["is_fraud"].cast(pl.Float64).to_numpy())
    print(f"fitted fraud@3 on {data.height} verified labels: weights {np.round(weights, 3)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "out/labels_confirmed.csv"))
