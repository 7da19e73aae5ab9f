"""Tolerant readers for Kubernetes objects as dicts.

Live objects come from the API server and are well formed, but ``tether health -f`` and Lua
users feed hand-written YAML too: a missing or mistyped field reads as its zero value, the way
Go's typed conversion in Argo CD treats an absent field, instead of raising.
"""

from __future__ import annotations

from typing import Any


def mapping(value: Any) -> dict[str, Any]:
    """``value`` if it is a dict, else an empty dict."""
    return value if isinstance(value, dict) else {}


def sequence(value: Any) -> list[Any]:
    """``value`` if it is a list, else an empty list."""
    return value if isinstance(value, list) else []


def integer(value: Any, default: int = 0) -> int:
    """``value`` if it is an integer (not a bool), else ``default``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return default


def text(value: Any) -> str:
    """``value`` if it is a string, else ``""``."""
    return value if isinstance(value, str) else ""


def condition(status: dict[str, Any], condition_type: str) -> dict[str, Any] | None:
    """The first entry of ``status.conditions`` with the given ``type``, if any."""
    for entry in sequence(status.get("conditions")):
        if isinstance(entry, dict) and entry.get("type") == condition_type:
            return entry
    return None


def group_kind(obj: dict[str, Any]) -> tuple[str, str]:
    """The API group (``""`` for the core group) and kind of an object."""
    api_version = text(obj.get("apiVersion"))
    group = api_version.rpartition("/")[0]
    return group, text(obj.get("kind"))


def name_of(obj: dict[str, Any]) -> str:
    """``metadata.name``, or ``""``."""
    return text(mapping(obj.get("metadata")).get("name"))


def rollout_not_observed(obj: dict[str, Any], what: str) -> str | None:
    """Argo CD's message when the controller has not seen the latest spec yet (``what``: e.g.
    "deployment"), or None when it has."""
    status = mapping(obj.get("status"))
    generation = integer(mapping(obj.get("metadata")).get("generation"))
    if generation > integer(status.get("observedGeneration")):
        return (
            f"Waiting for rollout to finish: observed {what} generation less than desired "
            "generation"
        )
    return None
