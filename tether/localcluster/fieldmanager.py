"""Field management: `metadata.managedFields` and server-side apply (§5.4-5.8 of the API spec).

Field sets are kept in their FieldsV1 form, a trie of dicts whose keys are path elements
(`f:<field>`, `k:<sorted compact json of the key fields>`, `v:<json value>`, `i:<index>`) and
whose leaves are `{}`. A node is a member of the set when it is a leaf or carries `"."`; a node
without `"."` only leads to members below it. The root is never a member, so an empty root is the
empty set. Tries are never mutated once built, so set operations may share subtrees.

The module is pure: `apply` and `update_managed_fields` take plain objects and return new ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import orjson

from tether.errors import TetherError
from tether.localcluster.patch import copy_json
from tether.localcluster.schema import LIST, MAP_LIST, Node, default_object_node

FieldSet = dict[str, Any]

LAST_APPLIED_ANNOTATION: Final = "kubectl.kubernetes.io/last-applied-configuration"
MAX_UPDATE_MANAGERS: Final = 10
ANCIENT_CHANGES_MANAGER: Final = "ancient-changes"
_KUBECTL_MANAGER: Final = "kubectl"

# Never tracked (apimachinery stripmeta.go); removed with a non-recursive difference.
_STRIP: Final[FieldSet] = {
    "f:apiVersion": {},
    "f:kind": {},
    "f:metadata": {
        ".": {},
        "f:name": {},
        "f:namespace": {},
        "f:uid": {},
        "f:creationTimestamp": {},
        "f:generation": {},
        "f:resourceVersion": {},
        "f:managedFields": {},
        "f:selfLink": {},
        "f:clusterName": {},
    },
}

_ABSENT: Final = object()


# ---------------------------------------------------------------------------------------------
# Set operations on FieldsV1 tries. Node-level helpers treat `{}` as a member leaf.


def _is_member(node: FieldSet) -> bool:
    return not node or "." in node


def _make(children: FieldSet, member: bool) -> FieldSet | None:
    """A trie node from its children and membership, None when it would hold nothing."""
    if member:
        if children:
            children["."] = {}
        return children
    return children or None


def _union_children(a: FieldSet, b: FieldSet) -> FieldSet:
    out = {k: v for k, v in a.items() if k != "."}
    for key, bv in b.items():
        if key == ".":
            continue
        av = out.get(key)
        out[key] = bv if av is None else _union_node(av, bv)
    return out


def _union_node(a: FieldSet, b: FieldSet) -> FieldSet:
    if a is b:
        return a
    member = _is_member(a) or _is_member(b)
    result = _make(_union_children(a, b), member)
    return result if result is not None else {}


def _difference_children(a: FieldSet, b: FieldSet) -> FieldSet:
    out: FieldSet = {}
    for key, av in a.items():
        if key == ".":
            continue
        bv = b.get(key)
        if bv is None:
            out[key] = av
            continue
        rest = _difference_node(av, bv)
        if rest is not None:
            out[key] = rest
    return out


def _difference_node(a: FieldSet, b: FieldSet) -> FieldSet | None:
    if a is b:
        return None
    member = _is_member(a) and not _is_member(b)
    children = _difference_children(a, b) if len(a) > (1 if "." in a else 0) else {}
    return _make(children, member)


def _intersection_children(a: FieldSet, b: FieldSet) -> FieldSet:
    out: FieldSet = {}
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    for key in small:
        if key == "." or key not in large:
            continue
        both = _intersection_node(a[key], b[key])
        if both is not None:
            out[key] = both
    return out


def _intersection_node(a: FieldSet, b: FieldSet) -> FieldSet | None:
    member = _is_member(a) and _is_member(b)
    return _make(_intersection_children(a, b), member)


def union(a: FieldSet, b: FieldSet) -> FieldSet:
    """The union of two field sets."""
    if not a:
        return b
    if not b:
        return a
    return _union_children(a, b)


def difference(a: FieldSet, b: FieldSet) -> FieldSet:
    """The members of `a` that are not members of `b` (non-recursive, like SMD's Difference)."""
    if not a or not b:
        return a
    return _difference_children(a, b)


def intersection(a: FieldSet, b: FieldSet) -> FieldSet:
    """The members of both field sets."""
    if not a or not b:
        return {}
    return _intersection_children(a, b)


def _pe_sort_key(pe: str) -> tuple[Any, ...]:
    """SMD's order of path elements: field names, then keys, then values, then indexes."""
    tag = pe[:2]
    if tag == "f:":
        return (0, pe[2:])
    if tag == "k:":
        try:
            key = json.loads(pe[2:])
        except ValueError:
            return (1, (), pe)
        if isinstance(key, dict):
            return (1, tuple((name, _value_sort_key(key[name])) for name in sorted(key)), pe)
        return (1, (), pe)
    if tag == "v:":
        try:
            return (2, _value_sort_key(json.loads(pe[2:])), pe)
        except ValueError:
            return (2, (9, pe), pe)
    if tag == "i:":
        try:
            return (3, int(pe[2:]))
        except ValueError:
            return (3, -1, pe)
    return (4, pe)


def _value_sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool):
        return (2, value)
    if isinstance(value, (int, float)):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    if value is None:
        return (5, 0)
    return (3 if isinstance(value, list) else 4, orjson.dumps(value, option=orjson.OPT_SORT_KEYS))


def to_fields_v1(fields: FieldSet) -> dict[str, Any]:
    """The FieldsV1 JSON form of a set: `"."` first, then siblings in SMD order, leaves `{}`."""
    return _sorted_node(fields)


def _sorted_node(node: FieldSet) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "." in node and len(node) > 1:
        out["."] = {}
    keys = [k for k in node if k != "."]
    if len(keys) > 1:
        keys.sort(key=_pe_sort_key)
    for key in keys:
        child = node[key]
        out[key] = _sorted_node(child) if child else {}
    return out


def _element_string(pe: str) -> str:
    tag, body = pe[:2], pe[2:]
    if tag == "f:":
        return "." + body
    if tag == "k:":
        try:
            key = json.loads(body)
        except ValueError:
            return "[" + body + "]"
        parts = [f"{name}={_json(key[name])}" for name in sorted(key)]
        return "[" + ",".join(parts) + "]"
    if tag == "v:":
        return "[=" + body + "]"
    if tag == "i:":
        return "[" + body + "]"
    return pe


def path_string(path: tuple[str, ...]) -> str:
    """SMD's string form of a path, e.g. `.spec.template.spec.containers[name="nginx"].image`."""
    return "".join(_element_string(pe) for pe in path)


def iter_paths(fields: FieldSet) -> Iterator[tuple[str, ...]]:
    """Every member path of a set, in SMD's iteration order (members, then children, sorted)."""
    yield from _iter_level(fields, ())


def _iter_level(node: FieldSet, prefix: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    keys = sorted((k for k in node if k != "."), key=_pe_sort_key)
    for key in keys:
        if _is_member(node[key]):
            yield (*prefix, key)
    for key in keys:
        child = node[key]
        if child and any(k != "." for k in child):
            yield from _iter_level(child, (*prefix, key))


# ---------------------------------------------------------------------------------------------
# Path elements of list items.


def _json(value: Any) -> str:
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _item_pe(item: Any, node: Node, index: int) -> str:
    """The path element of a list item: by key fields, by value, or (no keys known) by index."""
    if node.list_type == MAP_LIST:
        if isinstance(item, dict) and node.keys:
            key: dict[str, Any] = {}
            defaults = node.key_defaults
            for name in node.keys:
                if name in item:
                    key[name] = item[name]
                elif name in defaults:
                    key[name] = defaults[name]
            return "k:" + _json(key)
        return f"i:{index}"
    return "v:" + _json(item)


def _indexed(items: list[Any], node: Node) -> dict[str, Any]:
    """Items by path element; a repeated element keeps its first occurrence."""
    out: dict[str, Any] = {}
    for index, item in enumerate(items):
        pe = _item_pe(item, node, index)
        if pe not in out:
            out[pe] = item
    return out


# ---------------------------------------------------------------------------------------------
# Field set of an object (what an Apply owns).


def _value_set(value: Any, node: Node) -> FieldSet:
    """The set below `value`; `{}` means the value itself is a leaf member."""
    if node.is_leaf:
        return {}
    if isinstance(value, dict):
        out: FieldSet = {}
        for key, sub in value.items():
            child_node = node.child(key)
            sub_set = _value_set(sub, child_node)
            if sub_set and not node.declares(key):
                # Map keys (labels, data, free-form) are members even when they have children.
                sub_set["."] = {}
            out["f:" + key] = sub_set
        return out
    if isinstance(value, list) and node.kind == LIST:
        out = {}
        item_node = node.item()
        for index, item in enumerate(value):
            item_set = _value_set(item, item_node)
            if item_set:
                item_set["."] = {}
            out[_item_pe(item, node, index)] = item_set
        return out
    return {}


def fields_of(obj: dict[str, Any], node: Node | None) -> FieldSet:
    """The field set an Apply of `obj` owns: every leaf, list item and map key, untracked
    metadata (name, namespace, resourceVersion, …) excluded."""
    return difference(_value_set(obj, node or default_object_node()), _STRIP)


# ---------------------------------------------------------------------------------------------
# Comparison of two objects (SMD's Compare): what changed and what was removed.


def _implicit_empty(node: Node) -> Any:
    return [] if node.kind == LIST else {}


def _compare(old: Any, new: Any, node: Node) -> tuple[FieldSet | None, FieldSet | None]:
    """Fields added or modified (first) and removed (second) going from `old` to `new`.

    `_ABSENT` marks a missing value. A non-leaf value that appears or disappears is itself a
    member of the result, which is where the `"."` of newly created parents comes from.
    """
    if old is new:
        return None, None
    old_absent = old is _ABSENT
    new_absent = new is _ABSENT
    old_dict = isinstance(old, dict)
    new_dict = isinstance(new, dict)
    old_list = isinstance(old, list)
    new_list = isinstance(new, list)
    structured = (old_dict or new_dict) and not (old_list or new_list)
    listed = (old_list or new_list) and not (old_dict or new_dict) and node.kind == LIST
    if node.is_leaf or not (structured or listed) or (not old and not new):
        if old_absent:
            return {}, None
        if new_absent:
            return None, {}
        if old != new or type(old) is not type(new):
            return {}, None
        return None, None
    if not old_absent and not new_absent and old == new:
        return None, None

    changed: FieldSet = {}
    removed: FieldSet = {}
    if structured:
        old_map = old if old_dict else {}
        new_map = new if new_dict else {}
        for key, new_value in new_map.items():
            child = node.child(key)
            old_value = old_map.get(key, _ABSENT)
            if old_value is _ABSENT and child.implicit and not old_absent:
                old_value = _implicit_empty(child)
            c, r = _compare(old_value, new_value, child)
            if c is not None:
                changed["f:" + key] = c
            if r is not None:
                removed["f:" + key] = r
        for key, old_value in old_map.items():
            if key in new_map:
                continue
            child = node.child(key)
            new_value = _implicit_empty(child) if child.implicit and not new_absent else _ABSENT
            c, r = _compare(old_value, new_value, child)
            if c is not None:
                changed["f:" + key] = c
            if r is not None:
                removed["f:" + key] = r
    else:
        item_node = node.item()
        old_items = _indexed(old, node) if old_list else {}
        new_items = _indexed(new, node) if new_list else {}
        for pe, new_value in new_items.items():
            c, r = _compare(old_items.get(pe, _ABSENT), new_value, item_node)
            if c is not None:
                changed[pe] = c
            if r is not None:
                removed[pe] = r
        for pe, old_value in old_items.items():
            if pe not in new_items:
                c, r = _compare(old_value, _ABSENT, item_node)
                if r is not None:
                    removed[pe] = r
    return _make(changed, old_absent), _make(removed, new_absent)


def _compare_objects(
    old: dict[str, Any], new: dict[str, Any], node: Node
) -> tuple[FieldSet, FieldSet]:
    """(added or modified, removed) between two whole objects, untracked fields excluded."""
    if old is new:
        return {}, {}
    changed, removed = _compare(old, new, node)
    return (
        difference(_root(changed), _STRIP),
        difference(_root(removed), _STRIP),
    )


def _root(trie: FieldSet | None) -> FieldSet:
    if not trie:
        return {}
    if "." in trie:
        return {k: v for k, v in trie.items() if k != "."}
    return trie


# ---------------------------------------------------------------------------------------------
# Merging an apply intent into the live object, and removing released fields.


def _merge(live: Any, config: Any, node: Node) -> Any:
    """`config` merged over `live`: maps merge, keyed/set lists merge by item, leaves replace.

    The result shares untouched subtrees with both inputs; callers copy before handing it out.
    """
    if node.is_leaf:
        return config
    if isinstance(config, dict):
        if not isinstance(live, dict):
            live = {}
        out = dict(live)
        for key, value in config.items():
            if value is None:
                out.pop(key, None)
            else:
                out[key] = _merge(live.get(key), value, node.child(key))
        return out
    if isinstance(config, list) and node.kind == LIST:
        return _merge_items(live if isinstance(live, list) else [], config, node)
    return config


def _merge_items(live: list[Any], config: list[Any], node: Node) -> list[Any]:
    """Merge keyed or set list items, keeping the order SMD produces.

    Items only in `live` stay where they were; `config` items come in `config` order, an item
    shared by both being emitted when its turn comes in `config`.
    """
    item_node = node.item()
    live_items = _indexed(live, node)
    config_items = _indexed(config, node)
    live_order = list(live_items)
    config_order = list(config_items)
    shared = [pe for pe in config_order if pe in live_items]
    shared_index = 0
    out: list[Any] = []
    li = ri = 0
    while li < len(live_order) or ri < len(config_order):
        if li < len(live_order) and ri < len(config_order):
            pe = live_order[li]
            if pe == config_order[ri]:
                out.append(_merge(live_items[pe], config_items[pe], item_node))
                li += 1
                ri += 1
                shared_index += 1
                continue
            next_shared = shared[shared_index] if shared_index < len(shared) else None
            if pe in config_items and next_shared is not None and next_shared != pe:
                # Shared, but config wants it later: it is emitted on config's turn.
                li += 1
                continue
        if li < len(live_order) and live_order[li] not in config_items:
            out.append(live_items[live_order[li]])
            li += 1
            continue
        if ri < len(config_order):
            pe = config_order[ri]
            out.append(_merge(live_items.get(pe), config_items[pe], item_node))
            ri += 1
            if shared_index < len(shared) and shared[shared_index] == pe:
                shared_index += 1
            continue
        # Remaining live items are shared ones already emitted from config.
        li += 1
    return out


def _remove(value: Any, fields: FieldSet, node: Node) -> Any:
    """`value` without the members of `fields`; containers emptied by the removal disappear."""
    if isinstance(value, dict):
        out = dict(value)
        for pe, sub in fields.items():
            if not pe.startswith("f:"):
                continue
            key = pe[2:]
            if key not in out:
                continue
            if _is_member(sub):
                del out[key]
                continue
            kept = _remove(out[key], sub, node.child(key))
            if kept is _ABSENT:
                del out[key]
            else:
                out[key] = kept
        return _ABSENT if value and not out else out
    if isinstance(value, list) and node.kind == LIST:
        item_node = node.item()
        items: list[Any] = []
        for index, item in enumerate(value):
            sub = fields.get(_item_pe(item, node, index))
            if sub is None:
                items.append(item)
            elif not _is_member(sub):
                kept = _remove(item, sub, item_node)
                if kept is not _ABSENT:
                    items.append(kept)
        return _ABSENT if value and not items else items
    return value


# ---------------------------------------------------------------------------------------------
# managedFields entries.


@dataclass(slots=True)
class _Entry:
    manager: str
    operation: str
    api_version: str
    subresource: str
    time: str | None
    fields: FieldSet
    encoded: dict[str, Any] | None = None  # the FieldsV1 as read, reused while unchanged

    @property
    def identity(self) -> tuple[str, str, str, str]:
        # Appliers keep one entry across versions (apimachinery BuildManagerIdentifier).
        version = "" if self.operation == "Apply" else self.api_version
        return (self.manager, self.operation, version, self.subresource)

    def identity_json(self) -> str:
        return _identity_json(self.manager, self.operation, self.api_version, self.subresource)

    def encode(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"manager": self.manager, "operation": self.operation}
        if self.api_version:
            entry["apiVersion"] = self.api_version
        if self.time:
            entry["time"] = self.time
        entry["fieldsType"] = "FieldsV1"
        if self.encoded is not None:
            entry["fieldsV1"] = copy_json(self.encoded)
        else:
            entry["fieldsV1"] = to_fields_v1(self.fields)
        if self.subresource:
            entry["subresource"] = self.subresource
        return entry


def _identity_json(manager: str, operation: str, api_version: str, subresource: str) -> str:
    """The manager identifier apimachinery builds (and sorts conflict messages by)."""
    ident: dict[str, str] = {}
    if manager:
        ident["manager"] = manager
    if operation:
        ident["operation"] = operation
    if api_version and operation != "Apply":
        ident["apiVersion"] = api_version
    if subresource:
        ident["subresource"] = subresource
    return json.dumps(ident, separators=(",", ":"), ensure_ascii=False)


def _decode_entries(raw: Any) -> list[_Entry] | None:
    """managedFields as entries, or None when they are malformed or repeat an identity."""
    if not isinstance(raw, list):
        return None
    entries: list[_Entry] = []
    seen: set[tuple[str, str, str, str]] = set()
    for item in raw:
        if not isinstance(item, dict):
            return None
        fields = item.get("fieldsV1")
        if fields is None:
            fields = {}
        if not isinstance(fields, dict):
            return None
        time = item.get("time")
        entry = _Entry(
            manager=str(item.get("manager") or ""),
            operation=str(item.get("operation") or ""),
            api_version=str(item.get("apiVersion") or ""),
            subresource=str(item.get("subresource") or ""),
            time=time if isinstance(time, str) else None,
            fields=fields,
            encoded=fields,
        )
        if entry.identity in seen:
            return None
        seen.add(entry.identity)
        entries.append(entry)
    return entries


def _entries_of(obj: dict[str, Any] | None) -> list[_Entry]:
    if not obj:
        return []
    raw = (obj.get("metadata") or {}).get("managedFields")
    if not raw:
        return []
    return _decode_entries(raw) or []


def _set_fields(entry: _Entry, fields: FieldSet) -> None:
    if fields is not entry.fields:
        entry.fields = fields
        entry.encoded = None


def _encode_entries(entries: list[_Entry]) -> list[dict[str, Any]]:
    """Encode the non-empty entries in the API server's order (operation, time, manager, …)."""
    kept = [e for e in entries if e.fields]
    kept.sort(key=lambda e: (e.operation, e.time or "", e.manager, e.api_version, e.subresource))
    return [e.encode() for e in kept]


def _cap_update_managers(entries: list[_Entry]) -> list[_Entry]:
    """Fold the oldest Update entries into `ancient-changes` buckets (one per apiVersion)."""
    updaters = [e for e in entries if e.operation != "Apply" and e.fields]
    if len(updaters) <= MAX_UPDATE_MANAGERS:
        return entries
    updaters.sort(key=lambda e: (e.time or "", e.identity_json()))
    removed: set[int] = set()
    buckets: dict[str, _Entry] = {}
    first_of_version: dict[str, _Entry] = {}
    remaining = len(updaters)
    for entry in updaters:
        if remaining <= MAX_UPDATE_MANAGERS:
            break
        version = entry.api_version
        first = first_of_version.get(version)
        if first is None:
            first_of_version[version] = entry
            continue
        bucket = buckets.get(version)
        if bucket is None:
            bucket = _Entry(
                ANCIENT_CHANGES_MANAGER, "Update", version, "", first.time, first.fields
            )
            buckets[version] = bucket
            removed.add(id(first))
        _set_fields(bucket, union(bucket.fields, entry.fields))
        bucket.time = entry.time
        removed.add(id(entry))
        remaining -= 1
    kept = [e for e in entries if id(e) not in removed]
    for bucket in buckets.values():
        existing = next((e for e in kept if e.identity == bucket.identity), None)
        if existing is not None:
            _set_fields(existing, union(existing.fields, bucket.fields))
            existing.time = bucket.time
        else:
            kept.append(bucket)
    return kept


def _body(obj: dict[str, Any]) -> dict[str, Any]:
    """`obj` without metadata.managedFields (shallow copies; the input is left alone)."""
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        body = dict(obj)
        body["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
        return body
    return obj


# ---------------------------------------------------------------------------------------------
# Conflicts.


@dataclass(frozen=True, slots=True)
class Conflict:
    """One field an apply would change that another manager owns."""

    manager: str
    operation: str
    api_version: str
    subresource: str
    field: str

    @property
    def owner(self) -> str:
        """The owner as the API server prints it: `"name"`, `"name" using v1`, …"""
        text = json.dumps(self.manager, ensure_ascii=False)
        if self.subresource:
            text += f" with subresource {json.dumps(self.subresource, ensure_ascii=False)}"
        if self.operation == "Update":
            text += f" using {self.api_version}"
        return text

    def identity_json(self) -> str:
        return _identity_json(self.manager, self.operation, self.api_version, self.subresource)


class ApplyConflict(TetherError):
    """A server-side apply would change fields owned by other managers (HTTP 409)."""

    def __init__(self, conflicts: list[Conflict]) -> None:
        self.conflicts = conflicts
        super().__init__(_conflict_message(conflicts))

    def causes(self) -> list[dict[str, str]]:
        """The `details.causes` of the 409 Status."""
        return [
            {
                "reason": "FieldManagerConflict",
                "message": f"conflict with {c.owner}",
                "field": c.field,
            }
            for c in self.conflicts
        ]


def _conflict_message(conflicts: list[Conflict]) -> str:
    if len(conflicts) == 1:
        c = conflicts[0]
        return f"Apply failed with 1 conflict: conflict with {c.owner}: {c.field}"
    groups: dict[str, list[Conflict]] = {}
    for c in conflicts:
        groups.setdefault(c.identity_json(), []).append(c)
    lines: list[str] = []
    for ident in sorted(groups):
        group = groups[ident]
        lines.append(f"conflicts with {group[0].owner}:")
        lines.extend(f"- {c.field}" for c in group)
    return f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)


def _conflicts_of(entry: _Entry, fields: FieldSet) -> list[Conflict]:
    return [
        Conflict(
            entry.manager, entry.operation, entry.api_version, entry.subresource, path_string(p)
        )
        for p in iter_paths(fields)
    ]


# ---------------------------------------------------------------------------------------------
# Server-side apply.


def apply(
    live: dict[str, Any] | None,
    intent: dict[str, Any],
    *,
    manager: str,
    force: bool,
    node: Node | None,
    api_version: str,
    now: str,
    subresource: str | None = None,
) -> dict[str, Any]:
    """Server-side apply of `intent` by `manager` onto `live` (None: the object is created).

    Returns a new object: live merged with the intent, the fields this manager applied before
    but no longer sets removed when nobody else owns them, and `metadata.managedFields` updated.
    Raises ApplyConflict when the apply would change a field another manager owns and `force`
    is false. `intent.metadata.managedFields` is ignored (the server rejects it beforehand).
    """
    node = node or default_object_node()
    sub = subresource or ""
    live_body = _body(live) if live else {}
    intent_body = _body(intent)
    entries = _entries_of(live)

    intent_set = fields_of(intent_body, node)
    mine = next(
        (e for e in entries if e.identity == (manager, "Apply", "", sub)),
        None,
    )
    others = [e for e in entries if e is not mine]

    merged = _merge(live_body, intent_body, node)
    if mine is not None and mine.fields:
        owned_elsewhere = intent_set
        for other in others:
            owned_elsewhere = union(owned_elsewhere, other.fields)
        released = difference(mine.fields, owned_elsewhere)
        if released:
            pruned = _remove(merged, released, node)
            merged = pruned if pruned is not _ABSENT else {}

    changed, removed = _compare_objects(live_body, merged, node)

    conflicts: list[tuple[_Entry, FieldSet]] = []
    for other in others:
        taken = intersection(other.fields, changed)
        if taken:
            conflicts.append((other, taken))
    if conflicts and not force:
        remaining = _conflicts_beyond_last_applied(conflicts, live, manager, node)
        if remaining:
            found = [c for entry, taken in remaining for c in _conflicts_of(entry, taken)]
            found.sort(key=lambda c: c.identity_json())
            raise ApplyConflict(found)

    for other, taken in conflicts:
        _set_fields(other, difference(other.fields, taken))
    if removed:
        for other in others:
            _set_fields(other, difference(other.fields, removed))

    object_changed = bool(changed or removed)
    if mine is None:
        mine = _Entry(manager, "Apply", api_version, sub, now, intent_set, None)
        entries.append(mine)
    else:
        if object_changed or mine.fields != intent_set:
            mine.time = now
        _set_fields(mine, intent_set)
        mine.api_version = api_version

    result = copy_json(merged)
    meta = result.setdefault("metadata", {})
    managed = _encode_entries(entries)
    if managed:
        meta["managedFields"] = managed
    else:
        meta.pop("managedFields", None)
    if manager == _KUBECTL_MANAGER:
        _refresh_last_applied(result, intent_body)
    return result


def _conflicts_beyond_last_applied(
    conflicts: list[tuple[_Entry, FieldSet]],
    live: dict[str, Any] | None,
    manager: str,
    node: Node,
) -> list[tuple[_Entry, FieldSet]]:
    """The conflicts left after the kubectl client-side-apply migration allowance.

    An apply by `kubectl` onto an object carrying a last-applied annotation may take over the
    fields that annotation still describes (values unchanged in live) without forcing.
    """
    if manager != _KUBECTL_MANAGER or not live:
        return conflicts
    annotations = (live.get("metadata") or {}).get("annotations") or {}
    raw = annotations.get(LAST_APPLIED_ANNOTATION)
    if not raw or not isinstance(raw, str):
        return conflicts
    try:
        last_applied = json.loads(raw)
    except ValueError:
        return conflicts
    if not isinstance(last_applied, dict):
        return conflicts
    live_body = _body(live)
    allowed = fields_of(last_applied, node)
    differs, missing = _compare_objects(last_applied, live_body, node)
    allowed = difference(difference(allowed, differs), missing)
    remaining: list[tuple[_Entry, FieldSet]] = []
    for entry, taken in conflicts:
        rest = difference(taken, allowed)
        if rest:
            remaining.append((entry, rest))
    return remaining


def _refresh_last_applied(result: dict[str, Any], intent: dict[str, Any]) -> None:
    """Keep kubectl's last-applied annotation in step with what `kubectl` applied server-side."""
    annotations = (result.get("metadata") or {}).get("annotations")
    if not isinstance(annotations, dict) or LAST_APPLIED_ANNOTATION not in annotations:
        return
    applied = copy_json(intent)
    applied_annotations = (applied.get("metadata") or {}).get("annotations")
    if isinstance(applied_annotations, dict):
        applied_annotations.pop(LAST_APPLIED_ANNOTATION, None)
    text = json.dumps(applied, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # Go's encoder escapes these HTML characters; match it byte for byte.
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    annotations[LAST_APPLIED_ANNOTATION] = text + "\n"


# ---------------------------------------------------------------------------------------------
# Non-apply writes.


def update_managed_fields(
    old: dict[str, Any] | None,
    new: dict[str, Any],
    *,
    manager: str,
    api_version: str,
    now: str,
    subresource: str | None = None,
    node: Node | None,
) -> list[dict[str, Any]]:
    """The managedFields of `new` after a non-apply write (create, update, any non-apply patch).

    `manager` takes every field whose value the write created or changed, other managers lose
    those fields and every removed one. Managed fields written by the client are honoured when
    they are a non-empty valid list (a `[{}]` wipes tracking); an empty list keeps the old ones.
    """
    node = node or default_object_node()
    sub = subresource or ""
    entries = _client_entries(new, sub)
    if entries is None:
        entries = _entries_of(old)

    old_body = _body(old) if old else {}
    changed, removed = _compare_objects(old_body, _body(new), node)
    identity = (manager, "Update", api_version, sub)
    mine = next((e for e in entries if e.identity == identity), None)

    if changed or removed:
        for entry in entries:
            fields = entry.fields
            if changed:
                fields = difference(fields, changed)
            if removed:
                fields = difference(fields, removed)
            _set_fields(entry, fields)

    taken = difference(changed, removed)
    if taken:
        if mine is None:
            mine = _Entry(manager, "Update", api_version, sub, now, taken, None)
            entries.append(mine)
        else:
            _set_fields(mine, union(taken, mine.fields))
            mine.time = now
    entries = _cap_update_managers(entries)
    return _encode_entries(entries)


def _client_entries(new: dict[str, Any], subresource: str) -> list[_Entry] | None:
    """managedFields the client wrote itself, or None to keep the stored ones."""
    if subresource:
        return None
    raw = (new.get("metadata") or {}).get("managedFields")
    if not raw or not isinstance(raw, list):
        return None
    if raw == [{}]:
        return []
    return _decode_entries(raw)
