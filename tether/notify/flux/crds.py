"""Flux's ``notification.toolkit.fluxcd.io/v1beta3`` CRDs: Provider and Alert.

Flux's manifests must apply unchanged, so the schemas name Flux's fields, requirements and
enums (``Provider.spec.type`` lists every type Flux knows, even those Tether refuses when
sending, so the object is accepted and its refusal told). Every object stays open
(``x-kubernetes-preserve-unknown-fields``). One difference on purpose: an Alert's
``eventSources[].kind`` is not limited to Flux's kinds, so an Alert may also follow Argo CD
Applications (Tether's addition, docs/notifications.md).
"""

from __future__ import annotations

import json
from typing import Any

from tether.crdbuild import namespaced_crd, top_schema
from tether.crdbuild import open_object as _obj
from tether.names import (
    FLUX_ALERT,
    FLUX_ALERTS,
    FLUX_NOTIFICATION_GROUP,
    FLUX_NOTIFICATION_VERSION,
    FLUX_PROVIDER,
    FLUX_PROVIDERS,
)
from tether.notify.flux.models import ALERTING_TYPES, FLUX_ONLY_TYPES

_STRING: dict[str, Any] = {"type": "string"}
_BOOL: dict[str, Any] = {"type": "boolean"}
_STRING_MAP: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "string"}}
_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
_CATEGORIES = ["all", "fluxcd", "fluxcd-notifications"]
_DURATION = {"type": "string", "pattern": r"^([0-9]+(\.[0-9]+)?(ms|s|m))+$"}


def _ref(description: str) -> dict[str, Any]:
    return _obj({"name": _STRING}, required=["name"], description=description)


def _provider_schema() -> dict[str, Any]:
    spec = _obj(
        {
            "type": {"type": "string", "enum": [*ALERTING_TYPES, *FLUX_ONLY_TYPES]},
            "interval": _STRING,
            "channel": {"type": "string", "maxLength": 2048},
            "username": {"type": "string", "maxLength": 2048},
            "address": {"type": "string", "maxLength": 2048},
            "timeout": _DURATION,
            "proxy": {"type": "string", "maxLength": 2048},
            "secretRef": _ref("A Secret with address, token, username, headers or proxy."),
            "certSecretRef": _ref("A Secret with ca.crt for TLS."),
            "suspend": _BOOL,
        },
        required=["type"],
    )
    return top_schema("A Flux Provider: where and how events are sent.", spec, _obj())


def _alert_schema() -> dict[str, Any]:
    source = _obj(
        {
            "kind": _STRING,
            "name": {"type": "string", "maxLength": 253, "minLength": 1},
            "namespace": {"type": "string", "maxLength": 253, "minLength": 1},
            "matchLabels": _STRING_MAP,
            "apiVersion": _STRING,
        },
        required=["kind", "name"],
    )
    spec = _obj(
        {
            "providerRef": _ref("The Provider in the Alert's namespace."),
            "eventSeverity": {"type": "string", "enum": ["info", "error"], "default": "info"},
            "eventSources": {"type": "array", "items": source},
            "inclusionList": {"type": "array", "items": _STRING},
            "exclusionList": {"type": "array", "items": _STRING},
            "eventMetadata": _STRING_MAP,
            "summary": {"type": "string", "maxLength": 255},
            "suspend": _BOOL,
        },
        required=["eventSources", "providerRef"],
    )
    return top_schema("A Flux Alert: which events go to which Provider.", spec, _obj())


PROVIDER_CRD = namespaced_crd(
    FLUX_NOTIFICATION_GROUP, FLUX_NOTIFICATION_VERSION, FLUX_PROVIDER, FLUX_PROVIDERS, [],
    _provider_schema(), [_AGE], _CATEGORIES,
)  # fmt: skip
ALERT_CRD = namespaced_crd(
    FLUX_NOTIFICATION_GROUP, FLUX_NOTIFICATION_VERSION, FLUX_ALERT, FLUX_ALERTS, [],
    _alert_schema(), [_AGE], _CATEGORIES,
)  # fmt: skip


def notification_crd_manifests() -> list[dict[str, Any]]:
    """Provider and Alert (fresh copies, safe to modify)."""
    return [json.loads(json.dumps(crd)) for crd in (PROVIDER_CRD, ALERT_CRD)]
