"""``/api/v1/images`` and ``/api/v1/applications/{name}/images`` on the real stack: Flux's image
objects (written with their statuses, `tests.server.flux_objects`) summarised, reconcile requests
through Flux's annotation, RBAC on the ``images`` resource, and missing CRDs as a note."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from tests.server import flux_objects as flux
from tests.server.conftest import CONTROL_NS, Stack, eventually, in_process_api
from tether.cluster.crds import wait_established
from tether.cluster.errors import UnknownKind
from tether.localcluster.testing import crd_manifest
from tether.names import FLUX_IMAGE_GROUP, FLUX_RECONCILE_REQUEST_ANNOTATION
from tether.server.images import NOT_INSTALLED
from tether.server.settings import ServerSettings

pytestmark = pytest.mark.asyncio(loop_scope="session")

PAYMENT = "ghcr.io/example/payment-service"
PULL_URL = "https://github.example/acme/k8s-manifests/pull/7"
SOURCE_GROUP = "source.toolkit.fluxcd.io"


def _uid() -> str:
    return uuid.uuid4().hex[:6]


async def _secret(stack: Stack, name: str, value: str) -> None:
    info = await stack.client.resource_for("v1", "Secret")
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": CONTROL_NS},
        "data": {"token": base64.b64encode(value.encode()).decode()},
    }
    await stack.client.apply(info, body, CONTROL_NS, field_manager="tests", force=True)


async def _listing(stack: Stack, user: str = "admin") -> dict[str, Any]:
    async with stack.http(user) as http:
        answer = await http.get("/api/v1/images")
    assert answer.status_code == 200, answer.text
    listing: dict[str, Any] = answer.json()
    return listing


def _item(listing: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    found = [i for i in listing["items"] if i["kind"] == kind and i["name"] == name]
    assert len(found) == 1, listing
    return found[0]


async def test_the_listing_summarises_each_kind_and_names_secrets_only(stack: Stack) -> None:
    uid = _uid()
    image = f"registry.example.com/team/svc-{uid}"
    token = f"ghp_never_shown_{uid}"
    await _secret(stack, f"registry-{uid}", token)
    await _secret(stack, f"github-{uid}", token)
    repo, policy, automation = f"svc-{uid}", f"svc-{uid}", f"svc-{uid}"
    await flux.put(
        stack.client,
        CONTROL_NS,
        flux.image_repository(repo, image, secret=f"registry-{uid}"),
        flux.scanned(["1.2.0", "1.1.0", "1.0.0"]),
    )
    await flux.put(
        stack.client,
        CONTROL_NS,
        flux.image_policy(policy, repo),
        flux.resolved(image, "1.2.0", "1.1.0"),
    )
    notes = {
        "images.tether.io/pull-request": "github",
        "images.tether.io/pull-request-secret": f"github-{uid}",
    }
    await flux.put(
        stack.client,
        CONTROL_NS,
        flux.image_update_automation(automation, "Application", f"app-{uid}", notes),
        flux.proposed(7, PULL_URL, "abcdef1" + "0" * 33),
    )
    listing = await _listing(stack, "alice")  # role:readonly reads images
    assert listing["notes"] == []
    repository = _item(listing, "ImageRepository", repo)
    assert repository["image"] == image and repository["secretRef"] == f"registry-{uid}"
    assert (repository["tagCount"], repository["lastScanTime"]) == (3, flux.SCAN_TIME)
    assert repository["ready"] == {
        "status": "True",
        "reason": "Succeeded",
        "message": "successful scan: found 3 tags",
    }
    assert repository["suspended"] is True
    chosen = _item(listing, "ImagePolicy", policy)
    assert (chosen["latestTag"], chosen["previousTag"]) == ("1.2.0", "1.1.0")
    assert (chosen["repository"], chosen["image"], chosen["tagCount"]) == (repo, image, 3)
    assert chosen["policy"] == {"semver": {"range": "1.x"}}
    run = _item(listing, "ImageUpdateAutomation", automation)
    assert run["source"] == {"kind": "Application", "namespace": CONTROL_NS, "name": f"app-{uid}"}
    assert (run["pushBranch"], run["checkoutBranch"]) == ("tether/image-updates", "main")
    assert run["lastPushCommit"].startswith("abcdef1") and policy in run["policies"]
    assert run["pullRequest"]["number"] == 7 and run["pullRequest"]["url"] == PULL_URL
    # summaries, not objects: no annotations, no Secret data
    text = str(listing)
    assert token not in text and "annotations" not in text and "pull-request-secret" not in text
    assert [i["kind"] for i in listing["items"]] == sorted(
        (i["kind"] for i in listing["items"]),
        key=["ImageRepository", "ImagePolicy", "ImageUpdateAutomation"].index,
    )


async def test_a_reconcile_request_writes_fluxs_annotation_and_the_controller_handles_it(
    stack: Stack,
) -> None:
    name = f"scan-{_uid()}"
    await flux.put(
        stack.client,
        CONTROL_NS,
        flux.image_repository(name, f"registry.example.com/team/{name}"),
        flux.scanned(["1.0.0"]),
    )
    async with stack.http("admin") as http:
        answer = await http.post(f"/api/v1/images/repositories/{name}/reconcile")
    assert answer.status_code == 200, answer.text
    requested = answer.json()["requestedAt"]
    assert answer.json() == {"kind": "ImageRepository", "name": name, "requestedAt": requested}
    obj = await flux.get(stack.client, CONTROL_NS, "ImageRepository", name)
    assert obj["metadata"]["annotations"][FLUX_RECONCILE_REQUEST_ANNOTATION] == requested

    async def handled() -> bool:
        listing = await _listing(stack)
        item = _item(listing, "ImageRepository", name)
        return bool(item["lastHandledReconcileAt"] == requested)

    await eventually(handled, what="the controller's image loop handles the request")


async def test_reconcile_of_a_missing_object_is_404_and_of_an_unknown_kind_400(
    stack: Stack,
) -> None:
    async with stack.http("admin") as http:
        for kind in ("repositories", "policies", "automations"):
            missing = await http.post(f"/api/v1/images/{kind}/nothing-{_uid()}/reconcile")
            assert missing.status_code == 404, missing.text
            assert "not found in srv-argocd" in missing.json()["error"]
        wrong = await http.post("/api/v1/images/buckets/x/reconcile")
        assert wrong.status_code == 400
        assert "repositories, policies, automations" in wrong.json()["error"]
        bad_name = await http.post("/api/v1/images/policies/Bad_Name/reconcile")
        assert bad_name.status_code == 400


async def test_users_without_images_rights_are_refused(stack: Stack) -> None:
    name = f"rbac-{_uid()}"
    await flux.put(
        stack.client,
        CONTROL_NS,
        flux.image_repository(name, f"registry.example.com/team/{name}"),
        None,
    )
    path = f"/api/v1/images/repositories/{name}/reconcile"
    async with stack.http("alice") as alice:  # role:readonly: get, not update
        refused = await alice.post(path)
        assert refused.status_code == 403
        assert refused.json()["error"] == (
            f"permission denied: images, update, repositories/{name} (user alice)"
        )
    async with stack.http("bob") as bob:  # no role: nothing listed, nothing requested
        assert (await bob.get("/api/v1/images")).json()["items"] == []
        assert (await bob.post(path)).status_code == 403
    obj = await flux.get(stack.client, CONTROL_NS, "ImageRepository", name)
    assert FLUX_RECONCILE_REQUEST_ANNOTATION not in (obj["metadata"].get("annotations") or {})


async def test_one_objects_rights_show_that_object_only(stack: Stack) -> None:
    seen, hidden = f"seen-{_uid()}", f"hidden-{_uid()}"
    for name in (seen, hidden):
        repo = flux.image_repository(name, f"registry.example.com/team/{name}")
        await flux.put(stack.client, CONTROL_NS, repo, None)
    settings = ServerSettings(
        rbac_policy_csv=f"p, bob, images, get, repositories/{seen}, allow\n"
        f"p, bob, images, update, repositories/{seen}, allow"
    )
    async with in_process_api(stack.controller, stack.tokens["bob"], settings) as http:
        listing = (await http.get("/api/v1/images")).json()
        assert [i["name"] for i in listing["items"]] == [seen]
        assert (await http.post(f"/api/v1/images/repositories/{seen}/reconcile")).status_code == 200
        assert (
            await http.post(f"/api/v1/images/repositories/{hidden}/reconcile")
        ).status_code == 403


# ---- an application's images -----------------------------------------------------------------


@pytest_asyncio.fixture(loop_scope="session")
async def git_repository_crd(stack: Stack) -> AsyncIterator[None]:
    """Flux's GitRepository kind (any fields), for the test's lifetime."""
    crd = crd_manifest(SOURCE_GROUP, "GitRepository", "gitrepositories")
    info = await stack.client.resource_for_object(crd)
    await stack.client.apply(info, crd, field_manager="tests", force=True)
    await wait_established(stack.client, [crd["metadata"]["name"]], timeout=30)
    try:
        yield
    finally:
        await stack.client.delete(info, crd["metadata"]["name"])
        stack.client.invalidate_discovery()


async def _git_repository(stack: Stack, name: str, url: str) -> None:
    body = {
        "apiVersion": f"{SOURCE_GROUP}/v1",
        "kind": "GitRepository",
        "metadata": {"name": name, "namespace": CONTROL_NS},
        "spec": {"url": url, "interval": "1h", "ref": {"branch": "main"}},
    }
    info = await stack.client.resource_for_object(body)
    await stack.client.apply(info, body, CONTROL_NS, field_manager="tests", force=True)


async def _app_images(stack: Stack, app: str, user: str = "admin") -> dict[str, Any]:
    async with stack.http(user) as http:
        answer = await http.get(f"/api/v1/applications/{app}/images")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def test_an_apps_images_show_their_policy_and_the_pending_pull_request(
    stack: Stack, git_repository_crd: None
) -> None:
    app = await stack.manual_app("imgs")
    uid = _uid()
    repo_url = (await stack.cluster_app(app) or {})["spec"]["source"]["repoURL"]
    put = flux.put
    await put(stack.client, CONTROL_NS, flux.image_repository(f"pay-{uid}", PAYMENT), None)
    await put(
        stack.client,
        CONTROL_NS,
        flux.image_policy(f"pay-{uid}", f"pay-{uid}"),
        flux.resolved(PAYMENT, "1.5.0", "1.4.0"),
    )
    other = "ghcr.io/example/catalog-service"
    await put(stack.client, CONTROL_NS, flux.image_repository(f"cat-{uid}", other), None)
    await put(
        stack.client,
        CONTROL_NS,
        flux.image_policy(f"cat-{uid}", f"cat-{uid}"),
        flux.resolved(other, "9.9.9"),
    )
    by_app = flux.image_update_automation(f"by-app-{uid}", "Application", app)
    await put(stack.client, CONTROL_NS, by_app, flux.proposed(7, PULL_URL))
    await _git_repository(stack, f"git-{uid}", repo_url.removesuffix(".git") + "/")
    by_url = flux.image_update_automation(f"by-url-{uid}", "GitRepository", f"git-{uid}")
    await put(stack.client, CONTROL_NS, by_url, None)
    elsewhere = flux.image_update_automation(f"other-{uid}", "Application", f"other-{uid}")
    await put(stack.client, CONTROL_NS, elsewhere, flux.proposed(9, PULL_URL + "9"))

    async def compared() -> dict[str, Any] | None:
        found = await _app_images(stack, app, "alice")
        return found if found["images"] else None

    found = await eventually(compared, 60, "the app compared and its images listed")
    assert found["application"] == app and found["notes"] == []
    [image] = found["images"]
    assert image["image"] == f"{PAYMENT}:1.4.0"
    assert (image["repository"], image["tag"], image["latestTag"]) == (PAYMENT, "1.4.0", "1.5.0")
    assert image["updateAvailable"] is True
    assert image["workloads"] == [
        {
            "kind": "Deployment",
            "namespace": image["workloads"][0]["namespace"],
            "name": "payment-service",
            "container": "payment-service",
            "init": False,
        }
    ]
    [policy] = image["policies"]
    assert (policy["name"], policy["previousTag"], policy["updateAvailable"]) == (
        f"pay-{uid}",
        "1.4.0",
        True,
    )
    assert [a["name"] for a in found["automations"]] == [f"by-app-{uid}", f"by-url-{uid}"]
    assert [(p["automation"], p["number"], p["url"]) for p in image["pullRequests"]] == [
        (f"by-app-{uid}", 7, PULL_URL)
    ]


async def test_an_apps_images_follow_the_apps_own_rights(stack: Stack) -> None:
    app = await stack.manual_app("imgrbac")
    async with stack.http("bob") as bob:
        answer = await bob.get(f"/api/v1/applications/{app}/images")
        assert answer.status_code == 403
        assert answer.json()["error"].startswith("permission denied: applications, get")
    # with the app's get and no images right: the app's images, policies included
    settings = ServerSettings(rbac_policy_csv="p, bob, applications, get, */*, allow")
    async with in_process_api(stack.controller, stack.tokens["bob"], settings) as http:
        assert (await http.get(f"/api/v1/applications/{app}/images")).status_code == 200
        assert (await http.get("/api/v1/images")).json()["items"] == []


class _NoFluxClient:
    """A cluster client that serves no kind of Flux's image group (its CRDs not installed)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    async def resource_for(self, api_version: str, kind: str) -> Any:
        if api_version.startswith(f"{FLUX_IMAGE_GROUP}/"):
            raise UnknownKind(f'no matches for kind "{kind}" in version "{api_version}"', code=404)
        return await self._client.resource_for(api_version, kind)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class _FaceWithoutFlux:
    """The controller's face, its client without Flux's image kinds."""

    def __init__(self, controller: Any) -> None:
        self._controller = controller
        self.client = _NoFluxClient(controller.client)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._controller, name)


async def test_missing_crds_give_an_empty_listing_with_a_note_not_an_error(stack: Stack) -> None:
    app = await stack.manual_app("nocrd")
    face = _FaceWithoutFlux(stack.controller)
    async with in_process_api(face, stack.tokens["admin"]) as http:
        listing = await http.get("/api/v1/images")
        assert listing.status_code == 200
        assert listing.json() == {"items": [], "notes": [NOT_INSTALLED]}
        request = await http.post("/api/v1/images/policies/anything/reconcile")
        assert request.status_code == 404 and request.json()["error"] == NOT_INSTALLED

        async def images() -> dict[str, Any] | None:
            answer = await http.get(f"/api/v1/applications/{app}/images")
            assert answer.status_code == 200, answer.text
            found: dict[str, Any] = answer.json()
            return found if found["images"] else None

        found = await eventually(images, 60, "the app compared")
        assert found["notes"] == [NOT_INSTALLED] and found["automations"] == []
        assert found["images"][0]["policies"] == [] and found["images"][0]["latestTag"] is None
