"""Fixtures of the image tests: the image of HEAD built once, a registry on loopback, the image
pushed there and pulled back, and its root file system unpacked for runc.

The build is cached under ``build/image-cache/<commit>`` (a lock file lets two xdist workers share
one build; older commits' builds are removed), so a second run of the suite on the same commit
does not rebuild. Every suite here is slow: the first build downloads Debian's packages.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.image.runc import unpack
from tether.images.testing import docker_registry
from tether.images.testing import free_port as free_port

PROJECT_ROOT = Path(__file__).resolve().parents[2]
IMAGE_CACHE = PROJECT_ROOT / "build" / "image-cache"
#: one build takes 2-4 minutes (Debian's mirror sets the pace); past this it is stuck
BUILD_TIMEOUT = 900
IMAGE_TOOLS = ("mmdebstrap", "umoci", "skopeo", "runc", "docker-registry")
REPOSITORY = "tether"


@dataclass(frozen=True)
class BuiltImage:
    """An OCI layout written by the image builder and its report."""

    output: Path
    report: dict[str, Any]

    @property
    def tag(self) -> str:
        return str(self.report["version"])

    @property
    def ref(self) -> str:
        """``layout:tag`` for umoci and skopeo's ``oci:`` transport."""
        return f"{self.output / 'tether'}:{self.tag}"

    @property
    def digest(self) -> str:
        return str(self.report["digest"])


def head_commit() -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def build_image(commit: str, output: Path) -> BuiltImage:
    """Run ``python -m image.build`` for ``commit`` into ``output``; a failure shows its output.

    A build past BUILD_TIMEOUT is killed with everything it started (mmdebstrap, apt, dpkg)."""
    output.mkdir(parents=True, exist_ok=True)
    with (output / "test-build.log").open("w+") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "image.build", "--commit", commit, "--output", str(output)],
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            code = process.wait(timeout=BUILD_TIMEOUT)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.seek(0)
        assert code == 0, f"image build failed:\n{log.read()}"
    return BuiltImage(output, json.loads((output / "report.json").read_text()))


@pytest.fixture(scope="session")
def built_image() -> BuiltImage:
    """The image of HEAD, built once per commit and shared by the session's workers."""
    missing = [tool for tool in IMAGE_TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: run 'make image-packages'")
    commit = head_commit()
    IMAGE_CACHE.mkdir(parents=True, exist_ok=True)
    with (IMAGE_CACHE / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        output = IMAGE_CACHE / commit
        if (output / "report.json").is_file():
            return BuiltImage(output, json.loads((output / "report.json").read_text()))
        for stale in IMAGE_CACHE.iterdir():
            if stale.is_dir():
                shutil.rmtree(stale)
        return build_image(commit, output)


@dataclass(frozen=True)
class Registry:
    """A docker-registry (distribution v2.8) serving plain HTTP on loopback."""

    address: str

    def url(self, path: str) -> str:
        return f"http://{self.address}{path}"

    def ref(self, tag: str) -> str:
        """``docker://`` reference of the image repository at ``tag``."""
        return f"docker://{self.address}/{REPOSITORY}:{tag}"


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """Debian's docker-registry on a free loopback port, stopped after the session."""
    with docker_registry(tmp_path_factory.mktemp("registry")) as running:
        yield Registry(running.host)


def skopeo_copy(source: str, destination: str) -> None:
    """``skopeo copy`` keeping the manifest byte for byte (so its digest stays)."""
    result = subprocess.run(
        [
            "skopeo",
            "copy",
            "--quiet",
            "--preserve-digests",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            source,
            destination,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"skopeo copy {source} {destination}: {result.stderr}"


@dataclass(frozen=True)
class PulledImage:
    """The image after a round trip through the registry, and where it was pushed."""

    built: BuiltImage
    registry: Registry
    layout: Path

    @property
    def ref(self) -> str:
        return f"{self.layout}:{self.built.tag}"

    @property
    def remote(self) -> str:
        """The image as a Deployment names it."""
        return f"{self.registry.address}/{REPOSITORY}:{self.built.tag}"


@pytest.fixture(scope="session")
def pulled_image(
    built_image: BuiltImage, registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> PulledImage:
    """The built image pushed to the registry with skopeo, then copied back into a new layout."""
    skopeo_copy(f"oci:{built_image.ref}", registry.ref(built_image.tag))
    layout = tmp_path_factory.mktemp("pulled") / "tether"
    skopeo_copy(registry.ref(built_image.tag), f"oci:{layout}:{built_image.tag}")
    return PulledImage(built_image, registry, layout)


@dataclass(frozen=True)
class UnpackedImage:
    """The pulled image's root file system and the runc configuration umoci generated."""

    rootfs: Path
    config: dict[str, Any]
    entrypoint: list[str]


@pytest.fixture(scope="session")
def unpacked_image(
    pulled_image: PulledImage, tmp_path_factory: pytest.TempPathFactory
) -> UnpackedImage:
    """One unpacked root file system, shared read-only by every container of the session."""
    bundle = tmp_path_factory.mktemp("bundle")
    shutil.rmtree(bundle)
    config = unpack(pulled_image.ref, bundle)
    config["root"]["path"] = str(bundle / "rootfs")
    image_config = image_configuration(pulled_image.layout, pulled_image.built.digest)
    return UnpackedImage(bundle / "rootfs", config, list(image_config["config"]["Entrypoint"]))


def read_blob(layout: Path, digest: str) -> Any:
    algorithm, _, value = digest.partition(":")
    return json.loads((layout / "blobs" / algorithm / value).read_text())


def image_configuration(layout: Path, manifest_digest: str) -> dict[str, Any]:
    """The OCI image configuration the manifest ``manifest_digest`` of ``layout`` names."""
    manifest = read_blob(layout, manifest_digest)
    config: dict[str, Any] = read_blob(layout, manifest["config"]["digest"])
    return config
