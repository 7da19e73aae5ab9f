"""Printing for the ``tether`` commands: JSON, YAML, and tables in kubectl's style."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import click
import yaml
from rich.console import Console
from rich.table import Table
from rich.text import Text


def console() -> Console:
    """A rich console on the current stdout; never wraps when the output is not a terminal."""
    out = sys.stdout
    if out.isatty():
        return Console(file=out, highlight=False)
    # pipes and files get full lines: a script must see whole cells, not wrapped ones
    return Console(file=out, width=100_000, highlight=False, no_color=True)


def print_data(data: Any, output: str) -> None:
    """``data`` as JSON (indented) or YAML (block style)."""
    if output == "json":
        click.echo(json.dumps(data, indent=2, sort_keys=False))
    else:
        click.echo(yaml.safe_dump(data, sort_keys=False, default_flow_style=False).rstrip("\n"))


STATUS_STYLES = {
    "Synced": "green",
    "Healthy": "green",
    "Succeeded": "green",
    "OutOfSync": "yellow",
    "Missing": "yellow",
    "Progressing": "cyan",
    "Running": "cyan",
    "Suspended": "magenta",
    "Degraded": "red",
    "Failed": "red",
    "Error": "red",
    "SyncFailed": "red",
    "Unknown": "dim",
}


def cell(value: Any) -> Text:
    """A table cell; known statuses get a color on a terminal. Text, so ``[x]`` is not markup."""
    text = "" if value is None else str(value)
    return Text(text, style=STATUS_STYLES.get(text, ""))


def make_table(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    """A borderless table in kubectl's style: upper-case headers, columns split by spaces."""
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold", no_wrap=False)
    for row in rows:
        table.add_row(*(cell(v) for v in row))
    return table


def print_table(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    out = console()
    with out.capture() as captured:
        out.print(make_table(columns, rows))
    # rich pads every cell to its column's width; trailing blanks only get in the way of diffs
    for line in captured.get().splitlines():
        click.echo(line.rstrip())


def print_fields(fields: Sequence[tuple[str, Any]]) -> None:
    """``Name:   value`` lines, values aligned like ``argocd app get``."""
    width = max((len(label) for label, _ in fields), default=0) + 2
    for label, value in fields:
        click.echo(f"{label + ':':<{width}}{'' if value is None else value}".rstrip())


def print_listing(
    items: list[dict[str, Any]],
    output: str,
    columns: Sequence[str],
    row: Callable[[dict[str, Any]], Sequence[Any]],
) -> None:
    """``items`` as JSON or YAML, or as a table of one ``row`` each."""
    if output != "table":
        print_data(items, output)
        return
    print_table(columns, [row(item) for item in items])


def print_outcome(data: Any, output: str, message: str) -> None:
    """What a command did: ``data`` as JSON or YAML, or ``message`` for a table."""
    if output != "table":
        print_data(data, output)
    else:
        click.echo(message)
