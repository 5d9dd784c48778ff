"""One order of how much a derivation keeps of its input (`Transformation.loss`), used by
the dbt import (a column's strongest path) and by OpenLineage column lineage (of several
DIRECT subtypes for one pair, the least preserving)."""

from __future__ import annotations

from lineage import Transformation
from lineage.dbt import _merge
from lineage.openlineage._mapping import _edge_properties


def test_the_order_runs_from_a_copy_to_a_column_that_only_orders_rows() -> None:
    ranked = sorted(Transformation, key=Transformation.loss)
    assert [t for t in ranked if t in {Transformation.IDENTITY, Transformation.TRANSFORMATION,
                                       Transformation.AGGREGATION, Transformation.WINDOW}] == [
        Transformation.IDENTITY, Transformation.TRANSFORMATION, Transformation.AGGREGATION,
        Transformation.WINDOW]
    # kinds that pick or combine rows say nothing of the values: read as a computation
    assert Transformation.FILTER.loss() == Transformation.TRANSFORMATION.loss()


def test_dbt_keeps_the_strongest_value_carrying_path() -> None:
    assert _merge(Transformation.IDENTITY, Transformation.AGGREGATION) is \
        Transformation.AGGREGATION
    assert _merge(Transformation.TRANSFORMATION, Transformation.IDENTITY) is \
        Transformation.TRANSFORMATION
    assert _merge(Transformation.AGGREGATION, Transformation.WINDOW) is \
        Transformation.AGGREGATION


def _chosen(*subtypes: str) -> str:
    return str(_edge_properties([{"type": "DIRECT", "subtype": s} for s in subtypes])[
        "transformation"])


def test_openlineage_takes_the_least_preserving_direct_subtype_in_any_order() -> None:
    assert _chosen("IDENTITY", "AGGREGATION", "TRANSFORMATION") == "aggregation"
    assert _chosen("TRANSFORMATION", "IDENTITY") == "transformation"
    # a subtype it does not know is a computation: no copy
    assert _chosen("CUSTOM", "IDENTITY") == "transformation"
    assert _chosen("IDENTITY", "CUSTOM") == "transformation"


def test_a_direct_window_subtype_ranks_below_aggregation_as_the_dbt_import_ranks_it() -> None:
    """The mapping's own table ranked only IDENTITY, TRANSFORMATION and AGGREGATION (WINDOW,
    off the spec's DIRECT subtypes, ranked as a computation); dbt's ranked WINDOW last.
    The shared order keeps dbt's, the fuller one."""
    assert _chosen("AGGREGATION", "WINDOW") == "window"
    assert _chosen("WINDOW", "IDENTITY") == "window"
