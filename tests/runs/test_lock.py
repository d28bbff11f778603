"""service/lock.py: a run's training lock tells a live trainer from a dead one (no Neo4j needed)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kgtag.runs import BadInput
from kgtag.runs.lock import LOCK, alive, hold, release, shown_status

HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, str(os.getpid()).encode())
print("held", flush=True)
sys.stdin.read()
"""


def test_the_lock_follows_the_life_of_its_holder(tmp_path):
    run = tmp_path / "r1"
    run.mkdir()
    assert alive(run) is None and shown_status(tmp_path, "r1", "training") == "training"  # no lock: cannot tell
    hold(run, "r1")
    hold(run, "r1")  # again in the same process: a no-op
    assert alive(run) is True and shown_status(tmp_path, "r1", "training") == "training"
    release(run)
    assert alive(run) is False and shown_status(tmp_path, "r1", "training") == "interrupted"
    assert shown_status(tmp_path, "r1", "done") == "done"
    assert shown_status(tmp_path, "../r1", "training") == "training"  # an id naming no folder here: as stored

    other = subprocess.Popen([sys.executable, "-c", HOLDER, str(run / LOCK)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "held"
        with pytest.raises(BadInput, match=f"run r1 is still training \\(pid {other.pid}\\)"):
            hold(run, "r1")
        assert alive(run) is True
    finally:
        other.kill()  # like kill -9: the OS lets go of its lock
        other.wait()
    assert alive(run) is False
    hold(run, "r1")
    release(run)
