"""Exports: PROV-JSON and PROV-O Turtle read back by the W3C `prov` library and rdflib, DOT,
and the mapping checked against ontology/lineage.ttl; on every backend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import rdflib
from click.testing import CliRunner
from prov.model import ProvActivity, ProvAgent, ProvDerivation, ProvDocument, ProvEntity
from rdflib.namespace import RDF

import lineage
from lineage import export
from lineage import openlineage as ol
from lineage.export import LIN_CLASS, NODE_BASE, PROV_RELATION, roles
from tests.conftest import ROOT

DATA = Path(__file__).parent / "data" / "openlineage"
PG = "postgres://db.prod:5432"
RUN = "run:airflow/daily_etl.build_order_facts/0190d6f4-3c1e-7a5e-9b1e-3f0a2c4d5e6f"
FACTS = f"dataset:{PG}/analytics.order_facts"
ORDER_ID = f"field:{PG}/analytics.order_facts.order_id"
ORDERS_ID = f"field:{PG}/public.orders_raw.id"
ORDERS = f"dataset:{PG}/public.orders_raw"
FRAUD_3 = "model_version:fraud@3"
SCORE = "field:s3://ml-warehouse/fraud.scores.score"
PROV_NS = rdflib.Namespace("http://www.w3.org/ns/prov#")
LIN_NS = rdflib.Namespace("https://lineage.dev/ontology#")
DERIVING = {"derived_from", "trained_on", "uses_feature", "uses_field"}


@pytest.fixture
def full_store(fraud_store: lineage.Store) -> lineage.Store:
    """The fraud example plus an OpenLineage run (runs are the graph's activities)."""
    events = [json.loads((DATA / f"{n}.json").read_text())
              for n in ("run_start", "run_complete", "dataset_event", "job_event")]
    ol.ingest(fraud_store, events)
    return fraud_store


def _all(store: lineage.Store) -> tuple[dict[str, lineage.Node], list[lineage.EdgeSpec]]:
    nodes = store.nodes(r.key for r in store.find("", limit=100_000))
    return nodes, store.edges_among(nodes)


def _iri(key: str) -> rdflib.URIRef:
    return rdflib.URIRef(NODE_BASE + key)


def _key(qualified_name: Any) -> str:
    return str(qualified_name.localpart)


# ------------------------------------------------------------------ PROV-JSON


def test_prov_json_reads_back_with_every_entity_activity_agent_and_derivation(
        full_store: lineage.Store) -> None:
    nodes, edges = _all(full_store)
    doc = ProvDocument.deserialize(content=export.prov(full_store, fmt="json"), format="json")
    records = doc.get_records()

    entities = {_key(r.identifier) for r in records if isinstance(r, ProvEntity)}
    activities = {_key(r.identifier) for r in records if isinstance(r, ProvActivity)}
    agents = {_key(r.identifier) for r in records if isinstance(r, ProvAgent)}
    kinds = lineage.NodeKind
    assert activities == {k for k, n in nodes.items() if n.kind is kinds.RUN}
    assert agents == {k for k, n in nodes.items()
                      if n.kind in (kinds.CONSUMER, kinds.AGENT, kinds.MODEL_VERSION)}
    assert entities == {k for k, n in nodes.items()
                        if n.kind not in (kinds.RUN, kinds.CONSUMER, kinds.AGENT)}

    derivations = {(_key(r.get_attribute("prov:generatedEntity").pop()),
                    _key(r.get_attribute("prov:usedEntity").pop()))
                   for r in records if isinstance(r, ProvDerivation)}
    assert derivations == {(e.dst, e.src) for e in edges if e.kind.value in DERIVING}
    assert (ORDER_ID, ORDERS_ID) in derivations          # from OpenLineage column lineage
    assert (FRAUD_3, "feature:age") in derivations        # uses_feature, from the manifest


def test_prov_json_keeps_node_and_edge_properties(full_store: lineage.Store) -> None:
    doc = export.prov_json(full_store)
    assert doc["prefix"] == {"lin": "https://lineage.dev/ontology#", "node": NODE_BASE}
    run = doc["activity"][f"node:{RUN}"]
    assert run["lin:state"] == "COMPLETE" and run["lin:key"] == RUN
    assert {"$": "lin:Run", "type": "prov:QUALIFIED_NAME"} in run["prov:type"]
    job = doc["entity"]["node:job:airflow/daily_etl.build_order_facts"]
    assert {"$": "prov:Plan", "type": "prov:QUALIFIED_NAME"} in job["prov:type"]
    derivation = next(r for r in doc["wasDerivedFrom"].values()
                      if r["prov:generatedEntity"] == f"node:{ORDER_ID}")
    assert derivation["prov:usedEntity"] == f"node:{ORDERS_ID}"
    assert (derivation["lin:edgeKind"], derivation["lin:transformation"]) == \
        ("derived_from", "identity")
    # a run used its inputs and generated its outputs; a job is a plan, so its read/wrote
    # edges are stated as influence
    used = {(r["prov:activity"], r["prov:entity"]) for r in doc["used"].values()}
    assert (f"node:{RUN}", f"node:{ORDERS}") in used
    generated = {(r["prov:entity"], r["prov:activity"]) for r in doc["wasGeneratedBy"].values()}
    assert (f"node:{FACTS}", f"node:{RUN}") in generated
    influence = {(r["prov:influencee"], r["prov:influencer"], r["lin:edgeKind"])
                 for r in doc["wasInfluencedBy"].values()}
    assert ("node:job:airflow/daily_etl.build_order_facts", f"node:{ORDERS}", "read") in \
        influence
    assert (f"node:{RUN}", "node:job:airflow/daily_etl.build_order_facts", "run_of") in \
        influence
    attributed = {(r["prov:entity"], r["prov:agent"]) for r in doc["wasAttributedTo"].values()}
    assert (f"node:{SCORE}", f"node:{FRAUD_3}") in attributed


def test_prov_around_a_node_exports_only_what_it_reaches(full_store: lineage.Store) -> None:
    doc = export.prov_json(full_store, [ORDER_ID], direction="up", depth=1)
    assert set(doc["entity"]) == {f"node:{ORDER_ID}", f"node:{ORDERS_ID}", f"node:{FACTS}"}
    assert "activity" not in doc
    down = export.prov_json(full_store, ["orders_raw.id"], direction="down", depth=1)
    # (orders_raw's Hive name is a symlink: the same column under the other name)
    assert set(down["entity"]) == {f"node:{ORDERS_ID}", f"node:{ORDER_ID}",
                                   "node:field:hive://metastore.prod:9083/raw.orders.id"}
    with pytest.raises(lineage.NotFound):
        export.prov_json(full_store, ["no_such_field"])


# ------------------------------------------------------------------ PROV-O Turtle


def test_prov_turtle_reads_back_in_rdflib(full_store: lineage.Store) -> None:
    nodes, edges = _all(full_store)
    g = rdflib.Graph().parse(data=export.prov(full_store, fmt="turtle"), format="turtle")

    def typed(cls: rdflib.URIRef) -> set[str]:
        return {str(s).removeprefix(NODE_BASE) for s in g.subjects(RDF.type, cls)}

    kinds = lineage.NodeKind
    assert typed(PROV_NS.Activity) == {k for k, n in nodes.items() if n.kind is kinds.RUN}
    assert typed(PROV_NS.Entity) == {k for k, n in nodes.items()
                                     if n.kind not in (kinds.RUN, kinds.CONSUMER, kinds.AGENT)}
    assert FRAUD_3 in typed(PROV_NS.SoftwareAgent)
    assert typed(LIN_NS.Field) == {k for k, n in nodes.items() if n.kind is kinds.FIELD}

    derived = {(str(s).removeprefix(NODE_BASE), str(o).removeprefix(NODE_BASE))
               for s, o in g.subject_objects(PROV_NS.wasDerivedFrom)}
    assert derived == {(e.dst, e.src) for e in edges if e.kind.value in DERIVING}
    # the qualified form carries the edge's kind and transformation
    q = next(q for q in g.objects(_iri(ORDER_ID), PROV_NS.qualifiedDerivation)
             if (q, PROV_NS.entity, _iri(ORDERS_ID)) in g)
    assert (q, RDF.type, PROV_NS.Derivation) in g
    assert str(g.value(q, LIN_NS.transformation)) == "identity"
    assert str(g.value(q, LIN_NS.edgeKind)) == "derived_from"
    assert (_iri(RUN), PROV_NS.used, _iri(ORDERS)) in g
    assert (_iri(FACTS), PROV_NS.wasGeneratedBy, _iri(RUN)) in g
    assert (_iri(FACTS), PROV_NS.hadMember, _iri(ORDER_ID)) in g
    assert str(g.value(_iri(RUN), LIN_NS.state)) == "COMPLETE"


def test_prov_turtle_around_a_node(full_store: lineage.Store) -> None:
    g = rdflib.Graph().parse(data=export.prov_turtle(full_store, [FRAUD_3], direction="up"),
                             format="turtle")
    subjects = {str(s).removeprefix(NODE_BASE) for s in g.subjects(RDF.type, PROV_NS.Entity)}
    assert FRAUD_3 in subjects and "feature:age" in subjects
    assert SCORE not in subjects  # downstream of fraud@3


# ------------------------------------------------------------------ the ontology agrees


def test_the_prov_mapping_is_the_ontologys() -> None:
    g = rdflib.Graph().parse(ROOT / "ontology" / "lineage.ttl", format="turtle")
    for edge_kind, (relation, direction) in PROV_RELATION.items():
        term = g.value(predicate=LIN_NS.kindName, object=rdflib.Literal(edge_kind.value))
        assert term is not None, edge_kind
        assert g.value(term, LIN_NS.provProperty) == PROV_NS[relation], edge_kind
        assert str(g.value(term, LIN_NS.provDirection)) == direction, edge_kind
    role_of: dict[Any, str] = {
        PROV_NS.Entity: "entity", PROV_NS.Plan: "entity", PROV_NS.Activity: "activity",
        PROV_NS.Agent: "agent", PROV_NS.SoftwareAgent: "agent"}
    for kind, cls in LIN_CLASS.items():
        supers = set(g.objects(LIN_NS[cls], rdflib.RDFS.subClassOf))
        assert str(g.value(LIN_NS[cls], LIN_NS.kindName)) == kind.value
        assert {role_of[s] for s in supers} == roles(kind), kind


# ------------------------------------------------------------------ DOT


def test_dot_export_draws_the_nodes_around_a_field(full_store: lineage.Store) -> None:
    source = export.dot(full_store, ORDER_ID, direction="both", depth=1)
    assert source.startswith("digraph lineage {")
    assert "analytics.order_facts.order_id" in source and "public.orders_raw.id" in source
    assert "(identity)" in source


def test_dot_labels_edges_by_what_flows_along_the_arrow(full_store: lineage.Store) -> None:
    source = export.dot(full_store, ORDER_ID, direction="both", depth=1)
    assert 'label="feeds\\n(identity)"' in source
    assert "label=derived_from" not in source and 'label="derived_from' not in source
    assert "derived_from: " in source  # the stored kind stays, in the tooltip


# ------------------------------------------------------------------ the CLI


def _cli() -> Any:
    from lineage_cli.export import export as export_group
    from lineage_cli.main import cli

    if "export" not in cli.commands:
        cli.add_command(export_group)
    return cli


def test_cli_export_prov_json_turtle_and_dot(full_store: lineage.Store, store_url: str,
                                             tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(_cli(), ["--store", store_url, "export", "prov"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["activity"]

    out = tmp_path / "lineage.ttl"
    result = runner.invoke(_cli(), ["--store", store_url, "export", "prov", "--format",
                                    "turtle", "-o", str(out), "orders_raw.id", "--down",
                                    "--depth", "2"])
    assert result.exit_code == 0, result.output
    g = rdflib.Graph().parse(out, format="turtle")
    assert (_iri(ORDER_ID), PROV_NS.wasDerivedFrom, _iri(ORDERS_ID)) in g

    result = runner.invoke(_cli(), ["--store", store_url, "export", "dot", "fraud@3", "--up"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("digraph lineage {")

    result = runner.invoke(_cli(), ["--store", store_url, "export", "dot", "no_such_node"])
    assert result.exit_code == 4
    assert "not found" in result.output


def test_cli_export_help_has_examples() -> None:
    for args in (["export", "--help"], ["export", "prov", "--help"],
                 ["export", "dot", "--help"]):
        result = CliRunner().invoke(_cli(), args)
        assert result.exit_code == 0 and "Examples:" in result.output, args
