"""``tether image list|scan|policy``: Flux's image automation (ImageRepositories, ImagePolicies,
ImageUpdateAutomations of the control namespace) through the API server, for people and
scripts."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import click

from tether.cli.api import (
    ApiClient,
    ApiGroup,
    CliError,
    OutcomeError,
    output_option,
    print_data,
    print_fields,
    print_table,
    with_client,
)
from tether.cli.app_view import one_line

LIST_COLUMNS = ("KIND", "NAME", "IMAGE/SOURCE", "LATEST", "READY", "MESSAGE")
WIDE_COLUMNS = (
    *LIST_COLUMNS[:4],
    "PREVIOUS",
    "TAGS",
    "LAST RUN",
    "PUSH BRANCH",
    "PULL REQUEST",
    *LIST_COLUMNS[4:],
)
REPO = "ImageRepository"
#: seconds between two readings while ``tether image scan --wait`` waits
POLL_INTERVAL = 0.5
#: a message in the table is cut there (``-o wide`` shows the first line whole)
MESSAGE_LIMIT = 80


@click.group("image", cls=ApiGroup)
def image_group() -> None:
    """Image repositories, policies and update automations (Flux's image automation)."""


def _notes(listing: dict[str, Any]) -> None:
    """What the server could not read (Flux's CRDs missing...), on stderr."""
    for note in listing.get("notes") or []:
        click.echo(f"note: {one_line(note, 1000)}", err=True)


def _items(listing: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for i in listing.get("items") or [] if isinstance(i, dict)]


def _source(item: dict[str, Any]) -> str:
    if item.get("kind") == "ImageUpdateAutomation":
        source = item.get("source") or {}
        return f"{source.get('kind', '')}/{source.get('name', '')}"
    return str(item.get("image") or item.get("repository") or "")


def _pull_text(pull: dict[str, Any] | None) -> str:
    return f"PR #{pull.get('number')} ({pull.get('state') or 'open'})" if pull else ""


def _latest(item: dict[str, Any]) -> str:
    kind = item.get("kind")
    if kind == REPO:
        count = item.get("tagCount")
        return f"{count} tag{'' if count == 1 else 's'}" if count is not None else ""
    if kind == "ImagePolicy":
        return str(item.get("latestTag") or "")
    pull = item.get("pullRequest")
    return _pull_text(pull) or str(item.get("lastPushCommit") or "")[:7]


def _ready(item: dict[str, Any]) -> str:
    status = str((item.get("ready") or {}).get("status") or "Unknown")
    return f"{status} (suspended)" if item.get("suspended") else status


def image_row(item: dict[str, Any], wide: bool = False) -> list[Any]:
    """One row of ``tether image list`` (``wide``: with the columns of ``-o wide``)."""
    message = (item.get("ready") or {}).get("message")
    head = [item.get("kind", ""), item.get("name", ""), _source(item), _latest(item)]
    if not wide:
        return [*head, _ready(item), one_line(message, MESSAGE_LIMIT)]
    pull = item.get("pullRequest") or {}
    return [
        *head,
        item.get("previousTag") or "",
        "" if item.get("tagCount") is None else item["tagCount"],
        item.get("lastScanTime") or item.get("lastRunTime") or "",
        item.get("pushBranch") or "",
        pull.get("url") or "",
        _ready(item),
        one_line(message, 10_000),
    ]


@image_group.command("list")
@output_option(formats=("table", "wide", "json", "yaml"))
@with_client()
def list_command(api: ApiClient, output: str) -> None:
    """List image repositories, policies and automations (automations with their pull request)."""
    listing = api.images()
    _notes(listing)
    items = _items(listing)
    if output in ("json", "yaml"):
        print_data(items, output)
        return
    wide = output == "wide"
    print_table(WIDE_COLUMNS if wide else LIST_COLUMNS, [image_row(i, wide) for i in items])


def find_item(listing: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    """The summary of ``kind`` ``name``, or a CliError (with the server's notes)."""
    for item in _items(listing):
        if item.get("kind") == kind and item.get("name") == name:
            return item
    notes = "; ".join(str(n) for n in listing.get("notes") or [])
    raise CliError(f"no {kind} named '{name}'" + (f" ({notes})" if notes else ""))


def _scan_done(item: dict[str, Any], requested: str | None, scanned_before: str | None) -> bool:
    """Whether the scan asked for at ``requested`` has been made: the controller handled the
    request, or a scan newer than ``scanned_before`` is recorded."""
    if requested and item.get("lastHandledReconcileAt") == requested:
        return True
    scanned = item.get("lastScanTime")
    return bool(scanned) and scanned != scanned_before


def wait_for_scan(
    api: ApiClient, name: str, requested: str | None, scanned_before: str | None, timeout: float
) -> dict[str, Any]:
    """Poll until the scan is done (``timeout`` 0: without limit); OutcomeError past it."""
    deadline = time.monotonic() + timeout if timeout > 0 else None
    while True:
        item = find_item(api.images(), REPO, name)
        if _scan_done(item, requested, scanned_before):
            return item
        if deadline is not None and time.monotonic() >= deadline:
            raise OutcomeError(
                f"ImageRepository '{name}' was not scanned within {timeout:g}s (the request "
                "stays; is the controller running?)"
            )
        pause = (
            POLL_INTERVAL if deadline is None else min(POLL_INTERVAL, deadline - time.monotonic())
        )
        time.sleep(max(pause, 0))


@image_group.command("scan")
@click.argument("name")
@click.option("--wait", is_flag=True, help="Wait until the scan is done; exit 1 if it failed.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="Seconds --wait waits at most (0: without limit).",
)
@output_option()
@with_client()
def scan_command(api: ApiClient, name: str, wait: bool, timeout: float, output: str) -> None:
    """Ask for a scan of ImageRepository NAME now (Flux's reconcile request)."""
    before: dict[str, Any] = {}
    if wait:
        items = _items(api.images())
        before = next((i for i in items if (i.get("kind"), i.get("name")) == (REPO, name)), {})
    answer = api.reconcile_image("repositories", name)
    if not wait:
        if output != "table":
            print_data(answer, output)
        else:
            click.echo(f"scan of ImageRepository '{name}' requested")
        return
    item = wait_for_scan(api, name, answer.get("requestedAt"), before.get("lastScanTime"), timeout)
    ready = item.get("ready") or {}
    if output != "table":
        print_data(item, output)
    else:
        click.echo(
            f"ImageRepository '{name}' scanned at {item.get('lastScanTime') or '-'}: "
            f"{item.get('tagCount') if item.get('tagCount') is not None else 'no'} tags"
        )
    if ready.get("status") == "False":
        raise OutcomeError(f"the scan failed: {one_line(ready.get('message'), 1000)}")


def _ref_text(ref: dict[str, Any] | None) -> str:
    if not ref:
        return ""
    text = f"{ref.get('name')}:{ref.get('tag')}"
    return f"{text}@{ref['digest']}" if ref.get("digest") else text


def policy_text(policy: dict[str, Any]) -> str:
    """``semver 1.x``, ``alphabetical asc``, ``numerical desc``: the policy's choice rule."""
    parts: Sequence[str] = [
        f"{key} {' '.join(str(v) for v in value.values())}".strip()
        if isinstance(value, dict)
        else str(key)
        for key, value in policy.items()
    ]
    return ", ".join(parts)


@image_group.command("policy")
@click.argument("name")
@output_option()
@with_client()
def policy_command(api: ApiClient, name: str, output: str) -> None:
    """Show ImagePolicy NAME: its latest and previous images, repository, tags and status."""
    item = find_item(api.images(), "ImagePolicy", name)
    if output != "table":
        print_data(item, output)
        return
    ready = item.get("ready") or {}
    print_fields(
        [
            ("Name", name),
            ("Repository", item.get("repository")),
            ("Image", item.get("image")),
            ("Policy", policy_text(item.get("policy") or {})),
            ("Latest", _ref_text(item.get("latest"))),
            ("Previous", _ref_text(item.get("previous"))),
            ("Tags", item.get("tagCount")),
            ("Last scan", item.get("lastScanTime")),
            ("Ready", f"{_ready(item)} {ready.get('reason') or ''}".strip()),
            ("Message", one_line(ready.get("message"), 1000)),
        ]
    )
