"""Parameters as the two template engines see them: flat ``key.sub`` strings for fasttemplate,
nested values for Go templates, and the label selector that filters them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tether.appsets.errors import AppSetError

Params = dict[str, Any]


def go_string(value: Any) -> str:
    """A value as Go's ``fmt.Sprintf("%v")`` prints what JSON decoding gave: ``true``,
    ``1``, ``1.5``, strings as they are; lists and maps as JSON (Tether's choice: Go would
    print ``map[...]``, which no template wants)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "<nil>"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return str(value)


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """Nested maps and lists as ``a.b.0.c`` keys (jeremywohl/flatten's dot style, as Argo CD
    flattens Git files for fasttemplate), every leaf printed with :func:`go_string`."""
    out: dict[str, str] = {}
    stack: list[tuple[str, Any]] = [(prefix, value)]
    while stack:
        key, item = stack.pop()
        if isinstance(item, Mapping) and item:
            stack.extend((f"{key}.{k}" if key else str(k), v) for k, v in item.items())
        elif isinstance(item, list) and item:
            stack.extend((f"{key}.{i}" if key else str(i), v) for i, v in enumerate(item))
        elif key:
            out[key] = go_string(item) if not isinstance(item, (Mapping, list)) else ""
    return out


# ---- selector -----------------------------------------------------------------------------

_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def _requirement(expression: Any, where: str) -> tuple[str, str, tuple[str, ...]]:
    if not isinstance(expression, Mapping):
        raise AppSetError(f"{where}: a matchExpressions entry must be an object")
    key, operator = expression.get("key"), expression.get("operator")
    values = expression.get("values") or []
    if not isinstance(key, str) or operator not in _OPERATORS:
        raise AppSetError(
            f"{where}: matchExpressions needs a key and an operator of {', '.join(_OPERATORS)}"
        )
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise AppSetError(f"{where}: matchExpressions values must be strings")
    return key, str(operator), tuple(values)


def selector_matches(
    selector: Mapping[str, Any] | None, labels: Mapping[str, str], where: str
) -> bool:
    """Whether ``labels`` satisfy a Kubernetes label selector (``matchLabels`` and
    ``matchExpressions``); an empty or absent selector selects everything."""
    if not selector:
        return True
    match = selector.get("matchLabels") or {}
    if not isinstance(match, Mapping):
        raise AppSetError(f"{where}: matchLabels must be an object")
    if any(labels.get(str(k)) != str(v) for k, v in match.items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = _requirement(expression, where)
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def select(
    found: list[Params], selector: Mapping[str, Any] | None, go_template: bool, where: str
) -> list[Params]:
    """The parameter sets a generator's ``selector`` keeps (matched on their flat form)."""
    if not selector:
        return found
    return [p for p in found if selector_matches(selector, flatten(p) if go_template else p, where)]
