"""``tether app diff``: the managed resources that differ, as unified diffs, Secrets masked."""

from __future__ import annotations

import difflib
from typing import Any

import yaml

from tether.cli.app_view import resource_key_text
from tether.controller.status import OUT_OF_SYNC
from tether.engine.masking import LAST_APPLIED, MASK, mask_secrets


def differing_resources(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The managed resources whose live state is not the desired one."""
    out = []
    for item in items:
        status = item.get("status")
        if status == OUT_OF_SYNC or (not status and item.get("diff")):
            out.append(item)
    return out


def _yaml_diff(live: Any, target: Any, key: str) -> str:
    def lines(obj: Any) -> list[str]:
        return yaml.safe_dump(obj, sort_keys=True).splitlines() if obj else []

    return "\n".join(
        difflib.unified_diff(
            lines(live), lines(target), f"live {key}", f"desired {key}", lineterm=""
        )
    )


def unified_diff_of(item: dict[str, Any]) -> str:
    """The server's unified diff, or one made from the live and desired objects it sent."""
    if item.get("diff"):
        return str(item["diff"]).rstrip("\n")
    return _yaml_diff(item.get("liveState"), item.get("targetState"), resource_key_text(item))


_SECRET_PATHS = ("/data", "/stringData", "/metadata/annotations/" + LAST_APPLIED.replace("/", "~1"))


def _masked_change(change: Any) -> Any:
    path = str(change.get("path", "")) if isinstance(change, dict) else ""
    if not path.startswith(_SECRET_PATHS):
        return change
    return {k: (MASK if k in ("old", "new") and v is not None else v) for k, v in change.items()}


def masked_item(item: dict[str, Any]) -> dict[str, Any]:
    """A managed resource as the CLI shows it: Secret values masked here too, whatever the server
    sent (the diff text of a Secret is rebuilt from the masked objects)."""
    if item.get("kind") != "Secret":
        return item
    live, target = mask_secrets(item.get("liveState"), item.get("targetState"))
    changes = item.get("changes")
    return {
        **item,
        "liveState": live,
        "targetState": target,
        "diff": _yaml_diff(live, target, resource_key_text(item)) if live != target else "",
        "changes": [_masked_change(c) for c in changes] if isinstance(changes, list) else [],
    }
