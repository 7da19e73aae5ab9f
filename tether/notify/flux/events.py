"""Flux events made from what Tether reconciles: an Event recorded on an Argo CD Application,
and a Flux object's Ready condition that changed (image automation, GitRepository,
Kustomization: what Flux's controllers would have sent to the notification-controller)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tether.names import APPLICATION, ARGO_API_VERSION, FLUX_IMAGE_API_VERSION
from tether.notify.flux.models import FluxEvent, InvolvedObject

#: the Flux controller each kind belongs to, as its events name it
REPORTING_CONTROLLERS = {
    "ImageRepository": "image-reflector-controller",
    "ImagePolicy": "image-reflector-controller",
    "ImageUpdateAutomation": "image-automation-controller",
    "GitRepository": "source-controller",
    "Kustomization": "kustomize-controller",
    "HelmRepository": "source-controller",
    "HelmRelease": "helm-controller",
}


def _ready(status: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for condition in status.get("conditions") or ():
        if isinstance(condition, Mapping) and condition.get("type") == "Ready":
            return condition
    return None


def ready_transition(
    kind: str,
    obj: Mapping[str, Any],
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    metadata: Mapping[str, str] | None = None,
) -> FluxEvent | None:
    """The Flux event of a Ready condition that changed (status, reason or message); None when
    it did not. Ready False is an error, True an info, as Flux's controllers report them."""
    before, after = _ready(old), _ready(new)
    if after is None or after.get("status") == "Unknown":
        return None
    fields = ("status", "reason", "message")
    if before is not None and all(before.get(f) == after.get(f) for f in fields):
        return None
    meta = obj.get("metadata") or {}
    return FluxEvent(
        InvolvedObject(
            kind,
            str(meta.get("name") or ""),
            str(meta.get("namespace") or ""),
            str(obj.get("apiVersion") or FLUX_IMAGE_API_VERSION),
            str(meta.get("uid") or ""),
        ),
        "info" if after.get("status") == "True" else "error",
        str(after.get("reason") or ""),
        str(after.get("message") or ""),
        REPORTING_CONTROLLERS.get(kind, "tether"),
        metadata=dict(metadata or {}),
        labels=dict(meta.get("labels") or {}),
    )


def application_event(
    obj: Mapping[str, Any], event_type: str, reason: str, message: str
) -> FluxEvent:
    """The Flux event of an Event the controller records on an Application."""
    meta = obj.get("metadata") or {}
    revision = str(((obj.get("status") or {}).get("sync") or {}).get("revision") or "")
    return FluxEvent(
        InvolvedObject(
            APPLICATION,
            str(meta.get("name") or ""),
            str(meta.get("namespace") or ""),
            ARGO_API_VERSION,
            str(meta.get("uid") or ""),
            str(meta.get("resourceVersion") or ""),
        ),
        "error" if event_type == "Warning" else "info",
        reason,
        message,
        "tether",
        {"revision": revision} if revision else {},
        labels=dict(meta.get("labels") or {}),
    )
