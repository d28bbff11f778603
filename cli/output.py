"""Printing for the CLI: rich tables for people, JSON for scripts, one-line errors for expected mistakes.

Text from the graph or from a user (ids, tags, relation and curator names) is printed as rich `Text`,
never parsed as markup: a tag named `[/]` or `[bold]` prints as itself; and through `printable`, so
that a control character stored before ingest refused them (ESC, CSI: clear the screen, set the
terminal's title) prints as a visible escape (`\x1b`), never reaches the terminal.

`KgtagGroup` is the single place that turns known exceptions into a one-line message and an exit code:
2 for something the user gave us (a file, an id, a value), 1 for the environment (Neo4j down or refusing).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from kgtag.atomic import is_disk_full
from kgtag.errors import EXIT_CODES, KgtagError
from kgtag.runs.notes import note

console = Console(highlight=False)

EXIT_INPUT = EXIT_CODES["input"]  # the user's input is wrong: fix the command or the file
EXIT_ENV = EXIT_CODES["env"]  # the environment is wrong: Neo4j down, wrong password, a full disk


class CliError(click.ClickException):
    """An expected failure, printed as one line."""

    def __init__(self, message: str, exit_code: int = EXIT_INPUT):
        super().__init__(printable(message))  # it may quote an id or a file name from the user
        self.exit_code = exit_code


def describe(exc: BaseException) -> CliError | None:
    """The user-facing message for an expected exception, or None for a bug (which keeps its traceback).

    One rule: every expected failure is a `KgtagError` whose kind gives the exit code (kgtag.errors);
    the OS errors a user causes with a path, and a full disk, are worded here."""
    if isinstance(exc, CliError):
        return exc
    if isinstance(exc, KgtagError):
        return CliError(str(exc), EXIT_CODES[exc.kind])
    if is_disk_full(exc):  # the rule kgtag.atomic writes by: ENOSPC/EDQUOT anywhere in the chain
        where = f" writing {exc.filename}" if getattr(exc, "filename", None) else ""
        return CliError(f"the disk is full{where}: free some space and run the command again", EXIT_ENV)
    if isinstance(exc, FileNotFoundError):
        return CliError(f"file not found: {exc.filename or exc}", EXIT_INPUT)
    if isinstance(exc, IsADirectoryError):
        return CliError(f"expected a file, got a directory: {exc.filename}", EXIT_INPUT)
    return None


class KgtagGroup(click.Group):
    """A click group whose commands report expected mistakes as one line on stderr, no traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # one line instead of click's usage block
            hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
            raise CliError(exc.format_message() + hint, exc.exit_code) from None
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Exception as exc:
            mapped = describe(exc)
            if mapped is None:
                raise
            raise mapped from None


CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def printable(text: Any) -> str:
    """`str(text)` with every C0/C1 control character (and DEL) written as a visible escape: `\x1b`."""
    return CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def safe_text(text: Any, style: str = "") -> Text:
    """Graph or user text for rich: printed literally (no markup) and `printable`."""
    return Text(printable(text), style=style)


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.{digits}f}" if abs(value) < 1e5 else f"{value:.3g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return str(value)


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]], digits: int = 3) -> Table:
    # wide enough for its title, so that a narrow table does not fold it over several lines
    t = Table(title=safe_text(title or ""), title_justify="left", show_lines=False, min_width=min(len(title or ""), console.width))
    for col in columns:
        t.add_column(safe_text(col))
    for row in rows:
        t.add_row(*(safe_text(fmt(v, digits)) for v in row))
    return t


def to_jsonable(value: Any) -> Any:
    """Plain JSON types for dicts/lists holding numpy or torch scalars, neo4j temporals."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "iso_format"):
        return value.iso_format()
    return value


def emit(data: Any, as_json: bool, render: Callable[[], None]) -> None:
    """Print `data` as JSON on stdout for scripts, or call `render` for people."""
    if as_json:  # json escapes C0 controls itself; C1 ones (CSI, OSC) only appear inside strings
        text = json.dumps(to_jsonable(data), ensure_ascii=False, indent=2)
        click.echo(re.sub("[\x7f-\x9f]", lambda m: f"\\u{ord(m.group()):04x}", text))
    else:
        render()


def info(message: str) -> None:
    """Progress and notes go to stderr so that --json output stays clean (the run service's `note`)."""
    note(printable(message))


def serve_until_interrupted(server) -> None:
    """Serve requests until Ctrl-C, then release the port (the review page, the Browser guide)."""
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
