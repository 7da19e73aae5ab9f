"""The controller's small parts alone: the work queue and the Lease decisions."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tether.controller.leadership import may_take, renewed_lease
from tether.controller.workqueue import WorkQueue


@pytest.mark.asyncio(loop_scope="session")
async def test_the_queue_collapses_repeats_and_gives_a_name_to_one_worker_at_a_time() -> None:
    queue = WorkQueue()
    for _ in range(3):
        queue.add("a")
    queue.add("b")
    assert queue.depth() == 2
    assert await queue.take() == "a"
    queue.add("a")  # asked for again while a worker holds it
    assert await queue.take() == "b"
    assert await queue.take() is None  # held: it waits for the holder
    queue.done("a")  # the holder is done: it comes back once
    assert await queue.take() == "a"
    queue.done("a")
    queue.done("b")
    assert queue.depth() == 0


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
