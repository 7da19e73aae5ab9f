"""Status writes are JSON merge patches that also remove what the new status dropped."""

from __future__ import annotations

from tether.controller.status import merge_patch


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
