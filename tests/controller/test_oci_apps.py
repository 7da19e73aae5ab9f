"""Applications from an OCI registry, on the real stack: Debian's docker-registry on loopback, a
chart pushed with the pinned `helm push`, and an artifact of plain manifests pushed through the
distribution API; the registry's Secret (a repo-creds template) says to speak plain http."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.charts.ociregistry import (
    TAR_GZIP,
    Registry,
    helm_push,
    manifests_tree,
    push_artifact,
    tar_of,
)
from tests.charts.servers import package
from tests.controller.stack import CONTROL_NS, Env, synced_healthy
from tether.images.dockerconfig import parse_repository
from tether.images.events import PushedImage, RegistryEvent
from tether.images.testing import docker_registry
from tether.localcluster.testing import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    root = tmp_path_factory.mktemp("oci-apps")
    with docker_registry(root) as running:
        found = Registry(running, root, {})
        charts = root / "packaged"
        package({"web": ["1.0.0", "1.1.0", "2.0.0"]}, charts, root / "home")
        for archive in sorted(charts.glob("web-*.tgz")):
            helm_push(found, archive, "charts", root / "home")
        yield found


async def registry_secret(env: Env, registry: Registry) -> None:
    """A repo-creds template for every repository of the registry: plain http (loopback)."""
    await env.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": f"oci-{registry.host.rsplit(':', 1)[-1]}",
                "namespace": CONTROL_NS,
                "labels": {"argocd.argoproj.io/secret-type": "repo-creds"},
            },
            "stringData": {
                "type": "helm",
                "url": registry.url(),
                "insecureOCIForceHttp": "true",
            },
        }
    )


async def live_data(env: Env, kind_name: tuple[str, str], ns: str) -> dict[str, str] | None:
    live = await env.live(kind_name[0], kind_name[1], ns)
    return None if live is None else dict(live.get("data") or {})


async def test_a_chart_from_an_oci_registry_deploys_the_newest_tag_in_range(
    env: Env, registry: Registry
) -> None:
    await registry_secret(env, registry)
    name = f"oci-chart-{uuid.uuid4().hex[:6]}"
    await env.kube("create", "namespace", name)
    source = {"repoURL": registry.url("charts"), "chart": "web", "targetRevision": "1.*"}
    await env.application(name, source["repoURL"], name, **{"spec.source": source})
    await eventually(lambda: synced_healthy(env, name, "1.1.0"), 60, "web 1.1.0 deployed")
    data = await live_data(env, ("ConfigMap", f"{name}-web"), name)
    assert data is not None and data["version"] == "1.1.0"


async def test_an_oci_artifact_of_plain_manifests_deploys_at_its_digest(
    env: Env, registry: Registry, tmp_path: Path
) -> None:
    await registry_secret(env, registry)
    digest = push_artifact(registry, "manifests", "v1", [(TAR_GZIP, tar_of(manifests_tree()))])
    name = f"oci-plain-{uuid.uuid4().hex[:6]}"
    await env.kube("create", "namespace", name)
    source = {"repoURL": registry.url("manifests"), "targetRevision": "v1", "path": "overlay"}
    await env.application(name, source["repoURL"], name, **{"spec.source": source})
    await eventually(lambda: synced_healthy(env, name, digest), 60, "the artifact deployed")
    data = await live_data(env, ("ConfigMap", "prod-from-oci"), name)
    assert data == {"answer": "42"}

    # the tag moves: a hard refresh deploys the new manifest at once
    files = manifests_tree()
    files["./overlay/configmap.yaml"] = files["./overlay/configmap.yaml"].replace(b"42", b"43")
    moved = push_artifact(registry, "manifests", "v1", [(TAR_GZIP, tar_of(files))])
    await env.controller.refresh(name, hard=True)
    await eventually(lambda: synced_healthy(env, name, moved), 60, "the moved tag deployed")
    assert await live_data(env, ("ConfigMap", "prod-from-oci"), name) == {"answer": "43"}

    # and so does the registry's push notification (what /api/webhook passes on)
    files["./overlay/configmap.yaml"] = files["./overlay/configmap.yaml"].replace(b"43", b"44")
    pushed = push_artifact(registry, "manifests", "v1", [(TAR_GZIP, tar_of(files))])
    image = PushedImage(parse_repository(f"{registry.host}/manifests"), tag="v1")
    await env.controller.on_registry_event(RegistryEvent("distribution", (image,)))
    await eventually(lambda: synced_healthy(env, name, pushed), 60, "the pushed tag deployed")
    assert await live_data(env, ("ConfigMap", "prod-from-oci"), name) == {"answer": "44"}
