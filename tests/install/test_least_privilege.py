"""The controller runs as the install's ServiceAccount with exactly the RBAC the install ships.

On the local cluster (RBAC as kube-apiserver answers it), with a ``kubectl create token`` token of
``tether-controller``: it joins the shard record (its Leases), syncs the demo's payment-service to Synced and
Healthy. With one verb taken away it reports a clear condition naming the verb and resource.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.controller.test_crds import PAYMENT_SERVICE
from tests.install.conftest import exists, get, record_refusals, run_install, token_kubeconfig
from tether.cluster.client import ClusterClient
from tether.controller.controller import Controller, ControllerConfig
from tether.demo.repo import create_repository
from tether.install.manifests import install_manifests
from tether.install.names import CONTROLLER_NAME
from tether.localcluster.testing import Kubectl, eventually
from tether.names import SHARD_RECORD_ANNOTATION, SHARD_RECORD_LEASE
from tether.source.gitserver import GitHTTPServer

ACCOUNT = CONTROLLER_NAME


@asynccontextmanager
async def controller_as_account(
    kubeconfig: Path, namespace: str, root: Path, **settings: Any
) -> AsyncIterator[list[str]]:
    """The controller on ``kubeconfig``'s identity; yields the requests refused so far."""
    client = ClusterClient.from_kubeconfig(str(kubeconfig))
    refused = record_refusals(client)
    config = ControllerConfig(
        namespace=namespace,
        reconcile_interval=2.0,
        cache_dir=root / "cache",
        wave_timeout=60,
        **settings,
    )
    controller = Controller(client, config)
    await controller.start()
    try:
        yield refused
    finally:
        await controller.stop()
        await client.aclose()


@pytest.fixture
def git_repo(tmp_path: Path) -> Any:
    server = GitHTTPServer(tmp_path / "git").start()
    create_repository(tmp_path / "git" / "demo.git", tmp_path / "work")
    yield server.url("demo.git")
    server.stop()


def _application(name: str, namespace: str, repo: str, destination: str) -> str:
    doc = yaml.safe_load(PAYMENT_SERVICE)
    doc["metadata"].update(name=name, namespace=namespace)
    doc["spec"]["source"]["repoURL"] = repo
    doc["spec"]["destination"]["namespace"] = destination
    doc["spec"]["syncPolicy"]["syncOptions"] = ["CreateNamespace=true"]
    return yaml.safe_dump(doc)


def _status(kubectl: Kubectl, name: str, namespace: str) -> dict[str, Any]:
    status: dict[str, Any] = get(kubectl, "application", name, "-n", namespace).get("status") or {}
    return status


async def _install(kubeconfig: Path, namespace: str) -> None:
    result = await asyncio.to_thread(run_install, kubeconfig, "-n", namespace, "--no-wait")
    assert result.exit_code == 0, result.output


async def test_the_shipped_cluster_role_is_enough_to_sync_the_demo(
    kubeconfig: Path,
    kubectl: Kubectl,
    install_ns: str,
    git_repo: str,
    tmp_path: Path,
) -> None:
    await _install(kubeconfig, install_ns)
    destination = f"{install_ns}-pay"
    sa_config = token_kubeconfig(kubectl, kubeconfig, install_ns, tmp_path / "sa.kubeconfig")
    # the token really is the account's: it may not do what the ClusterRole does not list
    denied = kubectl("--kubeconfig", str(sa_config), "auth", "can-i", "escalate", "roles",
                     check=False)  # fmt: skip
    assert denied.stdout.strip() == "no"
    kubectl("apply", "-f", "-", input=_application("pay", install_ns, git_repo, destination))
    try:
        async with controller_as_account(sa_config, install_ns, tmp_path) as refused:

            def synced_healthy() -> tuple[str, str] | None:
                status = _status(kubectl, "pay", install_ns)
                pair = (
                    (status.get("sync") or {}).get("status"),
                    (status.get("health") or {}).get("status"),
                )
                return pair if pair == ("Synced", "Healthy") else None

            await eventually(
                lambda: asyncio.to_thread(synced_healthy), timeout=90, what="Synced and Healthy"
            )
            # it joined the shard record (Leases: create, update, list of the Role)
            lease = get(kubectl, "lease", SHARD_RECORD_LEASE, "-n", install_ns)
            assert SHARD_RECORD_ANNOTATION in lease["metadata"]["annotations"]
            deployment = get(kubectl, "deployment", "payment-service", "-n", destination)
            assert "tether" in {m["manager"] for m in deployment["metadata"]["managedFields"]}
            # nothing it tried was refused: the rules are enough, not merely enough to get by
            assert refused == []
    finally:
        kubectl("delete", "application", "pay", "-n", install_ns, "--wait=false", check=False)
        kubectl("delete", "namespace", destination, "--wait=false", check=False)


def _role_without_patch(name: str) -> dict[str, Any]:
    """The shipped ClusterRole with ``patch`` taken away from the objects the app deploys
    (Applications keep it, so the controller can still report what went wrong)."""
    shipped = next(d for d in install_manifests() if d["kind"] == "ClusterRole")
    role = copy.deepcopy(shipped)
    role["metadata"] = {"name": name}
    manage = role["rules"][0]
    assert manage["resources"] == ["*"]
    manage["verbs"] = [v for v in manage["verbs"] if v != "patch"]
    role["rules"].append(
        {
            "apiGroups": ["argoproj.io"],
            "resources": ["*"],
            "verbs": list(shipped["rules"][0]["verbs"]),
        }
    )
    return role


async def test_a_missing_verb_is_a_clear_condition_naming_it(
    kubeconfig: Path,
    kubectl: Kubectl,
    install_ns: str,
    git_repo: str,
    tmp_path: Path,
) -> None:
    await _install(kubeconfig, install_ns)
    reduced = f"tether-no-patch-{install_ns}"
    binding = f"tether-controller-{install_ns}"
    kubectl("apply", "-f", "-", input=yaml.safe_dump(_role_without_patch(reduced)))
    kubectl("delete", "clusterrolebinding", binding)
    kubectl("create", "clusterrolebinding", binding, f"--clusterrole={reduced}",
            f"--serviceaccount={install_ns}:{ACCOUNT}")  # fmt: skip
    destination = f"{install_ns}-pay"
    kubectl("create", "namespace", destination)
    sa_config = token_kubeconfig(kubectl, kubeconfig, install_ns, tmp_path / "sa.kubeconfig")
    kubectl("apply", "-f", "-", input=_application("pay", install_ns, git_repo, destination))
    try:
        async with controller_as_account(sa_config, install_ns, tmp_path) as refused:

            def failure() -> str | None:
                status = _status(kubectl, "pay", install_ns)
                texts = [c.get("message", "") for c in status.get("conditions") or []]
                texts.append((status.get("operationState") or {}).get("message", ""))
                return next((t for t in texts if "forbidden" in t), None)

            message = await eventually(
                lambda: asyncio.to_thread(failure), timeout=90, what="a forbidden condition"
            )
            assert "cannot patch resource" in message, message
            assert f"system:serviceaccount:{install_ns}:{ACCOUNT}" in message, message
            assert "Traceback" not in message
            assert any("cannot patch" in r for r in refused)  # what the other tests count
            assert not exists(kubectl, "deployment", "payment-service", "-n", destination)
    finally:
        kubectl("delete", "application", "pay", "-n", install_ns, "--wait=false", check=False)
        kubectl("delete", "namespace", destination, "--wait=false", check=False)
        kubectl("delete", "clusterrole", reduced, check=False)


async def test_the_namespaced_roles_are_enough_in_a_managed_namespace(
    kubeconfig: Path,
    kubectl: Kubectl,
    install_ns: str,
    git_repo: str,
    tmp_path: Path,
) -> None:
    team = f"{install_ns}-team"
    kubectl("create", "namespace", team)
    try:
        result = await asyncio.to_thread(
            run_install, kubeconfig, "-n", install_ns, "--namespaced",
            "--managed-namespace", team, "--no-wait",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        sa_config = token_kubeconfig(kubectl, kubeconfig, install_ns, tmp_path / "sa.kubeconfig")
        # no write anywhere else: the account may not even create a namespace
        refused = kubectl("--kubeconfig", str(sa_config), "auth", "can-i", "create", "pods",
                          "-n", "default", check=False)  # fmt: skip
        assert refused.stdout.strip() == "no"
        app = yaml.safe_load(_application("pay", install_ns, git_repo, team))
        app["spec"]["syncPolicy"].pop("syncOptions")
        kubectl("apply", "-f", "-", input=yaml.safe_dump(app))
        async with controller_as_account(
            sa_config, install_ns, tmp_path, managed_namespaces=(team,)
        ) as refused:

            def synced() -> str | None:
                status = _status(kubectl, "pay", install_ns)
                return "ok" if (status.get("sync") or {}).get("status") == "Synced" else None

            await eventually(lambda: asyncio.to_thread(synced), timeout=90, what="Synced")
            assert exists(kubectl, "deployment", "payment-service", "-n", team)
            assert refused == []
    finally:
        kubectl("delete", "application", "pay", "-n", install_ns, "--wait=false", check=False)
        kubectl("delete", "namespace", team, "--wait=false", check=False)
