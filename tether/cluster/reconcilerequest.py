"""Asking a Flux object (or Tether's image automation) to reconcile now: Flux's
``reconcile.fluxcd.io/requestedAt`` annotation, which whatever follows the object answers by
reconciling it. Used by the controller's image automation requests, Flux Receivers and the Flux
API."""

from __future__ import annotations

from collections.abc import Iterable

from tether.cluster.client import ClusterClient
from tether.cluster.discovery import ResourceInfo
from tether.cluster.errors import NotFound
from tether.names import FLUX_RECONCILE_REQUEST_ANNOTATION


async def annotate_requested(
    client: ClusterClient,
    info: ResourceInfo,
    namespace: str,
    names: Iterable[str],
    requested: str,
    field_manager: str,
) -> list[str]:
    """Set ``reconcile.fluxcd.io/requestedAt`` to ``requested`` on each named object of any
    Flux kind (image automation, Kustomizations, GitRepositories: whichever follows it
    reconciles at once); returns the names annotated (those that exist)."""
    patch = {"metadata": {"annotations": {FLUX_RECONCILE_REQUEST_ANNOTATION: requested}}}
    done = []
    for name in names:
        try:
            await client.patch(info, name, patch, namespace, field_manager=field_manager)
        except NotFound:
            continue
        done.append(name)
    return done
