"""The record APIs take what data teams hold: polars (eager or lazy), pandas, Arrow, or a
file; each gives the same fingerprints and the same guard verdicts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pytest

import lineage
from lineage import provenance
from lineage.guard import check_training
from lineage.store.base import Store

from .test_guard import IDS, PREDICTED, SCENARIO

FORMS = ["polars", "lazy", "pandas", "arrow", "parquet"]


def as_form(frame: pl.DataFrame, form: str, tmp_path: Path) -> Any:
    if form == "lazy":
        return frame.lazy()
    if form == "pandas":
        return frame.to_pandas()
    if form == "arrow":
        return frame.to_arrow()
    if form == "parquet":
        path = tmp_path / "table.parquet"
        frame.write_parquet(path)
        return str(path)
    return frame


@pytest.mark.parametrize("form", FORMS)
def test_tagging_any_form_stores_the_same_fingerprints(store: Store, tmp_path: Path,
                                                       form: str) -> None:
    lineage.manifest.register_text(store, SCENARIO)
    predictions = pl.DataFrame({"transaction_id": IDS, "predicted_fraud": PREDICTED,
                                "score": [0.9] * 10})
    reference = provenance.tag(store, predictions, dataset="fraud.predictions",
                               field="predicted_fraud", key="transaction_id",
                               origin="ai_inferred", agent="fraud@2", confidence_column="score")
    again = provenance.tag(store, as_form(predictions, form, tmp_path),
                           dataset="fraud.predictions", field="predicted_fraud",
                           key="transaction_id", origin="ai_inferred", agent="fraud@2",
                           confidence_column="score")
    arrays = store.assertion_arrays([reference.id, again.id])
    first, second = arrays[reference.id], arrays[again.id]
    assert again.rows == reference.rows == 10
    assert first.entity.tolist() == second.entity.tolist()
    assert first.value.tolist() == second.value.tolist()


@pytest.mark.parametrize("form", FORMS)
def test_the_guard_gives_the_same_verdicts_for_any_form(store: Store, tmp_path: Path,
                                                        form: str) -> None:
    lineage.manifest.register_text(store, SCENARIO)
    provenance.tag(store, pl.DataFrame({"transaction_id": IDS, "predicted_fraud": PREDICTED}),
                   dataset="fraud.predictions", field="predicted_fraud",
                   key="transaction_id", origin="ai_inferred", agent="fraud@2")
    train = pl.DataFrame({"transaction_id": [*IDS, "t99"],
                          "is_fraud": [*PREDICTED, False]})
    with pytest.raises(lineage.ProvenanceViolation) as err:
        check_training(store, as_form(train, form, tmp_path), key="transaction_id",
                       label="is_fraud", dataset="fraud.labels_v3")
    assert err.value.report.counts == {"ai_only": 10, "unverified": 1}


def test_an_unsupported_table_type_is_a_clear_error(store: Store) -> None:
    lineage.manifest.register_text(store, SCENARIO)
    with pytest.raises(lineage.ValidationError, match="polars/pandas DataFrame"):
        check_training(store, [{"transaction_id": "t0", "is_fraud": True}],
                       key="transaction_id", label="is_fraud")
    for column in (pd.Series([1, 2]), pl.Series([1, 2]).to_arrow()):
        with pytest.raises(lineage.ValidationError, match="polars/pandas DataFrame"):
            provenance.tag(store, column, dataset="fraud.predictions",
                           field="predicted_fraud", key="transaction_id",
                           origin="ai_inferred", agent="fraud@2")


@pytest.mark.parametrize("suffix", ["parquet", "arrow"])
def test_the_guard_reads_a_wide_file_for_its_columns_and_names_a_missing_one(
    store: Store, tmp_path: Path, suffix: str
) -> None:
    lineage.manifest.register_text(store, SCENARIO)
    provenance.tag(store, pl.DataFrame({"transaction_id": IDS, "predicted_fraud": PREDICTED}),
                   dataset="fraud.predictions", field="predicted_fraud",
                   key="transaction_id", origin="ai_inferred", agent="fraud@2")
    wide = pl.DataFrame({"amount": list(range(10)), "transaction_id": IDS,
                         "is_fraud": PREDICTED, "country": ["FR"] * 10})
    path = tmp_path / f"train.{suffix}"
    wide.write_parquet(path) if suffix == "parquet" else wide.write_ipc(path)
    report = check_training(store, str(path), key="transaction_id", label="is_fraud",
                            dataset="fraud.labels_v3", raise_on_block=False)
    assert report.counts == {"ai_only": 10}
    with pytest.raises(lineage.ValidationError, match="no column 'is_frad'; did you mean "
                                                      "'is_fraud'"):
        check_training(store, str(path), key="transaction_id", label="is_frad",
                       dataset="fraud.labels_v3")
