"""Leader election through a ``coordination.k8s.io`` Lease: one replica reconciles at a time.

The holder renews the Lease every third of its duration; another replica takes it over once
``renewTime`` is older than ``leaseDurationSeconds``.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tether.cluster.client import ClusterClient
from tether.cluster.discovery import ResourceInfo
from tether.cluster.errors import ClusterError, Conflict, NotFound
from tether.names import LEASE_NAME

log = logging.getLogger(__name__)

LEASE_API_VERSION = "coordination.k8s.io/v1"


def _stamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _renewed_at(text: str) -> datetime:
    return datetime.strptime(text.replace("Z", "").split(".")[0], "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=UTC
    )


def may_take(lease: dict[str, Any], me: str, now: datetime, duration: float) -> bool:
    """Whether ``me`` may take or renew ``lease``: it holds it already, or the holder stopped
    renewing it for longer than its duration."""
    spec = lease.get("spec") or {}
    holder = spec.get("holderIdentity")
    renew = spec.get("renewTime")
    expired = True
    if renew:
        held_for = float(spec.get("leaseDurationSeconds") or duration)
        expired = (now - _renewed_at(renew)).total_seconds() > held_for
    return holder == me or expired


def renewed_lease(lease: dict[str, Any], me: str, now: datetime) -> dict[str, Any]:
    """``lease`` renewed by ``me`` (a transition counted when the holder changes)."""
    spec = lease.get("spec") or {}
    new = copy.deepcopy(lease)
    new["spec"]["holderIdentity"] = me
    new["spec"]["renewTime"] = _stamp(now)
    if spec.get("holderIdentity") != me:
        new["spec"]["acquireTime"] = _stamp(now)
        new["spec"]["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
    return new


class Leadership:
    """Holds (or waits for) the controller's Lease; ``on_change(is_leader)`` on every change."""

    def __init__(
        self,
        client: ClusterClient,
        namespace: str,
        identity: str,
        duration: float,
        on_change: Callable[[bool], None],
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.identity = identity
        self.duration = duration
        self.on_change = on_change
        self.is_leader = False

    async def run(self) -> None:
        """Try to take or renew the Lease every third of its duration, until cancelled."""
        info = await self.client.resource_for(LEASE_API_VERSION, "Lease")
        while True:
            try:
                leader = await self._try_lease(info)
            except ClusterError as exc:
                log.warning("leader election: %s", exc.message)
                leader = False
            if leader != self.is_leader:
                self.is_leader = leader
                log.info("%s leadership", "acquired" if leader else "lost")
                self.on_change(leader)
            await asyncio.sleep(self.duration / 3)

    async def _try_lease(self, info: ResourceInfo) -> bool:
        now = datetime.now(UTC)
        try:
            lease = await self.client.get(info, LEASE_NAME, self.namespace)
        except NotFound:
            return await self._create(info, now)
        if not may_take(lease, self.identity, now, self.duration):
            return False
        try:
            await self.client.replace(
                info, renewed_lease(lease, self.identity, now), self.namespace
            )
        except Conflict:
            return False
        return True

    async def _create(self, info: ResourceInfo, now: datetime) -> bool:
        body = {
            "apiVersion": LEASE_API_VERSION,
            "kind": "Lease",
            "metadata": {"name": LEASE_NAME, "namespace": self.namespace},
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": int(self.duration),
                "acquireTime": _stamp(now),
                "renewTime": _stamp(now),
                "leaseTransitions": 0,
            },
        }
        try:
            await self.client.create(info, body)
            return True
        except ClusterError:
            return False
