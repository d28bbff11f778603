"""From files to reviewed inferred tags through the CLI, against the real Neo4j: ingest, train, eval,
infer, status, review, a rejected edge as a known negative of the next training, and resume."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

import kgtag.cli.ingest as ingest_mod
from kgtag.embed import trainer
from kgtag.cli.main import cli
from kgtag.synthetic.channel import generate
from kgtag.kgstore.store import Store

MODS = ("vision", "audio", "text")


def ok(result) -> dict | list:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def loaded(runner, neo4j_driver_clean, tmp_path):
    """A small synthetic video KG ingested through the CLI."""
    folder = tmp_path / "sample"
    generate(seed=3, n_videos=120).write(folder)
    report = ok(runner.invoke(cli, ["ingest", "videos", str(folder / "videos.jsonl"),
                                    "--mapping", str(folder / "mapping.toml"), "--json"]))
    assert report["videos"] == 120
    ok(runner.invoke(cli, ["ingest", "triples", str(folder / "tags.tsv"), "--json"]))
    for m in MODS:
        assert ok(runner.invoke(cli, ["ingest", "features", "--modality", m,
                                      str(folder / f"features_{m}.parquet"), "--json"]))["features_written"] > 0
    # idempotent: the same files again add nothing
    again = ok(runner.invoke(cli, ["ingest", "triples", str(folder / "tags.tsv"), "--json"]))
    assert again["triples_created"] == 0
    return neo4j_driver_clean


def query(driver, cypher, **params):
    records, _, _ = driver.execute_query(cypher, params)
    return [r.data() for r in records]


def test_bad_triples_file_is_one_line_exit_2(runner, neo4j_driver_clean, tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("a\tr\tb\nonly-two\tcolumns\n")
    result = runner.invoke(cli, ["ingest", "triples", str(bad)])
    assert result.exit_code == 2, result.output
    assert "bad.tsv" in result.stderr and "Traceback" not in result.output
    assert len([line for line in result.stderr.splitlines() if line.strip()]) == 1


def test_train_eval_infer_review_and_known_negatives(runner, loaded, tmp_path, monkeypatch):
    driver = loaded
    runs = str(tmp_path / "runs")
    node = ok(runner.invoke(cli, ["train", "--model", "transfusion", "--modalities", ",".join(MODS), "--epochs", "3",
                                  "--runs-dir", runs, "--quiet", "--json"]))
    run_id = node["id"]
    stored = query(driver, "MATCH (r:Run {id: $id}) RETURN r.status AS status, r.mrr AS mrr, r.model AS model, "
                           "COUNT { (r)-[:RELATION_ATTENTION]->() } AS rel_att", id=run_id)[0]
    assert stored["status"] == "done" and stored["model"] == "TransFusion-VAT" and 0 < stored["mrr"] <= 1
    assert stored["rel_att"] == query(driver, "MATCH (r:Relation) RETURN count(r) AS n")[0]["n"]

    # eval recomputes the stored metrics from the checkpoint
    ev = ok(runner.invoke(cli, ["eval", "--run", run_id, "--runs-dir", runs, "--json"]))
    assert ev["filtered"]["mrr"] == pytest.approx(stored["mrr"], rel=1e-5)
    assert set(ev["per_relation"]) <= {"category_1", "category_2", "has_object", "bgm_style", "meta_tag", "uploaded_by"}
    human = runner.invoke(cli, ["eval", "--run", run_id, "--runs-dir", runs])
    assert human.exit_code == 0 and "filtered" in human.stdout and "per relation" in human.stdout

    inferred = ok(runner.invoke(cli, ["infer", "--run", run_id, "--all", "--top-k", "3", "--runs-dir", runs, "--json"]))
    assert inferred["written"] == len(inferred["edges"]) > 0
    edges = query(driver, "MATCH (v:Video)-[e:INFERRED {run: $run}]->(t) RETURN v.id AS v, e.relation AS r, t.id AS t, "
                          "e.confidence AS c, e.rank AS rank", run=run_id)
    assert len(edges) == inferred["written"]
    assert all(0 <= e["c"] <= 1 and 1 <= e["rank"] <= 3 for e in edges)
    # never a tag the video already has
    assert query(driver, "MATCH (v)-[e:INFERRED]->(t) WHERE EXISTS { (v)-[:TRIPLE {relation: e.relation}]->(t) } "
                         "RETURN count(e) AS n")[0]["n"] == 0
    att = query(driver, "MATCH (:Video)-[a:MODALITY_ATTENTION {run: $run}]->(:Run) "
                        "RETURN a.knowledge + coalesce(a.vision, 0) + coalesce(a.audio, 0) + coalesce(a.text, 0) AS s",
                run=run_id)
    assert len(att) > 0 and all(abs(a["s"] - 1) < 1e-4 for a in att)
    table = runner.invoke(cli, ["infer", "--run", run_id, "--videos", edges[0]["v"], "--dry-run", "--runs-dir", runs])
    assert table.exit_code == 0 and edges[0]["v"] in table.stdout
    status = ok(runner.invoke(cli, ["status", "--json"]))
    assert status["runs"][0]["run"] == run_id and status["runs"][0]["mrr"] == pytest.approx(stored["mrr"])

    # a curator rejects one edge and accepts another
    queue = ok(runner.invoke(cli, ["review", "--list", "--json", "--run", run_id, "--limit", "2"]))
    rejected, accepted = queue[0], queue[1]
    decisions = tmp_path / "d.csv"
    decisions.write_text(f"{rejected['id']},reject\n{accepted['id']},accept\n")
    ok(runner.invoke(cli, ["review", "--decisions", str(decisions), "--json"]))

    # the next training gets the rejected edge as a known negative (spy on the real trainer)
    real, seen = trainer.train, {}

    def spy(model, triples, config, **kwargs):
        seen.update(kwargs)
        return real(model, triples, config, **kwargs)

    monkeypatch.setattr(trainer, "train", spy)
    second = ok(runner.invoke(cli, ["train", "--model", "transe", "--epochs", "1", "--runs-dir", runs, "--quiet", "--json"]))
    saved = torch.load(tmp_path / "runs" / second["id"] / "graph.pt", weights_only=True)
    ent, rel = saved["entities"], saved["relations"]
    expected = [ent.index(rejected["video"]), rel.index(rejected["relation"]), ent.index(rejected["tag"])]
    assert seen["known_negatives"].tolist() == [expected]
    # ...and the accepted edge is now a training triple of that run
    acc = [ent.index(accepted["video"]), rel.index(accepted["relation"]), ent.index(accepted["tag"])]
    all_triples = torch.cat([saved["train"], saved["valid"], saved["test"]]).tolist()
    assert acc in all_triples

    # inferring again never proposes the rejected edge, nor the accepted one (now known)
    monkeypatch.setattr(trainer, "train", real)
    ok(runner.invoke(cli, ["infer", "--run", run_id, "--videos", f"{rejected['video']},{accepted['video']}",
                           "--top-k", "10", "--runs-dir", runs, "--json"]))
    again = query(driver, "MATCH (v:Video)-[e:INFERRED]->(t) WHERE coalesce(e.status, 'pending') = 'pending' "
                          "RETURN v.id AS v, e.relation AS r, t.id AS t")
    pairs = {(e["v"], e["r"], e["t"]) for e in again}
    assert (rejected["video"], rejected["relation"], rejected["tag"]) not in pairs
    assert (accepted["video"], accepted["relation"], accepted["tag"]) not in pairs

    # run_diff between the two runs reports each run's stored metrics and its reviewed edges
    rows = [r.data() for r in Store(driver).query("run_diff", a=run_id, b=second["id"])]
    metrics = {r["name"]: r for r in rows if r["kind"] == "metric"}
    assert set(metrics) == {"mr", "mrr", "hits1", "hits3", "hits10"}
    second_mrr = query(driver, "MATCH (r:Run {id: $id}) RETURN r.mrr AS mrr", id=second["id"])[0]["mrr"]
    assert second_mrr is not None
    assert (metrics["mrr"]["in_a"], metrics["mrr"]["in_b"]) == (stored["mrr"], second_mrr)
    assert metrics["mrr"]["change"] == pytest.approx(second_mrr - stored["mrr"])
    edges = {r["name"]: r for r in rows if r["kind"] == "inferred edges"}
    assert edges["rejected"]["in_a"] == 1 and edges["rejected"]["in_b"] == 0


def test_interrupted_training_resumes(runner, loaded, tmp_path, monkeypatch):
    runs = str(tmp_path / "runs")
    real = trainer.train

    def one_epoch_then_ctrl_c(model, triples, config, **kwargs):
        real(model, triples, replace(config, epochs=1), **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "train", one_epoch_then_ctrl_c)
    result = runner.invoke(cli, ["train", "--model", "transe", "--epochs", "3", "--runs-dir", runs, "--quiet"])
    assert result.exit_code == 130 and "--resume" in result.stderr and "Traceback" not in result.output
    run_id = result.stderr.split("--resume ")[1].split("`")[0].strip()
    driver = loaded
    assert query(driver, "MATCH (r:Run {id: $id}) RETURN r.status AS s", id=run_id)[0]["s"] == "interrupted"
    # not finished: infer refuses, pointing at --resume
    refused = runner.invoke(cli, ["infer", "--run", run_id, "--all", "--runs-dir", runs])
    assert refused.exit_code == 2 and "--resume" in refused.stderr

    monkeypatch.setattr(trainer, "train", real)
    node = ok(runner.invoke(cli, ["train", "--resume", run_id, "--runs-dir", runs, "--quiet", "--json"]))
    assert node["id"] == run_id and node["status"] == "done" and node["mrr"] > 0
    state = torch.load(tmp_path / "runs" / run_id / "checkpoints" / "last.pt", weights_only=True)
    assert state["result"]["epochs"] == 3


def test_text_features_from_titles(runner, loaded, monkeypatch):
    """`kgtag features text` stores one vector per titled video as a modality (the encoder is stubbed:
    the MiniLM extra is optional; the path from titles to stored features is what is tested)."""
    def fake_encoder(device=None):
        def encode(texts, batch_size=256):
            return np.stack([np.random.default_rng(len(t)).standard_normal(8) for t in texts]).astype("float32")
        return encode

    monkeypatch.setattr(ingest_mod, "text_encoder", fake_encoder)
    report = ok(runner.invoke(cli, ["features", "text", "--property", "title", "--modality", "title_text", "--json"]))
    assert report["features_written"] == 120
    status = ok(runner.invoke(cli, ["status", "--json"]))
    mods = {m["modality"]: m for m in status["modalities"]}
    assert mods["title_text"]["dim"] == 8
    missing = runner.invoke(cli, ["features", "text", "--property", "no_such_property"])
    assert missing.exit_code == 2 and "no video has a 'no_such_property' property" in missing.stderr


def test_cold_split_and_eval_by_history(runner, loaded, tmp_path):
    """`--split VALID,TEST,COLD` holds out whole videos; `eval --by-history` reports them as the cold group."""
    runs = str(tmp_path / "runs")
    node = ok(runner.invoke(cli, ["train", "--model", "transfusion", "--modalities", ",".join(MODS), "--epochs", "2",
                                  "--split", "0.1,0.1,0.2", "--runs-dir", runs, "--quiet", "--json"]))
    ev = ok(runner.invoke(cli, ["eval", "--run", node["id"], "--runs-dir", runs, "--by-history", "--json"]))
    groups = ev["by_history"]
    assert set(groups) == {"warm", "few", "cold"}
    assert groups["cold"]["count"] > 0 and groups["warm"]["count"] > 0
    assert sum(g["count"] for g in groups.values()) == ev["filtered"]["count"]
    assert 0 < groups["cold"]["chance_mrr"] < 1
    human = runner.invoke(cli, ["eval", "--run", node["id"], "--runs-dir", runs, "--by-history"])
    assert human.exit_code == 0 and "cold" in human.stdout and "chance MRR" in human.stdout
