"""Flux's events as Kubernetes Events too: what ``kubectl describe``, ``kubectl events`` and
``tether flux events`` show, recorded by the controller Flux names (``kustomize-controller``,
``helm-controller``, ``source-controller``): Normal for info, Warning for errors."""

from __future__ import annotations

import logging

from tether.cluster.client import ClusterClient
from tether.cluster.errors import ClusterError
from tether.controller.writes import event_for
from tether.notify.flux.models import FluxEvent

log = logging.getLogger(__name__)
#: the longest message an Event keeps (the API server refuses more than 1 MiB objects)
MAX_MESSAGE = 16 * 1024


async def record(client: ClusterClient, event: FluxEvent) -> None:
    involved = event.involved
    obj = {"metadata": {"name": involved.name, "uid": involved.uid or None,
                        "resourceVersion": involved.resource_version or None}}  # fmt: skip
    document = event_for(
        obj,
        involved.namespace,
        "Normal" if event.severity == "info" else "Warning",
        event.reason,
        event.message[:MAX_MESSAGE],
        api_version=involved.api_version,
        kind=involved.kind,
        component=event.reporting_controller,
    )
    info = await client.resource_for("v1", "Event")
    try:
        await client.create(info, document)
    except ClusterError as exc:
        log.debug("Flux event not recorded: %s", exc.message)
