"""The watch stream's end: nothing published before a watch ends is lost behind its bookmark.

Driven through the ASGI face with a ``send`` that takes its time, so that an event is published
after the stream's last read of its queue and before its deadline passes: the timing a loaded
server meets now and then, made certain here.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from tether.localcluster.api import WriteContext
from tether.localcluster.rbac import Identity
from tether.localcluster.server import LocalClusterApp, Route
from tether.localcluster.watchstream import WatchStream


def _configmap(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}


async def _watch_while_publishing(bookmarks: bool) -> list[dict[str, Any]]:
    app = LocalClusterApp({"t": Identity("admin", ("system:masters",))})
    rt = app.registry.by_path("", "v1", "configmaps")
    assert rt is not None
    ctx = WriteContext(manager="test")
    start = str(app.store.rv)
    bodies: list[bytes] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] != "http.response.body":
            return
        bodies.append(message.get("body", b""))
        if len(bodies) == 1:
            # slow to write the first event out: the deadline passes meanwhile, and another
            # change is published before the stream looks at its queue again
            await asyncio.sleep(0.4)
            app.api.create(rt, "default", _configmap("late"), ctx)

    params = {"resourceVersion": start, "timeoutSeconds": "0.2"}
    if bookmarks:
        params["allowWatchBookmarks"] = "true"
    route = Route(rt, "default", None, None)
    stream = asyncio.create_task(WatchStream(app).serve(receive, send, route, params))
    await _watching(app)
    app.api.create(rt, "default", _configmap("first"), ctx)
    await asyncio.wait_for(stream, 5)
    lines = b"".join(bodies).splitlines()
    return [orjson.loads(line) for line in lines if line]


async def receive() -> dict[str, Any]:
    """The ASGI receive of a client that never goes away."""
    await asyncio.Event().wait()
    raise AssertionError


async def _watching(app: LocalClusterApp) -> None:
    """Return once the stream has registered its watcher (its events are queued from then on)."""
    async with asyncio.timeout(5):
        while not app.store.watchers:
            await asyncio.sleep(0)


def _names(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["type"], e["object"]["metadata"].get("name", "")) for e in events]


def test_events_published_as_the_watch_ends_come_before_its_bookmark() -> None:
    events = asyncio.run(_watch_while_publishing(bookmarks=True))
    assert _names(events) == [("ADDED", "first"), ("ADDED", "late"), ("BOOKMARK", "")]
    late = int(events[1]["object"]["metadata"]["resourceVersion"])
    assert int(events[2]["object"]["metadata"]["resourceVersion"]) >= late


def test_events_published_as_the_watch_ends_are_sent_without_bookmarks_too() -> None:
    events = asyncio.run(_watch_while_publishing(bookmarks=False))
    assert _names(events) == [("ADDED", "first"), ("ADDED", "late")]


async def _watch_with_frequent_bookmarks() -> list[bytes]:
    app = LocalClusterApp({"t": Identity("admin", ("system:masters",))}, bookmark_interval=0.05)
    rt = app.registry.by_path("", "v1", "configmaps")
    assert rt is not None
    bodies: list[bytes] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] != "http.response.body":
            return
        bodies.append(message.get("body", b""))
        if len(bodies) == 1:
            # another event is published while the first goes out, and a bookmark is due by
            # the time the stream looks at its queue again
            app.api.create(rt, "default", _configmap("meanwhile"), WriteContext(manager="test"))
            await asyncio.sleep(0.2)

    params = {"resourceVersion": str(app.store.rv), "timeoutSeconds": "1.5"}
    params["allowWatchBookmarks"] = "true"
    route = Route(rt, "default", None, None)
    stream = asyncio.create_task(WatchStream(app).serve(receive, send, route, params))
    await _watching(app)
    app.api.create(rt, "default", _configmap("first"), WriteContext(manager="test"))
    await asyncio.wait_for(stream, 5)
    return bodies


def test_an_event_waiting_when_a_bookmark_is_due_is_sent_at_once() -> None:
    bodies = asyncio.run(_watch_with_frequent_bookmarks())
    kinds = [[orjson.loads(line)["type"] for line in body.splitlines() if line] for body in bodies]
    assert kinds[0] == ["ADDED"]
    # the second event goes out on its own, and bookmarks carry on after it: it was not held in
    # the queue until the watch ended
    assert kinds[1] == ["ADDED"]
    assert sum(body == ["BOOKMARK"] for body in kinds[2:-1]) >= 2
