"""The three non-apply patch types of the Kubernetes API: JSON patch, JSON merge patch, and
strategic merge patch (§5.1-5.3 of the API spec).

All functions are pure: they never mutate their inputs and return new objects. Errors carry the
API `reason` the server answers with: `BadRequest` (400) for undecodable patches and malformed
directives, `Invalid` (422) when a JSON-patch operation fails or a patch contradicts its own
directives, `RequestEntityTooLarge` (413) for oversized JSON patches.
"""

from __future__ import annotations

from typing import Any, Final

import jsonpatch
import jsonpointer

from tether.errors import TetherError
from tether.localcluster.schema import ANY_NODE, LIST, Node

MAX_JSON_PATCH_OPERATIONS: Final = 10000

_DIRECTIVE: Final = "$patch"
_RETAIN_KEYS: Final = "$retainKeys"
_SET_ORDER_PREFIX: Final = "$setElementOrder/"
_DELETE_PRIMITIVE_PREFIX: Final = "$deleteFromPrimitiveList/"


class PatchError(TetherError):
    """A patch could not be applied; `reason` is the API status reason to answer with."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _bad(message: str) -> PatchError:
    return PatchError("BadRequest", message)


# ---------------------------------------------------------------------------------------------
# JSON patch (RFC 6902)


def json_patch(obj: Any, ops: Any) -> Any:
    """Apply an RFC 6902 operation list to `obj` and return the patched copy."""
    if not isinstance(ops, list) or not all(isinstance(op, dict) for op in ops):
        raise _bad("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    if len(ops) > MAX_JSON_PATCH_OPERATIONS:
        raise PatchError(
            "RequestEntityTooLarge",
            f"The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, "
            f"got {len(ops)}",
        )
    try:
        return jsonpatch.JsonPatch(ops).apply(obj, in_place=False)
    except jsonpatch.JsonPatchTestFailed as exc:
        raise PatchError("Invalid", f"testing value failed: {exc}") from exc
    except (
        jsonpatch.JsonPatchException,
        jsonpointer.JsonPointerException,
        KeyError,
        IndexError,
        TypeError,
        ValueError,
    ) as exc:
        # Malformed operations (unknown op, missing path) fail while applying in the real server
        # too, so they are 422 like a missing path, not 400.
        raise PatchError("Invalid", str(exc) or exc.__class__.__name__) from exc


# ---------------------------------------------------------------------------------------------
# JSON merge patch (RFC 7386)


def merge_patch(obj: Any, patch: Any) -> Any:
    """Apply an RFC 7386 merge patch: objects merge, `null` deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return copy_json(patch)
    result: dict[str, Any] = dict(obj) if isinstance(obj, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            result[key] = merge_patch(result.get(key), value)
        else:
            result[key] = copy_json(value)
    # Untouched values are still shared with `obj`; copy them so callers may mutate the result.
    for key, value in result.items():
        if key not in patch:
            result[key] = copy_json(value)
    return result


def copy_json(value: Any) -> Any:
    """Deep copy of a JSON value (much faster than copy.deepcopy for plain data)."""
    if isinstance(value, dict):
        return {k: copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_json(v) for v in value]
    return value


# ---------------------------------------------------------------------------------------------
# Strategic merge patch


def strategic_merge_patch(
    obj: dict[str, Any], patch: dict[str, Any], node: Node | None
) -> dict[str, Any]:
    """Apply a strategic merge patch to a built-in object, as the API server does.

    Lists whose field has `patchStrategy=merge` merge by their merge key (primitive lists such as
    `finalizers` as a set union), other lists are replaced. Supported directives: `$patch`
    (`replace`, `delete`, `merge`) in maps and list items, `$retainKeys`, `$setElementOrder/<list>`,
    `$deleteFromPrimitiveList/<list>`; `null` deletes a key.
    """
    if not isinstance(patch, dict):
        raise _bad("unable to decode strategic merge patch: not an object")
    original = copy_json(obj) if isinstance(obj, dict) else {}
    return _merge_map(original, patch, node or ANY_NODE)


def _merge_map(original: dict[str, Any], patch: dict[str, Any], node: Node) -> dict[str, Any]:
    """Merge `patch` into `original` (owned by the caller, modified in place) and return it."""
    directive = patch.get(_DIRECTIVE)
    if directive is not None:
        if directive == "replace":
            return {k: _clean(v) for k, v in patch.items() if k != _DIRECTIVE}
        if directive == "delete":
            return {}
        if directive != "merge":
            raise _bad(f"Unknown patch type: {directive} in map: {patch}")

    retain = patch.get(_RETAIN_KEYS)
    if retain is not None:
        if not isinstance(retain, list):
            raise _bad("invalid patch format of retainKeys")
        kept = set(item for item in retain if isinstance(item, str))
        for key, value in patch.items():
            if not key.startswith("$") and value is not None and key not in kept:
                raise PatchError("Invalid", "patch content doesn't match retainKeys list")
        for key in list(original):
            if key not in kept:
                del original[key]

    handled: set[str] = set()
    for key, order in patch.items():
        if key.startswith(_SET_ORDER_PREFIX):
            list_name = key[len(_SET_ORDER_PREFIX) :]
            _apply_set_element_order(original, patch, list_name, order, node.child(list_name))
            handled.add(list_name)

    for key, value in patch.items():
        if key in handled or key in (_DIRECTIVE, _RETAIN_KEYS) or key.startswith(_SET_ORDER_PREFIX):
            continue
        if key.startswith(_DELETE_PRIMITIVE_PREFIX):
            list_name = key[len(_DELETE_PRIMITIVE_PREFIX) :]
            if not isinstance(value, list):
                raise _bad("invalid patch format of primitive list")
            current = original.get(list_name)
            if isinstance(current, list):
                original[list_name] = [item for item in current if item not in value]
            continue
        if value is None or (isinstance(value, dict) and value.get(_DIRECTIVE) == "delete"):
            # `null` and a map carrying `$patch: delete` both remove the key.
            original.pop(key, None)
            continue
        child = node.child(key)
        current = original.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            original[key] = _merge_map(current, value, child)
        elif isinstance(value, list) and isinstance(current, list):
            original[key] = _merge_list(current, value, child)
        else:
            original[key] = _fresh(value, child)
    return original


def _fresh(value: Any, node: Node) -> Any:
    """A patch value with nothing to merge into: nulls dropped and directives interpreted."""
    if isinstance(value, dict):
        return _merge_map({}, value, node)
    if isinstance(value, list):
        return _merge_list([], value, node)
    return value


def _clean(value: Any) -> Any:
    """A copy of a replacing patch value without the nulls the server would drop."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _merge_key_of(node: Node) -> str:
    return node.patch_merge_key if node.kind == LIST and node.patch_strategy == "merge" else ""


def _is_merge_list(node: Node) -> bool:
    return node.kind == LIST and node.patch_strategy == "merge"


def _merge_list(original: list[Any], patch: list[Any], node: Node) -> list[Any]:
    """Merge a patch list into a live list according to the field's patch strategy."""
    for item in patch:
        if isinstance(item, list):
            raise PatchError("Invalid", "lists of lists are not supported")
    if not _is_merge_list(node):
        if any(isinstance(item, dict) and item.get(_DIRECTIVE) == "replace" for item in patch):
            return [_clean(item) for item in patch if not _is_directive_item(item)]
        return [_fresh(item, node.item()) for item in patch]
    if not original and not patch:
        return original
    merge_key = _merge_key_of(node)
    if not merge_key:
        return _merge_primitive_list(original, patch)
    return _merge_keyed_list(original, patch, merge_key, node.item())


def _is_directive_item(item: Any) -> bool:
    return isinstance(item, dict) and _DIRECTIVE in item


def _merge_primitive_list(original: list[Any], patch: list[Any]) -> list[Any]:
    for item in patch:
        if isinstance(item, dict):
            raise _bad("invalid patch format of primitive list: found a map in a list of scalars")
    merged: list[Any] = []
    for item in original + patch:
        if item not in merged:
            merged.append(item)
    patch_items = [item for item in merged if item in patch]
    server_only = [item for item in merged if item not in patch]
    return _interleave(server_only, patch_items, original, lambda item: item)


def _merge_keyed_list(
    original: list[Any], patch: list[Any], merge_key: str, item_node: Node
) -> list[Any]:
    replace = False
    plain: list[dict[str, Any]] = []
    for item in patch:
        if not isinstance(item, dict):
            raise _bad(f"invalid patch: list item {item!r} is not a map")
        directive = item.get(_DIRECTIVE)
        if directive is None:
            plain.append(item)
        elif directive == "delete":
            if merge_key not in item:
                raise _bad(f"map: {item} does not contain declared merge key: {merge_key}")
            original = [
                entry
                for entry in original
                if not (isinstance(entry, dict) and entry.get(merge_key) == item[merge_key])
            ]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise _bad("merging lists cannot yet be specified in the patch")
        else:
            raise _bad(f"Unknown patch type: {directive} in map: {item}")
    if replace:
        return [_clean(item) for item in plain]

    merged = list(original)
    for item in plain:
        if merge_key not in item:
            raise _bad(f"map: {item} does not contain declared merge key: {merge_key}")
        for index, entry in enumerate(merged):
            if isinstance(entry, dict) and entry.get(merge_key) == item[merge_key]:
                merged[index] = _merge_map(entry, item, item_node)
                break
        else:
            merged.append(_fresh(item, item_node))

    patch_keys = [item[merge_key] for item in plain]
    patch_items = [e for e in merged if isinstance(e, dict) and e.get(merge_key) in patch_keys]
    server_only = [
        e for e in merged if not (isinstance(e, dict) and e.get(merge_key) in patch_keys)
    ]
    patch_items.sort(key=lambda e: patch_keys.index(e.get(merge_key)))
    return _interleave(server_only, patch_items, original, lambda e: _key_of(e, merge_key))


def _key_of(item: Any, merge_key: str) -> Any:
    return item.get(merge_key) if isinstance(item, dict) else item


def _index_in(identity: Any, reference: list[Any], ident: Any) -> int:
    for index, entry in enumerate(reference):
        if ident(entry) == identity:
            return index
    return -1


def _interleave(
    server_only: list[Any], patch_items: list[Any], live: list[Any], ident: Any
) -> list[Any]:
    """Merge two ordered lists keeping each one's order, placing items by their live position.

    Patch items take precedence: a server-only item goes before a patch item only when both are
    in the live list and the server-only item came first there (what the API server does; items
    new to the list therefore come before the remaining server-only items).
    """
    out: list[Any] = []
    i = j = 0
    while i < len(server_only) or j < len(patch_items):
        if i >= len(server_only):
            out.append(patch_items[j])
            j += 1
        elif j >= len(patch_items):
            out.append(server_only[i])
            i += 1
        else:
            left = _index_in(ident(server_only[i]), live, ident)
            right = _index_in(ident(patch_items[j]), live, ident)
            if left >= 0 and right >= 0 and left < right:
                out.append(server_only[i])
                i += 1
            else:
                out.append(patch_items[j])
                j += 1
    return out


def _apply_set_element_order(
    original: dict[str, Any], patch: dict[str, Any], list_name: str, order: Any, node: Node
) -> None:
    """Merge `patch[list_name]` into `original[list_name]`, then order it by the directive."""
    if not isinstance(order, list):
        raise _bad("invalid patch format of setElementOrder list")
    merge_key = _merge_key_of(node)
    live = original.get(list_name)
    patch_list = patch.get(list_name)
    if live is not None and not isinstance(live, list):
        live = None
    if patch_list is not None and not isinstance(patch_list, list):
        raise _bad("invalid patch format of setElementOrder list")
    if merge_key:
        for entry in order:
            if not isinstance(entry, dict) or merge_key not in entry:
                raise _bad("invalid patch format of setElementOrder list")
        wanted = [entry[merge_key] for entry in order]
    else:
        wanted = list(order)
    ident = (lambda e: _key_of(e, merge_key)) if merge_key else (lambda e: e)

    # The patch list must follow the directive's relative order.
    position = -1
    for item in patch_list or []:
        if _is_directive_item(item):
            continue
        identity = ident(item)
        if identity not in wanted or wanted.index(identity) < position:
            raise _bad("invalid patch format of setElementOrder list")
        position = wanted.index(identity)

    if live is None and patch_list is None:
        return
    if patch_list is None:
        merged = list(live or [])
    elif _is_merge_list(node):
        merged = _merge_list(live or [], patch_list, node)
    else:
        merged = [_fresh(item, node.item()) for item in patch_list]
    patch_items = [e for e in merged if ident(e) in wanted]
    server_only = [e for e in merged if ident(e) not in wanted]
    patch_items.sort(key=lambda e: wanted.index(ident(e)))
    original[list_name] = _interleave(server_only, patch_items, live or [], ident)
