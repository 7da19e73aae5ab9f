"""Flux's ``image.toolkit.fluxcd.io/v1`` CRDs: ImageRepository, ImagePolicy, ImageUpdateAutomation.

Manifests written for Flux must apply unchanged, so the schemas name Flux's fields with Flux's
types, requirements, enums, patterns and defaults (read from the ``api/v1`` types of
image-reflector-controller and image-automation-controller), and every object is open
(``x-kubernetes-preserve-unknown-fields``): a field Flux adds later is stored as written instead
of being pruned. Names, short names, categories and printer columns are Flux's, so ``kubectl get
imagerepositories`` shows what a Flux user expects.

Left out on purpose: the deprecated ``v1beta1``/``v1beta2`` versions Flux still serves (and
their conversion), and the CEL rules (``x-kubernetes-validations``) of ImagePolicy's
``interval``/``digestReflectionPolicy`` pair, which `tether.images.reflector.evaluate` reports
on the status instead.
"""

from __future__ import annotations

import json
from typing import Any

from tether.crdbuild import namespaced_crd, top_schema
from tether.crdbuild import open_object as _obj
from tether.images.registry import DEFAULT_EXCLUSIONS
from tether.names import (
    FLUX_IMAGE_GROUP,
    FLUX_IMAGE_VERSION,
    IMAGE_POLICIES,
    IMAGE_POLICY,
    IMAGE_REPOSITORIES,
    IMAGE_REPOSITORY,
    IMAGE_UPDATE_AUTOMATION,
    IMAGE_UPDATE_AUTOMATIONS,
)

#: Flux's duration fields (``1h``, ``30m``, ``1.5s``); ``timeout`` allows no hours
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
TIMEOUT_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m))+$"

_STRING: dict[str, Any] = {"type": "string"}
_BOOL: dict[str, Any] = {"type": "boolean"}
_INT64: dict[str, Any] = {"type": "integer", "format": "int64"}
_TIME: dict[str, Any] = {"type": "string", "format": "date-time"}
_STRING_MAP: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "string"}}


def _described(schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {**schema, "description": description, **extra}


def _duration(description: str, pattern: str = DURATION_PATTERN) -> dict[str, Any]:
    return _described(_STRING, description, pattern=pattern)


def _local_ref(description: str) -> dict[str, Any]:
    """``meta.LocalObjectReference``: a Secret in the same namespace."""
    return _obj({"name": _STRING}, required=["name"], description=description)


def _condition() -> dict[str, Any]:
    """``metav1.Condition``: what Flux's controllers (and Tether) write in ``conditions``."""
    return _obj(
        {
            "type": _STRING,
            "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
            "observedGeneration": _INT64,
            "lastTransitionTime": _TIME,
            "reason": _STRING,
            "message": _STRING,
        }
    )


def _image_ref() -> dict[str, Any]:
    """``ImageRef``: an image name with its tag, and the digest when reflected."""
    return _obj(
        {
            "name": _described(_STRING, "The image name, as the ImageRepository's spec.image."),
            "tag": _STRING,
            "digest": _STRING,
        },
        required=["name", "tag"],
    )


def _common_status(extra: dict[str, Any]) -> dict[str, Any]:
    return _obj(
        {
            "observedGeneration": _INT64,
            "conditions": {"type": "array", "items": _condition()},
            "lastHandledReconcileAt": _STRING,
            **extra,
        },
        default={"observedGeneration": -1},
    )


def _image_repository_schema() -> dict[str, Any]:
    access_from = _obj(
        {
            "namespaceSelectors": {
                "type": "array",
                "items": _obj({"matchLabels": _STRING_MAP}),
            }
        },
        required=["namespaceSelectors"],
        description="Namespaces whose ImagePolicies may refer to this repository.",
    )
    spec = _obj(
        {
            "image": _described(_STRING, "The image repository to scan, without a tag."),
            "interval": _duration("How long to wait between scans."),
            "timeout": _duration("Timeout of a scan; the interval when unset.", TIMEOUT_PATTERN),
            "secretRef": _local_ref("A kubernetes.io/dockerconfigjson Secret with the login."),
            "proxySecretRef": _local_ref("A Secret with the proxy to reach the registry through."),
            "serviceAccountName": _described(
                _STRING, "ServiceAccount for provider auth.", maxLength=253
            ),
            "certSecretRef": _local_ref("A Secret with ca.crt (and tls.crt, tls.key) for TLS."),
            "suspend": _described(_BOOL, "Stop scanning until set back to false."),
            "accessFrom": access_from,
            "exclusionList": {
                "type": "array",
                "items": _STRING,
                "maxItems": 25,
                "default": list(DEFAULT_EXCLUSIONS),
                "description": "Regular expressions of tags left out of the scan result.",
            },
            "provider": {
                "type": "string",
                "enum": ["generic", "aws", "azure", "gcp"],
                "default": "generic",
            },
            "insecure": _described(_BOOL, "Reach the registry over plain http."),
        },
        required=["image", "interval"],
    )
    scan_result = _obj(
        {
            "revision": _described(_STRING, "A digest of the scanned tags."),
            "tagCount": _INT64,
            "scanTime": _TIME,
            "latestTags": {
                "type": "array",
                "items": _STRING,
                "description": "The first 10 tags in descending alphabetical order.",
            },
        },
        required=["tagCount"],
    )
    status = _common_status(
        {
            "canonicalImageName": _STRING,
            "lastScanResult": scan_result,
            "observedExclusionList": {"type": "array", "items": _STRING},
        }
    )
    return top_schema("A Flux ImageRepository: an image repository scanned for tags.", spec, status)


def _image_policy_schema() -> dict[str, Any]:
    order = {"type": "string", "enum": ["asc", "desc"], "default": "asc"}
    policy = _obj(
        {
            "semver": _obj({"range": _STRING}, required=["range"]),
            "alphabetical": _obj({"order": order}),
            "numerical": _obj({"order": dict(order)}),
        },
        description="Exactly one of semver, alphabetical, numerical.",
    )
    spec = _obj(
        {
            "imageRepositoryRef": _obj({"name": _STRING, "namespace": _STRING}, required=["name"]),
            "policy": policy,
            "filterTags": _obj({"pattern": _STRING, "extract": _STRING}),
            "digestReflectionPolicy": {
                "type": "string",
                "enum": ["Always", "IfNotPresent", "Never"],
                "default": "Never",
            },
            "interval": _duration(
                "How often the digest is refreshed (digestReflectionPolicy Always)."
            ),
            "suspend": _BOOL,
        },
        required=["imageRepositoryRef", "policy"],
    )
    status = _common_status({"latestRef": _image_ref(), "observedPreviousRef": _image_ref()})
    return top_schema("A Flux ImagePolicy: the latest image of an ImageRepository.", spec, status)


def _git_spec() -> dict[str, Any]:
    checkout_ref = _obj(
        {
            "branch": _STRING,
            "tag": _STRING,
            "semver": _STRING,
            "name": _STRING,
            "commit": _STRING,
        }
    )
    commit = _obj(
        {
            "author": _obj({"name": _STRING, "email": _STRING}, required=["email"]),
            "signingKey": _obj(
                {
                    "secretRef": _local_ref("A Secret with git.asc (gpg) or identity (ssh)."),
                    "type": {"type": "string", "enum": ["gpg", "ssh"]},
                },
                required=["secretRef"],
            ),
            "messageTemplate": _STRING,
            "messageTemplateValues": _STRING_MAP,
        },
        required=["author"],
    )
    push = _obj(
        {
            "branch": _STRING,
            "refspec": _described(_STRING, "A refspec to push to as well.", pattern="^$|^[^+:]"),
            "options": _STRING_MAP,
        }
    )
    return _obj(
        {"checkout": _obj({"ref": checkout_ref}, required=["ref"]), "commit": commit, "push": push},
        required=["commit"],
    )


def _label_selector() -> dict[str, Any]:
    requirement = _obj(
        {"key": _STRING, "operator": _STRING, "values": {"type": "array", "items": _STRING}},
        required=["key", "operator"],
    )
    return _obj(
        {"matchLabels": _STRING_MAP, "matchExpressions": {"type": "array", "items": requirement}}
    )


def _image_update_automation_schema() -> dict[str, Any]:
    spec = _obj(
        {
            "sourceRef": _obj(
                {
                    "apiVersion": _STRING,
                    "kind": {
                        "type": "string",
                        # Application: Tether's addition, an Argo CD Application's repository
                        "enum": ["GitRepository", "Application"],
                        "default": "GitRepository",
                    },
                    "name": _STRING,
                    "namespace": _STRING,
                },
                required=["kind", "name"],
            ),
            "git": _git_spec(),
            "interval": _duration("How often the automation runs, at least."),
            "policySelector": _label_selector(),
            "update": _obj(
                {
                    "strategy": {"type": "string", "enum": ["Setters"], "default": "Setters"},
                    "path": _STRING,
                },
                default={"strategy": "Setters"},
            ),
            "suspend": _BOOL,
        },
        required=["interval", "sourceRef"],
    )
    status = _common_status(
        {
            "lastAutomationRunTime": _TIME,
            "lastPushCommit": _STRING,
            "lastPushTime": _TIME,
            "observedPolicies": {"type": "object", "additionalProperties": _image_ref()},
            "observedSourceRevision": _STRING,
            # Tether's addition: the pull request that carries the push branch
            "pullRequest": _obj(
                {
                    "number": _INT64,
                    "url": _STRING,
                    "head": _STRING,
                    "base": _STRING,
                    "state": _STRING,
                    "host": _STRING,
                }
            ),
        }
    )
    return top_schema(
        "A Flux ImageUpdateAutomation: commits the latest images of ImagePolicies to Git.",
        spec,
        status,
    )


def _ready_columns() -> list[dict[str, Any]]:
    return [
        {
            "name": "Ready",
            "type": "string",
            "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
        },
        {
            "name": "Status",
            "type": "string",
            "jsonPath": '.status.conditions[?(@.type=="Ready")].message',
        },
    ]


_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


def _crd(
    kind: str,
    plural: str,
    short_names: list[str],
    categories: list[str],
    schema: dict[str, Any],
    columns: list[dict[str, Any]],
) -> dict[str, Any]:
    return namespaced_crd(
        FLUX_IMAGE_GROUP, FLUX_IMAGE_VERSION, kind, plural, short_names, schema, columns, categories
    )


_FLUX_CATEGORIES = ["all", "fluxcd", "fluxcd-images"]

IMAGE_REPOSITORY_CRD: dict[str, Any] = _crd(
    IMAGE_REPOSITORY,
    IMAGE_REPOSITORIES,
    ["imgrepo", "imagerepo"],
    _FLUX_CATEGORIES,
    _image_repository_schema(),
    [
        {"name": "Image", "type": "string", "jsonPath": ".spec.image"},
        {"name": "Tags", "type": "string", "jsonPath": ".status.lastScanResult.tagCount"},
        *_ready_columns(),
        {
            "name": "Last scan",
            "type": "string",
            "jsonPath": ".status.lastScanResult.scanTime",
            "priority": 1,
        },
        _AGE,
    ],
)

IMAGE_POLICY_CRD: dict[str, Any] = _crd(
    IMAGE_POLICY,
    IMAGE_POLICIES,
    ["imgpol", "imagepol"],
    [],
    _image_policy_schema(),
    [
        {"name": "Image", "type": "string", "jsonPath": ".status.latestRef.name"},
        {"name": "Tag", "type": "string", "jsonPath": ".status.latestRef.tag"},
        *_ready_columns(),
        _AGE,
    ],
)

IMAGE_UPDATE_AUTOMATION_CRD: dict[str, Any] = _crd(
    IMAGE_UPDATE_AUTOMATION,
    IMAGE_UPDATE_AUTOMATIONS,
    ["iua", "imgupd", "imgauto"],
    _FLUX_CATEGORIES,
    _image_update_automation_schema(),
    [
        *_ready_columns(),
        {
            "name": "Last run",
            "type": "string",
            "jsonPath": ".status.lastAutomationRunTime",
            "priority": 1,
        },
        _AGE,
    ],
)


def image_crd_manifests() -> list[dict[str, Any]]:
    """The three CRDs: ImageRepository, ImagePolicy, ImageUpdateAutomation (fresh copies, safe
    to modify)."""
    crds = (IMAGE_REPOSITORY_CRD, IMAGE_POLICY_CRD, IMAGE_UPDATE_AUTOMATION_CRD)
    return [json.loads(json.dumps(crd)) for crd in crds]
