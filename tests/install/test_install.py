"""``tether install`` on the local cluster: idempotent, upgrades, refuses Argo CD's objects."""

from __future__ import annotations

import re
from pathlib import Path

from tests.controller.test_crds import PAYMENT_SERVICE
from tests.install.conftest import exists, get, run_install
from tether.install.manifests import InstallOptions, install_manifests
from tether.localcluster.testing import Kubectl, wait_until

NO_WAIT = "--no-wait"
CRD = "customresourcedefinition.apiextensions.k8s.io"
ROLE = "clusterrole.rbac.authorization.k8s.io"
#: a line naming an object: ``deployment.apps/tether-controller unchanged``
OBJECT_LINE = re.compile(r"^[a-z0-9.]+/[a-z0-9.-]+ ")


def _versions(kubectl: Kubectl, namespace: str) -> dict[str, str]:
    """What changes when an install writes an object in ``namespace`` or its bindings: the
    resourceVersion, and for Deployments (whose status the cluster keeps writing) the
    generation."""
    kinds = "serviceaccounts,deployments,services,roles,rolebindings"
    items = get(kubectl, kinds, "-n", namespace)["items"]
    for name in (f"tether-controller-{namespace}", f"tether-secrets-controller-{namespace}"):
        items.append(get(kubectl, "clusterrolebinding", name))
    items.append(get(kubectl, "namespace", namespace))
    return {
        f"{i['kind']}/{i['metadata']['name']}": str(
            i["metadata"]["generation"]
            if i["kind"] == "Deployment"
            else i["metadata"]["resourceVersion"]
        )
        for i in items
    }


def test_install_twice_changes_nothing_the_second_time(
    kubeconfig: Path, kubectl: Kubectl, install_ns: str
) -> None:
    first = run_install(kubeconfig, "--namespace", install_ns, NO_WAIT)
    assert first.exit_code == 0, first.output
    assert f"namespace/{install_ns} created" in first.output
    assert "deployment.apps/tether-controller created" in first.output
    assert "established: applications.argoproj.io, appprojects.argoproj.io" in first.output
    before = _versions(kubectl, install_ns)
    assert len(before) >= 10
    second = run_install(kubeconfig, "--namespace", install_ns, NO_WAIT)
    assert second.exit_code == 0, second.output
    applied = [line for line in second.output.splitlines() if OBJECT_LINE.match(line)]
    assert len(applied) == len(install_manifests(InstallOptions(namespace=install_ns)))
    assert applied and all(line.endswith(" unchanged") for line in applied), second.output
    assert _versions(kubectl, install_ns) == before
    deployment = get(kubectl, "deployment", "tether-controller", "-n", install_ns)
    assert "tether" in {m["manager"] for m in deployment["metadata"]["managedFields"]}


def test_new_image_upgrades_in_place_and_the_deployment_rolls(
    kubeconfig: Path, kubectl: Kubectl, install_ns: str
) -> None:
    first = run_install(kubeconfig, "--namespace", install_ns, "--image", "nginx:1.27", NO_WAIT)
    assert first.exit_code == 0, first.output
    upgrade = run_install(kubeconfig, "--namespace", install_ns, "--image", "nginx:1.28", NO_WAIT)
    assert upgrade.exit_code == 0, upgrade.output
    assert "deployment.apps/tether-controller configured" in upgrade.output
    assert "service/tether-server unchanged" in upgrade.output

    def images() -> set[str]:
        sets = get(kubectl, "replicasets", "-n", install_ns, "-l",
                   "app.kubernetes.io/name=tether-controller")["items"]  # fmt: skip
        return {rs["spec"]["template"]["spec"]["containers"][0]["image"] for rs in sets}

    deployment = get(kubectl, "deployment", "tether-controller", "-n", install_ns)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "nginx:1.28"
    assert deployment["metadata"]["generation"] == 2
    # the rollout makes a ReplicaSet for the new template beside the old one
    wait_until(lambda: images() == {"nginx:1.27", "nginx:1.28"}, timeout=30, what="rollout")


def test_refuses_argo_cds_objects_then_adopts_them(
    kubeconfig: Path, kubectl: Kubectl, install_ns: str
) -> None:
    kubectl("create", "namespace", install_ns)
    kubectl("create", "deployment", "argocd-server", "--image=nginx:1.27", "-n", install_ns)
    kubectl("create", "service", "clusterip", "tether-server", "--tcp=80", "-n", install_ns)
    refused = run_install(kubeconfig, "--namespace", install_ns, NO_WAIT)
    assert refused.exit_code == 1
    assert "refusing to take over objects that are not Tether's" in refused.output
    assert f"deployment.apps/argocd-server runs in namespace {install_ns}" in refused.output
    assert "service/tether-server exists (managed by kubectl-create)" in refused.output
    assert "--adopt" in refused.output
    assert "Traceback" not in refused.output
    assert not exists(kubectl, "deployment", "tether-controller", "-n", install_ns)
    assert not exists(kubectl, "clusterrolebinding", f"tether-controller-{install_ns}")

    adopted = run_install(kubeconfig, "--namespace", install_ns, "--adopt", NO_WAIT)
    assert adopted.exit_code == 0, adopted.output
    assert "adopting: service/tether-server exists" in adopted.output
    service = get(kubectl, "service", "tether-server", "-n", install_ns)
    assert service["metadata"]["labels"]["app.kubernetes.io/part-of"] == "tether"
    # server-side apply: the fields of the install are Tether's now; a field only the old owner
    # set (its port 80) stays until that owner removes it, as with --force-conflicts
    assert 8080 in [port["port"] for port in service["spec"]["ports"]]
    assert exists(kubectl, "deployment", "tether-controller", "-n", install_ns)
    # adopted once, it is Tether's: the next run needs no --adopt for it (Argo CD still runs)
    again = run_install(kubeconfig, "--namespace", install_ns, NO_WAIT)
    assert "service/tether-server exists" not in again.output
    assert "argocd-server runs" in again.output


def test_uninstall_removes_what_it_installed_and_keeps_the_data(
    kubeconfig: Path, kubectl: Kubectl, install_ns: str
) -> None:
    other = f"{install_ns}-other"
    assert run_install(kubeconfig, "--namespace", install_ns, NO_WAIT).exit_code == 0
    assert run_install(kubeconfig, "--namespace", other, NO_WAIT).exit_code == 0
    kubectl("create", "configmap", "mine", "-n", install_ns)
    try:
        removed = run_install(kubeconfig, "--namespace", install_ns, "--uninstall")
        assert removed.exit_code == 0, removed.output
        assert "deployment.apps/tether-controller deleted" in removed.output
        assert f"{CRD}/applications.argoproj.io kept" in removed.output
        for args in (
            ("deployment", "tether-controller", "-n", install_ns),
            ("deployment", "tether-secrets-controller", "-n", install_ns),
            ("clusterrolebinding", f"tether-controller-{install_ns}"),
            ("serviceaccount", "tether-controller", "-n", install_ns),
        ):
            assert not exists(kubectl, *args), args
        assert exists(kubectl, "crd", "applications.argoproj.io")
        assert exists(kubectl, "configmap", "mine", "-n", install_ns)
        # the ClusterRoles are shared by every install of the cluster: kept while one uses them
        assert (
            f"{ROLE}/tether-controller kept: still bound by tether-controller-{other}"
            in removed.output
        )
        assert exists(kubectl, "deployment", "tether-controller", "-n", other)
        last = run_install(kubeconfig, "--namespace", other, "--uninstall")
        assert f"{ROLE}/tether-controller deleted" in last.output
        assert f"{ROLE}/tether-secrets-controller deleted" in last.output
    finally:
        run_install(kubeconfig, "--namespace", other, "--uninstall")
        kubectl("delete", "namespace", other, "--wait=false", check=False)


def test_install_then_the_issue_application_applies(
    kubeconfig: Path, kubectl: Kubectl, install_ns: str
) -> None:
    result = run_install(kubeconfig, "--namespace", install_ns, NO_WAIT)
    assert result.exit_code == 0, result.output
    kubectl("create", "namespace", "argocd", check=False)
    kubectl("apply", "--server-side", "-f", "-", input=PAYMENT_SERVICE)
    try:
        assert exists(kubectl, "application", "payment-service", "-n", "argocd")
    finally:
        kubectl("delete", "application", "payment-service", "-n", "argocd", check=False)


def test_dry_run_changes_nothing(kubeconfig: Path, kubectl: Kubectl, install_ns: str) -> None:
    result = run_install(kubeconfig, "--namespace", install_ns, "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"namespace/{install_ns} created (server dry run)" in result.output
    assert "clusterrole.rbac.authorization.k8s.io/tether-controller" in result.output
    assert (
        f"deployment.apps/tether-controller created (dry run; in new namespace {install_ns})"
        in result.output
    )
    assert "Sign in" not in result.output
    assert not exists(kubectl, "namespace", install_ns)
    assert not exists(kubectl, "clusterrolebinding", f"tether-controller-{install_ns}")


def test_namespaced_install_puts_roles_in_each_managed_namespace(
    kubeconfig: Path, kubectl: Kubectl, install_ns: str
) -> None:
    team_a, team_b = f"{install_ns}-a", f"{install_ns}-b"
    missing = run_install(
        kubeconfig, "-n", install_ns, "--namespaced", "--managed-namespace", team_a, NO_WAIT
    )
    assert missing.exit_code == 1
    assert f"managed namespace(s) {team_a} do not exist" in missing.output
    assert not exists(kubectl, "namespace", install_ns)
    for ns in (team_a, team_b):
        kubectl("create", "namespace", ns)
    try:
        result = run_install(
            kubeconfig, "-n", install_ns, "--namespaced",
            "--managed-namespace", team_a, "--managed-namespace", team_b, NO_WAIT,
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        for ns in (install_ns, team_a, team_b):
            binding = get(kubectl, "rolebinding", "tether-controller", "-n", ns)
            assert binding["subjects"][0]["namespace"] == install_ns
        assert not exists(kubectl, "clusterrolebinding", f"tether-controller-{install_ns}")
        read = get(kubectl, "clusterrole", f"tether-controller-read-{install_ns}")
        assert {v for rule in read["rules"] for v in rule["verbs"]} == {"get"}
        deployment = get(kubectl, "deployment", "tether-controller", "-n", install_ns)
        args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        assert args[-4:] == ["--managed-namespace", team_a, "--managed-namespace", team_b]
        assert not exists(kubectl, "deployment", "tether-secrets-controller", "-n", install_ns)
        removed = run_install(
            kubeconfig, "-n", install_ns, "--namespaced",
            "--managed-namespace", team_a, "--managed-namespace", team_b, "--uninstall",
        )  # fmt: skip
        assert removed.exit_code == 0, removed.output
        assert not exists(kubectl, "rolebinding", "tether-controller", "-n", team_a)
    finally:
        for ns in (team_a, team_b):
            kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_missing_kubeconfig_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "kubeconfig"
    result = run_install(missing)
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: kubeconfig {missing}")
    assert "not found" in result.output
    assert "Traceback" not in result.output


def test_switching_mode_removes_what_the_old_mode_granted(
    kubeconfig: Path, kubectl: Kubectl, install_ns: str
) -> None:
    team = f"{install_ns}-team"
    account = f"system:serviceaccount:{install_ns}:tether-controller"

    def may(*args: str) -> str:
        return kubectl("auth", "can-i", "--as", account, *args, check=False).stdout.strip()

    kubectl("create", "namespace", team)
    try:
        assert run_install(kubeconfig, "-n", install_ns, NO_WAIT).exit_code == 0
        assert may("create", "deployments", "-n", "default") == "yes"
        narrowed = run_install(
            kubeconfig, "-n", install_ns, "--namespaced", "--managed-namespace", team, NO_WAIT
        )
        assert narrowed.exit_code == 0, narrowed.output
        binding = f"clusterrolebinding.rbac.authorization.k8s.io/tether-controller-{install_ns}"
        assert f"{binding} deleted (not part of this mode)" in narrowed.output
        assert "deployment.apps/tether-secrets-controller deleted" in narrowed.output
        assert may("create", "deployments", "-n", "default") == "no"
        assert may("create", "deployments", "-n", team) == "yes"
        # the ClusterRole other cluster-wide installs share is left alone
        assert exists(kubectl, "clusterrole", "tether-controller")

        widened = run_install(kubeconfig, "-n", install_ns, NO_WAIT)
        assert widened.exit_code == 0, widened.output
        read = f"clusterrole.rbac.authorization.k8s.io/tether-controller-read-{install_ns}"
        assert f"{read} deleted (not part of this mode)" in widened.output
        assert may("create", "deployments", "-n", "default") == "yes"
    finally:
        kubectl("delete", "namespace", team, "--wait=false", check=False)


def test_a_bad_namespace_name_is_the_api_servers_clear_refusal(kubeconfig: Path) -> None:
    result = run_install(kubeconfig, "--namespace", "Not_A_Name", NO_WAIT)
    assert result.exit_code == 1
    assert result.output.count("Error: ") == 1
    assert "Not_A_Name" in result.output
    assert "Traceback" not in result.output
