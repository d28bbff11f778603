"""The README's "From Python" example, run as written (but for 1 epoch) against the test Neo4j: the run
service trains, evaluates and infers without the CLI."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## From Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_example_trains_evaluates_and_infers(runner, neo4j_driver_clean, capsys):
    code = readme_example()
    assert "epochs=2" in code
    scope: dict = {}
    exec(compile(code.replace("epochs=2", "epochs=1"), str(README), "exec"), scope)  # runner: env + tmp cwd

    node, metrics, rows, written = scope["node"], scope["metrics"], scope["rows"], scope["written"]
    assert node["status"] == "done" and Path("runs", node["id"], "model.pt").is_file()
    assert 0 < node["mrr"] <= 1 and metrics["filtered"]["mrr"] == pytest.approx(node["mrr"])  # same split, same model
    assert metrics["filtered"]["mr"] <= metrics["raw"]["mr"]
    assert {r["video"] for r in rows} == {"v00001", "v00002"} and written == len(rows) > 0
    assert all(0 <= r["confidence"] <= 1 for r in rows)
    stored, _, _ = neo4j_driver_clean.execute_query(
        "MATCH (v:Video)-[e:INFERRED {run: $run}]->(t) RETURN v.id AS video, t.id AS tag, e.rank AS rank", run=node["id"])
    assert sorted((r["video"], r["tag"], r["rank"]) for r in stored) == sorted((r["video"], r["tag"], r["rank"]) for r in rows)
    # a tag the video already has is never inferred
    have, _, _ = neo4j_driver_clean.execute_query(
        "MATCH (v:Video)-[:TRIPLE]->(t) WHERE v.id IN ['v00001', 'v00002'] RETURN v.id AS video, t.id AS tag")
    assert not {(r["video"], r["tag"]) for r in have} & {(r["video"], r["tag"]) for r in rows}
    assert str(node["mrr"]) in capsys.readouterr().out


def test_errors_of_the_service_are_one_line_and_typed(store, tmp_path):
    from kgtag.runs import BadInput, RunNotFound, RunPlan, load_run, train_run

    with pytest.raises(RunNotFound, match="no run named 'nope'") as exc:
        load_run(store, "nope", tmp_path)
    assert exc.value.kind == "input" and "\n" not in exc.value.message
    with pytest.raises(BadInput, match="graph holds no triples"):
        train_run(store, RunPlan(variant="transe"), tmp_path)
    with pytest.raises(BadInput, match="needs --modalities"):
        RunPlan(variant="b1")
