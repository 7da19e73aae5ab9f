"""What applying an ApplicationSet's generated Applications would do (pure): which to create,
update, delete or leave, under its ``syncPolicy`` and ``ignoreApplicationDifferences``.

Ownership is the owner reference to the set's uid (``controller: true``), as Argo CD writes it:
an Application of the same name that the set does not own is never taken over nor deleted (the
plan says so as a conflict). ``applicationsSync``: ``sync`` (the default) creates, updates and
deletes; ``create-update`` never deletes; ``create-delete`` never updates; ``create-only``
only creates. An update keeps what the set does not manage: the refresh annotation, the
annotations and labels named in ``preservedFields``, and the fields
``ignoreApplicationDifferences`` names (JSON pointers) for the Applications it matches.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tether.appsets.errors import AppSetError
from tether.names import ARGO_API_VERSION, REFRESH_ANNOTATION

POLICIES = ("sync", "create-update", "create-delete", "create-only")
APPLICATION_SET_KIND = "ApplicationSet"


@dataclass(frozen=True)
class Plan:
    create: tuple[dict[str, Any], ...] = ()
    update: tuple[dict[str, Any], ...] = ()
    delete: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    #: names generated that belong to something else (left alone, told on the set's status)
    conflicts: tuple[str, ...] = ()
    #: what the policy held back, for the status (``would update x``)
    held: tuple[str, ...] = field(default_factory=tuple)


def owner_reference(appset: Mapping[str, Any]) -> dict[str, Any]:
    meta = appset.get("metadata") or {}
    return {
        "apiVersion": ARGO_API_VERSION,
        "kind": APPLICATION_SET_KIND,
        "name": meta.get("name"),
        "uid": meta.get("uid"),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def owned_by(app: Mapping[str, Any], uid: str) -> bool:
    refs = (app.get("metadata") or {}).get("ownerReferences") or []
    return any(
        isinstance(r, Mapping) and r.get("uid") == uid and r.get("kind") == APPLICATION_SET_KIND
        for r in refs
    )


def _policy(appset: Mapping[str, Any]) -> str:
    sync = ((appset.get("spec") or {}).get("syncPolicy") or {}).get("applicationsSync") or "sync"
    if sync not in POLICIES:
        raise AppSetError(f"syncPolicy.applicationsSync must be one of {', '.join(POLICIES)}")
    return str(sync)


def _pointer_parts(pointer: str) -> list[str]:
    if pointer in ("", "/"):
        return []
    if not pointer.startswith("/"):
        raise AppSetError(f"ignoreApplicationDifferences: {pointer!r} is not a JSON pointer")
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer[1:].split("/")]


def _copy_at(source: Any, target: Any, parts: list[str]) -> Any:
    """``target`` with the value ``source`` holds at ``parts`` (removed when it holds none)."""
    if not parts:
        return copy.deepcopy(source)
    if not isinstance(target, dict):
        return target
    key, rest = parts[0], parts[1:]
    held = source.get(key) if isinstance(source, Mapping) else None
    if not rest:
        if isinstance(source, Mapping) and key in source:
            target[key] = copy.deepcopy(held)
        else:
            target.pop(key, None)
        return target
    if key in target or held is not None:
        target[key] = _copy_at(held, target.get(key, {}), rest)
    return target


def _ignored(appset: Mapping[str, Any], name: str) -> list[list[str]]:
    rules = (appset.get("spec") or {}).get("ignoreApplicationDifferences") or []
    found = []
    for rule in rules:
        if not isinstance(rule, Mapping) or rule.get("name") not in (None, "", name):
            continue
        if rule.get("jqPathExpressions"):
            raise AppSetError(
                "ignoreApplicationDifferences: jqPathExpressions are not supported yet; use "
                "jsonPointers"
            )
        found += [_pointer_parts(str(p)) for p in rule.get("jsonPointers") or []]
    return found


def _preserved(appset: Mapping[str, Any], kind: str) -> tuple[str, ...]:
    fields = ((appset.get("spec") or {}).get("preservedFields") or {}).get(kind) or []
    return tuple(str(f) for f in fields)


def merged_with_live(
    appset: Mapping[str, Any], desired: dict[str, Any], live: Mapping[str, Any]
) -> dict[str, Any]:
    """``desired`` keeping what the set leaves to others on ``live``."""
    out = copy.deepcopy(desired)
    meta, live_meta = out.setdefault("metadata", {}), live.get("metadata") or {}
    for kind, always in (("annotations", (REFRESH_ANNOTATION,)), ("labels", ())):
        live_values = live_meta.get(kind) or {}
        keep = {k: v for k, v in live_values.items() if k in (*always, *_preserved(appset, kind))}
        if keep:
            meta[kind] = {**(meta.get(kind) or {}), **keep}
    name = str(meta.get("name") or "")
    for parts in _ignored(appset, name):
        out = _copy_at(dict(live), out, parts)
    return out


def _managed(app: Mapping[str, Any]) -> Any:
    meta = app.get("metadata") or {}
    return (
        app.get("spec"),
        meta.get("labels") or {},
        meta.get("annotations") or {},
        sorted(meta.get("finalizers") or []),
    )


def plan(
    appset: Mapping[str, Any],
    desired: list[dict[str, Any]],
    existing: Mapping[str, Mapping[str, Any]],
) -> Plan:
    """Compare the generated Applications with the existing ones (all of the namespace)."""
    uid = str((appset.get("metadata") or {}).get("uid") or "")
    policy = _policy(appset)
    reference = owner_reference(appset)
    create, update, unchanged, conflicts, held = [], [], [], [], []
    wanted = set()
    for app in desired:
        name = app["metadata"]["name"]
        wanted.add(name)
        app = copy.deepcopy(app)
        app["metadata"]["ownerReferences"] = [reference]
        live = existing.get(name)
        if live is None:
            create.append(app)
        elif not owned_by(live, uid):
            conflicts.append(name)
        else:
            merged = merged_with_live(appset, app, live)
            if _managed(merged) == _managed(live):
                unchanged.append(name)
            elif policy in ("sync", "create-update"):
                update.append(merged)
            else:
                held.append(f"would update {name}")
    delete = []
    for name, live in sorted(existing.items()):
        if name in wanted or not owned_by(live, uid):
            continue
        if policy in ("sync", "create-delete"):
            delete.append(name)
        else:
            held.append(f"would delete {name}")
    return Plan(
        tuple(create), tuple(update), tuple(delete), tuple(unchanged), tuple(conflicts),
        tuple(held),
    )  # fmt: skip
