"""Notes to the user while a run works (progress lines, warnings): on stderr, so that stdout stays clean."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

err_console = Console(stderr=True, highlight=False)


def note(message: str) -> None:
    """Printed as text, never as markup: names from the graph may hold brackets."""
    err_console.print(Text(message))
