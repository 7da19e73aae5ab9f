"""Carries out :mod:`tether.controller.shards` against the cluster: one per replica.

Every third of the lease duration the :class:`ShardCoordinator` renews this replica's Lease,
reads the membership record (the Lease :data:`~tether.names.SHARD_RECORD_LEASE`), lists the
replicas' Leases to see which expired, and writes the record when it joins, removes an expired
replica or takes a shard. It works on a shard only while the record names it and its own Lease
was renewed within the renew deadline: past it, a timer stops all work at once. A shard it is no
longer wanted for is released: no new reconciles of its apps, the running ones finish (or are
cancelled past the release timeout), then the record drops it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from tether.cluster.client import ClusterClient
from tether.cluster.discovery import ResourceInfo
from tether.cluster.errors import AlreadyExists, ClusterError, Conflict, NotFound
from tether.controller.leadership import (
    LEASE_API_VERSION,
    ExpiryClock,
    ReplicaLease,
    fingerprints,
)
from tether.controller.shards import (
    ShardRecord,
    ShardRecordError,
    ShardSettings,
    app_shard,
    parse_pushes,
    plan,
    pushed,
    pushes_since,
    released,
)
from tether.names import (
    HELD_SHARDS_ANNOTATION,
    PUSHED_REPOSITORIES_ANNOTATION,
    REPLICA_LEASE_LABEL,
    SHARD_RECORD_ANNOTATION,
    SHARD_RECORD_LEASE,
)

log = logging.getLogger(__name__)

#: conditional writes of the push note tried before giving up (the others poll anyway)
PUSH_NOTE_ATTEMPTS = 3
#: a replica alone in the record lists the replicas' Leases only every this many rounds
LONE_LIST_EVERY = 12
#: Leases of replicas long gone deleted per round at most
STALE_DELETES_PER_ROUND = 5
#: the coordination client's own rate limit: renewals never wait behind the reconciles' requests
LEASE_CLIENT_QPS = 20.0


@dataclass(frozen=True)
class ShardHooks:
    """What the coordinator asks of the controller."""

    #: these shards are now this replica's: queue their apps
    gained: Callable[[frozenset[int]], None]
    #: wait until no reconcile of these shards runs; cancel those still running past the timeout
    drain: Callable[[frozenset[int], float], Awaitable[None]]
    #: the Lease was not renewed in time: cancel every running reconcile now
    stop_all: Callable[[], None]
    #: another replica received a webhook for these repositories: check them for own apps
    pushed: Callable[[list[str]], None] = lambda urls: None


class ShardCoordinator:
    """This replica's part in sharding: which shards it works on now (:meth:`active`)."""

    def __init__(
        self,
        client: ClusterClient,
        namespace: str,
        identity: str,
        settings: ShardSettings,
        hooks: ShardHooks,
    ) -> None:
        # its own client (own rate limiter), so a renewal never queues behind reconciles
        self.client = ClusterClient(
            client.config,
            replace(
                client.settings, qps=LEASE_CLIENT_QPS, burst=int(LEASE_CLIENT_QPS), max_retries=1
            ),
        )
        self.namespace = namespace
        self.identity = identity
        self.settings = settings
        self.hooks = hooks
        self.shards = settings.shards
        self.lease = ReplicaLease(self.client, namespace, identity, settings.lease_duration)
        self.clock = ExpiryClock(settings.lease_duration)
        self.generation = 0
        self.members: tuple[str, ...] = ()
        self._active: set[int] = set()
        self._releasing: set[int] = set()
        #: the record was written by this replica since it last stopped (or started)
        self._confirmed = False
        self._timer: asyncio.TimerHandle | None = None
        self._record_lock = asyncio.Lock()
        self._releases: set[asyncio.Task[None]] = set()
        self._info: ResourceInfo | None = None
        #: the record's Lease as last read (its other annotations survive a write)
        self._record_lease: dict[str, Any] | None = None
        #: the push note as last read (None before the first read)
        self._pushes: dict[str, int] | None = None
        self._rounds = 0
        #: when this replica first saw the record settling (None: it is not)
        self._settling_since: float | None = None
        #: set by a clean stop: no round takes anything any more
        self._leaving = False

    # ---- what the controller asks -------------------------------------------------------------

    def active(self, shard: int) -> bool:
        """Whether this replica may start reconciles of ``shard``'s apps now."""
        return shard in self._active

    def shard_of(self, obj: Mapping[str, Any]) -> int:
        return app_shard(obj, self.shards)

    @property
    def held(self) -> frozenset[int]:
        """The shards this replica works on now."""
        return frozenset(self._active)

    # ---- the loop -----------------------------------------------------------------------------

    async def start(self) -> None:
        """The first round, before any worker starts: a replica alone on a fresh install owns
        every shard when this returns."""
        await self._round()

    async def run(self) -> None:
        """Take part until cancelled: a round every third of the lease duration."""
        while True:
            await asyncio.sleep(self.settings.renew_interval)
            await self._round()

    async def _round(self) -> None:
        try:
            await self.tick()
        except (ClusterError, ShardRecordError) as exc:
            log.warning("sharding: %s", exc.message)

    async def tick(self) -> None:
        """Renew, read the record, see who expired, write what changes, start or stop work."""
        info = self._info = self._info or await self.client.resource_for(LEASE_API_VERSION, "Lease")
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.settings.renew_deadline):
                await self.lease.renew(info, self._active | self._releasing)
        except TimeoutError:
            log.warning("sharding: renewing the Lease %s timed out", self.lease.name)
            return
        self._arm_deadline(started)
        if self._leaving:
            return  # a clean stop runs: the Lease is kept while it drains, nothing is taken
        try:
            # past the renew deadline this replica may already count as expired elsewhere:
            # whatever the record says then is not trusted until the next renewal
            async with asyncio.timeout_at(self._deadline_loop_time()), self._record_lock:
                await self._plan_and_adopt(info)
        except TimeoutError:
            log.warning("sharding: reading the record took past the renew deadline")

    async def _plan_and_adopt(self, info: ResourceInfo) -> None:
        record, version = await self._read_record(info)
        self._rounds += 1
        others = (set(record.members) | set(record.owners.values())) - {self.identity}
        leases: list[dict[str, Any]] = []  # not listed this round
        must_list = version is None or record.settling
        if others or must_list or self._rounds % LONE_LIST_EVERY == 1:
            # alone, nobody can expire: the Leases are listed only now and then (stale ones)
            found = await self.client.list(
                info, self.namespace, label_selector=f"{REPLICA_LEASE_LABEL}=true"
            )
            leases = found.items
        now = time.monotonic()
        self.clock.observe(record.members, fingerprints(leases), now)
        expired = self.clock.expired(record.members, now)
        if version is None and self._others_hold(leases):
            # the record is gone but replicas say they work: they may, under the old one
            record = replace(record, settling=True)
        settled = self._settled(record, now)
        base = replace(record, settling=False) if settled else record
        step = plan(base, self.identity, expired, confirm=not self._confirmed or settled)
        if step.record is not None:
            try:
                await self._write_record(info, step.record, version)
            except Conflict:
                return  # someone else wrote first: read again next tick
            if self._timer is None:
                return  # the deadline passed during the write: confirmed at the next tick
            for gone in sorted(expired & set(record.members)):
                log.info("sharding: replica %s expired and left the record", gone)
            record = step.record
            self._confirmed = True
        await self._adopt(info, record, step.release)
        if leases:
            self.clock.forget(set(record.members) | set(fingerprints(leases)))
            await self._delete_stale(info, leases, record, now)

    async def _delete_stale(
        self, info: ResourceInfo, leases: list[dict[str, Any]], record: ShardRecord, now: float
    ) -> None:
        """Delete a few Leases of replicas gone for a lease duration and no longer members
        (a crashed replica's Lease would stay, and be listed every round, forever)."""
        holders = {
            str(lease["metadata"]["name"]): (lease.get("spec") or {}).get("holderIdentity")
            for lease in leases
        }
        gone = self.clock.expired({h for h in holders.values() if isinstance(h, str)}, now)
        stale = [
            name
            for name, holder in holders.items()
            if holder in gone and holder not in record.members and holder != self.identity
        ]
        for name in stale[:STALE_DELETES_PER_ROUND]:
            try:
                await self.client.delete(info, name, self.namespace)
                log.info("sharding: deleted the Lease %s of a replica gone", name)
            except NotFound:
                pass

    def _settled(self, record: ShardRecord, now: float) -> bool:
        """Whether a settling record has been seen so for a whole lease duration."""
        if not record.settling:
            self._settling_since = None
            return False
        if self._settling_since is None:
            self._settling_since = now
        return now - self._settling_since > self.settings.lease_duration

    def _others_hold(self, leases: list[dict[str, Any]]) -> bool:
        """Whether another replica's Lease lists shards it works on."""
        return any(
            (lease.get("spec") or {}).get("holderIdentity") != self.identity
            and ((lease.get("metadata") or {}).get("annotations") or {}).get(HELD_SHARDS_ANNOTATION)
            for lease in leases
        )

    async def _adopt(
        self, info: ResourceInfo, record: ShardRecord, release: frozenset[int]
    ) -> None:
        """Work on what the record gives this replica; release what it should no longer hold."""
        self.shards, self.generation, self.members = (
            record.shards,
            record.generation,
            record.members,
        )
        if not self._confirmed:
            return
        owned = record.held_by(self.identity)
        if lost := self._active - owned:
            # never released, never expired: the record was deleted or edited by hand
            log.warning(
                "sharding: the record no longer gives shards %s to this replica: "
                "its running reconciles are cancelled",
                _text(frozenset(lost)),
            )
            self.hooks.stop_all()
        wanted = owned - self._releasing - release
        self._active &= wanted
        gained = frozenset(wanted - self._active)
        if gained:
            # said on this replica's Lease before any work: a replica that finds the record
            # deleted sees who may still be working under it
            await self.lease.renew(info, self._active | self._releasing | gained)
            self._active |= gained
            log.info("sharding: took shards %s (generation %d)", _text(gained), record.generation)
            self.hooks.gained(gained)
        fresh = frozenset(release & owned - self._releasing)
        if fresh:
            task = asyncio.create_task(self._release(fresh), name="shard-release")
            self._releases.add(task)
            task.add_done_callback(self._releases.discard)

    async def _release(self, shards: frozenset[int]) -> None:
        """Stop starting reconciles of ``shards``, let the running ones end, then drop them."""
        self._releasing |= shards
        self._active -= shards
        try:
            await self.hooks.drain(shards, self.settings.release_timeout)
            log.info("sharding: released shards %s", _text(shards))
            while True:
                try:
                    await self._drop(shards)
                    return
                except (ClusterError, ShardRecordError) as exc:
                    log.warning("sharding: releasing shards: %s", exc.message)
                await asyncio.sleep(self.settings.renew_interval)
        finally:
            self._releasing -= shards

    async def _drop(self, shards: frozenset[int], leaving: bool = False) -> None:
        """Write the record without these shards' ownership (leaving: without any of this
        replica's, and without it as a member)."""
        info = self._info or await self.client.resource_for(LEASE_API_VERSION, "Lease")
        async with self._record_lock:
            record, version = await self._read_record(info)
            if leaving:
                shards = shards | record.held_by(self.identity)
                record = plan(record, self.identity, leaving=True).record or record
            await self._write_record(info, released(record, self.identity, shards), version)

    # ---- the renew deadline ------------------------------------------------------------------

    def _arm_deadline(self, renewed_at: float) -> None:
        """Stop all work ``renew_deadline`` after the start of this renewal unless renewed."""
        if self._timer is not None:
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        due = loop.time() + (renewed_at + self.settings.renew_deadline - time.monotonic())
        self._timer = loop.call_at(due, self._lost_lease)

    def _deadline_loop_time(self) -> float:
        """When the renew deadline passes, on the event loop's clock."""
        return self._timer.when() if self._timer is not None else asyncio.get_running_loop().time()

    def _lost_lease(self) -> None:
        self._timer = None
        if self._active or self._releasing:
            log.warning(
                "sharding: the Lease %s was not renewed within %.1f s: all work stops",
                self.lease.name,
                self.settings.renew_deadline,
            )
        self._active.clear()
        self._confirmed = False
        self.hooks.stop_all()

    # ---- the record --------------------------------------------------------------------------

    async def _read_record(self, info: ResourceInfo) -> tuple[ShardRecord, str | None]:
        """The record and its resourceVersion (None: it does not exist yet)."""
        try:
            lease = await self.client.get(info, SHARD_RECORD_LEASE, self.namespace)
        except NotFound:
            self._record_lease = None
            return ShardRecord(self.settings.shards), None
        self._record_lease = lease
        annotations = (lease.get("metadata") or {}).get("annotations") or {}
        self._notice_pushes(parse_pushes(annotations.get(PUSHED_REPOSITORIES_ANNOTATION)))
        text = annotations.get(SHARD_RECORD_ANNOTATION)
        version = str(lease["metadata"].get("resourceVersion") or "")
        if not text:
            return ShardRecord(self.settings.shards), version
        record = ShardRecord.from_json(str(text))
        if record.shards != self.settings.shards and not self._confirmed:
            log.warning(
                "sharding: the record has %d shards (this replica was given %d): the record wins",
                record.shards,
                self.settings.shards,
            )
        return record, version

    async def _write_record(
        self, info: ResourceInfo, record: ShardRecord, version: str | None
    ) -> None:
        """Write ``record`` only if the record is still at ``version`` (Conflict otherwise)."""
        kept = ((self._record_lease or {}).get("metadata") or {}).get("annotations") or {}
        body: dict[str, Any] = {
            "apiVersion": LEASE_API_VERSION,
            "kind": "Lease",
            "metadata": {
                "name": SHARD_RECORD_LEASE,
                "namespace": self.namespace,
                "annotations": {**kept, SHARD_RECORD_ANNOTATION: record.to_json()},
            },
            "spec": {},
        }
        if version is None:
            try:
                await self.client.create(info, body)
            except AlreadyExists as exc:
                raise Conflict(exc.message) from None
            return
        body["metadata"]["resourceVersion"] = version
        await self.client.replace(info, body, self.namespace)

    # ---- webhooks heard by one replica, for all ------------------------------------------------

    def _notice_pushes(self, note: dict[str, int]) -> None:
        if self._pushes is not None and (urls := pushes_since(self._pushes, note)):
            self.hooks.pushed(urls)
        self._pushes = note

    async def announce_push(self, urls: list[str]) -> None:
        """Note in the record's Lease that these repositories were pushed, so every other
        replica checks them for its apps at its next round (a webhook reaches one replica)."""
        if len(self.members) < 2 or not urls:
            return
        info = self._info or await self.client.resource_for(LEASE_API_VERSION, "Lease")
        for _ in range(PUSH_NOTE_ATTEMPTS):
            try:
                lease = await self.client.get(info, SHARD_RECORD_LEASE, self.namespace)
                annotations = lease["metadata"].setdefault("annotations", {})
                note = pushed(parse_pushes(annotations.get(PUSHED_REPOSITORIES_ANNOTATION)), urls)
                annotations[PUSHED_REPOSITORIES_ANNOTATION] = json.dumps(note)
                await self.client.replace(info, lease, self.namespace)
                if self._pushes is not None:
                    # our own note: this replica polled these already
                    self._pushes.update({u: note[u] for u in urls if u in note})
                return
            except Conflict:
                continue
            except ClusterError as exc:
                log.warning("sharding: could not pass the push on: %s", exc.message)
                return

    # ---- a clean stop --------------------------------------------------------------------------

    async def leave(self) -> None:
        """Stop starting reconciles, let the running ones end, leave the record, delete the
        Lease: the others take the shards at once instead of after the lease duration."""
        self._leaving = True
        held = frozenset(self._active | self._releasing)
        self._active.clear()
        for task in list(self._releases):
            task.cancel()
        try:
            async with asyncio.timeout(
                self.settings.release_timeout + self.settings.lease_duration
            ):
                await self.hooks.drain(held, self.settings.release_timeout)
                await self._drop(held, leaving=True)
                info = self._info or await self.client.resource_for(LEASE_API_VERSION, "Lease")
                await self.lease.delete(info)
                log.info("sharding: left (released shards %s)", _text(held))
        except (ClusterError, ShardRecordError, TimeoutError) as exc:
            log.warning("sharding: could not leave cleanly (%s); others wait for the Lease", exc)
        finally:
            if self._timer is not None:
                self._timer.cancel()

    async def aclose(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        await self.client.aclose()


def _text(shards: frozenset[int]) -> str:
    return ",".join(str(s) for s in sorted(shards)) or "none"
