"""Flux image automation objects with the statuses the controller would write, put in the
cluster directly (spec by apply, status through the status subresource): the API, CLI and UI
tests read them without a registry. The objects are suspended, so the controller's image loop
leaves their statuses as written.
"""

from __future__ import annotations

from typing import Any

from tether.cluster.client import ClusterClient
from tether.names import FLUX_IMAGE_API_VERSION

SCAN_TIME = "2025-05-01T10:00:00Z"


def ready(message: str, status: str = "True", reason: str = "Succeeded") -> dict[str, Any]:
    """A Ready condition as Flux writes it."""
    return {
        "type": "Ready",
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": SCAN_TIME,
        "observedGeneration": 1,
    }


def image_repository(name: str, image: str, secret: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"image": image, "interval": "1h", "suspend": True}
    if secret:
        spec["secretRef"] = {"name": secret}
    return {
        "apiVersion": FLUX_IMAGE_API_VERSION,
        "kind": "ImageRepository",
        "metadata": {"name": name},
        "spec": spec,
    }


def scanned(tags: list[str], scan_time: str = SCAN_TIME) -> dict[str, Any]:
    """An ImageRepository's status after a scan that found ``tags``."""
    return {
        "lastScanResult": {"tagCount": len(tags), "scanTime": scan_time, "latestTags": tags},
        "conditions": [ready(f"successful scan: found {len(tags)} tags")],
    }


def image_policy(name: str, repository: str, semver: str = "1.x") -> dict[str, Any]:
    return {
        "apiVersion": FLUX_IMAGE_API_VERSION,
        "kind": "ImagePolicy",
        "metadata": {"name": name},
        "spec": {
            "imageRepositoryRef": {"name": repository},
            "policy": {"semver": {"range": semver}},
            "suspend": True,
        },
    }


def resolved(image: str, tag: str, previous: str | None = None) -> dict[str, Any]:
    """An ImagePolicy's status after it chose ``image:tag`` (before: ``previous``)."""
    status: dict[str, Any] = {
        "latestRef": {"name": image, "tag": tag},
        "conditions": [ready(f"Latest image tag for {image} resolved to {tag}")],
    }
    if previous:
        status["observedPreviousRef"] = {"name": image, "tag": previous}
    return status


def image_update_automation(
    name: str, source_kind: str, source: str, annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "apiVersion": FLUX_IMAGE_API_VERSION,
        "kind": "ImageUpdateAutomation",
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": {
            "interval": "1h",
            "suspend": True,
            "sourceRef": {"kind": source_kind, "name": source},
            "git": {
                "checkout": {"ref": {"branch": "main"}},
                "commit": {"author": {"name": "Tether", "email": "tether@example.com"}},
                "push": {"branch": "tether/image-updates"},
            },
            "update": {"path": "apps", "strategy": "Setters"},
        },
    }


def proposed(number: int, url: str, commit: str = "0" * 40) -> dict[str, Any]:
    """An ImageUpdateAutomation's status after it pushed ``commit`` and opened pull request
    ``number``."""
    return {
        "lastAutomationRunTime": SCAN_TIME,
        "lastPushCommit": commit,
        "lastPushTime": SCAN_TIME,
        "pullRequest": {
            "number": number,
            "url": url,
            "head": "tether/image-updates",
            "base": "main",
            "state": "open",
            "host": "github",
        },
        "conditions": [ready(f"pushed commit '{commit[:7]}' to branch 'tether/image-updates'")],
    }


async def put(
    client: ClusterClient, namespace: str, obj: dict[str, Any], status: dict[str, Any] | None
) -> None:
    """Apply ``obj`` in ``namespace``, then write ``status`` through the status subresource."""
    info = await client.resource_for(obj["apiVersion"], obj["kind"])
    body = {**obj, "metadata": {**obj["metadata"], "namespace": namespace}}
    await client.apply(info, body, namespace, field_manager="tests", force=True)
    if status is not None:
        await client.patch(
            info,
            obj["metadata"]["name"],
            {"status": status},
            namespace,
            field_manager="tests",
            subresource="status",
        )


async def get(client: ClusterClient, namespace: str, kind: str, name: str) -> dict[str, Any]:
    info = await client.resource_for(FLUX_IMAGE_API_VERSION, kind)
    return await client.get(info, name, namespace)
