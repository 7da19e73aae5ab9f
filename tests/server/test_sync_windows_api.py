"""Sync windows on the real stack: a deny window holds automated syncs and refuses manual ones
(unless ``manualSync``), the windows are shown, and lifting the window lets the waiting sync run.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.server.conftest import CONTROL_NS, Stack, application, eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

#: active at every minute, for a day: a freeze that is on whenever the test runs
ALWAYS = {"schedule": "* * * * *", "duration": "24h"}


def project(name: str, windows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {"name": name},
        "spec": {
            "sourceRepos": ["*"],
            "destinations": [{"server": "*", "namespace": "*"}],
            "syncWindows": windows,
        },
    }


async def put_project(http: httpx.AsyncClient, body: dict[str, Any]) -> None:
    answer = await http.post("/api/v1/projects", params={"upsert": "true"}, json=body)
    assert answer.status_code in (200, 201), answer.text


async def new_app(stack: Stack, http: httpx.AsyncClient, proj: str, *, automated: bool) -> str:
    name = f"win-{uuid.uuid4().hex[:6]}"
    url, _work = stack.new_repo()
    body = application(name, url, await stack.namespace(name), automated=automated)
    body["spec"]["project"] = proj
    answer = await http.post("/api/v1/applications", json=body)
    assert answer.status_code == 201, answer.text
    return name


async def history(http: httpx.AsyncClient, name: str) -> list[dict[str, Any]]:
    app = (await http.get(f"/api/v1/applications/{name}")).json()
    return list((app.get("status") or {}).get("history") or [])


async def events(stack: Stack, name: str) -> list[str]:
    out = await stack.kubectl(
        "get", "events", "-n", CONTROL_NS, "--field-selector",
        f"involvedObject.name={name},reason=SyncWindowWait", "-o",
        "jsonpath={.items[*].message}",
    )  # fmt: skip
    return [out] if out else []


async def test_a_deny_window_holds_an_automated_sync_until_it_is_lifted(stack: Stack) -> None:
    proj = f"freeze-{uuid.uuid4().hex[:6]}"
    async with stack.http() as http:
        await put_project(http, project(proj, [{"kind": "deny", "applications": ["*"], **ALWAYS}]))
        name = await new_app(stack, http, proj, automated=True)

        async def compared() -> bool:
            app = (await http.get(f"/api/v1/applications/{name}")).json()
            return ((app.get("status") or {}).get("sync") or {}).get("status") == "OutOfSync"

        await eventually(compared, timeout=30, what="compared")
        told = await eventually(lambda: events(stack, name), timeout=30, what="the wait told")
        assert "the automated sync waits: sync denied by window #0 deny" in told[0]
        assert await history(http, name) == []

        windows = (await http.get(f"/api/v1/applications/{name}/syncwindows")).json()
        assert windows["canSync"] is False and windows["canAutoSync"] is False
        assert [w["kind"] for w in windows["activeWindows"]] == ["deny"]
        assert windows["reason"].startswith("sync denied by window #0 deny '* * * * *'")
        # fired every minute for a day, the window never closes: no change within a year
        assert windows["nextChange"] is None

        # lifting the freeze lets the waiting sync run at once (a project edit re-queues its apps)
        await put_project(http, project(proj, []))

        async def deployed() -> bool:
            return len(await history(http, name)) == 1

        await eventually(deployed, timeout=30, what="the sync after the window")
        windows = (await http.get(f"/api/v1/applications/{name}/syncwindows")).json()
        assert windows["canSync"] and windows["canAutoSync"] and windows["assignedWindows"] == []


async def test_manual_syncs_are_refused_unless_the_window_allows_them(stack: Stack) -> None:
    proj = f"freeze-{uuid.uuid4().hex[:6]}"
    deny = {"kind": "deny", "namespaces": ["win-*"], **ALWAYS}
    async with stack.http() as http:
        await put_project(http, project(proj, [deny]))
        name = await new_app(stack, http, proj, automated=False)
        refused = await http.post(f"/api/v1/applications/{name}/sync", json={})
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"].startswith("cannot sync: sync denied by window #0 deny")
        # a dry run changes nothing: allowed
        dry = await http.post(f"/api/v1/applications/{name}/sync", json={"dryRun": True})
        assert dry.status_code == 200, dry.text

        async def idle() -> bool:
            app = (await http.get(f"/api/v1/applications/{name}")).json()
            phase = ((app.get("status") or {}).get("operationState") or {}).get("phase")
            return app.get("operation") is None and phase in ("Succeeded", "Failed", "Error")

        await eventually(idle, timeout=30, what="the dry run done")
        listed = (await http.get(f"/api/v1/projects/{proj}/syncwindows")).json()
        assert [(w["kind"], w["active"], w["manualSync"]) for w in listed["windows"]] == [
            ("deny", True, False)
        ]

        await put_project(http, project(proj, [{**deny, "manualSync": True}]))
        accepted = await http.post(f"/api/v1/applications/{name}/sync", json={})
        assert accepted.status_code == 200, accepted.text

        async def deployed() -> bool:
            return len(await history(http, name)) == 1

        await eventually(deployed, timeout=30, what="the manual sync during the window")


async def test_a_requested_sync_written_past_the_api_waits_for_the_window(stack: Stack) -> None:
    """`kubectl` can write `operation` without the API's check: the controller holds it."""
    proj = f"freeze-{uuid.uuid4().hex[:6]}"
    async with stack.http() as http:
        await put_project(
            http,
            project(
                proj,
                [
                    {"kind": "allow", "applications": ["nomatch"], **ALWAYS},
                    {
                        "kind": "allow",
                        "applications": ["win-*"],
                        "schedule": "0 0 1 1 *",
                        "duration": "1m",
                    },
                ],
            ),
        )
        name = await new_app(stack, http, proj, automated=False)
        await stack.kubectl(
            "patch", "application", name, "-n", CONTROL_NS, "--type", "merge", "-p",
            '{"operation": {"sync": {}, "initiatedBy": {"username": "kubectl"}}}',
        )  # fmt: skip
        told = await eventually(lambda: events(stack, name), timeout=30, what="the wait told")
        assert "the requested sync waits: sync blocked: no allow window active" in told[0]
        app = (await http.get(f"/api/v1/applications/{name}")).json()
        assert app.get("operation") is not None and await history(http, name) == []
        # withdrawn by a terminate, as any operation not started yet
        ended = await http.delete(f"/api/v1/applications/{name}/operation")
        assert ended.status_code == 200 and ended.json() == {"terminated": True}


async def test_an_automated_sync_waits_for_the_window_to_close_by_the_clock(
    stack: Stack,
) -> None:
    """A deny window that began this minute and ends a few seconds from now: the sync waits,
    and runs by itself once the window is over (the controller looks again at its end)."""
    now = datetime.now(UTC)
    ends = now + timedelta(seconds=12)
    duration = int((ends - now.replace(second=0, microsecond=0)).total_seconds()) + 1
    window = {
        "kind": "deny",
        "schedule": f"{now.minute} {now.hour} * * *",
        "duration": f"{duration}s",
        "applications": ["win-*"],
    }
    proj = f"freeze-{uuid.uuid4().hex[:6]}"
    async with stack.http() as http:
        await put_project(http, project(proj, [window]))
        name = await new_app(stack, http, proj, automated=True)
        told = await eventually(lambda: events(stack, name), timeout=30, what="the wait told")
        assert "the automated sync waits: sync denied by window #0 deny" in told[0]

        async def deployed() -> list[dict[str, Any]]:
            return await history(http, name)

        entries = await eventually(deployed, timeout=60, what="the sync once the window ended")
        end = now.replace(second=0, microsecond=0) + timedelta(seconds=duration)
        started = datetime.fromisoformat(entries[0]["deployStartedAt"].replace("Z", "+00:00"))
        assert started >= end.replace(microsecond=0), (started, end)


async def test_a_project_whose_windows_cannot_be_read_holds_its_syncs(stack: Stack) -> None:
    proj = f"broken-{uuid.uuid4().hex[:6]}"
    bad = {"kind": "deny", "schedule": "0 25 * * *", "duration": "1h", "applications": ["*"]}
    async with stack.http() as http:
        await put_project(http, project(proj, [bad]))
        name = await new_app(stack, http, proj, automated=True)
        told = await eventually(lambda: events(stack, name), timeout=30, what="the wait told")
        assert f"the sync windows of project {proj} cannot be read" in told[0]
        assert "syncWindows[0].schedule: hour: 25" in told[0]
        assert await history(http, name) == []
        listed = (await http.get(f"/api/v1/projects/{proj}/syncwindows")).json()
        assert listed["windows"] == [] and "hour: 25" in listed["error"]
