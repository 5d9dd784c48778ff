""""Does a value fit a type" in one place (`lineage._types`): `fits` judges one value (impact,
for a contract's allowed values), and data-health validation applies the same ranges and
rules to a whole column, vectorised; both spell values through `value_text`/`value_key`."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from lineage._types import INT_RANGES, fits, value_key, value_text
from lineage.health.validate import ColumnReport, _decimal_checks, _integer_checks, _length_check
from lineage.impact import _values_fit


def test_integers_fit_their_type_s_range_and_nothing_else_does() -> None:
    assert INT_RANGES["int8"] == (-128, 127) and INT_RANGES["uint16"] == (0, 65_535)
    assert fits(127, "int8") and fits(-128, "int8")
    assert not fits(128, "int8") and not fits(-1, "uint8") and not fits(2**64, "uint64")
    assert not fits(1.0, "int32") and not fits(True, "int32") and not fits("1", "int32")


def test_decimals_fit_by_digits_before_and_after_the_point() -> None:
    assert fits(99.99, "decimal(4,2)") and fits(-5, "decimal(4,2)")
    assert not fits(100, "decimal(4,2)")  # three digits before the point
    assert not fits(1.005, "decimal(4,2)")  # three after it
    assert fits(10**37, "decimal(38,0)")  # compared exactly, not in float64
    assert not fits(10**38, "decimal(38,0)")
    assert not fits("1.5", "decimal(4,2)") and not fits(False, "decimal(4,2)")


def test_a_decimal_s_scale_is_judged_at_the_tolerance_validation_uses() -> None:
    """impact's copy asked `round(v, s) == v`, which a float's artefact fails (0.1 + 0.2 is
    0.30000000000000004); validation's compared at a tolerance, as the values are float64.
    The shared rule is validation's, the fuller one."""
    assert fits(0.1 + 0.2, "decimal(3,1)")
    assert _values_fit([0.1 + 0.2, 0.5], "decimal(3,1)")


def test_text_fits_a_string_within_its_length() -> None:
    assert fits("abc", "varchar(3)") and fits("abc", "char(3)") and fits("x" * 10**4, "string")
    assert not fits("abcd", "varchar(3)") and not fits(3, "varchar(3)")


def test_what_cannot_be_told_does_not_fit() -> None:
    assert not fits("2024-01-01", "date") and not fits(1, "boolean")
    assert not _values_fit([], "date") and _values_fit([], "int32")


def test_a_value_is_spelt_once_for_comparisons() -> None:
    assert [value_text(v) for v in (True, False, 2, 2.5, "A ")] == [
        "true", "false", "2", "2.5", "A "]
    # the fuller key: the command line's text compares with a manifest's typed values
    assert value_key(True) == value_key(" TRUE ") == "true"
    assert value_key(2) == value_key(2.0) == value_key("2") == "2"
    assert value_key("a ") == "a"


def _column(values: list[Any], dtype: Any) -> tuple[ColumnReport, pl.Series]:
    series = pl.Series("c", values, dtype=dtype)
    return ColumnReport("c", None, None, len(values), 0), series


@pytest.mark.parametrize(("type_", "values"), [
    ("int8", [0, 127, 128, -128, -129, 1000]),
    ("uint16", [0, -1, 65_535, 65_536]),
    ("decimal(4,2)", [1.5, 99.99, 100.0, -99.995, 1.005, 0.1 + 0.2]),
    ("varchar(3)", ["a", "abc", "abcd", ""]),
])
def test_validation_flags_exactly_the_values_fits_refuses(type_: str, values: list[Any]) -> None:
    """The vectorised checks and the per-value one share ranges and rules: a column flags
    the values `fits` says do not fit, and only those."""
    if type_.startswith("varchar"):
        column, series = _column(values, pl.String)
        _length_check(column, series, type_, "schema", None, [])
    elif type_.startswith("decimal"):
        column, series = _column(values, pl.Float64)
        _decimal_checks(column, series, type_, "schema", None, [])
    else:
        column, series = _column(values, pl.Float64)
        _integer_checks(column, series, type_, "schema", None, [])
    flagged = sum(v.count or 0 for v in column.violations)
    refused = [v for v in values if not fits(int(v) if type_ in INT_RANGES else v, type_)]
    assert flagged == len(refused), (column.violations, refused)
