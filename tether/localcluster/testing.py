"""Pytest fixtures for code that needs a Kubernetes API: ``pytest_plugins = [__name__]``.

``local_cluster`` starts one in-process cluster per test session; ``namespace`` gives each test a
fresh namespace in it so tests do not see each other's objects; ``kubectl`` runs the pinned
kubectl against it; ``client`` is a :class:`~tether.cluster.ClusterClient` on it and
``lightkube_client`` a plain (blocking) lightkube client. Tests wait with :func:`eventually`
(async) and :func:`wait_until` (blocking): on a condition, with a timeout, never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tether.tools import find_tool

if TYPE_CHECKING:
    import httpx
    import lightkube

    from tether.cluster import ClusterClient
    from tether.localcluster.cluster import LocalCluster

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def local_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A local cluster on a free loopback port for the whole test session."""
    from tether.localcluster.cluster import LocalCluster

    workdir = tmp_path_factory.mktemp("local-cluster")
    cluster = LocalCluster(port=0, kubeconfig=workdir / "kubeconfig")
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def kubeconfig(local_cluster: LocalCluster) -> Path:
    assert local_cluster.kubeconfig is not None
    return Path(local_cluster.kubeconfig)


def lightkube_for(cluster: LocalCluster) -> lightkube.Client:
    """A blocking lightkube client for ``cluster`` (the caller closes it)."""
    import lightkube

    return lightkube.Client(lightkube.KubeConfig.from_file(str(cluster.kubeconfig)))


@pytest.fixture
def namespace(local_cluster: LocalCluster) -> str:
    """A namespace created for this test only."""
    from lightkube.models.meta_v1 import ObjectMeta
    from lightkube.resources.core_v1 import Namespace

    name = f"t-{uuid.uuid4().hex[:10]}"
    client = lightkube_for(local_cluster)
    client.create(Namespace(metadata=ObjectMeta(name=name)))
    client.close()
    return name


@pytest.fixture
async def client(local_cluster: LocalCluster) -> AsyncIterator[ClusterClient]:
    """A :class:`~tether.cluster.ClusterClient` on the local cluster, without rate limiting
    getting in the way."""
    from tether.cluster import ClientSettings, ClusterClient

    settings = ClientSettings(qps=0, burst=1)
    async with ClusterClient.from_kubeconfig(str(local_cluster.kubeconfig), settings=settings) as c:
        yield c


@pytest.fixture
def lightkube_client(local_cluster: LocalCluster) -> Iterator[lightkube.Client]:
    """A blocking lightkube client on the local cluster, as a controller written with it uses."""
    c = lightkube_for(local_cluster)
    try:
        yield c
    finally:
        c.close()


def kubectl_runner(kubeconfig: Path | str | None, home: Path) -> Kubectl:
    """A function running the pinned kubectl against ``kubeconfig`` (with ``home`` as $HOME);
    it returns the completed process and, with ``check``, fails on a non-zero exit."""
    assert kubeconfig is not None, "the cluster has written no kubeconfig"
    binary = find_tool("kubectl")
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "KUBECACHEDIR": str(home / "kube-cache"),
        "HOME": str(home),
    }

    def run(
        *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [binary, *args],
            input=input,
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} exited {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
            )
        return proc

    return run


@pytest.fixture
def kubectl(kubeconfig: Path, tmp_path: Path) -> Kubectl:
    """Run the pinned kubectl against the local cluster; returns the completed process."""
    return kubectl_runner(kubeconfig, tmp_path)


def service_account_kubectl(
    cluster: LocalCluster, namespace: str, name: str, home: Path
) -> Kubectl:
    """kubectl acting as ServiceAccount ``namespace/name`` (created when missing) through a
    token from the TokenRequest API."""
    kubeconfig = cluster.access().service_account_kubeconfig(
        home / f"kubeconfig-{namespace}-{name}", namespace, name
    )
    return kubectl_runner(kubeconfig, home)


def cert_kubectl(cluster: LocalCluster, user: str, groups: tuple[str, ...], home: Path) -> Kubectl:
    """kubectl acting as ``user`` in ``groups`` through a client certificate of the cluster CA."""
    kubeconfig = cluster.access().cert_kubeconfig(home / f"kubeconfig-cert-{user}", user, groups)
    return kubectl_runner(kubeconfig, home)


def api_http(cluster: LocalCluster, token: str | None = None) -> httpx.Client:
    """An HTTP client for ``cluster`` that trusts its CA and sends ``token`` (none: no
    credentials); the caller closes it."""
    import ssl

    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    context = ssl.create_default_context(cadata=cluster.creds.ca_pem.decode())
    return httpx.Client(base_url=cluster.url, verify=context, headers=headers, timeout=30)


def grant_role(kubectl: Kubectl, namespace: str, name: str, subject: str, *rule: str) -> None:
    """Create Role ``name`` with ``rule`` (``kubectl create role`` flags: ``--verb=get``,
    ``--resource=pods`` ...) and bind it to ``subject`` (``--serviceaccount=ns:sa``,
    ``--user=u`` or ``--group=g``) in ``namespace``."""
    kubectl("create", "role", name, *rule, "-n", namespace)
    kubectl("create", "rolebinding", name, f"--role={name}", subject, "-n", namespace)


@contextlib.contextmanager
def granted_cluster_role(kubectl: Kubectl, name: str, subject: str, *rule: str) -> Iterator[None]:
    """ClusterRole ``name`` with ``rule`` bound cluster-wide to ``subject`` for the ``with``
    block (``kubectl create clusterrole`` flags), deleted afterwards."""
    kubectl("create", "clusterrole", name, *rule)
    kubectl("create", "clusterrolebinding", name, f"--clusterrole={name}", subject)
    try:
        yield
    finally:
        kubectl("delete", "clusterrolebinding", name)
        kubectl("delete", "clusterrole", name)


def crd_manifest(group: str, kind: str, plural: str, scope: str = "Namespaced") -> dict[str, Any]:
    """A CustomResourceDefinition serving ``group/v1`` ``kind`` with any fields allowed."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": scope,
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }


async def eventually(
    check: Callable[[], Any],
    timeout: float = 30.0,
    what: str = "",
    interval: float = 0.05,
) -> Any:
    """Call ``check`` (awaiting its answer when it is awaitable) until it answers something
    truthy and return that; fail after ``timeout`` seconds naming ``what`` and the last answer.
    The event loop runs between calls. Tests wait on conditions, never fixed sleeps."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"not reached within {timeout}s: {what} (last: {last!r})")


def wait_until(
    check: Callable[[], Any], timeout: float = 30.0, what: str = "", interval: float = 0.05
) -> Any:
    """The blocking twin of :func:`eventually`, for tests without an event loop."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"not reached within {timeout}s: {what} (last: {last!r})")
