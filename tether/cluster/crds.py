"""Waiting for CustomResourceDefinitions: a new kind is usable once its CRD is Established."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any, Final

from tether.cluster.client import ClusterClient
from tether.cluster.errors import NotEstablished

CRD_API_VERSION: Final = "apiextensions.k8s.io/v1"
CRD_KIND: Final = "CustomResourceDefinition"


def is_established(crd: dict[str, Any]) -> bool:
    """True when a CRD's status has the condition ``Established=True``."""
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


async def wait_established(
    client: ClusterClient,
    names: Iterable[str],
    timeout: float,
    *,
    poll_interval: float = 0.05,
) -> None:
    """Wait until every CRD named is Established, then invalidate the client's discovery.

    ``timeout`` (seconds) bounds the whole wait, not each CRD. Raises :class:`NotEstablished`
    naming the first CRD still pending when it runs out, :class:`NotFound` when one does not
    exist. Discovery is invalidated so that the next lookup sees the new kinds.
    """
    info = await client.resource_for(CRD_API_VERSION, CRD_KIND)
    deadline = time.monotonic() + timeout
    for name in dict.fromkeys(names):
        # one GET a poll: a watch would cost a stream per CRD for a wait of a few polls
        while not is_established(await client.get(info, name)):
            if time.monotonic() > deadline:
                raise NotEstablished(
                    f"CRD {name} was not Established within {timeout:g}s; "
                    f"see kubectl describe crd {name}"
                )
            await asyncio.sleep(poll_interval)
    client.invalidate_discovery()
