"""Notes to the user while a run works (progress lines, warnings): on stderr, so that stdout stays clean."""

from __future__ import annotations

from rich.text import Text

from kgtag.progress import err_console


def note(message: str) -> None:
    """Printed as text, never as markup: names from the graph may hold brackets."""
    err_console.print(Text(message))
