"""The Application and AppProject CRDs: Argo CD manifests apply unchanged and keep every field."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

from tether.controller.crds import (
    APPLICATION_CRD,
    APPPROJECT_CRD,
    crd_manifests,
    crd_yaml,
)
from tether.localcluster.testing import Kubectl

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "crds"

# The Application of issue 6, exactly as written there.
PAYMENT_SERVICE = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: payment-service
  namespace: argocd
spec:
  project: default
  source:
    repoURL: https://github.com/org/k8s-manifests.git
    targetRevision: HEAD
    path: apps/payment-service/production
  destination:
    server: https://kubernetes.default.svc
    namespace: payment-service
  syncPolicy:
    automated:
      prune: true
      selfHeal: true
"""

_HELM_SOURCE: dict[str, Any] = {
    "repoURL": "https://charts.example.com",
    "chart": "redis",
    "targetRevision": "18.1.0",
    "ref": "charts",
    "name": "cache",
    "helm": {
        "releaseName": "cache",
        "valueFiles": ["values.yaml", "$values/redis/values-prod.yaml"],
        "values": "replicas: 2\n",
        "valuesObject": {"auth": {"enabled": False}, "list": [1, "two", {"three": 3.5}]},
        "parameters": [{"name": "image.tag", "value": "7", "forceString": True}],
        "fileParameters": [{"name": "config", "path": "files/config.json"}],
        "namespace": "cache",
        "version": "v3",
        "kubeVersion": "1.30.0",
        "apiVersions": ["monitoring.coreos.com/v1/ServiceMonitor"],
        "passCredentials": False,
        "ignoreMissingValueFiles": True,
        "skipCrds": True,
        "skipSchemaValidation": True,
        "skipTests": True,
    },
}

# Every field Argo CD documents for an Application (docs operator-manual/application.yaml),
# plus one Argo CD does not know yet, which must survive as written.
EVERYTHING: dict[str, Any] = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Application",
    "metadata": {
        "name": "everything",
        "finalizers": ["resources-finalizer.argocd.argoproj.io"],
        "annotations": {"argocd.argoproj.io/refresh": "hard"},
        "labels": {"team": "payments"},
    },
    "spec": {
        "project": "default",
        "sources": [
            _HELM_SOURCE,
            {
                "repoURL": "https://github.com/org/k8s-manifests.git",
                "targetRevision": "main",
                "path": "apps/payment-service/production",
                "kustomize": {
                    "namePrefix": "prod-",
                    "nameSuffix": "-v1",
                    "namespace": "payments",
                    "images": ["ghcr.io/org/payment:1.2.3"],
                    "commonLabels": {"env": "prod"},
                    "commonAnnotations": {"owner": "${ARGOCD_APP_NAME}"},
                    "commonAnnotationsEnvsubst": True,
                    "forceCommonLabels": False,
                    "forceCommonAnnotations": False,
                    "labelWithoutSelector": True,
                    "labelIncludeTemplates": True,
                    "replicas": [{"name": "payment", "count": 3}, {"name": "worker", "count": "2"}],
                    "patches": [
                        {
                            "target": {
                                "group": "apps",
                                "version": "v1",
                                "kind": "Deployment",
                                "name": "payment",
                                "namespace": "payments",
                                "labelSelector": "app=payment",
                                "annotationSelector": "x=y",
                            },
                            "patch": "- op: replace\n  path: /spec/replicas\n  value: 2\n",
                            "options": {"allowNameChange": True},
                        },
                        {"path": "patches/extra.yaml"},
                    ],
                    "components": ["../../components/tracing"],
                    "ignoreMissingComponents": True,
                    "version": "v5.8.1",
                    "kubeVersion": "1.30.0",
                    "apiVersions": ["v1"],
                },
            },
            {
                "repoURL": "https://github.com/org/plain.git",
                "path": "jsonnet",
                "directory": {
                    "recurse": True,
                    "include": "{*.yaml,*.jsonnet}",
                    "exclude": "secret-*.yaml",
                    "jsonnet": {
                        "extVars": [{"name": "env", "value": "prod"}],
                        "tlas": [{"name": "replicas", "value": "3", "code": True}],
                        "libs": ["vendor"],
                    },
                },
            },
            {
                "repoURL": "https://github.com/org/plugin.git",
                "path": ".",
                "plugin": {
                    "name": "my-plugin",
                    "env": [{"name": "FOO", "value": "bar"}],
                    "parameters": [
                        {"name": "s", "string": "v"},
                        {"name": "a", "array": ["1", "2"]},
                        {"name": "m", "map": {"k": "v"}},
                    ],
                },
            },
        ],
        "destination": {"name": "in-cluster", "namespace": "payments"},
        "info": [{"name": "url", "value": "https://payments.example.com"}],
        "syncPolicy": {
            "automated": {"enabled": True, "prune": True, "selfHeal": True, "allowEmpty": False},
            "syncOptions": ["CreateNamespace=true", "ServerSideApply=true", "PruneLast=true"],
            "managedNamespaceMetadata": {
                "labels": {"team": "payments"},
                "annotations": {"note": "managed"},
            },
            "retry": {
                "limit": 5,
                "refresh": True,
                "backoff": {"duration": "5s", "factor": 2, "maxDuration": "3m"},
            },
        },
        "ignoreDifferences": [
            {"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]},
            {
                "kind": "ConfigMap",
                "name": "generated",
                "namespace": "payments",
                "jqPathExpressions": ['.data["cache.json"]', ".metadata.labels.x"],
                "managedFieldsManagers": ["kube-controller-manager"],
            },
        ],
        "revisionHistoryLimit": 3,
        "sourceHydrator": {
            "drySource": {"repoURL": "https://github.com/org/dry.git", "path": "x"},
            "syncSource": {"targetBranch": "env/prod", "path": "x"},
        },
        "aFieldFromTheFuture": {"kept": ["as", "written"]},
    },
    "operation": {
        "sync": {
            "revision": "abc123",
            "prune": True,
            "dryRun": False,
            "resources": [{"group": "apps", "kind": "Deployment", "name": "payment"}],
            "syncOptions": ["Validate=false"],
            "syncStrategy": {"hook": {"force": False}},
            "manifests": ["apiVersion: v1\nkind: ConfigMap\n"],
            "source": {"repoURL": "https://github.com/org/k8s-manifests.git", "path": "x"},
        },
        "initiatedBy": {"username": "alice", "automated": False},
        "retry": {"limit": -1},
        "info": [{"name": "reason", "value": "release"}],
    },
}


def _apply_crds(kubectl: Kubectl) -> None:
    docs = "---\n".join(yaml.safe_dump(crd) for crd in crd_manifests())
    kubectl("apply", "--server-side", "--field-manager", "tether", "-f", "-", input=docs)
    kubectl(
        "wait",
        "--for=condition=Established",
        "crd/applications.argoproj.io",
        "crd/appprojects.argoproj.io",
        "--timeout=20s",
    )


def _get(kubectl: Kubectl, *args: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(kubectl("get", *args, "-o", "json").stdout)
    return result


def test_names_scope_and_versions_match_argo_cd() -> None:
    app, proj = crd_manifests()
    assert app["metadata"]["name"] == "applications.argoproj.io"
    assert app["spec"]["names"]["shortNames"] == ["app", "apps"]
    assert proj["metadata"]["name"] == "appprojects.argoproj.io"
    assert proj["spec"]["names"]["shortNames"] == ["appproj", "appprojs"]
    for crd in (app, proj):
        assert crd["spec"]["scope"] == "Namespaced"
        (version,) = crd["spec"]["versions"]
        assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
        assert version["subresources"] == {"status": {}}
    columns = [c["name"] for c in app["spec"]["versions"][0]["additionalPrinterColumns"]]
    assert columns[:3] == ["Sync Status", "Health Status", "Revision"]


def test_crd_manifests_are_independent_copies() -> None:
    first = crd_manifests()
    first[0]["spec"]["group"] = "changed"
    assert crd_manifests()[0]["spec"]["group"] == "argoproj.io"
    assert APPLICATION_CRD["spec"]["group"] == "argoproj.io"


def test_every_object_schema_keeps_unknown_fields() -> None:
    """No object node may prune: an Argo CD field Tether does not describe must survive."""

    def walk(node: dict[str, Any], path: str) -> None:
        is_object = node.get("type") == "object" and "additionalProperties" not in node
        if is_object and path not in (".metadata", ""):
            assert node.get("x-kubernetes-preserve-unknown-fields") is True, path
        for key, child in (node.get("properties") or {}).items():
            walk(child, f"{path}.{key}")
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{path}[]")

    for crd in (APPLICATION_CRD, APPPROJECT_CRD):
        walk(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"], "")


def test_deploy_files_equal_generated_crds() -> None:
    app, proj = crd_manifests()
    for crd, file in ((app, "application.yaml"), (proj, "appproject.yaml")):
        text = (DEPLOY / file).read_text()
        assert text == crd_yaml(crd), f"regenerate deploy/crds/{file} from crds.py"
        assert yaml.safe_load(text) == crd
        assert "&id" not in text  # no YAML anchors: every node is written out


def test_issue_manifest_applies_unchanged(kubectl: Kubectl) -> None:
    _apply_crds(kubectl)
    kubectl("create", "namespace", "argocd", check=False)
    kubectl("apply", "--server-side", "-f", "-", input=PAYMENT_SERVICE)
    try:
        stored = _get(kubectl, "application", "payment-service", "-n", "argocd")
        assert stored["spec"] == yaml.safe_load(PAYMENT_SERVICE)["spec"]
        # The short name works as with Argo CD. (The local cluster serves no printer columns,
        # so the column set is checked on the CRD itself above.)
        assert "payment-service" in kubectl("get", "apps", "-n", "argocd").stdout
    finally:
        kubectl("delete", "application", "payment-service", "-n", "argocd", "--wait=false")


def test_every_documented_field_round_trips(kubectl: Kubectl, namespace: str) -> None:
    _apply_crds(kubectl)
    manifest = copy.deepcopy(EVERYTHING)
    manifest["metadata"]["namespace"] = namespace
    kubectl("apply", "--server-side", "-f", "-", input=json.dumps(manifest))
    stored = _get(kubectl, "application", "everything", "-n", namespace)
    assert stored["spec"] == EVERYTHING["spec"]
    assert stored["operation"] == EVERYTHING["operation"]
    assert stored["metadata"]["finalizers"] == EVERYTHING["metadata"]["finalizers"]


def test_status_is_a_subresource(kubectl: Kubectl, namespace: str) -> None:
    _apply_crds(kubectl)
    manifest = yaml.safe_load(PAYMENT_SERVICE)
    manifest["metadata"]["namespace"] = namespace
    manifest["status"] = {"sync": {"status": "Synced"}}
    kubectl("apply", "--server-side", "-f", "-", input=json.dumps(manifest))
    stored = _get(kubectl, "application", "payment-service", "-n", namespace)
    assert "status" not in stored  # the main resource ignores status, as Argo CD's CRD does
    status = {
        "status": {"sync": {"status": "Synced", "revision": "abc"}, "health": {"status": "Healthy"}}
    }
    kubectl(
        "patch",
        "application",
        "payment-service",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(status),
    )
    stored = _get(kubectl, "application", "payment-service", "-n", namespace)
    assert stored["status"] == status["status"]
    assert stored["spec"] == manifest["spec"]


def test_wrong_types_are_refused_where_argo_cd_refuses_them(
    kubectl: Kubectl, namespace: str
) -> None:
    _apply_crds(kubectl)
    manifest = yaml.safe_load(PAYMENT_SERVICE)
    manifest["metadata"]["namespace"] = namespace
    manifest["spec"]["source"]["repoURL"] = 42
    result = kubectl("apply", "--server-side", "-f", "-", input=json.dumps(manifest), check=False)
    assert result.returncode != 0
    assert "spec.source.repoURL" in result.stderr


def test_appproject_with_every_field_round_trips(kubectl: Kubectl, namespace: str) -> None:
    _apply_crds(kubectl)
    project = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {"name": "team", "namespace": namespace},
        "spec": {
            "description": "team project",
            "sourceRepos": ["https://github.com/org/*", "!https://github.com/org/secret"],
            "sourceNamespaces": ["team-*"],
            "destinations": [
                {
                    "server": "https://kubernetes.default.svc",
                    "namespace": "team-*",
                    "name": "in-cluster",
                },
                {"server": "*", "namespace": "!kube-system"},
            ],
            "clusterResourceWhitelist": [{"group": "", "kind": "Namespace", "name": "team-*"}],
            "clusterResourceBlacklist": [{"group": "rbac.authorization.k8s.io", "kind": "*"}],
            "namespaceResourceWhitelist": [{"group": "*", "kind": "*"}],
            "namespaceResourceBlacklist": [{"group": "", "kind": "ResourceQuota"}],
            "orphanedResources": {"warn": True, "ignore": [{"kind": "ConfigMap", "name": "x-*"}]},
            "roles": [
                {
                    "name": "ci",
                    "description": "CI",
                    "policies": ["p, proj:team:ci, applications, sync, team/*, allow"],
                    "groups": ["org:ci"],
                    "jwtTokens": [{"iat": 1700000000, "id": "t1"}],
                }
            ],
            "syncWindows": [
                {
                    "kind": "deny",
                    "schedule": "0 22 * * *",
                    "duration": "1h",
                    "applications": ["*"],
                    "manualSync": True,
                    "timeZone": "Europe/Paris",
                    "andOperator": False,
                    "description": "nightly freeze",
                }
            ],
            "signatureKeys": [{"keyID": "4AEE18F83AFDEB23"}],
            "sourceIntegrity": {"git": {"policies": [{"repos": [{"url": "*"}]}]}},
            "permitOnlyProjectScopedClusters": False,
            "destinationServiceAccounts": [
                {"server": "*", "namespace": "team-*", "defaultServiceAccount": "deployer"}
            ],
        },
    }
    kubectl("apply", "--server-side", "-f", "-", input=json.dumps(project))
    stored = _get(kubectl, "appproj", "team", "-n", namespace)
    assert stored["spec"] == project["spec"]
