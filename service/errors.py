"""The run service's expected failures (part of the kgtag.errors family): one user-facing line each, and a kind.

kind "input": the user asked for something wrong (an id, a value, a file); "env": the environment
failed (Neo4j stopped answering); "interrupted": the user pressed Ctrl-C.
"""

from __future__ import annotations

from kgtag.errors import KgtagError


class RunError(KgtagError):
    """An expected failure of the run service; `str()` is the one line to show."""

    kind = "input"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class BadInput(RunError):
    """A value, a file or an id the caller gave is wrong (fix the call or the file)."""


class RunNotFound(BadInput):
    def __init__(self, run_id: str):
        super().__init__(f"no run named {run_id!r}; `kgtag status` lists the runs")
        self.run_id = run_id


class StoreLost(RunError):
    """Neo4j stopped answering half-way; the message says how to finish."""

    kind = "env"


class Interrupted(RunError):
    """Ctrl-C during training; the last epoch's checkpoint is kept for a resume."""

    kind = "interrupted"
