"""Operations on an Application: a sync (requested, automated, a rollback), from start to history.

An operation is written as Running, taken off the Application's ``operation`` field, announced
by an Event, run (resolve the revision, render, check every object against the project, then
the engine's sync) and recorded: ``operationState`` with the result, a history entry on success,
a SyncError condition on failure, retries as the policy says. It always ends in a terminal
phase: an unexpected error ends it as Error with the reason, never Running forever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tether.cluster.errors import ClusterError
from tether.controller import admission, autosync, impersonation, models, multisource, project
from tether.controller.desired import DesiredState
from tether.controller.destinations import Destination
from tether.controller.status import (
    conditions,
    history_after,
    now_iso,
    operation_document,
    operation_finished,
    operation_started,
    read_status,
)
from tether.controller.writes import ApplicationWriter
from tether.engine import diff as diffing
from tether.engine.ignore import IgnoreRule
from tether.engine.plan import SyncOptions
from tether.engine.sync import SyncEngine, SyncRequest, SyncResult
from tether.render import RenderError
from tether.source.errors import SourceError

log = logging.getLogger(__name__)


#: failures an operation reports as Error with their message
EXPECTED = (SourceError, RenderError, project.ProjectViolation, ClusterError)


@dataclass
class OperationContext:
    """Everything one operation needs about its app (plain data, built by the reconcile)."""

    obj: dict[str, Any]
    app: models.Application
    scope: admission.WriteScope
    dest: Destination
    operation: models.Operation
    #: the last comparison (prune candidates, ApplyOutOfSyncOnly); None before the first
    last_compare: diffing.AppDiff | None
    rules: list[IgnoreRule]
    #: the start time of the operation being resumed after a crash, or None for a new one
    resumed_at: str | None = None
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    #: why it runs, recorded in the history: manual, rollback, automated or selfHeal
    trigger: str = "manual"


def retry_count_of(obj: dict[str, Any], app: models.Application, automated: bool) -> int:
    """Retries done so far: the last operation failed on the app as its spec stands now (same
    source and sync options), and this one is an automated retry of it."""
    last = read_status(obj).operation
    if last is None or not last.failed or not autosync.same_attempt(last, app):
        return 0
    return last.retry_count + (1 if automated else 0)


class OperationRunner:
    """Runs operations for the controller; one call of :meth:`run` is one operation."""

    def __init__(
        self,
        writer: ApplicationWriter,
        desired: DesiredState,
        *,
        current: Callable[[str], dict[str, Any] | None],
        enqueue: Callable[[str, float], None],
        engine_for: Callable[[Destination, str, admission.WriteScope, str | None], SyncEngine],
    ) -> None:
        self.writer = writer
        self.desired = desired
        self._current = current
        self._enqueue = enqueue
        self._engine_for = engine_for

    async def run(self, ctx: OperationContext) -> None:
        """Run one operation to a terminal phase and record it."""
        automated = ctx.operation.initiated_by.automated
        started = ctx.resumed_at or now_iso()
        op_doc = operation_document(ctx.operation)
        retry_count = retry_count_of(ctx.obj, ctx.app, automated)
        commit = read_status(ctx.obj).revision
        try:
            await self._begin(ctx, op_doc, started, retry_count)
            # the Event goes out while the sync runs: a sync slot does not wait on it
            outcome, _ = await asyncio.gather(
                self._execute(ctx), self._announce_start(ctx), return_exceptions=True
            )
            if isinstance(outcome, BaseException):
                raise outcome
            commit, result = outcome
        except EXPECTED as exc:
            result = SyncResult(phase="Error", message=exc.message)
        except Exception as exc:  # an operation never stays Running
            log.exception("operation on %s failed unexpectedly", ctx.app.name)
            result = SyncResult(
                phase="Error", message=f"internal error: {type(exc).__name__}: {exc}"
            )
        await self._record(ctx, op_doc, started, retry_count, commit, result)

    async def _begin(
        self, ctx: OperationContext, op_doc: dict[str, Any], started: str, retry_count: int
    ) -> None:
        await self.writer.status(
            ctx.obj, {"operationState": operation_started(op_doc, started, retry_count)}
        )
        if ctx.app.operation is not None and ctx.app.operation == ctx.operation:
            # taken off only when this run is the requested operation itself
            await self.writer.clear_operation(ctx.obj)

    async def _announce_start(self, ctx: OperationContext) -> None:
        who = "automated sync" if ctx.operation.initiated_by.automated else "sync"
        target = multisource.operation_revision(ctx.operation.sync) or multisource.target_text(
            ctx.app
        )
        await self.writer.event(
            ctx.obj, "Normal", "OperationStarted", f"Initiated {who} to {target}"
        )

    async def _execute(self, ctx: OperationContext) -> tuple[str, SyncResult]:
        app = ctx.app
        revision = multisource.operation_revision(ctx.operation.sync)
        resolved = await self.desired.resolve_app(app, revision, None)
        rendered = await self.desired.render(app, ctx.dest.client, resolved.commit)
        # a revision with one object outside the project applies nothing at all
        admission.check_objects(ctx.scope, rendered.objects)
        result = await self._sync(ctx, rendered.objects)
        return resolved.commit, result

    async def _sync(self, ctx: OperationContext, desired: list[dict[str, Any]]) -> SyncResult:
        """The engine's sync of ``desired`` with the operation's options and selection."""
        app, sync_op, dest = ctx.app, ctx.operation.sync, ctx.dest
        options = SyncOptions.parse(
            list(app.spec.sync_policy.sync_options) + list(sync_op.sync_options),
            prune=sync_op.prune,
            dry_run=sync_op.dry_run,
        )
        compared = ctx.last_compare
        request = SyncRequest(
            desired=desired,
            # never compared: nothing is known to be the app's, so nothing is pruned
            live=dest.cache.objects_of(app.name) if compared is not None else (),
            options=options,
            resources=list(sync_op.resources) or None,
            ignore_rules=ctx.rules,
            in_sync=(
                {r.key for r in compared.resources if r.status == diffing.SyncStatus.SYNCED}
                if compared is not None
                else frozenset()
            ),
            namespace=app.spec.destination.namespace or None,
            admit=lambda obj: admission.refusal(ctx.scope, obj),
            cancel=ctx.cancel,
            app_name=app.name,
            live_of=dest.cache.get,
            written=dest.cache.written,
        )
        user = sync_user(ctx.scope, ctx.app, ctx.obj)
        if user is not None:
            log.info("%s: syncing as %s (sync impersonation)", app.name, user)
        return await self._engine_for(dest, app.name, ctx.scope, user).run(request)

    async def _record(
        self,
        ctx: OperationContext,
        op_doc: dict[str, Any],
        started: str,
        retry_count: int,
        commit: str,
        result: SyncResult,
    ) -> None:
        recorded = multisource.revision_document(ctx.app, commit)
        latest = self._current(ctx.app.name) or ctx.obj
        state = operation_finished(
            op_doc,
            phase=result.phase,
            message=result.message,
            resources=[s.to_argo() for s in result.steps],
            revision=commit,
            source=recorded.get("source", {}),
            started=started,
            finished=now_iso(),
            retry_count=retry_count,
        )
        state["syncResult"] = multisource.as_recorded(ctx.app, state["syncResult"], commit)
        update: dict[str, Any] = {"operationState": state}
        status = latest.get("status") or {}
        if result.phase == "Succeeded" and not ctx.operation.sync.dry_run:
            entry = _history_entry(
                ctx.operation, commit, recorded.get("source", {}), started, state["finishedAt"]
            )
            entry = multisource.as_recorded(ctx.app, entry, commit)
            entry["trigger"] = ctx.trigger
            metadata = await self.desired.revision_metadata(ctx.app, commit)
            if metadata is not None:
                entry["revisionMetadata"] = metadata
            update["history"] = history_after(
                list(status.get("history") or []),
                entry,
                ctx.app.spec.revision_history_limit,
                resumed=ctx.resumed_at is not None,
            )
            update["conditions"] = conditions(status, [], drop=("SyncError",))
        elif result.phase in ("Failed", "Error"):
            update["conditions"] = conditions(
                status, [("SyncError", result.message)], keep_others=True
            )
        # the status and the Event at once (an Event's failure is only logged by the writer)
        written, _ = await asyncio.gather(
            self.writer.status(latest, update),
            self._announce(ctx, latest, commit, result),
            return_exceptions=True,
        )
        if isinstance(written, BaseException):
            raise written
        self._schedule_retry(ctx, retry_count, result)

    async def _announce(
        self, ctx: OperationContext, latest: dict[str, Any], commit: str, result: SyncResult
    ) -> None:
        if result.phase == "Succeeded":
            message, kind = f"Sync operation to {commit} succeeded", "Normal"
        else:
            message = f"Sync operation to {commit} {result.phase.lower()}: {result.message}"
            kind = "Warning"
        await self.writer.event(latest, kind, "OperationCompleted", message)

    def _schedule_retry(self, ctx: OperationContext, retry_count: int, result: SyncResult) -> None:
        retry = ctx.operation.retry
        if result.phase in ("Failed", "Error") and retry.limit != 0 and retry.allows(retry_count):
            self._enqueue(ctx.app.name, retry.delay(retry_count))
        self._enqueue(ctx.app.name, 0.0)


def sync_user(
    scope: admission.WriteScope, app: models.Application, obj: dict[str, Any]
) -> str | None:
    """The user the app's writes go out as when sync impersonation is on, else None; raises
    :class:`~tether.controller.impersonation.ImpersonationError` when its project maps no
    service account to its destination (the sync is then refused, as in Argo CD)."""
    if not scope.impersonate:
        return None
    return impersonation.service_account_user(
        scope.project,
        scope.server,
        app.spec.destination.namespace or "",
        str(obj["metadata"].get("namespace") or ""),
    )


def _history_entry(
    operation: models.Operation, commit: str, source: dict[str, Any], started: str, finished: str
) -> dict[str, Any]:
    initiated: dict[str, Any] = (
        {"automated": True}
        if operation.initiated_by.automated
        else {"username": operation.initiated_by.username or "admin"}
    )
    return {
        "revision": commit,
        "deployedAt": finished,
        "deployStartedAt": started,
        "source": source,
        "initiatedBy": initiated,
    }
