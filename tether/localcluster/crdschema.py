"""Pruning, defaulting and validation of custom resources against a CRD's structural schema.

Each function takes a CRD version's `schema.openAPIV3Schema` as a plain dict. Behaviour follows
apiextensions-apiserver's `pkg/apiserver/schema/{pruning,defaulting,listtype}` and kube-openapi's
validators as surfaced by `kubeOpenAPIResultToFieldErrors`, including their message texts.
`x-kubernetes-validations` (CEL) rules are not evaluated.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
from datetime import date, datetime
from typing import Any

from tether.localcluster.validation import (
    FieldError,
    duplicate,
    go_float,
    invalid,
    not_supported,
    required,
    too_long,
    too_many,
    type_invalid,
)

__all__ = ["apply_schema_defaults", "prune", "validate_custom_resource"]

# ObjectMeta's JSON fields: everything else under `metadata` is dropped by decoding.
OBJECT_META_FIELDS = frozenset(
    {
        "name",
        "generateName",
        "namespace",
        "selfLink",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
        "managedFields",
    }
)
_TYPE_META_FIELDS = ("apiVersion", "kind")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _schema_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# --------------------------------------------------------------------------------------------
# Pruning
# --------------------------------------------------------------------------------------------


def prune(obj: dict[str, Any], schema: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Return a copy of `obj` without fields the schema does not declare, and their paths.

    `apiVersion`, `kind` and `metadata` are always kept at the root (and in embedded resources);
    `metadata` keeps only ObjectMeta fields. Nothing under `x-kubernetes-preserve-unknown-fields`
    is dropped. Paths look like `spec.foo` or `spec.items[0].bar`, sorted.
    """
    dropped: list[str] = []
    pruned = _prune_value(copy.deepcopy(obj), schema, "", dropped, is_resource=True)
    return pruned, sorted(dropped)


def _prune_meta(metadata: Any, path: str, dropped: list[str]) -> Any:
    if not isinstance(metadata, dict):
        return metadata
    for key in list(metadata):
        if key not in OBJECT_META_FIELDS:
            dropped.append(_join(path, key))
            del metadata[key]
    return metadata


def _prune_value(
    value: Any, schema: dict[str, Any], path: str, dropped: list[str], *, is_resource: bool = False
) -> Any:
    if isinstance(value, dict):
        properties = _schema_dict(schema.get("properties"))
        additional = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
        embedded = is_resource or schema.get("x-kubernetes-embedded-resource") is True
        for key in list(value):
            child_path = _join(path, key)
            if embedded and key in _TYPE_META_FIELDS:
                continue
            if embedded and key == "metadata":
                value[key] = _prune_meta(value[key], child_path, dropped)
                continue
            if key in properties:
                value[key] = _prune_value(
                    value[key], _schema_dict(properties[key]), child_path, dropped
                )
            elif isinstance(additional, dict):
                value[key] = _prune_value(value[key], additional, child_path, dropped)
            elif additional is True or preserve:
                continue
            else:
                dropped.append(child_path)
                del value[key]
        return value
    if isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            return [
                _prune_value(item, items, f"{path}[{index}]", dropped)
                for index, item in enumerate(value)
            ]
    return value


# --------------------------------------------------------------------------------------------
# Defaulting
# --------------------------------------------------------------------------------------------


def apply_schema_defaults(obj: dict[str, Any], schema: dict[str, Any]) -> None:
    """Apply `default:` values in place, where the parent exists, recursively.

    A `null` in a non-nullable field counts as absent: it gets the default if there is one and
    is removed otherwise (apiextensions prunes such nulls before defaulting). Defaults inside
    array items apply to every item. `metadata` is never defaulted from the schema.
    """
    _default_value(obj, schema, is_root=True)


def _default_value(value: Any, schema: dict[str, Any], *, is_root: bool = False) -> None:
    if isinstance(value, dict):
        properties = _schema_dict(schema.get("properties"))
        for key, prop in properties.items():
            prop = _schema_dict(prop)
            if is_root and key == "metadata":
                continue
            present = key in value
            if present and value[key] is None and prop.get("nullable") is not True:
                if "default" in prop:
                    value[key] = copy.deepcopy(prop["default"])
                else:
                    del value[key]
            elif not present and "default" in prop:
                value[key] = copy.deepcopy(prop["default"])
        additional = schema.get("additionalProperties")
        for key, child in value.items():
            if is_root and key in ("metadata", *_TYPE_META_FIELDS):
                continue
            if key in properties:
                _default_value(child, _schema_dict(properties[key]))
            elif isinstance(additional, dict):
                _default_value(child, additional)
    elif isinstance(value, list):
        items = schema.get("items")
        if not isinstance(items, dict):
            return
        for index, item in enumerate(value):
            if item is None and items.get("nullable") is not True and "default" in items:
                value[index] = copy.deepcopy(items["default"])
            _default_value(value[index], items)


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
)
_DATE_TIME_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)


def validate_custom_resource(obj: dict[str, Any], schema: dict[str, Any]) -> list[FieldError]:
    """Validate a custom resource against its schema; empty list when valid.

    Covers type (incl. int-or-string, nullable), enum, numeric bounds, multipleOf, string
    lengths, pattern, format (int32, int64, date-time, date, byte, uuid), required, item and
    property counts, uniqueItems and `x-kubernetes-list-type` set/map uniqueness. `metadata` is
    validated by `validation.validate_object`, not here. CEL rules are skipped.
    """
    errors: list[FieldError] = []
    root = dict(obj)
    root.pop("metadata", None)
    root_schema = dict(schema)
    root_schema["properties"] = {
        k: v for k, v in _schema_dict(schema.get("properties")).items() if k != "metadata"
    }
    root_schema["required"] = [r for r in schema.get("required") or [] if r != "metadata"]
    _validate(root, root_schema, "", errors)
    return errors


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _type_ok(value: Any, schema: dict[str, Any]) -> tuple[bool, str]:
    """Whether `value` has the schema's type; also the expected type text for the message."""
    if schema.get("x-kubernetes-int-or-string") is True:
        ok = isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
        return ok, "integer,string"
    expected = schema.get("type")
    if not expected:
        return True, ""
    actual = _json_type(value)
    if actual == expected:
        return True, expected
    if expected == "number" and actual == "integer":
        return True, expected
    if expected == "integer" and actual == "number" and float(value).is_integer():
        return True, expected
    return False, expected


def _bound_text(value: Any) -> str:
    if isinstance(value, float):
        return go_float(value)
    return str(value)


def _validate(value: Any, schema: dict[str, Any], path: str, errors: list[FieldError]) -> None:
    name = path or "."
    if value is None:
        if schema.get("nullable") is True or not (
            schema.get("type") or schema.get("x-kubernetes-int-or-string")
        ):
            return
        _, expected = _type_ok(value, schema)
        errors.append(
            type_invalid(path, "null", f'{name} in body must be of type {expected}: "null"')
        )
        return
    ok, expected = _type_ok(value, schema)
    if not ok:
        actual = _json_type(value)
        errors.append(
            type_invalid(path, actual, f'{name} in body must be of type {expected}: "{actual}"')
        )
        return
    if "enum" in schema and isinstance(schema["enum"], list) and value not in schema["enum"]:
        allowed = [v if isinstance(v, str) else json.dumps(v) for v in schema["enum"]]
        errors.append(not_supported(path, value, allowed))
    if isinstance(value, int | float) and not isinstance(value, bool):
        _validate_number(value, schema, path, name, errors)
    elif isinstance(value, str):
        _validate_string(value, schema, path, name, errors)
    elif isinstance(value, list):
        _validate_array(value, schema, path, name, errors)
    elif isinstance(value, dict):
        _validate_object(value, schema, path, name, errors)


def _validate_number(
    value: float, schema: dict[str, Any], path: str, name: str, errors: list[FieldError]
) -> None:
    maximum, minimum = schema.get("maximum"), schema.get("minimum")
    if isinstance(maximum, int | float):
        if schema.get("exclusiveMaximum") is True and value >= maximum:
            errors.append(
                invalid(path, value, f"{name} in body should be less than {_bound_text(maximum)}")
            )
        elif value > maximum:
            errors.append(
                invalid(
                    path,
                    value,
                    f"{name} in body should be less than or equal to {_bound_text(maximum)}",
                )
            )
    if isinstance(minimum, int | float):
        if schema.get("exclusiveMinimum") is True and value <= minimum:
            errors.append(
                invalid(
                    path, value, f"{name} in body should be greater than {_bound_text(minimum)}"
                )
            )
        elif value < minimum:
            errors.append(
                invalid(
                    path,
                    value,
                    f"{name} in body should be greater than or equal to {_bound_text(minimum)}",
                )
            )
    multiple = schema.get("multipleOf")
    if isinstance(multiple, int | float) and multiple > 0:
        quotient = value / multiple
        if abs(quotient - round(quotient)) > 1e-9:
            errors.append(
                invalid(
                    path, value, f"{name} in body should be a multiple of {_bound_text(multiple)}"
                )
            )
    fmt = schema.get("format")
    bounds = {"int32": _INT32, "int64": _INT64}.get(str(fmt))
    if bounds and isinstance(value, int) and not bounds[0] <= value <= bounds[1]:
        errors.append(type_invalid(path, value, f'{name} in body must be of type {fmt}: "{value}"'))


def _format_ok(fmt: str, value: str) -> bool:
    if fmt == "date-time":
        if not _DATE_TIME_RE.match(value):
            return False
        try:
            datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00").replace(" ", "T"))
        except ValueError:
            return False
        return True
    if fmt == "date":
        try:
            date.fromisoformat(value)
        except ValueError:
            return False
        return len(value) == 10
    if fmt == "byte":
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return False
        return True
    if fmt == "uuid":
        return _UUID_RE.match(value) is not None
    return True


def _validate_string(
    value: str, schema: dict[str, Any], path: str, name: str, errors: list[FieldError]
) -> None:
    max_length, min_length = schema.get("maxLength"), schema.get("minLength")
    # OpenAPI counts characters (runes), not bytes, even though the message says bytes.
    if isinstance(max_length, int) and len(value) > max_length:
        errors.append(too_long(path, max_length))
    if isinstance(min_length, int) and len(value) < min_length:
        errors.append(
            invalid(path, value, f"{name} in body should be at least {min_length} chars long")
        )
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        try:
            matched = re.search(pattern, value) is not None
        except re.error:
            matched = True
        if not matched:
            errors.append(invalid(path, value, f"{name} in body should match '{pattern}'"))
    fmt = schema.get("format")
    if isinstance(fmt, str) and not _format_ok(fmt, value):
        errors.append(type_invalid(path, value, f'{name} in body must be of type {fmt}: "{value}"'))


def _validate_array(
    value: list[Any], schema: dict[str, Any], path: str, name: str, errors: list[FieldError]
) -> None:
    max_items, min_items = schema.get("maxItems"), schema.get("minItems")
    if isinstance(max_items, int) and len(value) > max_items:
        errors.append(too_many(path, len(value), max_items))
    if isinstance(min_items, int) and len(value) < min_items:
        errors.append(
            invalid(path, len(value), f"{name} in body should have at least {min_items} items")
        )
    if schema.get("uniqueItems") is True:
        encoded = [json.dumps(item, sort_keys=True) for item in value]
        if len(set(encoded)) != len(encoded):
            errors.append(invalid(path, "", f"{name} in body shouldn't contain duplicates"))
    items = schema.get("items")
    if isinstance(items, dict):
        for index, item in enumerate(value):
            _validate(item, items, f"{path}[{index}]", errors)
    list_type = schema.get("x-kubernetes-list-type")
    if list_type == "set":
        seen: set[str] = set()
        for index, item in enumerate(value):
            key = json.dumps(item, sort_keys=True)
            if key in seen:
                errors.append(duplicate(f"{path}[{index}]", item))
            seen.add(key)
    elif list_type == "map":
        _validate_list_map(value, schema, path, errors)


def _validate_list_map(
    value: list[Any], schema: dict[str, Any], path: str, errors: list[FieldError]
) -> None:
    keys = [str(k) for k in schema.get("x-kubernetes-list-map-keys") or []]
    item_props = _schema_dict(_schema_dict(schema.get("items")).get("properties"))
    seen: set[str] = set()
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            continue
        key_values: dict[str, Any] = {}
        missing = False
        for key in keys:
            if key in item:
                key_values[key] = item[key]
            elif "default" in _schema_dict(item_props.get(key)):
                key_values[key] = item_props[key]["default"]
            else:
                errors.append(required(f"{path}[{index}].{key}"))
                missing = True
        if missing:
            continue
        identity = json.dumps(key_values, sort_keys=True)
        if identity in seen:
            errors.append(duplicate(f"{path}[{index}]", key_values))
        seen.add(identity)


def _validate_object(
    value: dict[str, Any], schema: dict[str, Any], path: str, name: str, errors: list[FieldError]
) -> None:
    max_props, min_props = schema.get("maxProperties"), schema.get("minProperties")
    if isinstance(max_props, int) and len(value) > max_props:
        errors.append(too_many(path, len(value), max_props))
    if isinstance(min_props, int) and len(value) < min_props:
        errors.append(
            invalid(path, len(value), f"{name} in body should have at least {min_props} properties")
        )
    for key in schema.get("required") or []:
        if key not in value:
            errors.append(required(_join(path, str(key))))
    properties = _schema_dict(schema.get("properties"))
    additional = schema.get("additionalProperties")
    for key, child in value.items():
        if key in properties:
            _validate(child, _schema_dict(properties[key]), _join(path, key), errors)
        elif isinstance(additional, dict):
            _validate(child, additional, _join(path, key), errors)
