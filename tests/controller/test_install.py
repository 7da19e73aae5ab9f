"""``tether install`` against the local cluster, and the ``deploy/`` files it mirrors."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import yaml
from click.testing import CliRunner, Result

from tests.controller.test_crds import PAYMENT_SERVICE
from tether.cli.install import (
    DEFAULT_IMAGE,
    deploy_install_yaml,
    install_command,
    install_manifests,
)
from tether.controller.crds import crd_manifests
from tether.localcluster.testing import Kubectl

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def run(*args: str) -> Result:
    return CliRunner().invoke(install_command, list(args))


def _exists(kubectl: Kubectl, *args: str) -> bool:
    return kubectl("get", *args, "-o", "name", check=False).returncode == 0


def test_deploy_install_yaml_equals_generated() -> None:
    text = (DEPLOY / "install.yaml").read_text()
    assert text == deploy_install_yaml(), "regenerate deploy/install.yaml from install.py"
    assert "&id" not in text
    kinds = [d["kind"] for d in yaml.safe_load_all(text)]
    assert kinds == [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "Service",
    ]


def test_kustomization_builds_crds_and_controller(kubectl: Kubectl) -> None:
    built = list(yaml.safe_load_all(kubectl("kustomize", str(DEPLOY)).stdout))
    names = {(d["kind"], d["metadata"]["name"]) for d in built}
    assert ("CustomResourceDefinition", "applications.argoproj.io") in names
    assert ("CustomResourceDefinition", "appprojects.argoproj.io") in names
    assert ("Deployment", "tether-controller") in names
    assert len(built) == 8


def test_print_writes_yaml_for_the_chosen_namespace_without_a_cluster() -> None:
    result = run("--print", "--namespace", "gitops", "--kubeconfig", "/nonexistent")
    assert result.exit_code == 0, result.output
    docs = list(yaml.safe_load_all(result.output))
    assert docs == install_manifests("gitops")
    assert docs[1:3] == crd_manifests()
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == DEFAULT_IMAGE
    assert container["args"] == ["controller", "--namespace", "gitops"]
    binding = next(d for d in docs if d["kind"] == "ClusterRoleBinding")
    assert binding["subjects"][0]["namespace"] == "gitops"
    role = next(d for d in docs if d["kind"] == "ClusterRole")
    assert {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]} in role["rules"]
    service = next(d for d in docs if d["kind"] == "Service")
    assert service["spec"]["ports"][0]["port"] == 8080


def test_install_then_the_issue_application_applies(kubeconfig: Path, kubectl: Kubectl) -> None:
    namespace = f"tether-{uuid.uuid4().hex[:8]}"
    result = run("--kubeconfig", str(kubeconfig), "--namespace", namespace)
    try:
        assert result.exit_code == 0, result.output
        assert f"namespace/{namespace} serverside-applied" in result.output
        assert (
            "customresourcedefinition.apiextensions.k8s.io/applications.argoproj.io "
            "serverside-applied"
        ) in result.output
        assert "established: applications.argoproj.io, appprojects.argoproj.io" in result.output
        deployment = json.loads(
            kubectl(
                "get",
                "deployment",
                "tether-controller",
                "-n",
                namespace,
                "-o",
                "json",
                "--show-managed-fields",
            ).stdout
        )
        managers = {m["manager"] for m in deployment["metadata"]["managedFields"]}
        assert "tether" in managers
        assert _exists(kubectl, "service", "tether-server", "-n", namespace)
        assert _exists(kubectl, "clusterrolebinding", f"tether-controller-{namespace}")
        # The manifest of the issue, unchanged, into the default control namespace.
        kubectl("create", "namespace", "argocd", check=False)
        kubectl("apply", "--server-side", "-f", "-", input=PAYMENT_SERVICE)
        assert _exists(kubectl, "application", "payment-service", "-n", "argocd")
        # Running it again converges without errors (server-side apply is idempotent).
        again = run("--kubeconfig", str(kubeconfig), "--namespace", namespace)
        assert again.exit_code == 0, again.output
    finally:
        kubectl("delete", "application", "payment-service", "-n", "argocd", check=False)
        kubectl("delete", "clusterrolebinding", f"tether-controller-{namespace}", check=False)
        kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def test_dry_run_changes_nothing(kubeconfig: Path, kubectl: Kubectl) -> None:
    namespace = f"tether-{uuid.uuid4().hex[:8]}"
    result = run("--kubeconfig", str(kubeconfig), "--namespace", namespace, "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"namespace/{namespace} serverside-applied (server dry run)" in result.output
    assert "clusterrole.rbac.authorization.k8s.io/tether-controller" in result.output
    assert f"deployment.apps/tether-controller created (dry run; in new namespace {namespace})" in (
        result.output
    )
    assert not _exists(kubectl, "namespace", namespace)
    assert not _exists(kubectl, "clusterrolebinding", f"tether-controller-{namespace}")


def test_missing_kubeconfig_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "kubeconfig"
    result = run("--kubeconfig", str(missing))
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: kubeconfig {missing}")
    assert "not found" in result.output
    assert "Traceback" not in result.output
