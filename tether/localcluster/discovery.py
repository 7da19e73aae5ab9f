"""Discovery documents (legacy and aggregated), ``/version`` and the OpenAPI v3 index kubectl reads."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from tether.localcluster.kinds import ALL_VERBS, ResourceType, TypeRegistry

KUBE_VERSION = {
    "major": "1",
    "minor": "37",
    "emulationMajor": "1",
    "emulationMinor": "37",
    "gitVersion": "v1.37.1",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-11-01T00:00:00Z",
    "goVersion": "go1.27.2",
    "compiler": "gc",
    "platform": "linux/amd64",
}

AGGREGATED_CT = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
SUB_VERBS = ["get", "patch", "update"]


def _resource_entries(rt: ResourceType) -> list[dict[str, Any]]:
    main: dict[str, Any] = {
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": list(rt.verbs if rt.namespaced else [v for v in ALL_VERBS]),
    }
    if rt.short_names:
        main["shortNames"] = list(rt.short_names)
    if rt.categories:
        main["categories"] = list(rt.categories)
    entries = [main]
    if rt.scale is not None:
        entries.append(
            {
                "name": f"{rt.plural}/scale",
                "singularName": "",
                "namespaced": rt.namespaced,
                "group": "autoscaling",
                "version": "v1",
                "kind": "Scale",
                "verbs": SUB_VERBS,
            }
        )
    if rt.has_status:
        entries.append(
            {
                "name": f"{rt.plural}/status",
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": rt.kind,
                "verbs": SUB_VERBS,
            }
        )
    if rt.kind == "Namespace" and not rt.group:
        entries.append(
            {
                "name": "namespaces/finalize",
                "singularName": "",
                "namespaced": False,
                "kind": "Namespace",
                "verbs": ["update"],
            }
        )
    return entries


def api_versions() -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}
        ],
    }


def _group_entry(group: str, versions: list[str]) -> dict[str, Any]:
    listed = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": listed, "preferredVersion": dict(listed[0])}


def api_group_list(registry: TypeRegistry) -> dict[str, Any]:
    groups = [
        _group_entry(group, versions)
        for group, versions in sorted(registry.group_versions().items())
        if group
    ]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: TypeRegistry, group: str) -> dict[str, Any] | None:
    versions = registry.group_versions().get(group)
    if not versions or not group:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(group, versions)}


def resource_list(registry: TypeRegistry, group: str, version: str) -> dict[str, Any] | None:
    types = sorted(registry.in_group_version(group, version), key=lambda rt: rt.plural)
    if not types:
        return None
    resources: list[dict[str, Any]] = []
    for rt in types:
        resources.extend(_resource_entries(rt))
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


def aggregated(registry: TypeRegistry, core: bool) -> dict[str, Any]:
    """The ``APIGroupDiscoveryList`` for ``/api`` (core) or ``/apis`` (every named group)."""
    items = []
    for group, versions in sorted(registry.group_versions().items()):
        if bool(group) == core:
            continue
        version_entries = []
        for version in versions:
            resources = []
            for rt in sorted(registry.in_group_version(group, version), key=lambda r: r.plural):
                entry: dict[str, Any] = {
                    "resource": rt.plural,
                    "responseKind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
                    "scope": "Namespaced" if rt.namespaced else "Cluster",
                    "singularResource": rt.singular,
                    "verbs": list(rt.verbs),
                }
                if rt.short_names:
                    entry["shortNames"] = list(rt.short_names)
                if rt.categories:
                    entry["categories"] = list(rt.categories)
                subs = []
                if rt.scale is not None:
                    subs.append(
                        {
                            "subresource": "scale",
                            "responseKind": {
                                "group": "autoscaling",
                                "version": "v1",
                                "kind": "Scale",
                            },
                            "verbs": SUB_VERBS,
                        }
                    )
                if rt.has_status:
                    subs.append(
                        {
                            "subresource": "status",
                            "responseKind": {
                                "group": rt.group,
                                "version": rt.version,
                                "kind": rt.kind,
                            },
                            "verbs": SUB_VERBS,
                        }
                    )
                if subs:
                    entry["subresources"] = subs
                resources.append(entry)
            version_entries.append(
                {"version": version, "freshness": "Current", "resources": resources}
            )
        items.append({"metadata": {"name": group}, "versions": version_entries})
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    }


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def openapi_gv_document(registry: TypeRegistry, group: str, version: str) -> dict[str, Any] | None:
    """A minimal OpenAPI v3 document: one PATCH operation per kind declaring ``fieldValidation``.

    That is what kubectl checks before it delegates validation to the server; with it,
    ``kubectl apply`` works without ``--validate=false``.
    """
    types = registry.in_group_version(group, version)
    if not types:
        return None
    paths: dict[str, Any] = {}
    for rt in sorted(types, key=lambda r: r.plural):
        prefix = f"/{_gv_path(group, version)}"
        item = (
            f"{prefix}/namespaces/{{namespace}}/{rt.plural}/{{name}}"
            if rt.namespaced
            else f"{prefix}/{rt.plural}/{{name}}"
        )
        content = ["application/json-patch+json", "application/merge-patch+json"]
        if not rt.is_custom:
            content.append("application/strategic-merge-patch+json")
        content.append("application/apply-patch+yaml")
        paths[item] = {
            "patch": {
                "x-kubernetes-group-version-kind": {
                    "group": group,
                    "version": version,
                    "kind": rt.kind,
                },
                "parameters": [
                    {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
                    {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
                    {"name": "dryRun", "in": "query", "schema": {"type": "string"}},
                    {"name": "force", "in": "query", "schema": {"type": "boolean"}},
                ],
                "requestBody": {"content": {c: {} for c in content}},
                "responses": {"200": {"description": "OK"}},
            }
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": KUBE_VERSION["gitVersion"]},
        "paths": paths,
        "components": {"schemas": {}},
    }


def openapi_index(registry: TypeRegistry) -> dict[str, Any]:
    paths = {}
    for group, versions in sorted(registry.group_versions().items()):
        for version in versions:
            doc = openapi_gv_document(registry, group, version)
            digest = (
                hashlib.sha512(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS))
                .hexdigest()[:64]
                .upper()
            )
            gv = _gv_path(group, version)
            paths[gv] = {"serverRelativeURL": f"/openapi/v3/{gv}?hash={digest}"}
    return {"paths": paths}
