"""Real registries and image-automation data for tests and benchmarks (as
``tether.localcluster.testing`` is for the cluster): Debian's ``docker-registry`` on loopback,
small images pushed through the distribution API, and the demo layout whose production overlay
carries Flux's setter marker.

Nothing here runs in the controller; it lives in the package so that tests and ``bench/`` share
one copy (benches never import tests).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
#: the config and layer every pushed image shares (each tag's manifest differs by an annotation)
BLOBS: tuple[tuple[str, bytes], ...] = (
    ("application/vnd.oci.image.config.v1+json", b'{"architecture":"amd64","os":"linux"}'),
    ("application/vnd.oci.image.layer.v1.tar", b"layer"),
)
#: the production overlay of the demo layout, with its setter marker
OVERLAY = "apps/payment-service/production/kustomization.yaml"


class RegistryError(RuntimeError):
    """docker-registry is missing, did not start, or refused a push."""


@dataclass(frozen=True)
class RunningRegistry:
    """A docker-registry process on 127.0.0.1; ``host`` is what an image reference names."""

    host: str
    scheme: str
    process: subprocess.Popen[bytes]

    def url(self, path: str) -> str:
        return f"{self.scheme}://{self.host}{path}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(registry: RunningRegistry, verify: ssl.SSLContext | bool) -> bool:
    if registry.process.poll() is not None:
        raise RegistryError(f"docker-registry exited with {registry.process.returncode}")
    try:
        return httpx.get(registry.url("/v2/"), timeout=2, verify=verify).status_code in (200, 401)
    except httpx.TransportError:
        return False


@contextmanager
def docker_registry(
    root: Path,
    auth: dict[str, Any] | None = None,
    tls: tuple[Path, Path, Path] | None = None,
    *,
    notifications: dict[str, Any] | None = None,
    port: int | None = None,
    startup_timeout: float = 30.0,
) -> Iterator[RunningRegistry]:
    """docker-registry serving ``root/data`` on ``port`` (a free one by default); ``auth`` is
    its config section of that name, ``tls`` (certificate, key, CA), ``notifications`` the
    endpoints it posts its events to."""
    if shutil.which("docker-registry") is None:
        raise RegistryError("docker-registry is not installed (`make image-packages` installs it)")
    root.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    http: dict[str, Any] = {"addr": f"127.0.0.1:{port}"}
    if tls is not None:
        http["tls"] = {"certificate": str(tls[0]), "key": str(tls[1])}
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "warn"},
        "storage": {"filesystem": {"rootdirectory": str(root / "data")}},
        "http": http,
    }
    if auth is not None:
        config["auth"] = auth
    if notifications is not None:
        config["notifications"] = notifications
    (root / "config.yml").write_text(yaml.safe_dump(config))
    with (root / "registry.log").open("ab") as log:
        process = subprocess.Popen(
            ["docker-registry", "serve", str(root / "config.yml")],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    registry = RunningRegistry(f"127.0.0.1:{port}", "https" if tls else "http", process)
    try:
        verify = ssl.create_default_context(cafile=str(tls[2])) if tls else True
        deadline = time.monotonic() + startup_timeout
        while not _answers(registry, verify):
            if time.monotonic() > deadline:
                raise RegistryError(f"docker-registry did not answer in {startup_timeout:.0f} s")
            time.sleep(0.05)
        yield registry
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def blob_descriptor(media_type: str, blob: bytes) -> dict[str, Any]:
    return {
        "mediaType": media_type,
        "digest": "sha256:" + hashlib.sha256(blob).hexdigest(),
        "size": len(blob),
    }


def manifest_of(tag: str, descriptors: Sequence[dict[str, Any]]) -> bytes:
    """The OCI manifest of ``tag`` over the shared blobs (unique per tag by an annotation)."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptors[0],
        "layers": list(descriptors[1:]),
        "annotations": {"org.example.tag": tag},
    }
    return json.dumps(manifest).encode()


def upload_blobs(
    http: httpx.Client,
    registry: RunningRegistry,
    repository: str,
    blobs: Sequence[tuple[str, bytes]] = BLOBS,
) -> list[dict]:
    """Upload ``blobs`` (media type, content; the shared ones by default) to ``repository``;
    their descriptors."""
    descriptors = []
    for media_type, blob in blobs:
        descriptor = blob_descriptor(media_type, blob)
        started = http.post(registry.url(f"/v2/{repository}/blobs/uploads/"))
        if started.status_code != 202:
            raise RegistryError(f"blob upload refused ({started.status_code}): {started.text}")
        location = str(httpx.URL(registry.url("/")).join(started.headers["location"]))
        # appended as text: re-encoding the opaque `_state` parameter would break it
        separator = "&" if "?" in location else "?"
        done = http.put(f"{location}{separator}digest={descriptor['digest']}", content=blob)
        if done.status_code != 201:
            raise RegistryError(f"blob upload failed ({done.status_code}): {done.text}")
        descriptors.append(descriptor)
    return descriptors


def put_manifest(
    http: httpx.Client,
    registry: RunningRegistry,
    repository: str,
    tag: str,
    manifest: dict[str, Any] | bytes,
    media_type: str = OCI_MANIFEST,
) -> str:
    """PUT a manifest; the digest the registry reports (checked against the body's)."""
    body = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
    answer = http.put(
        registry.url(f"/v2/{repository}/manifests/{tag}"),
        content=body,
        headers={"Content-Type": media_type},
    )
    if answer.status_code != 201:
        raise RegistryError(f"manifest PUT refused ({answer.status_code}): {answer.text}")
    digest = str(answer.headers["docker-content-digest"])
    if digest != "sha256:" + hashlib.sha256(body).hexdigest():
        raise RegistryError(f"the registry reports digest {digest} for another body")
    return digest


def push_image(
    registry: RunningRegistry,
    repository: str,
    tags: list[str],
    headers: dict[str, str] | None = None,
    verify: ssl.SSLContext | bool = True,
) -> dict[str, str]:
    """Push one small image per tag through the distribution API; each tag's digest."""
    with httpx.Client(headers=headers or {}, verify=verify, timeout=10) as http:
        descriptors = upload_blobs(http, registry, repository)
        return {
            tag: put_manifest(http, registry, repository, tag, manifest_of(tag, descriptors))
            for tag in tags
        }


def payment_service_files(image: str, namespace: str, overlay: str = OVERLAY) -> dict[str, str]:
    """The demo layout for ``image`` at 1.4.0: a Kustomize base and a production overlay whose
    ``newTag`` carries Flux's setter marker (policy ``<namespace>:payment-service``), with
    comments around it."""
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "payment-service", "labels": {"app": "payment-service"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "payment-service"}},
            "template": {
                "metadata": {"labels": {"app": "payment-service"}},
                "spec": {"containers": [{"name": "payment-service", "image": f"{image}:1.4.0"}]},
            },
        },
    }
    return {
        "apps/payment-service/base/deployment.yaml": yaml.safe_dump(deployment, sort_keys=False),
        "apps/payment-service/base/kustomization.yaml": "resources:\n  - deployment.yaml\n",
        overlay: (
            "# Production: reviewed by the payments team.\n"
            "apiVersion: kustomize.config.k8s.io/v1beta1\n"
            "kind: Kustomization\n"
            "resources:\n"
            "  - ../base\n"
            "images:\n"
            f"  - name: {image}\n"
            f'    newTag: 1.4.0 # {{"$imagepolicy": "{namespace}:payment-service:tag"}}\n'
            "# keep this comment\n"
        ),
    }


def payment_service_objects(
    image: str,
    namespace: str,
    *,
    repo_url: str,
    api_url: str,
    interval: str = "1h",
    semver: str = "1.x",
    push_branch: str = "tether/image-updates",
) -> list[dict[str, Any]]:
    """The Application deploying the production overlay of :func:`payment_service_files`, and
    Flux's three image kinds for it with Tether's pull-request annotations (the token in the
    Secret ``github-token``, the fake GitHub's API at ``api_url``)."""
    application = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "payment-service-production", "namespace": namespace},
        "spec": {
            "project": "default",
            "source": {
                "repoURL": repo_url,
                "targetRevision": "main",
                "path": OVERLAY.rpartition("/")[0],
            },
            "destination": {
                "server": "https://kubernetes.default.svc",
                "namespace": "payment-service-production",
            },
            "syncPolicy": {"automated": {"prune": True}, "syncOptions": ["CreateNamespace=true"]},
        },
    }
    flux = "image.toolkit.fluxcd.io/v1"
    meta = {"name": "payment-service", "namespace": namespace}
    repository = {
        "apiVersion": flux,
        "kind": "ImageRepository",
        "metadata": dict(meta),
        "spec": {"image": image, "interval": interval, "insecure": True},
    }
    policy = {
        "apiVersion": flux,
        "kind": "ImagePolicy",
        "metadata": dict(meta),
        "spec": {
            "imageRepositoryRef": {"name": "payment-service"},
            "policy": {"semver": {"range": semver}},
        },
    }
    annotations = {
        "images.tether.io/pull-request": "github",
        "images.tether.io/pull-request-secret": "github-token",
        "images.tether.io/pull-request-api-url": api_url,
    }
    automation = {
        "apiVersion": flux,
        "kind": "ImageUpdateAutomation",
        "metadata": {**meta, "annotations": annotations},
        "spec": {
            "interval": "30m",
            "sourceRef": {"kind": "Application", "name": "payment-service-production"},
            "git": {
                "checkout": {"ref": {"branch": "main"}},
                "commit": {"author": {"name": "Tether", "email": "tether@example.com"}},
                "push": {"branch": push_branch},
            },
            "update": {"path": "apps/payment-service", "strategy": "Setters"},
        },
    }
    return [application, repository, policy, automation]
