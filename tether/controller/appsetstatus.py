"""An ApplicationSet's status as Argo CD writes it (pure): the conditions ErrorOccurred,
ParametersGenerated, ResourcesUpToDate and RolloutProgressing, the generated Applications
(``resources``), a progressive sync's ``applicationStatus``; and whether writing a new status
would change anything but transition times."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from tether.appsets.plan import Plan
from tether.appsets.rollout import FAILED_PHASES, HEALTHY, AppState, Decision
from tether.names import APPLICATION


def make_condition(kind: str, ok: bool, reason: str, message: str, now: str) -> dict[str, str]:
    return {"type": kind, "status": "True" if ok else "False", "reason": reason,
            "message": message, "lastTransitionTime": now}  # fmt: skip


def status_of(
    obj: Mapping[str, Any], outcome: Plan | None, error: str, apps: Iterable[str]
) -> dict[str, Any]:
    """The set's status as Argo CD writes it: conditions, and the Applications it made."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if error:
        conditions = [
            make_condition(
                "ErrorOccurred", True, "ApplicationGenerationFromParamsError", error, now
            ),
            make_condition("ParametersGenerated", False, "ErrorOccurred", error, now),
            make_condition("ResourcesUpToDate", False, "ErrorOccurred", error, now),
        ]
    else:
        assert outcome is not None
        problems = [f"Application {n} exists and is not this set's" for n in outcome.conflicts]
        problems += list(outcome.held)
        message = "; ".join(problems) or "All applications have been generated successfully"
        conditions = [
            make_condition("ErrorOccurred", bool(outcome.conflicts), "ApplicationSetUpToDate"
                       if not outcome.conflicts else "ApplicationNameConflict",
                       message if outcome.conflicts else "Successfully generated parameters "
                       "for all Applications", now),
            make_condition("ParametersGenerated", True, "ParametersGenerated",
                       "Successfully generated parameters for all Applications", now),
            make_condition("ResourcesUpToDate", not problems, "ApplicationSetUpToDate", message, now),
        ]  # fmt: skip
    old = {c.get("type"): c for c in (obj.get("status") or {}).get("conditions") or []}
    for condition in conditions:
        before = old.get(condition["type"])
        if before is not None and all(
            before.get(k) == condition[k] for k in ("status", "reason", "message")
        ):
            condition["lastTransitionTime"] = str(before.get("lastTransitionTime") or now)
    namespace = str((obj.get("metadata") or {}).get("namespace") or "")
    resources = [
        {"group": "argoproj.io", "version": "v1alpha1", "kind": APPLICATION,
         "namespace": namespace, "name": name}
        for name in sorted(apps)
    ]  # fmt: skip
    return {**(obj.get("status") or {}), "conditions": conditions, "resources": resources}


def app_state(app: Mapping[str, Any], name: str) -> AppState:
    """What the rollout reads of a generated Application (a requested operation counts as
    running: it is not asked for twice)."""
    status = app.get("status") or {}
    operation = status.get("operationState") or {}
    phase = str(operation.get("phase") or "")
    attempted = (operation.get("syncResult") or {}).get("revision") or (
        (operation.get("operation") or {}).get("sync") or {}
    ).get("revision")
    target = (status.get("sync") or {}).get("revision")
    failed_here = phase in FAILED_PHASES and bool(attempted) and attempted == target
    if app.get("operation"):
        phase = "Running"
    return AppState(
        name,
        dict((app.get("metadata") or {}).get("labels") or {}),
        str((status.get("sync") or {}).get("status") or "Unknown"),
        str((status.get("health") or {}).get("status") or "Missing"),
        phase,
        failed_here,
    )


def with_rollout(
    obj: Mapping[str, Any], status: dict[str, Any], decision: Decision
) -> dict[str, Any]:
    """``status`` with Argo CD's ``applicationStatus`` and the RolloutProgressing condition."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    old = {
        a.get("application"): a
        for a in (obj.get("status") or {}).get("applicationStatus") or []
        if isinstance(a, Mapping)
    }
    entries = []
    for item in sorted(decision.statuses, key=lambda s: (s.step, s.name)):
        before = old.get(item.name) or {}
        same = before.get("status") == item.status
        entries.append({
            "application": item.name,
            "status": item.status,
            "message": item.message,
            "step": str(item.step),
            "lastTransitionTime": str(before.get("lastTransitionTime") or now) if same else now,
        })  # fmt: skip
    done = all(e["status"] == HEALTHY for e in entries if e["step"] != "0")
    message = decision.held or ("the rollout is complete" if done else "the rollout progresses")
    reason = "ApplicationSetRolloutComplete" if done else "ApplicationSetModified"
    rolling = make_condition("RolloutProgressing", not done, reason, message, now)
    conditions = [c for c in status["conditions"] if c["type"] != "RolloutProgressing"]
    return {**status, "applicationStatus": entries, "conditions": [*conditions, rolling]}


def _conditions(status: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in c.items() if k != "lastTransitionTime"}
        for c in status.get("conditions") or []
        if isinstance(c, Mapping)
    ]


def same_status(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether writing ``new`` would change nothing but transition times."""

    def rollout(status: Mapping[str, Any]) -> list[Any]:
        return [
            {k: v for k, v in a.items() if k != "lastTransitionTime"}
            for a in status.get("applicationStatus") or []
            if isinstance(a, Mapping)
        ]

    return (
        old.get("resources") == new.get("resources")
        and _conditions(old) == _conditions(new)
        and rollout(old) == rollout(new)
    )
