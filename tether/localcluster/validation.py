"""Validation of built-in kinds with the error messages kube-apiserver 1.32 prints.

Pure functions over plain dicts. Validation runs after defaulting (see `defaults.py`), exactly as
on the real server, so fields that defaulting always fills are checked for their values rather
than for presence. Messages follow apimachinery's `field.Error` rendering: Go `%q` for strings,
bare numbers, and Go `%#v` for the few struct values users commonly see (label selectors,
`map[string]string`, `intstr.IntOrString`, RBAC `RoleRef`).

Sources: apimachinery `pkg/util/validation{,/field}`, `pkg/api/validation/objectmeta.go`;
kubernetes `pkg/apis/*/validation`; apiextensions-apiserver `pkg/apis/apiextensions/validation`
and `pkg/apiserver/schema/validation.go`.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from tether.localcluster.defaults import InvalidQuantityError, parse_quantity

__all__ = [
    "NO_VALUE",
    "FieldError",
    "GoRepr",
    "duplicate",
    "forbidden",
    "go_value",
    "invalid",
    "invalid_message",
    "is_dns1035_label",
    "is_dns1123_label",
    "is_dns1123_subdomain",
    "is_path_segment_name",
    "is_qualified_name",
    "is_valid_label_value",
    "name_rule_for",
    "not_found",
    "not_supported",
    "required",
    "too_long",
    "too_many",
    "type_invalid",
    "validate_annotations",
    "validate_crd",
    "validate_labels",
    "validate_name",
    "validate_object",
]

# --------------------------------------------------------------------------------------------
# Field errors and their rendering
# --------------------------------------------------------------------------------------------


class _NoValue:
    """Sentinel: the error carries no bad value (Required, Forbidden, TooLong)."""

    _instance: _NoValue | None = None

    def __new__(cls) -> _NoValue:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NO_VALUE"


NO_VALUE: Final = _NoValue()

_TYPE_TEXT = {
    "FieldValueNotFound": "Not found",
    "FieldValueRequired": "Required value",
    "FieldValueDuplicate": "Duplicate value",
    "FieldValueInvalid": "Invalid value",
    "FieldValueNotSupported": "Unsupported value",
    "FieldValueForbidden": "Forbidden",
    "FieldValueTooLong": "Too long",
    "FieldValueTooMany": "Too many",
    "InternalError": "Internal error",
    "FieldValueTypeInvalid": "Invalid value",
}
# apimachinery never prints the bad value for these types.
_VALUELESS_TYPES = {
    "FieldValueRequired",
    "FieldValueForbidden",
    "FieldValueTooLong",
    "InternalError",
}


@dataclass(frozen=True)
class GoRepr:
    """A value whose Go `%v` rendering is known verbatim (e.g. a struct printed with `%#v`)."""

    text: str


def go_quote(text: str) -> str:
    """Go's `strconv.Quote`: double quotes, escapes for quotes, backslashes and controls."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def go_float(value: float) -> str:
    """Go's `%v` for float64: shortest digits, `%e` form when the exponent is < -4 or >= 6."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    _, digit_tuple, exp = Decimal(repr(abs(value))).normalize().as_tuple()
    assert isinstance(exp, int)
    digits = "".join(str(d) for d in digit_tuple)
    point = len(digits) + exp
    exponent = point - 1
    sign = "-" if value < 0 else ""
    if exponent < -4 or exponent >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def go_value(value: Any) -> str:
    """Render a bad value the way `field.Error.ErrorBody` does for JSON-shaped data."""
    if value is None:
        return "null"
    if isinstance(value, GoRepr):
        return value.text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, str):
        return go_quote(value)
    # Unstructured maps and slices (custom resources): Go prints these with %#v.
    return _go_interface_repr(value)


def _go_interface_repr(value: Any) -> str:
    if isinstance(value, dict):
        items = ", ".join(
            f"{go_quote(str(k))}:{_go_interface_repr(v)}" for k, v in sorted(value.items())
        )
        return "map[string]interface {}{" + items + "}"
    if isinstance(value, list):
        return "[]interface {}{" + ", ".join(_go_interface_repr(v) for v in value) + "}"
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}"
    if isinstance(value, float):
        return go_float(value)
    if value is None:
        return "interface {}(nil)"
    return go_quote(str(value))


def go_string_map(value: Any) -> GoRepr:
    """`%#v` of a `map[string]string` (nil when absent), keys sorted as fmt prints them."""
    if not isinstance(value, dict):
        return GoRepr("map[string]string(nil)")
    body = ", ".join(f"{go_quote(str(k))}:{go_quote(str(v))}" for k, v in sorted(value.items()))
    return GoRepr("map[string]string{" + body + "}")


def go_string_slice(value: Any) -> GoRepr:
    """`%#v` of a `[]string`."""
    if not isinstance(value, list):
        return GoRepr("[]string(nil)")
    return GoRepr("[]string{" + ", ".join(go_quote(str(v)) for v in value) + "}")


def go_label_selector(selector: Any) -> GoRepr:
    """`%#v` of a dereferenced `*metav1.LabelSelector`, as in `field is immutable` errors."""
    selector = selector if isinstance(selector, dict) else {}
    expressions = selector.get("matchExpressions")
    if isinstance(expressions, list):
        rendered = ", ".join(
            "v1.LabelSelectorRequirement{"
            f"Key:{go_quote(str(e.get('key', '')))}, "
            f"Operator:{go_quote(str(e.get('operator', '')))}, "
            f"Values:{go_string_slice(e.get('values')).text}"
            "}"
            for e in expressions
            if isinstance(e, dict)
        )
        expressions_text = "[]v1.LabelSelectorRequirement{" + rendered + "}"
    else:
        expressions_text = "[]v1.LabelSelectorRequirement(nil)"
    return GoRepr(
        "v1.LabelSelector{"
        f"MatchLabels:{go_string_map(selector.get('matchLabels')).text}, "
        f"MatchExpressions:{expressions_text}"
        "}"
    )


def go_int_or_string(value: Any) -> GoRepr:
    """`%#v` of an `intstr.IntOrString`."""
    if isinstance(value, str):
        return GoRepr(f"intstr.IntOrString{{Type:1, IntVal:0, StrVal:{go_quote(value)}}}")
    number = value if isinstance(value, int) else 0
    return GoRepr(f'intstr.IntOrString{{Type:0, IntVal:{number}, StrVal:""}}')


@dataclass(frozen=True)
class FieldError:
    """One validation failure: a Kubernetes `field.Error`.

    `type` is the cause reason (`FieldValueInvalid`, …), `field` the JSON path as Kubernetes
    prints it (`spec.template.spec.containers[0].image`), `detail` the free text, and `value`
    the offending value or `NO_VALUE`.
    """

    type: str
    field: str
    detail: str = ""
    value: Any = NO_VALUE

    def message(self) -> str:
        """The cause message without the field: `Invalid value: -1: must be …`."""
        text = _TYPE_TEXT.get(self.type, self.type)
        if self.type not in _VALUELESS_TYPES and self.value is not NO_VALUE:
            text = f"{text}: {go_value(self.value)}"
        if self.detail:
            text = f"{text}: {self.detail}"
        return text

    def cause(self) -> dict[str, Any]:
        """The `details.causes[]` entry of a 422 Status."""
        return {"reason": self.type, "message": self.message(), "field": self.field}

    def __str__(self) -> str:
        return f"{self.field}: {self.message()}"


def invalid(field: str, value: Any, detail: str) -> FieldError:
    """`field.Invalid`."""
    return FieldError("FieldValueInvalid", field, detail, value)


def type_invalid(field: str, value: Any, detail: str) -> FieldError:
    """`field.TypeInvalid`."""
    return FieldError("FieldValueTypeInvalid", field, detail, value)


def required(field: str, detail: str = "") -> FieldError:
    """`field.Required`."""
    return FieldError("FieldValueRequired", field, detail)


def forbidden(field: str, detail: str) -> FieldError:
    """`field.Forbidden`."""
    return FieldError("FieldValueForbidden", field, detail)


def duplicate(field: str, value: Any) -> FieldError:
    """`field.Duplicate`."""
    return FieldError("FieldValueDuplicate", field, "", value)


def not_found(field: str, value: Any) -> FieldError:
    """`field.NotFound`."""
    return FieldError("FieldValueNotFound", field, "", value)


def not_supported(field: str, value: Any, supported: Iterable[str]) -> FieldError:
    """`field.NotSupported`: lists the supported values, each Go-quoted."""
    values = list(supported)
    detail = "supported values: " + ", ".join(go_quote(v) for v in values) if values else ""
    return FieldError("FieldValueNotSupported", field, detail, value)


def too_long(field: str, max_length: int) -> FieldError:
    """`field.TooLong` (the value is never printed)."""
    if max_length >= 0:
        unit = "byte" if max_length == 1 else "bytes"
        detail = f"may not be more than {max_length} {unit}"
    else:
        detail = "value is too long"
    return FieldError("FieldValueTooLong", field, detail)


def too_many(field: str, actual: int, maximum: int) -> FieldError:
    """`field.TooMany`."""
    if maximum >= 0:
        detail = f"must have at most {maximum} {'item' if maximum == 1 else 'items'}"
    else:
        detail = "has too many items"
    return FieldError("FieldValueTooMany", field, detail, actual if actual >= 0 else NO_VALUE)


def invalid_message(kind: str, group: str, name: str, errors: list[FieldError]) -> str:
    """The top-level message of a 422 Invalid Status.

    `Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: …`; several distinct
    errors are joined like `utilerrors.Aggregate`: `[a, b]`. Duplicated messages are dropped.
    """
    qualified = f"{kind}.{group}" if group else kind
    head = f"{qualified} {go_quote(name)} is invalid"
    seen: list[str] = []
    for error in errors:
        text = str(error)
        if text not in seen:
            seen.append(text)
    if not seen:
        return head
    if len(seen) == 1:
        return f"{head}: {seen[0]}"
    return f"{head}: [{', '.join(seen)}]"


# --------------------------------------------------------------------------------------------
# String rules (apimachinery pkg/util/validation)
# --------------------------------------------------------------------------------------------

DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN_FMT = DNS1123_LABEL_FMT + "(\\." + DNS1123_LABEL_FMT + ")*"
DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
LABEL_VALUE_FMT = "(" + QUALIFIED_NAME_FMT + ")?"
CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"
PERCENT_FMT = "[0-9]+%"

_DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character"
)
_DNS1035_LABEL_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with "
    "an alphabetic character, and end with an alphanumeric character"
)
_QUALIFIED_NAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character"
)
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character"
)
_CONFIG_KEY_MSG = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
_PERCENT_MSG = "a valid percent string must be a numeric string followed by an ending '%'"


def _full(fmt: str) -> re.Pattern[str]:
    return re.compile("^" + fmt + "$")


_DNS1123_LABEL_RE = _full(DNS1123_LABEL_FMT)
_DNS1123_SUBDOMAIN_RE = _full(DNS1123_SUBDOMAIN_FMT)
_DNS1035_LABEL_RE = _full(DNS1035_LABEL_FMT)
_QUALIFIED_NAME_RE = _full(QUALIFIED_NAME_FMT)
_LABEL_VALUE_RE = _full(LABEL_VALUE_FMT)
_CONFIG_KEY_RE = _full(CONFIG_KEY_FMT)
_PERCENT_RE = _full(PERCENT_FMT)


def regex_error(message: str, fmt: str, *examples: str) -> str:
    """apimachinery's `RegexError` (including its double space before `or`)."""
    if not examples:
        return f"{message} (regex used for validation is '{fmt}')"
    text = message + " (e.g. "
    for index, example in enumerate(examples):
        if index > 0:
            text += " or "
        text += f"'{example}', "
    return text + f"regex used for validation is '{fmt}')"


def max_len_error(length: int) -> str:
    """apimachinery's `MaxLenError`."""
    return f"must be no more than {length} characters"


def _matches(pattern: re.Pattern[str], value: str) -> bool:
    # `$` in Python also matches before a trailing newline; Go's does not.
    return pattern.match(value) is not None and not value.endswith("\n")


def is_dns1123_label(value: str) -> list[str]:
    """`IsDNS1123Label`: error strings, empty when valid."""
    errors = []
    if len(value) > 63:
        errors.append(max_len_error(63))
    if not _matches(_DNS1123_LABEL_RE, value):
        errors.append(regex_error(_DNS1123_LABEL_MSG, DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errors


def is_dns1123_subdomain(value: str) -> list[str]:
    """`IsDNS1123Subdomain`."""
    errors = []
    if len(value) > 253:
        errors.append(max_len_error(253))
    if not _matches(_DNS1123_SUBDOMAIN_RE, value):
        errors.append(regex_error(_DNS1123_SUBDOMAIN_MSG, DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errors


def is_dns1035_label(value: str) -> list[str]:
    """`IsDNS1035Label`."""
    errors = []
    if len(value) > 63:
        errors.append(max_len_error(63))
    if not _matches(_DNS1035_LABEL_RE, value):
        errors.append(regex_error(_DNS1035_LABEL_MSG, DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errors


def is_path_segment_name(value: str) -> list[str]:
    """`path.IsValidPathSegmentName`, the rule for RBAC object names."""
    for illegal in (".", ".."):
        if value == illegal:
            return [f"may not be '{illegal}'"]
    return [f"may not contain '{part}'" for part in ("/", "%") if part in value]


def is_qualified_name(value: str) -> list[str]:
    """`IsQualifiedName`: label keys, annotation keys, finalizers."""
    errors: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errors.append("prefix part must be non-empty")
        else:
            errors.extend("prefix part " + msg for msg in is_dns1123_subdomain(prefix))
    else:
        return [
            "a qualified name "
            + regex_error(_QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > 63:
        errors.append("name part " + max_len_error(63))
    if not _matches(_QUALIFIED_NAME_RE, name):
        errors.append(
            "name part "
            + regex_error(_QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
        )
    return errors


def is_valid_label_value(value: str) -> list[str]:
    """`IsValidLabelValue`."""
    errors = []
    if len(value) > 63:
        errors.append(max_len_error(63))
    if not _matches(_LABEL_VALUE_RE, value):
        errors.append(
            regex_error(_LABEL_VALUE_MSG, LABEL_VALUE_FMT, "MyValue", "my_value", "12345")
        )
    return errors


def is_config_map_key(value: str) -> list[str]:
    """`IsConfigMapKey`: keys of ConfigMap and Secret data."""
    errors = []
    if len(value) > 253:
        errors.append(max_len_error(253))
    if not _matches(_CONFIG_KEY_RE, value):
        errors.append(
            regex_error(_CONFIG_KEY_MSG, CONFIG_KEY_FMT, "key.name", "KEY_NAME", "key-name")
        )
    if value == ".":
        errors.append("must not be '.'")
    elif value == "..":
        errors.append("must not be '..'")
    elif value.startswith(".."):
        errors.append("must not start with '..'")
    return errors


def is_valid_port_num(port: Any) -> list[str]:
    """`IsValidPortNum`."""
    if isinstance(port, int) and not isinstance(port, bool) and 1 <= port <= 65535:
        return []
    return ["must be between 1 and 65535, inclusive"]


def is_valid_port_name(port: str) -> list[str]:
    """`IsValidPortName` (IANA_SVC_NAME)."""
    errors = []
    if len(port) > 15:
        errors.append(max_len_error(15))
    if not re.fullmatch(r"[-a-z0-9]+", port):
        errors.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search(r"[a-z]", port):
        errors.append("must contain at least one letter (a-z)")
    if "--" in port:
        errors.append("must not contain consecutive hyphens")
    if port and (port[0] == "-" or port[-1] == "-"):
        errors.append("must not begin or end with a hyphen")
    return errors


def is_valid_percent(value: str) -> list[str]:
    """`IsValidPercent`."""
    if _matches(_PERCENT_RE, value):
        return []
    return [regex_error(_PERCENT_MSG, PERCENT_FMT, "1%", "93%")]


# --------------------------------------------------------------------------------------------
# Object names
# --------------------------------------------------------------------------------------------

NameRule = Callable[[str], list[str]]

_LABEL_NAMED = {("", "Namespace"), ("apps", "StatefulSet")}
_DNS1035_NAMED = {("", "Service")}
_PATH_SEGMENT_NAMED = {
    ("rbac.authorization.k8s.io", "Role"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "RoleBinding"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
}


def name_rule_for(group: str, kind: str) -> NameRule:
    """The name rule a kind's validation uses (DNS subdomain unless the kind says otherwise)."""
    if (group, kind) in _LABEL_NAMED:
        return is_dns1123_label
    if (group, kind) in _DNS1035_NAMED:
        return is_dns1035_label
    if (group, kind) in _PATH_SEGMENT_NAMED:
        return is_path_segment_name
    return is_dns1123_subdomain


def _mask_trailing_dash(name: str) -> str:
    # A generateName prefix may end in '-' because random characters follow it.
    if len(name) > 1 and name.endswith("-"):
        return name[:-1] + "a"
    return name


def validate_name(kind_rule: NameRule, name: str, *, prefix: bool = False) -> list[str]:
    """Apply a name rule (`is_dns1123_subdomain`, `is_dns1123_label`, …) to a name or prefix."""
    if prefix and kind_rule is not is_path_segment_name:
        name = _mask_trailing_dash(name)
    return kind_rule(name)


# --------------------------------------------------------------------------------------------
# ObjectMeta
# --------------------------------------------------------------------------------------------

TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024
MAX_SECRET_SIZE = 1024 * 1024

_CLUSTER_SCOPED = {
    ("", "Namespace"),
    ("", "Node"),
    ("", "PersistentVolume"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("storage.k8s.io", "StorageClass"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("networking.k8s.io", "IngressClass"),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
    ("apiregistration.k8s.io", "APIService"),
}


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def validate_labels(labels: Any, path: str) -> list[FieldError]:
    """`ValidateLabels`: every error is reported on the map's path, not the key's."""
    errors: list[FieldError] = []
    for key, value in sorted(_as_dict(labels).items()):
        errors.extend(invalid(path, key, msg) for msg in is_qualified_name(str(key)))
        text = value if isinstance(value, str) else str(value)
        errors.extend(invalid(path, text, msg) for msg in is_valid_label_value(text))
    return errors


def validate_annotations(annotations: Any, path: str) -> list[FieldError]:
    """`ValidateAnnotations`: qualified-name keys (case-insensitive), 256 KiB in total."""
    errors: list[FieldError] = []
    total = 0
    for key, value in sorted(_as_dict(annotations).items()):
        errors.extend(invalid(path, key, msg) for msg in is_qualified_name(str(key).lower()))
        total += len(str(key).encode()) + len(str(value).encode())
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        errors.append(too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT))
    return errors


def _validate_finalizers(finalizers: Any, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    names = [str(f) for f in _as_list(finalizers)]
    for finalizer in names:
        errors.extend(invalid(path, finalizer, msg) for msg in is_qualified_name(finalizer))
    if "orphan" in names and "foregroundDeletion" in names:
        errors.append(
            invalid(
                path,
                go_string_slice(names),
                "finalizer orphan and foregroundDeletion cannot be both set",
            )
        )
    return errors


def _validate_owner_references(references: Any, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    first_controller = ""
    for ref in _as_list(references):
        ref = _as_dict(ref)
        api_version = str(ref.get("apiVersion") or "")
        version = api_version.rsplit("/", 1)[-1] if api_version else ""
        if not version:
            errors.append(invalid(f"{path}.apiVersion", api_version, "version must not be empty"))
        if not ref.get("kind"):
            errors.append(
                invalid(f"{path}.kind", str(ref.get("kind") or ""), "kind must not be empty")
            )
        if not ref.get("name"):
            errors.append(
                invalid(f"{path}.name", str(ref.get("name") or ""), "name must not be empty")
            )
        if not ref.get("uid"):
            errors.append(
                invalid(f"{path}.uid", str(ref.get("uid") or ""), "uid must not be empty")
            )
        if ref.get("controller") is True:
            current = f"{ref.get('kind', '')}/{ref.get('name', '')}"
            if first_controller:
                errors.append(
                    invalid(
                        path,
                        references,
                        'Only one reference can have Controller set to true. Found "true" in '
                        f"references for {first_controller} and {current}",
                    )
                )
            else:
                first_controller = current
    return errors


def validate_object_meta(
    meta: Any,
    *,
    name_rule: NameRule,
    namespaced: bool | None,
    path: str = "metadata",
) -> list[FieldError]:
    """`ValidateObjectMetaAccessor`. `namespaced=None` skips the namespace presence check."""
    meta = _as_dict(meta)
    errors: list[FieldError] = []
    generate_name = meta.get("generateName")
    if generate_name:
        errors.extend(
            invalid(f"{path}.generateName", generate_name, msg)
            for msg in validate_name(name_rule, str(generate_name), prefix=True)
        )
    name = meta.get("name")
    if not name:
        errors.append(required(f"{path}.name", "name or generateName is required"))
    else:
        errors.extend(
            invalid(f"{path}.name", name, msg) for msg in validate_name(name_rule, str(name))
        )
    namespace = meta.get("namespace")
    if namespaced is True:
        if not namespace:
            errors.append(required(f"{path}.namespace"))
        else:
            errors.extend(
                invalid(f"{path}.namespace", namespace, msg)
                for msg in is_dns1123_label(str(namespace))
            )
    elif namespaced is False and namespace:
        errors.append(forbidden(f"{path}.namespace", "not allowed on this type"))
    generation = meta.get("generation")
    if isinstance(generation, int) and generation < 0:
        errors.append(
            invalid(f"{path}.generation", generation, "must be greater than or equal to 0")
        )
    errors.extend(validate_labels(meta.get("labels"), f"{path}.labels"))
    errors.extend(validate_annotations(meta.get("annotations"), f"{path}.annotations"))
    errors.extend(
        _validate_owner_references(meta.get("ownerReferences"), f"{path}.ownerReferences")
    )
    errors.extend(_validate_finalizers(meta.get("finalizers"), f"{path}.finalizers"))
    return errors


def _immutable(new: Any, old: Any, path: str, shown: Any = NO_VALUE) -> list[FieldError]:
    if new == old:
        return []
    return [invalid(path, new if shown is NO_VALUE else shown, "field is immutable")]


def validate_object_meta_update(meta: Any, old_meta: Any) -> list[FieldError]:
    """`ValidateObjectMetaAccessorUpdate`: identity fields never change, no new finalizers
    while deleting, generation never decreases."""
    meta, old_meta = _as_dict(meta), _as_dict(old_meta)
    errors: list[FieldError] = []
    if old_meta.get("deletionTimestamp"):
        added = sorted(
            set(_as_list(meta.get("finalizers"))) - set(_as_list(old_meta.get("finalizers")))
        )
        if added:
            errors.append(
                forbidden(
                    "metadata.finalizers",
                    "no new finalizers can be added if the object is being deleted, found new "
                    f"finalizers {go_string_slice(added).text}",
                )
            )
    generation, old_generation = meta.get("generation"), old_meta.get("generation")
    if (
        isinstance(generation, int)
        and isinstance(old_generation, int)
        and generation < old_generation
    ):
        errors.append(invalid("metadata.generation", generation, "must not be decremented"))
    for key in (
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ):
        new_value, old_value = meta.get(key), old_meta.get(key)
        if new_value != old_value:
            shown = (
                new_value
                if new_value is not None
                else ("" if key != "deletionGracePeriodSeconds" else None)
            )
            errors.append(invalid(f"metadata.{key}", shown, "field is immutable"))
    return errors


# --------------------------------------------------------------------------------------------
# Shared spec pieces
# --------------------------------------------------------------------------------------------


def _nonnegative(value: Any, path: str) -> list[FieldError]:
    if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
        return [invalid(path, value, "must be greater than or equal to 0")]
    return []


def _enum(
    value: Any, path: str, allowed: list[str], *, required_if_empty: bool = False
) -> list[FieldError]:
    if value in (None, ""):
        return [required(path)] if required_if_empty else []
    if value not in allowed:
        return [not_supported(path, value, allowed)]
    return []


def _label_selector_errors(selector: Any, path: str) -> list[FieldError]:
    """`ValidateLabelSelector`: matchLabels keys/values, matchExpressions operators and values."""
    selector = _as_dict(selector)
    errors = validate_labels(selector.get("matchLabels"), f"{path}.matchLabels")
    for index, expression in enumerate(_as_list(selector.get("matchExpressions"))):
        expression = _as_dict(expression)
        expr_path = f"{path}.matchExpressions[{index}]"
        operator = expression.get("operator")
        values = _as_list(expression.get("values"))
        if operator in ("In", "NotIn"):
            if not values:
                errors.append(
                    required(
                        f"{expr_path}.values",
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    )
                )
        elif operator in ("Exists", "DoesNotExist"):
            if values:
                errors.append(
                    forbidden(
                        f"{expr_path}.values",
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    )
                )
        else:
            errors.append(
                invalid(f"{expr_path}.operator", operator, "not a valid selector operator")
            )
        errors.extend(
            invalid(f"{expr_path}.key", expression.get("key", ""), msg)
            for msg in is_qualified_name(str(expression.get("key", "")))
        )
    return errors


def selector_matches(selector: Any, labels: Any) -> bool:
    """Whether a LabelSelector (matchLabels + matchExpressions) selects a label set."""
    selector, labels = _as_dict(selector), _as_dict(labels)
    for label, wanted in _as_dict(selector.get("matchLabels")).items():
        if labels.get(label) != wanted:
            return False
    for expression in _as_list(selector.get("matchExpressions")):
        expression = _as_dict(expression)
        key, operator = expression.get("key"), expression.get("operator")
        values = _as_list(expression.get("values"))
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def _selector_is_empty(selector: Any) -> bool:
    selector = _as_dict(selector)
    return not selector.get("matchLabels") and not selector.get("matchExpressions")


def _validate_quantity(value: Any, path: str) -> tuple[FieldError | None, float | None]:
    try:
        amount, _ = parse_quantity(value)
    except (InvalidQuantityError, TypeError):
        return invalid(path, value, "must be a valid quantity"), None
    return None, float(amount)


def _validate_resources(resources: Any, path: str) -> list[FieldError]:
    resources = _as_dict(resources)
    errors: list[FieldError] = []
    limits: dict[str, float] = {}
    for name, value in sorted(_as_dict(resources.get("limits")).items()):
        error, amount = _validate_quantity(value, f"{path}.limits[{name}]")
        if error:
            errors.append(error)
        elif amount is not None:
            errors.extend(_nonnegative_quantity(value, amount, f"{path}.limits[{name}]"))
            limits[name] = amount
    for name, value in sorted(_as_dict(resources.get("requests")).items()):
        error, amount = _validate_quantity(value, f"{path}.requests[{name}]")
        if error:
            errors.append(error)
            continue
        assert amount is not None
        errors.extend(_nonnegative_quantity(value, amount, f"{path}.requests[{name}]"))
        if name in limits and amount > limits[name]:
            limit_text = _as_dict(resources.get("limits"))[name]
            errors.append(
                invalid(
                    f"{path}.requests",
                    str(value),
                    f"must be less than or equal to {name} limit of {limit_text}",
                )
            )
    return errors


def _nonnegative_quantity(value: Any, amount: float, path: str) -> list[FieldError]:
    if amount < 0:
        return [invalid(path, str(value), "must be greater than or equal to 0")]
    return []


_PROTOCOLS = ["SCTP", "TCP", "UDP"]


def _validate_container_ports(ports: Any, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    names: set[str] = set()
    for index, port in enumerate(_as_list(ports)):
        port = _as_dict(port)
        port_path = f"{path}[{index}]"
        name = port.get("name")
        if name:
            messages = is_valid_port_name(str(name))
            if messages:
                errors.extend(invalid(f"{port_path}.name", name, msg) for msg in messages)
            elif name in names:
                errors.append(duplicate(f"{port_path}.name", name))
            else:
                names.add(str(name))
        container_port = port.get("containerPort")
        if not container_port:
            errors.append(required(f"{port_path}.containerPort"))
        else:
            errors.extend(
                invalid(f"{port_path}.containerPort", container_port, msg)
                for msg in is_valid_port_num(container_port)
            )
        host_port = port.get("hostPort")
        if host_port:
            errors.extend(
                invalid(f"{port_path}.hostPort", host_port, msg)
                for msg in is_valid_port_num(host_port)
            )
        errors.extend(_enum(port.get("protocol"), f"{port_path}.protocol", _PROTOCOLS))
    return errors


def _validate_container(
    container: dict[str, Any], path: str, names: set[str], volume_names: set[str]
) -> list[FieldError]:
    errors: list[FieldError] = []
    name = container.get("name")
    if not name:
        errors.append(required(f"{path}.name"))
    else:
        errors.extend(invalid(f"{path}.name", name, msg) for msg in is_dns1123_label(str(name)))
    if name in names:
        errors.append(duplicate(f"{path}.name", name))
    elif name:
        names.add(str(name))
    if not container.get("image"):
        errors.append(required(f"{path}.image"))
    errors.extend(_validate_container_ports(container.get("ports"), f"{path}.ports"))
    errors.extend(
        _enum(
            container.get("imagePullPolicy"),
            f"{path}.imagePullPolicy",
            ["Always", "IfNotPresent", "Never"],
        )
    )
    errors.extend(
        _enum(
            container.get("terminationMessagePolicy"),
            f"{path}.terminationMessagePolicy",
            ["File", "FallbackToLogsOnError"],
        )
    )
    for index, env in enumerate(_as_list(container.get("env"))):
        env = _as_dict(env)
        if not env.get("name"):
            errors.append(required(f"{path}.env[{index}].name"))
    mount_paths: set[str] = set()
    for index, mount in enumerate(_as_list(container.get("volumeMounts"))):
        mount = _as_dict(mount)
        mount_path = f"{path}.volumeMounts[{index}]"
        mount_name = mount.get("name")
        if not mount_name:
            errors.append(required(f"{mount_path}.name"))
        elif mount_name not in volume_names:
            errors.append(not_found(f"{mount_path}.name", mount_name))
        target = mount.get("mountPath")
        if not target:
            errors.append(required(f"{mount_path}.mountPath"))
        elif target in mount_paths:
            errors.append(invalid(f"{mount_path}.mountPath", target, "must be unique"))
        else:
            mount_paths.add(str(target))
    errors.extend(_validate_resources(container.get("resources"), f"{path}.resources"))
    return errors


_VOLUME_SOURCES = (
    "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret",
    "nfs", "iscsi", "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs",
    "flocker", "downwardAPI", "fc", "azureFile", "configMap", "vsphereVolume", "quobyte",
    "azureDisk", "photonPersistentDisk", "projected", "portworxVolume", "scaleIO", "storageos",
    "csi", "ephemeral", "image",
)  # fmt: skip


def _validate_volumes(volumes: Any, path: str) -> tuple[list[FieldError], set[str]]:
    errors: list[FieldError] = []
    names: set[str] = set()
    for index, volume in enumerate(_as_list(volumes)):
        volume = _as_dict(volume)
        volume_path = f"{path}[{index}]"
        name = volume.get("name")
        if not name:
            errors.append(required(f"{volume_path}.name"))
        else:
            errors.extend(
                invalid(f"{volume_path}.name", name, msg) for msg in is_dns1123_label(str(name))
            )
            if name in names:
                errors.append(duplicate(f"{volume_path}.name", name))
            names.add(str(name))
        sources = [key for key in _VOLUME_SOURCES if key in volume]
        if not sources:
            errors.append(required(volume_path, "must specify a volume type"))
        elif len(sources) > 1:
            errors.append(
                forbidden(f"{volume_path}.{sources[1]}", "may not specify more than 1 volume type")
            )
    return errors, names


def _validate_pod_spec(spec: Any, path: str) -> list[FieldError]:
    spec = _as_dict(spec)
    errors, volume_names = _validate_volumes(spec.get("volumes"), f"{path}.volumes")
    names: set[str] = set()
    containers = _as_list(spec.get("containers"))
    if not containers:
        errors.append(required(f"{path}.containers"))
    for index, container in enumerate(containers):
        errors.extend(
            _validate_container(
                _as_dict(container), f"{path}.containers[{index}]", names, volume_names
            )
        )
    for index, container in enumerate(_as_list(spec.get("initContainers"))):
        errors.extend(
            _validate_container(
                _as_dict(container), f"{path}.initContainers[{index}]", names, volume_names
            )
        )
    errors.extend(
        _enum(spec.get("restartPolicy"), f"{path}.restartPolicy", ["Always", "OnFailure", "Never"])
    )
    errors.extend(
        _enum(
            spec.get("dnsPolicy"),
            f"{path}.dnsPolicy",
            ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        )
    )
    for key in ("terminationGracePeriodSeconds", "activeDeadlineSeconds"):
        errors.extend(_nonnegative(spec.get(key), f"{path}.{key}"))
    active_deadline = spec.get("activeDeadlineSeconds")
    if active_deadline == 0:
        errors.append(
            invalid(
                f"{path}.activeDeadlineSeconds", 0, "must be between 1 and 2147483647, inclusive"
            )
        )
    service_account = spec.get("serviceAccountName")
    if service_account:
        errors.extend(
            invalid(f"{path}.serviceAccountName", service_account, msg)
            for msg in is_dns1123_subdomain(str(service_account))
        )
    node_selector = spec.get("nodeSelector")
    if node_selector:
        errors.extend(validate_labels(node_selector, f"{path}.nodeSelector"))
    for index, toleration in enumerate(_as_list(spec.get("tolerations"))):
        toleration = _as_dict(toleration)
        tol_path = f"{path}.tolerations[{index}]"
        operator = toleration.get("operator") or "Equal"
        if operator not in ("Equal", "Exists"):
            errors.append(not_supported(f"{tol_path}.operator", operator, ["Equal", "Exists"]))
        elif operator == "Exists" and toleration.get("value"):
            errors.append(
                invalid(
                    f"{tol_path}.operator",
                    toleration,
                    "value must be empty when `operator` is 'Exists'",
                )
            )
        effect = toleration.get("effect")
        if effect:
            errors.extend(
                _enum(effect, f"{tol_path}.effect", ["NoSchedule", "PreferNoSchedule", "NoExecute"])
            )
    return errors


def _validate_pod_template(template: Any, path: str) -> list[FieldError]:
    template = _as_dict(template)
    meta = _as_dict(template.get("metadata"))
    errors = validate_labels(meta.get("labels"), f"{path}.metadata.labels")
    errors.extend(validate_annotations(meta.get("annotations"), f"{path}.metadata.annotations"))
    errors.extend(_validate_pod_spec(template.get("spec"), f"{path}.spec"))
    return errors


def _validate_int_or_percent(value: Any, path: str) -> list[FieldError]:
    if isinstance(value, str):
        return [invalid(path, go_int_or_string(value), msg) for msg in is_valid_percent(value)]
    if isinstance(value, int) and value < 0:
        return [invalid(path, value, "must be greater than or equal to 0")]
    return []


def _percent_over_100(value: Any) -> bool:
    if isinstance(value, str) and _matches(_PERCENT_RE, value):
        return int(value[:-1]) > 100
    return False


def _int_or_percent_is_zero(value: Any) -> bool:
    return value in (0, None) or (isinstance(value, str) and value in ("0%", "0"))


# --------------------------------------------------------------------------------------------
# apps
# --------------------------------------------------------------------------------------------


def _validate_replicated_selector(
    spec: dict[str, Any], noun: str, *, required_selector: bool = True
) -> list[FieldError]:
    errors: list[FieldError] = []
    selector = spec.get("selector")
    if selector is None:
        if required_selector:
            errors.append(required("spec.selector"))
    else:
        errors.extend(_label_selector_errors(selector, "spec.selector"))
        if _selector_is_empty(selector):
            errors.append(
                invalid(
                    "spec.selector",
                    go_label_selector(selector),
                    f"empty selector is invalid for {noun}",
                )
            )
    template = _as_dict(spec.get("template"))
    template_labels = _as_dict(template.get("metadata")).get("labels")
    if (
        selector is not None
        and not _selector_is_empty(selector)
        and not selector_matches(selector, template_labels)
    ):
        errors.append(
            invalid(
                "spec.template.metadata.labels",
                go_string_map(template_labels),
                "`selector` does not match template `labels`",
            )
        )
    return errors


def _validate_template_for_controller(spec: dict[str, Any]) -> list[FieldError]:
    template = spec.get("template")
    if template is None:
        return [required("spec.template")]
    errors = _validate_pod_template(template, "spec.template")
    pod_spec = _as_dict(_as_dict(template).get("spec"))
    restart_policy = pod_spec.get("restartPolicy")
    if restart_policy not in (None, "", "Always"):
        errors.append(not_supported("spec.template.spec.restartPolicy", restart_policy, ["Always"]))
    return errors


def _validate_deployment_like(obj: dict[str, Any], kind: str) -> list[FieldError]:
    spec = _as_dict(obj.get("spec"))
    errors = _nonnegative(spec.get("replicas"), "spec.replicas")
    errors.extend(_validate_replicated_selector(spec, "deployment"))
    errors.extend(_validate_template_for_controller(spec))
    errors.extend(_nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds"))
    if kind == "Deployment":
        errors.extend(_validate_deployment_strategy(_as_dict(spec.get("strategy"))))
        errors.extend(_nonnegative(spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit"))
        deadline = spec.get("progressDeadlineSeconds")
        if isinstance(deadline, int):
            errors.extend(_nonnegative(deadline, "spec.progressDeadlineSeconds"))
            if deadline <= (spec.get("minReadySeconds") or 0):
                errors.append(
                    invalid(
                        "spec.progressDeadlineSeconds",
                        deadline,
                        "must be greater than minReadySeconds",
                    )
                )
    return errors


def _validate_deployment_strategy(strategy: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    strategy_type = strategy.get("type")
    rolling = strategy.get("rollingUpdate")
    if strategy_type not in (None, "", "Recreate", "RollingUpdate"):
        return [not_supported("spec.strategy.type", strategy_type, ["Recreate", "RollingUpdate"])]
    if strategy_type == "Recreate" and rolling is not None:
        errors.append(
            forbidden(
                "spec.strategy.rollingUpdate",
                "may not be specified when strategy `type` is 'Recreate'",
            )
        )
    if strategy_type == "RollingUpdate" and isinstance(rolling, dict):
        surge, unavailable = rolling.get("maxSurge"), rolling.get("maxUnavailable")
        errors.extend(_validate_int_or_percent(surge, "spec.strategy.rollingUpdate.maxSurge"))
        errors.extend(
            _validate_int_or_percent(unavailable, "spec.strategy.rollingUpdate.maxUnavailable")
        )
        if _int_or_percent_is_zero(surge) and _int_or_percent_is_zero(unavailable):
            errors.append(
                invalid(
                    "spec.strategy.rollingUpdate.maxUnavailable",
                    go_int_or_string(unavailable),
                    "may not be 0 when `maxSurge` is 0",
                )
            )
        if _percent_over_100(unavailable):
            errors.append(
                invalid(
                    "spec.strategy.rollingUpdate.maxUnavailable",
                    go_int_or_string(unavailable),
                    "must not be greater than 100%",
                )
            )
    return errors


def _validate_statefulset(obj: dict[str, Any]) -> list[FieldError]:
    spec = _as_dict(obj.get("spec"))
    errors: list[FieldError] = []
    policy = spec.get("podManagementPolicy")
    if policy not in (None, "", "OrderedReady", "Parallel"):
        errors.append(
            invalid("spec.podManagementPolicy", policy, "must be 'OrderedReady' or 'Parallel'")
        )
    strategy = _as_dict(spec.get("updateStrategy"))
    strategy_type = strategy.get("type")
    if strategy_type == "OnDelete" and strategy.get("rollingUpdate") is not None:
        errors.append(
            invalid(
                "spec.updateStrategy.rollingUpdate",
                strategy.get("rollingUpdate"),
                "only allowed for updateStrategy 'RollingUpdate'",
            )
        )
    elif strategy_type == "RollingUpdate":
        rolling = _as_dict(strategy.get("rollingUpdate"))
        errors.extend(
            _nonnegative(rolling.get("partition"), "spec.updateStrategy.rollingUpdate.partition")
        )
    elif strategy_type not in (None, ""):
        errors.append(
            not_supported("spec.updateStrategy.type", strategy_type, ["OnDelete", "RollingUpdate"])
        )
    retention = _as_dict(spec.get("persistentVolumeClaimRetentionPolicy"))
    for key in ("whenDeleted", "whenScaled"):
        errors.extend(
            _enum(
                retention.get(key),
                f"spec.persistentVolumeClaimRetentionPolicy.{key}",
                ["Retain", "Delete"],
            )
        )
    errors.extend(_nonnegative(spec.get("replicas"), "spec.replicas"))
    errors.extend(_validate_replicated_selector(spec, "statefulset"))
    errors.extend(_validate_template_for_controller(spec))
    errors.extend(_nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds"))
    return errors


_STATEFULSET_MUTABLE = (
    "replicas", "ordinals", "template", "updateStrategy", "revisionHistoryLimit",
    "persistentVolumeClaimRetentionPolicy", "minReadySeconds",
)  # fmt: skip


def _validate_statefulset_update(obj: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    spec, old_spec = _as_dict(obj.get("spec")), _as_dict(old.get("spec"))
    frozen = {k: v for k, v in spec.items() if k not in _STATEFULSET_MUTABLE}
    old_frozen = {k: v for k, v in old_spec.items() if k not in _STATEFULSET_MUTABLE}
    if frozen != old_frozen:
        return [
            forbidden(
                "spec",
                "updates to statefulset spec for fields other than 'replicas', 'ordinals', "
                "'template', 'updateStrategy', 'revisionHistoryLimit', "
                "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
            )
        ]
    return []


def _validate_daemonset(obj: dict[str, Any]) -> list[FieldError]:
    spec = _as_dict(obj.get("spec"))
    errors = _validate_replicated_selector(spec, "daemonset")
    errors.extend(_validate_template_for_controller(spec))
    strategy = _as_dict(spec.get("updateStrategy"))
    strategy_type = strategy.get("type")
    errors.extend(_enum(strategy_type, "spec.updateStrategy.type", ["OnDelete", "RollingUpdate"]))
    if strategy_type == "RollingUpdate":
        rolling = _as_dict(strategy.get("rollingUpdate"))
        surge, unavailable = rolling.get("maxSurge"), rolling.get("maxUnavailable")
        errors.extend(
            _validate_int_or_percent(
                unavailable, "spec.updateStrategy.rollingUpdate.maxUnavailable"
            )
        )
        errors.extend(_validate_int_or_percent(surge, "spec.updateStrategy.rollingUpdate.maxSurge"))
        if _int_or_percent_is_zero(surge) and _int_or_percent_is_zero(unavailable):
            errors.append(
                invalid(
                    "spec.updateStrategy.rollingUpdate.maxUnavailable",
                    go_int_or_string(unavailable),
                    "may not be 0 when `maxSurge` is 0",
                )
            )
    errors.extend(_nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds"))
    errors.extend(_nonnegative(spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit"))
    return errors


def _selector_immutable(obj: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    selector = _as_dict(obj.get("spec")).get("selector")
    old_selector = _as_dict(old.get("spec")).get("selector")
    if selector == old_selector:
        return []
    return [invalid("spec.selector", go_label_selector(selector), "field is immutable")]


# --------------------------------------------------------------------------------------------
# core
# --------------------------------------------------------------------------------------------

_POD_MUTABLE_MESSAGE = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
    "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
    "(allow it to be set to 1 if it was previously negative)"
)


def _validate_pod(obj: dict[str, Any]) -> list[FieldError]:
    return _validate_pod_spec(obj.get("spec"), "spec")


def _validate_pod_update(obj: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    def mutable_view(spec: Any) -> dict[str, Any]:
        view = json.loads(json.dumps(_as_dict(spec)))
        for key in ("containers", "initContainers"):
            for container in _as_list(view.get(key)):
                if isinstance(container, dict):
                    container.pop("image", None)
        for key in ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds"):
            view.pop(key, None)
        return view

    if mutable_view(obj.get("spec")) != mutable_view(old.get("spec")):
        return [forbidden("spec", _POD_MUTABLE_MESSAGE)]
    return []


_SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]


def _go_service_port(port: dict[str, Any]) -> GoRepr:
    app_protocol = port.get("appProtocol")
    app_text = (
        f"(*string)({go_quote(app_protocol)})"
        if isinstance(app_protocol, str)
        else "(*string)(nil)"
    )
    return GoRepr(
        "core.ServicePort{"
        f"Name:{go_quote(str(port.get('name', '')))}, "
        f"Protocol:{go_quote(str(port.get('protocol', '')))}, "
        f"AppProtocol:{app_text}, "
        f"Port:{port.get('port', 0)}, "
        f"TargetPort:{go_int_or_string(port.get('targetPort', 0)).text}, "
        f"NodePort:{port.get('nodePort', 0)}"
        "}"
    )


def _validate_service(obj: dict[str, Any]) -> list[FieldError]:
    spec = _as_dict(obj.get("spec"))
    errors: list[FieldError] = []
    service_type = spec.get("type") or "ClusterIP"
    if service_type not in _SERVICE_TYPES:
        errors.append(not_supported("spec.type", service_type, _SERVICE_TYPES))
    ports = _as_list(spec.get("ports"))
    headless = spec.get("clusterIP") == "None"
    if not ports and not headless and service_type != "ExternalName":
        errors.append(required("spec.ports"))
    if service_type == "ExternalName":
        external_name = spec.get("externalName")
        if not external_name:
            errors.append(required("spec.externalName"))
        else:
            errors.extend(
                invalid("spec.externalName", external_name, msg)
                for msg in is_dns1123_subdomain(str(external_name).rstrip("."))
            )
    names: set[str] = set()
    seen: set[tuple[Any, Any]] = set()
    node_ports: set[tuple[Any, Any]] = set()
    for index, port in enumerate(ports):
        port = _as_dict(port)
        path = f"spec.ports[{index}]"
        name = port.get("name")
        if len(ports) > 1 and not name:
            errors.append(required(f"{path}.name"))
        elif name:
            errors.extend(invalid(f"{path}.name", name, msg) for msg in is_dns1123_label(str(name)))
            if name in names:
                errors.append(duplicate(f"{path}.name", name))
            names.add(str(name))
        errors.extend(
            invalid(f"{path}.port", port.get("port", 0), msg)
            for msg in is_valid_port_num(port.get("port"))
        )
        protocol = port.get("protocol")
        errors.extend(_enum(protocol, f"{path}.protocol", _PROTOCOLS, required_if_empty=True))
        target = port.get("targetPort")
        if isinstance(target, str):
            errors.extend(
                invalid(f"{path}.targetPort", go_int_or_string(target), msg)
                for msg in is_valid_port_name(target)
            )
        elif target is not None:
            errors.extend(
                invalid(f"{path}.targetPort", go_int_or_string(target), msg)
                for msg in is_valid_port_num(target)
            )
        node_port = port.get("nodePort")
        if node_port:
            if service_type in ("ClusterIP", "ExternalName"):
                errors.append(
                    forbidden(
                        f"{path}.nodePort", f"may not be used when `type` is '{service_type}'"
                    )
                )
            elif not (30000 <= node_port <= 32767):
                errors.append(
                    invalid(
                        f"{path}.nodePort",
                        node_port,
                        "provided port is not in the valid range. The range of valid ports is 30000-32767",
                    )
                )
            key = (node_port, protocol)
            if key in node_ports:
                errors.append(duplicate(f"{path}.nodePort", node_port))
            node_ports.add(key)
        key = (port.get("port"), protocol)
        if key in seen:
            errors.append(
                duplicate(path, _go_service_port({"port": port.get("port"), "protocol": protocol}))
            )
        seen.add(key)
    errors.extend(_enum(spec.get("sessionAffinity"), "spec.sessionAffinity", ["ClientIP", "None"]))
    errors.extend(
        _enum(spec.get("externalTrafficPolicy"), "spec.externalTrafficPolicy", ["Cluster", "Local"])
    )
    errors.extend(
        _enum(spec.get("internalTrafficPolicy"), "spec.internalTrafficPolicy", ["Cluster", "Local"])
    )
    if (
        spec.get("externalTrafficPolicy")
        and service_type not in ("NodePort", "LoadBalancer")
        and not spec.get("externalIPs")
    ):
        errors.append(
            invalid(
                "spec.externalTrafficPolicy",
                spec["externalTrafficPolicy"],
                "may only be set for externally-accessible services",
            )
        )
    selector = spec.get("selector")
    if selector:
        errors.extend(validate_labels(selector, "spec.selector"))
    return errors


def _validate_service_update(obj: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    spec, old_spec = _as_dict(obj.get("spec")), _as_dict(old.get("spec"))
    if "ExternalName" in (spec.get("type"), old_spec.get("type")):
        return []
    new_ips, old_ips = _as_list(spec.get("clusterIPs")), _as_list(old_spec.get("clusterIPs"))
    if new_ips and old_ips and new_ips[0] != old_ips[0]:
        return [invalid("spec.clusterIPs[0]", go_string_slice(new_ips), "may not change once set")]
    if (
        spec.get("clusterIP")
        and old_spec.get("clusterIP")
        and spec["clusterIP"] != old_spec["clusterIP"]
    ):
        return [
            invalid(
                "spec.clusterIPs[0]",
                go_string_slice([spec["clusterIP"]]),
                "may not change once set",
            )
        ]
    return []


def _validate_data_keys(
    data: Any, path: str, other: Any, other_name: str
) -> tuple[list[FieldError], int]:
    errors: list[FieldError] = []
    total = 0
    for key, value in sorted(_as_dict(data).items()):
        errors.extend(invalid(f"{path}[{key}]", key, msg) for msg in is_config_map_key(str(key)))
        if isinstance(other, dict) and key in other:
            errors.append(
                invalid(f"{path}[{key}]", key, f"duplicate of key present in {other_name}")
            )
        total += _data_size(value, binary=path != "data" or other_name == "binaryData")
    return errors, total


def _data_size(value: Any, *, binary: bool) -> int:
    text = value if isinstance(value, str) else ""
    if not binary:
        return len(text.encode())
    try:
        return len(base64.b64decode(text, validate=False))
    except (binascii.Error, ValueError):
        return len(text)


def _validate_config_map(obj: dict[str, Any]) -> list[FieldError]:
    data, binary = obj.get("data"), obj.get("binaryData")
    errors, size = _validate_data_keys(data, "data", binary, "binaryData")
    binary_errors, binary_size = _validate_data_keys(binary, "binaryData", data, "data")
    errors.extend(binary_errors)
    if size + binary_size > MAX_SECRET_SIZE:
        errors.append(too_long("", MAX_SECRET_SIZE))
    return errors


def _validate_secret(obj: dict[str, Any]) -> list[FieldError]:
    data = _as_dict(obj.get("data"))
    errors: list[FieldError] = []
    total = 0
    for key, value in sorted(data.items()):
        errors.extend(invalid(f"data[{key}]", key, msg) for msg in is_config_map_key(str(key)))
        total += _data_size(value, binary=True)
    secret_type = obj.get("type")
    if secret_type == "kubernetes.io/service-account-token":
        annotations = _as_dict(_as_dict(obj.get("metadata")).get("annotations"))
        if not annotations.get("kubernetes.io/service-account.name"):
            errors.append(required("metadata.annotations[kubernetes.io/service-account.name]"))
    elif secret_type == "kubernetes.io/dockercfg":
        if ".dockercfg" not in data:
            errors.append(required("data[.dockercfg]"))
    elif secret_type == "kubernetes.io/dockerconfigjson":
        if ".dockerconfigjson" not in data:
            errors.append(required("data[.dockerconfigjson]"))
    elif secret_type == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            errors.extend([required("data[username]"), required("data[password]")])
    elif secret_type == "kubernetes.io/ssh-auth":
        if not data.get("ssh-privatekey"):
            errors.append(required("data[ssh-privatekey]"))
    elif secret_type == "kubernetes.io/tls":
        for key in ("tls.crt", "tls.key"):
            if key not in data:
                errors.append(required(f"data[{key}]"))
    if total > MAX_SECRET_SIZE:
        errors.append(too_long("data", MAX_SECRET_SIZE))
    return errors


def _validate_immutable_data(
    obj: dict[str, Any], old: dict[str, Any], keys: tuple[str, ...]
) -> list[FieldError]:
    if old.get("immutable") is not True:
        return []
    errors: list[FieldError] = []
    if obj.get("immutable") is not True:
        errors.append(forbidden("immutable", "field is immutable when `immutable` is set"))
    for key in keys:
        if (obj.get(key) or {}) != (old.get(key) or {}):
            errors.append(forbidden(key, "field is immutable when `immutable` is set"))
    return errors


_STANDARD_FINALIZERS = {"kubernetes", "orphan", "foregroundDeletion"}


def _validate_namespace(obj: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    for finalizer in _as_list(_as_dict(obj.get("spec")).get("finalizers")):
        text = str(finalizer)
        messages = is_qualified_name(text)
        errors.extend(invalid("spec.finalizers", text, msg) for msg in messages)
        if not messages and "/" not in text and text not in _STANDARD_FINALIZERS:
            errors.append(
                invalid(
                    "spec.finalizers",
                    text,
                    "name is neither a standard finalizer name nor is it fully qualified",
                )
            )
    return errors


_ACCESS_MODES = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"]


def _validate_pvc_spec(spec: Any, path: str) -> list[FieldError]:
    spec = _as_dict(spec)
    errors: list[FieldError] = []
    modes = _as_list(spec.get("accessModes"))
    if not modes:
        errors.append(required(f"{path}.accessModes", "at least 1 access mode is required"))
    for mode in modes:
        if mode not in _ACCESS_MODES:
            errors.append(not_supported(f"{path}.accessModes", mode, _ACCESS_MODES))
    if "ReadWriteOncePod" in modes and len(modes) > 1:
        errors.append(
            forbidden(f"{path}.accessModes", "may not use ReadWriteOncePod with other access modes")
        )
    storage_path = f"{path}.resources[storage]"
    requests = _as_dict(_as_dict(spec.get("resources")).get("requests"))
    if "storage" not in requests:
        errors.append(required(storage_path))
    else:
        error, amount = _validate_quantity(requests["storage"], storage_path)
        if error:
            errors.append(error)
        elif amount is not None and amount <= 0:
            errors.append(
                invalid(storage_path, str(requests["storage"]), "must be greater than zero")
            )
    errors.extend(_enum(spec.get("volumeMode"), f"{path}.volumeMode", ["Block", "Filesystem"]))
    if spec.get("selector") is not None:
        errors.extend(_label_selector_errors(spec["selector"], f"{path}.selector"))
    return errors


def _validate_pvc_update(obj: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    def frozen(pvc: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
        spec = json.loads(json.dumps(_as_dict(pvc.get("spec"))))
        resources = _as_dict(spec.get("resources"))
        resources.pop("requests", None)
        spec.pop("volumeAttributesClassName", None)
        # Binding and the default class fill these once; that is not a user change.
        if not _as_dict(reference.get("spec")).get("volumeName"):
            spec.pop("volumeName", None)
        if _as_dict(reference.get("spec")).get("storageClassName") is None:
            spec.pop("storageClassName", None)
        return spec

    if frozen(obj, old) != frozen(old, old):
        return [
            forbidden(
                "spec",
                "spec is immutable after creation except resources.requests and "
                "volumeAttributesClassName for bound claims",
            )
        ]
    return []


def _validate_event(obj: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    involved = obj.get("involvedObject")
    namespace = _as_dict(obj.get("metadata")).get("namespace") or ""
    if not obj.get("eventTime"):
        involved_ns = _as_dict(involved).get("namespace") or ""
        if not involved_ns:
            if namespace not in ("", "default"):
                errors.append(
                    invalid(
                        "involvedObject.namespace", involved_ns, "does not match event.namespace"
                    )
                )
        elif namespace != involved_ns:
            errors.append(
                invalid("involvedObject.namespace", involved_ns, "does not match event.namespace")
            )
    else:
        if not obj.get("reportingComponent"):
            errors.append(required("reportingComponent"))
        if not obj.get("reportingInstance"):
            errors.append(required("reportingInstance"))
        if not obj.get("action"):
            errors.append(required("action"))
        if obj.get("type") not in ("Normal", "Warning"):
            errors.append(not_supported("type", obj.get("type", ""), ["Normal", "Warning"]))
    if namespace:
        errors.extend(
            invalid("namespace", namespace, msg) for msg in is_dns1123_subdomain(namespace)
        )
    return errors


# --------------------------------------------------------------------------------------------
# batch
# --------------------------------------------------------------------------------------------


def _validate_job_spec(
    spec: dict[str, Any], path: str, *, selector_required: bool
) -> list[FieldError]:
    errors: list[FieldError] = []
    for key in (
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
        "ttlSecondsAfterFinished",
    ):
        errors.extend(_nonnegative(spec.get(key), f"{path}.{key}"))
    selector = spec.get("selector")
    template = _as_dict(spec.get("template"))
    if selector is None:
        if selector_required:
            errors.append(required(f"{path}.selector"))
    else:
        errors.extend(_label_selector_errors(selector, f"{path}.selector"))
        labels = _as_dict(template.get("metadata")).get("labels")
        if not selector_matches(selector, labels):
            errors.append(
                invalid(
                    f"{path}.template.metadata.labels",
                    go_string_map(labels),
                    "`selector` does not match template `labels`",
                )
            )
    errors.extend(
        _enum(spec.get("completionMode"), f"{path}.completionMode", ["Indexed", "NonIndexed"])
    )
    errors.extend(_validate_pod_template(template, f"{path}.template"))
    restart_policy = _as_dict(template.get("spec")).get("restartPolicy")
    if restart_policy not in ("OnFailure", "Never"):
        errors.append(
            not_supported(
                f"{path}.template.spec.restartPolicy", restart_policy or "", ["OnFailure", "Never"]
            )
        )
    return errors


def _validate_job(obj: dict[str, Any]) -> list[FieldError]:
    spec = _as_dict(obj.get("spec"))
    errors = _validate_job_spec(spec, "spec", selector_required=True)
    if spec.get("manualSelector") is not True and spec.get("selector") is not None:
        uid = str(_as_dict(obj.get("metadata")).get("uid") or "")
        match_labels = _as_dict(_as_dict(spec.get("selector")).get("matchLabels"))
        if not uid:
            errors.append(required("metadata.uid"))
        elif match_labels.get("batch.kubernetes.io/controller-uid") != uid:
            errors.append(
                invalid(
                    "spec.selector.matchLabels",
                    go_label_selector(spec.get("selector")),
                    "`selector` not auto-generated",
                )
            )
    return errors


def _validate_job_update(obj: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    spec, old_spec = _as_dict(obj.get("spec")), _as_dict(old.get("spec"))
    errors = _selector_immutable(obj, old)
    if spec.get("template") != old_spec.get("template"):
        # Real servers let a never-started suspended Job change scheduling fields; not modelled.
        errors.append(
            invalid("spec.template", GoRepr("core.PodTemplateSpec{…}"), "field is immutable")
        )
    for key in ("completionMode", "podFailurePolicy", "backoffLimitPerIndex"):
        if spec.get(key) != old_spec.get(key):
            errors.append(invalid(f"spec.{key}", spec.get(key), "field is immutable"))
    return errors


def _validate_cronjob(obj: dict[str, Any]) -> list[FieldError]:
    spec = _as_dict(obj.get("spec"))
    errors: list[FieldError] = []
    name = str(_as_dict(obj.get("metadata")).get("name") or "")
    if len(name) > 52:
        errors.append(invalid("metadata.name", name, "must be no more than 52 characters"))
    schedule = spec.get("schedule")
    if not schedule:
        errors.append(required("spec.schedule"))
    else:
        errors.extend(_validate_schedule(str(schedule)))
    errors.extend(
        _enum(
            spec.get("concurrencyPolicy"), "spec.concurrencyPolicy", ["Allow", "Forbid", "Replace"]
        )
    )
    for key in ("startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        errors.extend(_nonnegative(spec.get(key), f"spec.{key}"))
    job_template = _as_dict(spec.get("jobTemplate"))
    errors.extend(
        validate_labels(
            _as_dict(job_template.get("metadata")).get("labels"), "spec.jobTemplate.metadata.labels"
        )
    )
    errors.extend(
        _validate_job_spec(
            _as_dict(job_template.get("spec")), "spec.jobTemplate.spec", selector_required=False
        )
    )
    return errors


_SCHEDULE_DESCRIPTORS = {
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
}


def _validate_schedule(schedule: str) -> list[FieldError]:
    if "TZ=" in schedule or "CRON_TZ=" in schedule:
        return [
            invalid(
                "spec.schedule",
                schedule,
                "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
            )
        ]
    if schedule.startswith("@"):
        if schedule in _SCHEDULE_DESCRIPTORS or schedule.startswith("@every "):
            return []
        return [invalid("spec.schedule", schedule, f"unrecognized descriptor: {schedule}")]
    fields = schedule.split()
    if len(fields) != 5:
        return [
            invalid(
                "spec.schedule",
                schedule,
                f"expected exactly 5 fields, found {len(fields)}: {schedule}",
            )
        ]
    return []


# --------------------------------------------------------------------------------------------
# networking, policy, autoscaling, rbac, coordination
# --------------------------------------------------------------------------------------------


def _validate_ingress_backend(backend: Any, path: str) -> list[FieldError]:
    backend = _as_dict(backend)
    has_resource, has_service = (
        backend.get("resource") is not None,
        backend.get("service") is not None,
    )
    if has_resource and has_service:
        return [invalid(path, "", "cannot set both resource and service backends")]
    if has_resource:
        resource = _as_dict(backend.get("resource"))
        errors = [] if resource.get("kind") else [required(f"{path}.resource.kind")]
        if not resource.get("name"):
            errors.append(required(f"{path}.resource.name"))
        return errors
    if not has_service:
        return [invalid(path, "", "resource or service backend is required")]
    service = _as_dict(backend.get("service"))
    errors = []
    service_name = service.get("name")
    if not service_name:
        errors.append(required(f"{path}.service.name"))
    else:
        errors.extend(
            invalid(f"{path}.service.name", service_name, msg)
            for msg in is_dns1035_label(str(service_name))
        )
    port = _as_dict(service.get("port"))
    port_name, port_number = port.get("name"), port.get("number")
    if port_name and port_number:
        errors.append(invalid(path, "", "cannot set both port name & port number"))
    elif port_name:
        errors.extend(
            invalid(f"{path}.service.port.name", port_name, msg)
            for msg in is_valid_port_name(str(port_name))
        )
    elif port_number:
        errors.extend(
            invalid(f"{path}.service.port.number", port_number, msg)
            for msg in is_valid_port_num(port_number)
        )
    else:
        errors.append(required(path, "port name or number is required"))
    return errors


def _validate_ingress(obj: dict[str, Any]) -> list[FieldError]:
    spec = _as_dict(obj.get("spec"))
    errors: list[FieldError] = []
    rules = _as_list(spec.get("rules"))
    if not rules and spec.get("defaultBackend") is None:
        errors.append(
            invalid(
                "spec.rules",
                GoRepr("[]networking.IngressRule(nil)"),
                "either `defaultBackend` or `rules` must be specified",
            )
        )
    if spec.get("defaultBackend") is not None:
        errors.extend(_validate_ingress_backend(spec["defaultBackend"], "spec.defaultBackend"))
    for index, rule in enumerate(rules):
        rule = _as_dict(rule)
        rule_path = f"spec.rules[{index}]"
        host = rule.get("host")
        if host:
            bare = host[2:] if str(host).startswith("*.") else str(host)
            errors.extend(
                invalid(f"{rule_path}.host", host, msg) for msg in is_dns1123_subdomain(bare)
            )
        http = rule.get("http")
        if http is None:
            continue
        paths = _as_list(_as_dict(http).get("paths"))
        if not paths:
            errors.append(required(f"{rule_path}.http.paths"))
        for path_index, http_path in enumerate(paths):
            http_path = _as_dict(http_path)
            path_path = f"{rule_path}.http.paths[{path_index}]"
            path_type = http_path.get("pathType")
            if not path_type:
                errors.append(required(f"{path_path}.pathType", "pathType must be specified"))
            elif path_type not in ("Exact", "ImplementationSpecific", "Prefix"):
                errors.append(
                    not_supported(
                        f"{path_path}.pathType",
                        path_type,
                        ["Exact", "ImplementationSpecific", "Prefix"],
                    )
                )
            value = http_path.get("path", "")
            if path_type in ("Exact", "Prefix") and not str(value).startswith("/"):
                errors.append(invalid(f"{path_path}.path", value, "must be an absolute path"))
            errors.extend(
                _validate_ingress_backend(http_path.get("backend"), f"{path_path}.backend")
            )
    return errors


def _validate_network_policy(obj: dict[str, Any]) -> list[FieldError]:
    spec = _as_dict(obj.get("spec"))
    errors = _label_selector_errors(spec.get("podSelector"), "spec.podSelector")
    policy_types = _as_list(spec.get("policyTypes"))
    for index, policy_type in enumerate(policy_types):
        if policy_type not in ("Egress", "Ingress"):
            errors.append(
                not_supported(f"spec.policyTypes[{index}]", policy_type, ["Egress", "Ingress"])
            )
    if len(policy_types) > 2:
        errors.append(
            invalid(
                "spec.policyTypes",
                go_string_slice(policy_types),
                "may not specify more than two policyTypes",
            )
        )
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        for rule_index, rule in enumerate(_as_list(spec.get(direction))):
            rule = _as_dict(rule)
            rule_path = f"spec.{direction}[{rule_index}]"
            for port_index, port in enumerate(_as_list(rule.get("ports"))):
                port = _as_dict(port)
                port_path = f"{rule_path}.ports[{port_index}]"
                errors.extend(_enum(port.get("protocol"), f"{port_path}.protocol", _PROTOCOLS))
                number = port.get("port")
                if isinstance(number, int):
                    errors.extend(
                        invalid(f"{port_path}.port", number, msg)
                        for msg in is_valid_port_num(number)
                    )
                elif isinstance(number, str):
                    errors.extend(
                        invalid(f"{port_path}.port", number, msg)
                        for msg in is_valid_port_name(number)
                    )
            for peer_index, peer in enumerate(_as_list(rule.get(peers_key))):
                peer = _as_dict(peer)
                peer_path = f"{rule_path}.{peers_key}[{peer_index}]"
                present = [
                    k
                    for k in ("podSelector", "namespaceSelector", "ipBlock")
                    if peer.get(k) is not None
                ]
                if not present:
                    errors.append(required(peer_path, "must specify a peer"))
                elif "ipBlock" in present and len(present) > 1:
                    errors.append(
                        forbidden(peer_path, "may not specify both ipBlock and another peer")
                    )
                for key in ("podSelector", "namespaceSelector"):
                    if peer.get(key) is not None:
                        errors.extend(_label_selector_errors(peer[key], f"{peer_path}.{key}"))
    return errors


def _validate_pdb(obj: dict[str, Any]) -> list[FieldError]:
    spec = _as_dict(obj.get("spec"))
    errors: list[FieldError] = []
    min_available, max_unavailable = spec.get("minAvailable"), spec.get("maxUnavailable")
    if min_available is not None and max_unavailable is not None:
        errors.append(invalid("spec", spec, "minAvailable and maxUnavailable cannot be both set"))
    for key, value in (("minAvailable", min_available), ("maxUnavailable", max_unavailable)):
        if value is None:
            continue
        errors.extend(_validate_int_or_percent(value, f"spec.{key}"))
        if _percent_over_100(value):
            errors.append(
                invalid(f"spec.{key}", go_int_or_string(value), "must not be greater than 100%")
            )
    if spec.get("selector") is not None:
        errors.extend(_label_selector_errors(spec["selector"], "spec.selector"))
    errors.extend(
        _enum(
            spec.get("unhealthyPodEvictionPolicy"),
            "spec.unhealthyPodEvictionPolicy",
            ["AlwaysAllow", "IfHealthyBudget"],
        )
    )
    return errors


_METRIC_TYPES = ["ContainerResource", "External", "Object", "Pods", "Resource"]


def _validate_hpa(obj: dict[str, Any]) -> list[FieldError]:
    spec = _as_dict(obj.get("spec"))
    errors: list[FieldError] = []
    ref = spec.get("scaleTargetRef")
    ref_dict = _as_dict(ref)
    for key in ("kind", "name"):
        value = ref_dict.get(key)
        if not value:
            errors.append(required(f"spec.scaleTargetRef.{key}"))
        else:
            errors.extend(
                invalid(f"spec.scaleTargetRef.{key}", value, msg)
                for msg in is_path_segment_name(str(value))
            )
    min_replicas, max_replicas = spec.get("minReplicas"), spec.get("maxReplicas")
    if isinstance(min_replicas, int) and min_replicas < 1:
        errors.append(
            invalid("spec.minReplicas", min_replicas, "must be greater than or equal to 1")
        )
    if not isinstance(max_replicas, int) or max_replicas < 1:
        errors.append(
            invalid(
                "spec.maxReplicas",
                max_replicas if max_replicas is not None else 0,
                "must be greater than 0",
            )
        )
    elif isinstance(min_replicas, int) and max_replicas < min_replicas:
        errors.append(
            invalid(
                "spec.maxReplicas", max_replicas, "must be greater than or equal to `minReplicas`"
            )
        )
    for index, metric in enumerate(_as_list(spec.get("metrics"))):
        metric = _as_dict(metric)
        metric_type = metric.get("type")
        if not metric_type:
            errors.append(
                required(f"spec.metrics[{index}].type", "must specify a metric source type")
            )
        elif metric_type not in _METRIC_TYPES:
            errors.append(not_supported(f"spec.metrics[{index}].type", metric_type, _METRIC_TYPES))
    return errors


def _validate_policy_rules(obj: dict[str, Any], *, namespaced: bool) -> list[FieldError]:
    errors: list[FieldError] = []
    for index, rule in enumerate(_as_list(obj.get("rules"))):
        rule = _as_dict(rule)
        path = f"rules[{index}]"
        if not rule.get("verbs"):
            errors.append(required(f"{path}.verbs", "verbs must contain at least one value"))
        urls = _as_list(rule.get("nonResourceURLs"))
        if urls:
            if namespaced:
                errors.append(
                    invalid(
                        f"{path}.nonResourceURLs",
                        go_string_slice(urls),
                        "namespaced rules cannot apply to non-resource URLs",
                    )
                )
            if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
                errors.append(
                    invalid(
                        f"{path}.nonResourceURLs",
                        go_string_slice(urls),
                        "rules cannot apply to both regular resources and non-resource URLs",
                    )
                )
            continue
        if not rule.get("apiGroups"):
            errors.append(
                required(f"{path}.apiGroups", "resource rules must supply at least one api group")
            )
        if not rule.get("resources"):
            errors.append(
                required(f"{path}.resources", "resource rules must supply at least one resource")
            )
    return errors


def _validate_role_binding(obj: dict[str, Any], *, namespaced: bool) -> list[FieldError]:
    errors: list[FieldError] = []
    role_ref = obj.get("roleRef")
    ref = _as_dict(role_ref)
    if ref.get("apiGroup") != "rbac.authorization.k8s.io":
        errors.append(
            not_supported(
                "roleRef.apiGroup", ref.get("apiGroup", ""), ["rbac.authorization.k8s.io"]
            )
        )
    allowed_kinds = ["Role", "ClusterRole"] if namespaced else ["ClusterRole"]
    if ref.get("kind") not in allowed_kinds:
        errors.append(not_supported("roleRef.kind", ref.get("kind", ""), allowed_kinds))
    if not ref.get("name"):
        errors.append(required("roleRef.name"))
    else:
        errors.extend(
            invalid("roleRef.name", ref["name"], msg)
            for msg in is_path_segment_name(str(ref["name"]))
        )
    for index, subject in enumerate(_as_list(obj.get("subjects"))):
        subject = _as_dict(subject)
        path = f"subjects[{index}]"
        name = subject.get("name")
        if not name:
            errors.append(required(f"{path}.name"))
        kind = subject.get("kind")
        api_group = subject.get("apiGroup") or ""
        if kind == "ServiceAccount":
            if name:
                errors.extend(
                    invalid(f"{path}.name", name, msg) for msg in is_dns1123_subdomain(str(name))
                )
            if api_group:
                errors.append(not_supported(f"{path}.apiGroup", api_group, [""]))
            if not namespaced and not subject.get("namespace"):
                errors.append(required(f"{path}.namespace"))
        elif kind in ("User", "Group"):
            if api_group != "rbac.authorization.k8s.io":
                errors.append(
                    not_supported(f"{path}.apiGroup", api_group, ["rbac.authorization.k8s.io"])
                )
        else:
            errors.append(
                not_supported(f"{path}.kind", kind or "", ["ServiceAccount", "User", "Group"])
            )
    return errors


def _go_role_ref(ref: Any) -> GoRepr:
    ref = _as_dict(ref)
    return GoRepr(
        "rbac.RoleRef{"
        f"APIGroup:{go_quote(str(ref.get('apiGroup', '')))}, "
        f"Kind:{go_quote(str(ref.get('kind', '')))}, "
        f"Name:{go_quote(str(ref.get('name', '')))}"
        "}"
    )


def _validate_lease(obj: dict[str, Any]) -> list[FieldError]:
    spec = _as_dict(obj.get("spec"))
    errors: list[FieldError] = []
    duration = spec.get("leaseDurationSeconds")
    if isinstance(duration, int) and duration <= 0:
        errors.append(invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
    errors.extend(_nonnegative(spec.get("leaseTransitions"), "spec.leaseTransitions"))
    return errors


# --------------------------------------------------------------------------------------------
# CustomResourceDefinition
# --------------------------------------------------------------------------------------------


def validate_crd(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[FieldError]:
    """Validate a `CustomResourceDefinition` (apiextensions.k8s.io/v1) beyond its metadata."""
    spec = _as_dict(obj.get("spec"))
    names = _as_dict(spec.get("names"))
    group = spec.get("group") or ""
    errors: list[FieldError] = []
    name = _as_dict(obj.get("metadata")).get("name")
    if name and name != f"{names.get('plural', '')}.{group}":
        errors.append(invalid("metadata.name", name, 'must be spec.names.plural+"."+spec.group'))
    if not group:
        errors.append(required("spec.group"))
    elif is_dns1123_subdomain(group):
        errors.append(invalid("spec.group", group, ",".join(is_dns1123_subdomain(group))))
    elif len(group.split(".")) < 2:
        errors.append(invalid("spec.group", group, "should be a domain with at least one dot"))
    errors.extend(
        _enum(spec.get("scope"), "spec.scope", ["Cluster", "Namespaced"], required_if_empty=True)
    )
    errors.extend(_validate_crd_names(names))
    errors.extend(_validate_crd_versions(spec))
    if spec.get("preserveUnknownFields") is True:
        errors.append(
            invalid(
                "spec.preserveUnknownFields",
                True,
                "cannot set to true, set x-kubernetes-preserve-unknown-fields to true in "
                "spec.versions[*].schema instead",
            )
        )
    conversion = _as_dict(spec.get("conversion"))
    errors.extend(
        _enum(conversion.get("strategy"), "spec.conversion.strategy", ["None", "Webhook"])
    )
    if old is not None:
        errors.extend(_validate_crd_update(obj, old))
    return errors


def _validate_crd_update(obj: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    spec, old_spec = _as_dict(obj.get("spec")), _as_dict(old.get("spec"))
    errors: list[FieldError] = []
    if old_spec.get("group") != spec.get("group"):
        errors.append(invalid("spec.group", spec.get("group", ""), "field is immutable"))
    plural = _as_dict(spec.get("names")).get("plural", "")
    if _as_dict(old_spec.get("names")).get("plural") != plural:
        errors.append(invalid("spec.names.plural", plural, "field is immutable"))
    if old_spec.get("scope") != spec.get("scope"):
        errors.append(invalid("spec.scope", spec.get("scope", ""), "field is immutable"))
    return errors


def _validate_crd_names(names: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    for key in ("plural", "singular", "kind", "listKind"):
        if not names.get(key):
            errors.append(required(f"spec.names.{key}"))
    for key in ("plural", "singular"):
        value = names.get(key)
        if value and is_dns1035_label(str(value)):
            errors.append(
                invalid(f"spec.names.{key}", value, ",".join(is_dns1035_label(str(value))))
            )
    for key in ("kind", "listKind"):
        value = names.get(key)
        if value and is_dns1035_label(str(value).lower()):
            errors.append(
                invalid(
                    f"spec.names.{key}",
                    value,
                    "may have mixed case, but should otherwise match: "
                    + ",".join(is_dns1035_label(str(value).lower())),
                )
            )
    for list_key in ("shortNames", "categories"):
        for index, value in enumerate(_as_list(names.get(list_key))):
            messages = is_dns1035_label(str(value))
            if messages:
                errors.append(invalid(f"spec.names.{list_key}[{index}]", value, ",".join(messages)))
    if names.get("kind") and names.get("kind") == names.get("listKind"):
        errors.append(
            invalid(
                "spec.names.listKind", names["listKind"], "kind and listKind may not be the same"
            )
        )
    return errors


def _validate_crd_versions(spec: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    versions = _as_list(spec.get("versions"))
    versions_value = GoRepr(
        f"[]apiextensions.CustomResourceDefinitionVersion{{…{len(versions)} versions…}}"
    )
    if not versions:
        errors.append(
            invalid(
                "spec.versions",
                versions_value,
                "must have exactly one version marked as storage version",
            )
        )
        return errors
    storage_count = 0
    seen: set[str] = set()
    unique = True
    for index, version in enumerate(versions):
        version = _as_dict(version)
        path = f"spec.versions[{index}]"
        version_name = str(version.get("name") or "")
        if version.get("storage") is True:
            storage_count += 1
        if version_name in seen:
            unique = False
        seen.add(version_name)
        messages = is_dns1035_label(version_name)
        if messages:
            errors.append(invalid(f"{path}.name", version_name, ",".join(messages)))
        schema = _as_dict(version.get("schema")).get("openAPIV3Schema")
        if schema is None:
            errors.append(required(f"{path}.schema.openAPIV3Schema", "schemas are required"))
        else:
            errors.extend(validate_structural_schema(schema, f"{path}.schema.openAPIV3Schema"))
    if not unique:
        errors.append(invalid("spec.versions", versions_value, "must contain unique version names"))
    if storage_count != 1:
        errors.append(
            invalid(
                "spec.versions",
                versions_value,
                "must have exactly one version marked as storage version",
            )
        )
    if not any(_as_dict(v).get("served") is True for v in versions):
        errors.append(
            invalid(
                "spec.versions", versions_value, "must have at least one version marked as served"
            )
        )
    return errors


_FORBIDDEN_IN_JUNCTORS = (
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-embedded-resource",
    "x-kubernetes-int-or-string",
)


def validate_structural_schema(schema: Any, path: str) -> list[FieldError]:
    """The structural-schema rules of a CRD version's `openAPIV3Schema` (§8.2)."""
    if not isinstance(schema, dict):
        return [invalid(path, schema, "must be an object")]
    errors = _structural_node(schema, path, level="root")
    root_type = schema.get("type")
    if root_type and root_type != "object":
        errors.append(invalid(f"{path}.type", root_type, "must be object at the root"))
    properties = _as_dict(schema.get("properties"))
    for key in ("kind", "apiVersion"):
        if key in properties and _as_dict(properties[key]).get("type") != "string":
            errors.append(
                invalid(
                    f"{path}.properties[{key}].type",
                    _as_dict(properties[key]).get("type", ""),
                    "must be string",
                )
            )
    if "metadata" in properties:
        metadata = _as_dict(properties["metadata"])
        leftover = {k: v for k, v in metadata.items() if k not in ("type", "properties", "default")}
        meta_properties = _as_dict(metadata.get("properties"))
        allowed = set(meta_properties) <= {"name", "generateName"}
        if leftover or not allowed:
            errors.append(
                forbidden(
                    f"{path}.properties[metadata]",
                    "must not specify anything other than name and generateName, but metadata is implicitly specified",
                )
            )
    return errors


def _structural_node(node: dict[str, Any], path: str, *, level: str) -> list[FieldError]:
    errors: list[FieldError] = []
    int_or_string = node.get("x-kubernetes-int-or-string") is True
    preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
    embedded = node.get("x-kubernetes-embedded-resource") is True
    node_type = node.get("type")
    if int_or_string and node_type:
        errors.append(
            invalid(
                f"{path}.type", node_type, "must be empty if x-kubernetes-int-or-string is true"
            )
        )
    if not node_type and not (int_or_string or preserve or embedded):
        detail = {
            "root": "must not be empty at the root",
            "items": "must not be empty for specified array items",
            "field": "must not be empty for specified object fields",
        }[level]
        errors.append(required(f"{path}.type", detail))
    if node_type == "array" and node.get("items") is None:
        errors.append(required(f"{path}.items", "must be specified"))
    if node.get("uniqueItems") is True:
        errors.append(
            forbidden(
                f"{path}.uniqueItems",
                "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
            )
        )
    if "$ref" in node:
        errors.append(forbidden(f"{path}.$ref", "$ref is not supported"))
    properties = node.get("properties")
    additional = node.get("additionalProperties")
    if isinstance(properties, dict) and properties and additional not in (None, True):
        errors.append(
            forbidden(
                f"{path}.additionalProperties",
                "additionalProperties and properties are mutual exclusive",
            )
        )
    if isinstance(properties, dict):
        for key, child in properties.items():
            if isinstance(child, dict):
                errors.extend(_structural_node(child, f"{path}.properties[{key}]", level="field"))
    if isinstance(additional, dict):
        errors.extend(_structural_node(additional, f"{path}.additionalProperties", level="field"))
    items = node.get("items")
    if isinstance(items, dict):
        errors.extend(_structural_node(items, f"{path}.items", level="items"))
    elif isinstance(items, list):
        errors.append(forbidden(f"{path}.items", "items must be a schema object and not an array"))
    for junctor in ("allOf", "anyOf", "oneOf"):
        for index, branch in enumerate(_as_list(node.get(junctor))):
            errors.extend(_nested_value_validation(_as_dict(branch), f"{path}.{junctor}[{index}]"))
    if isinstance(node.get("not"), dict):
        errors.extend(_nested_value_validation(node["not"], f"{path}.not"))
    return errors


def _nested_value_validation(node: dict[str, Any], path: str) -> list[FieldError]:
    """Inside allOf/anyOf/oneOf/not only value validations are allowed."""
    errors: list[FieldError] = []
    for key in _FORBIDDEN_IN_JUNCTORS:
        if node.get(key):
            errors.append(forbidden(f"{path}.{key}", "must be false to be structural"))
    if node.get("type"):
        errors.append(forbidden(f"{path}.type", "must be empty to be structural"))
    if "default" in node:
        errors.append(forbidden(f"{path}.default", "must be undefined to be structural"))
    if node.get("nullable"):
        errors.append(forbidden(f"{path}.nullable", "must be false to be structural"))
    for key, child in _as_dict(node.get("properties")).items():
        if isinstance(child, dict):
            errors.extend(_nested_value_validation(child, f"{path}.properties[{key}]"))
    if isinstance(node.get("items"), dict):
        errors.extend(_nested_value_validation(node["items"], f"{path}.items"))
    return errors


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------

_KindValidator = Callable[[dict[str, Any]], list[FieldError]]

_CREATE_VALIDATORS: dict[tuple[str, str], _KindValidator] = {
    ("", "Pod"): _validate_pod,
    ("", "Service"): _validate_service,
    ("", "ConfigMap"): _validate_config_map,
    ("", "Secret"): _validate_secret,
    ("", "Namespace"): _validate_namespace,
    ("", "PersistentVolumeClaim"): lambda obj: _validate_pvc_spec(obj.get("spec"), "spec"),
    ("", "Event"): _validate_event,
    ("apps", "Deployment"): lambda obj: _validate_deployment_like(obj, "Deployment"),
    ("apps", "ReplicaSet"): lambda obj: _validate_deployment_like(obj, "ReplicaSet"),
    ("apps", "StatefulSet"): _validate_statefulset,
    ("apps", "DaemonSet"): _validate_daemonset,
    ("batch", "Job"): _validate_job,
    ("batch", "CronJob"): _validate_cronjob,
    ("networking.k8s.io", "Ingress"): _validate_ingress,
    ("networking.k8s.io", "NetworkPolicy"): _validate_network_policy,
    ("policy", "PodDisruptionBudget"): _validate_pdb,
    ("autoscaling", "HorizontalPodAutoscaler"): _validate_hpa,
    ("coordination.k8s.io", "Lease"): _validate_lease,
    ("rbac.authorization.k8s.io", "Role"): lambda obj: _validate_policy_rules(obj, namespaced=True),
    ("rbac.authorization.k8s.io", "ClusterRole"): lambda obj: _validate_policy_rules(
        obj, namespaced=False
    ),
    ("rbac.authorization.k8s.io", "RoleBinding"): lambda obj: _validate_role_binding(
        obj, namespaced=True
    ),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): lambda obj: _validate_role_binding(
        obj, namespaced=False
    ),
    ("apiextensions.k8s.io", "CustomResourceDefinition"): validate_crd,
}

_UpdateValidator = Callable[[dict[str, Any], dict[str, Any]], list[FieldError]]

_UPDATE_VALIDATORS: dict[tuple[str, str], _UpdateValidator] = {
    ("", "Pod"): _validate_pod_update,
    ("", "Service"): _validate_service_update,
    ("", "ConfigMap"): lambda obj, old: _validate_immutable_data(obj, old, ("data", "binaryData")),
    ("", "PersistentVolumeClaim"): _validate_pvc_update,
    ("apps", "Deployment"): _selector_immutable,
    ("apps", "ReplicaSet"): _selector_immutable,
    ("apps", "DaemonSet"): _selector_immutable,
    ("apps", "StatefulSet"): _validate_statefulset_update,
    ("batch", "Job"): _validate_job_update,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): _validate_crd_update,
}


def _validate_secret_update(obj: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    errors = _validate_immutable_data(obj, old, ("data",))
    if obj.get("type") != old.get("type"):
        errors.insert(0, invalid("type", obj.get("type", ""), "field is immutable"))
    return errors


def _validate_binding_update(obj: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    if _as_dict(obj.get("roleRef")) != _as_dict(old.get("roleRef")):
        return [invalid("roleRef", _go_role_ref(obj.get("roleRef")), "cannot change roleRef")]
    return []


_UPDATE_VALIDATORS[("", "Secret")] = _validate_secret_update
_UPDATE_VALIDATORS[("rbac.authorization.k8s.io", "RoleBinding")] = _validate_binding_update
_UPDATE_VALIDATORS[("rbac.authorization.k8s.io", "ClusterRoleBinding")] = _validate_binding_update


def validate_object(
    group: str,
    kind: str,
    obj: dict[str, Any],
    old: dict[str, Any] | None,
    *,
    namespaced: bool | None = None,
) -> list[FieldError]:
    """Validate a create (`old is None`) or an update of any kind; empty list when valid.

    Metadata rules apply to every kind (custom resources included); spec rules to the built-ins
    listed in `_CREATE_VALIDATORS`. `namespaced` enables the namespace presence check; when None
    it is inferred for well-known cluster-scoped kinds only (the server sets the namespace from
    the URL before validating, so this rarely fires).
    """
    if namespaced is None and (group, kind) in _CLUSTER_SCOPED:
        namespaced = False
    errors: list[FieldError] = []
    if old is not None:
        errors.extend(validate_object_meta_update(obj.get("metadata"), old.get("metadata")))
    errors.extend(
        validate_object_meta(
            obj.get("metadata"), name_rule=name_rule_for(group, kind), namespaced=namespaced
        )
    )
    # Like the registry strategies: the create-time rules first, then the update-only ones.
    validator = _CREATE_VALIDATORS.get((group, kind))
    if validator is not None:
        errors.extend(validator(obj))
    if old is not None:
        update_validator = _UPDATE_VALIDATORS.get((group, kind))
        if update_validator is not None:
            errors.extend(update_validator(obj, old))
    return errors
