"""A Kustomization's ``healthCheckExprs``: the health of an object of a matching apiVersion
and kind told by CEL expressions over its fields (``status``, ``spec``, ``metadata``…), as
kustomize-controller reads them: ``failed`` true is Degraded, then ``current`` true is Healthy,
anything else (``inProgress`` true, none true, an evaluation error) is Progressing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tether.engine.health.status import DEGRADED, HEALTHY, PROGRESSING, HealthStatus
from tether.flux.cel import CelError, Program
from tether.flux.specs import HealthExpr


def matching(exprs: Sequence[HealthExpr], obj: Mapping[str, Any]) -> HealthExpr | None:
    for expr in exprs:
        if (expr.api_version, expr.kind) == (obj.get("apiVersion"), obj.get("kind")):
            return expr
    return None


def _true(program: Program | None, variables: Mapping[str, Any]) -> bool | str:
    """True, False, or the evaluation error's message."""
    if program is None:
        return False
    try:
        value = program.evaluate(variables)
    except CelError as exc:
        return exc.message
    if not isinstance(value, bool):
        return f"'{program.text}' gives a {type(value).__name__}, not a bool"
    return value


def health_by_exprs(
    exprs: Sequence[HealthExpr], obj: Mapping[str, Any] | None
) -> HealthStatus | None:
    """The object's health by the first matching entry; None when none matches (the built-in
    checks then decide)."""
    if obj is None:
        return None
    expr = matching(exprs, obj)
    if expr is None:
        return None
    variables = dict(obj)
    for program, status in ((expr.failed, DEGRADED), (expr.current, HEALTHY)):
        outcome = _true(program, variables)
        if isinstance(outcome, str):
            return HealthStatus(PROGRESSING, f"health check expression failed: {outcome}")
        if outcome:
            assert program is not None
            return HealthStatus(status, f"'{program.text}' is true")
    return HealthStatus(PROGRESSING, "waiting for the health check expressions")
