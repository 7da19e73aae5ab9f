"""The test toolkit every package shares (tether.localcluster.testing): waits and clients."""

from __future__ import annotations

import itertools

import lightkube
import pytest
from lightkube.resources.core_v1 import Namespace

from tether.cluster import ClusterClient
from tether.localcluster.testing import eventually, wait_until


async def test_eventually_waits_for_a_plain_or_an_awaited_answer() -> None:
    calls = itertools.count(1)
    assert await eventually(lambda: next(calls) >= 3 and "plain", timeout=10) == "plain"

    async def answer() -> str | None:
        return "awaited" if next(calls) >= 6 else None

    assert await eventually(answer, timeout=10) == "awaited"


async def test_eventually_names_what_it_waited_for_and_the_last_answer() -> None:
    with pytest.raises(AssertionError, match=r"within 0.1s: the sky to fall \(last: \[\]\)"):
        await eventually(lambda: [], timeout=0.1, what="the sky to fall")


def test_wait_until_returns_the_first_truthy_answer() -> None:
    answers = iter([0, None, {"ready": True}, {"later": True}])
    assert wait_until(lambda: next(answers), timeout=10, interval=0.001) == {"ready": True}
    with pytest.raises(AssertionError, match=r"within 0.1s: nothing \(last: 0\)"):
        wait_until(lambda: 0, timeout=0.1, what="nothing")


async def test_client_fixture_reads_the_local_cluster(
    client: ClusterClient, namespace: str
) -> None:
    info = await client.resource_for("v1", "Namespace")
    assert (await client.get(info, namespace))["metadata"]["name"] == namespace


def test_lightkube_client_fixture_reads_the_local_cluster(
    lightkube_client: lightkube.Client, namespace: str
) -> None:
    assert lightkube_client.get(Namespace, namespace).metadata.name == namespace
