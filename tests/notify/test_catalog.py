"""The conditions of Argo CD's notification catalog (on-created ... on-sync-succeeded), as its
docs write them, evaluated on Tether's expr subset over apps in each state: each holds exactly
when the catalog means it to, and none errors on a new app that has no status yet."""

from __future__ import annotations

from typing import Any

import pytest

from tether.notify.notifier import expression_evaluator, with_status_defaults

CATALOG = {
    "on-created": "true",
    "on-deleted": "app.metadata.deletionTimestamp != nil",
    "on-deployed": "app.status.operationState != nil and app.status.operationState.phase in "
    "['Succeeded'] and app.status.health.status == 'Healthy'",
    "on-health-degraded": "app.status.health.status == 'Degraded'",
    "on-sync-failed": "app.status.operationState != nil and app.status.operationState.phase in "
    "['Error', 'Failed']",
    "on-sync-running": "app.status.operationState != nil and app.status.operationState.phase in "
    "['Running']",
    "on-sync-status-unknown": "app.status.sync.status == 'Unknown'",
    "on-sync-succeeded": "app.status.operationState != nil and app.status.operationState.phase "
    "in ['Succeeded']",
}


def app(phase: str | None = None, health: str | None = None, sync: str | None = None,
        deleting: bool = False) -> dict[str, Any]:  # fmt: skip
    status: dict[str, Any] = {}
    if phase:
        status["operationState"] = {"phase": phase, "syncResult": {"revision": "a" * 40}}
    if health:
        status["health"] = {"status": health}
    if sync:
        status["sync"] = {"status": sync}
    meta: dict[str, Any] = {"name": "shop"}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-06T00:00:00Z"
    return {"metadata": meta, **({"status": status} if status else {})}


@pytest.mark.parametrize(
    ("case", "holding"),
    [
        (app(), {"on-created"}),
        (app("Running", "Progressing", "OutOfSync"), {"on-created", "on-sync-running"}),
        (
            app("Succeeded", "Healthy", "Synced"),
            {"on-created", "on-deployed", "on-sync-succeeded"},
        ),
        (app("Succeeded", "Progressing", "Synced"), {"on-created", "on-sync-succeeded"}),
        (app("Failed", "Healthy", "OutOfSync"), {"on-created", "on-sync-failed"}),
        (app("Error"), {"on-created", "on-sync-failed"}),
        (app(health="Degraded", sync="Synced"), {"on-created", "on-health-degraded"}),
        (app(sync="Unknown"), {"on-created", "on-sync-status-unknown"}),
        (app(deleting=True), {"on-created", "on-deleted"}),
    ],
)
def test_each_catalog_condition_holds_when_the_catalog_means_it(
    case: dict[str, Any], holding: set[str]
) -> None:
    evaluate = expression_evaluator()
    env = {"app": with_status_defaults(case)}
    found = {name for name, condition in CATALOG.items() if evaluate(condition, env) is True}
    assert found == holding
