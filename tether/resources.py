"""The identity of a Kubernetes object, shared by every stage (live cache, diff, plan, sync)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple


class ResourceKey(NamedTuple):
    """API group (not version; ``""`` for core), kind, namespace (``""`` when none), name."""

    group: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> ResourceKey:
        """The key of an object dict; a hook with only ``generateName`` is keyed by that prefix."""
        api_version = str(obj.get("apiVersion") or "")
        metadata = obj.get("metadata")
        if not isinstance(metadata, Mapping):
            metadata = {}  # hand-written YAML may hold anything here; the key is then empty
        return cls(
            api_version.rpartition("/")[0],
            str(obj.get("kind") or ""),
            str(metadata.get("namespace") or ""),
            str(metadata.get("name") or metadata.get("generateName") or ""),
        )

    def __str__(self) -> str:
        kind = f"{self.group}/{self.kind}" if self.group else self.kind
        return f"{kind} {self.namespace}/{self.name}" if self.namespace else f"{kind} {self.name}"
