"""Which application a change of a live object belongs to, announced once that is known.

An object belongs to the application its tracking names or, for children that carry no
tracking (a ReplicaSet, a Pod), to the application of its root owner. Each type has its own
watch stream, so a Pod can arrive before its ReplicaSet: its change is held until the owner
shows up, then announced under the owner's application.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tether.cluster.index import ObjectIndex
from tether.resources import ResourceKey

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"

#: ``emit(app_name, event_type, key)``
Emit = Callable[[str, str, ResourceKey], None]


class AppAttribution:
    """Routes changes of the objects of an :class:`ObjectIndex` to their application."""

    def __init__(self, index: ObjectIndex, emit: Emit) -> None:
        self.index = index
        self._emit = emit
        #: the application last seen for a uid (its owner may be gone by the time it changes)
        self._app_memo: dict[str, str] = {}
        #: changes of owned objects whose owner chain is not cached yet: uid -> (event, key)
        self._held: dict[str, tuple[str, ResourceKey]] = {}

    def announce(self, obj: dict[str, Any], event_type: str, key: ResourceKey) -> None:
        """Emit a change of ``obj`` under its application, now or once its owner is known."""
        meta = obj.get("metadata") or {}
        uid = meta.get("uid", "")
        app = self._app_for_event(obj)
        if app is None:
            if event_type == DELETED:
                self._held.pop(uid, None)
            elif meta.get("ownerReferences") and uid:
                # Hold the change until the owner shows up (an ADDED stays ADDED).
                earlier = self._held.get(uid)
                kind = earlier[0] if earlier is not None else event_type
                self._held[uid] = (kind, key)
            return
        self._emit(app, event_type, key)
        if self._held and uid:
            self._release(uid, app)

    def listed(self, obj: dict[str, Any]) -> None:
        """An object of a first list (not announced itself) may be the owner held changes of
        its descendants were waiting for."""
        if self._held:
            app = self.index.app_of(obj)
            if app is not None:
                self._release((obj.get("metadata") or {}).get("uid", ""), app)

    def forget(self, uid: str) -> None:
        """The object with ``uid`` left the cache."""
        self._app_memo.pop(uid, None)
        self._held.pop(uid, None)

    def _release(self, root_uid: str, app: str) -> None:
        """Announce held changes of ``root_uid``'s descendants, now that their app is known."""
        seen = {root_uid}
        stack = [root_uid]
        while stack and self._held:
            for child_uid in self.index.dependent_uids(stack.pop()):
                if child_uid in seen:
                    continue
                seen.add(child_uid)
                held = self._held.pop(child_uid, None)
                if held is not None:
                    self._app_memo[child_uid] = app
                    self._emit(app, held[0], held[1])
                stack.append(child_uid)

    def _app_for_event(self, obj: dict[str, Any]) -> str | None:
        uid = (obj.get("metadata") or {}).get("uid", "")
        app = self.index.app_of(obj)
        if app is not None:
            self._app_memo[uid] = app
            return app
        # An owner deleted just before its children (cascading deletion) can no longer be
        # walked to; the app seen earlier for this object still owns the change.
        return self._app_memo.get(uid)
