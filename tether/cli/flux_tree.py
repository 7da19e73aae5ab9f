"""``tether flux tree kustomization|helmrelease NAME``: what a Flux object manages, as ``flux
tree`` draws it: a Kustomization's inventory, and inside it the inventories of the
Kustomizations and the release manifests of the HelmReleases it applied, to any depth (at most
5,000 objects and 20 levels; an object met twice is drawn once)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import click

from tether.cli.flux import (
    HELM_RELEASE,
    HELM_RELEASE_WORDS,
    KUSTOMIZATION,
    KUSTOMIZATION_WORDS,
    FluxCommand,
    FluxError,
    FluxKind,
    KindGroup,
    Target,
    cluster_flags,
    get_object,
    run_on_cluster,
)
from tether.cluster.client import ClusterClient
from tether.cluster.errors import ClusterError, UnknownKind
from tether.flux.helmstorage import StorageError, history, manifest_keys
from tether.flux.status import InventoryError, inventory_keys
from tether.names import FLUX_HELM_RELEASE, FLUX_KUSTOMIZATION
from tether.resources import ResourceKey
from tether.safeyaml import YamlError

MAX_NODES = 5000
MAX_DEPTH = 20


@dataclass
class Node:
    label: str
    children: list[Node] = field(default_factory=list)


class _Walk:
    def __init__(self, client: ClusterClient) -> None:
        self.client = client
        self.seen: set[str] = set()

    async def node(self, kind: str, namespace: str, name: str, depth: int) -> Node:
        label = f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"
        node = Node(label)
        if label in self.seen or depth >= MAX_DEPTH or len(self.seen) >= MAX_NODES:
            return node
        self.seen.add(label)
        if kind == FLUX_KUSTOMIZATION:
            keys = await self._inventory(namespace, name)
        elif kind == FLUX_HELM_RELEASE:
            keys = await self._release(namespace, name)
        else:
            return node
        for key, _ in keys:
            if len(self.seen) >= MAX_NODES:
                break
            node.children.append(await self.node(key.kind, key.namespace, key.name, depth + 1))
        return node

    async def _inventory(self, namespace: str, name: str) -> list[tuple[ResourceKey, str]]:
        obj = await self._get(KUSTOMIZATION, namespace, name)
        try:
            return inventory_keys((obj or {}).get("status") or {})
        except InventoryError as exc:
            raise FluxError(str(exc)) from None

    async def _release(self, namespace: str, name: str) -> list[tuple[ResourceKey, str]]:
        obj = await self._get(HELM_RELEASE, namespace, name)
        latest = ((obj or {}).get("status") or {}).get("history") or [{}]
        release, where = latest[0].get("name"), latest[0].get("namespace")
        if not release or not where:
            return []
        info = await self.client.resource_for("v1", "Secret")
        try:
            found = await self.client.list(info, where, label_selector=f"owner=helm,name={release}")
            deployed = next((r for r in history(found.items) if r.status == "deployed"), None)
            keys = manifest_keys(deployed.manifest, where) if deployed is not None else []
        except (ClusterError, StorageError, YamlError) as exc:
            raise FluxError(f"release {where}/{release}: {getattr(exc, 'message', exc)}") from None
        return [(await self._scoped(key, version), version) for key, version in keys]

    async def _scoped(self, key: ResourceKey, version: str) -> ResourceKey:
        """A cluster-scoped object of a manifest without the namespace it was given."""
        api_version = f"{key.group}/{version}" if key.group else version
        try:
            info = await self.client.resource_for(api_version, key.kind)
        except (UnknownKind, ClusterError):
            return key
        return key if info.namespaced else ResourceKey(key.group, key.kind, "", key.name)

    async def _get(self, kind: FluxKind, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return await get_object(self.client, kind, name, namespace)
        except FluxError:
            return None  # gone meanwhile: drawn without children


def render(node: Node, prefix: str = "", last: bool = True, root: bool = True) -> list[str]:
    """``flux tree``'s drawing: ``├──``, ``└──`` and ``│`` guides."""
    lines = [node.label if root else f"{prefix}{'└── ' if last else '├── '}{node.label}"]
    inner = "" if root else prefix + ("    " if last else "│   ")
    for i, child in enumerate(node.children):
        lines.extend(render(child, inner, i == len(node.children) - 1, False))
    return lines


def _tree_command(kind: FluxKind) -> click.Command:
    @click.command(cls=FluxCommand, help=f"Print the objects a {kind.kind} manages, as a tree.")
    @click.argument("name")
    @cluster_flags
    def tree(target: Target, name: str) -> None:
        async def walk(client: ClusterClient) -> Node:
            await get_object(client, kind, name, target.namespace)  # ✗ when it does not exist
            return await _Walk(client).node(kind.kind, target.namespace, name, 0)

        click.echo("\n".join(render(run_on_cluster(target, walk))))

    return tree


tree_group = KindGroup(
    "tree",
    {
        **dict.fromkeys(KUSTOMIZATION_WORDS, "kustomization"),
        **dict.fromkeys(HELM_RELEASE_WORDS, "helmrelease"),
    },
    help="Print the objects a Flux object manages, as flux tree does.",
)
tree_group.add_command(_tree_command(KUSTOMIZATION), "kustomization")
tree_group.add_command(_tree_command(HELM_RELEASE), "helmrelease")
