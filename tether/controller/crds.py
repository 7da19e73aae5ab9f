"""The ``argoproj.io/v1alpha1`` Application and AppProject CRDs, as Tether defines them.

Manifests written for Argo CD must apply unchanged, so the schemas name Argo CD's fields with
Argo CD's types, and every object is open (``x-kubernetes-preserve-unknown-fields``): a field
Argo CD adds later, or one Tether does not describe, is stored as written instead of being
pruned. Types are given where they help ``kubectl explain`` and catch mistakes early (a number
where a string belongs), never stricter than Argo CD's own schema.

``deploy/crds/application.yaml`` and ``deploy/crds/appproject.yaml`` are generated from
:func:`crd_manifests`; a test keeps them equal.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from tether.crdbuild import namespaced_crd, top_schema
from tether.crdbuild import open_object as _obj
from tether.flux.crds import GENERATOR_GROUP, KUSTOMIZE_GROUP, SOURCE_GROUP, flux_crd_manifests
from tether.images.crds import image_crd_manifests
from tether.names import ARGO_GROUP, FLUX_HELM_GROUP, FLUX_NOTIFICATION_GROUP, FLUX_RECEIVER
from tether.notify.flux.crds import notification_crd_manifests

GROUP = ARGO_GROUP
VERSION = "v1alpha1"

_STRING: dict[str, Any] = {"type": "string"}
_BOOL: dict[str, Any] = {"type": "boolean"}
_INT64: dict[str, Any] = {"type": "integer", "format": "int64"}
_STRINGS: dict[str, Any] = {"type": "array", "items": {"type": "string"}}
_STRING_MAP: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "string"}}
_OPEN: dict[str, Any] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def _list(items: dict[str, Any], description: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "array", "items": items}
    if description:
        schema["description"] = description
    return schema


def _name_value() -> dict[str, Any]:
    return _obj({"name": _STRING, "value": _STRING}, required=["name", "value"])


def _jsonnet_var() -> dict[str, Any]:
    return _obj({"name": _STRING, "value": _STRING, "code": _BOOL}, required=["name", "value"])


def _directory_schema() -> dict[str, Any]:
    return _obj(
        {
            "recurse": _BOOL,
            "include": _STRING,
            "exclude": _STRING,
            "jsonnet": _obj(
                {
                    "extVars": _list(_jsonnet_var()),
                    "tlas": _list(_jsonnet_var()),
                    "libs": _STRINGS,
                }
            ),
        },
        description="Plain YAML/JSON/Jsonnet directory options.",
    )


def _helm_schema() -> dict[str, Any]:
    return _obj(
        {
            "valueFiles": _STRINGS,
            "values": {**_STRING, "description": "Values as one YAML string."},
            "valuesObject": {
                **_OPEN,
                "description": "Values as an object; takes precedence over values.",
            },
            "parameters": _list(
                _obj({"name": _STRING, "value": _STRING, "forceString": _BOOL}),
                "Helm --set parameters.",
            ),
            "fileParameters": _list(_obj({"name": _STRING, "path": _STRING})),
            "releaseName": _STRING,
            "namespace": _STRING,
            "version": _STRING,
            "kubeVersion": _STRING,
            "apiVersions": _STRINGS,
            "passCredentials": _BOOL,
            "ignoreMissingValueFiles": _BOOL,
            "skipCrds": _BOOL,
            "skipSchemaValidation": _BOOL,
            "skipTests": _BOOL,
        },
        description="Helm chart options (helm template).",
    )


def _kustomize_patch_schema() -> dict[str, Any]:
    return _obj(
        {
            "path": _STRING,
            "patch": _STRING,
            "target": _obj(
                {
                    "group": _STRING,
                    "version": _STRING,
                    "kind": _STRING,
                    "name": _STRING,
                    "namespace": _STRING,
                    "labelSelector": _STRING,
                    "annotationSelector": _STRING,
                }
            ),
            "options": {"type": "object", "additionalProperties": {"type": "boolean"}},
        }
    )


def _kustomize_schema() -> dict[str, Any]:
    return _obj(
        {
            "namePrefix": _STRING,
            "nameSuffix": _STRING,
            "namespace": _STRING,
            "images": _STRINGS,
            "commonLabels": _STRING_MAP,
            "commonAnnotations": _STRING_MAP,
            "commonAnnotationsEnvsubst": _BOOL,
            "forceCommonLabels": _BOOL,
            "forceCommonAnnotations": _BOOL,
            "labelWithoutSelector": _BOOL,
            "labelIncludeTemplates": _BOOL,
            "replicas": _list(
                _obj(
                    {"name": _STRING, "count": {"x-kubernetes-int-or-string": True}},
                    required=["name", "count"],
                )
            ),
            "patches": _list(_kustomize_patch_schema()),
            "components": _STRINGS,
            "ignoreMissingComponents": _BOOL,
            "version": _STRING,
            "kubeVersion": _STRING,
            "apiVersions": _STRINGS,
        },
        description="Kustomize options.",
    )


def _plugin_schema() -> dict[str, Any]:
    return _obj(
        {
            "name": _STRING,
            "env": _list(_name_value()),
            "parameters": _list(
                _obj({"name": _STRING, "string": _STRING, "array": _STRINGS, "map": _STRING_MAP})
            ),
        },
        description="Config management plugin options (parsed; not run by Tether).",
    )


def _source_schema() -> dict[str, Any]:
    """``ApplicationSource``: a repository (Git, Helm or OCI) and how to render it."""
    return _obj(
        {
            "repoURL": {**_STRING, "description": "Git, Helm or OCI repository URL."},
            "targetRevision": {
                **_STRING,
                "description": "Branch, tag, commit or chart version; HEAD when empty.",
            },
            "path": {**_STRING, "description": "Directory inside the repository."},
            "chart": {**_STRING, "description": "Chart name, for Helm repositories."},
            "ref": _STRING,
            "name": _STRING,
            "directory": _directory_schema(),
            "helm": _helm_schema(),
            "kustomize": _kustomize_schema(),
            "plugin": _plugin_schema(),
        },
        required=["repoURL"],
    )


def _retry_schema() -> dict[str, Any]:
    return _obj(
        {
            "limit": {**_INT64, "description": "Retries of a failed sync; negative: unlimited."},
            "backoff": _obj(
                {
                    "duration": {**_STRING, "description": "First wait: 5s, 2m, or seconds."},
                    "factor": _INT64,
                    "maxDuration": _STRING,
                }
            ),
            "refresh": _BOOL,
        }
    )


def _resource_ref(required: list[str]) -> dict[str, Any]:
    return _obj(
        {"group": _STRING, "kind": _STRING, "name": _STRING, "namespace": _STRING},
        required=required,
    )


def _sync_policy_schema() -> dict[str, Any]:
    return _obj(
        {
            "automated": _obj(
                {"enabled": _BOOL, "prune": _BOOL, "selfHeal": _BOOL, "allowEmpty": _BOOL}
            ),
            "syncOptions": _STRINGS,
            "retry": _retry_schema(),
            "managedNamespaceMetadata": _obj({"labels": _STRING_MAP, "annotations": _STRING_MAP}),
        }
    )


def _ignore_difference_schema() -> dict[str, Any]:
    return _obj(
        {
            "group": _STRING,
            "kind": _STRING,
            "name": _STRING,
            "namespace": _STRING,
            "jsonPointers": _STRINGS,
            "jqPathExpressions": _STRINGS,
            "managedFieldsManagers": _STRINGS,
        },
        required=["kind"],
    )


def _operation_schema(source: dict[str, Any]) -> dict[str, Any]:
    sync_strategy = _obj({"apply": _obj({"force": _BOOL}), "hook": _obj({"force": _BOOL})})
    return _obj(
        {
            "sync": _obj(
                {
                    "revision": _STRING,
                    "revisions": _STRINGS,
                    "prune": _BOOL,
                    "dryRun": _BOOL,
                    "resources": _list(_resource_ref(["kind", "name"])),
                    "syncOptions": _STRINGS,
                    "syncStrategy": sync_strategy,
                    "manifests": _STRINGS,
                    "source": source,
                    "sources": _list(source),
                    "autoHealAttemptsCount": _INT64,
                }
            ),
            "initiatedBy": _obj({"username": _STRING, "automated": _BOOL}),
            "retry": _retry_schema(),
            "info": _list(_name_value()),
        },
        description="A requested sync (or rollback), as Argo CD's operation field.",
    )


def _application_schema() -> dict[str, Any]:
    source = _source_schema()
    destination = _obj(
        {
            "server": {**_STRING, "description": "API server URL of the target cluster."},
            "name": {**_STRING, "description": "Name of a registered cluster (or server)."},
            "namespace": {**_STRING, "description": "Namespace for namespaced resources."},
        }
    )
    spec = _obj(
        {
            "project": {**_STRING, "description": "AppProject name (default: default)."},
            "source": source,
            "sources": _list(source),
            "sourceHydrator": _OPEN,
            "destination": destination,
            "syncPolicy": _sync_policy_schema(),
            "ignoreDifferences": _list(_ignore_difference_schema()),
            "info": _list(_name_value()),
            "revisionHistoryLimit": _INT64,
        },
        required=["destination", "project"],
        description="What to deploy, where, and how to keep it in sync.",
    )
    return {
        "type": "object",
        "description": "An Argo CD Application: a source of manifests kept in sync with a "
        "destination cluster.",
        "required": ["metadata", "spec"],
        "properties": {
            "apiVersion": _STRING,
            "kind": _STRING,
            "metadata": {"type": "object"},
            "spec": spec,
            "operation": _operation_schema(source),
            "status": {
                **_OPEN,
                "description": "Written by the controller: sync, health, resources, "
                "conditions, operationState, history.",
            },
        },
    }


def _appproject_schema() -> dict[str, Any]:
    group_kind = _obj(
        {"group": _STRING, "kind": _STRING, "name": _STRING}, required=["group", "kind"]
    )
    destination = _obj({"server": _STRING, "name": _STRING, "namespace": _STRING})
    sync_window = _obj(
        {
            "kind": {**_STRING, "description": "allow or deny"},
            "schedule": {**_STRING, "description": "Cron schedule of the window's start."},
            "duration": _STRING,
            "applications": _STRINGS,
            "namespaces": _STRINGS,
            "clusters": _STRINGS,
            "manualSync": _BOOL,
            "timeZone": _STRING,
            "andOperator": _BOOL,
            "description": _STRING,
        }
    )
    role = _obj(
        {
            "name": _STRING,
            "description": _STRING,
            "policies": _STRINGS,
            "groups": _STRINGS,
            "jwtTokens": _list(
                _obj({"iat": _INT64, "exp": _INT64, "id": _STRING}, required=["iat"])
            ),
        },
        required=["name"],
    )
    spec = _obj(
        {
            "description": _STRING,
            "sourceRepos": {**_STRINGS, "description": "Repository URL globs; ! denies."},
            "sourceNamespaces": _STRINGS,
            "destinations": _list(destination, "Server/name/namespace globs; ! denies."),
            "clusterResourceWhitelist": _list(group_kind),
            "clusterResourceBlacklist": _list(group_kind),
            "namespaceResourceWhitelist": _list(group_kind),
            "namespaceResourceBlacklist": _list(group_kind),
            "orphanedResources": _OPEN,
            "roles": _list(role),
            "syncWindows": _list(sync_window),
            "signatureKeys": _list(_obj({"keyID": _STRING}, required=["keyID"])),
            "sourceIntegrity": _OPEN,
            "permitOnlyProjectScopedClusters": _BOOL,
            "destinationServiceAccounts": _list(
                _obj(
                    {"server": _STRING, "namespace": _STRING, "defaultServiceAccount": _STRING},
                    required=["server", "defaultServiceAccount"],
                )
            ),
        },
        description="Which repositories, destinations and resource kinds its applications may use.",
    )
    return {
        "type": "object",
        "description": "An Argo CD AppProject: a group of applications and what they may do.",
        "required": ["metadata", "spec"],
        "properties": {
            "apiVersion": _STRING,
            "kind": _STRING,
            "metadata": {"type": "object"},
            "spec": spec,
            "status": _OPEN,
        },
    }


def _crd(
    kind: str,
    plural: str,
    short_names: list[str],
    schema: dict[str, Any],
    columns: list[dict[str, Any]],
) -> dict[str, Any]:
    return namespaced_crd(GROUP, VERSION, kind, plural, short_names, schema, columns)


APPLICATION_CRD: dict[str, Any] = _crd(
    "Application",
    "applications",
    ["app", "apps"],
    _application_schema(),
    # The columns `kubectl get applications` shows in Argo CD.
    [
        {"name": "Sync Status", "type": "string", "jsonPath": ".status.sync.status"},
        {"name": "Health Status", "type": "string", "jsonPath": ".status.health.status"},
        {
            "name": "Revision",
            "type": "string",
            "jsonPath": ".status.sync.revision",
            "priority": 10,
        },
        {"name": "Project", "type": "string", "jsonPath": ".spec.project", "priority": 10},
    ],
)

APPPROJECT_CRD: dict[str, Any] = _crd(
    "AppProject", "appprojects", ["appproj", "appprojs"], _appproject_schema(), []
)


def _applicationset_schema() -> dict[str, Any]:
    """Argo CD's ApplicationSet, open: its generators and template are read by
    `tether.appsets` (Argo CD's own CRD, 1.4 MB of schema, applies as well, server-side)."""
    spec = _obj(
        {
            "generators": {"type": "array", "items": _obj()},
            "template": _obj(),
            "goTemplate": {"type": "boolean"},
            "goTemplateOptions": {"type": "array", "items": _STRING},
            "templatePatch": _STRING,
            "syncPolicy": _obj(),
            "strategy": _obj(),
            "preservedFields": _obj(),
            "ignoreApplicationDifferences": {"type": "array", "items": _obj()},
            "applyNestedSelectors": {"type": "boolean"},
        },
        required=["generators", "template"],
    )
    return top_schema("An Argo CD ApplicationSet: Applications made from generators.", spec, _obj())


APPLICATIONSET_CRD: dict[str, Any] = _crd(
    "ApplicationSet", "applicationsets", ["appset", "appsets"], _applicationset_schema(), []
)


def crd_manifests() -> list[dict[str, Any]]:
    """Both CRDs the controller reconciles, Application first (fresh copies, safe to
    modify)."""
    return [json.loads(json.dumps(crd)) for crd in (APPLICATION_CRD, APPPROJECT_CRD)]


def applicationset_crd_manifests() -> list[dict[str, Any]]:
    """The ApplicationSet CRD (a fresh copy)."""
    return [json.loads(json.dumps(APPLICATIONSET_CRD))]


def installed_crds() -> list[dict[str, Any]]:
    """Every CRD the controller serves: Argo CD's Application and AppProject, then Flux's image
    automation kinds (``tether.images.crds``) and notification kinds
    (``tether.notify.flux.crds``). Fresh copies."""
    return [
        *crd_manifests(),
        *applicationset_crd_manifests(),
        *image_crd_manifests(),
        *notification_crd_manifests(),
        *flux_crd_manifests(),
    ]


def crd_yaml(crd: dict[str, Any]) -> str:
    """One CRD as the YAML file shipped in ``deploy/crds/``."""
    group, version = crd["spec"]["group"], crd["spec"]["versions"][0]["name"]
    kind = crd["spec"]["names"]["kind"]
    source = {
        GROUP: "tether/controller/crds.py",
        FLUX_NOTIFICATION_GROUP: "tether/notify/flux/crds.py",
        SOURCE_GROUP: "tether/flux/crds.py",
        KUSTOMIZE_GROUP: "tether/flux/crds.py",
        FLUX_HELM_GROUP: "tether/flux/crds.py",
        GENERATOR_GROUP: "tether/flux/crds.py",
    }.get(group, "tether/images/crds.py")
    if (group, kind) == (FLUX_NOTIFICATION_GROUP, FLUX_RECEIVER):
        source = "tether/flux/crds.py"
    header = (
        f"# The {crd['spec']['names']['kind']} CRD ({group}/{version}) as Tether defines it.\n"
        f"# Generated from {source}; tests/controller/test_crds.py keeps them equal.\n"
    )
    return header + yaml.safe_dump(crd, sort_keys=False)
