"""Flux's HelmRepository and HelmRelease on the real stack: the podinfo chart (shared corpus,
packaged by the pinned helm) served by a loopback Helm repository with basic auth, releases made
by the pinned helm against the local cluster and read back with ``helm ls``/``helm history``:
install with tests, an upgrade from valuesFrom, an upgrade whose test fails rolled back by
remediation, dependsOn holding a release behind one whose chart version does not exist, and
the uninstall when the HelmRelease is deleted."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from tests.charts.ociregistry import push_flux_artifact
from tests.charts.servers import PASSWORD, USERNAME, ChartRepoServer, ServerTLS, run_helm
from tests.controller.stack import CONTROL_NS, Env
from tests.corpora import CORPORA
from tests.images.conftest import make_certificate
from tether.cli.main import cli
from tether.images.testing import (
    RunningRegistry,
    docker_registry,
)
from tether.localcluster.cluster import LocalCluster
from tether.localcluster.testing import eventually
from tether.names import TLS_CERTS_CONFIGMAP
from tether.tools import find_tool

pytestmark = pytest.mark.asyncio(loop_scope="session")

PODINFO = CORPORA / "podinfo" / "charts" / "podinfo"
HELM_API = "helm.toolkit.fluxcd.io/v2"
SOURCE_API = "source.toolkit.fluxcd.io/v1"


@pytest.fixture(scope="module")
def local_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A cluster of its own: the controllers of later modules should not find these
    HelmReleases (each would reconcile them again, and count the reads)."""
    with LocalCluster(
        port=0, kubeconfig=tmp_path_factory.mktemp("helm-cluster") / "kubeconfig"
    ) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChartRepoServer]:
    """podinfo 6.14.1 and 6.15.0 (the same chart packaged under a second version)."""
    base = tmp_path_factory.mktemp("flux-helm")
    root = base / "charts"
    root.mkdir()
    chart = shutil.copytree(PODINFO, base / "src" / "podinfo")
    for version in ("6.14.1", "6.15.0"):
        run_helm("package", str(chart), "--version", version, "-d", str(root), home=base / "home")
    server = ChartRepoServer(root, username=USERNAME, password=PASSWORD)
    run_helm("repo", "index", str(root), "--url", server.url, home=base / "home")
    yield server
    server.close()


@pytest.fixture(scope="module")
def registry(
    repo: ChartRepoServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningRegistry]:
    """Debian's docker-registry on loopback with podinfo 6.14.1 pushed by the pinned helm."""
    root = tmp_path_factory.mktemp("flux-oci")
    with docker_registry(root) as running:
        archive = repo.root / "podinfo-6.14.1.tgz"
        run_helm("push", str(archive), f"oci://{running.host}/charts", "--plain-http",
                 home=root / "home")  # fmt: skip
        yield running


async def flux(env: Env, *args: str) -> Result:
    """``tether flux ARGS`` in a thread (it runs its own event loop; the controller runs here)."""
    argv = ["flux", *args, "--kubeconfig", str(env.cluster.kubeconfig)]
    return await asyncio.to_thread(CliRunner().invoke, cli, argv)


def helm_cli(env: Env, home: Path, *args: str) -> str:
    done = subprocess.run(
        [find_tool("helm"), *args, "--kubeconfig", str(env.cluster.kubeconfig)],
        capture_output=True,
        text=True,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin",
             **{f"HELM_{k}_HOME": str(home / k.lower()) for k in ("CACHE", "CONFIG", "DATA")}},
        timeout=60,
        check=True,
    )  # fmt: skip
    return done.stdout


def helm_repository(name: str, namespace: str, url: str) -> dict[str, Any]:
    return {
        "apiVersion": SOURCE_API,
        "kind": "HelmRepository",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"interval": "5m", "url": url, "secretRef": {"name": "repo-auth"}},
    }


def helm_release(name: str, namespace: str, version: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": HELM_API,
        "kind": "HelmRelease",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "interval": "10m",
            "chart": {"spec": {"chart": "podinfo", "version": version,
                               "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}},
            **spec,
        },
    }  # fmt: skip


async def get(env: Env, api_version: str, kind: str, name: str, ns: str) -> dict[str, Any] | None:
    from tether.cluster.errors import NotFound

    info = await env.client.resource_for(api_version, kind)
    try:
        return await env.client.get(info, name, ns)
    except NotFound:
        return None


async def condition(env: Env, name: str, ns: str, type_: str = "Ready") -> dict[str, Any]:
    obj = await get(env, HELM_API, "HelmRelease", name, ns)
    return next(
        (
            c
            for c in ((obj or {}).get("status") or {}).get("conditions") or ()
            if c["type"] == type_
        ),
        {},
    )


async def tenant(env: Env, repo: ChartRepoServer) -> str:
    namespace = f"helm-{uuid.uuid4().hex[:6]}"
    await env.kube("create", "namespace", namespace)
    await env.apply(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "repo-auth", "namespace": namespace},
         "stringData": {"username": USERNAME, "password": PASSWORD}},
        helm_repository("podinfo", namespace, repo.url),
    )  # fmt: skip
    await env.controller.extras.ready()
    return namespace


async def test_a_helm_release_installs_tests_and_upgrades_as_helm_shows(
    env: Env, repo: ChartRepoServer, tmp_path: Path
) -> None:
    ns = await tenant(env, repo)
    await env.apply(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "values", "namespace": ns},
         "data": {"values.yaml": "ui:\n  message: from-configmap\n"}},
        helm_release("web", ns, "6.14.x", test={"enable": True},
                     valuesFrom=[{"kind": "ConfigMap", "name": "values"}],
                     values={"replicaCount": 1}),
    )  # fmt: skip

    async def ready() -> bool:
        return (await condition(env, "web", ns)).get("status") == "True"

    await eventually(ready, 120, "the HelmRelease Ready")
    message = (await condition(env, "web", ns))["message"]
    assert message.startswith(
        f"Helm test succeeded for release {ns}/web.v1 with chart podinfo@6.14.1"
    )
    released = await condition(env, "web", ns, "Released")
    assert released["reason"] == "InstallSucceeded"
    hr = await get(env, HELM_API, "HelmRelease", "web", ns)
    assert hr is not None
    status = hr["status"]
    assert status["history"][0]["chartVersion"] == "6.14.1"
    assert status["history"][0]["status"] == "deployed"
    assert status["helmChart"] == f"{ns}/{ns}-web"
    assert status["lastAttemptedReleaseAction"] == "install"
    chart = await get(env, SOURCE_API, "HelmChart", f"{ns}-web", ns)
    assert chart is not None and chart["status"]["artifact"]["revision"] == "6.14.1"
    repository = await get(env, SOURCE_API, "HelmRepository", "podinfo", ns)
    assert repository is not None
    assert repository["status"]["artifact"]["revision"].startswith("sha256:")

    # what helm itself says
    listed = helm_cli(env, tmp_path, "ls", "-n", ns)
    assert "web" in listed and "deployed" in listed and "podinfo-6.14.1" in listed
    values = helm_cli(env, tmp_path, "get", "values", "web", "-n", ns, "-o", "json")
    assert '"message":"from-configmap"' in values.replace(" ", "")
    deployment = await get(env, "apps/v1", "Deployment", "web-podinfo", ns)
    assert deployment is not None

    # a new version and a change of values: one upgrade
    await env.kube("patch", "helmrelease", "web", "-n", ns, "--type=merge", "-p",
                   '{"spec":{"chart":{"spec":{"version":"6.15.0"}},"values":{"replicaCount":2}}}')  # fmt: skip

    async def upgraded() -> bool:
        found = await condition(env, "web", ns, "Released")
        return found.get("reason") == "UpgradeSucceeded" and (await ready())

    await eventually(upgraded, 120, "the upgrade")
    history = helm_cli(env, tmp_path, "history", "web", "-n", ns)
    rows = [line.split() for line in history.splitlines()[1:]]
    assert [row[0] for row in rows] == ["1", "2"]
    assert "podinfo-6.15.0" in rows[1]
    live = await get(env, "apps/v1", "Deployment", "web-podinfo", ns)
    assert live is not None and live["spec"]["replicas"] == 2

    # the flux verbs people type
    table = await flux(env, "get", "hr", "-n", ns)
    assert table.exit_code == 0, table.output
    assert table.stdout.splitlines()[1].split()[:4] == ["web", "6.15.0", "False", "True"]
    charts = await flux(env, "get", "sources", "chart", "-n", ns)
    assert charts.stdout.splitlines()[1].split()[:4] == [f"{ns}-web", "6.15.0", "False", "True"]
    tree = await flux(env, "tree", "hr", "web", "-n", ns)
    assert tree.exit_code == 0, tree.output
    assert tree.stdout.splitlines()[0] == f"HelmRelease/{ns}/web"
    assert f"── Deployment/{ns}/web-podinfo" in tree.stdout
    assert f"── Service/{ns}/web-podinfo" in tree.stdout
    reconciled = await flux(env, "reconcile", "hr", "web", "-n", ns, "--with-source")
    assert reconciled.exit_code == 0, reconciled.output
    assert "✔ fetched revision sha256:" in reconciled.stderr
    assert reconciled.stderr.rstrip().endswith("✔ applied revision 6.15.0")

    # deleting the HelmRelease uninstalls the release and removes its HelmChart
    await env.kube("delete", "helmrelease", "web", "-n", ns, "--wait=false")

    async def uninstalled() -> bool:
        gone = await get(env, HELM_API, "HelmRelease", "web", ns) is None
        return gone and "web" not in helm_cli(env, tmp_path, "ls", "-n", ns)

    await eventually(uninstalled, 60, "the release uninstalled")
    assert await get(env, SOURCE_API, "HelmChart", f"{ns}-web", ns) is None


async def test_an_upgrade_whose_test_fails_is_rolled_back(
    env: Env, repo: ChartRepoServer, tmp_path: Path
) -> None:
    ns = await tenant(env, repo)
    remediation = {"remediation": {"retries": 1}}
    await env.apply(helm_release("app", ns, "6.14.1", test={"enable": True}, upgrade=remediation))

    async def ready() -> bool:
        return (await condition(env, "app", ns)).get("status") == "True"

    await eventually(ready, 120, "the first install")
    await env.kube("patch", "helmrelease", "app", "-n", ns, "--type=merge", "-p",
                   '{"spec":{"values":{"faults":{"testFail":true}}}}')  # fmt: skip

    async def stalled() -> bool:
        return (await condition(env, "app", ns, "Stalled")).get("status") == "True"

    await eventually(stalled, 240, "retries spent")
    stall = await condition(env, "app", ns, "Stalled")
    assert stall["reason"] == "RetriesExceeded"
    assert stall["message"] == "Failed to upgrade after 2 attempt(s)"
    assert (await condition(env, "app", ns))["status"] == "False"
    assert (await condition(env, "app", ns, "TestSuccess"))["reason"] == "TestFailed"
    assert (await condition(env, "app", ns, "Remediated"))["reason"] == "RollbackSucceeded"
    hr = await get(env, HELM_API, "HelmRelease", "app", ns)
    assert hr is not None and hr["status"]["upgradeFailures"] == 2
    # helm's history: install, upgrade (tests failed), rollback to 1, upgrade again, rollback
    # to the last good revision (3, the first rollback)
    history = helm_cli(env, tmp_path, "history", "app", "-n", ns, "-o", "json")
    revisions = json.loads(history)
    assert [r["revision"] for r in revisions] == [1, 2, 3, 4, 5]
    assert [r["description"] for r in revisions if r["description"].startswith("Rollback")] == [
        "Rollback to 1",
        "Rollback to 3",
    ]
    assert revisions[-1]["status"] == "deployed"
    values = helm_cli(env, tmp_path, "get", "values", "app", "-n", ns, "-o", "json")
    assert "testFail" not in values


async def test_depends_on_holds_a_release_behind_one_whose_chart_is_missing(
    env: Env, repo: ChartRepoServer
) -> None:
    ns = await tenant(env, repo)
    await env.apply(
        helm_release("backend", ns, "9.9.9"),
        helm_release("frontend", ns, "6.14.1", dependsOn=[{"name": "backend"}]),
    )

    async def refused() -> bool:
        backend = await condition(env, "backend", ns)
        frontend = await condition(env, "frontend", ns)
        return (
            backend.get("reason") == "ArtifactFailed"
            and frontend.get("reason") == "DependencyNotReady"
        )

    await eventually(refused, 60, "the missing version named and the dependent held")
    backend = await condition(env, "backend", ns)
    assert backend["status"] == "False"
    assert backend["message"].startswith(f"HelmChart '{ns}/{ns}-backend' is not ready: ")
    assert "9.9.9" in backend["message"]
    assert (await condition(env, "frontend", ns))[
        "message"
    ] == f"dependency '{ns}/backend' is not ready"
    assert await get(env, "apps/v1", "Deployment", "frontend-podinfo", ns) is None

    await env.kube("patch", "helmrelease", "backend", "-n", ns, "--type=merge", "-p",
                   '{"spec":{"chart":{"spec":{"version":"6.14.1"}}}}')  # fmt: skip

    async def both_ready() -> bool:
        return all(
            [
                (await condition(env, name, ns)).get("status") == "True"
                for name in ("backend", "frontend")
            ]
        )

    await eventually(both_ready, 180, "both releases Ready in dependsOn order")
    backend_hr = await get(env, HELM_API, "HelmRelease", "backend", ns)
    frontend_hr = await get(env, HELM_API, "HelmRelease", "frontend", ns)
    assert backend_hr is not None and frontend_hr is not None
    assert (
        backend_hr["status"]["history"][0]["lastDeployed"]
        <= frontend_hr["status"]["history"][0]["lastDeployed"]
    )


async def test_a_chart_from_an_oci_helm_repository(
    env: Env, repo: ChartRepoServer, registry: RunningRegistry, tmp_path: Path
) -> None:
    ns = await tenant(env, repo)
    await env.apply(
        {"apiVersion": SOURCE_API, "kind": "HelmRepository",
         "metadata": {"name": "oci", "namespace": ns},
         "spec": {"type": "oci", "url": f"oci://{registry.host}/charts", "insecure": True,
                  "interval": "5m"}},
        helm_release("from-oci", ns, ">=6.0.0",
                     chart={"spec": {"chart": "podinfo", "version": ">=6.0.0",
                                     "sourceRef": {"kind": "HelmRepository", "name": "oci"}}}),
    )  # fmt: skip

    async def ready() -> bool:
        return (await condition(env, "from-oci", ns)).get("status") == "True"

    await eventually(ready, 120, "the release of the chart from the registry")
    assert "podinfo@6.14.1" in (await condition(env, "from-oci", ns))["message"]
    oci = await get(env, SOURCE_API, "HelmRepository", "oci", ns)
    assert oci is not None and "artifact" not in oci["status"]
    assert "podinfo-6.14.1" in helm_cli(env, tmp_path, "ls", "-n", ns)


async def test_drift_detection_corrects_a_changed_deployment_and_leaves_ignored_fields(
    env: Env, repo: ChartRepoServer
) -> None:
    ns = await tenant(env, repo)
    drift = {"mode": "enabled",
             "ignore": [{"paths": ["/spec/replicas"], "target": {"kind": "Deployment"}}]}  # fmt: skip
    await env.apply(helm_release("kept", ns, "6.14.1", driftDetection=drift))

    async def ready() -> bool:
        return (await condition(env, "kept", ns)).get("status") == "True"

    await eventually(ready, 120, "the release")
    deployment = await get(env, "apps/v1", "Deployment", "kept-podinfo", ns)
    assert deployment is not None
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    await env.kube("patch", "deployment", "kept-podinfo", "-n", ns, "--type=json", "-p",
                   '[{"op":"replace","path":"/spec/template/spec/containers/0/image",'
                   '"value":"example.invalid/other:1"},'
                   '{"op":"replace","path":"/spec/replicas","value":3}]')  # fmt: skip
    await env.kube("delete", "service", "kept-podinfo", "-n", ns)
    drifts = env.controller.extras.flux.helm_releases.drifts  # type: ignore[union-attr]
    await env.kube("annotate", "--overwrite", "helmrelease", "kept", "-n", ns,
                   "reconcile.fluxcd.io/requestedAt=drift")  # fmt: skip

    async def corrected() -> bool:
        live = await get(env, "apps/v1", "Deployment", "kept-podinfo", ns)
        service = await get(env, "v1", "Service", "kept-podinfo", ns)
        return (
            live is not None
            and live["spec"]["template"]["spec"]["containers"][0]["image"] == image
            and service is not None
        )

    await eventually(corrected, 60, "the drift corrected")
    live = await get(env, "apps/v1", "Deployment", "kept-podinfo", ns)
    assert live is not None and live["spec"]["replicas"] == 3  # ignored: left as it is
    assert env.controller.extras.flux.helm_releases.drifts > drifts  # type: ignore[union-attr]
    assert (await condition(env, "kept", ns))["status"] == "True"


async def test_oci_repositories_feed_a_kustomization_and_a_helm_release_chart_ref(
    env: Env, repo: ChartRepoServer, registry: RunningRegistry
) -> None:
    """An artifact pushed as `flux push artifact` lays it out (one Flux content layer) builds a
    Kustomization; the chart helm pushed is a HelmRelease's chartRef through an OCIRepository
    selecting its chart layer (`operation: copy`), as flux2-kustomize-helm-example does."""
    ns = await tenant(env, repo)
    files = {"./deploy/cm.yaml": (
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-oci\n  namespace: {ns}\n"
        "data:\n  answer: '42'\n").encode()}  # fmt: skip
    with httpx.Client(timeout=10) as http:
        digest = push_flux_artifact(http, registry, f"manifests/{ns}", "v1", files)
    await env.apply(
        {"apiVersion": SOURCE_API, "kind": "OCIRepository", "metadata": {"name": "manifests", "namespace": ns},
         "spec": {"url": f"oci://{registry.host}/manifests/{ns}", "insecure": True,
                  "interval": "5m", "ref": {"tag": "v1"}}},
        {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
         "metadata": {"name": "from-oci", "namespace": ns},
         "spec": {"interval": "10m", "prune": True, "path": "./deploy",
                  "sourceRef": {"kind": "OCIRepository", "name": "manifests"}}},
        {"apiVersion": SOURCE_API, "kind": "OCIRepository", "metadata": {"name": "podinfo-chart", "namespace": ns},
         "spec": {"url": f"oci://{registry.host}/charts/podinfo", "insecure": True, "interval": "5m",
                  "ref": {"semver": "6.x"},
                  "layerSelector": {"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                                    "operation": "copy"}}},
        {"apiVersion": HELM_API, "kind": "HelmRelease", "metadata": {"name": "by-ref", "namespace": ns},
         "spec": {"interval": "10m", "chartRef": {"kind": "OCIRepository", "name": "podinfo-chart"}}},
    )  # fmt: skip

    async def both_ready() -> bool:
        ks = await get(env, "kustomize.toolkit.fluxcd.io/v1", "Kustomization", "from-oci", ns)
        ks_ready = any(c["type"] == "Ready" and c["status"] == "True"
                       for c in ((ks or {}).get("status") or {}).get("conditions") or ())  # fmt: skip
        return ks_ready and (await condition(env, "by-ref", ns)).get("status") == "True"

    await eventually(both_ready, 120, "the Kustomization and the HelmRelease Ready")
    source = await get(env, SOURCE_API, "OCIRepository", "manifests", ns)
    assert source is not None and source["status"]["artifact"]["revision"] == f"v1@{digest}"
    ks = await get(env, "kustomize.toolkit.fluxcd.io/v1", "Kustomization", "from-oci", ns)
    assert ks is not None and ks["status"]["lastAppliedRevision"] == f"v1@{digest}"
    configmap = await get(env, "v1", "ConfigMap", "from-oci", ns)
    assert configmap is not None and configmap["data"] == {"answer": "42"}
    chart = await get(env, SOURCE_API, "OCIRepository", "podinfo-chart", ns)
    assert chart is not None and chart["status"]["artifact"]["revision"].startswith(
        "6.14.1@sha256:"
    )
    hr = await get(env, HELM_API, "HelmRelease", "by-ref", ns)
    assert hr is not None and "helmChart" not in hr["status"]
    assert hr["status"]["history"][0]["chartVersion"] == "6.14.1"


async def test_post_renderers_patch_the_release_and_a_change_upgrades_it(
    env: Env, repo: ChartRepoServer
) -> None:
    """Kustomize post-renderers run by helm (a Helm 4 post-renderer plugin) on the rendered
    manifests; changing them upgrades the release though chart and values did not change."""
    ns = await tenant(env, repo)
    label = '[{"op": "add", "path": "/metadata/labels/post-rendered", "value": "yes"}]'
    renderers = [{"kustomize": {
        "patches": [{"target": {"kind": "Deployment"}, "patch": label}],
        "images": [{"name": "ghcr.io/stefanprodan/podinfo", "newTag": "6.0.0-patched"}]}}]  # fmt: skip
    await env.apply(helm_release("rendered", ns, "6.14.1", postRenderers=renderers))

    async def deployed() -> dict[str, Any] | None:
        if (await condition(env, "rendered", ns)).get("status") != "True":
            return None
        return await get(env, "apps/v1", "Deployment", "rendered-podinfo", ns)

    live = await eventually(deployed, 120, "the post-rendered release")
    assert live["metadata"]["labels"]["post-rendered"] == "yes"
    assert live["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":6.0.0-patched")
    hr = await get(env, HELM_API, "HelmRelease", "rendered", ns)
    assert hr is not None and hr["status"]["observedPostRenderersDigest"].startswith("sha256:")
    renderers[0]["kustomize"]["images"][0]["newTag"] = "6.0.1-patched"
    await env.kube("patch", "helmrelease", "rendered", "-n", ns, "--type=merge", "-p",
                   json.dumps({"spec": {"postRenderers": renderers}}))  # fmt: skip

    async def upgraded() -> bool:
        found = await get(env, "apps/v1", "Deployment", "rendered-podinfo", ns)
        image = ((found or {}).get("spec") or {}).get("template", {}).get("spec", {})
        released = (await condition(env, "rendered", ns, "Released")).get("reason")
        return released == "UpgradeSucceeded" and str(
            image.get("containers", [{}])[0].get("image", "")
        ).endswith(":6.0.1-patched")

    await eventually(upgraded, 120, "the upgrade the new post-renderer asked for")


async def test_a_helm_repository_over_https_is_trusted_through_the_controller_s_ca(
    env: Env, repo: ChartRepoServer, tmp_path: Path
) -> None:
    """A HelmRepository served over https with a CA of its own: refused until the CA is given
    to the controller in argocd-tls-certs-cm, then its index and chart are fetched and the
    release installed."""
    authority = make_certificate("flux-helm test CA")
    root = tmp_path / "charts"
    root.mkdir()
    for archive in repo.root.glob("*.tgz"):
        shutil.copy(archive, root)
    server = ChartRepoServer(root, tls=ServerTLS(make_certificate("127.0.0.1", authority, server=True)),
                             scratch=tmp_path)  # fmt: skip
    try:
        run_helm("repo", "index", str(root), "--url", server.url, home=tmp_path / "home")
        ns = f"helm-{uuid.uuid4().hex[:6]}"
        await env.kube("create", "namespace", ns)
        tls_repository = helm_repository("podinfo", ns, server.url)
        del tls_repository["spec"]["secretRef"]
        await env.apply(tls_repository)

        async def source_ready() -> dict[str, Any]:
            obj = await get(env, SOURCE_API, "HelmRepository", "podinfo", ns)
            found = ((obj or {}).get("status") or {}).get("conditions") or []
            return next((c for c in found if c["type"] == "Ready"), {})

        refused = await eventually(
            lambda: _when(source_ready(), "False"), 60, "the untrusted server refused"
        )
        assert "certificate" in refused["message"].lower(), refused
        await env.apply({"apiVersion": "v1", "kind": "ConfigMap",
                         "metadata": {"name": TLS_CERTS_CONFIGMAP, "namespace": CONTROL_NS},
                         "data": {"127.0.0.1": authority.certificate_pem}})  # fmt: skip
        await env.kube("annotate", "--overwrite", "-n", ns, "helmrepository/podinfo",
                       f"reconcile.fluxcd.io/requestedAt={uuid.uuid4().hex}")  # fmt: skip
        await eventually(lambda: _when(source_ready(), "True"), 60, "the repository trusted")
        await env.apply(helm_release("over-tls", ns, "6.14.1"))

        async def installed() -> bool:
            return (await condition(env, "over-tls", ns)).get("status") == "True"

        await eventually(installed, 120, "the release installed from the https repository")
    finally:
        await env.kube("delete", "configmap", TLS_CERTS_CONFIGMAP, "-n", CONTROL_NS, check=False)
        server.close()


async def _when(pending: Any, status: str) -> dict[str, Any] | None:
    found = await pending
    return found if found.get("status") == status else None
