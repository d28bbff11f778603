"""Run folders are data, never code: hostile or damaged files in a run folder give one line, exit 2,
and leave the Run node as it was (issue 10, items 1 and 2). Real Neo4j, real CLI."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch

from kgtag.cli.main import cli
from kgtag.synthetic.channel import generate


class Hostile:
    """Unpickling this runs a shell command: what a swapped `last.pt` could hold."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def ok(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def one_line(result, code: int = 2) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and "Aborted" not in result.output, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def node(driver, run_id: str) -> dict:
    records, _, _ = driver.execute_query("MATCH (r:Run {id: $id}) RETURN properties(r) AS p", id=run_id)
    return records[0]["p"]


@pytest.fixture
def trained(runner, neo4j_driver_clean, tmp_path):
    """A small finished TransE run; yields (runs dir, run id, driver)."""
    folder = tmp_path / "sample"
    generate(seed=3, n_videos=60).write(folder)
    ok(runner.invoke(cli, ["ingest", "videos", str(folder / "videos.jsonl"), "--mapping", str(folder / "mapping.toml"), "--json"]))
    ok(runner.invoke(cli, ["ingest", "triples", str(folder / "tags.tsv"), "--json"]))
    runs = tmp_path / "runs"
    run = ok(runner.invoke(cli, ["train", "--model", "transe", "--epochs", "2", "--runs-dir", str(runs), "--quiet", "--json"]))
    return runs, run["id"], neo4j_driver_clean


def test_hostile_checkpoint_is_refused_not_executed(runner, trained, tmp_path):
    runs, run_id, driver = trained
    marker = tmp_path / "pwned"
    torch.save(Hostile(marker), runs / run_id / "checkpoints" / "last.pt")
    before = node(driver, run_id)
    line = one_line(runner.invoke(cli, ["train", "--resume", run_id, "--runs-dir", str(runs), "--quiet"]))
    assert not marker.exists()
    assert "last.pt" in line and "kgtag train" in line
    assert node(driver, run_id) == before


def test_run_folder_comes_from_the_runs_dir_not_the_graph(runner, trained, tmp_path):
    """Whoever can write to Neo4j must not choose the folder we load: neither through the Run node's
    `checkpoint` property nor through a run id that climbs out of the runs directory."""
    runs, run_id, driver = trained
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil"
    shutil.copytree(runs / run_id, evil)
    torch.save(Hostile(marker), evil / "checkpoints" / "last.pt")
    shutil.rmtree(runs / run_id)
    driver.execute_query("MATCH (r:Run {id: $id}) SET r.checkpoint = $dir", id=run_id, dir=str(evil))
    line = one_line(runner.invoke(cli, ["train", "--resume", run_id, "--runs-dir", str(runs), "--quiet"]))
    assert "--runs-dir" in line and not marker.exists()

    driver.execute_query("MATCH (r:Run {id: $id}) CREATE (:Run {id: '../evil', status: 'interrupted'})", id=run_id)
    line = one_line(runner.invoke(cli, ["train", "--resume", "../evil", "--runs-dir", str(runs), "--quiet"]))
    assert "does not name a folder" in line and not marker.exists()


@pytest.mark.parametrize("name, damage, command, advice", [
    ("model.pt", "truncate", "infer", "--resume"),
    ("model.pt", "empty", "infer", "--resume"),
    ("model.pt", "truncate", "eval", "--resume"),
    ("graph.pt", "truncate", "infer", "kgtag train"),
    ("run.json", "truncate", "infer", "kgtag train"),
    ("run.json", "{}", "resume", "kgtag train"),
    ("checkpoints/last.pt", "truncate", "resume", "kgtag train"),
    ("checkpoints/last.pt", "empty", "resume", "kgtag train"),
])
def test_damaged_run_file_is_one_line_exit_2(runner, trained, name, damage, command, advice):
    runs, run_id, driver = trained
    path = runs / run_id / name
    data = path.read_bytes()
    path.write_bytes({"empty": b"", "truncate": data[: len(data) // 2]}.get(damage, damage.encode()))
    before = node(driver, run_id)
    args = {"infer": ["infer", "--run", run_id, "--all"], "eval": ["eval", "--run", run_id],
            "resume": ["train", "--resume", run_id, "--quiet"]}[command]
    line = one_line(runner.invoke(cli, args + ["--runs-dir", str(runs)]))
    assert name.split("/")[-1] in line and advice in line, line
    assert node(driver, run_id) == before


def test_resume_rebuilds_a_damaged_model_as_the_message_says(runner, trained):
    runs, run_id, driver = trained
    metrics = node(driver, run_id)["mrr"]
    (runs / run_id / "model.pt").write_bytes(b"")
    assert ok(runner.invoke(cli, ["train", "--resume", run_id, "--runs-dir", str(runs), "--quiet", "--json"]))["status"] == "done"
    assert node(driver, run_id)["mrr"] == pytest.approx(metrics)
    assert ok(runner.invoke(cli, ["infer", "--run", run_id, "--all", "--runs-dir", str(runs), "--json"]))["written"] > 0


def _set(key, value):
    return lambda d: d.__setitem__(key, value)


def _counts(key, delta):
    return lambda d: d["counts"].__setitem__(key, d["counts"][key] + delta)


def _ids(key, column, value):
    def change(d):
        d[key] = d[key].clone()
        d[key][0, column] = value
    return change


# Damaged run files that still parse (issue 18, item 6): (file, change, command, what the line names)
PARSING_DAMAGE = [
    ("run.json", _set("modalities", 5), "eval", "'modalities'"),
    ("run.json", _set("modalities", ["vision", 3]), "eval", "'modalities'"),
    ("run.json", _set("model_config", {}), "eval", "model_config"),
    ("run.json", _set("model_config", "dim=8"), "eval", "'model_config'"),
    ("run.json", _set("train_config", None), "resume", "'train_config'"),
    ("run.json", _set("seed", "7"), "eval", "'seed'"),
    ("run.json", _set("seed", -1), "resume", "'seed'"),
    ("run.json", _set("variant", "gpt"), "eval", "'variant'"),
    ("run.json", _set("counts", {"entities": "60"}), "eval", "'counts'"),
    ("run.json", _counts("entities", 1), "eval", "counts.entities"),
    ("run.json", _counts("test", -1), "resume", "counts.test"),
    ("run.json", _set("id", "another-run"), "eval", "'id'"),
    ("run.json", _set("metrics", [1, 2]), "eval", "'metrics'"),
    ("run.json", _set("negatives", [1, 2]), "resume", "'negatives'"),
    ("run.json", _set("device", 0), "eval", "'device'"),
    ("run.json", lambda d: d["model_config"].__setitem__("variant", "b1"), "eval", "model_config.variant"),
    ("run.json", lambda d: d["model_config"].__setitem__("dim", d["model_config"]["dim"] + 1), "eval", "model_config"),
    ("run.json", lambda d: d["model_config"].__setitem__("dim", d["model_config"]["dim"] + 1), "resume", "model_config.dim"),
    ("graph.pt", _set("entities", "v1,v2"), "eval", "'entities'"),
    ("graph.pt", lambda d: d.__setitem__("entities", list(range(len(d["entities"])))), "eval", "'entities'"),
    ("graph.pt", lambda d: d.__setitem__("relations", d["relations"][:-1]), "eval", "graph.pt"),
    ("graph.pt", lambda d: d.__setitem__("is_video", d["is_video"].long()), "eval", "'is_video'"),
    ("graph.pt", lambda d: d.__setitem__("is_video", d["is_video"][1:]), "resume", "'is_video'"),
    ("graph.pt", lambda d: d.__setitem__("train", d["train"].float()), "resume", "'train'"),
    ("graph.pt", lambda d: d.__setitem__("valid", d["valid"][:, :2]), "eval", "'valid'"),
    ("graph.pt", _ids("test", 2, 10**6), "eval", "'test'"),
    ("graph.pt", _ids("train", 1, -1), "resume", "'train'"),
    ("graph.pt", lambda d: d.__setitem__("test", d["test"][1:]), "eval", "counts.test"),
    ("graph.pt", lambda d: d.pop("valid"), "eval", "'valid'"),
]


def test_damaged_run_files_that_still_parse_are_one_line_naming_file_and_field(runner, trained):
    """Each case on the same run (its files put back after each): exit 2, one line naming the file and the
    field, no traceback, never model.pt blamed for a run.json fault, the Run node unchanged."""
    runs, run_id, driver = trained
    before = node(driver, run_id)
    originals = {name: (runs / run_id / name).read_bytes() for name in ("run.json", "graph.pt")}
    wrong = []
    for name, change, command, field in PARSING_DAMAGE:
        path = runs / run_id / name
        if name == "run.json":
            data = json.loads(originals[name])
            change(data)
            path.write_text(json.dumps(data))
        else:
            data = torch.load(path, weights_only=True)
            change(data)
            torch.save(data, path)
        args = {"eval": ["eval", "--run", run_id], "resume": ["train", "--resume", run_id, "--quiet"]}[command]
        result = runner.invoke(cli, args + ["--runs-dir", str(runs)])
        lines = result.stderr.strip().splitlines()
        if not (result.exit_code == 2 and len(lines) == 1 and "Traceback" not in result.output
                and name in lines[0] and field in lines[0] and "model.pt" not in lines[0].split(";")[0]
                and node(driver, run_id) == before):
            wrong.append((name, field, command, result.exit_code, result.output[-400:]))
        for original, content in originals.items():
            (runs / run_id / original).write_bytes(content)
    assert not wrong, "\n".join(map(str, wrong))
    assert ok(runner.invoke(cli, ["eval", "--run", run_id, "--runs-dir", str(runs), "--json"]))  # put back: usable


def test_resume_refuses_a_distributed_run(runner, trained):
    """Its last.pt is rank 0's alone (the other ranks' rows are in their own files): continuing from it in
    one process would silently drop their epochs. (The run.json of a --procs 2 run, short of training one.)"""
    runs, run_id, driver = trained
    path = runs / run_id / "run.json"
    meta = json.loads(path.read_text())
    path.write_text(json.dumps({**meta, "distributed": {"world_size": 2}}))
    before = node(driver, run_id)
    line = one_line(runner.invoke(cli, ["train", "--resume", run_id, "--runs-dir", str(runs), "--quiet"]))
    assert f"run {run_id} was trained by 2 processes" in line and "elastic restart" in line, line
    assert node(driver, run_id) == before
