"""OCI registries for the chart tests: Debian's docker-registry on loopback (anonymous and with
htpasswd), charts pushed with the pinned `helm push`, and artifacts of plain manifests pushed
through the distribution API, as `oras push` lays them out."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.charts.servers import chart_files, run_helm, write_chart
from tests.images.conftest import PASSWORD, PASSWORD_BCRYPT, USERNAME, basic_header
from tether.images.testing import (
    OCI_MANIFEST,
    RunningRegistry,
    docker_registry,
    put_manifest,
    upload_blobs,
)
from tether.source.credentials import RepoCredentials

OCI_EMPTY_CONFIG = ("application/vnd.oci.empty.v1+json", b"{}")
TAR_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
TAR = "application/vnd.oci.image.layer.v1.tar"
ARGOCD_CONTENT = "application/vnd.cncf.argoproj.argocd.content.v1.tar+gzip"

#: the ConfigMap of the plain-manifest artifacts
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-oci\ndata:\n  answer: '42'\n"


@dataclass(frozen=True)
class Registry:
    """A docker-registry on loopback: `root` holds its storage (`root/data`)."""

    running: RunningRegistry
    root: Path
    headers: dict[str, str]

    @property
    def host(self) -> str:
        return self.running.host

    def url(self, path: str = "") -> str:
        """`oci://host/path`, as a repoURL names a repository of this registry."""
        return f"oci://{self.host}/{path}".rstrip("/")

    def blob_file(self, digest: str) -> Path:
        """Where the registry keeps a blob (to tamper with it)."""
        hex_digest = digest.removeprefix("sha256:")
        blobs = self.root / "data/docker/registry/v2/blobs/sha256"
        return blobs / hex_digest[:2] / hex_digest / "data"


@pytest.fixture(scope="session")
def open_oci(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """An anonymous docker-registry over plain http."""
    root = tmp_path_factory.mktemp("open-oci")
    with docker_registry(root) as running:
        yield Registry(running, root, {})


@pytest.fixture(scope="session")
def basic_oci(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A docker-registry over plain http that wants USERNAME/PASSWORD (htpasswd)."""
    root = tmp_path_factory.mktemp("basic-oci")
    (root / "htpasswd").write_text(f"{USERNAME}:{PASSWORD_BCRYPT}\n")
    auth = {"htpasswd": {"realm": "tether-test", "path": str(root / "htpasswd")}}
    with docker_registry(root, auth) as running:
        yield Registry(running, root, basic_header())


def login(password: str = PASSWORD, insecure: bool = False) -> RepoCredentials:
    """The repository Secret of the basic registry, as `select_credentials` reads it."""
    return RepoCredentials(
        url="oci://127.0.0.1", username=USERNAME, password=password, type="oci", insecure=insecure
    )


# --- charts -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def helm_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("oci-helm-home")


@pytest.fixture(scope="session")
def pushed(packaged: Path, open_oci: Registry, basic_oci: Registry, helm_home: Path) -> Path:
    """Every packaged version of `web` in `charts/` of the open registry, `stamped
    3.1.0+build.7` beside it, and `web 1.0.0` in `private/` of the basic-auth one."""
    for archive in sorted(packaged.glob("web-*.tgz")):
        helm_push(open_oci, archive, "charts", helm_home)
    stamped = package_chart(helm_home / "stamped", "stamped", "3.1.0+build.7")
    helm_push(open_oci, stamped, "charts", helm_home)
    helm_push(basic_oci, packaged / "web-1.0.0.tgz", "private", helm_home)
    return helm_home


def package_chart(
    folder: Path, name: str, version: str, extra: dict[str, str] | None = None
) -> Path:
    """`helm package` one chart (the test chart's files, plus `extra`); the archive."""
    source = write_chart(folder / "src" / name, {**chart_files(name, version), **(extra or {})})
    out = folder / "out"
    out.mkdir(parents=True, exist_ok=True)
    run_helm("package", str(source), "-d", str(out), home=folder / "helm-home")
    return out / f"{name}-{version}.tgz"


def helm_push(registry: Registry, archive: Path, path: str, home: Path) -> None:
    """`helm push ARCHIVE oci://host/path --plain-http` (with the login when it wants one)."""
    login_args: list[str] = []
    if registry.headers:
        login_args = ["--username", USERNAME, "--password", PASSWORD]
    run_helm("push", str(archive), registry.url(path), "--plain-http", *login_args, home=home)


# --- plain manifests ----------------------------------------------------------------------------


def tar_of(files: dict[str, bytes], gzipped: bool = True) -> bytes:
    """A tar (gzip-compressed by default) of these files, paths as given."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if gzipped else "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def tar_with(members: list[tarfile.TarInfo]) -> bytes:
    """A tar+gzip of exactly these members (links and odd paths included)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for info in members:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return buffer.getvalue()


def push_artifact(
    registry: Registry,
    repository: str,
    tag: str,
    layers: Sequence[tuple[str, bytes]],
    *,
    config: tuple[str, bytes] = OCI_EMPTY_CONFIG,
    annotations: dict[str, str] | None = None,
) -> str:
    """Push an artifact (a config and `layers`, media type and bytes) under `tag` through the
    distribution API; the manifest's digest."""
    with httpx.Client(headers=registry.headers, timeout=10) as http:
        descriptors = upload_blobs(http, registry.running, repository, [config, *layers])
        manifest: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptors[0],
            "layers": descriptors[1:],
            "annotations": annotations or {},
        }
        return put_manifest(http, registry.running, repository, tag, json.dumps(manifest).encode())


def manifests_tree() -> dict[str, bytes]:
    """A folder of plain manifests as `oras push REF .` packs it (`./` paths): a ConfigMap at
    its root and a Kustomize overlay of its own in `overlay/`."""
    return {
        "./configmap.yaml": CONFIGMAP.encode(),
        "./overlay/kustomization.yaml": b"namePrefix: prod-\nresources:\n  - configmap.yaml\n",
        "./overlay/configmap.yaml": CONFIGMAP.encode(),
    }


FLUX_CONTENT = "application/vnd.cncf.flux.content.v1.tar+gzip"
FLUX_CONFIG = "application/vnd.cncf.flux.config.v1+json"


def push_flux_artifact(
    http: httpx.Client,
    registry: RunningRegistry,
    repository: str,
    tag: str,
    files: dict[str, bytes],
) -> str:
    """`files` pushed under `tag` as `flux push artifact` lays them out (Flux's config and one
    content layer, a tar+gzip); the manifest's digest."""
    blobs = upload_blobs(http, registry, repository,
                         [(FLUX_CONFIG, b"{}"), (FLUX_CONTENT, tar_of(files))])  # fmt: skip
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": blobs[0],
                "layers": blobs[1:]}  # fmt: skip
    return put_manifest(http, registry, repository, tag, json.dumps(manifest).encode())
