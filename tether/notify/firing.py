"""Which notifications an Application's change fires, and what is recorded so that none is sent
twice (a pure module).

As Argo CD's notifications engine: each condition of a subscribed trigger is evaluated against
the app; for a condition that holds, every destination is sent the condition's templates once
per value of its ``oncePer`` expression (once per firing when it has none) — a key made of the
trigger, the condition, the ``oncePer`` value and the destination is recorded in the app's
``notified.notifications.argoproj.io`` annotation (a JSON map of key to the Unix time it was
sent). A condition that no longer holds drops its key, so the next time it holds it fires
again. A send that fails drops its key too, so it is tried again at the next change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tether.errors import TetherError
from tether.notify.config import Condition, Subscription, Trigger

STATE_ANNOTATION = "notified.notifications.argoproj.io"
#: most keys kept in the annotation (the oldest go first)
MAX_STATE_KEYS = 1000

#: ``evaluate(expression, env)``: the expression's value over ``env`` (raises on an error)
Evaluate = Callable[[str, Mapping[str, Any]], Any]


@dataclass(frozen=True)
class ConditionResult:
    """One condition of a trigger, evaluated: whether it holds, and its ``oncePer`` value."""

    index: int
    condition: Condition
    triggered: bool
    once_per: str = ""


@dataclass(frozen=True)
class Notification:
    """One message to deliver: the trigger, the templates to render and the destination; ``key``
    is what the state records once it was sent."""

    trigger: str
    templates: tuple[str, ...]
    destination: Subscription
    key: str


def evaluate_trigger(
    trigger: Trigger, env: Mapping[str, Any], evaluate: Evaluate
) -> tuple[list[ConditionResult], list[str]]:
    """Every condition of ``trigger`` over ``env`` (``app`` and the rest), and the problems met.
    As Argo CD: a condition that cannot be evaluated, or whose ``when`` is not a boolean, does
    not hold (and is reported)."""
    results, problems = [], []
    for index, condition in enumerate(trigger.conditions):
        where = f"trigger {trigger.name}[{index}]"
        try:
            value = evaluate(condition.when, env)
            once_per = ""
            if condition.once_per:  # evaluated either way: a condition that stops holding
                # drops the key of the current value
                found = evaluate(condition.once_per, env)
                once_per = "" if found is None else str(found)
        except TetherError as exc:
            problems.append(f"{where}: {exc.message}")
            value, once_per = False, ""
        if not isinstance(value, bool):
            problems.append(f"{where}: `when` gave {type(value).__name__}, not a bool")
            value = False
        results.append(ConditionResult(index, condition, value, once_per))
    return results, problems


def state_key(trigger: str, result: ConditionResult, destination: Subscription) -> str:
    """The key of one (condition, oncePer value, destination) in the state annotation."""
    return ":".join(
        (
            result.once_per,
            trigger,
            f"[{result.index}].{_digest(result.condition)}",
            destination.service,
            destination.recipient,
        )
    )


def _digest(condition: Condition) -> str:
    text = json.dumps([condition.when, list(condition.send), condition.once_per])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def read_state(app: Mapping[str, Any]) -> dict[str, int]:
    """The app's notified keys (an unreadable annotation counts as none)."""
    annotations = (app.get("metadata") or {}).get("annotations") or {}
    text = annotations.get(STATE_ANNOTATION)
    try:
        value = json.loads(text) if isinstance(text, str) else {}
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {str(k): int(v) for k, v in value.items() if isinstance(v, int)}


def write_state(state: Mapping[str, int]) -> str:
    """The annotation's value: at most :data:`MAX_STATE_KEYS`, the newest kept."""
    newest = sorted(state.items(), key=lambda kv: (kv[1], kv[0]))[-MAX_STATE_KEYS:]
    return json.dumps(dict(sorted(newest)), separators=(",", ":"))


def decide(
    trigger: str,
    results: Iterable[ConditionResult],
    destinations: Iterable[Subscription],
    state: Mapping[str, int],
    now: int,
) -> tuple[list[Notification], dict[str, int]]:
    """What to send for ``trigger`` to ``destinations``, and the state once it is sent."""
    new_state = dict(state)
    to_send = []
    targets = list(destinations)
    for result in results:
        for destination in targets:
            key = state_key(trigger, result, destination)
            if not result.triggered:
                new_state.pop(key, None)
            elif key not in new_state:
                new_state[key] = now
                to_send.append(Notification(trigger, result.condition.send, destination, key))
    return to_send, new_state


def failed(state: Mapping[str, int], notification: Notification) -> dict[str, int]:
    """The state after ``notification`` could not be delivered: tried again at the next
    change."""
    out = dict(state)
    out.pop(notification.key, None)
    return out
