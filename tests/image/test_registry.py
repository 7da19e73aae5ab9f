"""The image pushed with skopeo into a real registry (Debian's docker-registry) and read back."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.image.conftest import REPOSITORY, PulledImage

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def test_registry_lists_the_pushed_tag(pulled_image: PulledImage) -> None:
    answer = httpx.get(pulled_image.registry.url(f"/v2/{REPOSITORY}/tags/list"), timeout=10)
    assert answer.status_code == 200
    assert answer.json() == {"name": REPOSITORY, "tags": [pulled_image.built.tag]}


def test_registry_serves_the_built_manifest_digest(pulled_image: PulledImage) -> None:
    answer = httpx.get(
        pulled_image.registry.url(f"/v2/{REPOSITORY}/manifests/{pulled_image.built.tag}"),
        headers={"Accept": OCI_MANIFEST},
        timeout=10,
    )
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == OCI_MANIFEST
    assert answer.headers["Docker-Content-Digest"] == pulled_image.built.digest
    layers = [layer["digest"] for layer in answer.json()["layers"]]
    assert layers == [layer["digest"] for layer in pulled_image.built.report["layers"]]


def test_pulled_image_is_the_built_one(pulled_image: PulledImage) -> None:
    index = json.loads((pulled_image.layout / "index.json").read_text())
    digests = [entry["digest"] for entry in index["manifests"]]
    assert digests == [pulled_image.built.digest]
