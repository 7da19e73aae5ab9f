"""Status writes are JSON merge patches that also remove what the new status dropped."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.controller.stack import Env
from tether.controller.status import merge_patch
from tether.controller.writes import ApplicationWriter


def test_merge_patch_nulls_dropped_keys_and_patches_nested_objects() -> None:
    old = {
        "health": {"status": "Progressing", "message": "Waiting for rollout to finish"},
        "sync": {"status": "Synced", "revision": "a"},
        "conditions": [{"type": "ComparisonError"}],
    }
    new = {"health": {"status": "Healthy"}, "sync": {"status": "Synced", "revision": "b"}}
    assert merge_patch(old, new) == {
        "health": {"status": "Healthy", "message": None},
        "sync": {"revision": "b"},
        "conditions": None,
    }


def test_merge_patch_replaces_lists_and_scalars_whole() -> None:
    assert merge_patch({"resources": [1, 2]}, {"resources": [2]}) == {"resources": [2]}
    assert merge_patch({"a": {"b": 1}}, {"a": 5}) == {"a": 5}
    assert merge_patch({"a": 1}, {"a": 1}) == {}


@pytest.mark.asyncio(loop_scope="session")
async def test_a_held_update_goes_out_with_the_next_status_write(env: Env) -> None:
    # an Application outside the stack controller's control namespace: only this writer
    # touches its status
    ns = f"held-{uuid.uuid4().hex[:6]}"
    await env.kube("create", "namespace", ns)
    await env.apply(
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": "held", "namespace": ns},
            "spec": {
                "project": "default",
                "source": {"repoURL": "https://example.com/r.git", "path": "."},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": ns},
            },
        }
    )
    info = await env.client.resource_for("argoproj.io/v1alpha1", "Application")
    obj = await env.client.get(info, "held", ns)
    known: dict[str, dict[str, Any]] = {}
    writer = ApplicationWriter(
        env.client,
        ns,
        "tether",
        current=known.get,
        remember=lambda o: known.__setitem__(o["metadata"]["name"], o),
        announce=lambda o: None,
    )
    await writer.status(obj, {"sync": {"status": "OutOfSync"}}, hold=True)
    assert writer.status_writes == 0
    # the start of the sync: one patch carries both
    await writer.status(obj, {"operationState": {"phase": "Running"}})
    assert writer.status_writes == 1
    status = (await env.client.get(info, "held", ns))["status"]
    assert (status["sync"]["status"], status["operationState"]["phase"]) == (
        "OutOfSync",
        "Running",
    )
    await writer.flush(obj)  # nothing held: nothing written
    assert writer.status_writes == 1
    await writer.status(obj, {"health": {"status": "Healthy"}}, hold=True)
    await writer.flush(obj)  # held and no other write came: flushed on its own
    assert writer.status_writes == 2
    assert (await env.client.get(info, "held", ns))["status"]["health"]["status"] == "Healthy"
