"""Random graphs judged against an independent networkx traversal (issue 12): impact and
upstream agree with each other and with the expected reach (column-level and, unless
precise, dataset-level through jobs without column lineage), and adding a derivation never
makes a dependent's change verdict milder."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

import networkx as nx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lineage
from lineage import NodeKind, Store
from lineage.impact import change_impact, impact, upstream

_DATASETS = [f"d{i}" for i in range(5)]
_FIELDS = [f"{d}.{c}" for d in _DATASETS for c in ("a", "b")]
_TYPES = {"a": "int32", "b": "int64"}
#: derivations land in d0..d2 only; jobs (no column lineage) write d3 and d4 only, so no
#: field is both a job's uncovered output and a derivation's target
_TARGETS = [f for f in _FIELDS if f[:2] in ("d0", "d1", "d2")]
_RANKS = {"compatible": 0, "unknown": 1, "breaking": 2}
_STORE: list[Store] = []


def _shared_store() -> Store:
    if not _STORE:  # one store for every example: connecting costs ~1 s
        folder = tempfile.mkdtemp(prefix="lineage-verdict-property-")
        _STORE.append(lineage.connect(f"sqlite:///{Path(folder) / 'lineage.db'}"))
    return _STORE[0]


def _manifest(ns: str, derivations: list[tuple[str, str, str]],
              jobs: list[tuple[list[str], list[str]]], consumers: list[list[str]]) -> str:
    def key(ref: str) -> str:  # full keys: every example has its own namespace
        return f"'field:{ns}/{ref}'" if "." in ref else f"'dataset:{ns}/{ref}'"

    lines = [f"namespace: {ns}", "datasets:"]
    for d in _DATASETS:
        lines.append(f"  - name: {d}")
        lines.append("    fields: [" + ", ".join(
            f"{{name: {c}, type: {t}, nullable: false}}" for c, t in _TYPES.items()) + "]")
    lines.append("derivations:" if derivations else "derivations: []")
    lines += [f"  - {{from: {key(s)}, to: {key(t)}, transformation: {how}}}"
              for s, t, how in derivations]
    lines.append("jobs:" if jobs else "jobs: []")
    lines += [f"  - {{name: j{i}, inputs: [{', '.join(map(key, ins))}], "
              f"outputs: [{', '.join(map(key, outs))}]}}"
              for i, (ins, outs) in enumerate(jobs)]
    lines.append("consumers:" if consumers else "consumers: []")
    # consumer names are global: each example's its own
    lines += [f"  - {{name: {ns}-c{i}, consumes: [{', '.join(map(key, what))}]}}"
              for i, what in enumerate(consumers)]
    return "\n".join(lines) + "\n"


def _expected(ns: str, derivations: list[tuple[str, str, str]],
              jobs: list[tuple[list[str], list[str]]], consumers: list[list[str]],
              precise: bool) -> nx.DiGraph:
    """What depends on what, built from the manifest's meaning, not from the store: a
    field feeds what derives from it, its consumers, and (through its dataset, `feed:`)
    the dataset's consumers and the jobs reading the dataset, whose outputs' fields all
    depend on it (dataset-level lineage: left out when precise)."""
    g = nx.DiGraph()
    for f in _FIELDS:
        g.add_edge(f"field:{ns}/{f}", f"feed:{f[:2]}")
    for s, t, _ in derivations:
        g.add_edge(f"field:{ns}/{s}", f"field:{ns}/{t}")
    if not precise:
        for i, (ins, outs) in enumerate(jobs):
            for d in ins:
                g.add_edge(f"feed:{d}", f"job:{ns}/j{i}")
            for d in outs:
                for c in _TYPES:
                    g.add_edge(f"job:{ns}/j{i}", f"field:{ns}/{d}.{c}")
    for i, what in enumerate(consumers):
        for x in what:
            g.add_edge(f"field:{ns}/{x}" if "." in x else f"feed:{x}", f"consumer:{ns}-c{i}")
    return g


_KINDS = (NodeKind.FIELD, NodeKind.JOB, NodeKind.CONSUMER)


def _reach(closure_reached: object) -> set[str]:
    return {r.node.key for r in closure_reached  # type: ignore[attr-defined]
            if r.node.kind in _KINDS}


_derivation = st.tuples(st.sampled_from(_FIELDS), st.sampled_from(_TARGETS),
                        st.sampled_from(["identity", "aggregation", "transformation"]))
_job = st.tuples(st.lists(st.sampled_from(_DATASETS), min_size=1, max_size=2, unique=True),
                 st.lists(st.sampled_from(["d3", "d4"]), min_size=1, max_size=2, unique=True))
_consumer = st.lists(st.sampled_from(_FIELDS + _DATASETS), min_size=1, max_size=2,
                     unique=True)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(derivations=st.lists(_derivation, max_size=6), extra=_derivation,
       jobs=st.lists(_job, max_size=2), consumers=st.lists(_consumer, max_size=3),
       change=st.sampled_from(["type:int64", "type:string", "drop", "nullable"]))
def test_impact_and_upstream_agree_with_a_networkx_walk_and_an_edge_never_softens_a_verdict(
        derivations: list[tuple[str, str, str]], extra: tuple[str, str, str],
        jobs: list[tuple[list[str], list[str]]], consumers: list[list[str]],
        change: str) -> None:
    store = _shared_store()
    ns = f"p{uuid.uuid4().hex[:10]}"
    derivations = [d for d in derivations if d[0] != d[1]]
    # a job that rewrites its own input is by design no dataset-level step from it
    jobs = [(ins, [o for o in outs if o not in ins]) for ins, outs in jobs]
    jobs = [(ins, outs) for ins, outs in jobs if outs]
    lineage.manifest.register_text(store, _manifest(ns, derivations, jobs, consumers))
    for precise in (False, True):
        graph = _expected(ns, derivations, jobs, consumers, precise)
        ups: dict[str, set[str]] = {}
        for f in _FIELDS:
            key = f"field:{ns}/{f}"
            want = {n for n in nx.descendants(graph, key) if not n.startswith("feed:")}
            got = _reach(impact(store, key, precise=precise).closure.reached)
            assert got == want, (precise, key, sorted(got ^ want))
            for z in got:
                if z not in ups:
                    ups[z] = _reach(upstream(store, z, precise=precise).reached)
                assert key in ups[z], (precise, key, z)  # the two directions agree
    before = {j.node.key: _RANKS[j.verdict]
              for j in change_impact(store, f"field:{ns}/d0.a", [change]).judged}
    if extra[0] != extra[1]:
        lineage.manifest.register_text(store, _manifest(ns, [*derivations, extra], jobs,
                                                        consumers))
    after = {j.node.key: _RANKS[j.verdict]
             for j in change_impact(store, f"field:{ns}/d0.a", [change]).judged}
    assert all(after.get(key, -1) >= rank for key, rank in before.items()), (before, after)


def test_upstream_of_a_dataset_consumer_lists_the_fields_whose_impact_reaches_it(
        store: Store) -> None:
    lineage.manifest.register_text(store, """\
namespace: t
datasets:
  - name: d0
    fields: [{name: a, type: int32}]
consumers:
  - {name: reader, consumes: [d0]}
""")
    assert "consumer:reader" in _reach(impact(store, "d0.a").closure.reached)
    assert "field:t/d0.a" in _reach(upstream(store, "consumer:reader").reached)
