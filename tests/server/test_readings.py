"""The server reads an Application's status once per version, and forgets deleted apps."""

from __future__ import annotations

from typing import Any

from tether.server.readings import SPARE_READINGS, StatusReadings


def _app(name: str, version: str, sync: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "resourceVersion": version},
        "status": {"sync": {"status": sync}, "resources": [{"kind": "Pod", "name": "p"}]},
    }


def test_a_status_is_read_again_only_when_its_version_moves() -> None:
    readings = StatusReadings(lambda: {"shop"})
    first = readings.of(_app("shop", "1", "OutOfSync"))
    # a copy of the same version (the watch event after the server's own write) is not read again
    assert readings.of(_app("shop", "1", "OutOfSync")) is first
    newer = readings.of(_app("shop", "2", "Synced"))
    assert newer is not first and (first.sync, newer.sync) == ("OutOfSync", "Synced")
    assert readings.of(_app("shop", "2", "Synced")) is newer


def test_an_object_without_a_version_is_read_every_time_and_not_kept() -> None:
    readings = StatusReadings(lambda: {"shop"})
    unversioned = {"metadata": {"name": "shop"}, "status": {"sync": {"status": "Synced"}}}
    assert readings.of(unversioned).sync == "Synced"
    assert readings.of(unversioned) is not readings.of(unversioned)
    assert len(readings) == 0


def test_readings_of_deleted_apps_are_dropped() -> None:
    current = {"kept"}
    readings = StatusReadings(lambda: current)
    readings.of(_app("kept", "1", "Synced"))
    for index in range(SPARE_READINGS * 3):
        readings.of(_app(f"gone-{index}", "1", "Synced"))
    assert len(readings) <= len(current) + SPARE_READINGS + 1
    kept = readings.of(_app("kept", "1", "Synced"))
    assert readings.of(_app("kept", "1", "Synced")) is kept
