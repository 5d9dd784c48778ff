"""Table bodies: the JSON `rows` of `/assertions` and `/training/check`, as polars frames.

Why a module of its own: reading a table body is most of what these routes cost, and done
naively it stalls the server. pydantic would validate and copy every row in one call that
holds the interpreter lock (0.5 s for 60,000 rows), a nested cell made polars work for
minutes, and distinct names per row made it build a rows x names frame; so the request
model validates all but a well-formed `rows`, and `_frame` checks the cells itself and
builds the frame in pieces. A large body is read in a process of its own (`TableReader`):
in the server's process its parse and frame building held the interpreter lock for up to a
second and stalled every other request (issue 15); only the finished table comes back, as
Arrow IPC.
"""

# The spawned reader process unpickles `_read_table_answer` and the request model by their
# module paths: both must stay importable module-level names.

from __future__ import annotations

import asyncio
import io
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import polars as pl
from pydantic import BaseModel
from pydantic import ValidationError as PydanticError
from starlette.concurrency import run_in_threadpool

from .._errors import LineageError, StoreError, ValidationError
from . import _http


class TableError(Exception):
    """A table request refused (`error`), with the `origin` it named (a str, or None): the
    assertions route checks the caller may assert that origin before reporting the rest."""

    def __init__(self, error: LineageError, origin: str | None) -> None:
        super().__init__(error.message)
        self.error, self.origin = error, origin


def read_table(model: type[BaseModel], raw: bytes) -> tuple[dict[str, Any], pl.DataFrame,
                                                             str | None]:
    """The body of a table request: its fields validated by the request `model` (a model
    with `rows`; all fields but `rows`), its rows as a frame (`_frame`) and its `origin`.
    Raises TableError."""
    origin: str | None = None
    try:
        data = _http.parse_json(raw)
        if isinstance(data, dict) and isinstance(data.get("origin"), str):
            origin = data["origin"]
        parsed, rows = _table_request(model, data)
        frame = _frame(rows)
    except LineageError as exc:
        raise TableError(exc, origin) from None
    return parsed.model_dump(exclude={"rows"}), frame, origin


def _read_table_answer(model: type[BaseModel], raw: bytes) -> tuple[Any, ...]:
    """`read_table` in a process of `TableReader`'s: what crosses back is plain data, the
    frame as Arrow IPC bytes and an error as its HTTP answer."""
    try:
        fields, frame, origin = read_table(model, raw)
    except TableError as exc:
        return ("error", _http.error_answer(exc.error), exc.origin)
    out = io.BytesIO()
    frame.write_ipc(out)
    return ("ok", fields, out.getvalue(), origin)


class TableReader:
    """Reads table bodies: one of up to `in_process_bytes` in a worker thread, a larger one
    in a process of its own (started at the first), so that the server's own process never
    holds its interpreter lock for it."""

    def __init__(self, in_process_bytes: int) -> None:
        self._in_process_bytes = in_process_bytes
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    async def read(self, model: type[BaseModel], raw: bytes) -> tuple[dict[str, Any],
                                                                      pl.DataFrame, str | None]:
        """`read_table(model, raw)`, off the event loop. Raises TableError; StoreError when
        the reading process died while reading this body."""
        if len(raw) <= self._in_process_bytes:
            return await run_in_threadpool(read_table, model, raw)
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    1, mp_context=multiprocessing.get_context("spawn"))
            pool = self._pool
        try:
            answer = await asyncio.wrap_future(pool.submit(_read_table_answer, model, raw))
        except BrokenProcessPool:
            # the process died (killed, out of memory): the next request starts another
            with self._lock:
                if self._pool is pool:
                    self._pool = None
            pool.shutdown(wait=False)
            raise StoreError("the process reading large tables stopped while reading this "
                             "one; send it again") from None
        if answer[0] == "error":
            _status, body, headers = answer[1]
            raise TableError(_http.AnsweredError(_status, body, headers), answer[2])
        frame = await run_in_threadpool(pl.read_ipc, io.BytesIO(answer[2]))
        return answer[1], frame, answer[3]

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _table_request(model: type[Any], data: Any) -> tuple[Any, list[dict[str, Any]]]:
    """`data` validated by `model` (a request with `rows`), and its rows. A well-formed
    `rows` (a non-empty list of objects) is left out of pydantic, which would validate and
    copy a large table in one call holding the interpreter lock throughout (0.5 s for
    60,000 rows on a loaded machine); `_frame` checks its cells in Python instead."""
    rows = data.get("rows") if isinstance(data, dict) else None
    if isinstance(rows, list) and rows and all(type(row) is dict for row in rows):
        return validated(model, {**data, "rows": [{}]}), rows
    parsed = validated(model, data)  # pydantic says what is wrong with `rows`
    return parsed, parsed.rows


def validated(model: type[Any], data: Any) -> Any:
    """`data` validated by a request model; pydantic's first error as a ValidationError
    whose key is the field's JSON path."""
    try:
        return model.model_validate(data)
    except PydanticError as exc:
        err = exc.errors()[0]
        path = [p for p in err["loc"] if isinstance(p, str | int)]
        raise ValidationError(str(err["msg"]), key=_http.path_text(path) or None) from None


#: distinct column names a JSON table (`rows`) may have
MAX_TABLE_COLUMNS = 1000
_CELL_TYPES = (str, int, float, bool, type(None))
#: integers a table column holds (Int64 or UInt64); polars cannot build a column of more
_MIN_CELL_INT, _MAX_CELL_INT = -(2**63), 2**63 - 1
#: rows per polars frame built at once: each build holds the interpreter lock throughout
_FRAME_CHUNK_ROWS = 4096


def _frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """The table of JSON `rows` (objects of scalar cells, at most MAX_TABLE_COLUMNS
    distinct names); ValidationError naming the first cell or row at fault. A nested cell
    made polars work for minutes, and distinct names per row made it build a frame of
    rows x names."""
    columns: set[str] = set()
    for i, row in enumerate(rows):
        for name, cell in row.items():
            if not isinstance(cell, _CELL_TYPES):
                what = "an array" if isinstance(cell, list) else "an object"
                raise ValidationError("a table cell is a string, number, boolean or null, "
                                      f"not {what}", key=_http.path_text(["rows", i, name]))
            if type(cell) is int and not _MIN_CELL_INT <= cell <= _MAX_CELL_INT:
                raise ValidationError("a table cell's integer must fit in 64 bits (signed); "
                                      "send a larger number as a string",
                                      key=_http.path_text(["rows", i, name]))
        columns.update(row)
        if len(columns) > MAX_TABLE_COLUMNS:
            raise ValidationError(f"the rows name more than {MAX_TABLE_COLUMNS:,} distinct "
                                  "columns; send a table with fewer columns",
                                  key=_http.path_text(["rows", i]))
    try:
        if len(rows) <= _FRAME_CHUNK_ROWS:
            return pl.DataFrame(rows, infer_schema_length=None)
        # in pieces, so other threads (the event loop) run between them; the pieces'
        # column types meet at their common supertype, as one whole build infers them
        return pl.concat([pl.DataFrame(rows[i:i + _FRAME_CHUNK_ROWS], infer_schema_length=None)
                          for i in range(0, len(rows), _FRAME_CHUNK_ROWS)],
                         how="diagonal_relaxed")
    except (pl.exceptions.PolarsError, TypeError, ValueError, OverflowError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValidationError(f"rows cannot form a table: {reason}", key="rows") from None
