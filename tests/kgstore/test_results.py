"""Writing runs, inferred edges and attention back into the graph."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kgtag.kgstore import ingest, results
from kgtag.kgstore.store import StoreError


@pytest.fixture
def graph(store, tmp_path):
    path = tmp_path / "g.tsv"
    path.write_text("v1\thas_tag\tA\nv2\thas_tag\tB\nC\tsubcategory_of\tA\n", encoding="utf-8")
    ingest.ingest_triples(store, path)
    store.driver.execute_query("MATCH (v:Entity) WHERE v.id IN ['v1', 'v2'] SET v:Video REMOVE v:Tag")
    return store


def inferred(store, run=None):
    records = store.driver.execute_query(
        "MATCH (v)-[i:INFERRED]->(t) WHERE $run IS NULL OR i.run = $run "
        "RETURN v.id AS v, i.relation AS r, t.id AS t, i.run AS run, coalesce(i.status, 'pending') AS status, "
        "i.rank AS rank, i.confidence AS c",
        run=run).records
    return {(r["v"], r["r"], r["t"], r["run"], r["status"]) for r in records}


def test_write_run_with_metrics(graph):
    results.write_run(graph, {"id": "run1", "model": "transfusion", "base": "transe", "modalities": ["vision", "audio"],
                              "params": {"dim": 64},
                              "metrics": {"filtered": {"mrr": 0.3, "hits10": 0.5}, "raw": {"mr": 12, "mrr": 0.2}}})
    r = graph.driver.execute_query("MATCH (r:Run {id: 'run1'}) RETURN r").records[0]["r"]
    # the headline figures are the filtered ones; the raw ones stay in metrics_json only
    assert r["mrr"] == 0.3 and r["hits10"] == 0.5 and r.get("mr") is None and r["modalities"] == ["vision", "audio"]
    assert '"raw": {"mr": 12' in r["metrics_json"]
    assert '"dim": 64' in r["params_json"] and r["created"] is not None


def test_new_run_replaces_pending_edges_and_keeps_decided(graph):
    results.write_run(graph, {"id": "r1"})
    results.write_run(graph, {"id": "r2"})
    results.write_inferred(graph, "r1", ["v1", "v1", "v2"], ["has_tag"] * 3, ["B", "C", "A"],
                           np.array([0.9, 0.5, 0.7]), [0.8, 0.3, 0.6], [1, 2, 1])
    assert inferred(graph) == {("v1", "has_tag", "B", "r1", "pending"), ("v1", "has_tag", "C", "r1", "pending"),
                               ("v2", "has_tag", "A", "r1", "pending")}
    graph.driver.execute_query("MATCH (:Entity {id: 'v1'})-[i:INFERRED]->(:Entity {id: 'C'}) SET i.status = 'rejected'")
    results.write_inferred(graph, "r2", ["v1", "v1"], ["has_tag", "has_tag"], ["C", "A"], [0.4, 0.2], [0.5, 0.4], [1, 2])
    assert inferred(graph) == {
        ("v1", "has_tag", "C", "r1", "rejected"),   # decided: kept, and no new pending twin
        ("v1", "has_tag", "A", "r2", "pending"),    # replaced r1's pending B
        ("v2", "has_tag", "A", "r1", "pending"),    # another video: untouched
    }


def test_inferred_edges_need_a_known_run_and_entities(graph):
    with pytest.raises(StoreError, match="unknown run"):
        results.write_inferred(graph, "nope", ["v1"], ["has_tag"], ["B"], [1.0], [0.5], [1])
    results.write_run(graph, {"id": "r1"})
    with pytest.raises(StoreError, match="not in the graph"):
        results.write_inferred(graph, "r1", ["v1"], ["has_tag"], ["ghost"], [1.0], [0.5], [1])
    assert inferred(graph) == set()


def test_a_block_whose_end_vanished_is_rolled_back_whole(graph):
    """An entity deleted between write_inferred's check and its transaction: the block's edge count
    differs from the rows sent, and nothing of the block stays (its earlier pending edges included)."""
    results.write_run(graph, {"id": "r1"})
    results.write_inferred(graph, "r1", ["v1"], ["has_tag"], ["B"], [0.9], [0.8], [1])
    frame = pd.DataFrame({"video": ["v1", "gone"], "relation": ["has_tag"] * 2, "tag": ["C", "A"],
                          "score": [0.5, 0.4], "confidence": [0.5, 0.4], "rank": [1, 1]})
    with graph.session() as session, pytest.raises(StoreError, match="deleted while it was written"):
        session.execute_write(results._replace_block, frame, ["gone", "v1"], ["has_tag"], "r1")
    assert inferred(graph) == {("v1", "has_tag", "B", "r1", "pending")}


def test_attention_weights(graph):
    results.write_run(graph, {"id": "r1"})
    results.write_modality_attention(graph, "r1", ["v1", "v2"], ["knowledge", "vision"], np.array([[0.25, 0.75], [0.5, 0.5]]))
    results.write_modality_attention(graph, "r1", ["v1"], ["knowledge", "vision"], [[0.1, 0.9]])
    rows = graph.driver.execute_query(
        "MATCH (v)-[a:MODALITY_ATTENTION]->(:Run {id: 'r1'}) RETURN v.id AS v, a.knowledge AS k, a.vision AS x, a.run AS run ORDER BY v").records
    assert [(r["v"], r["k"], r["x"], r["run"]) for r in rows] == [("v1", 0.1, 0.9, "r1"), ("v2", 0.5, 0.5, "r1")]
    results.write_relation_attention(graph, "r1", ["has_tag", "subcategory_of"], np.array([1.5, 1.2]))
    rows = graph.driver.execute_query(
        "MATCH (:Run {id: 'r1'})-[a:RELATION_ATTENTION]->(r:Relation) RETURN r.name AS r, a.weight AS w ORDER BY r").records
    assert [(r["r"], r["w"]) for r in rows] == [("has_tag", 1.5), ("subcategory_of", 1.2)]
    with pytest.raises(ValueError, match="must match"):
        results.write_modality_attention(graph, "r1", ["v1"], ["vision`) DELETE"], [[1.0]])


def test_edge_attention_follows_its_edge_through_sorting_and_filters(graph):
    """Relation-conditioned runs' per-edge weights (list `attention`): each edge keeps its own row's
    weights when the block is sorted by video, duplicates dropped and decided twins left out."""
    results.write_run(graph, {"id": "r1"})
    results.write_inferred(graph, "r1", ["v1"], ["has_tag"], ["B"], [0.9], [0.8], [1])
    graph.driver.execute_query("MATCH ()-[e:INFERRED]->(:Entity {id: 'B'}) SET e.status = 'rejected'")
    weights = np.array([[0.1, 0.9], [0.5, 0.5], [0.3, 0.7], [0.8, 0.2]])
    n = results.write_inferred(graph, "r1", ["v2", "v1", "v1", "v1"], ["has_tag"] * 4, ["A", "B", "C", "C"],
                               [0.4, 0.3, 0.2, 0.1], [0.4, 0.3, 0.2, 0.1], [1, 1, 2, 3], attention=weights)
    assert n == 2
    rows = graph.driver.execute_query(
        "MATCH (v)-[e:INFERRED]->(t) RETURN v.id AS v, t.id AS t, e.attention AS a").records
    assert {(r["v"], r["t"]): r["a"] for r in rows} == {("v2", "A"): [0.1, 0.9], ("v1", "C"): [0.3, 0.7],
                                                        ("v1", "B"): None}
    for bad in (np.ones((1, 2)), np.array([[np.nan, 1.0]] * 4)):
        with pytest.raises(ValueError, match="attention"):
            results.write_inferred(graph, "r1", ["v2", "v1", "v1", "v1"], ["has_tag"] * 4, ["A", "B", "C", "C"],
                                   [0.4] * 4, [0.4] * 4, [1, 1, 2, 3], attention=bad)
    assert len(graph.driver.execute_query("MATCH ()-[e:INFERRED]->() RETURN e").records) == 3
