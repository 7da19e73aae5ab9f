"""Registry webhooks on the API server's ``/api/webhook``: Docker Hub, GHCR, Harbor and the
distribution registry, each verified by its secret in ``tether-secret``, each naming the
ImageRepositories it makes the controller scan. (A real docker-registry's notifications are in
tests/images/test_end_to_end.py.)"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from tests.images.test_events import (
    DOCKERHUB_TOKEN,
    EVENTS_TYPE,
    HARBOR_SECRET,
    dockerhub_payload,
    ghcr_payload,
    github_headers,
    harbor_payload,
)
from tests.server.conftest import CONTROL_NS, WEBHOOK_SECRET, Stack, eventually
from tether.names import FLUX_IMAGE_API_VERSION

ON_THE_STACK = pytest.mark.asyncio(loop_scope="session")
DISTRIBUTION_SECRET = "distribution-secret-for-the-stack"
#: ImageRepository name -> image; suspended, so nothing leaves this machine
REPOSITORIES = {
    "hub-payment": "docker.io/acme/payment-service",
    "ghcr-payment": "ghcr.io/octo-org/payment-service",
    "harbor-payment": "harbor.example.com/payments/payment-service",
    "private-payment": "registry.example.com:5000/payments/payment-service",
}


def _distribution_body() -> bytes:
    event = {
        "id": "e1",
        "timestamp": "2026-12-05T12:00:00Z",
        "action": "push",
        "target": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": "sha256:" + "a" * 64,
            "repository": "payments/payment-service",
            "url": "http://registry.example.com:5000/v2/payments/payment-service/manifests/1.5.0",
            "tag": "1.5.0",
        },
        "request": {"host": "registry.example.com:5000", "method": "PUT"},
    }
    return json.dumps({"events": [event]}).encode()


async def _repositories(stack: Stack) -> None:
    info = await stack.client.resource_for(FLUX_IMAGE_API_VERSION, "ImageRepository")
    for name, image in REPOSITORIES.items():
        body = {
            "apiVersion": FLUX_IMAGE_API_VERSION,
            "kind": "ImageRepository",
            "metadata": {"name": name, "namespace": CONTROL_NS},
            "spec": {"image": image, "interval": "1h", "suspend": True},
        }
        await stack.client.apply(info, body, field_manager="tests", force=True)


async def _patch_secret(stack: Stack, data: dict[str, Any]) -> None:
    await stack.kubectl(
        "-n", CONTROL_NS, "patch", "secret", "tether-secret", "--type", "merge",
        "-p", orjson.dumps(data).decode(),
    )  # fmt: skip


@ON_THE_STACK
async def test_registry_webhooks_are_refused_without_their_secret(stack: Stack) -> None:
    async with stack.http(None) as anonymous:
        answer = await anonymous.post(
            "/api/webhook", content=harbor_payload(), params={"registry": "harbor"}
        )
        assert answer.status_code == 403, answer.text
        message = answer.json()["error"]
        assert "the key webhook.registry.harbor.secret" in message
        assert f"kubectl -n {CONTROL_NS} patch secret tether-secret" in message
        answer = await anonymous.post(
            "/api/webhook",
            content=_distribution_body(),
            headers={"Content-Type": EVENTS_TYPE, "Authorization": "Bearer x"},
        )
        assert answer.status_code == 403, answer.text
        assert "webhook.registry.distribution.secret" in answer.json()["error"]


@ON_THE_STACK
async def test_each_registry_scans_the_repositories_of_its_push(stack: Stack) -> None:
    await _repositories(stack)
    secrets = {
        "webhook.registry.harbor.secret": HARBOR_SECRET,
        "webhook.registry.dockerhub.secret": DOCKERHUB_TOKEN,
        "webhook.registry.distribution.secret": DISTRIBUTION_SECRET,
    }
    await _patch_secret(stack, {"stringData": secrets})
    ghcr = ghcr_payload()
    requests: dict[str, dict[str, Any]] = {
        "hub-payment": {
            "content": dockerhub_payload(),
            "params": {"registry": "dockerhub", "token": DOCKERHUB_TOKEN},
        },
        # GHCR's package events come with the GitHub webhook's secret
        "ghcr-payment": {
            "content": ghcr,
            "headers": github_headers("package", ghcr, secret=WEBHOOK_SECRET),
        },
        "harbor-payment": {
            "content": harbor_payload(),
            "params": {"registry": "harbor"},
            "headers": {"Authorization": HARBOR_SECRET},
        },
        "private-payment": {
            "content": _distribution_body(),
            "headers": {
                "Content-Type": EVENTS_TYPE,
                "Authorization": f"Bearer {DISTRIBUTION_SECRET}",
            },
        },
    }
    try:
        async with stack.http(None) as anonymous:
            for name, request in requests.items():

                async def scanned(request: dict[str, Any] = request) -> Any:
                    answer = await anonymous.post("/api/webhook", **request)
                    # tether-secret is read again after a short cache time
                    return answer.json() if answer.status_code == 200 else None

                answer = await eventually(scanned, timeout=30, what=f"the webhook for {name}")
                assert answer["scanned"] == [name], answer
                assert any("payment-service" in image for image in answer["images"])
            # a wrong secret is a 401, and scans nothing
            wrong = await anonymous.post(
                "/api/webhook",
                content=harbor_payload(),
                params={"registry": "harbor"},
                headers={"Authorization": "not-the-secret"},
            )
            assert wrong.status_code == 401, wrong.text
            assert HARBOR_SECRET not in wrong.text
    finally:
        await _patch_secret(stack, {"data": dict.fromkeys(secrets)})
