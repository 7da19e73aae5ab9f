"""API discovery: which resource types a server has, their plural, scope, verbs and versions.

lightkube has no discovery, so this module turns the server's discovery documents into
:class:`ResourceInfo` records. Aggregated discovery (``apidiscovery.k8s.io/v2``, two requests for
the whole server) is used when the server answers it; otherwise the legacy walk of ``/api``,
``/apis`` and one request per group-version. Fetching is the client's job; this module only
parses, so it tests without a server.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

AGGREGATED_ACCEPT = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
    "application/json"
)


@dataclass(frozen=True, slots=True)
class ResourceInfo:
    """One served resource type (a group, version and kind) and how to address it."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    verbs: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    short_names: tuple[str, ...] = field(default=(), compare=False)

    @property
    def api_version(self) -> str:
        """``v1`` for the core group, ``group/version`` otherwise."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_kind(self) -> tuple[str, str]:
        return (self.group, self.kind)

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        """The collection path (or the item path when ``name`` is given)."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base

    def supports(self, verb: str) -> bool:
        return verb in self.verbs


@dataclass
class DiscoveryIndex:
    """Every served (apiVersion, kind) and each group's preferred version."""

    resources: dict[tuple[str, str], ResourceInfo] = field(default_factory=dict)
    preferred_versions: dict[str, str] = field(default_factory=dict)
    aggregated: bool = False

    def add(self, info: ResourceInfo) -> None:
        self.resources.setdefault((info.api_version, info.kind), info)

    def get(self, api_version: str, kind: str) -> ResourceInfo | None:
        return self.resources.get((api_version, kind))

    def preferred(self, group: str, kind: str) -> ResourceInfo | None:
        """The resource for ``group``/``kind`` at the group's preferred version (or any served)."""
        version = self.preferred_versions.get(group)
        if version is not None:
            api_version = f"{group}/{version}" if group else version
            found = self.resources.get((api_version, kind))
            if found is not None:
                return found
        for info in self.resources.values():
            if info.group == group and info.kind == kind:
                return info
        return None

    def by_plural(self, group: str, plural: str) -> ResourceInfo | None:
        """The preferred-version resource named ``plural`` in ``group`` (``deployments``)."""
        for info in self.resources.values():
            if info.group == group and info.plural == plural:
                return self.preferred(group, info.kind) or info
        return None

    def __iter__(self) -> Iterator[ResourceInfo]:
        return iter(self.resources.values())

    def __len__(self) -> int:
        return len(self.resources)


def parse_aggregated(document: dict[str, Any], index: DiscoveryIndex) -> None:
    """Add the resources of an ``APIGroupDiscoveryList`` (from ``/api`` or ``/apis``)."""
    index.aggregated = True
    for group_doc in document.get("items") or []:
        group = (group_doc.get("metadata") or {}).get("name") or ""
        versions = group_doc.get("versions") or []
        if versions:
            # The first listed version is the preferred one.
            index.preferred_versions.setdefault(group, versions[0].get("version", ""))
        for version_doc in versions:
            version = version_doc.get("version", "")
            for res in version_doc.get("resources") or []:
                kind = (res.get("responseKind") or {}).get("kind") or ""
                if not kind:
                    continue
                index.add(
                    ResourceInfo(
                        group=group,
                        version=version,
                        kind=kind,
                        plural=res.get("resource", ""),
                        namespaced=res.get("scope") == "Namespaced",
                        verbs=tuple(res.get("verbs") or ()),
                        subresources=tuple(
                            s.get("subresource", "") for s in res.get("subresources") or ()
                        ),
                        short_names=tuple(res.get("shortNames") or ()),
                    )
                )


def legacy_group_versions(api: dict[str, Any] | None, apis: dict[str, Any]) -> list[str]:
    """Group-versions to fetch from ``/api`` (``APIVersions``) and ``/apis`` (``APIGroupList``)."""
    out = [f"{v}" for v in (api or {}).get("versions") or []]
    for group in apis.get("groups") or []:
        for version in group.get("versions") or []:
            out.append(version.get("groupVersion", ""))
    return [gv for gv in out if gv]


def legacy_preferred_versions(api: dict[str, Any] | None, apis: dict[str, Any]) -> dict[str, str]:
    """Preferred version per group from the legacy documents (core: the first of ``/api``)."""
    out: dict[str, str] = {}
    core = (api or {}).get("versions") or []
    if core:
        out[""] = core[0]
    for group in apis.get("groups") or []:
        preferred = (group.get("preferredVersion") or {}).get("version")
        versions = group.get("versions") or []
        if preferred is None and versions:
            preferred = versions[0].get("version")
        if preferred:
            out[group.get("name", "")] = preferred
    return out


def parse_resource_list(
    group_version: str, document: dict[str, Any], index: DiscoveryIndex
) -> None:
    """Add the resources of one legacy ``APIResourceList`` (``/apis/apps/v1``)."""
    group, _, version = group_version.rpartition("/")
    subresources: dict[str, list[str]] = {}
    mains: list[dict[str, Any]] = []
    for res in document.get("resources") or []:
        name = res.get("name", "")
        if "/" in name:
            parent, _, sub = name.partition("/")
            subresources.setdefault(parent, []).append(sub)
        else:
            mains.append(res)
    for res in mains:
        index.add(
            ResourceInfo(
                group=group,
                version=version,
                kind=res.get("kind", ""),
                plural=res["name"],
                namespaced=bool(res.get("namespaced")),
                verbs=tuple(res.get("verbs") or ()),
                subresources=tuple(subresources.get(res["name"], ())),
                short_names=tuple(res.get("shortNames") or ()),
            )
        )


def is_aggregated_content_type(content_type: str) -> bool:
    """True when a discovery response is an ``APIGroupDiscoveryList`` (decided by its parameters)."""
    params = {
        key.strip(): value.strip()
        for key, _, value in (part.partition("=") for part in content_type.split(";")[1:])
    }
    return params.get("g") == "apidiscovery.k8s.io" and params.get("as") == "APIGroupDiscoveryList"
