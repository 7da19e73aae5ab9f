"""Argo CD's CRDs on a cluster of their own (the session's cluster keeps Tether's): the install
refuses them by name, takes them over with ``--adopt``, and ``--delete-crds`` removes them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.install.conftest import exists, get, run_install
from tether.controller.crds import crd_manifests
from tether.localcluster.cluster import LocalCluster
from tether.localcluster.testing import Kubectl, kubectl_runner

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
APPLICATIONS = "customresourcedefinition.apiextensions.k8s.io/applications.argoproj.io"


@pytest.fixture(scope="module")
def argo_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Kubectl]]:
    workdir = tmp_path_factory.mktemp("argo-cluster")
    cluster = LocalCluster(port=0, kubeconfig=workdir / "kubeconfig")
    cluster.start()
    try:
        yield workdir / "kubeconfig", kubectl_runner(workdir / "kubeconfig", workdir)
    finally:
        cluster.stop()


def _argo_cds_crd() -> str:
    """The Application CRD as an Argo CD install labels it (applied by kubectl, not Tether)."""
    crd = crd_manifests()[0]
    crd["metadata"]["labels"] = {
        "app.kubernetes.io/name": "applications.argoproj.io",
        "app.kubernetes.io/part-of": "argocd",
    }
    return yaml.safe_dump(crd)


def test_argo_cds_crd_is_refused_by_name_then_adopted(
    argo_cluster: tuple[Path, Kubectl],
) -> None:
    kubeconfig, kubectl = argo_cluster
    kubectl("apply", "--server-side", "--field-manager=argocd-install", "-f", "-",
            input=_argo_cds_crd())  # fmt: skip
    refused = run_install(kubeconfig, "--no-wait")
    assert refused.exit_code == 1, refused.output
    assert (
        f"{APPLICATIONS} exists (managed by argocd-install; app.kubernetes.io/part-of=argocd)"
        in refused.output
    ), refused.output
    assert not exists(kubectl, "namespace", "argocd")
    assert not exists(kubectl, "crd", "appprojects.argoproj.io")

    adopted = run_install(kubeconfig, "--adopt", "--no-wait")
    assert adopted.exit_code == 0, adopted.output
    assert f"adopting: {APPLICATIONS} exists" in adopted.output
    crd = get(kubectl, "crd", "applications.argoproj.io")
    assert crd["metadata"]["labels"]["app.kubernetes.io/part-of"] == "tether"
    assert "tether" in {m["manager"] for m in crd["metadata"]["managedFields"]}
    again = run_install(kubeconfig, "--no-wait")
    assert again.exit_code == 0, again.output
    assert "adopting" not in again.output


def test_delete_crds_removes_the_crds_and_the_namespace(
    argo_cluster: tuple[Path, Kubectl],
) -> None:
    kubeconfig, kubectl = argo_cluster
    assert run_install(kubeconfig, "--adopt", "--no-wait").exit_code == 0
    removed = run_install(kubeconfig, "--uninstall", "--delete-crds")
    assert removed.exit_code == 0, removed.output
    assert f"{APPLICATIONS} deleted" in removed.output
    assert "namespace/argocd deleted" in removed.output
    assert not exists(kubectl, "crd", "applications.argoproj.io")
    assert not exists(kubectl, "crd", "sealedsecrets.bitnami.com")
    assert not exists(kubectl, "clusterrole", "tether-controller")


def test_delete_crds_needs_uninstall() -> None:
    result = run_install(Path("/nonexistent"), "--delete-crds")
    assert result.exit_code == 2
    assert "--delete-crds goes with --uninstall" in result.output


def test_an_install_from_deploy_with_kubectl_is_recognised_as_tethers(tmp_path: Path) -> None:
    cluster = LocalCluster(port=0, kubeconfig=tmp_path / "kubeconfig")
    cluster.start()
    try:
        kubectl = kubectl_runner(tmp_path / "kubeconfig", tmp_path)
        kubectl("apply", "--server-side", "-k", str(DEPLOY))
        result = run_install(tmp_path / "kubeconfig", "--no-wait")
        assert result.exit_code == 0, result.output
        assert "refusing" not in result.output
        assert "adopting" not in result.output
    finally:
        cluster.stop()
