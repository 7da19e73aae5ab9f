"""Click options and parameter types shared by the ``tether`` commands."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

OUTPUT_FORMATS = ("table", "json", "yaml")
#: an existing file (not a folder), given to the command as a Path
EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
#: an existing folder, given to the command as a Path
EXISTING_DIR = click.Path(exists=True, file_okay=False, path_type=Path)


def output_option(default: str = "table", formats: Sequence[str] = OUTPUT_FORMATS) -> Any:
    """``-o/--output``: one of ``formats``."""
    return click.option(
        "-o",
        "--output",
        type=click.Choice(list(formats)),
        default=default,
        show_default=True,
        help="Output format.",
    )


def parse_pairs(values: Sequence[str], flag: str, form: str = "KEY=VALUE") -> list[tuple[str, str]]:
    """The ``(key, value)`` pairs of a repeated ``flag`` whose values read ``form``."""
    pairs = []
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r} is not {form}", param_hint=flag)
        pairs.append((key, rest))
    return pairs
