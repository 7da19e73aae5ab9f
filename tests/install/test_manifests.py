"""The objects of ``tether install`` and the ``deploy/`` files generated from them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from tether.cli.controller import controller_command
from tether.cli.install import install_command
from tether.cli.seal import secrets_controller_command
from tether.controller.crds import crd_manifests
from tether.install.deploy import deploy_files
from tether.install.manifests import InstallOptions, install_manifests
from tether.install.names import DEFAULT_IMAGE, METRICS_PORT
from tether.install.rbac import MANAGE_VERBS
from tether.localcluster.testing import Kubectl

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _one(docs: list[dict[str, Any]], kind: str, name: str, ns: str | None = None) -> dict[str, Any]:
    found = [
        d
        for d in docs
        if d["kind"] == kind
        and d["metadata"]["name"] == name
        and (ns is None or d["metadata"].get("namespace") == ns)
    ]
    assert len(found) == 1, f"{kind}/{name} in {ns}: {len(found)} found"
    return found[0]


def _container(docs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    deployment = _one(docs, "Deployment", name)
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    return containers[0]


def test_deploy_files_equal_generated() -> None:
    for relative, text in deploy_files().items():
        shipped = (DEPLOY / relative).read_text()
        assert shipped == text, f"regenerate deploy/: python -m tether.install.deploy ({relative})"
    assert "&id" not in (DEPLOY / "install.yaml").read_text()
    listed = {str(p.relative_to(DEPLOY)) for p in DEPLOY.rglob("*.yaml")}
    assert listed == set(deploy_files())


def test_kustomization_builds_everything_install_applies(kubectl: Kubectl) -> None:
    built = list(yaml.safe_load_all(kubectl("kustomize", str(DEPLOY)).stdout))
    key = sorted((d["kind"], d["metadata"]["name"]) for d in built)
    assert key == sorted((d["kind"], d["metadata"]["name"]) for d in install_manifests())


def test_print_writes_the_yaml_for_the_chosen_namespace_without_a_cluster() -> None:
    result = CliRunner().invoke(
        install_command, ["--print", "--namespace", "gitops", "--kubeconfig", "/nonexistent"]
    )
    assert result.exit_code == 0, result.output
    docs = list(yaml.safe_load_all(result.output))
    assert docs == install_manifests(InstallOptions(namespace="gitops"))
    assert docs[1:3] == crd_manifests()
    binding = _one(docs, "ClusterRoleBinding", "tether-controller-gitops")
    assert binding["subjects"][0]["namespace"] == "gitops"


def test_controller_listens_on_the_pod_address_with_probes_and_limits() -> None:
    docs = install_manifests(InstallOptions(namespace="gitops", image="reg.local/tether:1"))
    container = _container(docs, "tether-controller")
    assert container["image"] == "reg.local/tether:1"
    assert container["args"] == [
        "controller", "--namespace", "gitops",
        "--listen", "0.0.0.0:8080", "--metrics-listen", "0.0.0.0:8082",
    ]  # fmt: skip
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert set(container["resources"]) == {"requests", "limits"}
    assert container["resources"]["limits"]["memory"]
    pod = _one(docs, "Deployment", "tether-controller")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    metrics = _one(docs, "Service", "tether-metrics", "gitops")
    assert metrics["spec"]["ports"] == [
        {"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics", "protocol": "TCP"}
    ]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 8080, "metrics": METRICS_PORT}


def test_cluster_wide_role_lists_verbs_and_no_wildcard_urls() -> None:
    docs = install_manifests()
    role = _one(docs, "ClusterRole", "tether-controller")
    for rule in role["rules"]:
        assert "*" not in rule["verbs"], rule
        assert "*" not in rule.get("nonResourceURLs", []), rule
    assert {"apiGroups": ["*"], "resources": ["*"], "verbs": list(MANAGE_VERBS)} in role["rules"]
    assert {
        "apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"]
    } in role["rules"]  # fmt: skip
    control = _one(docs, "Role", "tether-controller", "argocd")
    assert ["leases"] in [r["resources"] for r in control["rules"]]
    assert _one(docs, "RoleBinding", "tether-controller", "argocd")["roleRef"]["kind"] == "Role"


def test_secrets_controller_has_its_own_account_and_least_rbac() -> None:
    docs = install_manifests()
    assert _one(docs, "CustomResourceDefinition", "sealedsecrets.bitnami.com")
    pod = _one(docs, "Deployment", "tether-secrets-controller")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "tether-secrets-controller"
    assert pod["containers"][0]["args"][0] == "secrets-controller"
    assert pod["containers"][0]["image"] == DEFAULT_IMAGE
    role = _one(docs, "ClusterRole", "tether-secrets-controller")
    granted = {(g, r) for rule in role["rules"] for g in rule.get("apiGroups", []) for r in
               rule.get("resources", [])}  # fmt: skip
    assert ("*", "*") not in granted
    assert ("", "secrets") in granted
    assert ("bitnami.com", "sealedsecrets/status") in granted
    binding = _one(docs, "ClusterRoleBinding", "tether-secrets-controller-argocd")
    assert binding["subjects"][0]["name"] == "tether-secrets-controller"


def test_namespaced_mode_writes_only_through_roles() -> None:
    options = InstallOptions(namespace="cd", namespaced=True, managed_namespaces=("a", "b"))
    docs = install_manifests(options)
    for role in (d for d in docs if d["kind"] == "ClusterRole"):
        verbs = {v for rule in role["rules"] for v in rule["verbs"]}
        assert verbs == {"get"}, role["metadata"]["name"]
    for ns in ("cd", "a", "b"):
        role = _one(docs, "Role", "tether-controller", ns)
        assert role["rules"][0] == {
            "apiGroups": ["*"], "resources": ["*"], "verbs": list(MANAGE_VERBS)
        }  # fmt: skip
        binding = _one(docs, "RoleBinding", "tether-controller", ns)
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "tether-controller", "namespace": "cd"}
        ]
    args = _container(docs, "tether-controller")["args"]
    assert args[-4:] == ["--managed-namespace", "a", "--managed-namespace", "b"]
    # the Sealed Secrets controller unseals in every namespace: not part of a namespaced install
    assert not [d for d in docs if "secrets" in d["metadata"]["name"]]


def test_namespaced_needs_managed_namespaces_and_the_reverse() -> None:
    runner = CliRunner()
    alone = runner.invoke(install_command, ["--print", "--namespaced"])
    assert alone.exit_code == 2
    assert "--namespaced needs at least one --managed-namespace" in alone.output
    stray = runner.invoke(install_command, ["--print", "--managed-namespace", "a"])
    assert stray.exit_code == 2
    assert "--managed-namespace needs --namespaced" in stray.output


@pytest.mark.parametrize("namespaced", [False, True])
def test_the_deployments_command_lines_are_accepted_by_the_commands(namespaced: bool) -> None:
    options = InstallOptions(namespaced=namespaced, managed_namespaces=("a",) if namespaced else ())
    commands = {"controller": controller_command, "secrets-controller": secrets_controller_command}
    checked = 0
    for doc in install_manifests(options):
        if doc["kind"] != "Deployment":
            continue
        args = doc["spec"]["template"]["spec"]["containers"][0]["args"]
        command = commands[args[0]]
        # parsing fails on an option the command lacks or a value it refuses
        context = command.make_context(args[0], list(args[1:]))
        assert context.params
        checked += 1
    assert checked == (1 if namespaced else 2)
