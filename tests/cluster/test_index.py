"""SharedValues: what cached objects repeat is kept once, readers see the same data, and the
tables keep only what some object still uses."""

from __future__ import annotations

import copy
import json
import sys
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from tether.cluster import index
from tether.cluster.index import SHARED_STRING_LENGTH, SharedValues
from tether.engine.ignore import IgnoreRule, ignored_places
from tether.engine.normalize import dropped_owned_paths, managed_field_paths


def fresh(text: str) -> str:
    """A string object built at run time (literals are shared by the code that holds them)."""
    return "".join(list(text))


def pod_entries(ip: str, time: str) -> list[dict[str, Any]]:
    """Two managedFields entries of a Pod, as the API server sends them (parsed from JSON)."""
    raw = {
        "f:status": {
            "f:conditions": {
                ".": {},
                'k:{"type":"Ready"}': {".": {}, "f:status": {}, "f:type": {}},
            },
            "f:podIP": {},
            "f:podIPs": {".": {}, f'k:{{"ip":"{ip}"}}': {".": {}, "f:ip": {}}},
        }
    }
    spec = {"f:spec": {"f:containers": {'k:{"name":"app"}': {".": {}, "f:image": {}}}}}
    return orjson.loads(
        orjson.dumps(
            [
                {
                    "manager": "kube-controller-manager",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": time,
                    "fieldsType": "FieldsV1",
                    "fieldsV1": spec,
                },
                {
                    "manager": "kubelet",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": time,
                    "fieldsType": "FieldsV1",
                    "fieldsV1": raw,
                    "subresource": "status",
                },
            ]
        )
    )


def without_time(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in e.items() if k != "time"} for e in entries]


def test_equal_managed_fields_written_at_other_times_are_one_shared_list() -> None:
    shared = SharedValues()
    first = shared.managed_fields(pod_entries("10.0.0.1", "2026-01-01T00:00:00Z"))
    second = shared.managed_fields(pod_entries("10.0.0.1", "2026-06-01T12:00:00Z"))
    assert second is first
    assert first == without_time(pod_entries("10.0.0.1", "x"))
    # key order as the server sent it: readers walk the tries in this order
    assert orjson.dumps(first) == orjson.dumps(without_time(pod_entries("10.0.0.1", "x")))


def test_tries_that_differ_in_one_place_share_everything_else() -> None:
    shared = SharedValues()
    one = shared.managed_fields(pod_entries("10.0.0.1", "t"))
    two = shared.managed_fields(pod_entries("10.0.0.2", "t"))
    assert one is not two
    assert one[0] is two[0]  # the spec entry is the same
    status_one, status_two = one[1]["fieldsV1"]["f:status"], two[1]["fieldsV1"]["f:status"]
    assert status_one is not status_two
    assert status_one["f:conditions"] is status_two["f:conditions"]
    assert status_one["f:podIP"] is status_two["f:podIP"]
    assert two[1]["fieldsV1"]["f:status"]["f:podIPs"] == {
        ".": {},
        'k:{"ip":"10.0.0.2"}': {".": {}, "f:ip": {}},
    }


def test_sweep_keeps_exactly_what_objects_still_use() -> None:
    shared = SharedValues()
    kept = shared.managed_fields(pod_entries(fresh("10.0.0.1"), fresh("t")))
    for n in range(2, 50):
        shared.managed_fields(pod_entries(fresh(f"10.0.1.{n}"), fresh("t")))
        obj = {"metadata": {"namespace": fresh(f"ns-{n}")}}
        shared.strings_in(obj)
    shared.sweep()
    alone = SharedValues()
    alone_kept = alone.managed_fields(pod_entries(fresh("10.0.0.1"), fresh("t")))
    assert len(shared) == len(alone) + 1  # the namespace string the last object still holds
    del obj
    shared.sweep()
    assert len(shared) == len(alone) and alone_kept == kept
    assert shared.managed_fields(pod_entries(fresh("10.0.0.1"), fresh("u"))) is kept


def test_tables_follow_what_is_cached_not_what_was_ever_seen() -> None:
    shared = SharedValues()
    biggest = 0
    for n in range(3 * index._FIRST_SWEEP):
        # every object unique, each replaced at once (a churning Pod): nothing stays in use
        shared.managed_fields(pod_entries(fresh(f"10.{n // 250}.{n % 250}.1"), fresh("t")))
        biggest = max(biggest, len(shared))
    # swept as it grew: bounded by the first sweep's threshold, not by the objects seen
    assert biggest <= index._FIRST_SWEEP + 8
    shared.sweep()
    assert len(shared) <= 16  # only shapes held by literals and the interpreter remain


def test_short_strings_are_shared_long_ones_left_alone() -> None:
    shared = SharedValues()
    long_value = "x" * (SHARED_STRING_LENGTH + 1)
    objects = [
        {
            "kind": fresh("Deployment"),
            "metadata": {"labels": {"app": fresh("web")}, "note": fresh(long_value)},
            "spec": {"list": [fresh("IfNotPresent"), 3, None, {"deep": [fresh("ClusterFirst")]}]},
        }
        for _ in range(2)
    ]
    for obj in objects:
        shared.strings_in(obj)
    one, two = objects
    assert one["kind"] is two["kind"]
    assert one["metadata"]["labels"]["app"] is two["metadata"]["labels"]["app"]
    assert one["spec"]["list"][0] is two["spec"]["list"][0]
    assert one["spec"]["list"][3]["deep"][0] is two["spec"]["list"][3]["deep"][0]
    assert one["metadata"]["note"] is not two["metadata"]["note"]
    assert one == two and one["spec"]["list"][1:3] == [3, None]


def test_managed_fields_of_unexpected_shapes_are_kept_as_they_are() -> None:
    shared = SharedValues()
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(200):
        node["f:x"] = {}
        node = node["f:x"]
    odd: list[Any] = [
        "not a list",
        {"manager": "m"},
        [1, "two", None],
        [{"manager": 7, "fieldsV1": {"f:a": {}}}],
        [{"manager": "m", "fieldsV1": "not a trie"}],
        [{"manager": "m", "fieldsV1": {"f:a": 5, "f:b": [1]}}],
        [{"manager": "m", "fieldsV1": deep}],
    ]
    for value in odd:
        expected = copy.deepcopy(value)
        if isinstance(expected, list):
            expected = [
                {k: v for k, v in e.items() if k != "time"} if isinstance(e, dict) else e
                for e in expected
            ]
        assert shared.managed_fields(copy.deepcopy(value)) == expected
    assert sys.getrecursionlimit() > 200  # the deep trie was neither refused nor recursed into


# ---- readers see the same answers ---------------------------------------------------------

MANAGERS = ["tether", "kubectl-edit", "hpa"]
LIVE: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "labels": {"a": "1", "b": "2"}},
    "spec": {
        "replicas": 3,
        "template": {"spec": {"containers": [{"name": "app", "image": "i", "args": ["x"]}]}},
    },
}
DESIRED: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "labels": {"a": "1"}},
    "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "i"}]}}},
}
_leaf: st.SearchStrategy[dict[str, Any]] = st.just({})
TRIES = st.recursive(
    _leaf,
    lambda children: st.dictionaries(
        st.sampled_from(
            [
                ".",
                "f:metadata",
                "f:labels",
                "f:a",
                "f:b",
                "f:spec",
                "f:replicas",
                "f:template",
                "f:containers",
                'k:{"name":"app"}',
                "f:image",
                "f:args",
            ]
        ),
        children,
        max_size=4,
    ),
    max_leaves=12,
)
ENTRIES = st.lists(
    st.fixed_dictionaries(
        {
            "manager": st.sampled_from(MANAGERS),
            "operation": st.sampled_from(["Apply", "Update"]),
            "apiVersion": st.just("apps/v1"),
            "time": st.sampled_from(["2026-01-01T00:00:00Z", "2026-02-02T00:00:00Z"]),
            "fieldsType": st.just("FieldsV1"),
            "fieldsV1": TRIES,
        },
        optional={"subresource": st.sampled_from(["status", "scale"])},
    ),
    max_size=4,
)


@settings(max_examples=100, deadline=None)
@given(ENTRIES, ENTRIES)
def test_diff_and_ignore_rules_read_the_same_from_shared_managed_fields(
    entries: list[dict[str, Any]], others: list[dict[str, Any]]
) -> None:
    shared = SharedValues()
    shared.managed_fields(json.loads(json.dumps(others)))  # tables already hold other shapes
    compact = shared.managed_fields(json.loads(json.dumps(entries)))
    assert orjson.dumps(compact) == orjson.dumps(without_time(entries))
    again = shared.managed_fields(json.loads(json.dumps(entries)))
    assert again is compact
    original = {**LIVE, "metadata": {**LIVE["metadata"], "managedFields": entries}}
    lean = {**LIVE, "metadata": {**LIVE["metadata"], "managedFields": compact}}
    for manager in MANAGERS:
        assert dropped_owned_paths(DESIRED, lean, manager) == dropped_owned_paths(
            DESIRED, original, manager
        )
        rule = IgnoreRule(group="apps", kind="Deployment", managed_fields_managers=(manager,))
        assert ignored_places([rule], lean) == ignored_places([rule], original)
    for before, after in zip(entries, compact, strict=True):
        assert list(managed_field_paths(after["fieldsV1"])) == list(
            managed_field_paths(before["fieldsV1"])
        )
