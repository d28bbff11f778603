"""kgtag.atomic.write_atomic: a file is replaced whole or not at all; a full disk is one DiskFull line."""

from __future__ import annotations

import errno

import pytest
import torch

from kgtag.atomic import is_disk_full, write_atomic
from kgtag.errors import DiskFull


def test_a_full_disk_keeps_the_previous_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "run.json"
    write_atomic(path, lambda fh: fh.write(b"old"))

    def full(fh):
        fh.write(b"ne")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(DiskFull) as exc:
        write_atomic(path, full)
    message = str(exc.value)
    assert "\n" not in message and str(path) in message and "free there" in message and "previous one is kept" in message
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_torch_reports_a_full_disk_through_the_exception_chain():
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:671] . unexpected pos 576 vs 534")
    except RuntimeError as exc:
        assert is_disk_full(exc)
    assert not is_disk_full(RuntimeError("unexpected pos 576 vs 534"))  # no ENOSPC behind it: a bug, kept
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))


def test_other_failures_are_not_disk_full_and_leave_nothing(tmp_path):
    def broken(fh):
        torch.save({"w": torch.zeros(3)}, fh)
        raise TypeError("a bug")

    with pytest.raises(TypeError):
        write_atomic(tmp_path / "model.pt", broken)
    assert list(tmp_path.iterdir()) == []
