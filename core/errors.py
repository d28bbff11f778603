"""The one family of expected failures: every error kgtag expects derives from `KgtagError`.

`str(error)` is the one line the user sees (it names the file, line, field or id at fault); `kind`
says whose fault it is, and the CLI turns it into the exit code (cli/output.py `describe`, one rule):

    input        the user's command, file or data is wrong: fix it        exit 2
    env          the environment failed (Neo4j down, a full disk)         exit 1
    interrupted  Ctrl-C; the work is resumable                            exit 130

This module imports nothing: every layer (embed, kgstore, runs, cli, web) may raise these.
"""

from __future__ import annotations

EXIT_CODES = {"input": 2, "env": 1, "interrupted": 130}


class KgtagError(Exception):
    """An expected failure; `str()` is one line for the user."""

    kind = "input"


class InvalidConfig(KgtagError, ValueError):
    """A model or training setting (a preset, an override, a stored run's settings) is invalid."""


class DiskFull(KgtagError):
    """A write ran out of disk space; the message says where and how much was needed."""

    kind = "env"


def first_line(exc: BaseException, limit: int | None = 200) -> str:
    """The first line of an exception's message, cut at `limit` characters (a driver's, pyarrow's or
    torch's can run to dozens of lines); the exception's type when it says nothing."""
    lines = str(exc).strip().splitlines()
    if not lines:
        return type(exc).__name__
    return lines[0][:limit] if limit else lines[0]


class InvalidData(KgtagError, ValueError):
    """Data handed to the model cannot be used as it is (NaN features, a graph too small, ...)."""
