"""Whether a run's training process is alive: it holds `train.lock` in the run's folder while it trains.

The Run node says 'training' from the moment a run starts until it ends; a process killed outright
(kill -9, a lost machine, the OOM killer) cannot change that. The lock tells the two apart: an
exclusive `flock` held by the training process (rank 0 of a distributed run), which the OS releases
when the process ends, however it ends. `kgtag status` shows a 'training' run whose lock is free as
'interrupted' (it only reads: the Run node is left as it is), and `kgtag train --resume` refuses a run
whose lock is held. The file holds the holder's pid, for the message.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from .errors import BadInput
from .files import run_dir_of

LOCK = "train.lock"
_held: dict[Path, int] = {}  # run folder -> open descriptor holding its lock, in this process


def hold(run_dir: Path, run_id: str) -> None:
    """Take the run's lock for this process (again: a no-op), or BadInput naming the live holder."""
    run_dir = Path(run_dir)
    if run_dir in _held:
        return
    fd = os.open(run_dir / LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    for attempt in range(2):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if attempt == 0:  # `kgtag status` may be looking at it this instant (a shared lock, briefly)
                time.sleep(0.2)
                continue
            pid = _pid(fd)
            os.close(fd)
            raise BadInput(f"run {run_id} is still training (pid {pid or '?'}); wait for it to end, or stop "
                           "that process first") from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    _held[run_dir] = fd


def release(run_dir: Path) -> None:
    """Let go of the run's lock (closing the descriptor releases it); a no-op when not held here."""
    fd = _held.pop(Path(run_dir), None)
    if fd is not None:
        os.close(fd)


def alive(run_dir: Path) -> bool | None:
    """True: a live process holds the run's lock; False: none does (its trainer is gone); None: cannot
    tell (no lock file: the folder is on another machine, or the run is older than the lock)."""
    try:
        fd = os.open(Path(run_dir) / LOCK, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also releases the shared lock, if taken


def _pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip())
    except (OSError, ValueError):
        return None


def shown_status(runs_dir: Path, run_id: str, status: str | None) -> str | None:
    """The status to show for a Run node: 'interrupted' for a 'training' one whose folder is in
    `runs_dir` and whose training process is gone (its lock is free), else the node's own."""
    if status != "training":
        return status
    try:
        run_dir = run_dir_of(runs_dir, run_id)
    except BadInput:  # an id that names no folder here
        return status
    return "interrupted" if alive(run_dir) is False else status
