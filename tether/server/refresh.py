"""Refresh: ask the controller to compare an Application again, and answer once it has.

As Argo CD's API server does: the refresh annotation (``argocd.argoproj.io/refresh: normal`` or
``hard``) is written on the Application, and the answer waits for a newer version of the
Application without it, since the controller removes the annotation once it has handled the
refresh. So ``tether app get --hard-refresh`` prints the comparison made after the request, not
the one from before. The wait is bounded (`ServerSettings.refresh_timeout`): past it the answer is
504 and says the refresh is still requested.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tether.cluster.errors import ClusterError, NotFound
from tether.names import REFRESH_ANNOTATION, SERVER_FIELD_MANAGER
from tether.server.app_writes import application_info, remember
from tether.server.errors import ApiError, NotFoundError, cluster_error
from tether.server.state import Context


class RefreshTimeout(ApiError):
    """The controller did not handle a refresh in time."""

    status = 504


def resource_version(app: dict[str, Any]) -> int:
    """The Application's resourceVersion as a number (0 when it is not one)."""
    try:
        return int((app.get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


def refresh_handled(app: dict[str, Any] | None, requested: int) -> bool:
    """Whether ``app`` is a version written after the request (version ``requested``) from which
    the controller has removed the refresh annotation; a deleted app needs no more waiting."""
    if app is None:
        return True
    annotations = (app.get("metadata") or {}).get("annotations") or {}
    return resource_version(app) > requested and REFRESH_ANNOTATION not in annotations


async def _request_refresh(ctx: Context, name: str, hard: bool) -> int:
    """Write the refresh annotation; the version of the Application that carries it."""
    client = ctx.state.controller.client
    info = await application_info(ctx)
    patch = {"metadata": {"annotations": {REFRESH_ANNOTATION: "hard" if hard else "normal"}}}
    try:
        updated = await client.patch(
            info, name, patch, ctx.state.namespace, field_manager=SERVER_FIELD_MANAGER
        )
    except NotFound:
        raise NotFoundError(f"application {name} not found") from None
    except ClusterError as exc:
        raise cluster_error(exc) from None
    remember(ctx, updated)
    return resource_version(updated)


async def _until_handled(ctx: Context, name: str, requested: int, timeout: float) -> None:
    """Wait, at most ``timeout`` seconds, until the controller has handled the refresh."""
    handled = asyncio.Event()

    def check(*_: Any) -> None:
        if refresh_handled(ctx.state.applications().get(name), requested):
            handled.set()

    unsubscribe = ctx.state.controller.subscribe(check)
    try:
        check()
        await asyncio.wait_for(handled.wait(), timeout)
    except TimeoutError:
        raise RefreshTimeout(
            f"application {name} was not compared again within {timeout:g}s (the refresh stays "
            f"requested; is the controller running?): `tether app get {name}` shows it once "
            "it has been"
        ) from None
    finally:
        unsubscribe()


async def refreshed_application(ctx: Context, name: str, hard: bool) -> dict[str, Any]:
    """Application ``name`` as the controller has compared it after this request (``hard``:
    after checking its repository for new commits too)."""
    requested = await _request_refresh(ctx, name, hard)
    # the annotation reaches the controller through its watch; asking directly too saves that
    # round trip (the reconcile then finds the annotation in the copy remembered above)
    await ctx.state.controller.refresh(name)
    await _until_handled(ctx, name, requested, ctx.state.settings.refresh_timeout)
    return ctx.state.application(name)
