"""Files written whole or not at all: a temporary file beside the target, renamed over it once complete.

A crash, a kill -9 or a full disk leaves the previous file as it was (a checkpoint, model.pt, run.json,
infer's progress). A full disk becomes one `DiskFull` line naming the file and the space left. The
writer gets an open binary file, not a path: torch.save on a path reports a full disk as a bare
"unexpected pos" RuntimeError, on a Python file the OSError (ENOSPC) stays in the exception's chain.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from .errors import DiskFull

FULL = {errno.ENOSPC, errno.EDQUOT}


def write_atomic(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """write(file) into a temporary file in `path`'s folder, then rename it to `path`. Its name is unique,
    so that two writers of one file (two `infer` on one run) never rename each other's."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:  # not even an empty file fits (no space, or no inode, left)
        raise (_full(path) if is_disk_full(exc) else exc) from None
    os.close(fd)
    try:
        with open(tmp, "wb") as fh:  # by name: the file's `name` says which file it is
            write(fh)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)  # nothing half-written stays behind
        if is_disk_full(exc):
            raise _full(path) from None
        raise
    return path


def _full(path: Path) -> DiskFull:
    kept = "; the previous one is kept" if path.exists() else ""
    return DiskFull(f"the disk is full: {path} could not be written ({size(free_space(path.parent))} free there){kept}")


def is_disk_full(exc: BaseException | None) -> bool:
    """An OSError ENOSPC/EDQUOT anywhere in the exception's chain, or torch's own wording of one."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError) and exc.errno in FULL:
            return True
        if isinstance(exc, RuntimeError) and ("No space left" in str(exc) or "file write failed" in str(exc)):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def free_space(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return 0


def size(n: float) -> str:
    """Bytes as people read them: 512 bytes, 3.2 MB."""
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"
