"""batch/CronJob, as Argo CD 3.2 judges it from its schedule bookkeeping."""

from __future__ import annotations

from typing import Any

from tether.engine.health._fields import mapping, sequence, text
from tether.engine.health.status import (
    DEGRADED,
    HEALTHY,
    PROGRESSING,
    SUSPENDED,
    HealthStatus,
)


def cronjob_health(obj: dict[str, Any]) -> HealthStatus:
    """Health of a CronJob, as Argo CD 3.2 judges it from its schedule bookkeeping."""
    if mapping(obj.get("spec")).get("suspend") is True:
        return HealthStatus(SUSPENDED, "CronJob is Suspended")
    status = obj.get("status")
    if not isinstance(status, dict):
        return HealthStatus(PROGRESSING, "Waiting for CronJob")
    last_schedule = text(status.get("lastScheduleTime"))
    if not last_schedule:
        # Nothing in the status tells a missed schedule apart from one not due yet.
        return HealthStatus(HEALTHY, "CronJob has not been scheduled yet")
    last_success = text(status.get("lastSuccessfulTime"))
    if not last_success:
        # Either the first run is still going or it never succeeded: the status cannot tell.
        return HealthStatus(
            HEALTHY, "The Cronjob never completed succesfully. It may not be healthy"
        )
    if sequence(status.get("active")):
        return HealthStatus(
            HEALTHY, "The job is running. Its last execution may not have been successful"
        )
    # RFC 3339 timestamps in UTC ("...Z") compare correctly as strings.
    if last_success < last_schedule:
        return HealthStatus(DEGRADED, "CronJob has not completed its last execution successfully")
    return HealthStatus(HEALTHY, "CronJob has completed its last execution successfully")
