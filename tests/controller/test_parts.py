"""The controller's small parts alone: the work queue, the slow start and the Lease decisions."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tether.controller.leadership import may_take, renewed_lease
from tether.controller.slowstart import SlowStart
from tether.controller.workqueue import (
    FIRST_CHECKS,
    RECHECKS,
    RESYNC_SHARE,
    RESYNCS,
    WorkQueue,
)


@pytest.mark.asyncio(loop_scope="session")
async def test_the_queue_collapses_repeats_and_gives_a_name_to_one_worker_at_a_time() -> None:
    queue = WorkQueue()
    for _ in range(3):
        queue.add("a")
    queue.add("b")
    assert queue.depth() == 2
    assert await queue.take() == "a"
    queue.add("a")  # asked for again while a worker holds it: not handed to another
    queue.add("a")
    assert queue.depth() == 1
    assert await queue.take() == "b"
    queue.done("a")  # the holder is done: it comes back once
    assert queue.depth() == 1
    assert await queue.take() == "a"
    queue.done("a")
    queue.done("b")
    assert queue.depth() == 0


@pytest.mark.asyncio(loop_scope="session")
async def test_rechecks_take_turns_with_first_checks() -> None:
    # a cold start: 100 apps wait for their first check; two of them were checked and synced,
    # and their re-checks must not wait behind the other 98 first checks
    queue = WorkQueue()
    for i in range(100):
        queue.add(f"app-{i:03}")
    first = [await queue.take(), await queue.take()]
    for name in first:
        queue.done(name)
        queue.add(name)  # the re-check after its sync
    assert queue.lane_of("app-000") == RECHECKS and queue.lane_of("app-099") == FIRST_CHECKS
    taken = [await queue.take() for _ in range(4)]
    assert taken == ["app-000", "app-002", "app-001", "app-003"]
    assert queue.depth() == 96


@pytest.mark.asyncio(loop_scope="session")
async def test_a_deleted_app_recreated_is_a_first_check_again() -> None:
    queue = WorkQueue()
    queue.add("a")
    queue.done(await queue.take())
    assert queue.lane_of("a") == RECHECKS
    queue.forget("a")
    assert queue.lane_of("a") == FIRST_CHECKS


# an operation: ("add", name) asks for a name, ("resync", name) asks for its periodic resync,
# ("take",) takes the next, ("done", i) ends the i-th name held (modulo how many are held)
_operations = st.lists(
    st.one_of(
        st.tuples(
            st.sampled_from(["add", "resync"]), st.sampled_from([f"n{i}" for i in range(12)])
        ),
        st.tuples(st.just("take")),
        st.tuples(st.just("done"), st.integers(0, 11)),
    ),
    max_size=80,
)


def _bound(lane: int, ahead: int) -> int:
    """Takes within which a name with ``ahead`` names before it in ``lane`` is taken: the
    resync lane gets every RESYNC_SHARE-th take; the other two share the rest in turn."""
    if lane == RESYNCS:
        return RESYNC_SHARE * (ahead + 1)
    return 3 * (ahead + 1) + 1


@settings(max_examples=300, deadline=None)
@given(_operations)
def test_no_lane_waits_for_the_others_without_bound(operations: list[tuple]) -> None:
    asyncio.run(_check_fairness(operations))


async def _check_fairness(operations: list[tuple]) -> None:
    """Against a model: a name is held by one worker at a time, never queued twice, never
    lost; a name with p names ahead in its lane is taken within a bound (``_bound``); a resync
    never comes before an event's request when both wait and it is not the resync's turn."""
    queue = WorkQueue()
    held: list[str] = []
    # name -> (lane, takes so far when queued there, names ahead of it then)
    waiting: dict[str, tuple[int, int, int]] = {}
    asked_while_held: set[str] = set()
    takes = 0

    def queue_in(name: str, lane: int) -> None:
        ahead = sum(1 for n, w in waiting.items() if w[0] == lane and n != name)
        waiting[name] = (lane, takes, ahead)

    def ask(name: str, resync: bool) -> None:
        lane = queue.lane_of(name, resync=resync)
        if name in held:
            asked_while_held.add(name)
        elif name not in waiting or (waiting[name][0] == RESYNCS and lane != RESYNCS):
            queue_in(name, lane)
        queue.add(name, resync=resync)

    for op in operations:
        if op[0] in ("add", "resync"):
            ask(op[1], op[0] == "resync")
        elif op[0] == "take" and waiting:
            name = await queue.take()
            takes += 1
            assert name in waiting and name not in held
            lane, queued_at, ahead = waiting.pop(name)
            assert takes - queued_at <= _bound(lane, ahead), (name, lane, queued_at, ahead)
            if lane == RESYNCS and takes % RESYNC_SHARE != 0:
                assert not any(w[0] != RESYNCS for w in waiting.values()), "a resync went first"
            held.append(name)
        elif op[0] == "done" and held:
            name = held.pop(op[1] % len(held))
            queue.done(name)
            if name in asked_while_held:
                asked_while_held.discard(name)
                queue_in(name, queue.lane_of(name))
        assert queue.depth() == len(waiting)


@pytest.mark.asyncio(loop_scope="session")
async def test_a_drift_is_not_queued_behind_a_thousand_resyncs() -> None:
    queue = WorkQueue()
    names = [f"app-{i:04}" for i in range(1000)]
    for name in names:
        queue.add(name)
    for _ in names:
        queue.done(await queue.take())
    for name in names:
        queue.add(name, resync=True)  # timeout.reconciliation: every app again
    queue.add("app-0500")  # its Deployment was scaled by hand: an event
    taken = [await queue.take() for _ in range(2)]
    assert "app-0500" in taken
    for name in taken:
        queue.done(name)
    rest = []
    while queue.depth():
        rest.append(await queue.take())
        queue.done(rest[-1])
    assert sorted(rest + taken) == names  # every resync still ran, app-0500 once


@pytest.mark.asyncio(loop_scope="session")
async def test_delayed_requests_collapse_to_the_earliest() -> None:
    queue = WorkQueue()
    queue.add("a", delay=30)
    queue.add("a", delay=0.01)  # sooner: replaces the later timer
    queue.add("a", delay=60)  # later: the earlier one stands
    assert await asyncio.wait_for(queue.take(), 5) == "a"
    queue.done("a")
    queue.close()
    assert queue.depth() == 0


NOW = datetime(2026, 12, 5, 12, 0, 0, tzinfo=UTC)


def lease(holder: str, renewed: datetime, duration: int = 15) -> dict:
    return {
        "spec": {
            "holderIdentity": holder,
            "renewTime": renewed.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "leaseDurationSeconds": duration,
            "leaseTransitions": 3,
        }
    }


def test_a_lease_is_taken_only_from_a_holder_that_stopped_renewing() -> None:
    assert may_take(lease("me", NOW), "me", NOW, 15)
    assert not may_take(lease("other", NOW - timedelta(seconds=5)), "me", NOW, 15)
    assert may_take(lease("other", NOW - timedelta(seconds=16)), "me", NOW, 15)
    assert may_take({"spec": {}}, "me", NOW, 15)
    renewed = renewed_lease(lease("other", NOW - timedelta(seconds=30)), "me", NOW)
    assert renewed["spec"]["holderIdentity"] == "me"
    assert renewed["spec"]["leaseTransitions"] == 4
    kept = renewed_lease(lease("me", NOW - timedelta(seconds=5)), "me", NOW)
    assert kept["spec"]["leaseTransitions"] == 3 and "acquireTime" not in kept["spec"]


@pytest.mark.asyncio(loop_scope="session")
async def test_slow_start_admits_two_then_one_more_per_finished_reconcile() -> None:
    admission = SlowStart(maximum=5)
    running: list[int] = []

    async def reconcile(i: int, done: asyncio.Event) -> None:
        await admission.acquire()
        running.append(i)
        await done.wait()
        admission.release()

    done = [asyncio.Event() for _ in range(8)]
    tasks = [asyncio.create_task(reconcile(i, done[i])) for i in range(8)]
    await asyncio.sleep(0)
    assert running == [0, 1]  # a cold start: two at once
    done[0].set()
    await asyncio.sleep(0.01)
    assert running == [0, 1, 2, 3]  # one ended: its slot and one more
    done[1].set()
    done[2].set()
    await asyncio.sleep(0.01)
    # three ended, the limit reached its maximum: five run at once, and no more
    assert admission.limit == 5 and len(running) == 3 + 5
    for event in done:
        event.set()
    await asyncio.gather(*tasks)
    assert admission.limit == 5


def test_slow_start_never_starts_above_its_maximum() -> None:
    assert SlowStart(maximum=1).limit == 1
    with pytest.raises(ValueError):
        SlowStart(maximum=0)
