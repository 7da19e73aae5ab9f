"""Secret values never leave the process: the one masking rule every output uses.

The diff, the API server (live objects, desired manifests, managed resources) and the CLI all
call `mask_secrets` (or `mask_object`, the one-object form). The rule, for every object whose
`kind` is `Secret` (whatever its apiVersion, so a malformed object from a repository is covered):

* `data` and `stringData` are masked whatever their shape. A mapping keeps its keys (as text)
  and each value that is not null becomes a run of `+`; any other shape (a string, a list, a
  number, a boolean) becomes one run of `+` as a whole. A nested value under a key is one value.
* kubectl's `last-applied-configuration` annotation, which repeats the values, is masked whole.
* Everything else is shown unchanged; objects of other kinds are returned as they are.

Runs of `+` tell values apart without showing anything derived from them (no hash): each
distinct value of one call gets its own length, assigned in a fixed order (objects in argument
order, `data` before `stringData`, keys sorted), starting at 8. Equal values share a mask, a
changed value gets another one, and masks stay the same between calls while values do not
change. A `stringData` text counts as equal to the same bytes in `data` (as the API server
folds one into the other). Past `MAX_DISTINCT_MASKS` distinct values, the rest share one mask,
so a hostile object with many keys cannot make the output grow faster than its key count.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from typing import Any, Final

import orjson

__all__ = [
    "LAST_APPLIED",
    "MASK",
    "MASK_BASE_LENGTH",
    "MAX_DISTINCT_MASKS",
    "mask_object",
    "mask_objects",
    "mask_secrets",
    "scrub",
    "secret_values",
]

LAST_APPLIED: Final = "kubectl.kubernetes.io/last-applied-configuration"
MASK_BASE_LENGTH: Final = 8
MAX_DISTINCT_MASKS: Final = 64
#: the shortest mask, also the one used for the last-applied annotation
MASK: Final = "+" * MASK_BASE_LENGTH
SECRET_SECTIONS: Final = ("data", "stringData")


def _is_secret(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("kind") == "Secret"


class _Masks:
    """Mask lengths for the distinct values of one call."""

    def __init__(self) -> None:
        self._lengths: dict[str, int] = {}

    def mask(self, token: str) -> str:
        length = self._lengths.get(token)
        if length is None:
            rank = min(len(self._lengths), MAX_DISTINCT_MASKS - 1)
            length = MASK_BASE_LENGTH + rank
            if len(self._lengths) < MAX_DISTINCT_MASKS:
                self._lengths[token] = length
        return "+" * length


def _token(section: str, value: Any) -> str:
    """What identifies a value: data bytes as base64 text, so stringData text compares equal."""
    if isinstance(value, str):
        if section == "stringData":
            return "b64:" + base64.b64encode(value.encode(errors="replace")).decode()
        return "b64:" + value
    try:
        return (
            "json:"
            + orjson.dumps(
                value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str
            ).decode()
        )
    except (orjson.JSONEncodeError, TypeError):
        # too deep or not serializable: a value of its own
        return f"opaque:{id(value)}"


def _mask_section(section: str, value: Any, masks: _Masks) -> Any:
    if value is None:
        return None
    if not isinstance(value, dict):
        return masks.mask(_token(section, value))
    masked: dict[str, Any] = {}
    for key in sorted(value, key=str):
        item = value[key]
        masked[str(key)] = None if item is None else masks.mask(_token(section, item))
    return masked


def _mask_secret(obj: dict[str, Any], masks: _Masks) -> dict[str, Any]:
    masked = dict(obj)
    for section in SECRET_SECTIONS:
        if section in obj:
            masked[section] = _mask_section(section, obj[section], masks)
    meta = obj.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    if isinstance(annotations, dict) and LAST_APPLIED in annotations:
        assert isinstance(meta, dict)
        masked["metadata"] = {**meta, "annotations": {**annotations, LAST_APPLIED: MASK}}
    return masked


def mask_secrets(*objs: dict[str, Any] | None) -> tuple[dict[str, Any] | None, ...]:
    """The objects with every Secret value masked (see the module docstring), in one mask space.

    Masks are comparable between the objects of one call (use it for the two sides of a diff)
    and never between calls on different objects. Inputs are not modified; an object that is
    not a Secret, or None, is returned as it is.
    """
    masks = _Masks()
    return tuple(_mask_secret(o, masks) if o is not None and _is_secret(o) else o for o in objs)


def mask_object(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    """One object masked on its own (`mask_secrets` with a single object)."""
    return mask_secrets(obj)[0]


def mask_objects(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every object masked on its own: equal values inside one object share a mask, nothing is
    comparable across objects."""
    return [o if not _is_secret(o) else _mask_secret(o, _Masks()) for o in objs]


def _strings(value: Any, budget: int = 10_000) -> Iterator[str]:
    """The string leaves of a value (at most `budget` nodes visited, no recursion)."""
    stack = [value]
    while stack and budget > 0:
        budget -= 1
        node = stack.pop()
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, (int, float)) and not isinstance(node, bool):
            yield str(node)


def _spellings(section: str, text: str) -> list[str]:
    """A value as a message may quote it: as written, and base64-decoded or -encoded."""
    out = [text]
    if section == "data":
        try:
            out.append(base64.b64decode(text, validate=True).decode())
        except (binascii.Error, UnicodeDecodeError, ValueError):
            pass
    else:
        out.append(base64.b64encode(text.encode(errors="replace")).decode())
    return out


def secret_values(obj: dict[str, Any] | None) -> list[str]:
    """Every Secret value of `obj` in the spellings a message may quote, for scrubbing text.

    Any shape counts: every string or number under `data`/`stringData`, at any depth, and the
    last-applied annotation. Values shorter than 3 characters are left out (they would erase
    ordinary words), longest first so a value is removed before any part of it.
    """
    if not _is_secret(obj):
        return []
    assert obj is not None
    values: list[str] = []
    for section in SECRET_SECTIONS:
        content = obj.get(section)
        # the keys of a well-formed map are names, not secrets (and would erase plain words)
        leaves = content.values() if isinstance(content, dict) else [content]
        for text in _strings(list(leaves)):
            values.extend(_spellings(section, text))
    meta = obj.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    if isinstance(annotations, dict) and isinstance(annotations.get(LAST_APPLIED), str):
        values.append(annotations[LAST_APPLIED])
    return sorted({v for v in values if len(v) >= 3}, key=len, reverse=True)


def scrub(message: str, *objects: dict[str, Any] | None) -> str:
    """``message`` with every value of the Secrets among ``objects`` masked, in any spelling
    (servers quote the object they refused in their errors)."""
    for obj in objects:
        for value in secret_values(obj):
            message = message.replace(value, MASK)
    return message
