"""Sync windows applied to one Application (pure): matching fields, failing closed, documents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tether.controller import windowgate
from tether.controller.project import parse_project

NOW = datetime(2026, 12, 5, 21, 30, tzinfo=UTC)


def project(windows: Any) -> Any:
    return parse_project(
        {"metadata": {"name": "prod"}, "spec": {"sourceRepos": ["*"], "syncWindows": windows}}
    )


def app(namespace: str = "shop", **destination: str) -> dict[str, Any]:
    """The Application "shop"; ``destination`` adds server and name."""
    dest = {"namespace": namespace, **destination}
    return {"metadata": {"name": "shop"}, "spec": {"destination": dest}}


def test_windows_match_the_destination_as_the_spec_names_it() -> None:
    target = windowgate.target_of(app(server="https://k8s.example", name="prod-eu"))
    assert (target.name, target.namespace, target.server, target.cluster_name) == (
        "shop",
        "shop",
        "https://k8s.example",
        "prod-eu",
    )
    # a malformed spec matches on nothing rather than failing
    assert windowgate.target_of({"metadata": [], "spec": {"destination": 3}}).name == ""


def test_a_project_whose_windows_cannot_be_read_holds_every_sync() -> None:
    proj = project([{"kind": "deny", "schedule": "every night", "duration": "1h"}])
    for manual in (True, False):
        verdict = windowgate.check(proj, windowgate.target_of(app()), NOW, manual=manual)
        assert not verdict.allowed
        assert "sync windows of project prod cannot be read" in verdict.reason
        assert verdict.wait_seconds(NOW) == windowgate.MAX_WAIT_SECONDS


def test_a_closed_allow_window_waits_until_it_opens() -> None:
    proj = project(
        [{"kind": "allow", "schedule": "0 22 * * *", "duration": "1h", "namespaces": ["shop"]}]
    )
    verdict = windowgate.check(proj, windowgate.target_of(app()), NOW, manual=False)
    assert not verdict.allowed and verdict.next_change == datetime(2026, 12, 5, 22, 0, tzinfo=UTC)
    assert verdict.wait_seconds(NOW) == 30 * 60 + 0.5
    inside = NOW + timedelta(hours=1)
    assert windowgate.check(proj, windowgate.target_of(app()), inside, manual=False).allowed
    # another namespace: the window does not apply
    assert windowgate.check(
        proj, windowgate.target_of(app(namespace="x")), NOW, manual=False
    ).allowed


def test_documents_show_the_windows_their_state_and_the_next_change() -> None:
    proj = project(
        [
            {"kind": "deny", "schedule": "0 21 * * *", "duration": "1h", "applications": ["shop"],
             "manualSync": True, "description": "evening freeze"},
            {"kind": "allow", "schedule": "0 6 * * 1-5", "duration": "12h", "clusters": ["other"]},
        ]
    )  # fmt: skip
    doc = windowgate.app_windows(proj, app(), NOW)
    assert doc["canSync"] is True and doc["canAutoSync"] is False
    assert doc["manualReason"].startswith("manual sync allowed by manualSync")
    assert [w["index"] for w in doc["assignedWindows"]] == [0]
    assert doc["activeWindows"][0]["description"] == "evening freeze"
    assert doc["nextChange"] == "2026-12-05T22:00:00Z"
    listed = windowgate.project_windows(proj, NOW)
    assert [(w["kind"], w["active"]) for w in listed["windows"]] == [
        ("deny", True),
        ("allow", False),
    ]
    assert listed["error"] is None
