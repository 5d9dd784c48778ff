"""What an assertion is about, and which spellings of a key or a value are one.

**Scopes.** A batch's fingerprints start from its *scope*: the concept plus the entity
type of each key column, ``fraud_label|entity:transaction_id``. A user 123 and a
transaction 123 are then different entities even under one concept. A key column's entity
type is what its field declares (``entity: transaction``), else the column's name. Key
columns are folded in the order of their entity types, so a composite key matches whatever
order the columns are given in. Batches written before scopes existed carry a bare concept
and their keys in the order given; they are read as such (`parse_scope`).

**Keys** compare by their text (``123`` and ``"123"`` agree, ``"00123"`` does not), unless
the key field declares a collation: ``case_insensitive`` (``"AB"`` is ``"ab"``) or
``numeric`` (the value rules of `_fingerprint`: ``"00123"`` is ``123``).

**Values** follow the field's declaration before they are fingerprinted: a ``values:``
mapping (``{fraud: true, legit: false}``, matched case-insensitively), a boolean type
(``yes/no``, ``y/n``, ``t/f``, ``1/0`` are true/false), a ``precision:`` in decimal places
for floats, and a ``float32`` type (values are compared as float32, so a float32 round trip
or ``0.7300000001`` written as ``0.73`` still matches).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from .._errors import ValidationError
from ._fingerprint import (
    U64,
    _int_hash,
    _text_hash,
    component_hash,
    entity_and_value_spread,
    spread,
    spread_column,
)

SCOPE_MARK = "|entity:"
COLLATIONS = ("exact", "case_insensitive", "numeric")
_CANONICAL_INT = r"^(0|-?[1-9]\d{0,17})$"  # digits that an int64 holds, no leading zero
_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")


@dataclass(frozen=True)
class KeySpec:
    """A key column, the entity type it names and how its values compare."""

    column: str
    entity: str
    collation: str = "exact"

    @property
    def token(self) -> str:
        return self.entity if self.collation == "exact" else f"{self.entity}~{self.collation}"


@dataclass(frozen=True)
class ValueSpec:
    """How a field's values are spelled: its type, a mapping of labels, a precision."""

    type: str | None = None
    values: tuple[tuple[str, str], ...] = ()
    precision: int | None = None

    @classmethod
    def of(cls, properties: Mapping[str, Any]) -> ValueSpec:
        mapping = properties.get("values") or {}
        pairs = tuple(sorted((_label_text(k), _label_text(v)) for k, v in mapping.items()))
        precision = properties.get("precision")
        return cls(type=properties.get("type"), values=pairs,
                   precision=None if precision is None else int(precision))


def _label_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip().lower()


def scope_of(concept: str, specs: Sequence[KeySpec]) -> str:
    """The scope string a batch's fingerprints start from (see the module docstring)."""
    return concept + SCOPE_MARK + ",".join(s.token for s in specs)


def parse_scope(stored: str) -> tuple[str, tuple[tuple[str, str], ...] | None]:
    """(concept, ((entity, collation), ...)) of a stored scope; None for a batch written
    before scopes (a bare concept)."""
    concept, mark, rest = stored.rpartition(SCOPE_MARK)
    if not mark:
        return stored, None
    tokens = []
    for token in rest.split(","):
        entity, _, collation = token.partition("~")
        tokens.append((entity, collation or "exact"))
    return concept, tuple(tokens)


def key_specs(properties: Mapping[str, Mapping[str, Any]],
              columns: Sequence[str]) -> list[KeySpec]:
    """The key columns as KeySpecs, in canonical order (by entity type, then column).
    `properties` maps a column to its field's properties, where the field is known."""
    specs = []
    for column in columns:
        props = properties.get(column) or {}
        collation = str(props.get("collation") or "exact")
        if collation not in COLLATIONS:
            raise ValidationError(f"key field '{column}': unknown collation '{collation}'; "
                                  f"collations are: {', '.join(COLLATIONS)}")
        specs.append(KeySpec(column, str(props.get("entity") or column), collation))
    return sorted(specs, key=lambda s: (s.entity, s.column))


# ------------------------------------------------------------------ keys


def key_component(values: pl.Series, collation: str = "exact") -> np.ndarray:
    """One uint64 per key value under `collation` (see the module docstring)."""
    if collation == "numeric" or not (values.dtype == pl.Utf8 or values.dtype == pl.Categorical
                                      or isinstance(values.dtype, pl.Enum)):
        return component_hash(values)  # numbers, dates, ... hash as themselves
    text = values.cast(pl.Utf8).str.strip_chars()
    if collation == "case_insensitive":
        text = text.str.to_lowercase()
    is_int = text.str.contains(_CANONICAL_INT).fill_null(False).to_numpy()
    out = np.empty(len(text), dtype=U64)
    if is_int.any():
        ints = text.filter(pl.Series(is_int)).cast(pl.Int64).to_numpy()
        out[is_int] = _int_hash(ints)  # as an integer column hashes: 123 is "123"
    if not is_int.all():
        out[~is_int] = _text_hash(text.filter(pl.Series(~is_int)))
    return out


def key_spreads(frame: pl.DataFrame, specs: Sequence[KeySpec]) -> list[np.ndarray]:
    return [spread(key_component(frame[s.column], s.collation)) for s in specs]


# ------------------------------------------------------------------ values


def normalise_values(values: pl.Series, spec: ValueSpec) -> pl.Series:
    """The values as the field declares them spelled (see the module docstring)."""
    if spec.values:
        source, target = zip(*spec.values, strict=True)
        text = values.cast(pl.Utf8).str.strip_chars().str.to_lowercase()
        mapped = text.replace_strict(list(source), list(target), default=None)
        values = pl.select(pl.coalesce(mapped, values.cast(pl.Utf8))).to_series()
    if spec.type == "boolean" and values.dtype == pl.Utf8:
        text = values.str.strip_chars().str.to_lowercase()
        values = pl.select(
            pl.when(text.is_in(_TRUE)).then(pl.lit("true"))
            .when(text.is_in(_FALSE)).then(pl.lit("false"))
            .otherwise(values)).to_series()
    if spec.precision is not None or spec.type == "float32":
        values = _rounded(values, spec)
    return values


def _rounded(values: pl.Series, spec: ValueSpec) -> pl.Series:
    numbers = values if values.dtype.is_float() else values.cast(pl.Float64, strict=False)
    if numbers.dtype.is_integer():
        return values
    numbers = numbers.cast(pl.Float64)
    if spec.type == "float32":
        numbers = numbers.cast(pl.Float32).cast(pl.Float64)
    if spec.precision is not None:
        numbers = numbers.round(spec.precision)
    if values.dtype.is_float() or values.dtype.is_decimal():
        return numbers
    # text that reads as a number becomes the rounded number's text; other text stays
    return pl.select(pl.coalesce(numbers.cast(pl.Utf8), values.cast(pl.Utf8))).to_series()


def value_spread(values: pl.Series, spec: ValueSpec) -> np.ndarray:
    return spread_column(normalise_values(values, spec))


# ------------------------------------------------------------------ fingerprints


def fingerprints(scope: str, frame: pl.DataFrame, key_columns: Sequence[str],
                 spread_value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(entity, value) fingerprints of `frame`'s rows under a stored scope. For a scoped
    batch the key columns are given in the scope's entity order (`key_columns[i]` names
    entity i); for a legacy batch in the order they were tagged with."""
    _, tokens = parse_scope(scope)
    if tokens is None:
        keys = [spread_column(frame[c]) for c in key_columns]
    else:
        keys = [spread(key_component(frame[c], collation))
                for c, (_, collation) in zip(key_columns, tokens, strict=True)]
    return entity_and_value_spread(scope, keys, spread_value)


def first_conflict(entity: np.ndarray, pairs: np.ndarray) -> list[int] | None:
    """Rows (0-based; the first conflicting entity's, one per value, at most 5) where one
    entity has two values; None when every entity has one value. `pairs` fingerprints
    (entity, value).

    The usual table names every entity once, which one hash count settles; otherwise, as
    many distinct pairs as distinct entities means no entity has two values."""
    entities = pl.Series(entity).n_unique()  # a hash count, cheaper than a sort
    if entities == len(entity) or pl.Series(pairs).n_unique() == entities:
        return None
    frame = pl.DataFrame({"e": entity, "v": pairs}).with_row_index("row")
    conflicted = frame.unique(["e", "v"], keep="first").filter(pl.col("e").is_duplicated())
    first = conflicted.sort("row")["e"][0]
    rows = (frame.filter(pl.col("e") == first)
            .unique("v", keep="first", maintain_order=True)["row"].head(5))
    return [int(r) for r in rows.to_list()]
