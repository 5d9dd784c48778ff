"""Input of `Store.bulk_load`, normalised once for every backend.

`bulk_load` takes nodes and edges in any of three forms, and each becomes one polars
DataFrame of text columns (the backends only ever see that):

* `NodeSpec` / `EdgeSpec` objects (any iterable);
* plain tuples: nodes ``(key, kind, name[, namespace[, properties]])``, edges
  ``(src, dst, kind[, properties])``; a kind is a `NodeKind`/`EdgeKind` or its text value,
  properties a dict, a JSON object text or None;
* a columnar table, a polars DataFrame or a pyarrow Table / RecordBatch, with the columns
  `NODE_COLUMNS` / `EDGE_COLUMNS` (`namespace` and `properties` may be left out;
  properties are JSON object texts or a struct column; nulls mean none / ``{}``).

Why columns and not objects: a pydantic object costs ~7 us to build, so 3.5 million of them
(a 10^6-node graph) take longer than the load itself.

Checks made here, before any write: required values present, kinds known, properties JSON
objects, no key twice among the nodes of one load. The backend checks, inside the load's
transaction and before any edge is written, what is cheaper once keys are ids: that edge
endpoints exist (loaded or stored) and that no (src, dst, kind) comes twice in one load (the
SQL backend checks while it writes the nodes; the transaction then rolls back).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import polars as pl

from .._errors import ValidationError
from .._model import EdgeSpec, NodeSpec
from .._vocabulary import EdgeKind, NodeKind

#: columns of a columnar node input (the first three required)
NODE_COLUMNS = ("key", "kind", "name", "namespace", "properties")
#: columns of a columnar edge input (the first three required)
EDGE_COLUMNS = ("src", "dst", "kind", "properties")

_NODE_KINDS = frozenset(k.value for k in NodeKind)
_EDGE_KINDS = frozenset(k.value for k in EdgeKind)
#: how many offending values an error message shows
_SHOWN = 5


@dataclass(frozen=True)
class BulkInput:
    """A normalised bulk load: `nodes` has the text columns NODE_COLUMNS (namespace may be
    null, properties is JSON object text), `edges` the text columns EDGE_COLUMNS."""

    nodes: pl.DataFrame
    edges: pl.DataFrame


def normalise(nodes: Any, edges: Any) -> BulkInput:
    """Both inputs as checked DataFrames; ValidationError (nothing written) when bad.

    An exception raised by the caller's own iterator propagates unchanged; since the whole
    input is read before the store is touched, the store is unchanged then too.
    """
    node_frame = _node_frame(nodes)
    edge_frame = _edge_frame(edges)
    _check_kinds(node_frame, _NODE_KINDS, "node", NodeKind)
    _check_kinds(edge_frame, _EDGE_KINDS, "edge", EdgeKind)
    # in key order: the SQL backends number new nodes in key order anyway (polars then
    # skips its sort, knowing the column sorted), and a key given twice is two neighbours
    node_frame = node_frame.sort("key")
    _check_unique_keys(node_frame)
    return BulkInput(node_frame, edge_frame)


# ------------------------------------------------------------------ the three input forms


def _is_table(value: Any) -> bool:
    if isinstance(value, pl.DataFrame):
        return True
    module = type(value).__module__ or ""
    return module.startswith("pyarrow") and type(value).__name__ in ("Table", "RecordBatch")


def _node_frame(nodes: Any) -> pl.DataFrame:
    if _is_table(nodes):
        return _columnar(nodes, NODE_COLUMNS, "nodes")
    if isinstance(nodes, str | bytes) or not isinstance(nodes, Iterable):
        raise ValidationError(f"bulk_load nodes: expected NodeSpecs, tuples or a DataFrame/Arrow "
                              f"table, got {type(nodes).__name__}")
    keys: list[Any] = []
    kinds: list[Any] = []
    names: list[Any] = []
    namespaces: list[Any] = []
    props: list[str] = []
    for i, item in enumerate(nodes):
        if isinstance(item, NodeSpec):
            keys.append(item.key)
            kinds.append(item.kind.value)
            names.append(item.name)
            namespaces.append(item.namespace)
            props.append(_json(item.properties, "nodes", i))
        elif isinstance(item, tuple) and 3 <= len(item) <= 5:
            keys.append(item[0])
            kinds.append(getattr(item[1], "value", item[1]))
            names.append(item[2])
            namespaces.append(item[3] if len(item) > 3 else None)
            props.append(_json(item[4] if len(item) > 4 else None, "nodes", i))
        else:
            raise ValidationError(
                f"bulk_load nodes: item {i} is {_what(item)}; expected a NodeSpec or a tuple "
                "(key, kind, name[, namespace[, properties]])")
    return _frame({"key": keys, "kind": kinds, "name": names, "namespace": namespaces,
                   "properties": props}, "nodes")


def _edge_frame(edges: Any) -> pl.DataFrame:
    if _is_table(edges):
        return _columnar(edges, EDGE_COLUMNS, "edges")
    if isinstance(edges, str | bytes) or not isinstance(edges, Iterable):
        raise ValidationError(f"bulk_load edges: expected EdgeSpecs, tuples or a DataFrame/Arrow "
                              f"table, got {type(edges).__name__}")
    srcs: list[Any] = []
    dsts: list[Any] = []
    kinds: list[Any] = []
    props: list[str] = []
    for i, item in enumerate(edges):
        if isinstance(item, EdgeSpec):
            srcs.append(item.src)
            dsts.append(item.dst)
            kinds.append(item.kind.value)
            props.append(_json(item.properties, "edges", i))
        elif isinstance(item, tuple) and 3 <= len(item) <= 4:
            srcs.append(item[0])
            dsts.append(item[1])
            kinds.append(getattr(item[2], "value", item[2]))
            props.append(_json(item[3] if len(item) > 3 else None, "edges", i))
        else:
            raise ValidationError(
                f"bulk_load edges: item {i} is {_what(item)}; expected an EdgeSpec or a tuple "
                "(src, dst, kind[, properties])")
    return _frame({"src": srcs, "dst": dsts, "kind": kinds, "properties": props}, "edges")


def _what(item: Any) -> str:
    if isinstance(item, tuple):
        return f"a tuple of {len(item)}"
    return f"a {type(item).__name__}"


#: JSON texts of recently seen flat property dicts: bulk input repeats a few of them
#: (e.g. {"transformation": "identity"}) millions of times, and json.dumps costs ~10 us
_JSON_CACHE: dict[tuple[Any, ...], str] = {}
_JSON_CACHE_SIZE = 4096


def _json(properties: Any, what: str, i: int) -> str:
    """Properties as JSON object text (the form every backend stores)."""
    if properties is None or (isinstance(properties, dict) and not properties):
        return "{}"
    if isinstance(properties, dict):
        try:  # the value's type is part of the key: 1, 1.0 and True are equal in Python
            key = tuple((k, type(v), v) for k, v in properties.items())
            text = _JSON_CACHE.get(key)
        except TypeError:  # an unhashable value (a list, a dict): no caching
            return json.dumps(properties, default=str, sort_keys=True)
        if text is None:
            text = json.dumps(properties, default=str, sort_keys=True)
            if len(_JSON_CACHE) >= _JSON_CACHE_SIZE:
                _JSON_CACHE.clear()
            _JSON_CACHE[key] = text
        return text
    if isinstance(properties, str):  # already JSON text: checked with the columnar input
        return properties
    raise ValidationError(f"bulk_load {what}: item {i} has properties of type "
                          f"{type(properties).__name__}; expected a dict or JSON object text")


def _frame(columns: dict[str, list[Any]], what: str) -> pl.DataFrame:
    try:
        frame = pl.DataFrame(columns, schema={name: pl.String for name in columns}, strict=True)
    except (TypeError, ValueError, pl.exceptions.PolarsError) as exc:
        bad = _first_non_text(columns)
        raise ValidationError(f"bulk_load {what}: {bad or exc}") from None
    return _checked(frame, what)


def _first_non_text(columns: dict[str, list[Any]]) -> str | None:
    for name, values in columns.items():
        for i, value in enumerate(values):
            if value is not None and not isinstance(value, str):
                return (f"item {i} has a {type(value).__name__} as {name}, "
                        f"expected text ({value!r})")
    return None


def _columnar(table: Any, columns: tuple[str, ...], what: str) -> pl.DataFrame:
    frame = table if isinstance(table, pl.DataFrame) else pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    unknown = [c for c in frame.columns if c not in columns]
    missing = [c for c in columns[:3] if c not in frame.columns]
    if unknown or missing:
        problem = (f"unknown column(s) {', '.join(unknown)}" if unknown
                   else f"missing column(s) {', '.join(missing)}")
        raise ValidationError(f"bulk_load {what}: {problem}; the columns are "
                              f"{', '.join(columns)} (the last ones optional)")
    exprs = []
    for name in columns:
        if name not in frame.columns:
            exprs.append(pl.lit("{}" if name == "properties" else None, pl.String).alias(name))
            continue
        dtype = frame.schema[name]
        if name == "properties" and isinstance(dtype, pl.Struct):
            exprs.append(pl.col(name).struct.json_encode().fill_null("{}"))
        elif name == "properties" and dtype in (pl.String, pl.Null):
            exprs.append(pl.col(name).cast(pl.String).fill_null("{}"))
        elif name != "properties" and (dtype in (pl.String, pl.Null)
                                       or isinstance(dtype, pl.Categorical | pl.Enum)):
            exprs.append(pl.col(name).cast(pl.String))
        else:
            raise ValidationError(f"bulk_load {what}: column {name} is {dtype}; expected text"
                                  + (" (JSON objects) or a struct" if name == "properties"
                                     else ""))
    frame = frame.select(exprs)
    _check_json(frame, what)
    return _checked(frame, what)


def _checked(frame: pl.DataFrame, what: str) -> pl.DataFrame:
    """Required values present: every column but namespace; keys not empty."""
    for name in frame.columns:
        if name == "namespace":
            continue
        nulls = frame[name].null_count()
        if nulls:
            row = int(frame[name].is_null().arg_max() or 0)
            raise ValidationError(f"bulk_load {what}: {name} is missing in {nulls} row(s), "
                                  f"the first at row {row}")
    for name in ("key", "src", "dst"):
        if name in frame.columns and frame.height and (frame[name].str.len_bytes() == 0).any():
            row = int((frame[name].str.len_bytes() == 0).arg_max() or 0)
            raise ValidationError(f"bulk_load {what}: {name} is empty at row {row}")
    return frame


def _check_json(frame: pl.DataFrame, what: str) -> None:
    """Properties given as text must be JSON objects (checked once per distinct value)."""
    for text in frame["properties"].unique().to_list():
        try:
            ok = isinstance(json.loads(text), dict)
        except ValueError:
            ok = False
        if not ok:
            raise ValidationError(f"bulk_load {what}: properties must be JSON objects, got "
                                  f"{text[:80]!r}")


def _check_kinds(frame: pl.DataFrame, known: frozenset[str], what: str,
                 enum: type[NodeKind] | type[EdgeKind]) -> None:
    unknown = sorted(set(frame["kind"].unique().to_list()) - known)
    if unknown:
        raise ValidationError(f"bulk_load: unknown {what} kind(s) "
                              f"{', '.join(repr(k) for k in unknown[:_SHOWN])}; "
                              f"{what} kinds are {', '.join(k.value for k in enum)}")


def _check_unique_keys(nodes: pl.DataFrame) -> None:
    """One load may not name the same node twice (which row should win is a guess; `apply`
    is the upsert). `nodes` is sorted by key: a repeat equals its neighbour, found without
    hashing 10^6 key texts."""
    if nodes.height < 2:
        return
    keys = nodes["key"]
    again = keys.slice(1) == keys.slice(0, keys.len() - 1)
    if again.any():
        repeated = keys.slice(1).filter(again)
        shown = ", ".join(repeated.unique(maintain_order=True).head(_SHOWN).to_list())
        raise ValidationError(f"bulk_load: {repeated.len()} rows repeat a node key given "
                              f"earlier in the same load: {shown}; give each once")
