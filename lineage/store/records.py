"""The record-assertion part of the Store interface: who asserted which value of which
record (observed, human-labelled, AI-inferred), stored in batches of column arrays.

Features that read or write record provenance (the training guard, `lineage.provenance`)
use these methods; they name graph nodes (field, agent, dataset version) by key, so a
backend answers `_existing` for its nodes here too.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .._errors import ValidationError
from .._model import ASSERTION_COLUMNS, AssertionArrays, AssertionBatch, GraphBatch

if TYPE_CHECKING:
    import numpy as np


class RecordStore(ABC):
    """Record assertions: bulky, append-only rows (10^7 and more) beside the graph."""

    # ---------------------------------------------------------------- record assertions

    def write_assertions(
        self, batch: AssertionBatch, arrays: AssertionArrays, nodes: GraphBatch | None = None
    ) -> AssertionBatch:
        """Store one batch of record assertions (and `nodes`, e.g. a new agent) in one
        transaction; returns the batch with its id. The field, agent and dataset version
        must exist (or be in `nodes`); confidences must be in [0, 1] or NaN."""
        n = len(arrays)
        columns = [arrays.entity, arrays.value, arrays.confidence]
        if arrays.reviewed_batch is not None or arrays.reviewed_row is not None:
            if arrays.reviewed_batch is None or arrays.reviewed_row is None:
                raise ValidationError("reviewed_batch and reviewed_row go together")
            columns += [arrays.reviewed_batch, arrays.reviewed_row]
        if n == 0 or batch.rows != n or any(len(c) != n for c in columns):
            raise ValidationError(f"an assertion batch needs rows, all columns of {batch.rows}")
        import numpy as np  # only a record-tag write pays for it

        conf = arrays.confidence
        bad = ~np.isnan(conf) & ((conf < 0) | (conf > 1))
        if bad.any():
            raise ValidationError(f"confidence must be in [0, 1]: row {int(np.argmax(bad))} "
                                  f"has {float(conf[np.argmax(bad)])}")
        pending = set(nodes.nodes) if nodes else set()
        needed = {k for k in (batch.field, batch.agent, batch.dataset_version) if k}
        missing = sorted(needed - pending - self._existing(needed - pending))
        if missing:
            raise ValidationError(f"record assertions refer to unknown nodes: {', '.join(missing)}")
        return self._write_assertions(batch, arrays, nodes)

    def assertion_batches(
        self, *, concepts: Iterable[str] | None = None, fields: Iterable[str] | None = None
    ) -> list[AssertionBatch]:
        """Stored batches whose concept is in `concepts` or whose field is in `fields`
        (every batch when both are None), oldest first."""
        return self._assertion_batches(
            None if concepts is None else sorted(set(concepts)),
            None if fields is None else sorted(set(fields)),
        )

    def assertion_arrays(self, batch_ids: Iterable[int]) -> dict[int, AssertionArrays]:
        """The rows of the given batches, by batch id."""
        found = self._assertion_columns(sorted(set(batch_ids)), list(ASSERTION_COLUMNS))
        return {i: AssertionArrays(**columns) for i, columns in found.items()}

    def assertion_columns(self, batch_ids: Iterable[int],
                          columns: Iterable[str]) -> dict[int, dict[str, np.ndarray]]:
        """Only the named columns of the given batches' rows, by batch id (a reader that
        needs two of the five columns need not load the rest). Columns are those of
        AssertionArrays: `entity`, `value` (int64), `confidence` (float32),
        `reviewed_batch`, `reviewed_row` (int64; left out for a batch that reviews
        nothing). Unknown batch ids are left out; ValidationError for an unknown column."""
        wanted = list(dict.fromkeys(columns))
        unknown = [c for c in wanted if c not in ASSERTION_COLUMNS]
        if unknown or not wanted:
            raise ValidationError(f"assertion columns are {', '.join(ASSERTION_COLUMNS)}; "
                                  f"got {', '.join(map(repr, unknown)) or 'none'}")
        return self._assertion_columns(sorted(set(batch_ids)), wanted)

    # ---------------------------------------------------------------- backend hooks

    @abstractmethod
    def _existing(self, keys: set[str]) -> set[str]: ...

    @abstractmethod
    def _write_assertions(self, batch: AssertionBatch, arrays: AssertionArrays,
                          nodes: GraphBatch | None) -> AssertionBatch: ...

    @abstractmethod
    def _assertion_batches(self, concepts: list[str] | None,
                           fields: list[str] | None) -> list[AssertionBatch]: ...

    @abstractmethod
    def _assertion_columns(self, batch_ids: list[int],
                           columns: list[str]) -> dict[int, dict[str, np.ndarray]]: ...
