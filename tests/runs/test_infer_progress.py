"""infer's progress file under concurrency (issue 18 item 9): unique temporary names (two `infer` on one
run never rename each other's), and a live inference's progress is not taken for an interrupted one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

from kgtag.runs import infer


def test_concurrent_progress_writes_never_collide(tmp_path):
    path = tmp_path / infer.PROGRESS_FILE
    errors = []

    def writer(n: int) -> None:
        try:
            for i in range(200):
                infer._write_progress(path, {"key": "k", "videos_done": i, "videos": 200, "edges": n})
        except Exception as exc:  # noqa: BLE001  a fixed tmp name gave FileNotFoundError here
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:1]
    assert json.loads(path.read_text())["videos_done"] == 199
    assert [p.name for p in tmp_path.iterdir()] == [infer.PROGRESS_FILE]  # no temporary file left behind


def test_a_live_inference_is_not_continued_but_a_dead_one_is(tmp_path):
    path = tmp_path / infer.PROGRESS_FILE
    state = {"key": "k", "videos_done": 40, "videos": 100, "edges": 400}
    infer._write_progress(path, state)
    assert infer._read_progress(path, "k")["videos_done"] == 40  # our own (an interrupted call in this process)
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        path.write_text(json.dumps({**state, "pid": alive.pid, "host": os.uname().nodename}))
        assert infer._read_progress(path, "k") == {}  # another infer is writing now: start from 0
    finally:
        alive.kill()
        alive.wait()
    assert infer._read_progress(path, "k")["videos_done"] == 40  # it died: continue where it stopped
