"""`kgtag train --procs 2`: two local torch.distributed ranks (gloo) train one run against the real
Neo4j; eval, infer and train --from work on the result unchanged, and the figures are close to one
process's on the same graph and seed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kgtag.cli.main import cli
from kgtag.synthetic.channel import generate

MODS = ("vision", "audio")


def ok(result) -> dict | list:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def loaded(runner, neo4j_driver_clean, tmp_path):
    folder = tmp_path / "sample"
    generate(seed=3, n_videos=160).write(folder)
    ok(runner.invoke(cli, ["ingest", "videos", str(folder / "videos.jsonl"), "--mapping", str(folder / "mapping.toml"),
                           "--json"]))
    ok(runner.invoke(cli, ["ingest", "triples", str(folder / "tags.tsv"), "--json"]))
    for m in MODS:
        ok(runner.invoke(cli, ["ingest", "features", "--modality", m, str(folder / f"features_{m}.parquet"), "--json"]))
    return neo4j_driver_clean


@pytest.mark.slow
@pytest.mark.parametrize("model", ["transe", "transfusion"])
def test_train_procs_2_then_eval_infer_from(runner, loaded, tmp_path, model):
    runs = str(tmp_path / "runs")
    args = ["train", "--model", model, "--epochs", "3", "--seed", "1", "--runs-dir", runs, "--quiet", "--json",
            "--threads", "1"] + (["--modalities", ",".join(MODS)] if model != "transe" else [])
    two = ok(runner.invoke(cli, args + ["--procs", "2"]))
    one = ok(runner.invoke(cli, args))
    assert two["status"] == "done"
    run_dir = tmp_path / "runs" / two["id"]
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["distributed"] == {"world_size": 2}
    assert (run_dir / "model.pt").is_file() and (run_dir / "checkpoints" / "last.rank1.pt").is_file()
    # the split is made once, independent of the world size
    assert meta["counts"] == json.loads((tmp_path / "runs" / one["id"] / "run.json").read_text())["counts"]
    assert two["mrr"] > 0.5 * one["mrr"], (two["mrr"], one["mrr"])

    ev = ok(runner.invoke(cli, ["eval", "--run", two["id"], "--runs-dir", runs, "--json"]))
    assert ev["filtered"]["count"] > 0
    # the test figure the ranks computed together = one process's evaluation of the same model.pt
    assert ev["filtered"]["mrr"] == pytest.approx(two["mrr"], abs=1e-12)
    inferred = ok(runner.invoke(cli, ["infer", "--run", two["id"], "--all", "--top-k", "2", "--runs-dir", runs,
                                      "--json"]))
    assert inferred["videos"] > 0
    warm = ok(runner.invoke(cli, ["train", "--from", two["id"], "--epochs", "1", "--runs-dir", runs, "--quiet",
                                  "--json"]))
    assert warm["status"] == "done"


def _worker_pid(parent: int) -> int | None:
    """The newest rank process among the descendants of `parent` (the launcher's spawned workers;
    their RANK is set after the start, so /proc's environ cannot tell which rank: any one will do)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    todo, found = [parent], []
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            todo.append(child)
            try:
                cmd = (Path("/proc") / str(child) / "cmdline").read_bytes()
            except OSError:
                continue
            if b"spawn_main" in cmd:
                found.append(child)
    return max(found) if found else None


def _kill_a_rank_when(proc: subprocess.Popen, ready, poll: float = 0.05) -> int | None:
    """SIGKILL one rank of `proc`'s group as soon as `ready()` holds (within 300 s, while it runs);
    the killed pid, or None when that never happened."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        pid = _worker_pid(proc.pid) if ready() else None
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            return pid
        time.sleep(poll)
    return None


@pytest.mark.slow
def test_kill_9_of_a_rank_restarts_the_group_and_resumes(runner, loaded, tmp_path):
    runs = tmp_path / "runs"
    args = [sys.executable, "-m", "kgtag", "train", "--model", "transe", "--epochs", "25", "--seed", "2",
            "--runs-dir", str(runs), "--quiet", "--json", "--threads", "1", "--procs", "2"]
    reference = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert reference.returncode == 0, reference.stderr
    expected = json.loads(reference.stdout)
    proc = subprocess.Popen(args + ["--max-restarts", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path)
    killed = _kill_a_rank_when(proc, lambda: any(p.parts[-3] != expected["id"]
                                                 for p in runs.glob("*/checkpoints/last.rank1.pt")))
    out, err = proc.communicate(timeout=600)
    assert killed is not None and proc.returncode == 0, err
    assert "restarted group" in err, err
    node = json.loads(out)
    for metric in ("mr", "mrr", "hits1", "hits3", "hits10"):
        assert node[metric] == expected[metric], (metric, node[metric], expected[metric])


@pytest.mark.slow
def test_kill_9_without_restarts_is_one_line(runner, loaded, tmp_path):
    runs = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "kgtag", "train", "--model", "transe", "--epochs", "25",
                             "--runs-dir", str(runs), "--quiet", "--threads", "1", "--procs", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    killed = _kill_a_rank_when(proc, lambda: any(runs.glob("*/checkpoints/last.rank1.pt")))
    _, err = proc.communicate(timeout=300)
    assert killed is not None and proc.returncode == 1, err
    assert "of 2 failed (killed by signal 9)" in err.strip().splitlines()[-1] and "Traceback" not in err, err


@pytest.mark.slow
def test_two_torchrun_nodes_each_read_their_own_shard(runner, loaded, tmp_path):
    """Two `torchrun --nnodes 2` agents on one machine (127.0.0.1), one process each, as two nodes of a
    cluster would start, each with its OWN runs folder (no shared file system): each reads only its
    head range's triples from Neo4j, and node 0's folder holds a run that evaluates and infers."""
    import numpy as np
    import torch

    from kgtag.kgstore.read import pages_read

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    runs = [tmp_path / f"node{k}" / "runs" for k in range(2)]
    nodes = [subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node-rank", str(k), "--nproc-per-node", "1",
         "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "kgtag-test",
         "-m", "kgtag", "train", "--model", "transfusion", "--modalities", ",".join(MODS), "--epochs", "2",
         "--runs-dir", str(runs[k]), "--quiet", "--json", "--threads", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path) for k in range(2)]
    outs = [n.communicate(timeout=600) for n in nodes]
    assert all(n.returncode == 0 for n in nodes), [o[1][-2000:] for o in outs]
    printed = [(k, o[0]) for k, o in enumerate(outs) if o[0].strip()]
    assert len(printed) == 1  # rank 0 prints the run
    rank0_node, out = printed[0]
    node = json.loads(out)
    assert node["status"] == "done"
    run_dir = runs[rank0_node] / node["id"]
    other = runs[1 - rank0_node] / node["id"]
    assert json.loads((run_dir / "run.json").read_text())["distributed"] == {"world_size": 2}
    # the other node's folder holds its shard and checkpoint only: no graph.pt, no cache, no model
    assert sorted(p.name for p in other.iterdir()) == ["checkpoints", "shard1"]

    saved = torch.load(run_dir / "graph.pt", weights_only=True)
    every = torch.cat([saved["train"], saved["valid"], saved["test"]])
    for rank, folder in ((0, run_dir / "shard0"), (1, other / "shard1")):
        manifest = json.loads((folder / "manifest.json").read_text())
        lo, hi = manifest["heads"]
        triples = torch.from_numpy(np.load(folder / "triples.npy"))
        # exactly its head range's triples, no other
        mine = every[(every[:, 0] >= lo) & (every[:, 0] < hi)]
        assert 0 < len(triples) == len(mine) < len(every)
        assert torch.equal(torch.unique(triples, dim=0), torch.unique(mine, dim=0))
        # the vectors of its own videos and the shared entities only: never the other rank's videos
        rows = np.load(folder / f"rows_{MODS[0]}.npy")
        others = every[(every[:, 0] < lo) | (every[:, 0] >= hi), 0]
        owned_elsewhere = set(others.tolist()) - set(every[:, 2].tolist()) - set(mine[:, 0].tolist())
        assert owned_elsewhere and not owned_elsewhere & set(rows.tolist())

    # rank 0 wrote the run's whole cache once training ended: eval reads no vector from Neo4j
    assert "cache_digest" in json.loads((run_dir / "run.json").read_text())
    pages_read.clear()
    ev = ok(runner.invoke(cli, ["eval", "--run", node["id"], "--runs-dir", str(runs[rank0_node]), "--json"]))
    assert ev["filtered"]["mrr"] == pytest.approx(node["mrr"], abs=1e-12)
    assert pages_read["features"] == 0

    # inference under torchrun: each node needs the run's folder (copied here, as rsync would)
    shutil.copytree(run_dir, other, dirs_exist_ok=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    nodes = [subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node-rank", str(k), "--nproc-per-node", "1",
         "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "kgtag-infer",
         "-m", "kgtag", "infer", "--run-id", node["id"], "--all", "--top-k", "2", "--min-confidence", "0",
         "--runs-dir", str(runs[k]), "--quiet", "--json", "--threads", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path) for k in range(2)]
    outs = [n.communicate(timeout=600) for n in nodes]
    assert all(n.returncode == 0 for n in nodes), [o[1][-2000:] for o in outs]
    printed = [json.loads(o[0]) for o in outs if o[0].strip()]
    assert len(printed) == 1 and printed[0]["world_size"] == 2
    assert printed[0]["written"] == len(_edges(loaded, node["id"])) == 2 * printed[0]["videos"] * len(
        {e["relation"] for e in printed[0]["edges"]})


def test_procs_on_an_empty_graph_is_one_line(runner, neo4j_driver_clean, tmp_path):
    """Rank 0 refuses the graph; every rank stops at once and the user reads rank 0's line."""
    result = runner.invoke(cli, ["train", "--model", "transe", "--procs", "2", "--threads", "1", "--quiet",
                                 "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "holds no triples" in lines[0], result.output


def _edges(driver, run_id: str) -> dict:
    """The run's INFERRED edges: (video, relation, rank) -> (tag, score, confidence)."""
    with driver.session() as session:
        rows = session.run("MATCH (v:Video)-[e:INFERRED {run: $run}]->(t) "
                           "RETURN v.id AS v, e.relation AS r, e.rank AS k, t.id AS t, e.score AS s, e.confidence AS c",
                           run=run_id).data()
    return {(r["v"], r["r"], r["k"]): (r["t"], r["s"], r["c"]) for r in rows}


@pytest.mark.slow
def test_infer_procs_2_writes_what_one_process_writes_and_resumes(runner, loaded, tmp_path):
    runs = tmp_path / "runs"
    run = ok(runner.invoke(cli, ["train", "--model", "transfusion", "--modalities", ",".join(MODS), "--epochs", "2",
                                 "--runs-dir", str(runs), "--quiet", "--json", "--threads", "1"]))
    infer = [sys.executable, "-m", "kgtag", "infer", "--run", run["id"], "--all", "--top-k", "3", "--min-confidence",
             "0", "--block", "4", "--runs-dir", str(runs), "--json", "--quiet", "--threads", "1"]

    def call(*extra):
        done = subprocess.run(infer + list(extra), capture_output=True, text=True, timeout=600, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    one = call()
    expected = _edges(loaded, run["id"])
    assert len(expected) == one["written"] > 0
    two = call("--procs", "2")
    assert two["written"] == one["written"] and two["world_size"] == 2
    got = _edges(loaded, run["id"])
    assert got.keys() == expected.keys()
    for key, (tag, score, confidence) in expected.items():  # the same tags in the same ranks, the same scores
        assert got[key][0] == tag and got[key][1:] == pytest.approx((score, confidence), abs=1e-6), key

    # interrupted: a rank killed once its progress file records a written block; the rerun continues
    proc = subprocess.Popen(infer + ["--procs", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path)
    killed = _kill_a_rank_when(proc, lambda: any(not json.loads(p.read_text() or "{}").get("complete")
                                                 for p in (runs / run["id"]).glob("infer-progress.rank*of2.json")),
                               poll=0.01)
    _, err = proc.communicate(timeout=300)
    assert killed is not None and proc.returncode == 1, err
    again = call("--procs", "2")
    assert again["resumed_at"] > 0 and again["written"] == one["written"]
    got = _edges(loaded, run["id"])
    assert got.keys() == expected.keys() and all(got[k][0] == expected[k][0] for k in expected)
