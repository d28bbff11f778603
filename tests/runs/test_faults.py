"""Faults under load (issue 10, item 8), with real processes and the real test Neo4j.

"Neo4j stops" is played by a TCP proxy between a `kgtag` process and the shared test server: the test
closes the proxy (every connection drops, new ones are refused), which is what the client sees when
the server goes away, without stopping the server the other tests use. The same proxy can hold back
the first write statement of two processes until both have sent it, so that two `kgtag infer` really
write at the same time.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from kgtag.cli.main import cli
from kgtag.synthetic.channel import generate

INFER_WRITE = b"UNWIND range(0, size($tags)"  # in cypher/results_inferred.cypher, as sent to the server
INFER_LOCK = b"SET v.infer_lock"  # cypher/results_inferred_lock.cypher: the first statement of a write, if any


class Proxy:
    """127.0.0.1:port -> the test Neo4j. `close()` drops everything; `hold(marker, parties)` makes the
    first client->server chunk holding `marker` on each of `parties` connections wait for the others;
    `cut_on(marker)` drops everything when a chunk holding `marker` arrives (it is not forwarded)."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.closed = threading.Event()
        self.markers: tuple[bytes, ...] = ()
        self.barrier: threading.Barrier | None = None
        self.cut_marker = None
        self.cut = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def uri(self) -> str:
        return f"bolt://127.0.0.1:{self.port}"

    def hold(self, markers: tuple[bytes, ...], parties: int) -> None:
        self.markers, self.barrier = markers, threading.Barrier(parties, timeout=120)

    def cut_on(self, marker: bytes) -> None:
        self.cut_marker = marker

    def close(self) -> None:
        self.closed.set()
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() blocked in the other thread
        except OSError:
            pass
        self.listener.close()
        for s in list(self.sockets):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.closed.is_set():
                client.close()
                return
            server = socket.create_connection(self.target)
            self.sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, upstream: bool) -> None:
        held = False
        try:
            while data := src.recv(65536):
                if upstream and self.cut_marker and self.cut_marker in data:
                    self.cut.set()
                    self.close()
                    return
                if upstream and not held and any(m in data for m in self.markers):
                    held = True
                    self.barrier.wait()  # both writers' statements leave together
                dst.sendall(data)
        except (OSError, threading.BrokenBarrierError):
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@pytest.fixture
def sample(runner, neo4j_driver_clean, tmp_path):
    """A small video KG ingested through the CLI (120 videos, vision features)."""
    folder = tmp_path / "sample"
    generate(seed=5, n_videos=120).write(folder)
    for args in (["videos", str(folder / "videos.jsonl"), "--mapping", str(folder / "mapping.toml")],
                 ["triples", str(folder / "tags.tsv")],
                 ["features", "--modality", "vision", str(folder / "features_vision.parquet")]):
        assert runner.invoke(cli, ["ingest", *args]).exit_code == 0
    return neo4j_driver_clean


def kgtag(tmp_path: Path, *args, uri: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    if uri:
        env["NEO4J_URI"] = uri
    return subprocess.Popen([sys.executable, "-c", "from kgtag.cli.main import cli; cli()", *args], env=env,
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def run_status(driver, run_id: str) -> str | None:
    records, _, _ = driver.execute_query("MATCH (r:Run {id: $id}) RETURN r.status AS s", id=run_id)
    return records[0]["s"] if records else None


def wait_for_epoch(run_parent: Path, proc: subprocess.Popen, timeout: float = 180) -> str:
    """The run id, once the run has written its first epoch checkpoint."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list(run_parent.glob("*/checkpoints/last.pt"))
        if found:
            return found[0].parents[1].name
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("no checkpoint appeared")


TRAIN = ["train", "--model", "transfusion", "--modalities", "vision", "--epochs", "20", "--seed", "7", "--quiet", "--json"]


def shown_runs(runner, runs: Path) -> dict:
    """`kgtag status --json`'s runs: id -> (status shown, resume command)."""
    result = runner.invoke(cli, ["status", "--json", "--runs-dir", str(runs)])
    assert result.exit_code == 0, result.output
    return {r["run"]: (r["status"], r.get("resume")) for r in json.loads(result.stdout)["runs"]}


def test_kill_9_during_training_then_resume_matches_an_uninterrupted_run(sample, runner, tmp_path):
    driver = sample
    ref_dir, cut_dir = tmp_path / "ref", tmp_path / "cut"
    code, out, err = finish(kgtag(tmp_path, *TRAIN, "--runs-dir", str(ref_dir)))
    assert code == 0, err
    reference = json.loads(out)

    proc = kgtag(tmp_path, *TRAIN, "--runs-dir", str(cut_dir))
    run_id = wait_for_epoch(cut_dir, proc)
    # alive: status says training, and a resume is refused naming the process (its lock is held)
    assert shown_runs(runner, cut_dir)[run_id] == ("training", None)
    refused = runner.invoke(cli, ["train", "--resume", run_id, "--runs-dir", str(cut_dir), "--quiet"])
    assert refused.exit_code == 2 and f"run {run_id} is still training (pid {proc.pid})" in refused.stderr, refused.output
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert run_status(driver, run_id) == "training"  # not done: nothing half-written claims success
    assert not (cut_dir / run_id / "model.pt").exists()
    # dead: status shows it interrupted, with the command that resumes it (the Run node is left as it is)
    assert shown_runs(runner, cut_dir)[run_id] == ("interrupted", f"kgtag train --resume {run_id}")
    assert run_status(driver, run_id) == "training"

    code, out, err = finish(kgtag(tmp_path, "train", "--resume", run_id, "--runs-dir", str(cut_dir), "--quiet", "--json"))
    assert code == 0, err
    resumed = json.loads(out)
    assert resumed["status"] == "done" and run_status(driver, run_id) == "done"
    assert json.loads(resumed["metrics_json"]) == json.loads(reference["metrics_json"])


def test_neo4j_stopping_while_training_fails_cleanly_and_the_run_resumes(sample, tmp_path, neo4j_settings):
    driver = sample
    host, port = neo4j_settings["uri"].split("//")[1].split(":")
    proxy = Proxy((host, int(port)))
    runs = tmp_path / "runs"
    proc = kgtag(tmp_path, *TRAIN, "--runs-dir", str(runs), uri=proxy.uri)
    run_id = wait_for_epoch(runs, proc)
    proxy.close()  # Neo4j goes away mid-training
    code, out, err = finish(proc)
    assert code == 1, err
    last = err.strip().splitlines()[-1]  # after the run's first line: one line of error, no traceback
    assert "Traceback" not in err and last.startswith(f"Error: Neo4j stopped answering while run {run_id} was being stored")
    assert last.endswith(f"`kgtag train --resume {run_id}`")
    assert run_status(driver, run_id) == "training"
    refused = kgtag(tmp_path, "infer", "--run", run_id, "--all", "--runs-dir", str(runs))
    code, _, err = finish(refused)
    assert code == 2 and "--resume" in err  # a model file alone does not make a finished run
    code, out, err = finish(kgtag(tmp_path, "train", "--resume", run_id, "--runs-dir", str(runs), "--quiet", "--json"))
    assert code == 0, err
    assert json.loads(out)["status"] == "done" and run_status(driver, run_id) == "done"


def edges(driver) -> tuple[int, int]:
    """(pending inferred edges, (video, relation, tag) triples among them that appear more than once)."""
    records, _, _ = driver.execute_query(
        "MATCH (v:Video)-[e:INFERRED]->(t) WHERE e.status IS NULL "
        "WITH v, e.relation AS r, t, count(e) AS n RETURN sum(n) AS edges, count(CASE WHEN n > 1 THEN 1 END) AS dups")
    return records[0]["edges"], records[0]["dups"]


@pytest.fixture
def trained(sample, tmp_path):
    runs = tmp_path / "runs"
    code, out, err = finish(kgtag(tmp_path, "train", "--model", "transfusion", "--modalities", "vision", "--epochs", "2",
                                  "--runs-dir", str(runs), "--quiet", "--json"))
    assert code == 0, err
    return sample, runs, json.loads(out)["id"]


INFER = ["infer", "--all", "--top-k", "5", "--json"]


def test_neo4j_stopping_while_inferred_edges_are_written(trained, tmp_path, neo4j_settings):
    driver, runs, run_id = trained
    host, port = neo4j_settings["uri"].split("//")[1].split(":")
    proxy = Proxy((host, int(port)))
    proxy.cut_on(INFER_WRITE)
    code, _, err = finish(kgtag(tmp_path, *INFER, "--run", run_id, "--runs-dir", str(runs), uri=proxy.uri))
    assert proxy.cut.is_set()
    assert code == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1 and "Neo4j" in err, err
    assert run_status(driver, run_id) == "done"
    assert edges(driver) == (0, 0)  # the batch that was cut wrote nothing
    code, out, err = finish(kgtag(tmp_path, *INFER, "--run", run_id, "--runs-dir", str(runs)))
    assert code == 0, err
    assert edges(driver) == (json.loads(out)["written"], 0)  # a rerun completes it


def test_two_infers_on_one_run_at_once_leave_no_duplicate_edges(trained, tmp_path, neo4j_settings):
    driver, runs, run_id = trained
    host, port = neo4j_settings["uri"].split("//")[1].split(":")
    proxy = Proxy((host, int(port)))
    proxy.hold((INFER_LOCK, INFER_WRITE), parties=2)  # both writes' first statements reach the server together
    procs = [kgtag(tmp_path, *INFER, "--run", run_id, "--runs-dir", str(runs), uri=proxy.uri) for _ in range(2)]
    results = [finish(p) for p in procs]
    proxy.close()
    for code, _, err in results:
        assert code == 0, err
    written = {json.loads(out)["written"] for _, out, _ in results}
    assert len(written) == 1
    assert edges(driver) == (written.pop(), 0)
    records, _, _ = driver.execute_query(
        "MATCH (v:Video)-[a:MODALITY_ATTENTION]->(r:Run {id: $id}) WITH v, count(a) AS n WHERE n > 1 RETURN count(v) AS dups",
        id=run_id)
    assert records[0]["dups"] == 0
