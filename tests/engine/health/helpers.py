"""Shared test helpers."""

from __future__ import annotations

from typing import Any

from tether.engine.health import HealthCustomizations, HealthStatus, health_of


def status_of(obj: dict[str, Any] | None) -> str | None:
    """Just the status code of ``health_of(obj)``; ``None`` when the object has no health."""
    health = health_of(obj)
    return health.status if health is not None else None


def lua_check(script: str, obj: dict[str, Any], **limits: Any) -> HealthStatus | None:
    """The health of ``obj`` under ``script`` configured for its group/kind (``limits``: the
    sandbox's ``timeout_seconds`` and ``max_memory``)."""
    group = obj["apiVersion"].rpartition("/")[0]
    customizations = HealthCustomizations.from_scripts({f"{group}/{obj['kind']}": script}, **limits)
    return health_of(obj, customizations=customizations)
