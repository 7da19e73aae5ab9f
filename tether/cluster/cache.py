"""The live cache: list+watch of the resource types Tether manages, kept as plain dicts.

Reads never touch the API server: a reconcile of an unchanged application looks objects up here.
Each tracked type has one task that lists it, then watches from the list's resourceVersion. When
the server ends a watch (timeout, dropped connection) the task resumes from the last
resourceVersion it saw, so nothing is listed again; only a 410 Expired (the server's history no
longer reaches back that far) forces a full relist, and the relist is diffed against the cache so
subscribers still hear about every object that appeared, changed or vanished meanwhile.

Objects are kept in an :class:`~tether.cluster.index.ObjectIndex` (by key, uid, type, owning
application and owner uid). Changes are announced to subscribers as ``(app, event_type, key)``,
where ``app`` is the object's tracked application or, for children that carry no tracking (a
ReplicaSet, a Pod), the application of their root owner; a type subscriber hears
``(event_type, object)`` for every object of its type, whoever owns it.

A write of Tether's own goes into the cache as soon as the API server answers it
(:meth:`LiveCache.written`): the comparison right after a sync sees what the sync wrote even when
the watch lags (a stalled watch would otherwise show a just-created object as missing, and
selfHeal would sync again). Resource versions decide which copy is newer: an event or a list
older than the written copy does not replace it.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from tether.cluster.attribution import ADDED, DELETED, MODIFIED, AppAttribution
from tether.cluster.client import ClusterClient, WatchEvent
from tether.cluster.discovery import ResourceInfo
from tether.cluster.errors import CacheSyncError, ClusterError, Expired, Forbidden, Unauthorized
from tether.cluster.index import ObjectIndex, SharedValues
from tether.cluster.subscribers import ChangeCallback, ObjectCallback, Subscribers
from tether.cluster.tracking import Tracking
from tether.resources import ResourceKey

log = logging.getLogger(__name__)

_CRD_GROUP_KIND = ("apiextensions.k8s.io", "CustomResourceDefinition")


#: identity of a live object (the one key type every stage shares)
ObjectKey = ResourceKey


@dataclass
class WatchStats:
    """What one tracked type cost: lists, watch requests, relists after 410, events seen."""

    lists: int = 0
    watches: int = 0
    relists: int = 0
    resumes: int = 0
    bookmarks: int = 0
    events: int = 0
    errors: int = 0


@dataclass(eq=False)
class _TypeState:
    """One list+watch: a type, in one namespace or (None) in all of them."""

    info: ResourceInfo
    namespace: str | None = None
    resource_version: str | None = None
    synced: asyncio.Event = field(default_factory=asyncio.Event)
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    error: ClusterError | None = None
    task: asyncio.Task[None] | None = None
    stats: WatchStats = field(default_factory=WatchStats)


class LiveCache:
    """List+watch cache of chosen resource types; see the module docstring.

    Objects handed out are the cached dicts themselves, for speed: callers must not mutate them
    (copy first). The reads are those of :class:`ObjectIndex` (also at :attr:`index`).
    """

    def __init__(
        self,
        client: ClusterClient,
        *,
        tracking: Tracking | None = None,
        namespace: str | None = None,
        namespaces: Iterable[str] = (),
        cluster_resources: bool = False,
        keep_managed_fields: bool = True,
        share: bool = True,
        watch_timeout: int = 300,
        max_backoff: float = 30.0,
    ) -> None:
        """``namespace`` limits namespaced types to one namespace (cluster-scoped types are
        always cluster-wide). ``namespaces`` (namespaced mode) watches each namespaced type with
        one list+watch per namespace, never cluster-wide, and refuses cluster-scoped types
        unless ``cluster_resources``. ``keep_managed_fields=False`` drops
        ``metadata.managedFields`` from cached copies, at the price of ``managedFieldsManagers``
        ignore rules and of noticing fields our manager dropped from Git; otherwise, with
        ``share`` (the default), they are kept in the compact shared form of
        :class:`SharedValues` (entries without ``time``), and short strings are shared too;
        ``share=False`` keeps objects exactly as the API server sent them.
        ``watch_timeout`` is the server-side lifetime of one watch request.
        """
        self.client = client
        self.tracking = tracking or Tracking()
        self.namespace = namespace
        self.namespaces = tuple(namespaces)
        self.cluster_resources = cluster_resources
        self.keep_managed_fields = keep_managed_fields
        self.shared = SharedValues() if share else None
        self.watch_timeout = watch_timeout
        self.max_backoff = max_backoff
        #: the list+watches of each tracked (group, kind): one, or one per namespace
        self._types: dict[tuple[str, str], list[_TypeState]] = {}
        self.index = ObjectIndex(self.tracking)
        self.subscribers = Subscribers()
        self._attribution = AppAttribution(self.index, self.subscribers.emit)
        self._paused = False

    # ---- lifecycle -------------------------------------------------------------------------

    def watches(self, info: ResourceInfo) -> bool:
        """Whether this cache may follow ``info`` (namespaced mode leaves out cluster-scoped
        types unless ``cluster_resources``)."""
        return info.namespaced or not self.namespaces or self.cluster_resources

    def _scopes(self, info: ResourceInfo) -> list[str | None]:
        if not info.namespaced:
            return [None]
        return list(self.namespaces) if self.namespaces else [self.namespace]

    async def track(self, infos: Iterable[ResourceInfo], *, wait: bool = True) -> None:
        """Start list+watch of each type not tracked yet; with ``wait``, return once every
        given type has been listed, or raise :class:`CacheSyncError` naming each one whose list
        failed (a 403 of a missing ``list`` verb, say: the cache keeps retrying it), or whose
        watch the server refuses (403 or 401) since its last successful list or event.

        Tracking is by (group, kind): a second version of a tracked kind is ignored.
        """
        wanted: list[_TypeState] = []
        for info in infos:
            states = self._types.get(info.group_kind)
            if states is None:
                states = self._new_states(info)
            wanted.extend(states)
        if wait:
            await self._wait_states([s for s in wanted if not s.synced.is_set()], None)
            denied = [s for s in wanted if isinstance(s.error, Forbidden | Unauthorized)]
            if denied:
                # listed once, but its watch is refused: the copy would silently go stale
                raise CacheSyncError("cannot watch " + "; ".join(_what(s) for s in denied))

    def _new_states(self, info: ResourceInfo) -> list[_TypeState]:
        what = f"{info.plural}.{info.group or 'core'}"
        if not info.supports("list") or not info.supports("watch"):
            raise CacheSyncError(
                f"{what} cannot be watched (verbs: {', '.join(info.verbs) or 'none'})"
            )
        if not self.watches(info):
            raise CacheSyncError(
                f"{what} is cluster-scoped: not watched in namespaced mode "
                f"(namespaces {', '.join(self.namespaces)})"
            )
        states = [_TypeState(info, namespace=ns) for ns in self._scopes(info)]
        self._types[info.group_kind] = states
        if not self._paused:
            for state in states:
                self._start(state)
        return states

    async def untrack(self, infos: Iterable[ResourceInfo]) -> None:
        """Stop watching these types and forget their objects (no events are sent)."""
        for info in infos:
            states = self._types.pop(info.group_kind, None)
            if states is None:
                continue
            for state in states:
                await self._stop(state)
            for key in self.index.keys(info.group_kind):
                self._remove(key)

    async def wait_synced(self, timeout: float | None = None) -> None:
        """Wait until every tracked type has been listed once.

        Raises :class:`CacheSyncError` naming each type whose first list failed (the cache
        keeps retrying those in the background) and ``TimeoutError`` after ``timeout``.
        """
        await self._wait_states(self._states(), timeout)

    def _states(self) -> list[_TypeState]:
        return [state for states in self._types.values() for state in states]

    async def _wait_states(self, states: list[_TypeState], timeout: float | None) -> None:
        if not states:
            return
        async with asyncio.timeout(timeout):
            await asyncio.gather(*(s.settled.wait() for s in states))
        failed = [s for s in states if not s.synced.is_set() and s.error is not None]
        if failed:
            raise CacheSyncError("cannot list " + "; ".join(_what(s) for s in failed))

    @property
    def synced(self) -> bool:
        """True when every tracked type has been listed at least once."""
        return all(s.synced.is_set() for s in self._states())

    async def pause(self) -> None:
        """Stop all watches but keep the objects and where each watch was.

        For a replica that lost leadership, or a test of the 410 path; :meth:`resume`
        continues each watch from its last resourceVersion (or relists if it expired).
        """
        self._paused = True
        await asyncio.gather(*(self._stop(s) for s in self._states()))

    def resume(self) -> None:
        """Restart the watches stopped by :meth:`pause`."""
        self._paused = False
        for state in self._states():
            if state.task is None:
                self._start(state)

    async def close(self) -> None:
        """Stop every watch task and wait for them to end."""
        await self.pause()

    async def __aenter__(self) -> LiveCache:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _start(self, state: _TypeState) -> None:
        info = state.info
        where = f"-{state.namespace}" if state.namespace else ""
        state.task = asyncio.create_task(
            self._run(state), name=f"tether-watch-{info.plural}.{info.group or 'core'}{where}"
        )

    async def _stop(self, state: _TypeState) -> None:
        task, state.task = state.task, None
        if task is not None:
            await cancel_and_wait(task)

    # ---- subscriptions ---------------------------------------------------------------------

    def subscribe(self, callback: ChangeCallback) -> Callable[[], None]:
        """Call ``callback(app, event_type, key)`` for each change of an app's object.

        Returns a function that unsubscribes. Objects that belong to no application (by
        tracking or through their owners) produce no callback.
        """
        return self.subscribers.subscribe(callback)

    def subscribe_type(
        self, group_kind: tuple[str, str], callback: ObjectCallback
    ) -> Callable[[], None]:
        """Call ``callback(event_type, obj)`` for each change of any object of one type.

        For controllers that follow a whole type (SealedSecrets and their Secrets), tracked by
        an application or not. The first list is not announced: read it with :meth:`objects`
        once :meth:`track` returns. Returns a function that unsubscribes.
        """
        return self.subscribers.subscribe_type(group_kind, callback)

    # ---- reads (no API requests) -----------------------------------------------------------

    def get(self, key: ObjectKey) -> dict[str, Any] | None:
        """The cached object with this key, or None."""
        return self.index.get(key)

    def get_by_uid(self, uid: str) -> dict[str, Any] | None:
        return self.index.get_by_uid(uid)

    def objects(self, group: str, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """Cached objects of one type, optionally in one namespace."""
        return self.index.objects(group, kind, namespace)

    def objects_of(self, app: str) -> list[dict[str, Any]]:
        """Objects tracked as ``app``'s (by its tracking method), not their children."""
        return self.index.objects_of(app)

    def children(self, uid: str) -> list[dict[str, Any]]:
        """Cached objects whose ``ownerReferences`` name ``uid``."""
        return self.index.children(uid)

    def tree(self, root: dict[str, Any] | str) -> list[dict[str, Any]]:
        """Every cached descendant of ``root`` (an object or a uid), breadth first."""
        return self.index.tree(root)

    def app_of(self, obj: dict[str, Any]) -> str | None:
        """The application ``obj`` belongs to: its own tracking, else its root owner's."""
        return self.index.app_of(obj)

    @property
    def tracked(self) -> list[ResourceInfo]:
        return [states[0].info for states in self._types.values()]

    def stats(self, info: ResourceInfo) -> WatchStats:
        """Counters of the list+watch of one tracked type: the live counters, or in namespaced
        mode a sum over its namespaces at the time of the call."""
        states = self._types[info.group_kind]
        if len(states) == 1:
            return states[0].stats
        total = WatchStats()
        for state in states:
            for name, value in vars(state.stats).items():
                setattr(total, name, getattr(total, name) + value)
        return total

    def __len__(self) -> int:
        return len(self.index)

    def written(self, obj: dict[str, Any]) -> None:
        """Write-through: ``obj`` as the API server answered a write of ours, kept (a copy) when
        this cache follows its type and namespace and it is newer than the cached copy. Nothing
        is kept for a server whose resource versions are not numbers (the watch brings it)."""
        key = ObjectKey.of(obj)
        states = self._types.get((key.group, key.kind)) or []
        if not any(s.namespace is None or s.namespace == key.namespace for s in states):
            return
        old = self.index.get(key)
        if _version(obj) is None or (old is not None and not _newer(obj, old)):
            return
        obj = self._compact(copy.deepcopy(obj))
        self.index.put(key, obj)
        self._announce(obj, MODIFIED if old is not None else ADDED, key)

    # ---- indexing --------------------------------------------------------------------------

    def _compact(self, obj: dict[str, Any]) -> dict[str, Any]:
        """``obj`` as the cache keeps it (see ``keep_managed_fields`` and ``share``)."""
        meta = obj.get("metadata")
        if not isinstance(meta, dict) or meta.get("managedFields") is None:
            if self.shared is not None:
                self.shared.strings_in(obj)
            return obj
        if not self.keep_managed_fields:
            del meta["managedFields"]
        if self.shared is not None:
            managed = meta.get("managedFields")
            if managed is not None:
                meta["managedFields"] = None  # not walked for strings, keeps its place
            self.shared.strings_in(obj)
            if managed is not None:
                meta["managedFields"] = self.shared.managed_fields(managed)
        return obj

    def _remove(self, key: ObjectKey) -> dict[str, Any] | None:
        old = self.index.remove(key)
        if old is not None:
            self._attribution.forget((old.get("metadata") or {}).get("uid", ""))
        return old

    def _announce(self, obj: dict[str, Any], event_type: str, key: ObjectKey) -> None:
        """Tell type subscribers about a change of ``obj``, and app subscribers now or once its
        owner is known."""
        self.subscribers.emit_type(obj, event_type, key)
        self._attribution.announce(obj, event_type, key)

    # ---- list and watch --------------------------------------------------------------------

    async def _run(self, state: _TypeState) -> None:
        failures = 0
        while True:
            try:
                if state.resource_version is None:
                    await self._relist(state)
                    state.error = None
                    state.synced.set()
                    state.settled.set()
                state.stats.watches += 1
                async for event in self.client.watch(
                    state.info,
                    state.namespace,
                    resource_version=state.resource_version,
                    timeout_seconds=self.watch_timeout,
                    bookmarks=True,
                ):
                    self._apply_event(state, event)
                    failures = 0
                    state.error = None
                # The server closed the stream (its timeout, a proxy): carry on from where we
                # were, which costs one request and no relist.
                state.stats.resumes += 1
                state.error = None
            except Expired:
                state.stats.relists += 1
                state.resource_version = None
            except ClusterError as exc:
                state.error = exc
                await self._back_off(state, failures, str(exc))
                failures += 1
            except (ValueError, KeyError, TypeError) as exc:
                # A malformed answer (bad JSON, an event without metadata) must not kill the
                # watch for good; start over from a fresh list since events may have been lost.
                log.exception("unexpected answer while watching %s", state.info.plural)
                state.error = ClusterError(f"unexpected answer from the API server: {exc}")
                state.resource_version = None
                await self._back_off(state, failures, str(exc))
                failures += 1

    async def _back_off(self, state: _TypeState, failures: int, why: str) -> None:
        state.stats.errors += 1
        state.settled.set()
        delay = min(self.max_backoff, 0.5 * 2**failures) * random.uniform(0.5, 1.0)
        log.warning("watch of %s failed (%s); retrying in %.1fs", _where(state), why, delay)
        await asyncio.sleep(delay)

    async def _relist(self, state: _TypeState) -> None:
        info = state.info
        result = await self.client.list(info, state.namespace)
        state.stats.lists += 1
        first = not state.synced.is_set()
        before = self.index.keys(info.group_kind)
        if state.namespace is not None:
            # the other namespaces' objects of this type belong to their own list+watch
            before = {key for key in before if key.namespace == state.namespace}
        seen: set[ObjectKey] = set()
        listed_at = _number(result.resource_version)
        for obj in result.items:
            key = ObjectKey.of(obj)
            seen.add(key)
            old = self.index.get(key)
            if old is not None and _newer(old, obj):
                continue  # written through after this list was taken
            obj = self._compact(obj)
            self.index.put(key, obj)
            if first:
                # The first list is announced by wait_synced, not per object.
                self._attribution.listed(obj)
                continue
            if old is None:
                self._announce(obj, ADDED, key)
            elif _rv(old) != _rv(obj):
                self._announce(obj, MODIFIED, key)
        for key in before - seen:
            gone = self.index.get(key)
            if gone is not None and _after(gone, listed_at):
                continue  # written through after this list was taken
            if gone is not None:
                self._announce(gone, DELETED, key)
            self._remove(key)
        state.resource_version = result.resource_version
        if info.group_kind == _CRD_GROUP_KIND and not first:
            self.client.invalidate_discovery()

    def _apply_event(self, state: _TypeState, event: WatchEvent) -> None:
        obj = event.object
        rv = _rv(obj)
        if event.type == "BOOKMARK":
            state.stats.bookmarks += 1
            if rv:
                state.resource_version = rv
            return
        state.stats.events += 1
        key = ObjectKey.of(obj)
        old = self.index.get(key)
        if old is not None and _version(old) is not None and not _newer(obj, old):
            pass  # the copy a write of ours answered with, or one newer than this event
        elif event.type == DELETED:
            self._announce(old or obj, DELETED, key)
            self._remove(key)
        elif event.type in (ADDED, MODIFIED):
            obj = self._compact(obj)
            self.index.put(key, obj)
            self._announce(obj, event.type, key)
        else:
            log.warning("ignoring watch event of type %r for %s", event.type, key)
            return
        if rv:
            state.resource_version = rv
        if state.info.group_kind == _CRD_GROUP_KIND:
            # A CRD added, changed or removed changes what discovery must report.
            self.client.invalidate_discovery()


#: seconds between cancellations of a task that is still running
CANCEL_RETRY = 0.5


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait until it has ended, cancelling it again while it runs on.

    One ``cancel()`` is not always enough: on Python 3.11 ``asyncio.wait_for`` drops a
    cancellation that arrives just as the call it waits for finishes, and the task carries on
    (a controller's worker would then never stop). Whatever the task ended with is retrieved,
    not raised.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=CANCEL_RETRY)
    if not task.cancelled():
        task.exception()


def _where(state: _TypeState) -> str:
    """``plural.group`` of a list+watch, with its namespace when it has one."""
    what = f"{state.info.plural}.{state.info.group or 'core'}"
    return f"{what} in namespace {state.namespace}" if state.namespace else what


def _what(state: _TypeState) -> str:
    return f"{_where(state)}: {state.error}"


def _rv(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def _number(rv: str | None) -> int | None:
    """A resource version as a number, or None. They are opaque by contract, but an etcd-backed
    API server hands out increasing decimal integers; any other form is never compared."""
    return int(rv) if rv and rv.isascii() and rv.isdigit() else None


def _version(obj: dict[str, Any]) -> int | None:
    return _number(_rv(obj))


def _newer(obj: dict[str, Any], than: dict[str, Any]) -> bool:
    """Whether ``obj`` is a later version than ``than`` (False when either cannot be told)."""
    a, b = _version(obj), _version(than)
    return a is not None and b is not None and a > b


def _after(obj: dict[str, Any], version: int | None) -> bool:
    a = _version(obj)
    return a is not None and version is not None and a > version
