"""``tether flux events [--for KIND/NAME] [-n NS | -A]``: the Kubernetes Events of Flux objects
(what the controller records beside each Flux event: Ready changes, drift), oldest first, in
``flux events``' columns: LAST SEEN, TYPE, REASON, OBJECT, MESSAGE."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from tether.cli.flux import FluxCommand, FluxError, Target, cluster_flags, run_on_cluster
from tether.cli.output import print_table
from tether.cluster.client import ClusterClient

FLUX_GROUP_SUFFIX = ".fluxcd.io"
#: events read at most
MAX_EVENTS = 5000


def _when(event: dict[str, Any]) -> str:
    return str(event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp")
               or (event.get("metadata") or {}).get("creationTimestamp") or "")  # fmt: skip


def age(stamp: str, now: datetime) -> str:
    """``kubectl``'s short age: 42s, 5m, 3h, 2d."""
    try:
        then = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return "<unknown>"
    seconds = max(int((now - then).total_seconds()), 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def flux_events(
    items: list[dict[str, Any]], wanted: tuple[str, str] | None
) -> list[dict[str, Any]]:
    """The Events about Flux objects (``wanted``: one kind and name), oldest first."""
    found = []
    for event in items:
        involved = event.get("involvedObject") or {}
        group = str(involved.get("apiVersion") or "").rpartition("/")[0]
        if not group.endswith(FLUX_GROUP_SUFFIX):
            continue
        if (
            wanted is not None
            and (str(involved.get("kind")).lower(), involved.get("name")) != wanted
        ):
            continue
        found.append(event)
    return sorted(found, key=_when)


@click.command("events", cls=FluxCommand)
@click.option("--for", "for_", metavar="KIND/NAME", help="Only the events of this object.")
@click.option("-A", "--all-namespaces", is_flag=True, help="Every namespace.")
@cluster_flags
def events_command(target: Target, for_: str | None, all_namespaces: bool) -> None:
    """Print the events of Flux objects, as flux events does."""
    wanted = None
    if for_:
        kind, _, name = for_.partition("/")
        if not kind or not name:
            raise FluxError(f"--for {for_!r}: give KIND/NAME (e.g. Kustomization/apps)")
        wanted = (kind.lower(), name)
    namespace = None if all_namespaces else target.namespace

    async def read(client: ClusterClient) -> list[dict[str, Any]]:
        info = await client.resource_for("v1", "Event")
        return (await client.list(info, namespace)).items[-MAX_EVENTS:]

    events = flux_events(run_on_cluster(target, read), wanted)
    if not events:
        where = "any" if all_namespaces else f'"{target.namespace}"'
        click.echo(f"✗ no events found in {where} namespace", err=True)
        return
    now = datetime.now(UTC)
    columns = ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    if all_namespaces:
        columns.insert(0, "NAMESPACE")
    rows = []
    for event in events:
        involved = event.get("involvedObject") or {}
        row = [age(_when(event), now), str(event.get("type") or ""), str(event.get("reason") or ""),
               f"{involved.get('kind')}/{involved.get('name')}",
               " ".join(str(event.get("message") or "").split())]  # fmt: skip
        rows.append([str(involved.get("namespace") or ""), *row] if all_namespaces else row)
    print_table(columns, rows)
