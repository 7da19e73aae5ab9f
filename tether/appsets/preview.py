"""What applying an ApplicationSet would do, as a document for people and the API (pure): the
Applications created, updated (with the diff of what changes), deleted, left, and the names in
conflict, from a :class:`~tether.appsets.plan.Plan`."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

import yaml

from tether.appsets.plan import Plan

#: characters of one Application's diff kept
MAX_DIFF = 32 * 1024


def _managed_yaml(app: Mapping[str, Any]) -> list[str]:
    meta = app.get("metadata") or {}
    shown = {
        "metadata": {k: meta[k] for k in ("labels", "annotations", "finalizers") if meta.get(k)},
        "spec": app.get("spec") or {},
    }
    return yaml.safe_dump(shown, sort_keys=True).splitlines(keepends=True)


def diff(live: Mapping[str, Any], desired: Mapping[str, Any]) -> str:
    """The unified diff of what the set manages on an Application (live → desired)."""
    text = "".join(
        difflib.unified_diff(_managed_yaml(live), _managed_yaml(desired), "live", "desired")
    )
    return text if len(text) <= MAX_DIFF else text[:MAX_DIFF] + "\n… (cut)\n"


def preview_document(outcome: Plan, existing: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    return {
        "create": [{"name": a["metadata"]["name"], "application": a} for a in outcome.create],
        "update": [
            {"name": a["metadata"]["name"], "diff": diff(existing[a["metadata"]["name"]], a)}
            for a in outcome.update
        ],
        "delete": list(outcome.delete),
        "unchanged": list(outcome.unchanged),
        "conflicts": list(outcome.conflicts),
        "held": list(outcome.held),
        "error": "",
    }
