"""``spec.kubeConfig``: a Kustomization and a HelmRelease of the management cluster deploy to
another cluster (a second local cluster) with the kubeconfig a Secret holds, as Flux does; a
kubeconfig that would make the controller run a program (an exec plugin) is refused by name."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.controller.stack import Env
from tests.controller.test_flux import configmap, get, git_repository, kustomization, ready
from tether.cluster.client import ClusterClient
from tether.cluster.errors import NotFound
from tether.localcluster.cluster import LocalCluster
from tether.localcluster.testing import eventually
from tether.tools import find_tool

pytestmark = pytest.mark.asyncio(loop_scope="session")

CHART = {
    "charts/tiny/Chart.yaml": "apiVersion: v2\nname: tiny\nversion: 0.1.0\n",
    "charts/tiny/templates/cm.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\ndata:\n  k: v\n"
    ),
}


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """The other cluster."""
    with LocalCluster(port=0, kubeconfig=tmp_path_factory.mktemp("workload") / "kubeconfig") as c:
        yield c


async def live_in(
    cluster: LocalCluster, kind: str, name: str, namespace: str
) -> dict[str, Any] | None:
    async with ClusterClient.from_kubeconfig(str(cluster.kubeconfig)) as client:
        info = await client.resource_for("v1", kind)
        try:
            return await client.get(info, name, namespace)
        except NotFound:
            return None


async def test_a_kustomization_and_a_helm_release_deploy_to_another_cluster(
    env: Env, workload: LocalCluster, tmp_path: Path
) -> None:
    namespace = f"remote-{uuid.uuid4().hex[:6]}"
    await env.kube("create", "namespace", namespace)
    await env.controller.extras.ready()
    subprocess.run([find_tool("kubectl"), "--kubeconfig", str(workload.kubeconfig), "create",
                    "namespace", namespace], check=True, capture_output=True)  # fmt: skip
    kubeconfig = Path(workload.kubeconfig).read_text()
    url, _ = env.new_repo({"deploy/cm.yaml": configmap("far"), **CHART})
    hostile = yaml.safe_load(kubeconfig)
    hostile["users"][0]["user"] = {"exec": {"apiVersion": "client.authentication.k8s.io/v1",
                                            "command": "/bin/sh", "args": ["-c", "id"]}}  # fmt: skip
    await env.apply(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "workload", "namespace": namespace},
         "stringData": {"value": kubeconfig}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hostile", "namespace": namespace},
         "stringData": {"value": yaml.safe_dump(hostile)}},
        git_repository("repo", namespace, url),
        kustomization("far", namespace, "repo", path="./deploy", targetNamespace=namespace,
                      kubeConfig={"secretRef": {"name": "workload"}}),
        kustomization("refused", namespace, "repo", path="./deploy", targetNamespace=namespace,
                      kubeConfig={"secretRef": {"name": "hostile"}}),
        {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
         "metadata": {"name": "tiny", "namespace": namespace},
         "spec": {"interval": "10m", "kubeConfig": {"secretRef": {"name": "workload"}},
                  "chart": {"spec": {"chart": "./charts/tiny",
                                     "sourceRef": {"kind": "GitRepository", "name": "repo"}}}}},
    )  # fmt: skip

    async def far_ready() -> bool:
        return (await ready(env, "far", namespace)).get("status") == "True"

    await eventually(far_ready, 60, "the Kustomization applied to the other cluster")
    assert await live_in(workload, "ConfigMap", "far", namespace) is not None
    assert await get(env, "v1", "ConfigMap", "far", namespace) is None  # not here

    async def refused() -> dict[str, Any] | None:
        found = await ready(env, "refused", namespace)
        return (
            found
            if found.get("status") == "False" and "exec plugin" in found.get("message", "")
            else None
        )

    await eventually(refused, 60, "the exec plugin refused")

    async def released() -> bool:
        hr = await get(env, "helm.toolkit.fluxcd.io/v2", "HelmRelease", "tiny", namespace)
        conditions = ((hr or {}).get("status") or {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    await eventually(released, 90, "the HelmRelease installed in the other cluster")
    listed = subprocess.run(
        [find_tool("helm"), "ls", "-n", namespace, "--kubeconfig", str(workload.kubeconfig)],
        capture_output=True, text=True, check=True, timeout=60,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    ).stdout  # fmt: skip
    assert "tiny" in listed and "deployed" in listed
    assert await live_in(workload, "ConfigMap", "tiny-cm", namespace) is not None
    assert await get(env, "v1", "ConfigMap", "tiny-cm", namespace) is None


@pytest.mark.parametrize(
    ("user", "cluster", "message"),
    [
        ({"tokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token"}, {}, "token file"),
        ({"client-certificate": "/etc/cert.pem"}, {}, "certificate file"),
        ({"auth-provider": {"name": "oidc"}}, {}, "auth-provider"),
        ({"token": "t"}, {"certificate-authority": "/etc/ca.pem"}, "CA file"),
    ],
)
def test_kubeconfigs_that_reach_the_controller_s_files_are_refused(
    user: dict[str, Any], cluster: dict[str, Any], message: str
) -> None:
    from tether.controller.flux.remote import RemoteError, parse_kubeconfig

    document = {
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1", **cluster}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
    }  # fmt: skip
    with pytest.raises(RemoteError, match=message):
        parse_kubeconfig({"value": yaml.safe_dump(document)}, None, "secret 'a/b'")
    with pytest.raises(RemoteError, match=r"no key 'value' or 'value\.yaml'"):
        parse_kubeconfig({"other": "x"}, None, "secret 'a/b'")
    with pytest.raises(RemoteError, match="larger than"):
        parse_kubeconfig({"value": "x" * 300_000}, None, "secret 'a/b'")
