"""Progressive syncs (``strategy.type: RollingSync``), the decision part (pure).

Each step selects Applications by their labels (``matchExpressions``, all must hold; the first
step an Application matches is its step) and may bound how many sync at once (``maxUpdate``: a
number, or a percentage of the step's Applications, rounded down but at least one; ``0`` holds
the step). A step starts when every Application of the steps before it is Synced and Healthy;
within it, Applications that are not Synced are synced, at most ``maxUpdate`` at a time. An
Application of an earlier step that fails (Degraded, or its sync Failed/Error) holds every later
step, and the status says which. Applications that match no step are left alone (synced by
hand), as Argo CD does.

The statuses are Argo CD's ``status.applicationStatus`` words: ``Waiting`` (out of sync, its
step not started), ``Pending`` (chosen to sync, the sync not begun), ``Progressing`` (syncing, or
synced and not yet healthy), ``Healthy``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tether.appsets.errors import AppSetError
from tether.appsets.params import selector_matches

WAITING, PENDING, PROGRESSING, HEALTHY = "Waiting", "Pending", "Progressing", "Healthy"
FAILED_PHASES = ("Failed", "Error")


@dataclass(frozen=True)
class Step:
    selector: Mapping[str, Any]
    max_update: int | str | None = None


@dataclass(frozen=True)
class AppState:
    """What the rollout needs of one generated Application."""

    name: str
    labels: Mapping[str, str]
    sync: str  # Synced, OutOfSync, Unknown
    health: str  # Healthy, Progressing, Degraded...
    #: the phase of its current or last operation ("" when none)
    phase: str = ""
    #: its last sync failed at the revision it should be at (not tried again until that moves)
    failed_here: bool = False


@dataclass(frozen=True)
class AppRollout:
    name: str
    status: str
    message: str
    step: int  # 1-based, as Argo CD writes it; 0 for none


@dataclass(frozen=True)
class Decision:
    #: Applications to sync now
    sync: tuple[str, ...]
    statuses: tuple[AppRollout, ...]
    #: why a step waits (the failing Application), or ""
    held: str = ""


def steps_of(appset: Mapping[str, Any]) -> list[Step] | None:
    """The steps of a RollingSync set; None when the set has no progressive sync."""
    strategy = (appset.get("spec") or {}).get("strategy") or {}
    if not isinstance(strategy, Mapping) or strategy.get("type") in (None, "", "AllAtOnce"):
        return None
    if strategy.get("type") != "RollingSync":
        raise AppSetError(f"strategy.type {strategy.get('type')!r} is not AllAtOnce or RollingSync")
    raw = (strategy.get("rollingSync") or {}).get("steps")
    if not isinstance(raw, list) or not raw:
        raise AppSetError("strategy.rollingSync.steps must list at least one step")
    steps = []
    for index, step in enumerate(raw):
        if not isinstance(step, Mapping) or not isinstance(step.get("matchExpressions"), list):
            raise AppSetError(f"strategy.rollingSync.steps[{index}] needs matchExpressions")
        steps.append(Step({"matchExpressions": step["matchExpressions"]}, step.get("maxUpdate")))
    return steps


def _limit(max_update: int | str | None, size: int, where: str) -> int:
    if max_update is None:
        return size
    if isinstance(max_update, int) and not isinstance(max_update, bool):
        return max(0, max_update)
    text = str(max_update).strip()
    if text.endswith("%"):
        try:
            share = float(text[:-1])
        except ValueError:
            raise AppSetError(
                f"{where}.maxUpdate {text!r} is not a number or a percentage"
            ) from None
        return 0 if share <= 0 else max(1, int(size * share / 100))
    try:
        return max(0, int(text))
    except ValueError:
        raise AppSetError(f"{where}.maxUpdate {text!r} is not a number or a percentage") from None


def _failed(app: AppState) -> bool:
    return app.failed_here or (app.sync == "Synced" and app.health == "Degraded")


def _done(app: AppState) -> bool:
    return app.sync == "Synced" and app.health == "Healthy" and app.phase != "Running"


def _busy(app: AppState) -> bool:
    return app.phase == "Running" or (app.sync == "Synced" and app.health == "Progressing")


def decide(steps: Sequence[Step], apps: Sequence[AppState]) -> Decision:
    """Which Applications to sync now, and each one's rollout status."""
    by_step: list[list[AppState]] = [[] for _ in steps]
    for app in sorted(apps, key=lambda a: a.name):
        for index, step in enumerate(steps):
            if selector_matches(step.selector, app.labels, f"strategy.rollingSync.steps[{index}]"):
                by_step[index].append(app)
                break
    to_sync: list[str] = []
    statuses: list[AppRollout] = []
    held = ""
    for index, (step, members) in enumerate(zip(steps, by_step, strict=True)):
        number = index + 1
        if held:
            statuses += [AppRollout(a.name, HEALTHY if _done(a) else WAITING,
                                    held, number) for a in members]  # fmt: skip
            continue
        where = f"strategy.rollingSync.steps[{index}]"
        room = _limit(step.max_update, len(members), where)
        room -= sum(1 for a in members if _busy(a))
        for app in members:
            if _done(app):
                statuses.append(AppRollout(app.name, HEALTHY, "synced and healthy", number))
            elif _busy(app):
                statuses.append(AppRollout(app.name, PROGRESSING, "syncing", number))
            elif _failed(app):
                statuses.append(AppRollout(app.name, PROGRESSING, "the sync failed or the "
                                           "Application is Degraded", number))  # fmt: skip
            elif app.sync != "Synced" and room > 0:
                room -= 1
                to_sync.append(app.name)
                statuses.append(AppRollout(app.name, PENDING, "chosen to sync", number))
            else:
                statuses.append(AppRollout(app.name, WAITING, "waiting for maxUpdate", number))
        failing = [a.name for a in members if _failed(a)]
        if failing:
            held = f"step {number} is held: Application {failing[0]} failed"
        elif not all(_done(a) for a in members):
            held = f"waiting for step {number} to be Synced and Healthy"
    stepped = {s.name for s in statuses}
    for app in apps:
        if app.name not in stepped:
            statuses.append(AppRollout(app.name, WAITING, "matches no step: sync it by hand", 0))
    first_failure = held if held.startswith("step") else ""
    return Decision(tuple(to_sync), tuple(statuses), first_failure)
