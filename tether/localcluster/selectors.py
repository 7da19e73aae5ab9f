"""Label and field selectors, parsed from query strings with the API server's syntax and errors."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tether.localcluster.apierrors import ApiError, bad_request

Matcher = Callable[[dict[str, Any]], bool]
LabelRequirement = Callable[[dict[str, str]], bool]

_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_SET_RE = re.compile(rf"^\s*(!)?\s*({_KEY})\s*(?:(notin|in)\s*\(([^)]*)\))?\s*$")
_OP_RE = re.compile(rf"^\s*({_KEY})\s*(==|=|!=|>|<)\s*([-A-Za-z0-9_.]*)\s*$")


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside ``in (...)`` parentheses."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _labels(obj: dict[str, Any]) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def parse_label_selector(text: str | None) -> Matcher | None:
    """Compile ``a=b,c!=d,e in (f,g),!h,i>3`` into a predicate over objects (None = everything)."""
    if not text or not text.strip():
        return None
    requirements: list[LabelRequirement] = []
    for raw in _split_top_level(text):
        if not raw.strip():
            raise bad_request(
                f"unable to parse requirement: found '', expected: identifier ({text})"
            )
        requirements.append(_parse_requirement(raw, text))

    def match(obj: dict[str, Any]) -> bool:
        labels = _labels(obj)
        return all(req_labels(labels) for req_labels in requirements)

    return match


def _parse_requirement(raw: str, whole: str) -> LabelRequirement:
    m = _OP_RE.match(raw)
    if m:
        key, op, value = m.group(1), m.group(3), m.group(4)
        if op in ("=", "=="):
            return lambda labels: labels.get(key) == value
        if op == "!=":
            return lambda labels: labels.get(key) != value
        try:
            number = int(value)
        except ValueError as exc:
            raise bad_request(
                f"unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer ({whole})"
            ) from exc

        def compare(labels: dict[str, str]) -> bool:
            current = labels.get(key)
            if current is None:
                return False
            try:
                n = int(current)
            except ValueError:
                return False
            return n > number if op == ">" else n < number

        return compare
    m = _SET_RE.match(raw)
    if m:
        negate, key, op, values_text = m.group(1), m.group(2), m.group(4), m.group(5)
        if op is None:
            if negate:
                return lambda labels: key not in labels
            return lambda labels: key in labels
        if negate:
            raise bad_request(
                f"unable to parse requirement: unexpected '!' before set operator ({whole})"
            )
        values = {v.strip() for v in (values_text or "").split(",") if v.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    raise bad_request(f"unable to parse requirement: {raw.strip()!r} ({whole})")


def match_label_selector_object(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """``metav1.LabelSelector`` semantics: empty matches everything, None matches nothing."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key = expr.get("key")
        op = expr.get("operator")
        values = expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def selector_to_string(selector: dict[str, Any]) -> str:
    """Render a LabelSelector as the query-string form (used by ``/scale`` status)."""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        op = expr.get("operator")
        key = expr.get("key")
        values = ",".join(sorted(expr.get("values") or []))
        if op == "In":
            parts.append(f"{key} in ({values})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif op == "Exists":
            parts.append(str(key))
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


#: type-specific field selectors the real server supports (group/kind -> field -> path)
_FIELD_PATHS: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {
    ("", "Pod"): {
        "spec.nodeName": ("spec", "nodeName"),
        "spec.restartPolicy": ("spec", "restartPolicy"),
        "spec.schedulerName": ("spec", "schedulerName"),
        "spec.serviceAccountName": ("spec", "serviceAccountName"),
        "spec.hostNetwork": ("spec", "hostNetwork"),
        "status.phase": ("status", "phase"),
        "status.podIP": ("status", "podIP"),
        "status.nominatedNodeName": ("status", "nominatedNodeName"),
    },
    ("", "Event"): {
        **{
            f"involvedObject.{f}": ("involvedObject", f)
            for f in (
                "kind",
                "namespace",
                "name",
                "uid",
                "apiVersion",
                "resourceVersion",
                "fieldPath",
            )
        },
        "reason": ("reason",),
        "reportingComponent": ("reportingComponent",),
        "source": ("source", "component"),
        "type": ("type",),
    },
    ("", "Secret"): {"type": ("type",)},
    ("", "Namespace"): {"status.phase": ("status", "phase")},
    ("apps", "ReplicaSet"): {"status.replicas": ("status", "replicas")},
    ("batch", "Job"): {"status.successful": ("status", "succeeded")},
}


def _field_value(obj: dict[str, Any], path: tuple[str, ...]) -> str:
    cur: Any = obj
    for part in path:
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def _split_field_terms(text: str) -> list[str]:
    terms: list[str] = []
    current: list[str] = []
    escaped = False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            terms.append("".join(current))
            current = []
        else:
            current.append(ch)
    terms.append("".join(current))
    return terms


def parse_field_selector(
    text: str | None,
    group: str,
    kind: str,
    custom: bool = False,
    selectable: tuple[str, ...] = (),
) -> Matcher | None:
    """Compile ``metadata.name=x,status.phase!=Running`` for a kind; unknown fields answer 400."""
    if not text or not text.strip():
        return None
    paths: dict[str, tuple[str, ...]] = {
        "metadata.name": ("metadata", "name"),
        "metadata.namespace": ("metadata", "namespace"),
    }
    if custom:
        for field_path in selectable:
            paths[field_path.lstrip(".")] = tuple(field_path.lstrip(".").split("."))
    else:
        paths.update(_FIELD_PATHS.get((group, kind), {}))
    checks: list[tuple[tuple[str, ...], str, str]] = []
    for term in _split_field_terms(text):
        m = re.match(r"^([^!=]+)(==|!=|=)(.*)$", term)
        if not m:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
        name, op, value = m.group(1).strip(), m.group(2), m.group(3)
        if name not in paths:
            if custom:
                raise bad_request(
                    f'"{name}" is not a known field selector: only "metadata.name", "metadata.namespace"'
                )
            raise bad_request(f"field label not supported: {name}")
        checks.append((paths[name], op, value))

    def match(obj: dict[str, Any]) -> bool:
        for path, op, value in checks:
            current = _field_value(obj, path)
            if (op == "!=") == (current == value):
                return False
        return True

    return match


def name_from_field_selector(text: str | None) -> str | None:
    """The object name when a selector is exactly ``metadata.name=x`` (a fast path for lookups)."""
    if not text:
        return None
    m = re.fullmatch(r"metadata\.name==?([^,]*)", text.strip())
    return m.group(1) if m else None


__all__ = [
    "ApiError",
    "Matcher",
    "match_label_selector_object",
    "name_from_field_selector",
    "parse_field_selector",
    "parse_label_selector",
    "selector_to_string",
]
