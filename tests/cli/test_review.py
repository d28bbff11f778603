"""`kgtag review` against the real Neo4j: list, bulk decisions, the interactive prompt, and the path
from a rejected edge to a known negative of the next `kgtag train`."""

from __future__ import annotations

import json

import pytest

from kgtag.cli.main import cli

EDGES = """
UNWIND range(1, 6) AS i
MERGE (v:Entity:Video {id: 'v' + i}) SET v.title = 'Video ' + i
MERGE (t:Entity:Tag {id: 'tag' + i})
MERGE (:Relation {name: 'has tag'})
CREATE (v)-[:INFERRED {relation: 'has tag', score: -1.0 * i, confidence: 0.1 * i, rank: 1, run: 'run-1'}]->(t)
"""


@pytest.fixture
def queue(neo4j_driver_clean):
    neo4j_driver_clean.execute_query(EDGES)
    return neo4j_driver_clean


def listed(runner, *args) -> list[dict]:
    result = runner.invoke(cli, ["review", "--list", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_list_is_lowest_confidence_first_and_filters(runner, queue):
    edges = listed(runner)
    assert [e["video"] for e in edges] == ["v1", "v2", "v3", "v4", "v5", "v6"]
    assert [e["video"] for e in listed(runner, "--min-conf", "0.25", "--max-conf", "0.45")] == ["v3", "v4"]
    assert listed(runner, "--run", "other-run") == []
    human = runner.invoke(cli, ["review", "--list", "--limit", "2"])
    assert human.exit_code == 0 and "v2" in human.stdout and "v3" not in human.stdout


def test_bulk_decisions_round_trip(runner, queue, tmp_path):
    edges = {e["video"]: e["id"] for e in listed(runner)}
    decisions = tmp_path / "decisions.csv"
    decisions.write_text(f"edge,decision\n{edges['v1']},accept\n{edges['v2']},reject\n# a comment\n")
    result = runner.invoke(cli, ["review", "--decisions", str(decisions), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["accepted"]["decided"] == [edges["v1"]] and out["rejected"]["decided"] == [edges["v2"]]

    records, _, _ = queue.execute_query(
        "MATCH (v:Video)-[e:INFERRED]->(t) RETURN v.id AS v, e.status AS status, e.decided_by AS who ORDER BY v")
    status = {r["v"]: (r["status"], r["who"]) for r in records}
    assert status["v1"] == ("accepted", "alice") and status["v2"] == ("rejected", "alice")
    assert status["v3"][0] in (None, "pending")
    records, _, _ = queue.execute_query(
        "MATCH (:Video {id: 'v1'})-[k:TRIPLE {relation: 'has tag'}]->(:Tag {id: 'tag1'}) RETURN k.source AS s, k.curator AS c")
    assert [(r["s"], r["c"]) for r in records] == [("review", "alice")]
    assert [e["video"] for e in listed(runner)] == ["v3", "v4", "v5", "v6"]

    # the same file again: nothing decided twice, both reported as already decided
    again = json.loads(runner.invoke(cli, ["review", "--decisions", str(decisions), "--json"]).stdout)
    assert again["accepted"]["decided"] == [] and len(again["accepted"]["already_decided"]) == 1

    # the rejected edge is a known negative for the next training, in the run's id space
    from kgtag.runs.graph import known_negatives
    from kgtag.kgstore.store import Store

    entities = ["v1", "v2", "tag1", "tag2"]
    negatives = known_negatives(Store(queue), entities, ["has tag"])
    assert negatives.tolist() == [[1, 0, 3]]


def test_bad_decisions_file_names_the_line(runner, queue, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("e1,accept\ne2,maybe\n")
    result = runner.invoke(cli, ["review", "--decisions", str(bad)])
    assert result.exit_code == 2 and "bad.csv:2" in result.stderr and "Traceback" not in result.output


def test_unknown_edge_ids_are_reported(runner, queue, tmp_path):
    f = tmp_path / "d.tsv"
    f.write_text("no-such-edge\treject\n")
    out = json.loads(runner.invoke(cli, ["review", "--decisions", str(f), "--json"]).stdout)
    assert out["rejected"]["missing"] == ["no-such-edge"]


def test_interactive_accept_reject_skip_quit(runner, queue):
    result = runner.invoke(cli, ["review", "--limit", "5", "--curator", "bob"], input="a\nr\ns\nq\n")
    assert result.exit_code == 0, result.output
    assert "v1" in result.stdout and "has tag -> tag1" in result.stdout
    assert "1 accepted, 1 rejected, 1 skipped" in result.stderr
    records, _, _ = queue.execute_query(
        "MATCH (v:Video)-[e:INFERRED]->() WHERE e.status IS NOT NULL RETURN v.id AS v, e.status AS s, e.decided_by AS who ORDER BY v")
    assert [(r["v"], r["s"], r["who"]) for r in records] == [("v1", "accepted", "bob"), ("v2", "rejected", "bob")]


def test_summary(runner, queue):
    ids = {e["video"]: e["id"] for e in listed(runner)}
    from kgtag.kgstore.review import decide
    from kgtag.kgstore.store import Store

    decide(Store(queue), [ids["v1"]], "reject", "carol")
    data = json.loads(runner.invoke(cli, ["review", "--summary", "--json"]).stdout)
    assert data["relations"] == [{"relation": "has tag", "pending": 5, "accepted": 0, "rejected": 1}]
    assert sum(b["rejected"] for b in data["buckets"]) == 1
