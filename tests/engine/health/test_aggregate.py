"""Application health: the worst of its resources, ignore-healthcheck, resources without health."""

from __future__ import annotations

import itertools
from typing import Any

from tether.engine.health import (
    DEGRADED,
    HEALTHY,
    MISSING,
    PROGRESSING,
    STATUS_ORDER,
    SUSPENDED,
    UNKNOWN,
    HealthStatus,
    aggregate,
    app_health_of,
    application_health,
    is_worse,
)


def test_order_is_argo_cds() -> None:
    assert STATUS_ORDER == (HEALTHY, SUSPENDED, PROGRESSING, MISSING, DEGRADED, UNKNOWN)
    for better, worse in itertools.combinations(STATUS_ORDER, 2):
        assert is_worse(better, worse)
        assert not is_worse(worse, better)


def test_aggregate_is_the_worst_status_whatever_the_order() -> None:
    for pair in itertools.permutations(STATUS_ORDER, 2):
        expected = max(pair, key=STATUS_ORDER.index)
        assert aggregate(HealthStatus(s) for s in pair).status == expected


def test_aggregate_keeps_the_message_of_the_first_worst_resource() -> None:
    statuses = [
        HealthStatus(PROGRESSING, "rolling"),
        HealthStatus(DEGRADED, "first failure"),
        HealthStatus(DEGRADED, "second failure"),
    ]
    assert aggregate(statuses) == HealthStatus(DEGRADED, "first failure")


def test_application_without_resources_with_health_is_healthy() -> None:
    assert aggregate([]) == HealthStatus(HEALTHY)
    assert aggregate([None, None]) == HealthStatus(HEALTHY)


def _deployment(annotations: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "generation": 1, "annotations": annotations},
        "spec": {"replicas": 1},
        "status": {
            "observedGeneration": 1,
            "conditions": [
                {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
            ],
        },
    }


def test_ignore_healthcheck_annotation_leaves_a_resource_out_of_app_health() -> None:
    ignored = _deployment({"argocd.argoproj.io/ignore-healthcheck": "true"})
    counted = _deployment({})
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}}
    assert app_health_of(ignored) is None
    assert app_health_of(counted) == HealthStatus(
        DEGRADED, 'Deployment "web" exceeded its progress deadline'
    )
    assert application_health([ignored, config]) == HealthStatus(HEALTHY)
    assert application_health([ignored, counted]).status == DEGRADED
    assert (
        app_health_of(_deployment({"argocd.argoproj.io/ignore-healthcheck": "false"})) is not None
    )


def test_missing_resource_makes_the_application_missing_unless_worse() -> None:
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}}
    assert application_health([config, None]).status == MISSING
    assert application_health([_deployment({}), None]).status == DEGRADED
