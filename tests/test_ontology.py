"""ontology/lineage.ttl and lineage/_vocabulary.py agree, and the ontology is aligned to PROV-O.

The Turtle file is the source of truth; these tests fail when a node kind, edge kind, record
origin or transformation type is added, renamed or removed in one place only, and when an
edge kind loses its PROV alignment or its reading.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from enum import StrEnum
from pathlib import Path

import pytest
from rdflib import RDF, RDFS, Graph, Literal, Namespace, URIRef
from rdflib.namespace import OWL

import lineage
from lineage._vocabulary import EDGE_READING, EdgeKind, NodeKind, Origin, Transformation

TTL = Path(__file__).parents[1] / "ontology" / "lineage.ttl"
LIN = Namespace("https://lineage.dev/ontology#")
PROV = Namespace("http://www.w3.org/ns/prov#")

DIRECTIONS = {"src_to_dst", "dst_to_src"}
PROV_ROOTS = {PROV.Entity, PROV.Activity, PROV.Agent}

#: PROV-O's own class hierarchy as far as the node kinds need it (owl:imports is not followed).
PROV_SUBCLASSES: dict[URIRef, set[URIRef]] = {
    PROV.Plan: {PROV.Entity},
    PROV.Bundle: {PROV.Entity},
    PROV.Collection: {PROV.Entity},
    PROV.SoftwareAgent: {PROV.Agent},
    PROV.Person: {PROV.Agent},
    PROV.Organization: {PROV.Agent},
}

#: PROV-O object properties (starting-point and expanded terms) an edge kind may align to;
#: a name outside this set is a typo, not a PROV term.
PROV_PROPERTIES = {PROV[name] for name in (
    "wasGeneratedBy", "wasDerivedFrom", "wasAttributedTo", "used", "wasInformedBy",
    "wasAssociatedWith", "actedOnBehalfOf", "alternateOf", "specializationOf",
    "hadPrimarySource", "wasQuotedFrom", "wasRevisionOf", "wasInvalidatedBy", "hadMember",
    "wasStartedBy", "wasEndedBy", "wasInfluencedBy", "atLocation", "generated",
    "invalidated", "influenced",
)}

#: Classes that describe the vocabulary itself and carry no lin:kindName.
NON_KIND_CLASSES = {LIN.Origin, LIN.TransformationType, LIN.RecordAssertion}


def load() -> Graph:
    return Graph().parse(TTL, format="turtle")


@pytest.fixture(scope="module")
def graph() -> Graph:
    return load()


def copy_of(graph: Graph) -> Graph:
    copy = Graph()
    copy += graph
    return copy


def show(term: URIRef) -> str:
    return f"lin:{term[len(LIN):]}" if term.startswith(LIN) else f"<{term}>"


def kind_name(graph: Graph, term: URIRef) -> str | None:
    names = [str(v) for v in graph.objects(term, LIN.kindName)]
    return names[0] if len(names) == 1 else None


# -- the terms of each vocabulary, as the ontology declares them ------------------------------


def node_kind_classes(graph: Graph) -> Iterator[URIRef]:
    for cls in graph.subjects(RDF.type, OWL.Class):
        if isinstance(cls, URIRef) and cls not in NON_KIND_CLASSES:
            yield cls


def edge_kind_properties(graph: Graph) -> Iterator[URIRef]:
    for prop in graph.subjects(RDF.type, OWL.ObjectProperty):
        if isinstance(prop, URIRef) and (prop, LIN.kindName, None) in graph:
            yield prop


def individuals_of(graph: Graph, cls: URIRef) -> Iterator[URIRef]:
    for term in graph.subjects(RDF.type, cls):
        if isinstance(term, URIRef):
            yield term


def by_kind_name(graph: Graph) -> dict[type[StrEnum], dict[str, URIRef]]:
    """Each Python vocabulary's ontology terms, by their lin:kindName."""
    terms: dict[type[StrEnum], Iterable[URIRef]] = {
        NodeKind: node_kind_classes(graph),
        EdgeKind: edge_kind_properties(graph),
        Origin: individuals_of(graph, LIN.Origin),
        Transformation: individuals_of(graph, LIN.TransformationType),
    }
    return {enum: {name: t for t in found if (name := kind_name(graph, t)) is not None}
            for enum, found in terms.items()}


# -- the comparisons ---------------------------------------------------------------------------

WHERE = {
    NodeKind: "an owl:Class",
    EdgeKind: "an owl:ObjectProperty",
    Origin: "a lin:Origin individual",
    Transformation: "a lin:TransformationType individual",
}


def vocabulary_mismatches(graph: Graph) -> list[str]:
    """Every term that is in lineage/_vocabulary.py or ontology/lineage.ttl but not both, and
    every ontology term whose lin:kindName is missing, repeated or shared with another term."""
    problems: list[str] = []
    declared = {
        NodeKind: list(node_kind_classes(graph)),
        EdgeKind: list(edge_kind_properties(graph)),
        Origin: list(individuals_of(graph, LIN.Origin)),
        Transformation: list(individuals_of(graph, LIN.TransformationType)),
    }
    for enum, terms in declared.items():
        where = WHERE[enum]
        names: Counter[str] = Counter()
        for term in terms:
            found = sorted(str(v) for v in graph.objects(term, LIN.kindName))
            if len(found) != 1:
                problems.append(f"{show(term)} ({where}) has {len(found)} lin:kindName values "
                                f"{found}, expected exactly one")
            names.update(found)
        problems += [f"{enum.__name__} {name!r} is the lin:kindName of {n} terms in the ontology"
                     for name, n in sorted(names.items()) if n > 1]
        python = {member.value for member in enum}
        problems += [f"{enum.__name__} {name!r} is in lineage/_vocabulary.py but not in "
                     f"ontology/lineage.ttl ({where} with lin:kindName {name!r})"
                     for name in sorted(python - set(names))]
        problems += [f"{enum.__name__} {name!r} is in ontology/lineage.ttl ({where}) but not "
                     f"in lineage/_vocabulary.py" for name in sorted(set(names) - python)]
    return problems


def edge_alignment_problems(graph: Graph) -> list[str]:
    """Edge kinds without exactly one PROV-O property and one reading direction."""
    problems: list[str] = []
    for name, prop in sorted(by_kind_name(graph)[EdgeKind].items()):
        targets = list(graph.objects(prop, LIN.provProperty))
        if len(targets) != 1:
            problems.append(f"edge kind {name!r} ({show(prop)}) has {len(targets)} "
                            f"lin:provProperty values, expected exactly one")
        problems += [f"edge kind {name!r} ({show(prop)}): lin:provProperty {t} is not a PROV-O "
                     f"property" for t in targets if t not in PROV_PROPERTIES]
        directions = [str(d) for d in graph.objects(prop, LIN.provDirection)]
        if len(directions) != 1 or directions[0] not in DIRECTIONS:
            problems.append(f"edge kind {name!r} ({show(prop)}) has lin:provDirection "
                            f"{directions}, expected exactly one of {sorted(DIRECTIONS)}")
    return problems


def superclasses(graph: Graph, cls: URIRef) -> set[URIRef]:
    """Every class `cls` is a subclass of, transitively, in the ontology plus PROV-O's own
    hierarchy."""
    parents: defaultdict[URIRef, set[URIRef]] = defaultdict(set)
    for sub, sup in graph.subject_objects(RDFS.subClassOf):
        if isinstance(sub, URIRef) and isinstance(sup, URIRef):
            parents[sub].add(sup)
    for sub, sups in PROV_SUBCLASSES.items():
        parents[sub] |= sups
    seen: set[URIRef] = set()
    todo = [cls]
    while todo:
        for sup in parents[todo.pop()] - seen:
            seen.add(sup)
            todo.append(sup)
    return seen


def node_alignment_problems(graph: Graph) -> list[str]:
    """Node kinds that are not a PROV Entity, Activity or Agent."""
    return [f"node kind {name!r} ({show(cls)}) is not a subclass of prov:Entity, prov:Activity "
            f"or prov:Agent (its superclasses: {sorted(map(show, superclasses(graph, cls)))})"
            for name, cls in sorted(by_kind_name(graph)[NodeKind].items())
            if not superclasses(graph, cls) & PROV_ROOTS]


def reading_problems(graph: Graph) -> list[str]:
    """Edge kinds without a reading in EDGE_READING, or whose rdfs:comment does not state it."""
    problems = [f"EdgeKind {kind.value!r} has no reading in EDGE_READING"
                for kind in EdgeKind if kind not in EDGE_READING]
    properties = by_kind_name(graph)[EdgeKind]
    for kind, reading in EDGE_READING.items():
        prop = properties.get(kind.value)
        if prop is None:
            continue  # reported by vocabulary_mismatches
        comments = [" ".join(str(c).split()) for c in graph.objects(prop, RDFS.comment)]
        if not any(reading in comment for comment in comments):
            problems.append(f"the rdfs:comment of {show(prop)} does not contain the reading "
                            f"of EdgeKind {kind.value!r} in EDGE_READING: {reading!r}")
    return problems


def report(problems: list[str]) -> str:
    return "\n".join(["ontology/lineage.ttl and lineage/_vocabulary.py disagree:", *problems])


# -- the shipped ontology ----------------------------------------------------------------------


def test_node_kind_classes_are_exactly_the_python_node_kinds(graph: Graph) -> None:
    names = set(by_kind_name(graph)[NodeKind])
    assert names == {k.value for k in NodeKind}, report(vocabulary_mismatches(graph))


def test_edge_kind_properties_are_exactly_the_python_edge_kinds(graph: Graph) -> None:
    names = set(by_kind_name(graph)[EdgeKind])
    assert names == {k.value for k in EdgeKind}, report(vocabulary_mismatches(graph))


def test_origin_individuals_are_exactly_the_python_origins(graph: Graph) -> None:
    names = set(by_kind_name(graph)[Origin])
    assert names == {o.value for o in Origin}, report(vocabulary_mismatches(graph))


def test_transformation_type_individuals_are_exactly_the_python_transformations(
        graph: Graph) -> None:
    names = set(by_kind_name(graph)[Transformation])
    assert names == {t.value for t in Transformation}, report(vocabulary_mismatches(graph))


def test_the_shipped_ontology_has_no_vocabulary_mismatches(graph: Graph) -> None:
    assert vocabulary_mismatches(graph) == [], report(vocabulary_mismatches(graph))


def test_every_edge_kind_names_one_prov_property_and_a_reading_direction(graph: Graph) -> None:
    assert edge_alignment_problems(graph) == [], report(edge_alignment_problems(graph))


def test_every_node_kind_is_a_prov_entity_activity_or_agent(graph: Graph) -> None:
    assert node_alignment_problems(graph) == [], report(node_alignment_problems(graph))


def test_a_model_version_is_both_an_entity_and_a_software_agent(graph: Graph) -> None:
    model_version = by_kind_name(graph)[NodeKind][NodeKind.MODEL_VERSION.value]
    found = superclasses(graph, model_version)
    assert {PROV.Entity, PROV.SoftwareAgent, PROV.Agent} <= found, sorted(map(show, found))


def test_every_edge_kind_has_a_reading_stated_in_its_ontology_comment(graph: Graph) -> None:
    assert set(EDGE_READING) == set(EdgeKind), "EDGE_READING must cover every EdgeKind"
    assert reading_problems(graph) == [], report(reading_problems(graph))


def test_every_edge_kind_has_a_data_flow_verb() -> None:
    assert set(lineage.EDGE_VERB) == set(EdgeKind), "EDGE_VERB must cover every EdgeKind"
    assert len(set(lineage.EDGE_VERB.values())) == len(EdgeKind), "verbs must tell kinds apart"


def test_every_origin_names_the_prov_agent_class_that_asserts_it(graph: Graph) -> None:
    agents = {PROV.Agent} | {c for c, sups in PROV_SUBCLASSES.items() if PROV.Agent in sups}
    for name, origin in by_kind_name(graph)[Origin].items():
        asserted_by = list(graph.objects(origin, LIN.assertedBy))
        assert len(asserted_by) == 1 and asserted_by[0] in agents, (
            f"origin {name!r} ({show(origin)}) has lin:assertedBy {asserted_by}, expected "
            f"exactly one of {sorted(map(str, agents))}")


def test_edge_directions_follow_data_flow_for_the_derivations(graph: Graph) -> None:
    """PROV points from the derived thing back to its source; the store points downstream,
    so every wasDerivedFrom/used/wasGeneratedBy alignment reads the pair dst -> src."""
    backwards = {PROV.wasDerivedFrom, PROV.used, PROV.wasGeneratedBy, PROV.wasAttributedTo,
                 PROV.wasInformedBy}
    for name, prop in by_kind_name(graph)[EdgeKind].items():
        target = graph.value(prop, LIN.provProperty)
        if target in backwards:
            assert graph.value(prop, LIN.provDirection) == Literal("dst_to_src"), (
                f"edge kind {name!r} aligns to {target} but is not read dst_to_src")


# -- the checks catch a term changed in one place only -----------------------------------------


@pytest.mark.parametrize("enum, term", [
    (NodeKind, LIN.Dataset),
    (EdgeKind, LIN.derivedFrom),
    (Origin, LIN.AiInferred),
    (Transformation, LIN.GroupBy),
])
def test_a_kind_that_only_python_has_is_reported(graph: Graph, enum: type[StrEnum],
                                                 term: URIRef) -> None:
    name = kind_name(graph, term)
    assert name is not None
    modified = copy_of(graph)
    modified.remove((term, LIN.kindName, None))

    problems = vocabulary_mismatches(modified)

    assert any(f"{enum.__name__} {name!r} is in lineage/_vocabulary.py but not in" in p
               for p in problems), problems
    assert vocabulary_mismatches(graph) == []


def test_a_kind_that_only_the_ontology_has_is_reported(graph: Graph) -> None:
    modified = copy_of(graph)
    modified.add((LIN.Embedding, RDF.type, OWL.Class))
    modified.add((LIN.Embedding, LIN.kindName, Literal("embedding")))

    problems = vocabulary_mismatches(modified)

    assert problems == ["NodeKind 'embedding' is in ontology/lineage.ttl (an owl:Class) but not "
                        "in lineage/_vocabulary.py"]


def test_a_kind_name_shared_by_two_terms_is_reported(graph: Graph) -> None:
    modified = copy_of(graph)
    modified.add((LIN.Table, RDF.type, OWL.Class))
    modified.add((LIN.Table, LIN.kindName, Literal("dataset")))

    assert "NodeKind 'dataset' is the lin:kindName of 2 terms in the ontology" in (
        vocabulary_mismatches(modified))


def test_an_edge_kind_without_a_prov_direction_is_reported(graph: Graph) -> None:
    modified = copy_of(graph)
    modified.remove((LIN.trainedOn, LIN.provDirection, None))

    assert any("'trained_on'" in p and "lin:provDirection" in p
               for p in edge_alignment_problems(modified))


def test_an_edge_kind_aligned_to_a_misspelt_prov_property_is_reported(graph: Graph) -> None:
    modified = copy_of(graph)
    modified.set((LIN.wrote, LIN.provProperty, PROV.wasGeneratedFrom))

    assert any("'wrote'" in p and "not a PROV-O property" in p
               for p in edge_alignment_problems(modified))


def test_a_node_kind_outside_the_prov_hierarchy_is_reported(graph: Graph) -> None:
    modified = copy_of(graph)
    modified.remove((LIN.Run, RDFS.subClassOf, None))

    assert any("'run'" in p for p in node_alignment_problems(modified))


def test_an_edge_comment_that_drops_its_reading_is_reported(graph: Graph) -> None:
    modified = copy_of(graph)
    modified.set((LIN.consumes, RDFS.comment, Literal("A consumer uses an asset.")))

    assert any("'consumes'" in p for p in reading_problems(modified))
