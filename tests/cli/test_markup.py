"""Names from the graph or a user print as text, never as rich markup (issue 10, item 3): a tag `[/]`,
a relation `[bold]` and a curator `[/]` go through every command that prints them."""

from __future__ import annotations

import json

import pytest

from kgtag.cli.main import cli
from kgtag.synthetic.channel import generate
from kgtag.kgstore import review as rv

EDGES = """
MERGE (v:Entity:Video {id: 'v[/]1'}) SET v.title = '[bold red]shouting[/] title'
MERGE (known:Entity:Tag {id: '[bold]'})
MERGE (:Relation {name: '[/]'})
MERGE (v)-[:TRIPLE {relation: '[/]', source: 'ingest'}]->(known)
WITH v
UNWIND ['[/]', '[bold]x', '[link=file:///etc/passwd]y'] AS name
MERGE (t:Entity:Tag {id: name})
CREATE (v)-[:INFERRED {relation: '[/]', score: -1.0, confidence: 0.3, rank: 1, run: 'run-[/]'}]->(t)
"""


def clean(result) -> str:
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and "MarkupError" not in result.output
    return result.output


@pytest.fixture
def odd_queue(store):
    store.driver.execute_query(EDGES)
    return store


def test_review_prints_odd_names_as_text(runner, odd_queue, monkeypatch):
    from kgtag.cli import output

    monkeypatch.setattr(output.console, "_width", 250)  # no wrapping inside table cells
    out = clean(runner.invoke(cli, ["review"], input="s\ns\ns\n"))
    assert "inferred  [/] -> [/]" in out and "inferred  [/] -> [bold]x" in out
    assert "v[/]1 [bold red]shouting[/] title" in out and "[/]: [bold]" in out  # title and existing tags
    out = clean(runner.invoke(cli, ["review", "--list"]))
    assert "[bold]x" in out and "run-[/]" in out and "[link=file:///etc/passwd]y" in out
    out = clean(runner.invoke(cli, ["review", "--summary"]))
    assert "[/]" in out


def test_decisions_by_a_curator_named_with_markup(runner, odd_queue, tmp_path):
    """A name typed on the web page is printed to the next curator as text."""
    listed = runner.invoke(cli, ["review", "--list", "--json"])
    clean(listed)
    edges = json.loads(listed.stdout)
    first = edges[0]["id"]
    assert rv.decide(odd_queue, [first], "accept", "[/]").decided == [first]
    decisions = tmp_path / "d.csv"
    decisions.write_text(f"{first},reject\n")
    result = runner.invoke(cli, ["review", "--decisions", str(decisions), "--curator", "[bold]bob"])
    out = clean(result)
    assert f"{first}: already decided: accepted by [/]" in result.stderr
    assert "decisions by [bold]bob" in out
    out = clean(runner.invoke(cli, ["review"], input="a\nq\n"))  # the interactive conflict line
    assert "curator alice" in out


def test_status_eval_infer_print_odd_names_as_text(runner, neo4j_driver_clean, tmp_path):
    folder = tmp_path / "sample"
    generate(seed=3, n_videos=60).write(folder)
    odd = tmp_path / "odd.tsv"
    odd.write_text("".join(f"v{i:05d}\t[bold]\t[/]\n" for i in range(1, 41)))
    for args in (["videos", str(folder / "videos.jsonl"), "--mapping", str(folder / "mapping.toml")],
                 ["triples", str(folder / "tags.tsv")], ["triples", str(odd)]):
        clean(runner.invoke(cli, ["ingest", *args]))
    out = clean(runner.invoke(cli, ["status"]))
    assert "[bold]" in out
    runs = str(tmp_path / "runs")
    result = runner.invoke(cli, ["train", "--model", "transe", "--epochs", "2", "--runs-dir", runs, "--quiet", "--json"])
    clean(result)
    run = json.loads(result.stdout)
    clean(runner.invoke(cli, ["train", "--model", "transe", "--epochs", "1", "--runs-dir", runs, "--quiet"]))
    out = clean(runner.invoke(cli, ["eval", "--run", run["id"], "--runs-dir", runs]))
    assert "[bold]" in out  # the per-relation table
    out = clean(runner.invoke(cli, ["infer", "--run", run["id"], "--videos", "v00050", "--relations", "[bold]",
                                    "--runs-dir", runs]))
    assert "[bold]" in out
