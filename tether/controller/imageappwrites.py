"""What image automation writes for an Application with Image Updater annotations: the Flux
objects generated from its annotations (:class:`GeneratedObjects`) and an Event whenever the
outcome of its update changes (:class:`OutcomeEvents`)."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from tether.cluster.client import ClusterClient
from tether.cluster.errors import NotFound
from tether.controller.imageapps import differs
from tether.controller.watcher import ObjectWatcher
from tether.images.automationspec import RunOutcome
from tether.names import IMAGE_POLICY, IMAGE_REPOSITORY, IMAGE_UPDATER_APP_LABEL

#: ``record(app, type, reason, message)``: an Event on an Application
Recorder = Callable[[dict[str, Any], str, str, str], Awaitable[None]]


class GeneratedObjects:
    """The ImageRepositories and ImagePolicies generated for Applications, kept as wanted."""

    def __init__(
        self,
        client: ClusterClient,
        namespace: str,
        field_manager: str,
        watchers: Mapping[str, ObjectWatcher],
    ) -> None:
        """``watchers`` by Flux kind (ImageRepository, ImagePolicy)."""
        self.client = client
        self.namespace = namespace
        self.field_manager = field_manager
        self.watchers = watchers

    async def keep(self, app: str, wanted: list[dict[str, Any]]) -> None:
        """Apply the generated objects that moved; delete those of ``app`` no longer wanted."""
        names = {(o["kind"], o["metadata"]["name"]) for o in wanted}
        for obj in wanted:
            watcher = self.watchers[obj["kind"]]
            if differs(obj, watcher.get(obj["metadata"]["name"])):
                answer = await self.client.apply(
                    watcher.info, obj, field_manager=self.field_manager, force=True
                )
                watcher.remember(answer)
        for kind in (IMAGE_REPOSITORY, IMAGE_POLICY):
            watcher = self.watchers[kind]
            for name, obj in list(watcher.objects.items()):
                labels = (obj.get("metadata") or {}).get("labels") or {}
                if labels.get(IMAGE_UPDATER_APP_LABEL) == app and (kind, name) not in names:
                    with contextlib.suppress(NotFound):
                        await self.client.delete(watcher.info, name, self.namespace)


class OutcomeEvents:
    """The last outcome of each Application's update; an Event when it changes."""

    def __init__(self, record: Recorder | None) -> None:
        self.record = record
        self.outcomes: dict[str, RunOutcome] = {}

    def forget(self, name: str) -> None:
        self.outcomes.pop(name, None)

    async def note(self, app: dict[str, Any], outcome: RunOutcome) -> None:
        name = app["metadata"]["name"]
        before = self.outcomes.get(name)
        self.outcomes[name] = outcome
        if self.record is None:
            return
        if before is not None and (before.reason, before.message) == (
            outcome.reason,
            outcome.message,
        ):
            return
        kind = "Normal" if outcome.outcome == "ok" else "Warning"
        reason = "ImageUpdated" if outcome.outcome == "ok" else f"ImageUpdate{outcome.reason}"
        await self.record(app, kind, reason, outcome.message)
