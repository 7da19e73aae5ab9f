"""The controller's parts an Application's first check never needs: ApplicationSets, image
automation and Flux's Kustomizations, loaded while the controller starts and started after its
workers.

Their modules (generators, Go templates, Git host and registry clients: about a fifth of the
controller's imports) load in a thread while the controller waits for its first answers from
the API server; the parts are built and started once the workers run, and the Applications seen
before are replayed to them. Until then they answer as parts with nothing to do.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tether.controller.appsets import ApplicationSets
    from tether.controller.flux.part import FluxPart
    from tether.controller.images import ImageAutomation
    from tether.images.events import RegistryEvent

log = logging.getLogger(__name__)

#: the modules loaded ahead, in a thread
MODULES = ("tether.controller.appsets", "tether.controller.images", "tether.controller.flux.part")


def _load() -> None:
    for module in MODULES:
        importlib.import_module(module)


class Extras:
    """ApplicationSets, image automation and Flux, built by ``build`` once their modules are
    loaded."""

    def __init__(
        self,
        build: Callable[[], tuple[ApplicationSets, ImageAutomation, FluxPart]],
        applications: Callable[[], Mapping[str, dict[str, Any]]],
    ) -> None:
        self._build = build
        self._applications = applications
        self._loading: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self.appsets: ApplicationSets | None = None
        self.images: ImageAutomation | None = None
        self.flux: FluxPart | None = None

    def preload(self) -> None:
        """Start loading the modules in a thread (the controller's start goes on meanwhile)."""
        if self._loading is None:
            self._loading = asyncio.create_task(asyncio.to_thread(_load), name="extras-preload")

    async def loaded(self) -> None:
        """Wait until the modules are loaded (a start that wants no import thread running
        beside its first reconciles waits for this first)."""
        self.preload()
        assert self._loading is not None
        await self._loading

    async def start(self) -> None:
        """Build both parts, replay the Applications known so far, start them."""
        self.preload()
        assert self._loading is not None
        await self._loading
        appsets, images, flux = self._build()
        for event_obj in list(self._applications().values()):
            images.on_application("ADDED", event_obj)
        self.appsets, self.images, self.flux = appsets, images, flux
        self._ready.set()
        await appsets.start()
        await images.start()
        await flux.start()

    async def stop(self) -> None:
        if self._loading is not None and not self._loading.done():
            self._loading.cancel()
            await asyncio.gather(self._loading, return_exceptions=True)
        if self.flux is not None:
            await self.flux.stop()
        if self.images is not None:
            await self.images.stop()
        if self.appsets is not None:
            await self.appsets.stop()

    async def ready(self) -> None:
        """Wait until the parts are built."""
        await self._ready.wait()

    # ---- events, forwarded once the parts exist (their start catches up on what came before)

    def on_application(self, event_type: str, obj: dict[str, Any]) -> None:
        if self.images is not None:
            self.images.on_application(event_type, obj)
        if self.appsets is not None:
            self.appsets.on_application(event_type, obj)

    def on_push(self, urls: Iterable[str]) -> list[str]:
        return self.appsets.on_push(urls) if self.appsets is not None else []

    def on_pull_request(self) -> list[str]:
        return self.appsets.on_pull_request() if self.appsets is not None else []

    def on_registry_event(self, event: RegistryEvent) -> list[str]:
        return self.images.on_registry_event(event) if self.images is not None else []

    # ---- what the API shows

    async def preview_appset(self, appset: dict[str, Any]) -> dict[str, Any]:
        await self.ready()
        assert self.appsets is not None
        return await self.appsets.preview(appset)

    def applicationsets(self) -> dict[str, dict[str, Any]]:
        return self.appsets.objects() if self.appsets is not None else {}

    def flux_receiver(self, path: str) -> dict[str, Any] | None:
        return self.flux.receiver_at(path) if self.flux is not None else None

    async def flux_diff(self, namespace: str, name: str) -> list[dict[str, Any]] | None:
        return await self.flux.diff(namespace, name) if self.flux is not None else None

    def counters(self) -> dict[str, int]:
        if self.appsets is None:
            return {"appset_generations": 0, "appset_writes": 0}
        return {
            "appset_generations": self.appsets.generations,
            "appset_writes": self.appsets.writes,
        }
