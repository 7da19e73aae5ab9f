"""The production mode and refreshes through the API, on the real stack: an Application in manual
sync with automatic drift revert is accepted as written and may be rolled back; a rollback
refused under auto-sync names the way forward; a refresh answers the comparison made after it,
and says so when the controller takes too long."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.server.conftest import CONTROL_NS, Stack, application, eventually, in_process_api
from tether.demo.repo import commit_and_push, git
from tether.names import REFRESH_ANNOTATION
from tether.server import ServerSettings

pytestmark = pytest.mark.asyncio(loop_scope="session")

AUTO_REVERT = {"enabled": False, "selfHeal": True}
OVERLAY = "apps/payment-service/production/kustomization.yaml"


async def _app(http: httpx.AsyncClient, name: str, **params: str) -> dict[str, Any]:
    answer = await http.get(f"/api/v1/applications/{name}", params=params)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def _history(http: httpx.AsyncClient, name: str) -> list[dict[str, Any]]:
    return list(((await _app(http, name)).get("status") or {}).get("history") or [])


async def _new_app(stack: Stack, prefix: str, automated: dict[str, Any] | None) -> tuple[str, Any]:
    """An Application of a new repository into a new namespace, synced once by hand."""
    name = f"{prefix}-{uuid.uuid4().hex[:5]}"
    url, work = stack.new_repo()
    body = application(name, url, await stack.namespace(name), automated=False)
    if automated is not None:
        body["spec"]["syncPolicy"] = {"automated": automated}
    async with stack.http() as http:
        created = await http.post("/api/v1/applications", json=body)
        assert created.status_code == 201, created.text
        assert created.json()["spec"] == body["spec"]
        if automated is None or automated.get("enabled") is False:
            synced = await http.post(f"/api/v1/applications/{name}/sync", json={})
            assert synced.status_code == 200, synced.text

        async def deployed() -> bool:
            return len(await _history(http, name)) == 1

        await eventually(deployed, timeout=30, what=f"{name} deployed")
    return name, work


def _bump(work: Any, tag: str) -> str:
    text = (work / OVERLAY).read_text()
    current = next(line for line in text.splitlines() if "newTag:" in line)
    return commit_and_push(
        work, f"release {tag}", {OVERLAY: text.replace(current, f"  newTag: {tag}")}
    )


async def test_manual_sync_with_auto_revert_is_accepted_and_may_roll_back(stack: Stack) -> None:
    name, work = await _new_app(stack, "prodmode", AUTO_REVERT)
    first = git(["rev-parse", "HEAD"], work)
    second = _bump(work, "2.0.0")
    async with stack.http() as http:
        # the new commit waits for a person
        refreshed = await _app(http, name, refresh="hard")
        assert refreshed["spec"]["syncPolicy"]["automated"] == AUTO_REVERT
        assert refreshed["status"]["sync"]["status"] == "OutOfSync"
        assert refreshed["status"]["sync"]["revision"] == second
        synced = await http.post(f"/api/v1/applications/{name}/sync", json={})
        assert synced.status_code == 200, synced.text

        async def two_deployments() -> bool:
            return len(await _history(http, name)) == 2

        await eventually(two_deployments, timeout=30, what="the manual sync recorded")
        rolled = await http.post(f"/api/v1/applications/{name}/rollback", json={"id": 0})
        assert rolled.status_code == 200, rolled.text
        assert rolled.json()["operation"]["sync"]["revision"] == first

        async def rolled_back() -> bool:
            history = await _history(http, name)
            return len(history) == 3 and history[-1]["revision"] == first

        await eventually(rolled_back, timeout=30, what="the rollback recorded")
        assert (await _history(http, name))[-1].get("trigger") == "rollback"


async def test_a_rollback_under_auto_sync_is_refused_with_the_way_forward(stack: Stack) -> None:
    name, _work = await _new_app(stack, "autorb", {"prune": True, "selfHeal": True})
    async with stack.http() as http:
        refused = await http.post(f"/api/v1/applications/{name}/rollback", json={"id": 0})
        assert refused.status_code == 400
        message = refused.json()["error"]
        assert "auto-sync is enabled" in message
        assert f"`tether app set {name} --sync-policy none`" in message
        assert f"`tether app set {name} --sync-policy manual --self-heal`" in message


async def test_a_refresh_answers_the_comparison_made_after_it(stack: Stack) -> None:
    name, work = await _new_app(stack, "refresh", None)
    async with stack.http() as http:
        pushed = _bump(work, "3.0.0")
        hard = await _app(http, name, refresh="hard")
        assert (hard["status"]["sync"]["status"], hard["status"]["sync"]["revision"]) == (
            "OutOfSync",
            pushed,
        )
        assert REFRESH_ANNOTATION not in (hard["metadata"].get("annotations") or {})
        again = _bump(work, "3.0.1")
        posted = await http.post(f"/api/v1/applications/{name}/refresh", json={"hard": True})
        assert posted.status_code == 200, posted.text
        assert posted.json()["status"]["sync"]["revision"] == again


async def test_a_refresh_the_controller_does_not_answer_in_time_is_a_clear_504(
    stack: Stack,
) -> None:
    name, _work = await _new_app(stack, "slowrefresh", None)
    # a server that gives the controller no time at all
    settings = ServerSettings(refresh_timeout=0)
    async with in_process_api(stack.controller, stack.tokens["admin"], settings) as http:
        answer = await http.get(f"/api/v1/applications/{name}", params={"refresh": "normal"})
    assert answer.status_code == 504
    message = answer.json()["error"]
    assert f"application {name} was not compared again within 0s" in message
    assert f"tether app get {name}" in message
    # the refresh stays requested, and the controller does it
    async with stack.http() as http:

        async def done() -> bool:
            annotations = (await _app(http, name))["metadata"].get("annotations") or {}
            return REFRESH_ANNOTATION not in annotations

        await eventually(done, timeout=30, what="the refresh done later")


class LaggingWatch:
    """The real controller, whose view of the Applications is the one taken at ``freeze()``: what
    the server sees when the controller's watch has not yet delivered a newer version."""

    def __init__(self, controller: Any) -> None:
        self._controller = controller
        self._frozen: dict[str, dict[str, Any]] | None = None

    def freeze(self) -> None:
        self._frozen = {k: dict(v) for k, v in self._controller.applications().items()}

    def applications(self) -> dict[str, dict[str, Any]]:
        return self._frozen if self._frozen is not None else self._controller.applications()

    def remember_application(self, obj: dict[str, Any]) -> None:
        self._controller.remember_application(obj)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._controller, name)


async def test_an_operation_asked_on_a_stale_copy_is_asked_again_on_the_fresh_one(
    stack: Stack,
) -> None:
    name, _work = await _new_app(stack, "stale", None)
    face = LaggingWatch(stack.controller)
    face.freeze()
    # the Application changes after the server's view of it was taken
    await stack.kubectl("-n", CONTROL_NS, "label", "application", name, "changed=yes")
    async with in_process_api(face, stack.tokens["admin"]) as http:
        answer = await http.post(f"/api/v1/applications/{name}/sync", json={})
    assert answer.status_code == 200, answer.text
    assert answer.json()["metadata"]["labels"] == {"changed": "yes"}
    assert answer.json()["operation"]["initiatedBy"] == {"username": "admin"}
