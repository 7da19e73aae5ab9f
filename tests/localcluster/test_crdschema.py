"""Custom resources against a CRD's structural schema: pruning, defaulting, validation."""

from __future__ import annotations

import copy
from typing import Any

from tether.localcluster.crdschema import apply_schema_defaults, prune, validate_custom_resource
from tether.localcluster.validation import invalid_message

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "minLength": 3, "maxLength": 10, "pattern": "^[a-z]+$"},
                "replicas": {"type": "integer", "minimum": 0, "maximum": 10, "default": 1},
                "ratio": {"type": "number", "exclusiveMaximum": True, "maximum": 1},
                "color": {"type": "string", "enum": ["red", "blue"], "default": "red"},
                "enabled": {"type": "boolean"},
                "port": {"x-kubernetes-int-or-string": True},
                "created": {"type": "string", "format": "date-time"},
                "size": {"type": "integer", "format": "int32"},
                "note": {"type": "string", "nullable": True},
                "tags": {
                    "type": "array",
                    "maxItems": 3,
                    "items": {"type": "string"},
                    "x-kubernetes-list-type": "set",
                },
                "ports": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string"},
                            "protocol": {"type": "string", "default": "TCP"},
                        },
                    },
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                },
                "labels": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "maxProperties": 2,
                },
                "raw": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "nested": {
                    "type": "object",
                    "properties": {
                        "inner": {
                            "type": "object",
                            "default": {},
                            "properties": {"level": {"type": "integer", "default": 3}},
                        }
                    },
                },
            },
        },
        "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
    },
}


def widget(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w1", "namespace": "default"},
        "spec": {"name": "abc", **spec},
    }


def check(obj: dict[str, Any]) -> list[str]:
    return [str(e) for e in validate_custom_resource(obj, SCHEMA)]


# ---- pruning -------------------------------------------------------------------------------


def test_prune_drops_undeclared_fields_and_reports_their_paths() -> None:
    obj = widget(foo=1, ports=[{"name": "http", "bogus": True}])
    obj["extra"] = {"x": 1}
    obj["metadata"]["bogus"] = "x"
    pruned, dropped = prune(obj, SCHEMA)
    assert dropped == ["extra", "metadata.bogus", "spec.foo", "spec.ports[0].bogus"]
    assert pruned == {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w1", "namespace": "default"},
        "spec": {"name": "abc", "ports": [{"name": "http"}]},
    }
    assert "foo" in obj["spec"], "the input is not modified"


def test_prune_keeps_preserved_and_additional_properties() -> None:
    obj = widget(raw={"anything": {"deep": [1, 2]}}, labels={"a": "b"})
    pruned, dropped = prune(obj, SCHEMA)
    assert dropped == []
    assert pruned == obj


def test_prune_keeps_everything_under_a_preserve_unknown_root() -> None:
    schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    obj = widget(anything="goes")
    assert prune(obj, schema) == (obj, [])


# ---- defaulting ----------------------------------------------------------------------------


def test_defaults_apply_where_the_parent_exists() -> None:
    obj = widget(ports=[{"name": "http"}, {"name": "dns", "protocol": "UDP"}], nested={})
    apply_schema_defaults(obj, SCHEMA)
    spec = obj["spec"]
    assert spec["replicas"] == 1
    assert spec["color"] == "red"
    assert spec["ports"] == [
        {"name": "http", "protocol": "TCP"},
        {"name": "dns", "protocol": "UDP"},
    ]
    # A defaulted object is itself defaulted.
    assert spec["nested"] == {"inner": {"level": 3}}
    assert "status" not in obj


def test_defaults_do_not_create_missing_parents() -> None:
    obj = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    apply_schema_defaults(obj, SCHEMA)
    assert "spec" not in obj


def test_null_in_non_nullable_field_is_defaulted_or_dropped() -> None:
    obj = widget(replicas=None, enabled=None, note=None)
    apply_schema_defaults(obj, SCHEMA)
    assert obj["spec"]["replicas"] == 1
    assert "enabled" not in obj["spec"]
    assert obj["spec"]["note"] is None


def test_defaulting_is_idempotent() -> None:
    obj = widget(ports=[{"name": "a"}], nested={})
    apply_schema_defaults(obj, SCHEMA)
    again = copy.deepcopy(obj)
    apply_schema_defaults(again, SCHEMA)
    assert again == obj


# ---- validation ----------------------------------------------------------------------------


def test_valid_resource_has_no_errors() -> None:
    obj = widget(
        replicas=3, ratio=0.5, port="http", created="2025-01-01T10:00:00Z", tags=["a"], size=5
    )
    assert check(obj) == []


def test_type_mismatch_message() -> None:
    assert check(widget(replicas="three")) == [
        'spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"'
    ]


def test_enum_message() -> None:
    assert check(widget(color="pink")) == [
        'spec.color: Unsupported value: "pink": supported values: "red", "blue"'
    ]


def test_required_message() -> None:
    obj = widget()
    del obj["spec"]["name"]
    assert check(obj) == ["spec.name: Required value"]


def test_numeric_bounds() -> None:
    assert check(widget(replicas=11, ratio=1.0)) == [
        "spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10",
        "spec.ratio: Invalid value: 1: spec.ratio in body should be less than 1",
    ]
    assert check(widget(replicas=-1)) == [
        "spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0"
    ]


def test_string_constraints() -> None:
    assert check(widget(name="ab")) == [
        'spec.name: Invalid value: "ab": spec.name in body should be at least 3 chars long'
    ]
    assert check(widget(name="abcdefghijk")) == [
        "spec.name: Too long: may not be more than 10 bytes"
    ]
    assert check(widget(name="ABC")) == [
        "spec.name: Invalid value: \"ABC\": spec.name in body should match '^[a-z]+$'"
    ]


def test_formats() -> None:
    assert check(widget(created="yesterday", size=2**31)) == [
        'spec.created: Invalid value: "yesterday": spec.created in body must be of type date-time: "yesterday"',
        'spec.size: Invalid value: 2147483648: spec.size in body must be of type int32: "2147483648"',
    ]


def test_int_or_string_accepts_both_and_rejects_others() -> None:
    assert check(widget(port=8080)) == []
    assert check(widget(port=True)) == [
        'spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean"'
    ]


def test_nullable() -> None:
    assert check(widget(note=None)) == []
    assert check(widget(enabled=None)) == [
        'spec.enabled: Invalid value: "null": spec.enabled in body must be of type boolean: "null"'
    ]


def test_array_limits_and_list_type_uniqueness() -> None:
    assert check(widget(tags=["a", "b", "a", "c"])) == [
        "spec.tags: Too many: 4: must have at most 3 items",
        'spec.tags[2]: Duplicate value: "a"',
    ]
    assert check(widget(ports=[{"name": "http"}, {"name": "http"}])) == [
        'spec.ports[1]: Duplicate value: map[string]interface {}{"name":"http"}'
    ]


def test_max_properties() -> None:
    assert check(widget(labels={"a": "1", "b": "2", "c": "3"})) == [
        "spec.labels: Too many: 3: must have at most 2 items"
    ]


def test_errors_feed_the_invalid_message() -> None:
    errors = validate_custom_resource(widget(replicas="x", color="pink"), SCHEMA)
    assert invalid_message("Widget", "example.com", "w1", errors) == (
        'Widget.example.com "w1" is invalid: [spec.replicas: Invalid value: "string": spec.replicas '
        'in body must be of type integer: "string", spec.color: Unsupported value: "pink": '
        'supported values: "red", "blue"]'
    )
