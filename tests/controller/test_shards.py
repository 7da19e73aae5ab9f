"""Shards alone: the assignment, the record, the hand-off, and a model of replicas that join,
leave, crash, lose the API and come back, in which no shard ever has two workers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tether.controller.leadership import ExpiryClock, lease_name_for
from tether.controller.shards import (
    MAX_PUSHED_REPOSITORIES,
    ShardRecord,
    ShardRecordError,
    ShardSettings,
    app_shard,
    owner_of,
    parse_pushes,
    plan,
    pushed,
    pushes_since,
    released,
    shard_of,
    wanted_owners,
)
from tether.names import SHARD_LABEL


def test_an_app_keeps_its_shard_and_a_pin_in_range_moves_it() -> None:
    assert shard_of("payments", 32) == shard_of("payments", 32)
    shards = {shard_of(f"app-{i}", 32) for i in range(500)}
    assert shards == set(range(32))  # the hash spreads names over every shard
    pinned = {"metadata": {"name": "payments", "labels": {SHARD_LABEL: "7"}}}
    assert app_shard(pinned, 32) == 7
    for bad in ("32", "-1", "seven", ""):
        obj = {"metadata": {"name": "payments", "labels": {SHARD_LABEL: bad}}}
        assert app_shard(obj, 32) == shard_of("payments", 32)


def test_rendezvous_moves_only_the_shards_a_join_or_leave_must_move() -> None:
    before = wanted_owners(64, ["a", "b", "c"])
    after = wanted_owners(64, ["a", "b", "c", "d"])
    moved = {s for s in before if before[s] != after[s]}
    assert moved and all(after[s] == "d" for s in moved)
    gone = wanted_owners(64, ["a", "c"])
    assert all(gone[s] == before[s] for s in before if before[s] != "b")
    assert owner_of(0, []) is None
    assert wanted_owners(8, ["b", "a"]) == wanted_owners(8, ["a", "b", "a"])


def test_the_record_reads_back_and_hostile_records_are_refused() -> None:
    record = ShardRecord(8, 3, ("a", "b"), {0: "a", 5: "b"})
    assert ShardRecord.from_json(record.to_json()) == record
    for text in (
        "nonsense",
        "[]",
        '{"shards": 8}',
        '{"shards": 0, "generation": 0, "members": [], "owners": {}}',
        '{"shards": 8, "generation": 0, "members": [], "owners": {"9": "a"}}',
        '{"shards": 8, "generation": 0, "members": [], "owners": {"x": "a"}}',
        '{"shards": 8, "generation": 0, "members": ["a"], "owners": []}',
        " " * 70_000,
    ):
        with pytest.raises(ShardRecordError):
            ShardRecord.from_json(text)


def test_settings_keep_the_renew_deadline_below_the_lease_duration() -> None:
    assert ShardSettings(lease_duration=15).renew_deadline == 10
    assert ShardSettings(lease_duration=15).renew_interval == 5
    with pytest.raises(ShardRecordError, match="shorter than the lease duration"):
        ShardSettings(lease_duration=15, renew_deadline=15)
    with pytest.raises(ShardRecordError, match="shards"):
        ShardSettings(shards=0)


def test_a_lone_replica_takes_every_shard_at_once() -> None:
    step = plan(ShardRecord(8), "a")
    assert step.record is not None and step.gained == frozenset(range(8))
    assert step.record.members == ("a",) and step.record.generation == 1


def test_a_shard_moves_only_after_its_owner_released_it_or_expired() -> None:
    record = plan(ShardRecord(16), "a").record
    assert record is not None
    joined = plan(record, "b")
    assert joined.gained == frozenset()  # a still owns them
    assert joined.record is not None and joined.record.members == ("a", "b")
    for_b = {s for s, o in wanted_owners(16, ["a", "b"]).items() if o == "b"}
    assert plan(joined.record, "a").release == frozenset(for_b)
    after = released(joined.record, "a", for_b)
    assert plan(after, "b").gained == frozenset(for_b)
    # or a expired, by b's own clock
    taken = plan(joined.record, "b", expired={"a"})
    assert taken.gained == frozenset(range(16)) and taken.record is not None
    assert taken.record.members == ("b",)


def test_a_leaving_replica_gives_up_everything() -> None:
    record = plan(ShardRecord(4), "a").record
    assert record is not None
    step = plan(record, "a", leaving=True)
    assert step.record is not None and step.record.members == ()
    assert step.release == frozenset(range(4)) and step.gained == frozenset()
    assert released(step.record, "a", range(4)).owners == {}


def test_expiry_is_measured_from_the_last_change_seen_by_the_observer() -> None:
    clock = ExpiryClock(15)
    clock.observe(["a", "b"], {"a": "1", "b": "1"}, now=100)
    assert clock.expired(["a", "b"], now=114) == set()
    clock.observe(["a", "b"], {"a": "2", "b": "1"}, now=114)
    assert clock.expired(["a", "b"], now=116) == {"b"}
    clock.observe(["a"], {}, now=120)  # a's Lease disappeared: a change, expiring later
    assert clock.expired(["a"], now=130) == set()
    assert clock.expired(["a"], now=136) == {"a"}


def test_lease_names_are_valid_and_distinct() -> None:
    assert lease_name_for("host-12") == "tether-replica-host-12"
    odd = lease_name_for("Host_12")
    assert odd.startswith("tether-replica-host-12-") and odd != lease_name_for("host_12")
    assert len(lease_name_for("x" * 400)) < 253


# ---- a model of replicas: the coordinator's decisions under every interleaving ----------------

DURATION = 15.0
DEADLINE = 10.0
SHARDS = 8


@dataclass
class Replica:
    name: str
    clock: ExpiryClock = field(default_factory=lambda: ExpiryClock(DURATION))
    alive: bool = True
    cut: bool = False
    renewed_until: float = -1.0
    confirmed: bool = False
    active: set[int] = field(default_factory=set)
    #: released shards whose reconciles still run, then those drained but not yet dropped
    draining: set[int] = field(default_factory=set)
    drained: set[int] = field(default_factory=set)
    pending: tuple[ShardRecord, int, set[str], bool] | None = None
    settling_since: float | None = None

    def working(self) -> set[int]:
        return self.active | self.draining if self.alive else set()


@dataclass
class World:
    now: float = 0.0
    record: ShardRecord = field(default_factory=lambda: ShardRecord(SHARDS))
    version: int = 0
    leases: dict[str, int] = field(default_factory=dict)
    replicas: dict[str, Replica] = field(default_factory=dict)
    #: the record was deleted (by hand) and not written since
    missing: bool = False
    #: the shards each replica's Lease says it works on
    held_note: dict[str, set[int]] = field(default_factory=dict)

    def check(self) -> None:
        for shard in range(SHARDS):
            workers = [r.name for r in self.replicas.values() if shard in r.working()]
            assert len(workers) <= 1, f"shard {shard} worked on by {workers} at {self.now}"

    def read(self, r: Replica) -> None:
        """Renew, read the record, list the Leases (the first half of a tick)."""
        if not r.alive or r.cut:
            return
        self.leases[r.name] = self.leases.get(r.name, 0) + 1
        self.held_note[r.name] = r.active | r.draining | r.drained
        r.renewed_until = self.now + DEADLINE
        prints = {m: str(v) for m, v in self.leases.items()}
        r.clock.observe(self.record.members, prints, self.now)
        others = self.missing and any(self.held_note.get(n) for n in self.leases if n != r.name)
        record = replace(self.record, settling=True) if others else self.record
        if not record.settling:
            r.settling_since = None
        elif r.settling_since is None:
            r.settling_since = self.now
        expired = r.clock.expired(self.record.members, self.now)
        since = r.settling_since if r.settling_since is not None else self.now
        settled = record.settling and self.now - since > DURATION
        r.pending = (
            replace(record, settling=False) if settled else record,
            self.version,
            expired,
            settled,
        )

    def tick(self, r: Replica) -> None:
        self.read(r)
        self.write(r)

    def write(self, r: Replica) -> None:
        """Plan, write if still at the version read, adopt (the second half)."""
        if not r.alive or r.cut or r.pending is None or self.now >= r.renewed_until:
            r.pending = None
            return
        record, version, expired, settled = r.pending
        r.pending = None
        step = plan(record, r.name, expired, confirm=not r.confirmed or settled)
        if step.record is not None:
            if version != self.version:
                return
            self.record, self.version = step.record, self.version + 1
            self.missing = False
            record = step.record
            r.confirmed = True
        if not r.confirmed:
            return
        owned = record.held_by(r.name)
        if r.active - owned:  # the record was deleted: everything running is cancelled
            r.active &= owned
            r.draining.clear()
        wanted = set(owned) - r.draining - r.drained - step.release
        self.held_note[r.name] = r.active | r.draining | r.drained | wanted  # before any work
        r.active = wanted
        fresh = step.release & owned - r.draining - r.drained
        r.draining |= fresh

    def drain_done(self, r: Replica) -> None:
        r.drained |= r.draining
        r.draining.clear()
        if r.alive and not r.cut and r.drained:
            self.record, self.version = released(self.record, r.name, r.drained), self.version + 1
            r.drained.clear()

    def advance(self, seconds: float) -> None:
        self.now += seconds
        for r in self.replicas.values():
            if r.alive and self.now >= r.renewed_until:
                r.active.clear()
                r.draining.clear()  # cancelled
                r.confirmed = False

    def leave(self, r: Replica) -> None:
        held = r.active | r.draining | r.drained
        r.active, r.draining, r.drained = set(), set(), set()
        r.alive = False
        if not r.cut:
            gone = plan(self.record, r.name, leaving=True).record or self.record
            self.record, self.version = released(gone, r.name, held), self.version + 1
            self.leases.pop(r.name, None)
            self.held_note.pop(r.name, None)


ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "read",
                "write",
                "tick",
                "drain",
                "advance",
                "crash",
                "cut",
                "heal",
                "join",
                "leave",
                "reset",
            ]
        ),
        st.integers(0, 4),
        st.sampled_from([0.5, 1.0, 3.0, 5.0, 8.0, 16.0]),
    ),
    max_size=80,
)


def _act(world: World, action: str, who: int, seconds: float) -> None:
    names = sorted(world.replicas)
    r = world.replicas[names[who % len(names)]] if names else None
    if action == "join" or r is None:
        name = f"r{len(world.replicas)}"
        world.replicas[name] = Replica(name)
    elif action == "read":
        world.read(r)
    elif action == "write":
        world.write(r)
    elif action == "tick":
        world.tick(r)
    elif action == "drain":
        world.drain_done(r)
    elif action == "advance":
        world.advance(seconds)
    elif action == "crash":
        r.alive = False
    elif action == "cut":
        r.cut = True
    elif action == "heal":
        r.cut = False
    elif action == "leave" and r.alive:
        world.leave(r)
    elif action == "reset":
        world.record, world.version, world.missing = ShardRecord(SHARDS), world.version + 1, True


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ACTIONS)
def test_no_shard_ever_has_two_workers_and_the_survivors_settle(actions: list) -> None:
    world = World()
    for action, who, seconds in actions:
        _act(world, action, who, seconds)
        world.check()
    # the partitions heal, time goes on: every shard ends with exactly one live worker
    for r in world.replicas.values():
        r.cut = False
    if not any(r.alive for r in world.replicas.values()):
        world.replicas["late"] = Replica("late")
    for _ in range(12):
        for r in list(world.replicas.values()):
            world.read(r)
            world.write(r)
            world.drain_done(r)
            world.check()
        world.advance(5.0)
        world.check()
    live = [r for r in world.replicas.values() if r.alive]
    for shard in range(SHARDS):
        assert sum(shard in r.active for r in live) == 1, (shard, world.record)


def test_a_replica_back_from_a_lost_lease_works_again_only_after_writing_the_record() -> None:
    # b judged a expired on a record a then read: a's confirming write makes b's write fail
    world = World()
    a, b = Replica("a"), Replica("b")
    world.replicas.update(a=a, b=b)
    world.read(a)
    world.write(a)
    world.read(b)
    world.write(b)
    assert a.active == set(range(SHARDS)) and not b.active
    world.advance(16.0)  # a could not renew: it stopped at its deadline
    assert not a.active
    world.read(b)  # a's Lease unchanged for 16 s by b's clock: expired
    world.read(a)  # a is back, with the same record b read
    world.write(a)
    world.check()
    world.write(b)
    world.check()
    # a works on its shards again (releasing b's share in order); b's stale write failed
    assert a.active | a.draining == set(range(SHARDS)) and not b.active


def test_the_push_note_keeps_the_newest_repositories_and_names_what_changed() -> None:
    note = pushed({}, ["https://git/a.git", "https://git/b.git"])
    later = pushed(note, ["https://git/a.git"])
    assert pushes_since(note, later) == ["https://git/a.git"]
    assert pushes_since(later, later) == []
    many = pushed(later, [f"https://git/{i}.git" for i in range(MAX_PUSHED_REPOSITORIES)])
    assert len(many) == MAX_PUSHED_REPOSITORIES and "https://git/b.git" not in many
    assert parse_pushes(json.dumps(later)) == later
    for hostile in ("[1]", "{", '{"u": "x"}', "9" * 70_000, None):
        assert parse_pushes(hostile) == {}
    assert parse_pushes('{"u": "x", "v": 3}') == {"v": 3}


def test_a_deleted_record_lets_nobody_take_a_shard_before_its_old_owner_stopped() -> None:
    world = World()
    a, b = Replica("a"), Replica("b")
    world.replicas.update(a=a, b=b)
    for _ in range(3):
        for r in (a, b):
            world.tick(r)
            world.drain_done(r)
        world.check()
    assert a.active and b.active
    _act(world, "reset", 0, 0.0)  # kubectl delete lease tether-shards
    world.tick(b)  # b makes the record again: a still works under the old one
    world.check()
    assert not b.active
    world.tick(a)  # a reads the new record: it no longer owns anything and stops
    assert not a.active
    for _ in range(5):
        world.advance(5.0)
        for r in (a, b):
            world.tick(r)
            world.drain_done(r)
        world.check()
    assert a.active | b.active == set(range(SHARDS))
