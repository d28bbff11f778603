"""A full disk while a run trains (issue 18, item 3): one line naming the file and the space left, exit 1,
the previous checkpoint intact, no temporary file left, the run 'interrupted' and resumable.

Simulated (torch.save failing as it does on a full disk: a RuntimeError whose context is the OSError
ENOSPC) everywhere; on a real small tmpfs where the test runs as root and may mount one.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
from pathlib import Path

import pytest
import torch

from kgtag.cli.main import cli
from kgtag.embed import checkpoint as ckpt
from kgtag.synthetic.channel import generate

TRAIN = ["train", "--model", "transe", "--epochs", "3", "--seed", "1", "--quiet", "--json"]


@pytest.fixture
def graph(runner, neo4j_driver_clean, tmp_path):
    folder = tmp_path / "sample"
    generate(seed=3, n_videos=60).write(folder)
    for args in (["videos", str(folder / "videos.jsonl"), "--mapping", str(folder / "mapping.toml")],
                 ["triples", str(folder / "tags.tsv")]):
        assert runner.invoke(cli, ["ingest", *args]).exit_code == 0
    return neo4j_driver_clean


def run_status(driver, run_id: str) -> str | None:
    records, _, _ = driver.execute_query("MATCH (r:Run {id: $id}) RETURN r.status AS s", id=run_id)
    return records[0]["s"] if records else None


def the_run(runs: Path) -> str:
    (run_dir,) = [p for p in runs.iterdir() if p.is_dir()]
    return run_dir.name


def full_disk_at(monkeypatch, marker: str, nth: int) -> None:
    """torch.save fails the nth time it writes a file whose name holds `marker`, after writing part of it."""
    real, seen = torch.save, []

    def save(obj, f, *args, **kwargs):
        if marker in str(getattr(f, "name", f)):
            seen.append(1)
            if len(seen) == nth:
                f.write(b"half a checkpoint")
                try:
                    raise OSError(errno.ENOSPC, "No space left on device")
                except OSError:
                    raise RuntimeError("[enforce fail at inline_container.cc:671] . unexpected pos 576 vs 534")
        return real(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)


def one_line(result, code: int) -> str:
    """The error line (after the run's own first line, a note on stderr): one, and no traceback."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output, result.output
    lines = result.stderr.strip().splitlines()
    assert [line for line in lines if "Error" in line] == lines[-1:], result.stderr
    return lines[-1]


@pytest.mark.parametrize("marker, nth, epochs_kept", [("last.pt", 2, 1), ("model.pt", 1, 3), ("last.pt", 1, None)])
def test_a_full_disk_while_training_leaves_the_run_resumable(runner, graph, tmp_path, monkeypatch, marker, nth,
                                                              epochs_kept):
    runs = tmp_path / "runs"
    with monkeypatch.context() as patch:
        full_disk_at(patch, marker, nth)
        line = one_line(runner.invoke(cli, TRAIN + ["--runs-dir", str(runs)]), 1)
    run_id = the_run(runs)
    assert line.startswith("Error: the disk is full") and marker in line and "free there" in line, line
    assert f"kgtag train --resume {run_id}" in line
    run_dir = runs / run_id
    if epochs_kept is None:  # the first checkpoint failed: there is none, and the resume starts over
        assert not (run_dir / "checkpoints" / "last.pt").exists()
    else:
        assert ckpt.load(run_dir / "checkpoints" / "last.pt")["result"]["epochs"] == epochs_kept  # the previous one
    assert not list(run_dir.rglob("*.tmp")) and not (run_dir / "model.pt").exists()
    assert run_status(graph, run_id) == "interrupted"
    shown = json.loads(runner.invoke(cli, ["status", "--json", "--runs-dir", str(runs)]).stdout)["runs"]
    assert [(r["status"], r.get("resume")) for r in shown if r["run"] == run_id] == [
        ("interrupted", f"kgtag train --resume {run_id}")]

    resumed = runner.invoke(cli, ["train", "--resume", run_id, "--runs-dir", str(runs), "--quiet", "--json"])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["status"] == "done" and run_status(graph, run_id) == "done"
    assert ckpt.load(run_dir / "checkpoints" / "last.pt")["result"]["epochs"] == 3



def test_a_full_disk_at_infer_progress_is_one_line_and_the_same_command_continues(runner, graph, tmp_path, monkeypatch):
    from kgtag.runs import infer as infer_module

    runs = tmp_path / "runs"
    assert runner.invoke(cli, TRAIN[:3] + ["--epochs", "1", "--quiet", "--runs-dir", str(runs)]).exit_code == 0
    run_id = the_run(runs)
    real = infer_module.write_atomic

    def full(path, write):
        def no_space(fh):
            fh.write(b'{"videos_do')
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, no_space)

    infer = ["infer", "--run", run_id, "--all", "--runs-dir", str(runs), "--json"]
    with monkeypatch.context() as patch:
        patch.setattr(infer_module, "write_atomic", full)
        line = one_line(runner.invoke(cli, infer), 1)
    assert line.startswith("Error: the disk is full") and "infer-progress.json could not be written" in line, line
    assert "the same command continues" in line
    assert not list((runs / run_id).rglob("*.tmp"))
    again = runner.invoke(cli, infer)
    assert again.exit_code == 0, again.output
    records, _, _ = graph.execute_query(
        "MATCH (v:Video)-[e:INFERRED]->(t) WITH v, e.relation AS r, t, count(e) AS n RETURN sum(n) AS edges, "
        "count(CASE WHEN n > 1 THEN 1 END) AS dups")
    assert records[0]["edges"] == json.loads(again.stdout)["written"] and records[0]["dups"] == 0

def _pages(path: Path) -> int:
    """Bytes a file, or a folder's files, take on a tmpfs (whole 4 KB pages)."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(-(-p.stat().st_size // 4096) * 4096 for p in files)


def test_a_real_full_tmpfs_at_checkpoint_time(runner, graph, tmp_path):
    """A tmpfs as the runs folder, sized from a reference run so that the run's files and two
    checkpoints (best.pt, last.pt) fit, but not a third file of that size: the second epoch's
    checkpoint write finds the disk full."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; the simulated full disk above covers the rest")
    ref = tmp_path / "ref"
    assert runner.invoke(cli, TRAIN[:3] + ["--epochs", "1", "--seed", "1", "--quiet", "--runs-dir", str(ref)]).exit_code == 0
    ref_dir = ref / the_run(ref)
    checkpoint = _pages(ref_dir / "checkpoints" / "last.pt")
    before_training = _pages(ref_dir) - _pages(ref_dir / "checkpoints") - _pages(ref_dir / "model.pt")
    size = before_training + 2 * checkpoint + checkpoint // 2
    runs = tmp_path / "small"
    runs.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(runs)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()})")
    try:
        line = one_line(runner.invoke(cli, TRAIN + ["--runs-dir", str(runs)]), 1)
        run_id = the_run(runs)
        assert line.startswith("Error: the disk is full") and ".pt could not be written" in line, line
        assert f"kgtag train --resume {run_id}" in line
        run_dir = runs / run_id
        assert ckpt.load(run_dir / "checkpoints" / "last.pt")["result"]["epochs"] == 1
        assert not list(run_dir.rglob("*.tmp"))
        assert run_status(graph, run_id) == "interrupted"
        # room again: the run continues from its last epoch
        subprocess.run(["mount", "-o", f"remount,size={size * 4}", str(runs)], check=True)
        resumed = runner.invoke(cli, ["train", "--resume", run_id, "--runs-dir", str(runs), "--quiet", "--json"])
        assert resumed.exit_code == 0, resumed.output
        assert run_status(graph, run_id) == "done"
    finally:
        subprocess.run(["umount", "-l", str(runs)], capture_output=True)
