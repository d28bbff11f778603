"""docker/neo4j-local keeps its secrets (issue 10, item 6): a throwaway server in its own home and
ports (the shared test server is never touched). The initial password never appears on a command line,
and the home, the store and the password file are private to the user."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import threading
from pathlib import Path

from neo4j import GraphDatabase

SCRIPT = Path(__file__).resolve().parents[2] / "docker" / "neo4j-local"
PASSWORD = 'Throwaway pw "q" \\ #7'  # spaces, quotes, a backslash, a hash: the @-file must keep them


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command_lines_with(secret: bytes, stop: threading.Event, seen: list) -> None:
    """Poll every process's command line, as `ps` shows them to any local user."""
    me = os.getpid()
    while not stop.is_set():
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == me:
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    line = fh.read()
            except OSError:
                continue
            if secret in line:
                seen.append(line.replace(b"\0", b" ")[:200])
        stop.wait(0.02)


def test_throwaway_server_keeps_its_password_and_store_private(tmp_path):
    home = tmp_path / "neo4j-home"
    bolt, http = free_port(), free_port()
    env = {**os.environ, "KGTAG_NEO4J_HOME": str(home), "NEO4J_BOLT_PORT": str(bolt), "NEO4J_HTTP_PORT": str(http),
           "NEO4J_PASSWORD": PASSWORD, "NEO4J_HEAP": "512m", "NEO4J_PAGECACHE": "64m"}
    stop, seen = threading.Event(), []
    watcher = threading.Thread(target=command_lines_with, args=(b"Throwaway pw", stop, seen), daemon=True)
    watcher.start()
    try:
        started = subprocess.run(["bash", str(SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=300)
        stop.set()
        watcher.join()
        assert started.returncode == 0, started.stderr
        assert seen == [], seen  # the password was never on a command line
        for path in [home, home / "data", *(home / "data").rglob("*"), home / "conf" / "neo4j.conf"]:
            if path.is_symlink():
                continue
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, f"{path} is open to other users"
        assert not (home / "run" / "initial-password.args").exists()
        with GraphDatabase.driver(f"bolt://127.0.0.1:{bolt}", auth=("neo4j", PASSWORD)) as driver:
            driver.verify_connectivity()  # the password set through the @-file is the one given
    finally:
        stop.set()
        subprocess.run(["bash", str(SCRIPT), "stop"], env=env, capture_output=True, timeout=120)
