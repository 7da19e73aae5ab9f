"""Object-level helpers for the diff: equivalences, containment, local apply, normalization.

Secret masking lives in `tether.engine.masking` (one rule for every output).

Everything here is pure and works on plain dicts as they come from YAML or the API server.

The central question the diff asks is "would a server-side apply of the desired object change the
live one?". `is_contained` answers the cheap half locally: every field the desired object sets
already has that value in the live object (modulo what the API server itself rewrites: quantity
spelling, defaulted keys of keyed lists, empty-versus-missing). `dropped_owned_paths` answers the
other half: fields our field manager applied before and has now dropped would be removed by the next
apply. `predict_apply` builds an approximate post-apply object when no server is asked.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Final

import orjson
import yaml

JSON = Any
Path = tuple[str | int, ...]

# Metadata the API server writes on every object; never drift.
SERVER_METADATA: Final = frozenset(
    {
        "managedFields",
        "resourceVersion",
        "generation",
        "uid",
        "creationTimestamp",
        "selfLink",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    }
)

# Annotations written by kubectl or by controllers rather than by the author of the manifest.
CONTROLLER_ANNOTATIONS: Final = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        "deployment.kubernetes.io/revision",
        "deprecated.daemonset.template.generation",
        "endpoints.kubernetes.io/last-change-trigger-time",
        "control-plane.alpha.kubernetes.io/leader",
        "autoscaling.alpha.kubernetes.io/conditions",
        "autoscaling.alpha.kubernetes.io/current-metrics",
        "pv.kubernetes.io/bind-completed",
        "pv.kubernetes.io/bound-by-controller",
        "pv.kubernetes.io/provisioned-by",
        "volume.beta.kubernetes.io/storage-provisioner",
        "volume.kubernetes.io/storage-provisioner",
        "volume.kubernetes.io/selected-node",
        "batch.kubernetes.io/job-tracking",
    }
)

# Lists whose items the API server identifies by key fields (SSA `listType=map`). Keyed lists
# merge item by item, so item order and extra live items (owned by someone else) are not drift.
_KEYED_LISTS: Final[dict[str, tuple[str, ...]]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "env": ("name",),
    "volumes": ("name",),
    "imagePullSecrets": ("name",),
    "resourceClaims": ("name",),
    "schedulingGates": ("name",),
    "volumeMounts": ("mountPath",),
    "volumeDevices": ("devicePath",),
    "hostAliases": ("ip",),
    "topologySpreadConstraints": ("topologyKey", "whenUnsatisfiable"),
    "ownerReferences": ("uid",),
    "conditions": ("type",),
}
# Key fields the server fills in when an item omits them (so `{containerPort: 80}` is the same
# item as the live `{containerPort: 80, protocol: TCP}`).
_KEY_DEFAULTS: Final[dict[str, Any]] = {"protocol": "TCP"}
# Lists of scalars that are sets: other writers may add members without it being drift.
_SET_LISTS: Final = frozenset({"finalizers"})
# Fields typed IntOrString: `8080` and `"8080"` are the same value.
_INT_OR_STRING: Final = frozenset(
    {"targetPort", "port", "maxSurge", "maxUnavailable", "minAvailable"}
)
# Maps whose values are resource quantities, and quantity fields outside such maps.
_QUANTITY_MAPS: Final = frozenset(
    {
        "limits",
        "requests",
        "hard",
        "capacity",
        "allocatable",
        "overhead",
        "default",
        "defaultRequest",
        "max",
        "min",
        "maxLimitRequestRatio",
    }
)
_QUANTITY_FIELDS: Final = frozenset({"sizeLimit", "divisor"})

_QUANTITY_RE: Final = re.compile(
    r"^([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$"
)
_BINARY: Final = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL: Final = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


def parse_quantity(value: Any) -> Decimal | None:
    """The numeric value of a Kubernetes quantity (`500m`, `0.5`, `1Gi`, `1e3`), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    if not isinstance(value, str):
        return None
    match = _QUANTITY_RE.match(value.strip())
    if match is None:
        return None
    try:
        number = Decimal(match.group(1))
    except InvalidOperation:
        return None
    suffix = match.group(2) or ""
    if suffix in _BINARY:
        return number * (Decimal(1024) ** _BINARY[suffix])
    if suffix in _DECIMAL:
        return number.scaleb(_DECIMAL[suffix])
    if suffix:
        return number.scaleb(int(suffix[1:]))
    return number


def scalars_equal(
    desired: Any, live: Any, field: str | int | None, parent: str | int | None
) -> bool:
    """Whether a desired scalar and a live scalar are the same value once the server stored it."""
    if type(desired) is bool or type(live) is bool:
        # True == 1 in Python; not in Kubernetes.
        return type(desired) is type(live) and desired == live
    if desired == live:
        return True
    if field in _INT_OR_STRING and {type(desired), type(live)} == {int, str}:
        return str(desired) == str(live)
    if parent in _QUANTITY_MAPS or field in _QUANTITY_FIELDS:
        left, right = parse_quantity(desired), parse_quantity(live)
        return left is not None and left == right
    return False


def is_empty(value: Any) -> bool:
    """True for values the API server stores as absent: null, `{}`, `[]`, maps of such values."""
    if value is None:
        return True
    if isinstance(value, dict):
        return all(is_empty(v) for v in value.values())
    if isinstance(value, list):
        return not value
    return False


def list_keys(field: str | int | None, items: list[Any]) -> tuple[str, ...]:
    """The key fields of a keyed list, or `()` when the list is compared position by position."""
    if not items or not all(isinstance(item, dict) for item in items):
        return ()
    if field == "ports":
        keys: tuple[str, ...] = (
            ("containerPort", "protocol") if "containerPort" in items[0] else ("port", "protocol")
        )
    else:
        keys = _KEYED_LISTS.get(field, ()) if isinstance(field, str) else ()
    if keys and all(keys[0] in item for item in items):
        return keys
    return ()


def item_key(item: dict[str, Any], keys: tuple[str, ...]) -> tuple[Any, ...]:
    """An item's identity in a keyed list, with server defaults for omitted key fields."""
    return tuple(item.get(k, _KEY_DEFAULTS.get(k)) for k in keys)


def is_contained(
    desired: Any, live: Any, field: str | int | None = None, parent: str | int | None = None
) -> bool:
    """Whether every value `desired` sets is already in `live` (the fast "in sync" test).

    Extra fields in live maps are fine: they are server defaults or owned by other managers, and
    an apply leaves both alone. False means "cannot tell it is unchanged", not "certainly changed".
    """
    if desired is None:
        return True
    if isinstance(desired, dict):
        if desired == live:
            return True  # compared in C: the common case of an untouched sub-tree
        if live is None:
            return is_empty(desired)
        if not isinstance(live, dict):
            return False
        for name, value in desired.items():
            if value is None:
                continue
            if name not in live:
                if not is_empty(value):
                    return False
            elif not is_contained(value, live[name], name, field):
                return False
        return True
    if isinstance(desired, list):
        if desired == live:
            return True
        if live is None:
            return not desired
        if not isinstance(live, list):
            return False
        keys = list_keys(field, desired)
        if keys:
            by_key = {item_key(item, keys): item for item in live if isinstance(item, dict)}
            for item in desired:
                match = by_key.get(item_key(item, keys))
                if match is None or not is_contained(item, match, field, parent):
                    return False
            return True
        if field in _SET_LISTS:
            return all(item in live for item in desired)
        if len(desired) != len(live):
            return False
        return all(is_contained(d, lv, field, parent) for d, lv in zip(desired, live, strict=True))
    if live is None:
        return False
    return scalars_equal(desired, live, field, parent)


def strip_nulls(value: Any) -> Any:
    """A copy of `value` without null map entries (an apply treats them as unset)."""
    if isinstance(value, dict):
        return {k: strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_nulls(v) for v in value]
    return value


def predict_apply(
    live: Any, desired: Any, field: str | int | None = None, parent: str | int | None = None
) -> Any:
    """An approximation of `live` after a server-side apply of `desired`, without asking a server.

    Maps merge, keyed lists merge by key, sets gain members, other lists are replaced unless
    contained; scalars that are equivalent keep the live spelling. Server defaulting of new
    values is not modelled, so this is used only to show a difference, never to declare sync.
    """
    if desired is None:
        return live
    if isinstance(desired, dict) and isinstance(live, dict):
        merged = dict(live)
        for name, value in desired.items():
            if value is None:
                continue
            merged[name] = (
                predict_apply(live[name], value, name, field)
                if name in live
                else strip_nulls(value)
            )
        return merged
    if isinstance(desired, list) and isinstance(live, list):
        keys = list_keys(field, desired)
        if keys:
            result = list(live)
            index = {
                item_key(item, keys): i for i, item in enumerate(live) if isinstance(item, dict)
            }
            for item in desired:
                position = index.get(item_key(item, keys))
                if position is None:
                    result.append(strip_nulls(item))
                else:
                    result[position] = predict_apply(live[position], item, field, parent)
            return result
        if field in _SET_LISTS:
            return list(live) + [item for item in desired if item not in live]
        if is_contained(desired, live, field, parent):
            return live
        return strip_nulls(desired)
    if (
        live is not None
        and not isinstance(desired, dict | list)
        and scalars_equal(desired, live, field, parent)
    ):
        return live
    return strip_nulls(desired)


# --- managedFields -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyMatch:
    """A `k:{...}` element of a fieldsV1 trie: the keyed-list item whose key fields have these values."""

    fields: tuple[tuple[str, Any], ...]

    def matches(self, item: Any) -> bool:
        return isinstance(item, dict) and all(
            item.get(name, _KEY_DEFAULTS.get(name)) == value for name, value in self.fields
        )


@dataclass(frozen=True, slots=True)
class ValueMatch:
    """A `v:<json>` element of a fieldsV1 trie: the set-list member equal to this value."""

    value: Any

    def matches(self, item: Any) -> bool:
        return bool(item == self.value)


FieldPathElement = str | int | KeyMatch | ValueMatch
FieldPath = tuple[FieldPathElement, ...]


@lru_cache(maxsize=65536)
def _parse_element(raw: str) -> FieldPathElement:
    prefix, _, rest = raw.partition(":")
    if prefix == "f":
        return rest
    if prefix == "k":
        return KeyMatch(tuple(sorted(orjson.loads(rest).items())))
    if prefix == "v":
        return ValueMatch(orjson.loads(rest))
    if prefix == "i":
        return int(rest)
    raise ValueError(f"unknown fieldsV1 path element {raw!r}")


def managed_field_paths(fields: dict[str, Any], prefix: FieldPath = ()) -> Iterator[FieldPath]:
    """The owned places of a fieldsV1 trie: leaves, and list items the manager owns as a whole.

    A `"."` on a map field only says the manager created the map, so the map's other keys are
    not reported as owned; a `"."` on a list item means the item itself is owned.
    """
    for raw, child in fields.items():
        if raw == ".":
            continue
        element = _parse_element(raw)
        path = (*prefix, element)
        children = [k for k in child if k != "."] if isinstance(child, dict) else []
        if not children or (not isinstance(element, str) and "." in child):
            yield path
        else:
            yield from managed_field_paths(child, path)


def manager_entries(
    obj: dict[str, Any], managers: frozenset[str] | set[str]
) -> list[dict[str, Any]]:
    """The FieldsV1 managedFields entries of `obj` written by any of `managers`.

    Subresource entries count: the scale subresource records `spec.replicas` of the main object.
    """
    entries = (obj.get("metadata") or {}).get("managedFields") or []
    return [
        e
        for e in entries
        if e.get("manager") in managers and e.get("fieldsType", "FieldsV1") == "FieldsV1"
    ]


def resolve_field_path(obj: Any, path: FieldPath) -> Path | None:
    """The concrete path (keys and list indexes) of a fieldsV1 path in `obj`, or None if absent."""
    concrete: list[str | int] = []
    node = obj
    for element in path:
        if isinstance(element, str):
            if not isinstance(node, dict) or element not in node:
                return None
            concrete.append(element)
            node = node[element]
        elif isinstance(element, int):
            if not isinstance(node, list) or element >= len(node):
                return None
            concrete.append(element)
            node = node[element]
        else:
            if not isinstance(node, list):
                return None
            for index, item in enumerate(node):
                if element.matches(item):
                    concrete.append(index)
                    node = item
                    break
            else:
                return None
    return tuple(concrete)


def dropped_owned_paths(desired: dict[str, Any], live: dict[str, Any], manager: str) -> list[Path]:
    """Live places our manager applied before, absent from `desired`, owned by nobody else.

    These are what the next apply deletes (SSA releases fields dropped from the intent and
    removes those no other manager owns), so a non-empty answer means OutOfSync.
    """
    entries = [
        e
        for e in manager_entries(live, {manager})
        if e.get("operation") == "Apply" and not e.get("subresource")
    ]
    candidates: list[Path] = []
    for entry in entries:
        _walk_dropped(entry.get("fieldsV1") or {}, desired, live, (), candidates)
    if not candidates:
        return []
    others: set[Path] = set()
    for entry in (live.get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") == manager and not entry.get("subresource"):
            continue
        for path in managed_field_paths(entry.get("fieldsV1") or {}):
            concrete = resolve_field_path(live, path)
            if concrete is not None:
                others.update(concrete[:n] for n in range(1, len(concrete) + 1))
    # A place stays when another manager owns it or anything under it.
    return [path for path in candidates if path not in others]


def _walk_dropped(
    fields: dict[str, Any], desired: Any, live: Any, prefix: Path, out: list[Path]
) -> None:
    for raw, child in fields.items():
        if raw == ".":
            continue
        element = _parse_element(raw)
        # This runs for every owned field of every object on each compare: plain lookups.
        if isinstance(element, str):
            if not isinstance(live, dict) or element not in live:
                continue  # already gone from live: nothing to remove
            position: str | int = element
            desired_child = desired.get(element) if isinstance(desired, dict) else None
        else:
            found = _find_item(live, element)
            if found is None:
                continue
            position = found
            at = _find_item(desired, element)
            desired_child = desired[at] if at is not None else None
        owned_children = len(child) - ("." in child) if isinstance(child, dict) else 0
        if desired_child is None:
            if not owned_children or (not isinstance(element, str) and "." in child):
                out.append((*prefix, position))
                continue
        elif not owned_children:
            continue
        _walk_dropped(child, desired_child, live[position], (*prefix, position), out)


def _find_item(items: Any, element: FieldPathElement) -> int | None:
    if not isinstance(items, list):
        return None
    if isinstance(element, int):
        return element if element < len(items) else None
    assert not isinstance(element, str)
    for index, item in enumerate(items):
        if element.matches(item):
            return index
    return None


def _get(obj: Any, path: Path) -> Any:
    for element in path:
        obj = obj[element]
    return obj


def get_path(obj: Any, path: Path) -> tuple[bool, Any]:
    """`(True, value)` when `path` exists in `obj`, else `(False, None)`."""
    node: Any = obj
    for element in path:
        if isinstance(node, dict) and isinstance(element, str) and element in node:
            node = node[element]
            continue
        if isinstance(node, list) and isinstance(element, int) and 0 <= element < len(node):
            node = node[element]
            continue
        return False, None
    return True, node


def delete_paths(obj: Any, paths: list[Path], *, prune_empty: bool = False) -> Any:
    """A copy of `obj` without `paths`; only the containers along the paths are copied.

    With `prune_empty`, maps left empty by a deletion go too, as the API server drops them.
    """
    # Deepest and highest list indexes first, so earlier deletions do not shift later paths.
    ordered = sorted(
        set(paths),
        key=lambda p: (len(p), [str(e).zfill(12) if isinstance(e, int) else e for e in p]),
        reverse=True,
    )
    for path in ordered:
        if path and get_path(obj, path)[0]:
            obj = _rewrite(obj, path, delete=True, value=None, prune_empty=prune_empty)
    return obj


def set_path(obj: Any, path: Path, value: Any) -> Any:
    """A copy of `obj` with `value` at `path`; the parent must exist. Returns `obj` if it does not."""
    if not path or not get_path(obj, path[:-1])[0]:
        return obj
    parent = _get(obj, path[:-1])
    last = path[-1]
    if isinstance(parent, dict) != isinstance(last, str):
        return obj
    if isinstance(parent, list) and (not isinstance(last, int) or last >= len(parent)):
        return obj
    return _rewrite(obj, path, delete=False, value=value)


def _rewrite(node: Any, path: Path, *, delete: bool, value: Any, prune_empty: bool = False) -> Any:
    head, rest = path[0], path[1:]
    copy: Any = dict(node) if isinstance(node, dict) else list(node)
    if rest:
        child = _rewrite(node[head], rest, delete=delete, value=value, prune_empty=prune_empty)
        if prune_empty and child == {} and isinstance(copy, dict):
            del copy[head]
        else:
            copy[head] = child
    elif delete:
        del copy[head]
    else:
        copy[head] = value
    return copy


# --- normalization -------------------------------------------------------------------------------


def is_secret(obj: dict[str, Any] | None) -> bool:
    """True for a core `v1` Secret."""
    return bool(obj) and obj.get("kind") == "Secret" and obj.get("apiVersion") == "v1"  # type: ignore[union-attr]


def merge_string_data(obj: dict[str, Any]) -> dict[str, Any]:
    """A Secret with `stringData` folded into `data` as base64, as the API server stores it."""
    string_data = obj.get("stringData")
    # a malformed Secret (from a repository) is left as it is: the API server refuses it
    if not isinstance(string_data, dict) or not isinstance(obj.get("data") or {}, dict):
        return obj
    merged = {k: v for k, v in obj.items() if k != "stringData"}
    data = dict(merged.get("data") or {})
    for key, value in string_data.items():
        if value is not None:
            data[key] = base64.b64encode(str(value).encode()).decode()
    merged["data"] = data
    return merged


def normalize(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as compared and shown: no status, server-owned metadata or controller annotations.

    Only the top level and `metadata` are copied; nested values are shared with `obj`.
    """
    result = {k: v for k, v in obj.items() if k != "status"}
    metadata = obj.get("metadata")
    if isinstance(metadata, dict):
        meta = {k: v for k, v in metadata.items() if k not in SERVER_METADATA}
        annotations = meta.get("annotations")
        if isinstance(annotations, dict) and not CONTROLLER_ANNOTATIONS.isdisjoint(annotations):
            kept = {k: v for k, v in annotations.items() if k not in CONTROLLER_ANNOTATIONS}
            if kept:
                meta["annotations"] = kept
            else:
                del meta["annotations"]
        result["metadata"] = meta
    if is_secret(result):
        result = merge_string_data(result)
    return result


# --- rendering -----------------------------------------------------------------------------------

_FIRST_KEYS: Final = ("apiVersion", "kind", "metadata", "name", "namespace")


def _ordered(value: Any) -> Any:
    """Keys sorted, except identity keys first (so a list item starts with its `name`)."""
    if isinstance(value, dict):
        first = [k for k in _FIRST_KEYS if k in value]
        rest = sorted(k for k in value if k not in _FIRST_KEYS)
        return {k: _ordered(value[k]) for k in (*first, *rest)}
    if isinstance(value, list):
        return [_ordered(v) for v in value]
    return value


_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def to_yaml(obj: Any) -> str:
    """Block-style YAML like kubectl prints it (list items not indented under their key)."""
    if obj is None:
        return ""
    return str(
        yaml.dump(
            _ordered(obj),
            Dumper=_Dumper,
            sort_keys=False,
            default_flow_style=False,
            allow_unicode=True,
            width=4096,
        )
    )


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between live and desired, JSON-Patch style: `op` turns live into desired."""

    op: str  # "add", "remove" or "replace"
    path: str  # JSON pointer
    old: Any = None
    new: Any = None


def _pointer(path: Path) -> str:
    return "".join("/" + str(e).replace("~", "~0").replace("/", "~1") for e in path)


def structured_diff(live: Any, desired: Any, path: Path = ()) -> list[Change]:
    """The changes that turn `live` into `desired`; lists of different length are replaced whole."""
    if isinstance(live, dict) and isinstance(desired, dict):
        changes: list[Change] = []
        for key in sorted(live.keys() | desired.keys()):
            sub = (*path, key)
            if key not in desired:
                changes.append(Change("remove", _pointer(sub), old=live[key]))
            elif key not in live:
                changes.append(Change("add", _pointer(sub), new=desired[key]))
            else:
                changes.extend(structured_diff(live[key], desired[key], sub))
        return changes
    if isinstance(live, list) and isinstance(desired, list) and len(live) == len(desired):
        changes = []
        for index, (old, new) in enumerate(zip(live, desired, strict=True)):
            changes.extend(structured_diff(old, new, (*path, index)))
        return changes
    if type(live) is type(desired) and live == desired:
        return []
    return [Change("replace", _pointer(path), old=live, new=desired)]


def fingerprint(obj: Any) -> bytes:
    """Canonical bytes of a JSON value (sorted keys), for cache keys."""
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS, default=str)
