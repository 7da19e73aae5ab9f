"""Live application changes over Server-Sent Events, fed by the controller's changes.

One hub per server receives every change the controller sees and hands it to each open stream;
each stream keeps only what its user may see. A stream that falls behind loses its oldest
events and is told to reload (event ``resync``) rather than making the controller wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
from sse_starlette.sse import EventSourceResponse

from tether.server.auth import User
from tether.server.state import Context, ServerState, app_object

QUEUE_SIZE = 1000


class _Subscriber:
    def __init__(self, user: User) -> None:
        self.user = user
        self.queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(QUEUE_SIZE)
        self.overflowed = False


class StreamHub:
    """Fans controller events out to open streams."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.subscribers: set[_Subscriber] = set()

    def on_controller_event(self, kind: str, event_type: str, obj: dict[str, Any]) -> None:
        """A listener of ``ControllerFace.subscribe``: quick, never blocks, never raises."""
        if kind != "application" or not self.subscribers:
            return
        for sub in list(self.subscribers):
            try:
                sub.queue.put_nowait((event_type, obj))
            except asyncio.QueueFull:
                sub.overflowed = True
                try:
                    sub.queue.get_nowait()
                    sub.queue.put_nowait((event_type, obj))
                except (asyncio.QueueEmpty, asyncio.QueueFull):
                    pass

    async def events(self, user: User) -> AsyncIterator[dict[str, Any]]:
        sub = _Subscriber(user)
        self.subscribers.add(sub)
        try:
            while True:
                event_type, obj = await sub.queue.get()
                if sub.overflowed:
                    sub.overflowed = False
                    yield {"event": "resync", "data": "{}"}
                if not self.state.can(user, "applications", "get", app_object(obj)):
                    continue
                data = orjson.dumps({"type": event_type, "application": obj}).decode()
                yield {"data": data}
        finally:
            self.subscribers.discard(sub)


async def stream_applications(ctx: Context) -> EventSourceResponse:
    hub: StreamHub = ctx.extra["hub"]
    return EventSourceResponse(hub.events(ctx.caller), ping=15)
