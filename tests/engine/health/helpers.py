"""Shared test helpers."""

from __future__ import annotations

from typing import Any

from tether.engine.health import health_of


def status_of(obj: dict[str, Any] | None) -> str | None:
    """Just the status code of ``health_of(obj)``; ``None`` when the object has no health."""
    health = health_of(obj)
    return health.status if health is not None else None
