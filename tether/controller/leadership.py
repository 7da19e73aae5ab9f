"""Each replica's own ``coordination.k8s.io`` Lease: renewed to say it lives, watched by the
others to tell when it died.

A replica renews its Lease every third of the lease duration. Another replica never compares
clocks across machines: it notes, by its own monotonic clock, when it last saw a replica's
Lease change (or disappear), and calls that replica expired once nothing changed for longer
than the lease duration (:class:`ExpiryClock`).
"""

from __future__ import annotations

import copy
import hashlib
import logging
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from tether.cluster.client import ClusterClient
from tether.cluster.discovery import ResourceInfo
from tether.cluster.errors import Conflict, NotFound
from tether.names import HELD_SHARDS_ANNOTATION, REPLICA_LEASE_LABEL, REPLICA_LEASE_PREFIX

log = logging.getLogger(__name__)

LEASE_API_VERSION = "coordination.k8s.io/v1"
#: a Lease name is a DNS subdomain; the identity part is cut (and made unique) beyond this
_MAX_IDENTITY_IN_NAME = 200


def _stamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _renewed_at(text: str) -> datetime:
    return datetime.strptime(text.replace("Z", "").split(".")[0], "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=UTC
    )


def may_take(lease: dict[str, Any], me: str, now: datetime, duration: float) -> bool:
    """Whether ``me`` may take or renew ``lease``: it holds it already, or the holder stopped
    renewing it for longer than its duration (by the lease's own timestamps)."""
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
    new.setdefault("spec", {})
    new["spec"]["holderIdentity"] = me
    new["spec"]["renewTime"] = _stamp(now)
    if spec.get("holderIdentity") != me:
        new["spec"]["acquireTime"] = _stamp(now)
        new["spec"]["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
    return new


def lease_name_for(identity: str) -> str:
    """The name of ``identity``'s own Lease: lower case, other characters as ``-``, long or
    changed identities made unique with a short hash."""
    cleaned = re.sub(r"[^a-z0-9.-]+", "-", identity.lower()).strip("-.") or "replica"
    if cleaned != identity or len(cleaned) > _MAX_IDENTITY_IN_NAME:
        digest = hashlib.sha256(identity.encode()).hexdigest()[:8]
        cleaned = f"{cleaned[:_MAX_IDENTITY_IN_NAME]}-{digest}"
    return f"{REPLICA_LEASE_PREFIX}{cleaned}"


def held_text(shards: Iterable[int]) -> str:
    return ",".join(str(s) for s in sorted(shards))


class ReplicaLease:
    """This replica's own Lease: created when missing, renewed with the shards it works on,
    deleted when it leaves cleanly."""

    def __init__(
        self, client: ClusterClient, namespace: str, identity: str, duration: float
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.identity = identity
        self.duration = duration
        self.name = lease_name_for(identity)
        self._last: dict[str, Any] | None = None

    async def renew(self, info: ResourceInfo, held: Iterable[int]) -> None:
        """Renew (or create) the Lease; raises the client's error when the cluster refuses."""
        now = datetime.now(UTC)
        if self._last is None:
            try:
                self._last = await self.client.get(info, self.name, self.namespace)
            except NotFound:
                self._last = await self.client.create(info, self._body(now, held))
                return
        body = renewed_lease(self._last, self.identity, now)
        body["spec"]["leaseDurationSeconds"] = int(self.duration)
        body["metadata"].setdefault("annotations", {})[HELD_SHARDS_ANNOTATION] = held_text(held)
        try:
            self._last = await self.client.replace(info, body, self.namespace)
        except (Conflict, NotFound):
            self._last = None  # changed or deleted by someone else: read it again next time
            raise

    async def delete(self, info: ResourceInfo) -> None:
        try:
            await self.client.delete(info, self.name, self.namespace)
        except NotFound:
            pass
        self._last = None

    def _body(self, now: datetime, held: Iterable[int]) -> dict[str, Any]:
        return {
            "apiVersion": LEASE_API_VERSION,
            "kind": "Lease",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": {REPLICA_LEASE_LABEL: "true"},
                "annotations": {HELD_SHARDS_ANNOTATION: held_text(held)},
            },
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": int(self.duration),
                "acquireTime": _stamp(now),
                "renewTime": _stamp(now),
                "leaseTransitions": 0,
            },
        }


def fingerprints(leases: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Holder identity -> what changes at every renewal (resourceVersion and renewTime)."""
    out: dict[str, str] = {}
    for lease in leases:
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity")
        if isinstance(holder, str) and holder:
            meta = lease.get("metadata") or {}
            out[holder] = f"{meta.get('resourceVersion')}/{spec.get('renewTime')}"
    return out


class ExpiryClock:
    """When each replica's Lease last changed, by this replica's own monotonic clock.

    A replica seen for the first time (or after this one started) counts as just changed: a
    replica that restarts waits a whole lease duration before taking a silent one's shards.
    A Lease that disappeared is a change too, and expires a duration later.
    """

    def __init__(self, duration: float) -> None:
        self.duration = duration
        self._seen: dict[str, tuple[str | None, float]] = {}

    def observe(self, members: Iterable[str], current: Mapping[str, str], now: float) -> None:
        """Note the fingerprints read at ``now`` for ``members`` (and every listed Lease)."""
        for member in set(members) | set(current):
            print_ = current.get(member)
            seen = self._seen.get(member)
            if seen is None or seen[0] != print_:
                self._seen[member] = (print_, now)

    def expired(self, members: Iterable[str], now: float) -> set[str]:
        """The members whose Lease has not changed for longer than the lease duration."""
        return {
            m
            for m in members
            if (seen := self._seen.get(m)) is not None and now - seen[1] > self.duration
        }

    def forget(self, keep: Iterable[str]) -> None:
        """Drop what is known of replicas no longer listed anywhere."""
        kept = set(keep)
        for member in list(self._seen):
            if member not in kept:
                del self._seen[member]
