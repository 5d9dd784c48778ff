"""Impact: what is affected if a node (usually a field) changes, grouped by kind, with paths.

    report = impact(store, "transactions.category")
    report.groups["model_version"]   # [Reached(fraud@2 ...), Reached(fraud@3 ...)]
"""

from __future__ import annotations

import gc
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from ._errors import ValidationError
from ._keys import fields_prefix
from ._model import Closure, Direction, FieldSchema, NodeRef, Reached
from ._types import FLOAT_TYPES, INT_RANGES, base_type, value_key
from ._types import fits as fits_type
from ._vocabulary import EdgeKind, NodeKind, path_step
from .schema import Change, fails_at, is_numeric, parse_change, type_relation
from .store.common import UNBOUNDED
from .store.graph import GraphStore

#: the order groups are reported in: what people ask about first
GROUP_ORDER = (
    NodeKind.FIELD,
    NodeKind.FEATURE,
    NodeKind.MODEL_VERSION,
    NodeKind.MODEL,
    NodeKind.CONSUMER,
    NodeKind.DATASET,
    NodeKind.DATASET_VERSION,
    NodeKind.JOB,
    NodeKind.RUN,
    NodeKind.AGENT,
)


@dataclass
class ImpactReport:
    """Everything downstream of `start`, grouped by node kind (in GROUP_ORDER)."""

    start: NodeRef
    closure: Closure
    #: only column-level reach was asked for (no dataset-level fallback)
    precise: bool = False
    #: how many deleted dependents were left out (`lineage delete`), and the keys of the
    #: deprecated ones still reported
    deleted: int = 0
    deprecated: frozenset[str] = frozenset()
    #: the store the report was made from: `quality_checks` reads it on first use
    store: GraphStore | None = field(default=None, repr=False, compare=False)
    _checks: list[dict[str, Any]] | None = field(default=None, repr=False, compare=False)

    @property
    def quality_checks(self) -> list[dict[str, Any]]:
        """The tests recorded on the start and on every field and dataset reached (dbt
        tests and other OpenLineage data quality assertions, the newest result each), each
        with `on` (the node it is recorded on) and `assertion`, `success`, `column`, `job`,
        `run`, `at`: failing ones first, then by node and assertion. Read from the store on
        first use (a hub's 10^5 fields cost one query), so the store must still be open."""
        if self._checks is None:
            from .openlineage import checks_of  # only reports that show checks import it

            found = self.store.closure_properties(
                self.closure, "quality_checks", (NodeKind.FIELD, NodeKind.DATASET)) \
                if self.store is not None else {}
            self._checks = sorted(
                ({"on": key, **check} for key, value in found.items()
                 for check in checks_of(value)),
                key=lambda c: (c.get("success") is not False, c["on"],
                               str(c.get("assertion")), str(c.get("column"))))
        return self._checks

    @property
    def groups(self) -> dict[NodeKind, list[Reached]]:
        grouped: dict[NodeKind, list[Reached]] = {kind: [] for kind in GROUP_ORDER}
        for reached in self.closure.reached:
            grouped[reached.node.kind].append(reached)
        return {kind: items for kind, items in grouped.items() if items}

    def counts(self) -> dict[str, int]:
        """Dependents per kind, in GROUP_ORDER (builds no `Reached` objects)."""
        found = self.closure.count_by_kind()
        return {kind.value: found[kind] for kind in GROUP_ORDER if found.get(kind)}

    def column_unknown(self) -> int:
        """How many dependents only dataset-level lineage reaches (column unknown)."""
        t = self.closure.table
        if t is not None:
            return len(t.unknown)
        return sum(1 for r in self.closure.reached if r.column_unknown)

    def first(self, kind: NodeKind, limit: int) -> list[Reached]:
        """The first `limit` dependents of `kind`, as `groups` orders them: a table of a hub
        shows a few rows, and building its 10^5 others would take longer than the walk."""
        return self.closure.first_of_kind(kind, limit)

    def to_dict(self) -> dict[str, Any]:
        # the checks first, while the closure is still the walk's columns: a backend reads
        # them by the walk's ids, and `groups` below builds the `Reached` objects, after
        # which it reads every reached field and dataset whole (a 10^5 hub: seconds)
        checks = self.quality_checks
        return {
            "start": {"key": self.start.key, "kind": self.start.kind.value,
                      "name": self.start.name},
            "max_depth": _shown_depth(self.closure.max_depth),
            "truncated": self.closure.truncated,
            "precise": self.precise,
            "counts": self.counts(),
            "column_unknown": self.column_unknown(),
            "deleted_left_out": self.deleted,
            "affected": {kind.value: [{**r.to_dict(), "deprecated": r.node.key in self.deprecated}
                                      for r in items]
                         for kind, items in self.groups.items()},
            "quality_checks": checks,
        }


def impact(store: GraphStore, name: str, max_depth: int | None = None, *,
           precise: bool = False) -> ImpactReport:
    """What depends on `name` (a key or unambiguous suffix), each with one shortest path.

    A consumer of a dataset depends on each of its fields, so consumers of the datasets of
    the field and of every field reached are included (`Reached.through` names the dataset).
    Unless `precise`, what a reached field's dataset feeds as a whole, without recorded
    column lineage (see `with_dataset_level`), is included too, marked `column_unknown`.
    Raises NotFound / AmbiguousName for names that do not resolve to exactly one node.
    """
    with _collector_paused():
        closure = downstream(store, name, max_depth, precise=precise)
    deleted, deprecated = retired(closure)
    return ImpactReport(closure.start.node, closure, precise, len(deleted), deprecated, store)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The garbage collector paused: a hub's closure holds 10^5 objects that live on, and
    each collection the follow-up steps' allocations trigger would rescan them all."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def retired(closure: Closure) -> tuple[set[str], frozenset[str]]:
    """The deleted nodes a walk that skips them met (and left out, with what only they lead
    to), and the deprecated nodes it reached (see lineage.lifecycle): impact counts the
    first and marks the second."""
    return ({k for k, v in closure.retired.items() if v == "deleted"},
            frozenset(k for k, v in closure.retired.items() if v == "deprecated"))


def _screen(store: GraphStore, closure: Closure, keys: Iterable[str]) -> set[str]:
    """The deleted nodes among `keys` (about to join `closure` from outside its walk: a
    dataset-level step, a dataset's consumer), recorded with the deprecated ones in
    `closure.retired`. One small query, or none when the backend read them with the
    closure (`WalkTable.states`); the walk itself reads states as it goes."""
    keys = set(keys)
    known = closure.table.states if closure.table is not None else {}
    asked = [k for k in keys if k not in known]
    states = {k: v for k in keys if (v := known.get(k)) is not None}
    if asked:
        states.update(store.lifecycle_states(asked))
    closure.retired.update({k: v for k, v in states.items() if v in ("deleted", "deprecated")})
    return {k for k, v in states.items() if v == "deleted"}


def _shown_depth(max_depth: int) -> int | None:
    """A depth bound as answers show it: None for no bound."""
    return None if max_depth >= UNBOUNDED else max_depth


# ------------------------------------------------------------------ dataset-level lineage

#: edges by which a dataset (or one of its versions) feeds something as a whole
_DATASET_LEVEL = (EdgeKind.READ, EdgeKind.TRAINED_ON, EdgeKind.DERIVED_FROM)
#: edges that record lineage column by column
_COLUMN_LEVEL = frozenset({EdgeKind.DERIVED_FROM, EdgeKind.USES_FIELD, EdgeKind.USES_FEATURE})


@dataclass(frozen=True)
class DatasetStep:
    """Dataset `dataset` feeds `output` as a whole: through `via` (a job or run that reads
    it, `edge` read, and wrote `output`), or directly (`edge` trained_on or derived_from,
    `via` None), and no column lineage is recorded from `dataset`'s fields into `output`."""

    dataset: str
    edge: EdgeKind
    via: NodeRef | None
    output: NodeRef


def _grouped(rows: list[tuple[str, EdgeKind, NodeRef]]) -> dict[str, list[NodeRef]]:
    out: dict[str, list[NodeRef]] = {}
    for key, _kind, ref in rows:
        out.setdefault(key, []).append(ref)
    return out


def dataset_steps(store: GraphStore, datasets: Sequence[str],
                  retired: dict[str, str] | None = None) -> list[DatasetStep]:
    """The dataset-level steps out of `datasets` (dataset keys) that no column lineage
    covers.

    A step is: the dataset (or one of its versions) is read by a job or run that wrote an
    output (a dataset or dataset version); or it trained a model version; or a
    `derived_from` edge leaves the dataset node itself. The output is covered when some
    field of the dataset has a column-level edge (derived_from, uses_field, uses_feature)
    into the output, one of the output's fields, or a feature the output (a model version)
    uses: then the column lineage says which of its columns matter, and the step is left
    out. A step through a deleted node (its dataset, job or output: lineage.lifecycle) is
    left out too, the lifecycle states read recorded in `retired` when given. A few
    batched `Store.adjacent` calls; none beyond the first two when the datasets feed
    nothing as a whole (the common case in a column-lineage warehouse)."""
    if not datasets:
        return []
    owner = {d: d for d in datasets}
    owner.update({v.key: d for d, _, v in store.adjacent(datasets, "upstream",
                                                          [EdgeKind.VERSION_OF])})
    outs = store.adjacent(owner, "downstream", _DATASET_LEVEL)
    readers = {ref.key for _, kind, ref in outs if kind is EdgeKind.READ}
    writes = _grouped(store.adjacent(readers, "downstream", [EdgeKind.WROTE])) if readers \
        else {}
    candidates: list[DatasetStep] = []
    for src, kind, ref in outs:
        if kind is EdgeKind.READ:
            # a job that rewrites its own input is no step away from it
            candidates += [DatasetStep(owner[src], kind, ref, out)
                           for out in writes.get(ref.key, []) if owner.get(out.key) != owner[src]]
        elif owner.get(ref.key) != owner[src]:
            candidates.append(DatasetStep(owner[src], kind, None, ref))
    if not candidates:
        return []
    versions = [c.output.key for c in candidates
                if c.output.kind is NodeKind.DATASET_VERSION]
    dataset_of = {c.output.key: c.output.key for c in candidates
                  if c.output.kind is NodeKind.DATASET}
    dataset_of.update({v: ref.key for v, _, ref in store.adjacent(versions, "downstream",
                                                                   [EdgeKind.VERSION_OF])})
    fields = _grouped(store.adjacent(set(datasets) | set(dataset_of.values()), "downstream",
                                     [EdgeKind.HAS_FIELD]))
    models = [c.output.key for c in candidates if c.output.kind is NodeKind.MODEL_VERSION]
    features = _grouped(store.adjacent(models, "upstream", [EdgeKind.USES_FEATURE]))

    def targets(out: NodeRef) -> set[str]:
        found = {out.key, *(f.key for f in features.get(out.key, []))}
        if out.key in dataset_of:
            found.add(dataset_of[out.key])
            found.update(f.key for f in fields.get(dataset_of[out.key], []))
        return found

    wanted = {c.output.key: targets(c.output) for c in candidates}
    sources = {d: {f.key for f in fields.get(d, [])} for d in datasets}
    among = set().union(*wanted.values(), *sources.values())
    linked = {(e.src, e.dst) for e in store.edges_among(among) if e.kind in _COLUMN_LEVEL}
    steps = [c for c in candidates
             if not any(s in sources[c.dataset] and t in wanted[c.output.key]
                        for s, t in linked)]
    if not steps:
        return []
    states = store.lifecycle_states({k for c in steps for k in (
        c.dataset, c.output.key, *((c.via.key,) if c.via is not None else ()))})
    if retired is not None:
        retired.update({k: v for k, v in states.items() if v in ("deleted", "deprecated")})
    return [c for c in steps if all(states.get(k) != "deleted" for k in (
        c.dataset, c.output.key, c.via.key if c.via is not None else None) if k)]


def with_dataset_level(store: GraphStore, closure: Closure,
                       nearest: list[tuple[NodeRef, str]] | None = None) -> set[str]:
    """Add to a downstream `closure` (in place) what its fields reach only through
    dataset-level lineage, marked `column_unknown`.

    For each field reached (the start included) whose dataset is not itself in the closure,
    every uncovered `dataset_steps` output is added (reached from the field, through its
    dataset: `field -read-> job -wrote-> output`, or `field -trained_on-> model version`),
    then everything downstream of the output; repeated for the fields so added, until
    nothing new is found. Nodes the column-level walk reached keep their own (precise) path.
    Within the closure's `max_depth`. Returns the keys reached through dataset-level
    lineage, those the column-level walk reached too included (a change judged on them
    cannot be called compatible). `nearest`: `Store.closure_datasets(closure)` when the
    caller read it already."""
    crossed: set[str] = set()
    if closure.direction != "downstream":
        return crossed
    start = closure.start.node.key
    done = {start, *closure.keys_of_kind(NodeKind.DATASET)}
    walked: set[str] = set()
    # the first round from what the walk kept (a hub: 10^5 fields); later ones by key
    if nearest is None:
        nearest = store.closure_datasets(closure)
    while nearest:
        field_of: dict[str, str] = {}  # dataset -> its field nearest the start
        refs: dict[str, NodeRef] = {}
        for dataset, field_key in nearest:
            if dataset.key not in done:
                field_of[dataset.key], refs[dataset.key] = field_key, dataset
        done |= set(field_of)
        steps = dataset_steps(store, sorted(field_of), closure.retired)
        if not steps:
            break
        before = closure.keys()
        additions: list[tuple[str, NodeRef, EdgeKind, NodeRef | None]] = []
        for step in steps:
            near = field_of[step.dataset]
            if step.via is not None:
                additions += [(near, step.via, step.edge, refs[step.dataset]),
                              (step.via.key, step.output, EdgeKind.WROTE, None)]
            else:
                additions.append((near, step.output, step.edge, refs[step.dataset]))
        closure.extend(additions, column_unknown=True)
        depth = _depths(closure)
        for step in steps:
            crossed.update(k for k in (step.via.key if step.via else None, step.output.key)
                           if k is not None and k in depth)
        for out in dict.fromkeys(s.output.key for s in steps):
            if out in walked or out not in depth:
                continue  # walked already, or beyond max_depth
            walked.add(out)
            region = store.downstream(out, max(closure.max_depth - depth[out], 0),
                                      skip_deleted=True)
            closure.truncated |= region.truncated
            closure.retired.update(region.retired)
            crossed.update(region.keys())
            closure.extend(_as_additions(region), column_unknown=True)
        fields = [k for k in closure.keys_of_kind(NodeKind.FIELD) if k not in before]
        nearest = _nearest_datasets(store, fields, _depths(closure)) if fields else []
    return crossed


# ------------------------------------------------------------------ dataset-wide derivations


def _kind_of(key: str) -> str:
    return key.split(":", 1)[0]


def is_dataset_wide(kind: EdgeKind, src: str, dst: str) -> bool:
    """Whether the edge `src -kind-> dst` (keys) derives a whole dataset from something
    that is not a dataset: a field that filters, joins, groups, sorts or windows the
    dataset (OpenLineage's dataset-level column lineage, stored with `scope: dataset`).
    It says that the dataset's rows depend on the field, not which of its columns' values
    do. (A dataset-to-dataset derivation is a `dataset_steps` step instead.)"""
    return (kind is EdgeKind.DERIVED_FROM and _kind_of(dst) == NodeKind.DATASET.value
            and _kind_of(src) != NodeKind.DATASET.value)


@dataclass
class DatasetWide:
    """What a closure reaches across dataset-wide derivations (`is_dataset_wide`).

    `crossed`: every node downstream (in the closure's direction) of one, inside the
    closure; `only`: those of them that no path without one reaches (column unknown)."""

    crossed: set[str] = field(default_factory=set)
    only: set[str] = field(default_factory=set)


def with_dataset_wide(store: GraphStore, closure: Closure, *, precise: bool = False,
                      consumers: bool = False) -> DatasetWide:
    """Mark (in place) what `closure` reaches only across dataset-wide derivations
    `column_unknown`, or with `precise` leave it out (the paths of the rest then avoid
    them too). A field that filters or joins a dataset changes which rows it holds: every
    field of it and everything downstream is affected, but no column lineage says how.

    A node is reached only that way when every path to it from the start (within the
    closure) takes such an edge; both directions judge the same paths, so a field is
    marked in `upstream(z)` exactly when z is in `downstream(field)`. With `consumers`
    (impact, which counts a dataset's consumers as dependents of each of its fields), the
    consumers of a dataset that has a field reached without one are not marked.
    A few batched `Store.adjacent` calls over the part of the closure downstream of such
    edges; one `keys_of_kind` pass when the closure holds no dataset (a field's closure
    reaches one only through them)."""
    start = closure.start.node.key
    t = closure.table
    if t is not None and NodeKind.DATASET.value not in t.kinds and (
            closure.start.node.kind is not NodeKind.DATASET):
        return DatasetWide()  # a field's hub (10^5 rows): one scan, no list built
    datasets = closure.keys_of_kind(NodeKind.DATASET)
    if not datasets:
        return DatasetWide()
    forward = closure.direction == "downstream"
    reach = closure.keys() | {start}
    # the dataset-wide edges inside the closure; T: their far ends in the walk's direction
    targets = {(d if forward else src.key)
               for d, _, src in store.adjacent(datasets, "upstream", [EdgeKind.DERIVED_FROM])
               if src.key in reach and src.kind is not NodeKind.DATASET}
    targets.discard(start)
    if not targets:
        return DatasetWide()
    direction: Direction = closure.direction
    back: Direction = "upstream" if forward else "downstream"
    kinds = list(EdgeKind)

    def wide(near: str, kind: EdgeKind, far: str) -> bool:  # a walk edge near => far
        return is_dataset_wide(kind, near, far) if forward else is_dataset_wide(kind, far, near)

    # R: everything the targets reach inside the closure, with the walk edges among it
    crossed = set(targets)
    out: dict[str, list[tuple[EdgeKind, str]]] = {}
    frontier = sorted(targets)
    while frontier:
        found = store.adjacent(frontier, direction, kinds)
        frontier = []
        for near, kind, far in found:
            if far.key not in reach:
                continue
            out.setdefault(near, []).append((kind, far.key))
            if far.key not in crossed and far.key != start:
                crossed.add(far.key)
                frontier.append(far.key)
        frontier.sort()
    # entries: nodes of R one plain edge away from a node outside it (reached without one)
    entries = [(a.key, kind, b) for b, kind, a in store.adjacent(sorted(crossed), back, kinds)
               if a.key in reach and a.key not in crossed and not wide(a.key, kind, b)]
    if precise:
        _leave_out_dataset_wide(closure, crossed, out, entries, wide)
        return DatasetWide()
    plain: set[str] = set()
    queue = deque(b for _, _, b in entries)
    consumed: dict[str, list[str]] = {}  # (with `consumers`) field -> consumers of its dataset
    if consumers and forward:
        for edges in out.values():
            users = [dst for kind, dst in edges if kind is EdgeKind.CONSUMES]
            for kind, dst in edges if users else ():
                if kind is EdgeKind.HAS_FIELD:
                    consumed.setdefault(dst, []).extend(users)
        queue.extend(c for f, users in consumed.items() if f not in crossed for c in users)
    while queue:
        key = queue.popleft()
        if key in plain or key not in crossed:
            continue
        plain.add(key)
        queue.extend(dst for kind, dst in out.get(key, ()) if not wide(key, kind, dst))
        queue.extend(consumed.get(key, ()))
    only = crossed - plain
    closure.mark_column_unknown(only)
    return DatasetWide(crossed, only)


def _leave_out_dataset_wide(closure: Closure, crossed: set[str],
                            out: dict[str, list[tuple[EdgeKind, str]]],
                            entries: list[tuple[str, EdgeKind, str]],
                            wide: Any) -> None:
    """`closure` without what only dataset-wide derivations reach (in place): the nodes of
    `crossed` a plain path still reaches get a shortest such path (nearest entry first,
    then the parent's key and the edge kind, as the walks choose), the rest go."""
    import heapq

    refs = {r.node.key: r.node for r in closure.reached if r.node.key in crossed}
    kept = {r.node.key: r for r in closure.reached if r.node.key not in crossed}
    kept[closure.start.node.key] = closure.start
    heap = [(kept[a].depth + 1, a, kind.value, b) for a, kind, b in entries]
    heapq.heapify(heap)
    while heap:
        depth, parent, kind, key = heapq.heappop(heap)
        if key in kept:
            continue
        if depth > closure.max_depth:
            closure.truncated = True
            continue
        item = Reached(refs[key], depth, kept[parent], EdgeKind(kind))
        kept[key] = item
        for edge, far in out.get(key, ()):
            if far not in kept and not wide(key, edge, far):
                heapq.heappush(heap, (depth + 1, key, edge.value, far))
    closure.reached = sorted((r for k, r in kept.items() if k != closure.start.node.key),
                             key=lambda r: (r.depth, r.node.key))


def _nearest_datasets(store: GraphStore, fields: list[str], depth: dict[str, int]
                      ) -> list[tuple[NodeRef, str]]:
    """`Store.closure_datasets` for some fields of a closure, by key."""
    nearest: dict[str, tuple[NodeRef, str]] = {}
    for key, _, dataset in store.adjacent(fields, "upstream", [EdgeKind.HAS_FIELD]):
        known = nearest.get(dataset.key)
        if known is None or (depth[key], key) < (depth[known[1]], known[1]):
            nearest[dataset.key] = (dataset, key)
    return [nearest[k] for k in sorted(nearest)]


def downstream(store: GraphStore, name: str, max_depth: int | None = None, *,
               precise: bool = False) -> Closure:
    """What depends on `name`: `Store.downstream` plus (unless `precise`) what dataset-level
    lineage reaches (`with_dataset_level`), plus the consumers of the datasets of the
    fields reached (`with_dataset_consumers`): `impact`'s closure, ungrouped. The mirror
    of `upstream`. `truncated` says whether `max_depth` cut a node of the whole answer."""
    closure = _downstream(store, name, max_depth, precise)
    _confirm_truncation(closure, lambda bound: _downstream(store, name, bound, precise))
    return closure


def _confirm_truncation(closure: Closure, walk: Callable[[int], Closure]) -> None:
    """Clear `closure.truncated` when its depth bound cut nothing of the answer.

    An answer is composed of walks that each say whether their own bound cut a node: a
    dataset-level region's cut node may be one the answer reached by a shorter path, and
    one beyond the bound may be one `precise` leaves out anyway. The bound cut something
    exactly when the same answer one step deeper (`walk(bound + 1)`) reaches a node deeper
    than the bound: a node further away has a shortest path through one of those. Run
    only when a bounded answer says it was truncated."""
    if not closure.truncated or closure.max_depth >= UNBOUNDED:
        return
    bound = closure.max_depth
    closure.truncated = any(d > bound for d in _depths(walk(bound + 1)).values())


def _downstream(store: GraphStore, name: str, max_depth: int | None, precise: bool
                ) -> Closure:
    closure = store.downstream(name, max_depth, skip_deleted=True)
    with_dataset_wide(store, closure, precise=precise, consumers=True)
    # the consumers of the datasets the column-level walk reached first, one step from
    # their nearest field: a dataset-level region (a cycle of table-level jobs back into
    # the start's dataset) would otherwise reach them first, by a longer path
    # (the datasets of the walk's fields read first: a backend answers from its walk's
    # ids only while the closure is as the walk left it)
    nearest = None if precise else store.closure_datasets(closure)
    with_dataset_consumers(store, closure)
    if nearest is not None and (level := with_dataset_level(store, closure, nearest)):
        # those of the datasets of the fields it added (only those: one small lookup)
        with_dataset_consumers(store, closure, _fields_among(level))
    return closure


def _fields_among(keys: Iterable[str]) -> list[str]:
    prefix = NodeKind.FIELD.value + ":"
    return sorted(k for k in keys if k.startswith(prefix))


def upstream(store: GraphStore, name: str, max_depth: int | None = None, *,
             precise: bool = False) -> Closure:
    """What `name` depends on, each with one shortest path: `Store.upstream`, plus (unless
    `precise`) the fields `impact` reaches it from through dataset-level lineage, marked
    `column_unknown`, and everything upstream of them. So the two directions agree: a
    field is in `upstream(Z)` exactly when Z is in `impact(field)`.

    The step is taken backwards: a job or run that wrote a node of the closure (or is in
    it), or a model version in it, reading a dataset whose `dataset_steps` are uncovered:
    every field of that dataset joins (reached from the job or model, through the dataset),
    then its own upstream; repeated until nothing new is found. `truncated` says whether
    `max_depth` cut a node of the whole answer."""
    closure = _upstream(store, name, max_depth, precise)
    _confirm_truncation(closure, lambda bound: _upstream(store, name, bound, precise))
    return closure


def _upstream(store: GraphStore, name: str, max_depth: int | None, precise: bool) -> Closure:
    closure = store.upstream(name, max_depth, skip_deleted=True)
    with_dataset_wide(store, closure, precise=precise)
    _with_consumed_fields(store, closure, precise)
    if precise:
        return closure
    looked: set[str] = set()
    walked: set[str] = set()
    while True:
        present = {closure.start.node.key, *closure.keys()}
        fresh = sorted(present - looked)
        looked |= set(fresh)
        if not fresh:
            break
        producers = {ref.key for _, _, ref in store.adjacent(fresh, "upstream",
                                                             [EdgeKind.WROTE])}
        readers = (present & producers) | {k for k in fresh if k.split(":", 1)[0] in (
            NodeKind.JOB.value, NodeKind.RUN.value)}
        inputs = store.adjacent(producers | readers, "upstream", [EdgeKind.READ])
        trained = store.adjacent(fresh, "upstream", [EdgeKind.TRAINED_ON, EdgeKind.DERIVED_FROM])
        sources = {ref.key for _, _, ref in [*inputs, *trained]
                   if ref.kind in (NodeKind.DATASET, NodeKind.DATASET_VERSION)}
        owner = {k: k for k in sources if k.startswith(NodeKind.DATASET.value + ":")}
        owner.update({v: ref.key for v, _, ref in store.adjacent(
            [k for k in sources if k not in owner], "downstream", [EdgeKind.VERSION_OF])})
        steps = dataset_steps(store, sorted(set(owner.values()) - walked), closure.retired)
        depth = _depths(closure)
        additions: list[tuple[str, NodeRef, EdgeKind, NodeRef | None]] = []
        datasets: dict[str, tuple[str, EdgeKind]] = {}
        for step in steps:
            # only a step whose output is in the closure (or whose job is its start) leads
            # here; the path back goes through the job when the closure has it
            via = step.via.key if step.via is not None else None
            if step.output.key in depth:
                near = via if via in depth else step.output.key
            elif via is not None and via == closure.start.node.key:
                near = via
            else:
                continue
            best = datasets.get(step.dataset)
            if best is None or depth[near] < depth[best[0]]:
                datasets[step.dataset] = (near, step.edge)
        if not datasets:
            break
        walked |= set(datasets)
        fields = store.adjacent(datasets, "downstream", [EdgeKind.HAS_FIELD])
        gone = _screen(store, closure, {ref.key for _, _, ref in fields})
        fields = [f for f in fields if f[2].key not in gone]
        refs = {k: n.ref() for k, n in store.nodes(datasets).items()}
        for dataset, _, ref in fields:
            near, edge = datasets[dataset]
            additions.append((near, ref, edge, refs.get(dataset)))
        before = set(depth)
        closure.extend(additions, column_unknown=True)
        depth = _depths(closure)
        for _, _, ref in fields:
            if ref.key in before or ref.key not in depth:
                continue
            region = store.upstream(ref.key, max(closure.max_depth - depth[ref.key], 0),
                                    skip_deleted=True)
            closure.truncated |= region.truncated
            closure.retired.update(region.retired)
            closure.extend(_as_additions(region), column_unknown=True)
    return closure


def _with_consumed_fields(store: GraphStore, closure: Closure, precise: bool) -> None:
    """Add to an upstream `closure` (in place) the fields of each dataset a consumer in it
    (the start included) consumes as a whole, then everything upstream of them: the mirror
    of `with_dataset_consumers`, which reaches such a consumer from each field of its
    dataset. Each field is reached from the consumer by `consumes`, through the dataset,
    as `impact` reaches the consumer (precise: a consumer of a dataset depends on each of
    its fields), so it is not marked `column_unknown` unless the consumer is."""
    consumers = closure.keys_of_kind(NodeKind.CONSUMER)
    if not consumers:
        return
    consumed = [(c, d) for c, _, d in store.adjacent(sorted(set(consumers)), "upstream",
                                                    [EdgeKind.CONSUMES])
                if d.kind is NodeKind.DATASET]
    if not consumed:
        return
    fields = _grouped(store.adjacent(sorted({d.key for _, d in consumed}), "downstream",
                                     [EdgeKind.HAS_FIELD]))
    gone = _screen(store, closure, {f.key for refs in fields.values() for f in refs})
    before = closure.keys()
    closure.extend([(c, f, EdgeKind.CONSUMES, d) for c, d in consumed
                    for f in fields.get(d.key, []) if f.key not in gone], nearest_first=True)
    depth = _depths(closure)
    # Each field's column-level upstream (with its dataset-wide marks), merged in one
    # extend in key order, as one walk after another would add them; the dataset-level
    # fallback is left to `upstream`'s loop, which then runs once over all of them instead
    # of once per field (a consumer of a 10^4-field dataset took 10^4 full walks, each
    # rebuilding the closure's key set).
    additions: list[tuple[str, NodeRef, EdgeKind, NodeRef | None]] = []
    spans: list[tuple[int, set[str]]] = []  # where each field's additions end; its marks
    for key in sorted(k for k in closure.keys_of_kind(NodeKind.FIELD) if k not in before):
        region = store.upstream(key, max(closure.max_depth - depth[key], 0),
                                skip_deleted=True)
        with_dataset_wide(store, region, precise=precise)
        closure.truncated |= region.truncated
        closure.retired.update(region.retired)
        additions += _as_additions(region)
        spans.append((len(additions), _unknown_keys(region)))
    taken: list[int] = []
    closure.extend(additions, taken=taken)
    # a node is marked as the walk that added it marks it (the first by key)
    marked: set[str] = set()
    span = 0
    for index in taken:
        while spans[span][0] <= index:
            span += 1
        if additions[index][1].key in spans[span][1]:
            marked.add(additions[index][1].key)
    closure.mark_column_unknown(marked)


def _unknown_keys(closure: Closure) -> set[str]:
    """The keys of the nodes of `closure` marked `column_unknown`."""
    t = closure.table
    if t is not None:
        return {t.keys[row] for row in t.unknown}
    return {r.node.key for r in closure.reached if r.column_unknown}


def _depths(closure: Closure) -> dict[str, int]:
    t = closure.table
    found = ({k: d for k, d in zip(t.keys, t.depths, strict=True)} if t is not None
             else {r.node.key: r.depth for r in closure.reached})
    found[closure.start.node.key] = closure.start.depth
    return found


def _as_additions(region: Closure) -> list[tuple[str, NodeRef, EdgeKind, NodeRef | None]]:
    """A closure's rows as `Closure.extend` additions (each from its parent), in order."""
    t = region.table
    start = region.start.node.key
    if t is None:
        return [(r.via.node.key if r.via else start, r.node, r.edge or EdgeKind.DERIVED_FROM,
                 r.through) for r in region.reached]
    nk = {k.value: k for k in NodeKind}
    return [(start if p < 0 else t.keys[p], NodeRef(k, nk[kd], n), EdgeKind(e), None)
            for k, kd, n, p, e in zip(t.keys, t.kinds, t.names, t.parents, t.edges,
                                      strict=True)]


def with_dataset_consumers(store: GraphStore, closure: Closure,
                           fields: list[str] | None = None) -> Closure:
    """Add to `closure` the consumers of the datasets of its fields (in place), or of
    `fields` (keys) only when given.

    Each consumer is reached from the first of its dataset's fields by key, one `consumes`
    step further, within the closure's depth. A hub reaches 10^5 fields: this works on the
    closure's columns and builds no `Reached` objects (`Closure.extend`)."""
    if closure.direction != "downstream":
        return closure
    closure.extend([(field_key, consumer, EdgeKind.CONSUMES, dataset)
                    for field_key, dataset, consumer in _live_dataset_consumers(store, closure,
                                                                                fields)],
                   nearest_first=True)
    return closure


def _live_dataset_consumers(store: GraphStore, closure: Closure,
                            fields: list[str] | None = None
                            ) -> list[tuple[str, NodeRef, NodeRef]]:
    """`Store.closure_dataset_consumers` (or `Store.dataset_consumers` of `fields`) without
    the deleted consumers (recorded in `closure.retired`, with the deprecated ones)."""
    pairs = (store.closure_dataset_consumers(closure) if fields is None
             else store.dataset_consumers(fields) if fields else [])
    if not pairs:
        return pairs
    gone = _screen(store, closure, {c.key for _, _, c in pairs})
    return [p for p in pairs if p[2].key not in gone] if gone else pairs


def _dataset_consumer_edges(store: GraphStore, closure: Closure,
                            fields: list[str] | None = None
                            ) -> list[tuple[str, str, EdgeKind, dict[str, Any]]]:
    """Every (field, consumer of its dataset) pair of `closure` as a `consumes` edge through
    the dataset, adding the consumers to the closure: a consumer is judged through each
    field of the dataset it consumes (its contract names which matter), however else it is
    reached (a model it also consumes)."""
    if closure.direction != "downstream":
        return []
    pairs = _live_dataset_consumers(store, closure, fields)
    closure.extend([(f, consumer, EdgeKind.CONSUMES, dataset) for f, dataset, consumer in pairs],
                   nearest_first=True)
    return [(f, consumer.key, EdgeKind.CONSUMES, {"through": dataset.key, "dataset": dataset})
            for f, dataset, consumer in pairs]


# ------------------------------------------------------------------ impact of a change

Verdict = Literal["breaking", "unknown", "compatible"]
_RANK = {"compatible": 0, "unknown": 1, "breaking": 2}


@dataclass
class Judged:
    """A dependent's verdict on a change: why, by which path, and what it now sees.

    `visible` is the change as it reaches this node (a copy passes a type change on; an
    aggregation may absorb it: then None)."""

    node: NodeRef
    verdict: Verdict
    reason: str
    via: Judged | None = None
    edge: EdgeKind | None = None
    visible: Change | None = None
    through: NodeRef | None = None
    #: reached only through dataset-level lineage (see `Reached.column_unknown`)
    column_unknown: bool = False

    @property
    def path(self) -> list[tuple[EdgeKind | None, NodeRef]]:
        steps: list[tuple[EdgeKind | None, NodeRef]] = []
        cur: Judged | None = self
        while cur is not None:
            steps.append((cur.edge, cur.node))
            cur = cur.via
        return steps[::-1]

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.node.key, "kind": self.node.kind.value, "name": self.node.name,
                "verdict": self.verdict, "reason": self.reason,
                "path": [path_step(e, n.key) for e, n in self.path],
                "through": self.through.key if self.through else None,
                "column_unknown": self.column_unknown}


@dataclass
class ChangeImpact:
    """Verdicts for every dependent of a field under proposed changes, grouped by kind."""

    start: NodeRef
    changes: list[Change]
    judged: list[Judged]
    precise: bool = False
    #: why each given change that leaves the field as it is was set aside ("no change")
    unchanged: list[str] = field(default_factory=list)
    #: the depth bound given (UNBOUNDED: none) and whether it left out a dependent
    max_depth: int = UNBOUNDED
    truncated: bool = False
    #: deleted dependents left out, and the deprecated ones still judged (lineage.lifecycle)
    deleted: int = 0
    deprecated: frozenset[str] = frozenset()

    @property
    def no_change(self) -> bool:
        """Every change given leaves the field as it is: nothing to judge."""
        return bool(self.unchanged) and not self.judged and len(self.unchanged) == len(
            self.changes)

    @property
    def groups(self) -> dict[NodeKind, list[Judged]]:
        grouped: dict[NodeKind, list[Judged]] = {kind: [] for kind in GROUP_ORDER}
        for item in self.judged:
            grouped[item.node.kind].append(item)
        return {kind: items for kind, items in grouped.items() if items}

    def of(self, verdict: Verdict, *kinds: NodeKind) -> list[Judged]:
        return [j for j in self.judged if j.verdict == verdict
                and (not kinds or j.node.kind in kinds)]

    def counts(self) -> dict[str, int]:
        return {v: len(self.of(v)) for v in ("breaking", "unknown", "compatible")}

    def fails(self, level: str) -> bool:
        """The CI gate: whether a dependent's verdict is at or above `level` (`breaking`,
        or `unknown`: unknown or breaking). `lineage impact --fail-on` exits 9 on it; the
        HTTP impact answer carries it as `fails` when asked with `fail_on`.
        ValidationError for another level."""
        return fails_at((j.verdict for j in self.judged), level)

    def to_dict(self) -> dict[str, Any]:
        return {"start": {"key": self.start.key, "kind": self.start.kind.value,
                          "name": self.start.name},
                "changes": [c.to_dict() for c in self.changes], "counts": self.counts(),
                "max_depth": _shown_depth(self.max_depth), "truncated": self.truncated,
                "precise": self.precise, "no_change": self.no_change,
                "unchanged": self.unchanged,
                "column_unknown": sum(1 for j in self.judged if j.column_unknown),
                "deleted_left_out": self.deleted,
                "affected": {kind.value: [{**j.to_dict(),
                                           "deprecated": j.node.key in self.deprecated}
                                          for j in items]
                             for kind, items in self.groups.items()}}


def change_impact(store: GraphStore, name: str, changes: Sequence[str | Change],
                  max_depth: int | None = None, *, precise: bool = False) -> ChangeImpact:
    """Judge every dependent of field `name` under `changes` (specs such as "type:string",
    "drop", "rename:NEW", "nullable", "values:+X"; see lineage.schema.parse_change):
    breaking, compatible or unknown, with the reason and the path from the field.

    The worst verdict over all paths wins. A copy (identity) passes a change on; an
    aggregation is judged by its input expectations; other transformations say "unknown"
    rather than guess; model versions break on inputs they were not trained on; consumers
    break when their contract stops holding. What is reached through dataset-level lineage
    (a job without column lineage; see `with_dataset_level`) is `unknown`, never
    `compatible`; `precise` leaves it out.
    """
    # one walk: nodes, edges, props; deleted nodes cut it
    region = store.subgraph(name, "downstream", max_depth, skip_deleted=True)
    wide = with_dataset_wide(store, region.closure, precise=precise, consumers=True)
    closure = region.closure
    # as in `downstream`: the consumers of the column-level walk's datasets first
    nearest = None if precise else store.closure_datasets(closure)
    consumer_edges = _dataset_consumer_edges(store, closure)
    level = set() if nearest is None else with_dataset_level(store, closure, nearest)
    crossed = level | wide.crossed
    if level:
        known = {(f, c) for f, c, _, _ in consumer_edges}
        consumer_edges += [e for e in _dataset_consumer_edges(store, closure,
                                                              _fields_among(level))
                           if (e[0], e[1]) not in known]
    _confirm_truncation(closure, lambda bound: _downstream(store, name, bound, precise))
    start = closure.start.node
    if start.kind not in (NodeKind.FIELD, NodeKind.FEATURE):
        raise ValidationError(f"changes apply to fields and features, not {start.kind.value} "
                              f"'{start.key}'")
    if not changes:
        raise ValidationError("give at least one change (type:TYPE, drop, rename:NEW, "
                              "nullable, not_null, values:+X)")
    reached, through, order = _closure_index(closure)
    refs = {start.key: start, **reached}
    names = _field_names(store, [k for k, ref in refs.items() if ref.kind is NodeKind.FIELD])
    current = _field_schema(names.get(start.key, (None, start.name))[1],
                            region.properties[start.key])
    # a field whose type was never recorded is not "string": a type change on it has no
    # known old type, so it is never a no-op nor a widening
    typed = current if region.properties[start.key].get("type") else None
    parsed = [c if isinstance(c, Change) else parse_change(c, current.name, typed)
              for c in changes]
    effective = [c for c in parsed if not _is_no_op(c, current)]
    unchanged = [_no_op_reason(c, current) for c in parsed if c not in effective]
    if not effective:
        return ChangeImpact(start, parsed, [], precise, unchanged, closure.max_depth,
                            closure.truncated)
    edges = [*region.edges, *consumer_edges]
    if precise:  # the dataset-wide derivations left the closure: the verdicts avoid them too
        edges = [e for e in edges if not is_dataset_wide(e[2], e[0], e[1])]
    consumers = [k for k, ref in refs.items() if ref.kind is NodeKind.CONSUMER]
    contracts = store.contracts(consumers) if consumers else {}
    worst: dict[str, Judged] = {}
    for change in effective:
        for key, item in _propagate(start, change, refs, region.properties, edges,
                                    contracts, names).items():
            if key not in worst or _RANK[item.verdict] > _RANK[worst[key].verdict]:
                worst[key] = item
    _judge_dataset_level(start, closure, crossed, worst)
    for key in wide.only:  # reached only across a dataset-wide derivation: column unknown
        if key in worst:
            worst[key].column_unknown = True
    judged = sorted((j for k, j in worst.items() if k != start.key),
                    key=lambda j: order[j.node.key])
    by_pair = {(f, c): p["dataset"] for f, c, _, p in consumer_edges}
    for item in judged:
        if item.edge is EdgeKind.CONSUMES and item.via is not None:
            # through the dataset when it came by one of the dataset's fields
            item.through = by_pair.get((item.via.node.key, item.node.key))
        elif item.column_unknown:
            item.through = through.get(item.node.key)
    deleted, deprecated = retired(closure)
    return ChangeImpact(start, parsed, judged, precise, unchanged, closure.max_depth,
                        closure.truncated, len(deleted), deprecated)


def _closure_index(closure: Closure) -> tuple[dict[str, NodeRef], dict[str, NodeRef],
                                              dict[str, tuple[int, str]]]:
    """Each reached node's reference, the dataset each was reached through (when it was),
    and each one's (depth, key): from the closure's table while it has one, so that a hub's
    change impact builds no `Reached` object (282k, with their paths: ~1.3 s)."""
    t = closure.table
    if t is None:
        return ({r.node.key: r.node for r in closure.reached},
                {r.node.key: r.through for r in closure.reached if r.through is not None},
                {r.node.key: (r.depth, r.node.key) for r in closure.reached})
    kinds = {k.value: k for k in NodeKind}
    refs = {key: NodeRef(key, kinds[kind], name)
            for key, kind, name in zip(t.keys, t.kinds, t.names, strict=True)}
    return (refs, {t.keys[row]: ref for row, ref in t.through.items()},
            {key: (depth, key) for key, depth in zip(t.keys, t.depths, strict=True)})


def _field_names(store: GraphStore, fields: list[str]) -> dict[str, tuple[str, str]]:
    """(dataset key, field name) of each field, from its `has_field` edge: a field name
    may contain dots, so it cannot be cut from the key."""
    found: dict[str, tuple[str, str]] = {}
    prefixes: dict[str, str] = {}  # a hub: 10^5 fields of 10^4 datasets
    for key, _, dataset in store.adjacent(fields, "upstream", [EdgeKind.HAS_FIELD]):
        prefix = prefixes.get(dataset.key)
        if prefix is None:
            prefix = prefixes[dataset.key] = fields_prefix(dataset.key)
        if key.startswith(prefix):
            found[key] = (dataset.key, key[len(prefix):])
    return found


def _is_no_op(change: Change, current: FieldSchema) -> bool:
    """A proposed change that leaves the field as it is."""
    if change.kind == "type_changed":
        return change.relation == "same"
    if change.kind == "nullable":
        return current.nullable
    if change.kind == "not_null":
        return not current.nullable
    if change.kind == "renamed":
        return change.new_name == current.name
    if change.kind == "values_added":
        # without declared values, adding one still changes what the data holds
        allowed = current.allowed_values
        return allowed is not None and all(_among(v, allowed) for v in change.values)
    if change.kind == "values_removed":
        allowed = current.allowed_values
        return allowed is not None and not any(_among(v, allowed) for v in change.values)
    return False


def _no_op_reason(change: Change, current: FieldSchema) -> str:
    if change.kind == "type_changed":
        return f"'{current.name}' is already {current.type}"
    if change.kind == "nullable":
        return f"'{current.name}' is already nullable"
    if change.kind == "not_null":
        return f"'{current.name}' is already not null"
    if change.kind == "renamed":
        return f"'{current.name}' already has that name"
    if change.kind == "values_added":
        return f"'{current.name}' already allows {', '.join(map(str, change.values))}"
    return f"'{current.name}' does not allow {', '.join(map(str, change.values))}"


def _judge_dataset_level(start: NodeRef, closure: Closure, crossed: set[str],
                         worst: dict[str, Judged]) -> None:
    """Verdicts (in place) for what dataset-level lineage reaches: `unknown` for a node
    only it reaches, and at least `unknown` for one a column-level path reaches too."""
    why = (f"dataset-level lineage, column unknown: no recorded column lineage says "
           f"whether it uses {start.name}")
    t = closure.table
    if t is not None:  # only the rows either branch below acts on: no `Reached` built
        rows = set(t.unknown)
        if crossed:
            rows.update(row for row, key in enumerate(t.keys) if key in crossed)
        kinds = {k.value: k for k in NodeKind}
        # (depth, key) order: a node's `via` is judged before it
        for row in sorted(rows, key=lambda row: (t.depths[row], t.keys[row])):
            key = t.keys[row]
            known = worst.get(key)
            if known is None and row in t.unknown:
                parent = t.parents[row]
                via = worst.get(start.key if parent < 0 else t.keys[parent])
                node = NodeRef(key, kinds[t.kinds[row]], t.names[row])
                worst[key] = Judged(node, "unknown", why, via, EdgeKind(t.edges[row]),
                                    column_unknown=True)
            elif known is not None and key in crossed and known.verdict == "compatible":
                known.verdict = "unknown"
                known.reason += f"; also reached through {why}"
        return
    for r in closure.reached:  # (depth, key) order: a node's `via` is judged before it
        key = r.node.key
        known = worst.get(key)
        if known is None and r.column_unknown:
            via = worst.get(r.via.node.key) if r.via is not None else None
            worst[key] = Judged(r.node, "unknown", why, via, r.edge, column_unknown=True)
        elif known is not None and key in crossed and known.verdict == "compatible":
            known.verdict = "unknown"
            known.reason += f"; also reached through {why}"


def _field_schema(name: str, props: dict[str, Any]) -> FieldSchema:
    return FieldSchema(name=name, type=props.get("type") or "string",
                       nullable=bool(props.get("nullable", True)),
                       allowed_values=props.get("allowed_values"))


def _propagate(start: NodeRef, change: Change, refs: dict[str, NodeRef],
               properties: dict[str, dict[str, Any]],
               edges: list[tuple[str, str, EdgeKind, dict[str, Any]]],
               contracts: dict[str, dict[str, dict[str, Any]]],
               names: dict[str, tuple[str, str]]) -> dict[str, Judged]:
    """Worklist over the bounded subgraph; the worst verdict per node.

    A node keeps two states: the worst verdict among paths that carry the change on (an
    identity copy: `visible` set) and among paths that do not. One state alone would let a
    path reaching a node first with `unknown` hide a later copy path whose change breaks
    what comes after. Verdicts only get worse, so it terminates."""
    out: dict[str, list[tuple[str, EdgeKind, dict[str, Any]]]] = {}
    for src, dst, kind, props in edges:
        out.setdefault(src, []).append((dst, kind, props))
    first = Judged(start, "breaking", "changed", visible=change)
    state: dict[tuple[str, bool], Judged] = {(start.key, True): first}
    queue = deque([(start.key, True)])
    while queue:
        here = state[queue.popleft()]
        for dst, kind, props in out.get(here.node.key, []):
            if dst == start.key or dst not in refs:
                continue
            target = refs[dst]
            verdict, reason, visible = _transfer(here, kind, props, target,
                                                 properties.get(dst, {}), contracts, names)
            slot = (dst, visible is not None)
            known = state.get(slot)
            if known is None or _RANK[verdict] > _RANK[known.verdict]:
                state[slot] = Judged(target, verdict, reason, here, kind, visible)
                queue.append(slot)
    worst: dict[str, Judged] = {}
    for (key, _), item in state.items():
        if key not in worst or _RANK[item.verdict] > _RANK[worst[key].verdict]:
            worst[key] = item
    return worst


def _transfer(here: Judged, kind: EdgeKind, props: dict[str, Any], target: NodeRef,
              declared: dict[str, Any], contracts: dict[str, dict[str, dict[str, Any]]],
              names: dict[str, tuple[str, str]]) -> tuple[Verdict, str, Change | None]:
    """The verdict on `target` given the state of its upstream neighbour."""
    name = here.node.name
    change = here.visible
    if change is not None and here.verdict == "breaking" and here.via is not None:
        # a copy that breaks (its job fails, or its values overflow) breaks what reads it,
        # whatever the change would have done to that reader alone
        return "breaking", f"depends on {name}, which breaks", None
    if change is None:
        if here.verdict == "breaking":
            return "breaking", f"depends on {name}, which breaks", None
        if here.verdict == "unknown":
            return "unknown", f"depends on {name}, whose verdict is unknown", None
        return "compatible", f"the change is absorbed at {name}", None
    what = change.describe()
    if change.kind in ("dropped", "renamed") and kind is not EdgeKind.CONSUMES:
        return "breaking", f"its input {name} is {change.kind}: {what}", None
    if kind is EdgeKind.DERIVED_FROM:
        verdict, reason, visible = _through_derivation(
            change, props.get("transformation") or "unknown", target, declared, name,
            props.get("function"))
        indirect = [t for t in props.get("transformations") or []
                    if str(t).upper().startswith("INDIRECT")]
        if verdict == "compatible" and indirect:
            # the same column also filters, joins or groups the output (Spark reports
            # `WHERE status = 3` so on each field): the change may alter which rows it holds
            verdict = "unknown"
            reason += (f"; {name} also acts on its rows ({', '.join(map(str, indirect))}): "
                       "which rows it holds may change")
        return verdict, reason, visible
    if kind in (EdgeKind.USES_FEATURE, EdgeKind.USES_FIELD):
        return _at_model_input(change, name)
    if kind is EdgeKind.CONSUMES:
        contract = _contract_for(contracts.get(target.key, {}), here, props, names)
        return _at_consumer(change, here, contract)
    return "unknown", f"cannot tell how {kind.value} from {name} treats: {what}", None


#: aggregate functions by what they accept and give
_COUNTS = frozenset({"count", "count_distinct", "approx_count_distinct"})
_ORDERED = frozenset({"min", "max", "first", "last", "any_value"})
_NUMERIC_AGGREGATES = frozenset({"sum", "mean", "avg", "average", "stddev", "variance",
                                 "median", "percentile"})
_FLOAT_TYPES = FLOAT_TYPES
#: numeric aggregates whose result lies within the range of their inputs
_WITHIN_RANGE = frozenset({"mean", "avg", "average", "median", "percentile"})
_INTEGERS = frozenset(INT_RANGES)


def _through_derivation(change: Change, transformation: str, target: NodeRef,
                        declared: dict[str, Any], source: str, function: Any = None
                        ) -> tuple[Verdict, str, Change | None]:
    what = change.describe()
    if transformation == "identity":
        copied = Change(change.kind, target.name, change.new_name,
                        declared.get("type") or change.old_type, change.new_type,
                        change.values)
        if change.kind == "type_changed":
            # how the values the copy would receive fare in the type it declares
            relation = type_relation(change.new_type or "", declared["type"]) \
                if declared.get("type") else change.relation
            verdict: Verdict = "compatible" if relation in ("same", "widening") else "breaking"
            reason = (f"copied from {source} (identity): declared {declared.get('type', '?')}, "
                      f"would receive {change.new_type} ({relation})")
            # the values fit, but does every value the copy held survive the change at its
            # source? Only a narrowing change cuts any, and only what the copy could hold:
            # varchar(100) -> varchar(20) cuts a varchar(100) copy's values, not a
            # varchar(10) copy's
            kept = type_relation(declared["type"], change.new_type or "") \
                if declared.get("type") else change.relation
            if verdict == "compatible" and change.relation not in ("same", "widening") \
                    and kept not in ("same", "widening"):
                verdict = "breaking"
                reason += f"; what it holds does not all survive the change: {what}"
            return verdict, reason, copied
        if change.kind == "nullable":
            if declared.get("nullable") is False:
                return "breaking", (f"copied from {source} (identity) but declared not null"
                                    ), copied
            return "compatible", f"copied from {source} (identity); nulls pass through", copied
        if change.kind == "values_added" and declared.get("allowed_values") is not None:
            extra = [v for v in change.values if not _among(v, declared["allowed_values"])]
            if extra:
                return "breaking", (f"copied from {source} (identity); allows only "
                                    f"{declared['allowed_values']}, would receive {extra}"), copied
        return "compatible", f"copied from {source} (identity): {what}", copied
    if transformation == "aggregation" and change.kind == "type_changed":
        return _through_aggregate(change, str(function or "").lower(), declared.get("type"),
                                  source)
    return "unknown", (f"{transformation} of {source}: cannot tell how it treats: {what}"), None


def _through_aggregate(change: Change, function: str, output: str | None, source: str
                       ) -> tuple[Verdict, str, Change | None]:
    """A type change under an aggregate: count works on any type; min/max give the input's
    type; sum/mean need numbers, and a sum of non-integers does not fit an integer column.
    Without a known function, only what no aggregate could survive is breaking."""
    new = change.new_type or ""
    into = f" into {output}" if output else ""
    if function in _COUNTS:
        return "compatible", (f"{function} of {source}: counts values of any type; the "
                              "result keeps its type"), None
    if function in _ORDERED:
        if output is None:
            return "unknown", (f"{function} of {source} would give {new}; the result's type "
                               "is not declared"), None
        relation = type_relation(new, output)
        verdict: Verdict = "compatible" if relation in ("same", "widening") else "breaking"
        return verdict, (f"{function} of {source} gives {new}{into} ({relation})"), None
    if function in _NUMERIC_AGGREGATES:
        if not is_numeric(new):
            return "breaking", (f"{function} of {source}{into}: cannot be computed over {new} "
                                "values"), None
        if function == "sum" and output in _INTEGERS and new not in _INTEGERS:
            return "breaking", (f"sum of {source}{into}: a sum of {new} values is not an "
                                "integer"), None
        if function == "sum" and output in _INTEGERS and type_relation(new, output) not in (
                "same", "widening"):
            return "breaking", f"sum of {source}{into}: {new} values may overflow it", None
        if function in _WITHIN_RANGE and output is not None and output not in _FLOAT_TYPES \
                and type_relation(new, output) not in ("same", "widening"):
            # a mean or median lies among the values: of int64 values it may not fit int32
            return "breaking", (f"{function} of {source}{into}: a {function} of {new} values "
                                "may not fit it"), None
        return "compatible", (f"{function} of {source}: still numeric ({new}); the result "
                              "keeps its type"), None
    # the function is not recorded: judge only what every aggregate would do
    named = f"{function} of {source}" if function else f"aggregated from {source}"
    if not is_numeric(new):
        if output is not None and is_numeric(output) and output not in _INTEGERS:
            return "breaking", (f"{named}{into}: a numeric aggregate cannot be computed over "
                                f"{new} values (a count would be an integer)"), None
        return "unknown", (f"{named}{into}: a count would still work on {new} values, a sum "
                           "would not; the function is not recorded"), None
    if change.old_type is not None and not is_numeric(change.old_type):
        return "unknown", f"{named}: {change.describe()}; the function is not recorded", None
    if output in _INTEGERS and new not in _INTEGERS:
        return "unknown", (f"{named}{into}: a sum of {new} values would not be an integer; "
                           "the function is not recorded"), None
    # a min or max gives the input's type: it must still fit an integer or decimal result
    # (a float result already takes any number approximately, as a sum or mean would), or,
    # undeclared, the result narrows as its input does
    fits = change.relation if not output else "same" if output in _FLOAT_TYPES \
        else type_relation(new, output)
    if fits not in ("same", "widening"):
        return "unknown", (f"{named}{into}: a min or max of {new} values would be "
                           f"{fits} {'into ' + output if output else 'for what reads it'}; "
                           "the function is not recorded"), None
    return "compatible", (f"{named}: still numeric ({new}) and fits{into}"), None


def _at_model_input(change: Change, source: str) -> tuple[Verdict, str, Change | None]:
    what = change.describe()
    if change.kind == "type_changed":
        if _another_kind(change):
            # whether the model's encoding of the new kind of value still holds is not
            # recorded
            return "unknown", (f"trained on {change.old_type} in {source}; would be served "
                               f"{change.new_type}, which holds every old value but as another "
                               "kind of value"), None
        if change.relation in ("same", "widening"):
            return "compatible", f"input {source} widens ({what})", None
        return "breaking", (f"trained on {change.old_type or 'the old type'} in {source}; "
                            f"would be served {change.new_type}"), None
    if change.kind == "nullable":
        return "breaking", f"trained without nulls in {source}; they would now reach it", None
    if change.kind == "values_added":
        return "breaking", f"values the model never saw would reach it via {source}: {what}", None
    return "compatible", f"a model input narrows harmlessly: {what}", None


def _another_kind(change: Change) -> bool:
    """A widening into another kind of value (a date as a timestamp): every old value fits,
    but a reader of dates is not known to handle timestamps. Numbers into numbers and a
    container into one of its kind with wider members are the same kind."""
    old, new = change.old_type or "", change.new_type or ""
    return change.relation == "widening" and not (
        is_numeric(old) and is_numeric(new)
        or base_type(old).split("<")[0] == base_type(new).split("<")[0])


def _contract_for(by_asset: dict[str, dict[str, Any]], here: Judged,
                  props: dict[str, Any], names: dict[str, tuple[str, str]]
                  ) -> dict[str, Any] | None:
    """The contract entry on the field `here`, whether the contract is on the field itself
    or on its dataset."""
    through = props.get("through")
    contract = by_asset.get(through or here.node.key)
    dataset, field_name = names.get(here.node.key, (None, None))
    if contract is None and not through and dataset is not None:
        # a consumer reading the field directly is still bound by its dataset's contract
        if dataset in by_asset:
            through, contract = dataset, by_asset[dataset]
    if contract is None and through:
        # a dataset consumed whole, with contracts on some of its fields (asset: s.n):
        # they name the fields it relies on, as one contract on the dataset naming them
        own = by_asset.get(here.node.key)
        if own is not None:
            through, contract = None, own
        elif any(asset.startswith(fields_prefix(through)) for asset in by_asset):
            return {}
    if contract is None:
        return None
    fields = contract.get("fields", [])
    if not through:  # contract on the field itself: its single entry; without one, the
        # contract still reads the field
        return fields[0] if fields else {"name": field_name or here.node.name}
    return next((f for f in fields if f.get("name") == field_name), {})


def _at_consumer(change: Change, here: Judged,
                 contract: dict[str, Any] | None) -> tuple[Verdict, str, Change | None]:
    what = change.describe()
    source = here.node.name
    if contract is None:
        return _without_contract(change, source)
    if not contract:
        return "compatible", f"its contract does not use {source}", None
    name = contract.get("name", source)
    if change.kind in ("dropped", "renamed"):
        return "breaking", f"its contract requires '{name}', which is {change.kind}", None
    if change.kind == "type_changed" and contract.get("type"):
        expected = contract["type"]
        relation = type_relation(change.new_type or "", expected)
        if relation not in ("same", "widening"):
            return "breaking", (f"its contract expects '{name}' as {expected}; it would "
                                f"become {change.new_type}"), None
        if change.relation not in ("same", "widening") and type_relation(
                expected, change.new_type or "") not in ("same", "widening") and not (
                    _allowed_fit(contract, change)):
            # the new type fits the contract's, but a narrowing cuts values it accepted
            # (int32 -> int16 under a contract reading int32), as for one without a type
            return "breaking", (f"its contract reads '{name}' as {expected}; {what}: values "
                                "it accepts would be cut"), None
        return "compatible", f"contract type {expected} still holds ({what})", None
    if change.kind == "type_changed" and contract.get("allowed_values") is not None and (
            change.relation not in ("same", "widening")):
        allowed = contract["allowed_values"]
        if change.relation == "narrowing" and _values_fit(allowed, change.new_type or ""):
            # the contract says which values occur: a narrower type that holds them all
            # (int64 -> int32 for codes 1, 2, 3) changes nothing the consumer accepts
            return "compatible", (f"its contract allows only {allowed} for '{name}', which "
                                  f"{change.new_type} holds ({what})"), None
        return "breaking", (f"its contract allows only {allowed} for "
                            f"'{name}'; its values would become {change.new_type}"), None
    if change.kind == "type_changed" and (contract.get("minimum") is not None
                                          or contract.get("maximum") is not None):
        if not is_numeric(change.new_type or ""):
            return "breaking", (f"its contract bounds '{name}' numerically; it would become "
                                f"{change.new_type}"), None
    if change.kind == "type_changed" and _another_kind(change):
        return "unknown", (f"its contract reads '{name}' without a type; {what}: another "
                           "kind of value"), None
    if change.kind == "type_changed" and change.relation not in ("same", "widening"):
        low, high = contract.get("minimum"), contract.get("maximum")
        if change.old_type in _INTEGERS and change.new_type in _INTEGERS and low is not None \
                and high is not None and _fits_integer(low, high, change.new_type):
            return "compatible", (f"its contract bounds '{name}' to {low}..{high}, which "
                                  f"{change.new_type} holds ({what})"), None
        # a contract that names the field without a type still reads it: a change that
        # not every old value survives breaks it as it would break a reader without one
        return "breaking", (f"its contract reads '{name}'; {what}"), None
    if change.kind == "nullable" and contract.get("required"):
        return "breaking", (f"its contract requires '{name}' (not null); it would become "
                            "nullable"), None
    if change.kind == "values_added" and contract.get("allowed_values") is not None:
        extra = [v for v in change.values if not _among(v, contract["allowed_values"])]
        if extra:
            return "breaking", (f"its contract allows only {contract['allowed_values']} for "
                                f"'{name}'; would receive {extra}"), None
    low, high = contract.get("minimum"), contract.get("maximum")
    if change.kind == "values_added" and (low is not None or high is not None):
        beyond = [v for v in change.values if not _within(v, low, high)]
        if beyond:
            return "breaking", (f"its contract bounds '{name}' to {_bounds(low, high)}; would "
                                f"receive {beyond}"), None
    return "compatible", f"its contract on '{name}' still holds ({what})", None


def _allowed_fit(contract: dict[str, Any], change: Change) -> bool:
    """Whether the values `contract` allows (its validValues, or integer bounds) are all
    values of the changed field's new type: then a narrowing to it loses none of them."""
    new = change.new_type or ""
    if contract.get("allowed_values") is not None:
        return _values_fit(contract["allowed_values"], new)
    low, high = contract.get("minimum"), contract.get("maximum")
    return (change.old_type in _INTEGERS and new in _INTEGERS and low is not None
            and high is not None and _fits_integer(low, high, new))


def _among(value: Any, values: Sequence[Any]) -> bool:
    """Whether `value` is one of `values`: text against text exactly ('01' is not '1'),
    otherwise by `value_key` ('2' is 2)."""
    return any(value == v if isinstance(value, str) and isinstance(v, str)
               else value_key(value) == value_key(v) for v in values)


def _within(value: Any, low: float | None, high: float | None) -> bool:
    """Whether `value` (a number, or text spelling one) lies within low..high; anything
    that is not a number does not."""
    if isinstance(value, bool):
        return False
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return (low is None or number >= low) and (high is None or number <= high)


def _bounds(low: float | None, high: float | None) -> str:
    return f"{'' if low is None else low}..{'' if high is None else high}"


def _values_fit(values: Sequence[Any], type_: str) -> bool:
    """Whether every one of `values` (a contract's allowed values) is a value of `type_`
    (`lineage._types.fits`). With no values, whether `fits` can judge the type at all."""
    if not values:
        return fits_type(0, type_) or fits_type("", type_)
    return all(fits_type(v, type_) for v in values)


def _fits_integer(low: float, high: float, type_: str) -> bool:
    """Whether every integer in low..high is a value of integer type `type_`."""
    least, most = INT_RANGES[type_]
    return least <= low and high <= most


def _without_contract(change: Change, source: str) -> tuple[Verdict, str, Change | None]:
    what = change.describe()
    if change.kind in ("dropped", "renamed"):
        return "breaking", f"consumes {source}, which is {change.kind}", None
    if change.kind == "type_changed":
        if _another_kind(change):
            return "unknown", (f"consumes {source} and declares no contract: {what}, another "
                               "kind of value"), None
        if change.relation in ("same", "widening"):
            return "compatible", f"consumes {source}, which only widens", None
        return "breaking", f"consumes {source}: {what}", None
    if change.kind in ("not_null", "values_removed"):
        return "compatible", f"consumes {source}: {what}", None
    return "unknown", f"consumes {source} and declares no contract: {what}", None
