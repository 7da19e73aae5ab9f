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
        rt = route.rt
        label_match = parse_label_selector(params.get("labelSelector"))
        field_match = parse_field_selector(
            params.get("fieldSelector"), rt.group, rt.kind, rt.is_custom, rt.selectable_fields
        )
        send_initial = parse_bool(params.get("sendInitialEvents"))
        rv_match = params.get("resourceVersionMatch")
        if send_initial and rv_match != "NotOlderThan":
            raise ApiError(
                422,
                "Invalid",
                'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: '
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            )
        bookmarks = parse_bool(params.get("allowWatchBookmarks"))
        timeout_text = params.get("timeoutSeconds")
        timeout = float(timeout_text) if timeout_text else random.uniform(1800, 3600)
        rv_text = params.get("resourceVersion") or ""
        try:
            start_rv = int(rv_text) if rv_text not in ("", "0") else None
        except ValueError as exc:
            raise apierrors.bad_request(f"invalid resource version: {rv_text}") from exc

        namespace = route.namespace if rt.namespaced else None
        watcher = Watcher(rt.key, namespace, label_match, field_match)
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
        initial: list[bytes] = []
        expired = False
        if start_rv is None or send_initial:
            for obj in self.app.store.objects(rt.key, namespace):
                if watcher.matches(obj):
                    body = tables.table(rt, [obj]) if as_table else self.app.api._present(rt, obj)
                    initial.append(_event_line("ADDED", orjson.dumps(body)))
            if send_initial:
                marker = {
                    "kind": rt.kind,
                    "apiVersion": rt.api_version,
                    "metadata": {
                        "resourceVersion": str(self.app.store.rv),
                        "annotations": {"k8s.io/initial-events-end": "true"},
                    },
                }
                initial.append(_event_line("BOOKMARK", orjson.dumps(marker)))
        elif start_rv < self.app.store.oldest_rv() or self.app.faults.take_forced_410():
            expired = True
        else:
            for past in self.app.store.events_since(rt.key, start_rv):
                translated = translate_event(watcher, past)
                if translated is not None:
                    initial.append(
                        _event_line(translated.type, self._event_bytes(rt, translated, as_table))
                    )
        if expired:
            status = apierrors.expired(
                f"too old resource version: {start_rv} ({self.app.store.oldest_rv() + 1})"
            ).status()
            await send(
                {"type": "http.response.body", "body": _event_line("ERROR", orjson.dumps(status))}
            )
            return
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
        deadline = time.monotonic() + timeout
        cut = self.app.faults.watch_cut_seconds
        cut_at = time.monotonic() + cut if cut > 0 else None
        if cut_at is not None:
            deadline = min(deadline, cut_at)
        try:
            if initial:
                await send(
                    {"type": "http.response.body", "body": b"".join(initial), "more_body": True}
                )
            next_bookmark = time.monotonic() + self.app.bookmark_interval

            def wait_limit(next_bookmark: float) -> float:
                return max(0.0, next_bookmark - time.monotonic()) if bookmarks else timeout

            while not disconnected.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                event = await self._next_event(watcher, min(remaining, wait_limit(next_bookmark)))
                if event == "idle":
                    # nothing came: a bookmark when one is due (the queue is empty here, so its
                    # version promises no event that was not sent)
                    if bookmarks and time.monotonic() >= next_bookmark:
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
                if start_rv is not None and event.rv <= start_rv:
                    continue
                chunk = [_event_line(event.type, self._event_bytes(rt, event, as_table))]
                if not self._drain(watcher, rt, as_table, chunk):
                    disconnected.set()
                await send(
                    {"type": "http.response.body", "body": b"".join(chunk), "more_body": True}
                )
            was_cut = cut_at is not None and time.monotonic() >= cut_at
            if not disconnected.is_set() and not was_cut:
                # The watch ends by its timeout: what was published since the last send goes
                # out first, then the bookmark (whose version covers it); a client resuming from
                # the bookmark would otherwise never see those events.
                tail: list[bytes] = []
                if self._drain(watcher, rt, as_table, tail) and bookmarks:
                    tail.append(self._bookmark(rt))
                if tail:
                    await send(
                        {"type": "http.response.body", "body": b"".join(tail), "more_body": True}
                    )
            if not disconnected.is_set():
                await send({"type": "http.response.body", "body": b""})
        finally:
            self.app.store.remove_watcher(watcher)
            listener.cancel()

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


def _event_line(kind: str, obj: bytes) -> bytes:
    return b'{"type":"' + kind.encode() + b'","object":' + obj + b"}\n"
