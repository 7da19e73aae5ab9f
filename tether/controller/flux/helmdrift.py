"""A deployed Helm release compared with the cluster, as helm-controller's ``driftDetection``.

The objects of the release's manifest are the desired state; each is read live and compared on
Tether's engine (:func:`tether.engine.diff.compare`: a local check first, then a server-side
apply dry run with helm-controller's field manager), so server defaults, status and fields owned
by other managers never count. ``ignore`` rules leave their JSON pointers alone. Under
``enabled`` what drifted is applied again (server-side apply, forced, helm-controller's field
manager, ignored places keeping their live values) and what was deleted is created again; under
``warn`` it is only reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tether.cluster.client import ClusterClient
from tether.cluster.errors import ClusterError, UnknownKind
from tether.controller.flux.fluxdiff import DiffError, read_live
from tether.engine.diff import ClusterDryRunner, ResourceDiff, compare, respect_ignore_differences
from tether.engine.ignore import IgnoreRule
from tether.flux.helmstorage import Release
from tether.names import FLUX_HELM_FIELD_MANAGER
from tether.resources import ResourceKey
from tether.safeyaml import YamlError, load_all

READS_AT_ONCE = 8
#: objects named in one report at most
SHOWN = 10


class DriftError(Exception):
    """The comparison could not be made (the manifest or the cluster); the message says why."""


@dataclass(frozen=True)
class Drift:
    """What differs: one line per object (``Deployment/apps/web: spec.replicas``)."""

    lines: tuple[str, ...]
    corrected: bool

    def describe(self, release: str) -> str:
        shown = list(self.lines[:SHOWN])
        if len(self.lines) > SHOWN:
            shown.append(f"and {len(self.lines) - SHOWN} more")
        what = "has been corrected" if self.corrected else "has drifted from the desired state"
        return f"Cluster state of release {release} {what}:\n" + "\n".join(shown)


async def desired_objects(
    client: ClusterClient, release: Release, namespace: str
) -> list[dict[str, Any]]:
    """The release's manifest as objects, namespaced ones in the release's namespace."""
    try:
        docs = load_all(release.manifest)
    except YamlError as exc:
        raise DriftError(f"the release's manifest cannot be read: {exc.message}") from None
    objects = []
    for doc in docs:
        if not isinstance(doc, dict) or not doc.get("kind") or not doc.get("apiVersion"):
            continue
        try:
            info = await client.resource_for(str(doc["apiVersion"]), str(doc["kind"]))
        except (UnknownKind, ClusterError) as exc:
            raise DriftError(f"{doc['kind']}: {getattr(exc, 'message', exc)}") from None
        meta = dict(doc.get("metadata") or {})
        if info.namespaced and not meta.get("namespace"):
            meta["namespace"] = namespace
        objects.append({**doc, "metadata": meta})
    return objects


async def check(
    client: ClusterClient,
    release: Release,
    namespace: str,
    rules: Sequence[IgnoreRule],
    *,
    correct: bool,
) -> Drift | None:
    """The release's drift (None: none), corrected when ``correct``."""
    desired = await desired_objects(client, release, namespace)
    try:
        live = await read_live(client, desired)
    except DiffError as exc:
        raise DriftError(str(exc)) from None
    runner = ClusterDryRunner(client, field_manager=FLUX_HELM_FIELD_MANAGER)
    result = await compare(
        desired, live, (), list(rules), runner, field_manager=FLUX_HELM_FIELD_MANAGER
    )
    by_key = {ResourceKey.of(obj): obj for obj in desired}
    drifted = [d for d in result.out_of_sync if d.key in by_key]
    if not drifted:
        return None
    lines = tuple(_line(d) for d in drifted)
    if correct:
        for diff in drifted:
            await _apply(client, diff.key, by_key[diff.key], live.get(diff.key), rules)
    return Drift(lines, corrected=correct)


async def _apply(
    client: ClusterClient,
    key: ResourceKey,
    desired: dict[str, Any],
    live: Any,
    rules: Sequence[IgnoreRule],
) -> None:
    """Apply the manifest's own object again (never the masked comparison copy)."""
    body = respect_ignore_differences(desired, live, rules)
    try:
        info = await client.resource_for(body["apiVersion"], body["kind"])
        await client.apply(info, body, field_manager=FLUX_HELM_FIELD_MANAGER, force=True)
    except ClusterError as exc:
        raise DriftError(f"cannot correct {_name(key)}: {exc.message}") from None


def _name(key: ResourceKey) -> str:
    return f"{key.kind}/{key.namespace}/{key.name}" if key.namespace else f"{key.kind}/{key.name}"


def _line(diff: ResourceDiff) -> str:
    if diff.live is None:
        return f"{_name(diff.key)}: deleted"
    paths = sorted({change.path for change in diff.changes})
    shown = ", ".join(paths[:5]) + (", ..." if len(paths) > 5 else "")
    return f"{_name(diff.key)}: {shown or 'changed'}"
