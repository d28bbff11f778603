"""kgstore.review against the real Neo4j: the queue, decisions, races, summary, known negatives."""

from __future__ import annotations

import threading

import pytest

import review_graph as g
from kgtag.kgstore import review


def test_pending_is_sorted_by_confidence_and_filtered(review_graph):
    edges = review.pending(review_graph)
    confs = [e.confidence for e in edges]
    assert len(edges) == len(g.INFERRED)
    assert confs == sorted(confs)
    assert (edges[0].video, edges[0].tag) == ("v003", "Jazz")

    music = review.pending(review_graph, relation="has_music")
    assert {e.tag for e in music} == {"Pop", "Blues", "Jazz"}
    odd = review.pending(review_graph, relation="has subject (legacy) `x`")
    assert [(e.video, e.tag, e.run) for e in odd] == [("v004", "Dogs", "run-a")]
    assert {e.tag for e in review.pending(review_graph, run="run-a")} == {"Dogs", "Travel"}
    mid = review.pending(review_graph, min_conf=0.3, max_conf=0.67)
    assert [e.confidence for e in mid] == [0.30, 0.35, 0.44, 0.67]
    assert review.count_pending(review_graph, min_conf=0.3, max_conf=0.67) == 4
    assert [e.tag for e in review.pending(review_graph, limit=2, offset=1)] == ["Travel", "Pop"]


def test_pending_details_show_why(review_graph):
    edges = {(e.video, e.tag): e for e in review.pending(review_graph, details=True)}
    pets = edges[("v001", "Pets")]
    assert pets.title == "Kitten meets puppy"
    assert set(pets.tags) == {("has_subject", "Cats"), ("has_subject", "Dogs"), ("uploaded_by", "u_anna")}
    assert pets.n_tags == 3
    assert pets.attention == pytest.approx({"knowledge": 0.5, "vision": 0.3, "audio": 0.1, "text": 0.1})
    cold = edges[("v004", "Cats")]
    assert cold.title is None and cold.tags == () and cold.n_tags == 0
    assert cold.attention == pytest.approx({"knowledge": 0.0, "vision": 0.7, "audio": 0.3})


@pytest.mark.parametrize("bounds", [(-0.1, 1), (0.5, 0.2), (0, 1.5), ("low", 1)])
def test_bad_confidence_range_is_a_clear_error(review_graph, bounds):
    with pytest.raises(review.ReviewError, match="confidence"):
        review.pending(review_graph, min_conf=bounds[0], max_conf=bounds[1])


def test_accept_makes_a_triple_with_provenance(review_graph):
    drv = review_graph.driver
    eid = g.edge_id(drv, "v001", "has_subject", "Pets")
    result = review.decide(review_graph, [eid], "accept", "alice")
    assert result.decided == [eid] and result.ok
    state = g.edge_state(drv, "v001", "has_subject", "Pets")
    assert state["status"] == "accepted" and state["decided_by"] == "alice" and state["decided_at"] is not None
    assert state["lock"] is None
    [triple] = state["triples"]
    assert triple["source"] == "review" and triple["curator"] == "alice" and triple["run"] == "run-b"
    assert triple["at"] == state["decided_at"]
    assert eid not in {e.id for e in review.pending(review_graph)}


def test_accepting_an_existing_triple_keeps_its_provenance_and_does_not_double_it(review_graph):
    drv = review_graph.driver
    drv.execute_query("MATCH (v:Video {id:'v002'}), (t:Entity {id:'Blues'}) "
                      "CREATE (v)-[:TRIPLE {relation:'has_music', source:'ingest'}]->(t)")
    review.decide(review_graph, g.edge_id(drv, "v002", "has_music", "Blues"), "accept", "alice")
    [triple] = g.edge_state(drv, "v002", "has_music", "Blues")["triples"]
    assert triple["source"] == "ingest"


def test_reject_keeps_a_known_negative(review_graph):
    drv = review_graph.driver
    eid = g.edge_id(drv, "v001", "has_music", "Pop")
    result = review.decide(review_graph, eid, "reject", "bob")
    assert result.decided == [eid]
    state = g.edge_state(drv, "v001", "has_music", "Pop")
    assert state["status"] == "rejected" and state["decided_by"] == "bob" and state["triples"] == []
    assert review.rejected_triples(review_graph) == [("v001", "has_music", "Pop")]


def test_rejected_then_made_true_is_not_a_negative(review_graph):
    drv = review_graph.driver
    review.decide(review_graph, g.edge_id(drv, "v003", "has_music", "Jazz"), "reject", "bob")
    assert review.rejected_triples(review_graph) == [("v003", "has_music", "Jazz")]
    drv.execute_query("MATCH (v:Video {id:'v003'}), (t:Entity {id:'Jazz'}) "
                      "CREATE (v)-[:TRIPLE {relation:'has_music', source:'ingest'}]->(t)")
    assert review.rejected_triples(review_graph) == []


def test_bulk_decision_and_second_decision_is_already_decided(review_graph):
    drv = review_graph.driver
    ids = [e.id for e in review.pending(review_graph, relation="has_music")]
    first = review.decide(review_graph, ids[:2], "reject", "alice")
    assert sorted(first.decided) == sorted(ids[:2])
    second = review.decide(review_graph, ids, "accept", "bob")
    assert second.decided == [ids[2]]
    assert {c.id for c in second.already_decided} == set(ids[:2])
    conflict = second.already_decided[0]
    assert conflict.status == "rejected" and conflict.decided_by == "alice"
    assert "already decided: rejected by alice" in conflict.message()
    # the first decision stands
    statuses, _, _ = drv.execute_query(
        "MATCH ()-[e:INFERRED]->() WHERE elementId(e) IN $ids RETURN e.status AS s, e.decided_by AS by", ids=ids[:2])
    assert {(r["s"], r["by"]) for r in statuses} == {("rejected", "alice")}


def test_unknown_ids_are_reported_missing_and_bad_input_refused(review_graph):
    eid = g.edge_id(review_graph.driver, "v001", "has_music", "Pop")
    result = review.decide(review_graph, [eid, "5:00000000-0000-0000-0000-000000000000:999999", "not-an-id"], "reject", "al")
    assert result.decided == [eid]
    assert sorted(result.missing) == sorted(["5:00000000-0000-0000-0000-000000000000:999999", "not-an-id"])
    with pytest.raises(review.ReviewError, match="accept' or 'reject"):
        review.decide(review_graph, [eid], "maybe", "al")
    with pytest.raises(review.ReviewError, match="curator"):
        review.decide(review_graph, [eid], "accept", "  ")
    assert review.decide(review_graph, [], "accept", "al").decided == []


def test_racing_curators_decide_each_edge_exactly_once(review_graph):
    """Several curators race on the same edges (overlapping bulk sets, opposite decisions): every edge
    is decided by exactly one of them, the others are told, and no TRIPLE is doubled."""
    drv = review_graph.driver
    ids = sorted(e.id for e in review.pending(review_graph))
    n = 6
    barrier = threading.Barrier(n)
    results, errors = [None] * n, []

    def curate(i):
        try:
            barrier.wait(timeout=30)
            subset = ids if i % 2 == 0 else ids[::-1][: len(ids) - 1]
            results[i] = review.decide(review_graph, subset, "accept" if i % 3 else "reject", f"curator{i}")
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=curate, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    decided_by = {}
    for i, res in enumerate(results):
        for eid in res.decided:
            assert eid not in decided_by, f"{eid} decided twice"
            decided_by[eid] = (f"curator{i}", res.decision)
        for c in res.already_decided:
            assert (c.decided_by, c.status) == decided_by.get(c.id) or c.id not in res.decided
    assert set(decided_by) == set(ids)
    rows, _, _ = drv.execute_query(
        """MATCH (v)-[e:INFERRED]->(t)
           RETURN elementId(e) AS id, e.status AS status, e.decided_by AS by, e.review_lock AS lock,
                  COUNT { (v)-[:TRIPLE {relation: e.relation}]->(t) } AS triples""")
    for r in rows:
        assert decided_by[r["id"]] == (r["by"], r["status"])
        assert r["lock"] is None
        assert r["triples"] == (1 if r["status"] == "accepted" else 0)
    for res in results:  # each conflict names the winner
        for c in res.already_decided:
            assert (c.decided_by, c.status) == decided_by[c.id]


def test_summary_counts_and_buckets(review_graph):
    drv = review_graph.driver
    review.decide(review_graph, [g.edge_id(drv, "v001", "has_subject", "Pets"),  # 0.91
                          g.edge_id(drv, "v002", "has_subject", "Music")], "accept", "al")  # 0.67
    review.decide(review_graph, [g.edge_id(drv, "v001", "has_music", "Pop"),  # 0.12
                          g.edge_id(drv, "v002", "has_music", "Blues")], "reject", "al")  # 0.44
    review.decide(review_graph, [g.edge_id(drv, "v003", "has_music", "Jazz")], "accept", "al")  # 0.05
    s = review.summary(review_graph)
    by_rel = {r.relation: r for r in s.relations}
    assert (by_rel["has_music"].pending, by_rel["has_music"].accepted, by_rel["has_music"].rejected) == (0, 1, 2)
    assert (by_rel["has_subject"].pending, by_rel["has_subject"].accepted, by_rel["has_subject"].rejected) == (3, 2, 0)
    assert by_rel["has subject (legacy) `x`"].pending == 1
    assert s.totals.pending + s.totals.accepted + s.totals.rejected == len(g.INFERRED)
    assert len(s.buckets) == 10
    rates = {round(b.low, 1): (b.accepted, b.rejected, b.rate) for b in s.buckets if b.decided}
    assert rates == {0.0: (1, 0, 1.0), 0.1: (0, 1, 0.0), 0.4: (0, 1, 0.0), 0.6: (1, 0, 1.0), 0.9: (1, 0, 1.0)}
    assert s.buckets[9].mean_confidence == pytest.approx(0.91)
    run_a = review.summary(review_graph, run="run-a", buckets=4)
    assert sum(r.pending for r in run_a.relations) == 2 and len(run_a.buckets) == 4


def test_filters_list_runs_and_relations_with_pending_edges(review_graph):
    f = review.filters(review_graph)
    assert dict(f["runs"]) == {"run-a": 2, "run-b": 7}
    assert dict(f["relations"])["has_music"] == 3


def test_a_decision_waiting_on_another_sees_its_result(review_graph):
    """Deterministic interleaving: curator A's decision transaction is open (edge locked, not yet
    committed) when B decides the same edge. B must wait, then report A's decision, not overwrite it."""
    from kgtag.kgstore.store import cypher

    drv = review_graph.driver
    eid = g.edge_id(drv, "v002", "has_music", "Blues")
    outcome = {}
    with drv.session() as session:
        tx = session.begin_transaction()
        tx.run(cypher("review_lock"), ids=[eid]).consume()
        tx.run(cypher("review_decide"), ids=[eid], status="accepted", curator="alice", at=None).consume()

        def bob():
            outcome["result"] = review.decide(review_graph, [eid], "reject", "bob")

        worker = threading.Thread(target=bob)
        worker.start()
        for _ in range(600):  # until Neo4j shows B's transaction waiting for A's lock
            rows, _, _ = drv.execute_query("SHOW TRANSACTIONS YIELD status WHERE status STARTS WITH 'Blocked' RETURN count(*) AS n")
            if rows[0]["n"]:
                break
            worker.join(timeout=0.05)
        assert worker.is_alive(), "B finished while A still held the edge"
        tx.commit()
    worker.join(timeout=60)
    result = outcome["result"]
    assert result.decided == []
    [conflict] = result.already_decided
    assert (conflict.status, conflict.decided_by) == ("accepted", "alice")
    state = g.edge_state(drv, "v002", "has_music", "Blues")
    assert state["status"] == "accepted" and state["decided_by"] == "alice" and len(state["triples"]) == 1
