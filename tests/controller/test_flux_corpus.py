"""The shared corpus flux2-kustomize-helm-example, clusters/staging and clusters/production, as a
Flux user bootstraps them:
the repository pushed to the loopback git server, ``gotk-sync.yaml`` filled in as ``flux
bootstrap`` writes it (the loopback URL), the chart repository URLs replaced with loopback ones,
then ``kubectl apply -k clusters/<cluster>/flux-system``. Tether then reconciles everything the
repository holds: the flux-system Kustomization applies the ArtifactGenerator splitting the
monorepo into the ``infrastructure`` and ``apps`` ExternalArtifacts, the Kustomizations
``infra-controllers`` → ``infra-configs`` → ``apps`` in dependsOn order, the HelmReleases of
cert-manager and envoy-gateway (``chartRef`` to OCIRepositories, ``RetryOnFailure``) and podinfo
(a HelmRepository, the cluster's overlay of values), every one Ready; ``helm ls -A`` lists them.

The podinfo chart is the corpus' own. cert-manager's and envoy-gateway's charts cannot be
downloaded here (quay.io, docker.io); stand-ins of the same names are pushed to the loopback
registry in their place, holding what the rest of the repository needs of them: the
cert-manager.io ClusterIssuer CRD and the Gateway API CRDs, and a Deployment each. The one
change beyond URLs: ``insecure: true`` on the two OCIRepositories (the loopback registry speaks
plain http)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.charts.servers import ChartRepoServer, run_helm
from tests.controller.stack import Env, running_stack
from tests.corpora import CORPORA
from tether.demo.repo import create_repository
from tether.images.testing import RunningRegistry, docker_registry
from tether.localcluster.cluster import LocalCluster
from tether.localcluster.testing import crd_manifest, eventually
from tether.tools import find_tool

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]

EXAMPLE = CORPORA / "flux2-kustomize-helm-example"
PODINFO = CORPORA / "podinfo" / "charts" / "podinfo"


def deployment(name: str) -> str:
    return (
        f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n"
        f"  replicas: 1\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n"
        f"    metadata: {{labels: {{app: {name}}}}}\n"
        f"    spec: {{containers: [{{name: {name}, image: 'example.org/{name}:1'}}]}}\n"
    )


def stand_in(folder: Path, name: str, version: str, crds: list[dict[str, Any]], home: Path) -> Path:
    """A chart named like the one it stands in for: its CRDs and one Deployment."""
    chart = folder / name
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: {version}\n")
    (chart / "templates" / "deployment.yaml").write_text(deployment(name))
    if name == "cert-manager":  # cert-manager installs its CRDs when crds.enabled
        (chart / "values.yaml").write_text("crds:\n  enabled: false\n")
        text = "{{- if .Values.crds.enabled }}\n" + yaml.safe_dump_all(crds) + "{{- end }}\n"
        (chart / "templates" / "crds.yaml").write_text(text)
    else:
        (chart / "crds").mkdir()
        (chart / "crds" / "crds.yaml").write_text(yaml.safe_dump_all(crds))
    run_helm("package", str(chart), "-d", str(folder / "out"), home=home)
    return folder / "out" / f"{name}-{version}.tgz"


@pytest.fixture(scope="module")
def charts(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ChartRepoServer, RunningRegistry]]:
    base = tmp_path_factory.mktemp("corpus-charts")
    home = base / "home"
    root = base / "repo"
    root.mkdir()
    run_helm("package", str(shutil.copytree(PODINFO, base / "src" / "podinfo")), "-d", str(root),
             home=home)  # fmt: skip
    server = ChartRepoServer(root)
    run_helm("repo", "index", str(root), "--url", server.url, home=home)
    gateway = [crd_manifest("gateway.networking.k8s.io", kind, plural, scope) for kind, plural, scope in (
        ("GatewayClass", "gatewayclasses", "Cluster"), ("Gateway", "gateways", "Namespaced"),
        ("HTTPRoute", "httproutes", "Namespaced"))]  # fmt: skip
    issuer = [crd_manifest("cert-manager.io", "ClusterIssuer", "clusterissuers", "Cluster")]
    with docker_registry(base / "registry") as registry:
        for path, archive in (
            ("jetstack/charts", stand_in(base / "cm", "cert-manager", "1.99.0", issuer, home)),
            ("envoyproxy", stand_in(base / "eg", "gateway-helm", "1.8.0", gateway, home)),
        ):
            run_helm(
                "push", str(archive), f"oci://{registry.host}/{path}", "--plain-http", home=home
            )
        yield server, registry
    server.close()


def fleet_files(git_url: str, chart_url: str, registry: str, cluster: str) -> dict[str, str]:
    """The corpus' files, with what a user changes: the sync objects and the source URLs."""
    files = {
        str(p.relative_to(EXAMPLE)): p.read_text()
        for p in EXAMPLE.rglob("*")
        if p.is_file() and ".git" not in p.parts
    }
    sync = [
        {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
         "metadata": {"name": "flux-system", "namespace": "flux-system"},
         "spec": {"interval": "1m0s", "ref": {"branch": "main"}, "url": git_url}},
        {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
         "metadata": {"name": "flux-system", "namespace": "flux-system"},
         "spec": {"interval": "10m0s", "path": f"./clusters/{cluster}", "prune": True,
                  "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}},
    ]  # fmt: skip
    files[f"clusters/{cluster}/flux-system/gotk-sync.yaml"] = yaml.safe_dump_all(sync)
    repository = "apps/base/podinfo/repository.yaml"
    files[repository] = files[repository].replace(
        "https://stefanprodan.github.io/podinfo", chart_url
    )
    for path, old, new in (
        ("infrastructure/controllers/cert-manager.yaml", "oci://quay.io/jetstack/charts/cert-manager",
         f"oci://{registry}/jetstack/charts/cert-manager"),
        ("infrastructure/controllers/envoy-gateway.yaml", "oci://docker.io/envoyproxy/gateway-helm",
         f"oci://{registry}/envoyproxy/gateway-helm"),
    ):  # fmt: skip
        assert old in files[path]
        files[path] = files[path].replace(f"url: {old}", f"url: {new}\n  insecure: true")
    return files


async def ready_at(env: Env, api_version: str, kind: str, name: str, ns: str) -> str | None:
    from tether.cluster.errors import NotFound

    info = await env.client.resource_for(api_version, kind)
    try:
        obj = await env.client.get(info, name, ns)
    except NotFound:
        return None
    for c in (obj.get("status") or {}).get("conditions") or ():
        if c["type"] == "Ready" and c["status"] == "True":
            return str(c["lastTransitionTime"])
    return None


KS = "kustomize.toolkit.fluxcd.io/v1"
HR = "helm.toolkit.fluxcd.io/v2"


@pytest.mark.parametrize(("cluster", "hostname", "acme"), [
    ("staging", "podinfo.staging", "acme-staging-v02"),
    ("production", "podinfo.production", "//acme-v02"),
])  # fmt: skip
async def test_the_kustomize_helm_example_reconciles_from_bootstrap(
    charts: tuple[ChartRepoServer, RunningRegistry],
    tmp_path: Path,
    cluster: str,
    hostname: str,
    acme: str,
) -> None:
    """Each cluster of the example on a local cluster of its own (the example takes
    flux-system and cluster-wide objects the other modules' controllers should not meet)."""
    with LocalCluster(port=0, kubeconfig=tmp_path / "kubeconfig") as local:
        async with running_stack(local, tmp_path / "gitops") as env:
            await _bootstrap(env, charts, tmp_path, cluster, hostname, acme)


async def _bootstrap(
    env: Env,
    charts: tuple[ChartRepoServer, RunningRegistry],
    tmp_path: Path,
    cluster: str,
    hostname: str,
    acme: str,
) -> None:
    server, registry = charts
    name = "flux-helm-example"
    git_url = env.git.url(f"{name}.git")
    create_repository(env.root / f"{name}.git", env.root / name,
                      fleet_files(git_url, server.url, registry.host, cluster))  # fmt: skip
    sync = env.root / name / f"clusters/{cluster}/flux-system"
    await env.kube("create", "namespace", "flux-system")
    await env.controller.extras.ready()
    await env.kube("apply", "--server-side", "-k", str(sync))

    wanted = [
        (KS, "Kustomization", "flux-system", "flux-system"),
        (KS, "Kustomization", "infra-controllers", "flux-system"),
        (KS, "Kustomization", "infra-configs", "flux-system"),
        (KS, "Kustomization", "apps", "flux-system"),
        (HR, "HelmRelease", "cert-manager", "cert-manager"),
        (HR, "HelmRelease", "envoy-gateway", "envoy-gateway-system"),
        (HR, "HelmRelease", "podinfo", "podinfo"),
    ]

    async def all_ready() -> dict[str, str] | None:
        times = {}
        for api, kind, obj_name, ns in wanted:
            at = await ready_at(env, api, kind, obj_name, ns)
            if at is None:
                return None
            times[obj_name] = at
        return times

    times = await eventually(all_ready, 600, "every Kustomization and HelmRelease Ready")
    assert times["infra-controllers"] <= times["infra-configs"] <= times["apps"]
    assert times["cert-manager"] <= times["infra-configs"]
    gateway = await env.kube("get", "gateway", "envoy", "-n", "envoy-gateway-system", "-o", "name")
    assert "gateway" in str(gateway)
    issuer = await env.kube("get", "clusterissuer", "letsencrypt", "-o", "yaml")
    assert acme in str(issuer)  # the cluster's patch of the ClusterIssuer
    route = await env.kube("get", "httproute", "podinfo", "-n", "podinfo", "-o", "yaml")
    assert hostname in str(route)  # the cluster's overlay of the values
    listed = subprocess.run(
        [find_tool("helm"), "ls", "-A", "--kubeconfig", str(env.cluster.kubeconfig)],
        capture_output=True, text=True, timeout=60, check=True,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    ).stdout  # fmt: skip
    for release in ("cert-manager", "envoy-gateway", "podinfo"):
        assert release in listed, listed
    assert listed.count("deployed") == 3, listed
