"""``tether appset preview FILE``: what applying an ApplicationSet would do, asked of the API
server (which generates it as the controller would, and applies nothing)."""

from __future__ import annotations

from typing import Any

import click

from tether.cli.api import ApiClient, ApiGroup, CliError, read_object_file, with_client
from tether.cli.options import output_option
from tether.cli.output import print_data, print_table


@click.group("appset", cls=ApiGroup)
def appset_group() -> None:
    """ApplicationSets."""


def _rows(answer: dict[str, Any]) -> list[list[str]]:
    rows = [["create", c["name"], ""] for c in answer.get("create") or []]
    rows += [["update", u["name"], ""] for u in answer.get("update") or []]
    rows += [["delete", name, ""] for name in answer.get("delete") or []]
    rows += [["conflict", name, "exists and is not this set's"]
             for name in answer.get("conflicts") or []]  # fmt: skip
    rows += [["held", "", note] for note in answer.get("held") or []]
    return rows


@appset_group.command("preview")
@click.argument("file")
@output_option()
@with_client()
def preview_command(api: ApiClient, file: str, output: str) -> None:
    """Show which Applications applying the ApplicationSet in FILE would create, update
    (with the diff of each) and delete; nothing is applied."""
    appset = read_object_file(file, "ApplicationSet")
    answer = api.post("/api/v1/applicationsets/preview", appset)
    if not isinstance(answer, dict):
        raise CliError("the API server answered something that is not a preview")
    if answer.get("error"):
        raise CliError(f"the ApplicationSet cannot be generated: {answer['error']}")
    if output != "table":
        print_data(answer, output)
        return
    rows = _rows(answer)
    if rows:
        print_table(["ACTION", "APPLICATION", "NOTE"], rows)
    unchanged = answer.get("unchanged") or []
    click.echo(f"{len(unchanged)} Application(s) unchanged" if unchanged or rows else
               "no Application would be made")  # fmt: skip
    for update in answer.get("update") or []:
        click.echo(f"\n{update['name']}:\n{update.get('diff', '')}")
