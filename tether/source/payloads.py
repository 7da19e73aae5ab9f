"""Reading webhook payloads defensively: a field of the wrong type reads as empty, never raises."""

from __future__ import annotations

from typing import Any


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def distinct_urls(*candidates: Any) -> tuple[str, ...]:
    """The non-empty strings among ``candidates``, once each, in order."""
    seen: list[str] = []
    for candidate in candidates:
        if isinstance(candidate, str) and candidate and candidate not in seen:
            seen.append(candidate)
    return tuple(seen)
