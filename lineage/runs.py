"""Runs of jobs, as a node's history: a job's runs, the runs that wrote or read a dataset
(or one of its versions), a run itself; each with its state, times, and the datasets and
dataset versions it read and wrote.

Runs are what OpenLineage RunEvents and dbt's run_results record (`job -run_of-> run`,
`input -read-> run`, `run -wrote-> output`); their properties differ by producer
(OpenLineage: `state`, `states` {state: event time}, nominal times, `error_message`;
dbt: `state`, `started_at`, `ended_at`, `message`), so this reads either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._model import Node, NodeRef
from ._vocabulary import EdgeKind, NodeKind
from .store.base import Store

#: runs listed at most by default: a daily job has a run per day for years
DEFAULT_LIMIT = 50
_TERMINAL = ("COMPLETE", "FAIL", "ABORT")


@dataclass
class RunSummary:
    """One run: `role` says how it touches the node asked about (`run_of` for a job's
    runs, `wrote` or `read` for a dataset's or version's, `self` for the run itself)."""

    run: NodeRef
    role: str
    job: str | None
    state: str | None
    started_at: str | None
    ended_at: str | None
    message: str | None
    parent: str | None
    inputs: list[NodeRef] = field(default_factory=list)
    outputs: list[NodeRef] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.run.key, "name": self.run.name, "role": self.role,
                "job": self.job, "state": self.state, "started_at": self.started_at,
                "ended_at": self.ended_at, "message": self.message, "parent": self.parent,
                "inputs": [_ref(r) for r in self.inputs],
                "outputs": [_ref(r) for r in self.outputs]}


@dataclass
class RunHistory:
    """The runs of `of`, newest first, at most `limit` of `total` (`truncated` when fewer
    are listed than exist)."""

    of: NodeRef
    runs: list[RunSummary]
    total: int
    limit: int

    @property
    def truncated(self) -> bool:
        return self.total > len(self.runs)

    def to_dict(self) -> dict[str, Any]:
        return {"of": _ref(self.of), "runs": [r.to_dict() for r in self.runs],
                "total": self.total, "limit": self.limit, "truncated": self.truncated}


def _ref(ref: NodeRef) -> dict[str, str]:
    return {"key": ref.key, "kind": ref.kind.value, "name": ref.name}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _times(node: Node) -> tuple[str | None, str | None]:
    """When the run started and ended, from whichever properties its producer wrote."""
    props = node.properties
    found = props.get("states")
    states: dict[str, Any] = found if isinstance(found, dict) else {}
    started = _text(props.get("started_at")) or _text(states.get("START")) \
        or _text(states.get("RUNNING"))
    ended = _text(props.get("ended_at")) or next(
        (t for s in _TERMINAL if (t := _text(states.get(s)))), None)
    return started, ended


def runs(store: Store, name: str, limit: int = DEFAULT_LIMIT) -> RunHistory:
    """The runs of node `name` (a key or an unambiguous suffix), newest first (by end,
    else start time; runs without either last), at most `limit`; `total` counts them all.

    A job: its runs. A dataset: the runs that wrote or read it or any of its versions. A
    dataset version: the runs that wrote or read it. A run: itself. Any other kind: none.
    Raises NotFound / AmbiguousName as `Store.resolve` does."""
    ref = store.resolve(name)
    role: dict[str, str] = {}
    if ref.kind is NodeKind.JOB:
        for _, _, r in store.adjacent([ref.key], "downstream", [EdgeKind.RUN_OF]):
            if r.kind is NodeKind.RUN:
                role[r.key] = "run_of"
    elif ref.kind is NodeKind.RUN:
        role[ref.key] = "self"
    elif ref.kind in (NodeKind.DATASET, NodeKind.DATASET_VERSION):
        targets = [ref.key]
        if ref.kind is NodeKind.DATASET:
            targets += [r.key for _, _, r in store.adjacent([ref.key], "upstream",
                                                            [EdgeKind.VERSION_OF])
                        if r.kind is NodeKind.DATASET_VERSION]
        # a run that wrote it is listed as its writer even if it also read it
        for _, _, r in store.adjacent(targets, "downstream", [EdgeKind.READ]):
            if r.kind is NodeKind.RUN:
                role[r.key] = "read"
        for _, _, r in store.adjacent(targets, "upstream", [EdgeKind.WROTE]):
            if r.kind is NodeKind.RUN:
                role[r.key] = "wrote"
    found = store.nodes(role)

    def when(node: Node) -> str:
        started, ended = _times(node)
        return ended or started or ""  # ISO times sort as text; "" (no time) last

    ordered = sorted(found.values(), key=lambda n: n.key)
    ordered.sort(key=when, reverse=True)  # stable: equal times stay by key
    ordered = ordered[:max(0, limit)]
    keys = [n.key for n in ordered]
    inputs: dict[str, list[NodeRef]] = {}
    outputs: dict[str, list[NodeRef]] = {}
    if keys:
        for key, _, r in store.adjacent(keys, "upstream", [EdgeKind.READ]):
            inputs.setdefault(key, []).append(r)
        for key, _, r in store.adjacent(keys, "downstream", [EdgeKind.WROTE]):
            outputs.setdefault(key, []).append(r)
    listed = []
    for node in ordered:
        started, ended = _times(node)
        props = node.properties
        listed.append(RunSummary(
            run=NodeRef(key=node.key, kind=node.kind, name=node.name), role=role[node.key],
            job=_text(props.get("job")), state=_text(props.get("state")),
            started_at=started, ended_at=ended,
            message=_text(props.get("error_message")) or _text(props.get("message")),
            parent=_text(props.get("parent")),
            inputs=inputs.get(node.key, []), outputs=outputs.get(node.key, [])))
    return RunHistory(of=ref, runs=listed, total=len(found), limit=limit)

