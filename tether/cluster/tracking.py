"""Resource tracking as Argo CD 3 does it: which application owns a live object.

The default method stamps ``argocd.argoproj.io/tracking-id: <app>:<group>/<kind>:<ns>/<name>``.
Because the id names the object it sits on, a copy of the object (a tool duplicating a Secret into
another namespace, say) carries an id that does not match it and is therefore *not* considered
managed: it is never pruned or diffed as the app's. The ``label`` method uses
``app.kubernetes.io/instance: <app>`` (the pre-3.0 default), ``annotation+label`` tracks by the
annotation and adds the label for information only.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tether.names import INSTANCE_LABEL, TRACKING_ANNOTATION

__all__ = [
    "INSTANCE_LABEL",
    "TRACKING_ANNOTATION",
    "Tracking",
    "TrackingId",
    "TrackingMethod",
    "is_managed_by",
    "owning_app",
    "stamp",
    "tracking_id",
]

#: label values are limited to 63 characters; Argo CD truncates the informational label
_LABEL_MAX = 63


class TrackingMethod(StrEnum):
    """How managed objects are marked (Argo CD's ``application.resourceTrackingMethod``)."""

    ANNOTATION = "annotation"
    LABEL = "label"
    ANNOTATION_AND_LABEL = "annotation+label"


@dataclass(frozen=True)
class Tracking:
    """A tracking configuration: the method and the instance label key."""

    method: TrackingMethod = TrackingMethod.ANNOTATION
    label_key: str = INSTANCE_LABEL

    def stamp(self, obj: dict[str, Any], app: str) -> dict[str, Any]:
        """A copy of desired ``obj`` marked as owned by ``app``."""
        return stamp(obj, app, self.method, label_key=self.label_key)

    def owning_app(self, obj: dict[str, Any]) -> str | None:
        """The application that manages live ``obj``, or None."""
        return owning_app(obj, self.method, label_key=self.label_key)


@dataclass(frozen=True)
class TrackingId:
    """A parsed ``<app>:<group>/<kind>:<namespace>/<name>`` value."""

    app: str
    group: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.app}:{self.group}/{self.kind}:{self.namespace}/{self.name}"

    @classmethod
    def parse(cls, value: str) -> TrackingId | None:
        """Parse an annotation value; None when it is not a well-formed tracking id."""
        parts = value.split(":")
        if len(parts) != 3:
            return None
        app, group_kind, ns_name = parts
        group, slash, kind = group_kind.partition("/")
        namespace, slash2, name = ns_name.partition("/")
        if not app or not slash or not kind or not slash2 or not name:
            return None
        return cls(app, group, kind, namespace, name)

    @classmethod
    def for_object(cls, app: str, obj: dict[str, Any]) -> TrackingId:
        """The id that ``obj`` (a manifest or a live object) carries when ``app`` manages it."""
        meta = obj.get("metadata") or {}
        return cls(
            app,
            _group(obj),
            str(obj.get("kind", "")),
            str(meta.get("namespace") or ""),
            str(meta.get("name", "")),
        )

    def matches(self, obj: dict[str, Any]) -> bool:
        """True when this id names ``obj`` itself (group, kind, namespace and name).

        A cluster-scoped object has no namespace, but a manifest rendered for a namespaced
        destination may have been stamped with one; the namespace is then not compared.
        """
        meta = obj.get("metadata") or {}
        namespace = str(meta.get("namespace") or "")
        return (
            self.group == _group(obj)
            and self.kind == obj.get("kind")
            and self.name == meta.get("name")
            and (self.namespace == namespace or not namespace)
        )


def _group(obj: dict[str, Any]) -> str:
    return str(obj.get("apiVersion", "")).rpartition("/")[0]


def stamp(
    obj: dict[str, Any],
    app: str,
    method: TrackingMethod = TrackingMethod.ANNOTATION,
    *,
    label_key: str = INSTANCE_LABEL,
) -> dict[str, Any]:
    """Return a copy of desired ``obj`` marked as managed by ``app`` with ``method``.

    The input is not changed (rendered manifests may be cached and shared).
    """
    out = copy.deepcopy(obj)
    meta = out.setdefault("metadata", {})
    if method in (TrackingMethod.ANNOTATION, TrackingMethod.ANNOTATION_AND_LABEL):
        annotations = meta.get("annotations") or {}
        annotations[TRACKING_ANNOTATION] = str(TrackingId.for_object(app, out))
        meta["annotations"] = annotations
    if method in (TrackingMethod.LABEL, TrackingMethod.ANNOTATION_AND_LABEL):
        if method is TrackingMethod.LABEL and len(app) > _LABEL_MAX:
            raise ValueError(
                f"application name {app!r} is longer than {_LABEL_MAX} characters and cannot "
                f"be a label value; use annotation tracking"
            )
        labels = meta.get("labels") or {}
        labels[label_key] = app[:_LABEL_MAX]
        meta["labels"] = labels
    return out


def tracking_id(obj: dict[str, Any]) -> TrackingId | None:
    """The parsed tracking annotation of ``obj``, whether or not it names ``obj`` itself."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(TRACKING_ANNOTATION)
    return TrackingId.parse(value) if isinstance(value, str) else None


def owning_app(
    obj: dict[str, Any],
    method: TrackingMethod = TrackingMethod.ANNOTATION,
    *,
    label_key: str = INSTANCE_LABEL,
) -> str | None:
    """The application managing live ``obj`` under ``method``, or None.

    With annotation tracking an id that names a different object (a copy) does not count.
    """
    if method is TrackingMethod.LABEL:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        value = labels.get(label_key)
        return str(value) if value else None
    parsed = tracking_id(obj)
    if parsed is None or not parsed.matches(obj):
        return None
    return parsed.app


def is_managed_by(
    obj: dict[str, Any],
    app: str,
    method: TrackingMethod = TrackingMethod.ANNOTATION,
    *,
    label_key: str = INSTANCE_LABEL,
) -> bool:
    """True when live ``obj`` is tracked as part of ``app``."""
    return owning_app(obj, method, label_key=label_key) == app
