"""Application dependencies on the real stack: a chain of three apps created at once comes up in
order, and breaking the first holds a sync of the next until it is mended; a cycle is an
InvalidSpecError on every app of it."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.controller.stack import CONTROL_NS, Env, synced_healthy
from tether.localcluster.testing import eventually
from tether.names import DEPENDS_ON_ANNOTATION

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def app_with_deps(env: Env, name: str, url: str, *deps: str, **changes: Any) -> None:
    await env.kube("create", "namespace", name, check=False)
    annotations = {DEPENDS_ON_ANNOTATION: ", ".join(deps)} if deps else None
    await env.application(name, url, name, **{"metadata.annotations": annotations}, **changes)


async def events(env: Env, name: str, reason: str) -> list[str]:
    out = await env.kube(
        "get", "events", "-n", CONTROL_NS, "--field-selector",
        f"involvedObject.name={name},reason={reason}", "-o", "jsonpath={.items[*].message}",
    )  # fmt: skip
    return [out.stdout] if out.stdout else []


def first_deploy(app: dict[str, Any]) -> tuple[str, str]:
    entry = (app.get("status") or {}).get("history", [{}])[0]
    return entry.get("deployStartedAt", ""), entry.get("deployedAt", "")


async def test_a_chain_comes_up_in_order_and_a_broken_first_app_holds_the_next(env: Env) -> None:
    url, _work = env.new_repo()
    tag = uuid.uuid4().hex[:5]
    infra, middle, top = f"infra-{tag}", f"middle-{tag}", f"top-{tag}"
    # created last to first: each must wait for the one before it
    await app_with_deps(env, top, url, middle)
    await app_with_deps(env, middle, url, infra)
    await app_with_deps(env, infra, url)
    for name in (infra, middle, top):
        await eventually(lambda name=name: synced_healthy(env, name), 90, f"{name} up")
    starts = [first_deploy(await env.app(n)) for n in (infra, middle, top)]
    # RFC 3339 UTC times compare as text: each sync started after the one before it finished
    assert starts[1][0] >= starts[0][1] and starts[2][0] >= starts[1][1], starts
    told = await eventually(lambda: events(env, top, "DependencyWait"), 30, "the wait told")
    assert f"the sync waits for {middle}" in told[0]

    # the first app broken (its path gone): a sync of the next waits for it, then runs
    await app_with_deps(env, infra, url, **{"spec.source.path": "no/such/path"})
    await eventually(lambda: env.condition(infra, "ComparisonError"), 30, "infra broken")
    await env.kube(
        "patch", "application", middle, "-n", CONTROL_NS, "--type", "merge", "-p",
        '{"operation": {"sync": {}, "initiatedBy": {"username": "alice"}}}',
    )  # fmt: skip

    async def held() -> bool:
        messages = await events(env, middle, "DependencyWait")
        return any(f"waits for {infra}" in m and "Unknown" in m for m in messages)

    await eventually(held, 30, "the sync of middle held")
    assert (await env.app(middle)).get("operation") is not None
    await app_with_deps(env, infra, url)  # mended

    async def ran() -> bool:
        history = ((await env.app(middle)).get("status") or {}).get("history") or []
        return len(history) == 2

    await eventually(ran, 60, "the held sync ran once infra was back")


async def test_a_dependency_cycle_is_an_invalid_spec_on_every_app_of_it(env: Env) -> None:
    url, _work = env.new_repo()
    tag = uuid.uuid4().hex[:5]
    a, b = f"cyc-a-{tag}", f"cyc-b-{tag}"
    await app_with_deps(env, a, url, b)
    await app_with_deps(env, b, url, a)
    for name in (a, b):
        message = await eventually(
            lambda name=name: env.condition(name, "InvalidSpecError"), 30, f"{name} refused"
        )
        assert f"dependency cycle {a} -> {b} -> {a}" in message, message
    assert await env.live("Deployment", "payment-service", a, "apps/v1") is None
