"""Faults of a distributed run end in one line naming the rank and the cause, within a stated timeout:
a rendezvous the other ranks never join, and a rank that cannot reach Neo4j."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

from kgtag.kgstore.store import Settings
from kgtag.runs.distributed import RankFailed, train_rank
from kgtag.runs.plan import RunPlan


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rank_env(world: int, rank: int = 0, timeout: int = 5) -> dict:
    return {"WORLD_SIZE": str(world), "RANK": str(rank), "LOCAL_RANK": str(rank), "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(free_port()), "KGTAG_DIST_TIMEOUT_S": str(timeout)}


def test_rendezvous_that_never_completes_is_one_line(tmp_path):
    env = {**os.environ, **rank_env(world=2), "NEO4J_URI": "bolt://127.0.0.1:1"}  # Neo4j is not reached first
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "kgtag", "train", "--model", "transe", "--quiet",
                          "--runs-dir", str(tmp_path)], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "rank 0: could not join the process group" in lines[0], out.stderr
    assert "1/2" in lines[0] and time.monotonic() - started < 60


def test_rank_that_cannot_reach_neo4j_is_one_line(tmp_path, monkeypatch):
    for k, v in rank_env(world=1).items():
        monkeypatch.setenv(k, v)
    try:
        train_rank(Settings(uri="bolt://127.0.0.1:1", password="x"), RunPlan(variant="transe", device="cpu"), tmp_path)
    except RankFailed as exc:
        assert str(exc).startswith("rank 0: cannot reach Neo4j (") and "\n" not in str(exc)
    else:
        raise AssertionError("no failure")
