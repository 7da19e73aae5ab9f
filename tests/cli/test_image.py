"""``tether image list|scan|policy`` against the real stack (API server, controller, local
cluster) and a real registry (Debian's docker-registry): scans the controller makes, a policy
that follows them, a scan asked for and waited on, a failing scan, an automation's pull
request in the listing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from tests.images.conftest import RunningRegistry, docker_registry, push_image
from tests.server import flux_objects as flux
from tether.localcluster.cluster import LocalCluster
from tether.localcluster.testing import eventually
from tether.names import FLUX_IMAGE_API_VERSION
from tether.server.settings import ServerSettings

from .stack import Env, clean_error, ok, running_env

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]

CONTROL_NS = "cli-images"
PULL_URL = "https://github.example/acme/k8s-manifests/pull/12"


@dataclass
class ImageEnv:
    env: Env
    registry: RunningRegistry

    @property
    def image(self) -> str:
        return f"{self.registry.host}/example/web"

    async def json(self, *args: str) -> Any:
        return json.loads(ok(await self.env.cli(*args, "-o", "json")))


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    with docker_registry(tmp_path_factory.mktemp("cli-registry")) as running:
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def images(
    local_cluster: LocalCluster,
    tmp_path_factory: pytest.TempPathFactory,
    registry: RunningRegistry,
) -> AsyncIterator[ImageEnv]:
    async with running_env(local_cluster, tmp_path_factory, CONTROL_NS, ServerSettings()) as env:
        yield ImageEnv(env, registry)


async def _apply(env: Env, *docs: dict[str, Any]) -> None:
    for doc in docs:
        await flux.put(env.controller.client, CONTROL_NS, doc, None)


def _scanned_repository(name: str, image: str) -> dict[str, Any]:
    return {
        "apiVersion": FLUX_IMAGE_API_VERSION,
        "kind": "ImageRepository",
        "metadata": {"name": name},
        # an hour: only the creation and the CLI's requests make the scans this test sees
        "spec": {"image": image, "interval": "1h", "insecure": True},
    }


def _followed_policy(name: str) -> dict[str, Any]:
    policy = flux.image_policy(name, name, ">=1.0.0")
    del policy["spec"]["suspend"]
    return policy


async def _policy(images: ImageEnv, name: str) -> dict[str, Any]:
    found: dict[str, Any] = await images.json("image", "policy", name)
    return found


async def test_scan_waits_for_the_new_tag_and_policy_shows_latest_and_previous(
    images: ImageEnv,
) -> None:
    push_image(images.registry, "example/web", ["1.0.0", "1.1.0"])
    await _apply(images.env, _scanned_repository("web", images.image), _followed_policy("web"))
    await eventually(
        lambda: _latest_is(images, "web", "1.1.0"), 60, "the first scan and evaluation"
    )

    push_image(images.registry, "example/web", ["1.2.0"])
    scanned = ok(await images.env.cli("image", "scan", "web", "--wait", "--timeout", "60"))
    assert scanned.startswith("ImageRepository 'web' scanned at ") and ": 3 tags" in scanned
    await eventually(lambda: _latest_is(images, "web", "1.2.0"), 60, "the policy at 1.2.0")

    policy = await _policy(images, "web")
    assert (policy["previousTag"], policy["tagCount"], policy["repository"]) == ("1.1.0", 3, "web")
    shown = ok(await images.env.cli("image", "policy", "web"))
    lines = dict(line.split(":", 1) for line in shown.splitlines())
    assert lines["Latest"].strip() == f"{images.image}:1.2.0"
    assert lines["Previous"].strip() == f"{images.image}:1.1.0"
    assert lines["Policy"].strip() == "semver >=1.0.0"
    assert (lines["Tags"].strip(), lines["Ready"].strip()) == ("3", "True Succeeded")
    assert "resolved to 1.2.0 (previously" in lines["Message"]


async def _latest_is(images: ImageEnv, name: str, tag: str) -> bool:
    result = await images.env.cli("image", "policy", name, "-o", "json")
    return result.exit_code == 0 and json.loads(result.output).get("latestTag") == tag


async def test_list_shows_each_kind_and_the_automations_pull_request(images: ImageEnv) -> None:
    client = images.env.controller.client
    image = "registry.example.com/team/api"
    await flux.put(client, CONTROL_NS, flux.image_repository("api", image), flux.scanned(["2.0"]))
    await flux.put(
        client, CONTROL_NS, flux.image_policy("api", "api"), flux.resolved(image, "2.0", "1.9")
    )
    automation = flux.image_update_automation("api", "Application", "api-production")
    await flux.put(client, CONTROL_NS, automation, flux.proposed(12, PULL_URL))

    table = ok(await images.env.cli("image", "list")).splitlines()
    assert table[0].split() == ["KIND", "NAME", "IMAGE/SOURCE", "LATEST", "READY", "MESSAGE"]
    rows = {tuple(line.split()[:2]): line for line in table[1:]}
    assert "1 tag " in rows[("ImageRepository", "api")]
    assert "True (suspended)" in rows[("ImageRepository", "api")]
    assert f"{image} " in rows[("ImagePolicy", "api")] and " 2.0 " in rows[("ImagePolicy", "api")]
    pull_row = rows[("ImageUpdateAutomation", "api")]
    assert "Application/api-production" in pull_row and "PR #12 (open)" in pull_row

    wide = ok(await images.env.cli("image", "list", "-o", "wide")).splitlines()
    assert "PULL REQUEST" in wide[0] and "PUSH BRANCH" in wide[0]
    assert any(PULL_URL in line and "tether/image-updates" in line for line in wide)

    listed = await images.json("image", "list")
    kinds = {(i["kind"], i["name"]) for i in listed}
    assert {
        ("ImageRepository", "api"),
        ("ImagePolicy", "api"),
        ("ImageUpdateAutomation", "api"),
    } <= kinds
    pull = next(i for i in listed if i["kind"] == "ImageUpdateAutomation")["pullRequest"]
    assert (pull["number"], pull["url"]) == (12, PULL_URL)


async def test_a_failing_scan_exits_1_with_its_reason(images: ImageEnv) -> None:
    # nothing listens on port 1: every scan fails, the request is still handled
    await _apply(images.env, _scanned_repository("down", "127.0.0.1:1/example/down"))
    requested = ok(await images.env.cli("image", "scan", "down"))
    assert requested.strip() == "scan of ImageRepository 'down' requested"
    failed = await images.env.cli("image", "scan", "down", "--wait", "--timeout", "60")
    line = clean_error(failed, "the scan failed: scan failed", code=1)
    assert "127.0.0.1:1" in line


async def test_missing_objects_are_one_error_line(images: ImageEnv) -> None:
    missing = await images.env.cli("image", "scan", "nothing")
    clean_error(missing, f"ImageRepository nothing not found in {CONTROL_NS}")
    clean_error(
        await images.env.cli("image", "policy", "nothing"), "no ImagePolicy named 'nothing'"
    )
    clean_error(await images.env.cli("image", "scan", "Bad_Name"), "is not valid")
