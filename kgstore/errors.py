"""Errors that speak to the user: what is wrong, and where."""

from __future__ import annotations

from os import PathLike

from kgtag.errors import KgtagError

from .store import StoreError

__all__ = ["InputError", "StoreError"]


class InputError(KgtagError, ValueError):
    """Bad input data, located: `InputError(file, line, message)`; `str()` is one line.

    `line` is the 1-based line of a text file (or the 1-based row of a Parquet/.npy file), or None when
    the fault belongs to the whole file. Nothing of the file has been written when this is raised.
    """

    def __init__(self, file: str | PathLike | None, line: int | None, message: str):
        self.file = None if file is None else str(file)
        self.line = line
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.file or "<input>"
        if self.line is not None:
            where += f":{self.line}"
        return f"{where}: {self.message}"
