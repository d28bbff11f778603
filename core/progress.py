"""The one progress bar of every long job (training epochs, eval, infer, publish): rich, on stderr, so
that stdout stays clean for tables and `--json`. Imported by every layer, like `kgtag.conventions`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

err_console = Console(stderr=True, highlight=False)


class Bar:
    """`advance(n, **fields)` moves the bar (and sets the columns' fields); `log(line)` prints a line
    above it, as text, never as markup. A hidden bar does nothing."""

    def __init__(self, progress: Progress | None = None, task=None):
        self.progress, self.task = progress, task

    def advance(self, n: int, **fields) -> None:
        if self.progress is not None:
            self.progress.update(self.task, advance=n, **fields)

    def log(self, line: str) -> None:
        if self.progress is not None:
            self.progress.console.print(Text(line))


@contextmanager
def progress_bar(label: str, total: int, show: bool, unit: str = "", columns: tuple[str, ...] = (),
                 transient: bool = True, **fields) -> Iterator[Bar]:
    """A bar counting `total` `unit`s. `label` and `columns` are rich column templates that may read
    `{task.fields[name]}` of `fields` (their first values), e.g. the trainer's epoch, loss and rate."""
    if not show:
        yield Bar()
        return
    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn(unit),
                  *(TextColumn(c) for c in columns), TimeRemainingColumn(),
                  console=err_console, transient=transient) as progress:
        yield Bar(progress, progress.add_task("", total=total, **fields))
