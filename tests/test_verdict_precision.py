"""Lengths, precisions and struct members in change verdicts (issue 12, item 2): a type's
length or fractional-second precision was dropped (`varchar(100)` read as `string`), so
shrinking one read "no change" and a copy or contract declared shorter read "compatible";
`timestamp(6)` was refused as an unknown type; a struct gaining a member was "breaking" for
every reader. Each test failed before its fix."""

from __future__ import annotations

import pytest

import lineage
from lineage import Store
from lineage.impact import ChangeImpact, change_impact
from lineage.schema import type_relation


def _impact(store: Store, name: str, *changes: str) -> ChangeImpact:
    return change_impact(store, name, list(changes))


def _verdicts(store: Store, name: str, *changes: str) -> dict[str, str]:
    return {j.node.key: j.verdict for j in _impact(store, name, *changes).judged}


STRINGS = """\
namespace: t
datasets:
  - name: src
    fields: [{name: code, type: varchar(100)}, {name: label, type: "character varying(50)"}]
  - name: copy
    fields: [{name: code, type: varchar(100)}, {name: label, type: varchar(50)}]
derivations:
  - {from: src.code, to: copy.code, transformation: identity}
  - {from: src.label, to: copy.label, transformation: identity}
consumers:
  - {name: plain, consumes: [src.code, src.label]}
  - name: pinned
    consumes: [src]
    contracts:
      - asset: src
        properties: [{name: label, physicalType: varchar(50)}]
"""


def test_shrinking_a_string_length_breaks_copies_and_readers_instead_of_no_change(
        store: Store) -> None:
    """varchar(100) -> varchar(20): values longer than 20 are cut or refused. It was read
    as string -> string, "no change"."""
    lineage.manifest.register_text(store, STRINGS)
    report = _impact(store, "src.code", "type:varchar(20)")
    assert not report.no_change
    verdicts = {j.node.key: j.verdict for j in report.judged}
    assert verdicts["field:t/copy.code"] == "breaking"
    assert verdicts["consumer:plain"] == "breaking"
    # the same length in another spelling is no change
    assert _impact(store, "src.code", "type:character varying(100)").no_change


def test_widening_a_string_breaks_only_the_copy_and_contract_declared_shorter(
        store: Store) -> None:
    """varchar(50) -> varchar(255): every old value fits (a reader without a contract is
    fine), but the copy declared varchar(50) overflows and the contract pinning varchar(50)
    no longer holds (both were 'compatible')."""
    lineage.manifest.register_text(store, STRINGS)
    verdicts = _verdicts(store, "src.label", "type:varchar(255)")
    assert verdicts["field:t/copy.label"] == "breaking"
    assert verdicts["consumer:pinned"] == "breaking"
    assert verdicts["consumer:plain"] == "compatible"


TIMES = """\
namespace: t
datasets:
  - name: ev
    fields: [{name: at, type: timestamp(6)}, {name: day, type: date}]
  - name: copy
    fields: [{name: at, type: timestamp(6)}]
derivations:
  - {from: ev.at, to: copy.at, transformation: identity}
consumers:
  - {name: plain, consumes: [ev.at]}
"""


def test_timestamp_precision_is_accepted_and_fewer_digits_is_a_narrowing(store: Store) -> None:
    """timestamp(6) was refused as an unknown type. timestamp(6) -> timestamp(3) loses the
    microseconds: breaking for the copy and for a reader; timestamp(6) -> timestamp(9)
    breaks only the copy declared timestamp(6)."""
    lineage.manifest.register_text(store, TIMES)
    assert store.node("field:t/ev.at").properties["type"] == "timestamp(6)"
    narrower = _verdicts(store, "ev.at", "type:timestamp(3)")
    assert narrower == {"field:t/copy.at": "breaking", "consumer:plain": "breaking"}
    finer = _verdicts(store, "ev.at", "type:timestamp(9)")
    assert finer == {"field:t/copy.at": "breaking", "consumer:plain": "compatible"}
    assert _impact(store, "ev.at", "type:timestamp(6)").no_change


def test_a_time_zone_is_another_type_not_no_change(store: Store) -> None:
    """timestamp -> timestamp with time zone changes what every value means."""
    lineage.manifest.register_text(store, TIMES)
    report = _impact(store, "ev.at", "type:timestamp(6) with time zone")
    assert not report.no_change
    assert {j.node.key: j.verdict for j in report.judged}["consumer:plain"] == "breaking"


@pytest.mark.parametrize(("spelling", "canonical"), [
    ("VARCHAR(20)", "varchar(20)"), ("nvarchar(20)", "varchar(20)"),
    ("character varying(20)", "varchar(20)"), ("char(3)", "char(3)"), ("bpchar(3)", "char(3)"),
    ("timestamp(3)", "timestamp(3)"), ("timestamp(3) with time zone", "timestamp_tz(3)"),
    ("timestamptz(0)", "timestamp_tz(0)"), ("time(6)", "time(6)"), ("datetime2(7)",
                                                                    "timestamp(7)"),
])
def test_lengths_and_precisions_are_kept_in_the_canonical_spelling(spelling: str,
                                                                   canonical: str) -> None:
    assert lineage.FieldSchema(name="x", type=spelling).type == canonical


@pytest.mark.parametrize("spelling", ["timestamp(10)", "varchar(0)", "time(3) with time zone"])
def test_impossible_lengths_and_precisions_are_refused(spelling: str) -> None:
    with pytest.raises(ValueError):
        lineage.FieldSchema(name="x", type=spelling)


@pytest.mark.parametrize(("old", "new", "relation"), [
    ("varchar(100)", "varchar(20)", "narrowing"), ("varchar(20)", "varchar(100)", "widening"),
    ("string", "varchar(20)", "narrowing"), ("varchar(20)", "text", "widening"),
    ("char(10)", "varchar(10)", "widening"), ("varchar(10)", "char(10)", "narrowing"),
    ("timestamp(6)", "timestamp(3)", "narrowing"), ("timestamp", "timestamp(6)", "same"),
    ("timestamp", "timestamp(9)", "widening"), ("time(3)", "time(0)", "narrowing"),
    ("timestamp(3)", "timestamp_tz(3)", "incompatible"), ("date", "timestamp(3)", "widening"),
    ("array<varchar(10)>", "array<varchar(5)>", "narrowing"),
    ("struct<a:int32>", "struct<a:int32,b:string>", "widening"),
    ("struct<a:int32,b:string>", "struct<a:int32>", "incompatible"),
    ("struct<a:int32,b:string>", "struct<b:string,a:int32>", "widening"),
    ("struct<a:int32,b:string>", "struct<b:string,a:int16,c:int8>", "narrowing"),
])
def test_lengths_precisions_and_struct_members_relate_by_value(old: str, new: str,
                                                               relation: str) -> None:
    assert type_relation(old, new) == relation


STRUCTS = """\
namespace: t
datasets:
  - name: src
    fields: [{name: addr, type: "struct<city:string,zip:string>"}]
  - name: copy
    fields: [{name: addr, type: "struct<city:string,zip:string>"}]
derivations:
  - {from: src.addr, to: copy.addr, transformation: identity}
consumers:
  - {name: plain, consumes: [src.addr]}
models:
  - name: m
    versions: [{version: 1, fields: [src.addr]}]
"""


def test_a_struct_gaining_a_member_is_compatible_for_readers_and_breaks_an_old_copy(
        store: Store) -> None:
    """Readers read members by name: a new member changes nothing they read (was
    'breaking'). A copy declared with the old struct has no place for it: breaking. A
    struct losing a member breaks its readers."""
    lineage.manifest.register_text(store, STRUCTS)
    gained = _verdicts(store, "src.addr", "type:struct<city:string,zip:string,country:string>")
    assert gained == {"field:t/copy.addr": "breaking", "consumer:plain": "compatible",
                      "model_version:m@1": "compatible", "model:m": "compatible"}
    lost = _verdicts(store, "src.addr", "type:struct<city:string>")
    assert set(lost.values()) == {"breaking"}


def test_a_registered_snapshot_that_kept_no_length_is_not_a_conflict(store: Store) -> None:
    """A release that dropped lengths stored varchar(20) as string: re-registering the same
    manifest is not an edit of history (the snapshot stays as stored); shrinking a length
    that is stored is one."""
    old = """\
namespace: t
datasets:
  - name: s
    fields: [{name: code, type: TYPE}]
    versions: [{version: v1}]
"""
    lineage.manifest.register_text(store, old.replace("TYPE", "string"))
    lineage.manifest.register_text(store, old.replace("TYPE", "varchar(20)"))
    assert [f.type for f in store.schema("s@v1")] == ["string"]
    other = old.replace("name: s\n", "name: u\n")
    lineage.manifest.register_text(store, other.replace("TYPE", "varchar(20)"))
    with pytest.raises(lineage.ConflictError, match="varchar"):
        lineage.manifest.register_text(store, other.replace("TYPE", "varchar(10)"))


# ------------------------------------------------------------------ consumers of wide datasets


def _wide_manifest(width: int) -> str:
    """A consumer of a `width`-field dataset whose fields copy, sum and chain columns of a
    dataset a job loads without column lineage (so the fallback crosses the job)."""
    fields = ", ".join(f"{{name: f{i:03d}, type: int64}}" for i in range(width))
    ups = ", ".join(f"{{name: u{i:02d}, type: int64}}" for i in range(50))
    derivations = [f"  - {{from: up.u{i % 50:02d}, to: wide.f{i:03d}, transformation: "
                   f"{'identity' if i % 3 else 'aggregation'}}}" for i in range(0, width, 2)]
    derivations += [f"  - {{from: wide.f{i - 7:03d}, to: wide.f{i:03d}, transformation: "
                    "identity}" for i in range(7, width, 5)]
    return f"""\
namespace: w
datasets:
  - name: raw
    fields: [{{name: r0, type: int64}}, {{name: r1, type: int64}}]
  - name: up
    fields: [{ups}]
  - name: wide
    fields: [{fields}]
jobs:
  - {{name: load, inputs: [raw], outputs: [up]}}
derivations:
{chr(10).join(derivations)}
consumers:
  - {{name: board, consumes: [wide]}}
"""


def _field_by_field(store: Store, name: str, max_depth: int | None) -> lineage.Closure:
    """upstream(name) as it was built before one pass: one full `upstream` walk per field
    of the consumed dataset, merged one after another, then the fallback loop."""
    import importlib

    im = importlib.import_module("lineage.impact")  # the module (`lineage.impact` is a function)
    closure = store.upstream(name, max_depth, skip_deleted=True)
    im.with_dataset_wide(store, closure)
    consumed = [(c, d) for c, _, d in store.adjacent(
        sorted(closure.keys_of_kind(lineage.NodeKind.CONSUMER)) or [name], "upstream",
        [lineage.EdgeKind.CONSUMES]) if d.kind is lineage.NodeKind.DATASET]
    fields = im._grouped(store.adjacent(sorted({d.key for _, d in consumed}), "downstream",
                                        [lineage.EdgeKind.HAS_FIELD]))
    before = closure.keys()
    closure.extend([(c, f, lineage.EdgeKind.CONSUMES, d) for c, d in consumed
                    for f in fields.get(d.key, [])], nearest_first=True)
    depth = im._depths(closure)
    for key in sorted(k for k in closure.keys_of_kind(lineage.NodeKind.FIELD)
                      if k not in before):
        region = im.upstream(store, key, max(closure.max_depth - depth[key], 0))
        closure.truncated |= region.truncated
        known = closure.keys()
        closure.extend(im._as_additions(region))
        closure.mark_column_unknown({r.node.key for r in region.reached
                                     if r.column_unknown and r.node.key not in known})
    return closure


def _answer(closure: lineage.Closure) -> tuple[set[tuple[str, int, bool]], bool]:
    return {(r.node.key, r.depth, r.column_unknown) for r in closure.reached}, closure.truncated


@pytest.mark.parametrize("depth", [None, 3, 2])
def test_upstream_of_a_consumer_of_a_wide_dataset_is_the_field_by_field_answer(
        store: Store, depth: int | None) -> None:
    """The fields of a 300-field dataset a consumer consumes are walked in one pass (was
    one full upstream walk per field, each rebuilding the key set): the same nodes, depths
    and dataset-level marks as the field-by-field merge, also where the depth bound cuts."""
    from lineage.impact import upstream

    lineage.manifest.register_text(store, _wide_manifest(300))
    got = upstream(store, "consumer:board", depth)
    want = _field_by_field(store, "consumer:board", depth)
    assert _answer(got) == _answer(want)
    keys = {r.node.key for r in got.reached}
    assert "field:w/raw.r0" in keys if depth is None else True
    assert sum(1 for r in got.reached if r.column_unknown) > 0 if depth is None else True


def test_a_narrowing_that_holds_every_value_a_contract_allows_still_holds(
        store: Store) -> None:
    """The contract allows only 1, 2, 3: int64 -> int32 holds them all (was 'breaking');
    int64 -> string does not (another kind), nor varchar(2) -> varchar(1) for 'ab'."""
    lineage.manifest.register_text(store, """\
namespace: t
datasets:
  - name: s
    fields: [{name: lvl, type: int64}, {name: tag, type: varchar(2)}]
consumers:
  - name: c
    consumes: [s]
    contracts:
      - asset: s
        properties:
          - {name: lvl, validValues: [1, 2, 3]}
          - {name: tag, validValues: [a, ab]}
""")
    assert _verdicts(store, "s.lvl", "type:int32")["consumer:c"] == "compatible"
    assert _verdicts(store, "s.lvl", "type:int8")["consumer:c"] == "compatible"
    assert _verdicts(store, "s.lvl", "type:string")["consumer:c"] == "breaking"
    assert _verdicts(store, "s.tag", "type:varchar(1)")["consumer:c"] == "breaking"


def test_a_copy_declared_as_short_as_the_narrowed_source_loses_nothing(store: Store) -> None:
    """varchar(20) -> varchar(10) into a varchar(10) copy: the copy never held more than 10
    characters, so nothing it holds is cut (compatible); a varchar(20) copy is cut
    (breaking)."""
    lineage.manifest.register_text(store, """\
namespace: t
datasets:
  - name: s
    fields: [{name: code, type: varchar(20)}]
  - name: short
    fields: [{name: code, type: varchar(10)}]
  - name: long
    fields: [{name: code, type: varchar(20)}]
derivations:
  - {from: s.code, to: short.code, transformation: identity}
  - {from: s.code, to: long.code, transformation: identity}
""")
    judged = _verdicts(store, "s.code", "type:varchar(10)")
    assert judged == {"field:t/short.code": "compatible", "field:t/long.code": "breaking"}
