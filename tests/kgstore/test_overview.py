"""kgstore's typed reads for the CLI (overview.py), its driver-error translation and its batched writes,
against the real test Neo4j."""

from __future__ import annotations

import pytest
from neo4j import GraphDatabase

from kgtag.kgstore import overview
from kgtag.kgstore.store import Store, StoreUnavailable


def test_status_counts_are_typed_rows(review_graph):
    status = overview.read_status(review_graph)
    labels = {row.label: row.nodes for row in status.labels}
    assert labels["Video"] == 4 and labels["Run"] == 2
    subject = next(r for r in status.relations if r.relation == "has_subject")
    assert (subject.triples, subject.inferred, subject.accepted) == (3, 5, 0)
    assert sorted(r.run for r in status.runs) == ["run-a", "run-b"] and all(r.status == "done" for r in status.runs)


def test_attention_and_video_tags(review_graph):
    att = {row.segment: row for row in overview.modality_attention_avg(review_graph, "run-a")}
    assert att["knowledge"].attention == pytest.approx((0.5 + 0.2 + 0.25 + 0.0) / 4) and att["knowledge"].videos == 4
    assert att["text"].videos == 3  # v004 has no text segment
    tags = overview.video_tags(review_graph, "v001")
    assert {(t.relation, t.tag) for t in tags} == {("has_subject", "Cats"), ("has_subject", "Dogs"), ("uploaded_by", "u_anna")}
    assert {t.title for t in tags} == {"Kitten meets puppy"}
    assert overview.video_tags(review_graph, "no-such-video") == []


def test_guide_ids_name_a_video_with_inferred_tags(review_graph):
    ids = overview.guide_ids(review_graph)
    assert ids.video in {"v001", "v002", "v003", "v004"} and {ids.a, ids.b} <= {"run-a", "run-b"}


def test_write_batches_commits_each_slice(store):
    done = store.write_batches(5, 2, lambda tx, a, b: tx.run("UNWIND range($a, $b - 1) AS i CREATE (:Tmp {i: i})",
                                                             a=a, b=b).consume().counters.nodes_created)
    assert done == [2, 2, 1]
    assert store.driver.execute_query("MATCH (n:Tmp) RETURN count(n) AS n").records[0]["n"] == 5


def test_a_server_that_does_not_answer_is_a_store_error():
    # no retries: the driver would retry a refused connection for 30 s
    with GraphDatabase.driver("bolt://127.0.0.1:9", auth=("neo4j", "x"), max_transaction_retry_time=0) as driver:
        with pytest.raises(StoreUnavailable, match="Neo4j stopped answering"):
            Store(driver).query("status_labels", routing="r")
