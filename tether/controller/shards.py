"""Which replica reconciles which Application: shards, the membership record, the hand-off.

Pure decisions, no I/O (:mod:`tether.controller.sharding` carries them out against the cluster):

- an Application belongs to one of a fixed number of shards, by a stable hash of its name or by
  the pin label :data:`~tether.names.SHARD_LABEL`;
- the membership record (one object, updated with optimistic concurrency) lists the replicas,
  a generation, and the **owner** of each shard; every replica computes the same wanted
  assignment from its members (rendezvous hashing), so a join or a leave moves only the shards
  it must;
- a shard changes owner only through a conditional write of the record, and only when it has
  no owner (its old owner released it after its reconciles ended) or its owner's Lease expired
  by the taker's own clock. An owner works on a shard only while the record names it and its
  own Lease was renewed within the renew deadline, which is shorter than the lease duration:
  so no two replicas ever work on one shard at once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from tether.errors import TetherError
from tether.names import SHARD_LABEL

#: shards when the record is created (the record's count wins afterwards)
DEFAULT_SHARDS = 128
#: seconds a replica's Lease lives without renewal before others may take its shards
DEFAULT_LEASE_DURATION = 15.0
#: at most this many shards (bounds the record's size: an annotation stays far below 256 KiB)
MAX_SHARDS = 1024
#: at most this many replicas in the record
MAX_MEMBERS = 256
#: at most this many bytes of a record annotation are read
MAX_RECORD_BYTES = 64 * 1024


class ShardRecordError(TetherError):
    """The membership record cannot be read (edited by hand, or written by another version)."""


@dataclass(frozen=True)
class ShardSettings:
    """How a replica takes part in sharding (the ``tether controller`` flags)."""

    shards: int = DEFAULT_SHARDS
    lease_duration: float = DEFAULT_LEASE_DURATION
    #: a replica that could not renew its Lease for this long stops all work; shorter than
    #: the lease duration so it has stopped before anyone may take its shards
    renew_deadline: float = 0.0
    #: seconds a released shard's running reconciles may take to finish before they are
    #: cancelled
    release_timeout: float = 0.0

    def __post_init__(self) -> None:
        if not 1 <= self.shards <= MAX_SHARDS:
            raise ShardRecordError(f"shards must be between 1 and {MAX_SHARDS}, not {self.shards}")
        if self.lease_duration < 3:
            raise ShardRecordError(
                f"the lease duration must be at least 3 s, not {self.lease_duration}"
            )
        deadline = self.renew_deadline or self.lease_duration * 2 / 3
        if not 0 < deadline < self.lease_duration:
            raise ShardRecordError(
                f"the renew deadline ({deadline} s) must be shorter than the lease duration "
                f"({self.lease_duration} s)"
            )
        object.__setattr__(self, "renew_deadline", deadline)
        object.__setattr__(self, "release_timeout", self.release_timeout or self.lease_duration)

    @property
    def renew_interval(self) -> float:
        """Renewals come every third of the lease duration."""
        return self.lease_duration / 3


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def shard_of(name: str, shards: int, pin: str | None = None) -> int:
    """The shard of the Application ``name``: ``pin`` when it is a shard number in range,
    else a stable hash of the name (the same in every replica and every release)."""
    if pin is not None and pin.strip().isdigit() and int(pin) < shards:
        return int(pin)
    return _hash(name) % shards


def app_shard(obj: Mapping[str, Any], shards: int) -> int:
    """The shard of an Application object (its pin label, else its name)."""
    meta = obj.get("metadata") or {}
    pin = (meta.get("labels") or {}).get(SHARD_LABEL)
    return shard_of(str(meta.get("name") or ""), shards, pin if isinstance(pin, str) else None)


def owner_of(shard: int, members: Iterable[str]) -> str | None:
    """Rendezvous hashing: the member with the highest hash of (member, shard), or None.

    A member joining takes only the shards it now wins; a member leaving gives only its own.
    """
    return max(members, key=lambda member: (_hash(f"{member}/{shard}"), member), default=None)


def wanted_owners(shards: int, members: Iterable[str]) -> dict[int, str]:
    """The assignment every replica computes from the same members."""
    listed = sorted(set(members))
    out: dict[int, str] = {}
    for shard in range(shards):
        owner = owner_of(shard, listed)
        if owner is not None:
            out[shard] = owner
    return out


@dataclass(frozen=True)
class ShardRecord:
    """The membership record: replicas, a generation bumped when they change, shard owners."""

    shards: int
    generation: int = 0
    members: tuple[str, ...] = ()
    owners: Mapping[int, str] = field(default_factory=dict)
    #: made again while other replicas lived (the old one was deleted): nobody takes a shard
    #: until a replica has seen it so for a lease duration, by which time every replica that
    #: worked under the old one has read this one and stopped
    settling: bool = False

    def held_by(self, member: str) -> frozenset[int]:
        """The shards the record gives to ``member``."""
        return frozenset(s for s, owner in self.owners.items() if owner == member)

    def to_json(self) -> str:
        return json.dumps(
            {
                "shards": self.shards,
                "generation": self.generation,
                "members": list(self.members),
                "owners": {str(s): o for s, o in sorted(self.owners.items())},
                "settling": self.settling,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> ShardRecord:
        """The record, or :class:`ShardRecordError` naming what is wrong."""
        if len(text) > MAX_RECORD_BYTES:
            raise ShardRecordError(f"the shard record is larger than {MAX_RECORD_BYTES} bytes")
        try:
            data = json.loads(text)
            shards = int(data["shards"])
            generation = int(data["generation"])
            if not isinstance(data["members"], list) or not isinstance(data["owners"], dict):
                raise TypeError("members must be a list and owners a mapping")
            members = tuple(str(m) for m in data["members"])
            owners = {int(s): str(o) for s, o in data["owners"].items()}
            settling = data.get("settling", False) is True
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ShardRecordError(f"the shard record is malformed: {exc}") from None
        if not 1 <= shards <= MAX_SHARDS or len(members) > MAX_MEMBERS:
            raise ShardRecordError(
                f"the shard record is out of bounds ({shards} shards, {len(members)} members)"
            )
        if any(not 0 <= s < shards for s in owners):
            raise ShardRecordError("the shard record names a shard out of range")
        return cls(shards, generation, members, owners, settling)


@dataclass(frozen=True)
class Step:
    """What one replica does after reading the record: the record it writes (None: no write),
    the shards that write gives it, and the shards it must release (after draining them)."""

    record: ShardRecord | None
    gained: frozenset[int] = frozenset()
    release: frozenset[int] = frozenset()


def plan(
    record: ShardRecord,
    me: str,
    expired: Iterable[str] = (),
    *,
    leaving: bool = False,
    confirm: bool = False,
) -> Step:
    """The next step of ``me`` given the record and the replicas whose Leases it saw expire.

    Joins ``me`` (unless ``leaving``) and removes expired members, bumping the generation when
    the members change; takes the shards it is wanted for whose owner is gone or expired;
    lists the shards it holds but is no longer wanted for, to release once drained.
    ``confirm`` writes the record even when nothing changed (the generation moves): a replica
    that stopped because it could not renew its Lease works again only after such a write, so
    a taker that judged it expired on an older record fails its conditional write.
    """
    # an owner no longer among the members was removed as expired (or left): it stopped, and
    # it can only come back through a write of the record, which this write would conflict with
    gone = (set(expired) | (set(record.owners.values()) - set(record.members))) - {me}
    members = set(record.members) - gone
    if leaving:
        members.discard(me)
    else:
        members.add(me)
    listed = tuple(sorted(members))
    wanted = wanted_owners(record.shards, listed)
    owners = dict(record.owners)
    gained = set()
    if not leaving and not record.settling:
        for shard, owner in wanted.items():
            current = owners.get(shard)
            if owner == me and (current is None or current in gone):
                owners[shard] = me
                gained.add(shard)
    release = {s for s, o in owners.items() if o == me and wanted.get(s) != me}
    changed = listed != record.members
    if not changed and not gained and not confirm:
        return Step(None, frozenset(), frozenset(release))
    new = replace(
        record,
        generation=record.generation + (1 if changed or confirm else 0),
        members=listed,
        owners=owners,
    )
    return Step(new, frozenset(gained), frozenset(release))


def released(record: ShardRecord, me: str, shards: Iterable[str | int]) -> ShardRecord:
    """The record with ``shards`` no longer owned by ``me`` (others' shards untouched)."""
    drop = {int(s) for s in shards}
    owners = {s: o for s, o in record.owners.items() if not (s in drop and o == me)}
    return replace(record, owners=owners)


#: repositories remembered in the push note of the record's Lease (the oldest are dropped)
MAX_PUSHED_REPOSITORIES = 64


def parse_pushes(text: str | None) -> dict[str, int]:
    """The push note (URL -> sequence number); anything unreadable counts as empty."""
    if not text or len(text) > MAX_RECORD_BYTES:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(u): int(n) for u, n in data.items() if isinstance(n, int) and isinstance(u, str)}


def pushed(note: Mapping[str, int], urls: Iterable[str]) -> dict[str, int]:
    """``note`` with ``urls`` pushed now (each a new, highest number; the oldest dropped)."""
    out = dict(note)
    counter = max(out.values(), default=0)
    for url in urls:
        counter += 1
        out[url] = counter
    newest = sorted(out.items(), key=lambda item: item[1])[-MAX_PUSHED_REPOSITORIES:]
    return dict(newest)


def pushes_since(before: Mapping[str, int], after: Mapping[str, int]) -> list[str]:
    """The repositories pushed in ``after`` since ``before`` was read."""
    return sorted(url for url, n in after.items() if before.get(url) != n)
