"""A HelmRelease's values, composed as helm-controller composes them: every ``valuesFrom``
entry in order (a YAML document merged in, or with ``targetPath`` one flat value set at a dotted
path with Helm's ``--set`` typing), then ``spec.values`` on top. Maps merge key by key; any
other value replaces. Input is bounded (size, depth, nodes) through :mod:`tether.safeyaml`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tether.safeyaml import YamlError, check_nesting, load

#: one values document at most (a ConfigMap holds 1 MiB)
MAX_VALUES_BYTES = 1024 * 1024
_INTEGER = re.compile(r"^-?[1-9][0-9]*$|^0$")


class ValuesError(ValueError):
    """A values source cannot be used; the message is Flux-shaped."""


@dataclass(frozen=True)
class ValuesInput:
    """One ``valuesFrom`` entry with what its object holds (None: the object does not exist)."""

    kind: str
    name: str
    namespace: str
    values_key: str
    target_path: str | None
    optional: bool
    data: Mapping[str, str] | None


def compose(sources: Sequence[ValuesInput], values: Mapping[str, Any]) -> dict[str, Any]:
    """The release's values (see the module docstring)."""
    result: dict[str, Any] = {}
    for source in sources:
        where = f"{source.kind} '{source.namespace}/{source.name}'"
        if source.data is None:
            if source.optional:
                continue
            raise ValuesError(f"could not find {where}")
        text = source.data.get(source.values_key)
        if text is None:
            if source.optional:
                continue
            raise ValuesError(f"missing key '{source.values_key}' in {where}")
        if len(text) > MAX_VALUES_BYTES:
            raise ValuesError(f"{where} key '{source.values_key}' is larger than 1 MiB")
        if source.target_path:
            try:
                set_path(result, source.target_path, typed(text))
            except ValueError as exc:
                raise ValuesError(
                    f"unable to merge value from key '{source.values_key}' in {where} into "
                    f"target path '{source.target_path}': {exc}"
                ) from None
            continue
        try:
            document = load(text)
        except YamlError as exc:
            raise ValuesError(
                f"unable to read values from key '{source.values_key}' in {where}: {exc.message}"
            ) from None
        if document is None:
            continue
        if not isinstance(document, dict):
            raise ValuesError(
                f"values from key '{source.values_key}' in {where} are not a YAML map"
            )
        result = merge(result, document)
    try:
        check_nesting(values)
    except YamlError as exc:
        raise ValuesError(f"spec.values: {exc.message}") from None
    return merge(result, copy.deepcopy(dict(values)))


def merge(base: dict[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """``overlay`` over ``base``: maps merged key by key, anything else replaced."""
    out = dict(base)
    for key, value in overlay.items():
        old = out.get(key)
        if isinstance(old, dict) and isinstance(value, Mapping):
            out[key] = merge(old, value)
        else:
            out[key] = value
    return out


def typed(text: str) -> Any:
    """A flat value typed as Helm's ``--set`` types it: booleans, null and integers; anything
    else (floats included) stays a string."""
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    if _INTEGER.match(text):
        return int(text)
    return text


def set_path(values: dict[str, Any], path: str, value: Any) -> None:
    """Set ``value`` at a dotted ``path`` (``a.b.c``, ``\\.`` for a literal dot, ``a[0]`` for a
    list item), creating what is missing."""
    keys = _split(path)
    node: Any = values
    for i, (key, index) in enumerate(keys):
        last = i == len(keys) - 1
        if not isinstance(node, dict):
            raise ValueError(f"'{key}' is not inside a map")
        if index is None:
            if last:
                node[key] = value
            else:
                nxt = node.get(key)
                if not isinstance(nxt, dict):
                    nxt = node[key] = {}
                node = nxt
            continue
        items = node.get(key)
        if not isinstance(items, list):
            items = node[key] = []
        if index > 1024:
            raise ValueError(f"list index {index} is too large")
        while len(items) <= index:
            items.append(None)
        if last:
            items[index] = value
        else:
            if not isinstance(items[index], dict):
                items[index] = {}
            node = items[index]


def _split(path: str) -> list[tuple[str, int | None]]:
    parts, current, i = [], "", 0
    while i < len(path):
        char = path[i]
        if char == "\\" and i + 1 < len(path):
            current += path[i + 1]
            i += 2
            continue
        if char == ".":
            parts.append(current)
            current = ""
        else:
            current += char
        i += 1
    parts.append(current)
    keys: list[tuple[str, int | None]] = []
    for part in parts:
        match = re.fullmatch(r"(.+)\[([0-9]+)\]", part)
        if match:
            keys.append((match.group(1), int(match.group(2))))
        elif part:
            keys.append((part, None))
        else:
            raise ValueError(f"empty key in '{path}'")
    return keys
