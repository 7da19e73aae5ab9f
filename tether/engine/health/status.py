"""The health record every check returns, Argo CD's six status codes and their order."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

HEALTHY: Final = "Healthy"
SUSPENDED: Final = "Suspended"
PROGRESSING: Final = "Progressing"
MISSING: Final = "Missing"
DEGRADED: Final = "Degraded"
UNKNOWN: Final = "Unknown"

#: Argo CD's order, most healthy first: an application is as healthy as its worst resource.
STATUS_ORDER: Final[tuple[str, ...]] = (HEALTHY, SUSPENDED, PROGRESSING, MISSING, DEGRADED, UNKNOWN)
_RANK: Final = {status: rank for rank, status in enumerate(STATUS_ORDER)}


@dataclass(frozen=True, slots=True)
class HealthStatus:
    """The health of one object: one of :data:`STATUS_ORDER` and a human-readable message."""

    status: str
    message: str = ""

    def to_dict(self) -> dict[str, str]:
        """The JSON shape Argo CD uses (``{"status": ..., "message": ...}``)."""
        return {"status": self.status, "message": self.message}


def is_valid_status(status: object) -> bool:
    """Whether ``status`` is one of the six health codes (case-sensitive, as in Argo CD)."""
    return isinstance(status, str) and status in _RANK


def is_worse(current: str, new: str) -> bool:
    """Whether ``new`` is a worse health code than ``current``."""
    return _RANK.get(new, 0) > _RANK.get(current, 0)


def aggregate(statuses: Iterable[HealthStatus | None]) -> HealthStatus:
    """Application health: the worst of its resources' health.

    ``None`` entries (resources without health, or excluded with the
    ``argocd.argoproj.io/ignore-healthcheck`` annotation) do not count; an application with no
    resource that has health is Healthy. Among several resources with the worst status, the
    first one's message is kept so the caller can show why.
    """
    worst: HealthStatus | None = None
    worst_rank = -1
    for health in statuses:
        if health is None:
            continue
        rank = _RANK.get(health.status, _RANK[UNKNOWN])
        if rank > worst_rank:
            worst, worst_rank = health, rank
    return worst if worst is not None else HealthStatus(HEALTHY)
