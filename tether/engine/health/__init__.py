"""Health assessment: is each live object Healthy, Progressing, Degraded, Suspended, Missing or
Unknown, and why; Argo CD's semantics and messages, with Lua customizations.

Pure functions over Kubernetes objects as dicts: no cluster access. One module per kind, as in
Argo CD's gitops-engine; :func:`health_of` picks the check.
"""

from tether.engine.health.check import (
    BUILTIN_CHECKS,
    app_health_of,
    application_health,
    has_health,
    health_of,
    ignores_healthcheck,
)
from tether.engine.health.customizations import (
    HealthCustomizationError,
    HealthCustomizations,
    HealthScript,
)
from tether.engine.health.lua import LuaScriptError
from tether.engine.health.status import (
    DEGRADED,
    HEALTHY,
    MISSING,
    PROGRESSING,
    STATUS_ORDER,
    SUSPENDED,
    UNKNOWN,
    HealthStatus,
    aggregate,
    is_worse,
)
from tether.names import IGNORE_HEALTHCHECK_ANNOTATION

__all__ = [
    "BUILTIN_CHECKS",
    "DEGRADED",
    "HEALTHY",
    "IGNORE_HEALTHCHECK_ANNOTATION",
    "MISSING",
    "PROGRESSING",
    "STATUS_ORDER",
    "SUSPENDED",
    "UNKNOWN",
    "HealthCustomizationError",
    "HealthCustomizations",
    "HealthScript",
    "HealthStatus",
    "LuaScriptError",
    "aggregate",
    "app_health_of",
    "application_health",
    "has_health",
    "health_of",
    "ignores_healthcheck",
    "is_worse",
]
