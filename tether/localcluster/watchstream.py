"""A watch as the local cluster streams it: chunked newline-delimited events from a queue.

Initial events (a list, a resumed history or ``sendInitialEvents``), then every change the
watcher's filter lets through, bookmarks when asked for, until ``timeoutSeconds``, a
disconnect, or a cut the fault settings ask for.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import orjson

from tether.localcluster import apierrors, tables
from tether.localcluster.api import parse_bool
from tether.localcluster.apierrors import ApiError
from tether.localcluster.kinds import ResourceType
from tether.localcluster.selectors import parse_field_selector, parse_label_selector
from tether.localcluster.store import Event, Watcher, translate_event

if TYPE_CHECKING:
    from tether.localcluster.server import LocalClusterApp, Route

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class WatchStream:
    """Serves one watch request of a :class:`LocalClusterApp`."""

    def __init__(self, app: LocalClusterApp) -> None:
        self.app = app

    async def serve(
        self,
        receive: Receive,
        send: Send,
        route: Route,
        params: dict[str, str],
        as_table: bool = False,
    ) -> None:
        """Stream the watch ``route`` and ``params`` ask for (as a Table when ``as_table``)."""
        request = _parse_request(route, params, as_table)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"cache-control", b"no-cache, private"),
                ],
            }
        )
        initial = self._initial_events(request)
        if initial is None:
            status = apierrors.expired(
                f"too old resource version: {request.start_rv} ({self.app.store.oldest_rv() + 1})"
            ).status()
            await send(
                {"type": "http.response.body", "body": _event_line("ERROR", orjson.dumps(status))}
            )
            return
        # registered with no await since the initial events were read: none falls between
        watcher = request.watcher
        self.app.store.add_watcher(watcher)
        disconnected = asyncio.Event()

        async def wait_disconnect() -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    disconnected.set()
                    watcher.queue.put_nowait(None)
                    return

        listener = asyncio.create_task(wait_disconnect())
        try:
            if initial:
                await send(
                    {"type": "http.response.body", "body": b"".join(initial), "more_body": True}
                )
            await self._stream(request, send, disconnected)
            if not disconnected.is_set():
                await send({"type": "http.response.body", "body": b""})
        finally:
            self.app.store.remove_watcher(watcher)
            listener.cancel()

    def _initial_events(self, request: _WatchRequest) -> list[bytes] | None:
        """What the watch sends first: the current objects (no resourceVersion, or
        ``sendInitialEvents``), or the history after its resourceVersion; None when that
        history is gone (410 Expired)."""
        rt, watcher, start_rv = request.rt, request.watcher, request.start_rv
        store = self.app.store
        initial: list[bytes] = []
        if start_rv is None or request.send_initial:
            for obj in store.objects(rt.key, watcher.namespace):
                if watcher.matches(obj):
                    body = (
                        tables.table(rt, [obj])
                        if request.as_table
                        else self.app.api._present(rt, obj)
                    )
                    initial.append(_event_line("ADDED", orjson.dumps(body)))
            if request.send_initial:
                marker = {
                    "kind": rt.kind,
                    "apiVersion": rt.api_version,
                    "metadata": {
                        "resourceVersion": str(store.rv),
                        "annotations": {"k8s.io/initial-events-end": "true"},
                    },
                }
                initial.append(_event_line("BOOKMARK", orjson.dumps(marker)))
        elif start_rv < store.oldest_rv() or self.app.faults.take_forced_410():
            return None
        else:
            for past in store.events_since(rt.key, start_rv):
                translated = translate_event(watcher, past)
                if translated is not None:
                    body_bytes = self._event_bytes(rt, translated, request.as_table)
                    initial.append(_event_line(translated.type, body_bytes))
        return initial

    async def _stream(
        self, request: _WatchRequest, send: Send, disconnected: asyncio.Event
    ) -> None:
        """The live part: queued events as they come, bookmarks when asked for, until the
        timeout, a disconnect or a cut the fault settings ask for."""
        rt, watcher, as_table = request.rt, request.watcher, request.as_table
        deadline = time.monotonic() + request.timeout
        cut = self.app.faults.watch_cut_seconds
        cut_at = time.monotonic() + cut if cut > 0 else None
        if cut_at is not None:
            deadline = min(deadline, cut_at)
        next_bookmark = time.monotonic() + self.app.bookmark_interval
        while not disconnected.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if request.bookmarks:
                remaining = min(remaining, max(0.0, next_bookmark - time.monotonic()))
            event = await self._next_event(watcher, remaining)
            if event == "idle":
                # nothing came: a bookmark when one is due (the queue is empty here, so its
                # version promises no event that was not sent)
                if request.bookmarks and time.monotonic() >= next_bookmark:
                    await send(
                        {
                            "type": "http.response.body",
                            "body": self._bookmark(rt),
                            "more_body": True,
                        }
                    )
                    next_bookmark = time.monotonic() + self.app.bookmark_interval
                continue
            if event is None:
                break
            if request.start_rv is not None and event.rv <= request.start_rv:
                continue
            chunk = [_event_line(event.type, self._event_bytes(rt, event, as_table))]
            if not self._drain(watcher, rt, as_table, chunk):
                disconnected.set()
            await send({"type": "http.response.body", "body": b"".join(chunk), "more_body": True})
        was_cut = cut_at is not None and time.monotonic() >= cut_at
        if not disconnected.is_set() and not was_cut:
            # The watch ends by its timeout: what was published since the last send goes out
            # first, then the bookmark (whose version covers it); a client resuming from the
            # bookmark would otherwise never see those events.
            tail: list[bytes] = []
            if self._drain(watcher, rt, as_table, tail) and request.bookmarks:
                tail.append(self._bookmark(rt))
            if tail:
                await send(
                    {"type": "http.response.body", "body": b"".join(tail), "more_body": True}
                )

    @staticmethod
    async def _next_event(watcher: Watcher, wait: float) -> Event | Literal["idle"] | None:
        """The next queued event (None: the client went away), at once when one waits, else
        within ``wait`` seconds; ``"idle"`` when none came."""
        if not watcher.queue.empty():
            return watcher.queue.get_nowait()
        try:
            return await asyncio.wait_for(watcher.queue.get(), timeout=wait)
        except TimeoutError:
            return "idle"

    def _drain(self, watcher: Watcher, rt: ResourceType, as_table: bool, out: list[bytes]) -> bool:
        """Append the events waiting in ``watcher``'s queue to ``out``; False when the client
        disconnected meanwhile."""
        while not watcher.queue.empty():
            more = watcher.queue.get_nowait()
            if more is None:
                return False
            out.append(_event_line(more.type, self._event_bytes(rt, more, as_table)))
        return True

    def _bookmark(self, rt: ResourceType) -> bytes:
        obj = {
            "kind": rt.kind,
            "apiVersion": rt.api_version,
            "metadata": {"resourceVersion": str(self.app.store.rv)},
        }
        return _event_line("BOOKMARK", orjson.dumps(obj))

    def _event_bytes(self, rt: ResourceType, event: Event, as_table: bool = False) -> bytes:
        if as_table:
            return orjson.dumps(tables.table(rt, [event.obj]))
        if event.obj.get("apiVersion") != rt.api_version:
            return orjson.dumps(self.app.api._present(rt, event.obj))
        return event.encoded()


@dataclass(frozen=True)
class _WatchRequest:
    """One watch as its query asks for it."""

    rt: ResourceType
    watcher: Watcher
    as_table: bool
    bookmarks: bool
    send_initial: bool
    timeout: float
    start_rv: int | None


def _parse_request(route: Route, params: dict[str, str], as_table: bool) -> _WatchRequest:
    rt = route.rt
    label_match = parse_label_selector(params.get("labelSelector"))
    field_match = parse_field_selector(
        params.get("fieldSelector"), rt.group, rt.kind, rt.is_custom, rt.selectable_fields
    )
    send_initial = parse_bool(params.get("sendInitialEvents"))
    if send_initial and params.get("resourceVersionMatch") != "NotOlderThan":
        raise ApiError(
            422,
            "Invalid",
            'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: '
            "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
        )
    timeout_text = params.get("timeoutSeconds")
    rv_text = params.get("resourceVersion") or ""
    try:
        start_rv = int(rv_text) if rv_text not in ("", "0") else None
    except ValueError as exc:
        raise apierrors.bad_request(f"invalid resource version: {rv_text}") from exc
    namespace = route.namespace if rt.namespaced else None
    return _WatchRequest(
        rt=rt,
        watcher=Watcher(rt.key, namespace, label_match, field_match),
        as_table=as_table,
        bookmarks=parse_bool(params.get("allowWatchBookmarks")),
        send_initial=send_initial,
        timeout=float(timeout_text) if timeout_text else random.uniform(1800, 3600),
        start_rv=start_rv,
    )


def _event_line(kind: str, obj: bytes) -> bytes:
    return b'{"type":"' + kind.encode() + b'","object":' + obj + b"}\n"
