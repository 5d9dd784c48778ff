"""Canonical values: the same fact, spelled differently, fingerprints the same."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest

from lineage.provenance import fingerprint
from lineage.provenance._fingerprint import component_hash

C = "fraud_label"


@pytest.mark.parametrize(
    "spellings",
    [
        [1, 1.0, "1", " 1 ", "+1", "001", True, "true", "TRUE"],
        [0, 0.0, -0.0, "0", False, "false", " False "],
        [0.25, "0.25", "2.5e-1", " .25"],
        [None, float("nan"), "", "   "],
        ["fraud", " fraud ", "fraud\t"],
        [date(2026, 1, 1), "2026-01-01"],
        [datetime(2026, 1, 1, 10, tzinfo=UTC), datetime(2026, 1, 1, 10), "2026-01-01T10:00:00Z",
         "2026-01-01 10:00:00", "2026-01-01T10:00", "2026-01-01T12:00:00+02:00",
         datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))],
    ],
)
def test_spellings_of_one_value_share_a_fingerprint(spellings: list[object]) -> None:
    prints = {fingerprint(C, ["t1"], v) for v in spellings}
    assert len(prints) == 1, spellings


@pytest.mark.parametrize(
    ("a", "b"),
    [(1, 2), (1, 0.5), ("fraud", "Fraud"), (None, 0), (date(2026, 1, 1), "2026-01-02"),
     ("1", "1.5"), ("12345678901234567890", "12345678901234567891")],
)
def test_different_values_differ(a: object, b: object) -> None:
    assert fingerprint(C, ["t1"], a) != fingerprint(C, ["t1"], b)


def test_concept_and_key_are_part_of_the_fingerprint() -> None:
    assert fingerprint(C, ["t1"], 1) != fingerprint("other", ["t1"], 1)
    assert fingerprint(C, ["t1"], 1) != fingerprint(C, ["t2"], 1)
    assert fingerprint(C, [1, 2], 1) != fingerprint(C, [2, 1], 1)
    assert fingerprint(C, [7], 1) == fingerprint(C, ["7"], 1)


def test_fingerprints_are_stable_across_releases() -> None:
    """Stored fingerprints must keep matching: these values may never change."""
    assert fingerprint("fraud_label", [7], 1) == -2862468428702726931
    assert fingerprint("fraud_label", ["abc"], "x") == 7971830180412415918


def test_column_hashing_matches_one_value_at_a_time() -> None:
    values = [1, None, 3]
    column = component_hash(pl.Series(values))
    single = np.concatenate([component_hash(pl.Series([v], dtype=pl.Int64)) for v in values])
    assert (column == single).all()


def test_long_columns_hash_like_single_values_across_blocks() -> None:
    """Hashing runs block by block: rows on both sides of a block edge agree with the
    one-row path."""
    from lineage.provenance._fingerprint import _BLOCK, fingerprint_frame

    n = 2 * _BLOCK + 7
    frame = pl.DataFrame({"k": np.arange(n, dtype=np.int64), "v": np.arange(n) % 3 == 0})
    _, values = fingerprint_frame(frame, C, ["k"], "v")
    for row in (0, _BLOCK - 1, _BLOCK, 2 * _BLOCK, n - 1):
        assert values[row] == fingerprint(C, [row], row % 3 == 0)


def test_a_boolean_column_spreads_like_any_other() -> None:
    from lineage.provenance._fingerprint import spread, spread_column

    column = pl.Series([True, None, False, True], dtype=pl.Boolean)
    assert spread_column(column).tolist() == spread(component_hash(column)).tolist()
    assert spread_column(column.drop_nulls()).tolist() == \
        spread(component_hash(column.drop_nulls())).tolist()
