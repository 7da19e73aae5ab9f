"""Flux's ``GitRepository``, ``HelmRepository``, ``OCIRepository`` and ``HelmChart``
(``source.toolkit.fluxcd.io/v1``), ``ExternalArtifact`` and source-watcher's ``ArtifactGenerator``
(``source.extensions.fluxcd.io/v1beta1``),
``Kustomization`` (``kustomize.toolkit.fluxcd.io/v1``), ``HelmRelease``
(``helm.toolkit.fluxcd.io/v2``) and ``Receiver`` (``notification.toolkit.fluxcd.io/v1``) CRDs as
Tether serves them.

Flux's manifests must apply unchanged, so the schemas name Flux's required fields and enums
and keep every field they do not describe (``x-kubernetes-preserve-unknown-fields``): a field
Tether does not carry out yet is accepted and refused by name in the object's ``Ready``
condition, never dropped. The group, kinds, plurals and short names are Flux's, so ``kubectl get
ks``/``gitrepo`` and the ``flux`` CLI's reads work.
"""

from __future__ import annotations

import json
from typing import Any

from tether.crdbuild import namespaced_crd, top_schema
from tether.crdbuild import open_object as _obj
from tether.flux.helmspecs import CHART_SOURCE_KINDS
from tether.flux.receivers import FLUX_TYPES
from tether.flux.specs import DELETION_POLICIES, SOURCE_KINDS
from tether.names import (
    FLUX_HELM_GROUP,
    FLUX_NOTIFICATION_GROUP,
    FLUX_RECEIVER,
    FLUX_RECEIVER_VERSION,
    FLUX_RECEIVERS,
)

SOURCE_GROUP = "source.toolkit.fluxcd.io"
KUSTOMIZE_GROUP = "kustomize.toolkit.fluxcd.io"
GENERATOR_GROUP = "source.extensions.fluxcd.io"
VERSION = "v1"

_STRING: dict[str, Any] = {"type": "string"}
_BOOL: dict[str, Any] = {"type": "boolean"}
_DURATION = {"type": "string", "pattern": r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"}
_CATEGORIES = ["all", "fluxcd"]
_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
_READY = {
    "name": "Ready",
    "type": "string",
    "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
}
_STATUS = {
    "name": "Status",
    "type": "string",
    "jsonPath": '.status.conditions[?(@.type=="Ready")].message',
}


def _ref(required: list[str]) -> dict[str, Any]:
    return _obj({"name": _STRING, "namespace": _STRING, "kind": _STRING}, required=required)


def _git_repository_schema() -> dict[str, Any]:
    spec = _obj(
        {
            "url": {"type": "string", "pattern": r"^(http|https|ssh)://.*$"},
            "secretRef": _ref(["name"]),
            "interval": _DURATION,
            "timeout": {**_DURATION, "default": "60s"},
            "ref": _obj({k: _STRING for k in ("branch", "tag", "semver", "name", "commit")}),
            "ignore": _STRING,
            "suspend": _BOOL,
            "recurseSubmodules": _BOOL,
            "provider": {"type": "string", "enum": ["generic", "azure", "github"]},
        },
        required=["interval", "url"],
    )
    return top_schema("A Flux GitRepository: a Git ref Tether follows.", spec, _obj())


def _kustomization_schema() -> dict[str, Any]:
    spec = _obj(
        {
            "sourceRef": _obj(
                {
                    "kind": {"type": "string", "enum": list(SOURCE_KINDS)},
                    "name": _STRING,
                    "namespace": _STRING,
                    "apiVersion": _STRING,
                },
                required=["kind", "name"],
            ),
            "path": _STRING,
            "interval": _DURATION,
            "retryInterval": _DURATION,
            "timeout": _DURATION,
            "prune": _BOOL,
            "wait": _BOOL,
            "force": _BOOL,
            "suspend": _BOOL,
            "targetNamespace": {"type": "string", "maxLength": 63, "minLength": 1},
            "serviceAccountName": _STRING,
            "deletionPolicy": {"type": "string", "enum": list(DELETION_POLICIES)},
            "dependsOn": {"type": "array", "items": _ref(["name"])},
            "healthChecks": {"type": "array", "items": _ref(["kind", "name"])},
            "postBuild": _obj(),
            "decryption": _obj({"provider": {"type": "string", "enum": ["sops"]}}),
            "patches": {"type": "array", "items": _obj()},
            "images": {"type": "array", "items": _obj()},
            "components": {"type": "array", "items": _STRING},
            "commonMetadata": _obj(),
        },
        required=["interval", "prune", "sourceRef"],
    )
    return top_schema(
        "A Flux Kustomization: a folder of a source built and applied by Tether.", spec, _obj()
    )


def _helm_repository_schema() -> dict[str, Any]:
    spec = _obj(
        {
            "url": {"type": "string", "pattern": r"^(http|https|oci)://.*$"},
            "type": {"type": "string", "enum": ["default", "oci"]},
            "secretRef": _ref(["name"]),
            "certSecretRef": _ref(["name"]),
            "interval": _DURATION,
            "timeout": _DURATION,
            "passCredentials": _BOOL,
            "insecure": _BOOL,
            "suspend": _BOOL,
            "provider": {"type": "string", "enum": ["generic", "aws", "azure", "gcp"]},
        },
        required=["url"],
    )
    return top_schema("A Flux HelmRepository: a Helm chart repository.", spec, _obj())


def _oci_repository_schema() -> dict[str, Any]:
    spec = _obj(
        {
            "url": {"type": "string", "pattern": r"^oci://.*$"},
            "ref": _obj({k: _STRING for k in ("tag", "semver", "semverFilter", "digest")}),
            "layerSelector": _obj(
                {"mediaType": _STRING,
                 "operation": {"type": "string", "enum": ["extract", "copy"]}}
            ),
            "secretRef": _ref(["name"]),
            "certSecretRef": _ref(["name"]),
            "serviceAccountName": _STRING,
            "provider": {"type": "string", "enum": ["generic", "aws", "azure", "gcp"]},
            "insecure": _BOOL,
            "interval": _DURATION,
            "timeout": _DURATION,
            "ignore": _STRING,
            "suspend": _BOOL,
        },
        required=["interval", "url"],
    )  # fmt: skip
    return top_schema("A Flux OCIRepository: an artifact of an OCI registry.", spec, _obj())


def _artifact_generator_schema() -> dict[str, Any]:
    source = _obj(
        {"alias": _STRING, "kind": _STRING, "name": _STRING, "namespace": _STRING},
        required=["alias", "kind", "name"],
    )
    copy = _obj(
        {
            "from": _STRING,
            "to": _STRING,
            "exclude": {"type": "array", "items": _STRING},
            "strategy": _STRING,
        },
        required=["from", "to"],
    )
    artifact = _obj(
        {
            "name": _STRING,
            "revision": _STRING,
            "originRevision": _STRING,
            "copy": {"type": "array", "items": copy},
        },
        required=["name", "copy"],
    )
    spec = _obj({"sources": {"type": "array", "items": source},
                 "artifacts": {"type": "array", "items": artifact}},
                required=["sources", "artifacts"])  # fmt: skip
    return top_schema(
        "A Flux ArtifactGenerator: ExternalArtifacts composed from sources.", spec, _obj()
    )


def _external_artifact_schema() -> dict[str, Any]:
    spec = _obj({"sourceRef": _obj({"apiVersion": _STRING, "kind": _STRING, "name": _STRING,
                                    "namespace": _STRING})})  # fmt: skip
    return top_schema(
        "A Flux ExternalArtifact: an artifact another controller stores.", spec, _obj()
    )


def _chart_template() -> dict[str, Any]:
    return _obj(
        {
            "chart": {"type": "string", "minLength": 1},
            "version": _STRING,
            "sourceRef": _obj(
                {
                    "kind": {"type": "string", "enum": list(CHART_SOURCE_KINDS)},
                    "name": _STRING,
                    "namespace": _STRING,
                    "apiVersion": _STRING,
                },
                required=["kind", "name"],
            ),
            "interval": _DURATION,
            "reconcileStrategy": {"type": "string", "enum": ["ChartVersion", "Revision"]},
            "valuesFiles": {"type": "array", "items": _STRING},
        },
        required=["chart", "sourceRef"],
    )


def _helm_chart_schema() -> dict[str, Any]:
    return top_schema(
        "A Flux HelmChart: a chart fetched from a source (generated by HelmReleases).",
        _chart_template(),
        _obj(),
    )


def _helm_release_schema() -> dict[str, Any]:
    action = _obj()
    spec = _obj(
        {
            "chart": _obj({"spec": _chart_template(), "metadata": _obj()}, required=["spec"]),
            "chartRef": _ref(["kind", "name"]),
            "interval": _DURATION,
            "releaseName": {"type": "string", "maxLength": 53, "minLength": 1},
            "targetNamespace": {"type": "string", "maxLength": 63, "minLength": 1},
            "storageNamespace": {"type": "string", "maxLength": 63, "minLength": 1},
            "serviceAccountName": _STRING,
            "timeout": _DURATION,
            "maxHistory": {"type": "integer"},
            "suspend": _BOOL,
            "dependsOn": {"type": "array", "items": _ref(["name"])},
            "values": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "valuesFrom": {"type": "array", "items": _obj(
                {"kind": {"type": "string", "enum": ["Secret", "ConfigMap"]}, "name": _STRING,
                 "valuesKey": _STRING, "targetPath": _STRING, "optional": _BOOL},
                required=["kind", "name"])},
            "install": action, "upgrade": action, "test": action, "rollback": action,
            "uninstall": action, "driftDetection": _obj(),
            "postRenderers": {"type": "array", "items": _obj()},
        },
        required=["interval"],
    )  # fmt: skip
    return top_schema("A Flux HelmRelease: a Helm release Tether installs and keeps.", spec, _obj())


def _receiver_schema() -> dict[str, Any]:
    resource = _obj(
        {"apiVersion": _STRING, "kind": _STRING, "name": _STRING, "namespace": _STRING,
         "matchLabels": {"type": "object", "additionalProperties": _STRING}},
        required=["kind", "name"],
    )  # fmt: skip
    spec = _obj(
        {
            "type": {"type": "string", "enum": list(FLUX_TYPES)},
            "interval": _DURATION,
            "events": {"type": "array", "items": _STRING},
            "resources": {"type": "array", "items": resource},
            "secretRef": _ref(["name"]),
            "suspend": _BOOL,
        },
        required=["type", "resources", "secretRef"],
    )
    return top_schema("A Flux Receiver: a webhook that reconciles what it names.", spec, _obj())


GIT_REPOSITORY_CRD = namespaced_crd(
    SOURCE_GROUP, VERSION, "GitRepository", "gitrepositories", ["gitrepo"],
    _git_repository_schema(), [_READY, _STATUS, _AGE], _CATEGORIES, older=["v1beta2"],
)  # fmt: skip
KUSTOMIZATION_CRD = namespaced_crd(
    KUSTOMIZE_GROUP, VERSION, "Kustomization", "kustomizations", ["ks"],
    _kustomization_schema(), [_READY, _STATUS, _AGE], _CATEGORIES, older=["v1beta2"],
)  # fmt: skip
HELM_REPOSITORY_CRD = namespaced_crd(
    SOURCE_GROUP, VERSION, "HelmRepository", "helmrepositories", ["helmrepo"],
    _helm_repository_schema(), [_READY, _STATUS, _AGE], _CATEGORIES, older=["v1beta2"],
)  # fmt: skip
OCI_REPOSITORY_CRD = namespaced_crd(
    SOURCE_GROUP, VERSION, "OCIRepository", "ocirepositories", ["ocirepo"],
    _oci_repository_schema(), [_READY, _STATUS, _AGE], _CATEGORIES, older=["v1beta2"],
)  # fmt: skip
EXTERNAL_ARTIFACT_CRD = namespaced_crd(
    SOURCE_GROUP, VERSION, "ExternalArtifact", "externalartifacts", [],
    _external_artifact_schema(), [_READY, _STATUS, _AGE], _CATEGORIES,
)  # fmt: skip
ARTIFACT_GENERATOR_CRD = namespaced_crd(
    GENERATOR_GROUP, "v1beta1", "ArtifactGenerator", "artifactgenerators", ["ag"],
    _artifact_generator_schema(), [_READY, _STATUS, _AGE], _CATEGORIES,
)  # fmt: skip
HELM_CHART_CRD = namespaced_crd(
    SOURCE_GROUP, VERSION, "HelmChart", "helmcharts", ["hc"],
    _helm_chart_schema(), [_READY, _STATUS, _AGE], _CATEGORIES, older=["v1beta2"],
)  # fmt: skip
HELM_RELEASE_CRD = namespaced_crd(
    FLUX_HELM_GROUP, "v2", "HelmRelease", "helmreleases", ["hr"],
    _helm_release_schema(), [_READY, _STATUS, _AGE], _CATEGORIES, older=["v2beta2", "v2beta1"],
)  # fmt: skip
RECEIVER_CRD = namespaced_crd(
    FLUX_NOTIFICATION_GROUP, FLUX_RECEIVER_VERSION, FLUX_RECEIVER, FLUX_RECEIVERS, [],
    _receiver_schema(), [_READY, _STATUS, _AGE], ["all", "fluxcd", "fluxcd-notifications"],
)  # fmt: skip


def flux_crd_manifests() -> list[dict[str, Any]]:
    """Flux's kinds Tether serves (fresh copies, safe to modify)."""
    crds = (GIT_REPOSITORY_CRD, HELM_REPOSITORY_CRD, OCI_REPOSITORY_CRD, HELM_CHART_CRD,
            EXTERNAL_ARTIFACT_CRD, ARTIFACT_GENERATOR_CRD, KUSTOMIZATION_CRD, HELM_RELEASE_CRD,
            RECEIVER_CRD)  # fmt: skip
    return [json.loads(json.dumps(crd)) for crd in crds]
