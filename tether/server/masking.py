"""Secret values never leave the server: masks for live and desired objects."""

from __future__ import annotations

from typing import Any

from tether.engine import normalize as norm

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
MASK = "++++++++"


def mask_object(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    """``obj`` with Secret values replaced by masks (other kinds are returned unchanged).

    ``stringData`` is folded into ``data`` first (as the API server stores it) so plain values
    are masked too, and kubectl's last-applied annotation, which repeats the values, is masked.
    """
    if obj is None or not norm.is_secret(obj):
        return obj
    merged = norm.merge_string_data(obj)
    _, masked = norm.mask_secret_pair(None, merged)
    assert masked is not None
    meta = masked.get("metadata")
    if isinstance(meta, dict) and LAST_APPLIED in (meta.get("annotations") or {}):
        annotations = {**meta["annotations"], LAST_APPLIED: MASK}
        masked = {**masked, "metadata": {**meta, "annotations": annotations}}
    return masked


def mask_objects(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every object masked; masks are assigned per object (equal values inside one object
    share a mask, nothing is comparable across objects)."""
    out = []
    for obj in objs:
        masked = mask_object(obj)
        assert masked is not None
        out.append(masked)
    return out
