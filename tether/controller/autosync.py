"""The automated sync policy as one pure decision: sync now, look again later, or leave it.

Argo CD's rules: only an OutOfSync app with ``syncPolicy.automated`` is synced; a revision (and
source) is synced automatically once: after a success only self-heal syncs it again (drift), with
a delay that doubles while drift keeps coming back; after a failure, retries follow
``syncPolicy.retry`` with its backoff; an app whose every resource left Git is not pruned empty
unless ``allowEmpty``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tether.controller import models, multisource
from tether.controller.status import OUT_OF_SYNC, AppStatus, OperationState, parse_iso

#: repeated drift within this many heal delays (at least seconds) doubles the delay
RECENT_HEALS = 10


@dataclass(frozen=True)
class HealBackoff:
    """Self-heal pacing of one app: the current delay (0: the first) and when it last healed
    (monotonic seconds)."""

    delay: float = 0.0
    last: float = 0.0


@dataclass(frozen=True)
class HealSettings:
    first_delay: float = 0.2
    max_delay: float = 60.0


@dataclass(frozen=True)
class Decision:
    """What to do: run ``operation``; or look again in ``retry_in`` seconds; or nothing.

    ``heal`` is the app's new heal pacing when this decision heals drift; ``reason`` says why
    nothing is done (for logs and tests).
    """

    operation: models.Operation | None = None
    retry_in: float | None = None
    heal: HealBackoff | None = None
    reason: str = ""


def same_attempt(last: OperationState, app: models.Application) -> bool:
    """Whether ``last`` synced the app as its spec stands now: the same source(s) and the same
    sync options (otherwise a failed sync counts as a new attempt, not a retry)."""
    if app.spec.sources:
        if [dict(s) for s in last.sources] != [s.raw for s in app.spec.sources]:
            return False
    else:
        source = app.spec.source
        if source is None or dict(last.source) != source.raw:
            return False
    options = last.operation.get("sync") if isinstance(last.operation, Mapping) else None
    recorded = (options or {}).get("syncOptions") if isinstance(options, Mapping) else None
    return tuple(recorded or ()) == tuple(app.spec.sync_policy.sync_options)


def last_synced(status: AppStatus) -> str:
    """The revision of the last successful sync (the newest history entry), or ""."""
    return status.history[-1].revision if status.history else ""


def _operation(app: models.Application, commit: str) -> models.Operation:
    policy = app.spec.sync_policy
    assert policy.automated is not None
    return models.Operation(
        sync=models.SyncOperation(
            **multisource.sync_operation_revision(app, commit),
            prune=policy.automated.prune,
            sync_options=tuple(policy.sync_options),
        ),
        initiated_by=models.InitiatedBy(username="", automated=True),
        retry=policy.retry,
    )


def _after_failure(retry: models.RetryPolicy, count: int, finished: float, now: float) -> Decision:
    if not retry.allows(count):
        return Decision(reason="the sync failed and its retries are used up")
    wait = retry.delay(count) - (now - finished)
    if wait > 0:
        return Decision(retry_in=wait + 0.05, reason="waiting for the retry's backoff")
    return Decision()


def _heal(heal: HealBackoff, settings: HealSettings, now: float) -> Decision:
    wait = heal.delay or settings.first_delay
    since = now - heal.last
    if since < wait:
        return Decision(retry_in=wait - since + 0.01, reason="self-heal backs off")
    recent = since < RECENT_HEALS * max(wait, 1.0)
    delay = min(wait * 2, settings.max_delay) if recent else settings.first_delay
    return Decision(heal=HealBackoff(delay, now))


def decide(
    app: models.Application,
    status: AppStatus,
    *,
    commit: str,
    sync_status: str,
    nothing_desired: bool,
    heal: HealBackoff,
    settings: HealSettings,
    now: float,
    wall_now: float,
) -> Decision:
    """Whether the automated policy syncs ``app`` to ``commit`` now.

    ``sync_status`` is the comparison's; ``now`` monotonic seconds (self-heal pacing),
    ``wall_now`` seconds since the epoch (retry backoff from ``finishedAt``).
    """
    automated = app.spec.sync_policy.automated
    if automated is None or not automated.enabled:
        return Decision(reason="automated sync is off")
    if sync_status != OUT_OF_SYNC:
        return Decision(reason=f"the app is {sync_status}")
    if nothing_desired and automated.prune and not automated.allow_empty:
        return Decision(reason="automated sync would prune every resource; allowEmpty is off")
    last = status.operation
    if last is None or last.revision != commit or not same_attempt(last, app):
        # a new revision, or a spec that changed since the last try (a sync option added
        # after a failure is tried at once, without waiting for the backoff)
        return Decision(operation=_operation(app, commit))
    if last.failed:
        waiting = _after_failure(
            app.spec.sync_policy.retry, last.retry_count, parse_iso(last.finished_at), wall_now
        )
        if waiting.reason:
            return waiting
        return Decision(operation=_operation(app, commit))
    if last.phase != "Succeeded":
        return Decision(reason=f"the last operation is {last.phase or 'unknown'}")
    if not automated.self_heal:
        return Decision(reason="this revision was synced; selfHeal is off")
    healing = _heal(heal, settings, now)
    if healing.heal is None:
        return healing
    return Decision(operation=_operation(app, commit), heal=healing.heal)


def decide_heal(
    app: models.Application,
    status: AppStatus,
    *,
    revision: str,
    sync_status: str,
    heal: HealBackoff,
    settings: HealSettings,
    now: float,
) -> Decision:
    """Whether to revert drift to ``revision``, the revision of the last sync, now.

    This is how drift is reverted when the target itself is not synced automatically: Tether's
    production mode (``automated: {enabled: false, selfHeal: true}``: new commits wait for a
    person, drift does not), and an automated app whose new revision cannot be rendered or is
    refused (the last good state keeps being enforced). ``sync_status`` is the comparison of
    the live objects with ``revision``.
    """
    automated = app.spec.sync_policy.automated
    if automated is None or not automated.self_heal:
        return Decision(reason="selfHeal is off")
    if not revision:
        return Decision(reason="never synced: nothing to revert to")
    if sync_status != OUT_OF_SYNC:
        return Decision(reason=f"the app is {sync_status} with the last synced revision")
    last = status.operation
    if last is not None and last.running:
        return Decision(reason="an operation is running")
    healing = _heal(heal, settings, now)
    if healing.heal is None:
        return healing
    return Decision(operation=_operation(app, revision), heal=healing.heal)
