"""Desired versus live: which resources of an application are in sync, and what differs.

The question answered is the one a sync would answer by doing it: would a server-side apply of
the desired object with our field manager change the live object? Server defaults, status and
server-owned metadata therefore never count as drift.

For each resource the answer is found in up to two steps:

1. A local check, free of requests: every field the desired object sets already holds that value
   in the live object (`normalize.is_contained`, with the API server's own equivalences), and no
   field our manager applied before has been dropped from the desired object
   (`normalize.dropped_owned_paths`). When both hold the resource is Synced. This is the path of
   an unchanged application, microseconds per resource.
2. Otherwise the server is asked: a server-side apply with `dryRun=All` (a `DryRunner`) returns the
   object as it would be, which is compared with the live one after normalization. Answers are
   cached by (desired object, live resourceVersion), so a drifted or undecidable resource costs
   one request until either side changes. Without a dry runner the post-apply object is predicted
   locally (`normalize.predict_apply`).

Secret values are masked in every output (see `tether.engine.masking`).
"""

from __future__ import annotations

import asyncio
import difflib
import enum
import hashlib
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol

from tether.cluster.errors import ClusterError
from tether.engine import normalize as norm
from tether.engine.ignore import (
    IgnoredPlaces,
    IgnoreRule,
    IgnoreRuleError,
    evaluate_ahead,
    ignored_places,
    matching_rules,
)
from tether.engine.masking import mask_object, mask_secrets, scrub
from tether.engine.normalize import Change
from tether.errors import TetherError
from tether.names import COMPARE_OPTIONS_ANNOTATION, CONTROLLER_FIELD_MANAGER
from tether.resources import ResourceKey

if TYPE_CHECKING:
    from tether.cluster.client import ClusterClient

__all__ = [
    "FIELD_MANAGER",
    "AppDiff",
    "Change",
    "ClusterDryRunner",
    "DryRunCache",
    "DryRunError",
    "DryRunner",
    "ResourceDiff",
    "ResourceKey",
    "SyncStatus",
    "compare",
    "diff_resource",
    "respect_ignore_differences",
]

#: the field manager a comparison asks "would an apply by it change anything?" for
FIELD_MANAGER: Final = CONTROLLER_FIELD_MANAGER


class SyncStatus(enum.StrEnum):
    """Sync status of one resource or of a whole application."""

    SYNCED = "Synced"
    OUT_OF_SYNC = "OutOfSync"
    MISSING = "Missing"  # desired, not live
    EXTRANEOUS = "Extraneous"  # live and tracked by the application, not desired: to prune
    UNKNOWN = "Unknown"  # could not be compared; `error` says why


@dataclass(frozen=True, slots=True)
class ResourceDiff:
    """The comparison of one resource.

    `live` and `desired` are the normalized objects (desired as it would be after the apply),
    Secret values masked; treat them as read-only, nested values may be shared with the inputs.
    `diff` is a unified diff of their YAML (`--- live` / `+++ desired`, empty when equal) and
    `changes` the same difference as JSON-Patch-like operations, both made when read (only the
    API shows them: a cold start of 1,000 apps would otherwise dump 10,000 objects to YAML that
    nobody looks at). `decided_by` says how the
    answer was reached: `local` (no request), `dry-run` (server-side apply dry run, possibly
    cached) or `predicted` (local approximation of the apply, no server available).

    A resource the local check found Synced keeps only the live object it was compared with
    (`synced_live`, the cached object itself) and shows it normalized and masked when `live` or
    `desired` is read: an application's last comparison then holds no copy of its objects.
    """

    key: ResourceKey
    status: SyncStatus
    shown_live: dict[str, Any] | None = None
    shown_desired: dict[str, Any] | None = None
    decided_by: str = "local"
    error: str | None = None
    ignore_extraneous: bool = False
    # unmasked (the cached object): never in a repr, which may reach a log
    synced_live: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def live(self) -> dict[str, Any] | None:
        if self.synced_live is not None:
            return mask_object(norm.normalize(self.synced_live))
        return self.shown_live

    @property
    def desired(self) -> dict[str, Any] | None:
        return self.live if self.synced_live is not None else self.shown_desired

    @property
    def synced(self) -> bool:
        return self.status is SyncStatus.SYNCED

    @property
    def diff(self) -> str:
        """The unified diff of the YAML of `live` and `desired` (empty when they are equal)."""
        if self.synced_live is not None or self.shown_live == self.shown_desired:
            return ""
        return "".join(
            difflib.unified_diff(
                norm.to_yaml(self.shown_live).splitlines(keepends=True),
                norm.to_yaml(self.shown_desired).splitlines(keepends=True),
                fromfile="live",
                tofile="desired",
            )
        )

    @property
    def changes(self) -> tuple[Change, ...]:
        """What turns `live` into `desired`, as JSON-Patch-like operations."""
        if self.synced_live is not None or self.shown_live == self.shown_desired:
            return ()
        return tuple(norm.structured_diff(self.shown_live, self.shown_desired))


@dataclass(frozen=True, slots=True)
class AppDiff:
    """Per-resource results (desired order, then extraneous objects) and the application status."""

    resources: tuple[ResourceDiff, ...]
    dry_run_requests: int = 0

    @property
    def status(self) -> SyncStatus:
        """Synced when every resource is; Unknown when one could not be compared; else OutOfSync."""
        statuses = {
            r.status
            for r in self.resources
            if not (r.status is SyncStatus.EXTRANEOUS and r.ignore_extraneous)
        }
        if statuses <= {SyncStatus.SYNCED}:
            return SyncStatus.SYNCED
        if statuses <= {SyncStatus.SYNCED, SyncStatus.UNKNOWN}:
            return SyncStatus.UNKNOWN
        return SyncStatus.OUT_OF_SYNC

    def get(self, key: ResourceKey) -> ResourceDiff | None:
        """The result for one resource."""
        for resource in self.resources:
            if resource.key == key:
                return resource
        return None

    @property
    def out_of_sync(self) -> list[ResourceDiff]:
        """Resources that are not Synced."""
        return [r for r in self.resources if not r.synced]


# --- server-side dry run -------------------------------------------------------------------------


class DryRunError(TetherError):
    """The server did not return a dry-run result.

    `permanent` errors (the server rejected the object: invalid, forbidden, unknown kind) give the
    same answer for the same input and are cached; others (timeouts, 5xx, 429) are retried.
    """

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class DryRunner(Protocol):
    """Something that can ask the API server what a server-side apply would produce."""

    async def dry_run_apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """PATCH `obj` as apply with `dryRun=All`, `force=true`, our field manager; return the result.

        Raises `DryRunError` when the server does not return an object.
        """
        ...


class DryRunCache:
    """Dry-run answers by (desired object, live resourceVersion), least recently used evicted.

    Keep one per cluster for the life of the process: an unchanged object then costs no request.
    Answers are kept without ``status`` and server-owned metadata (``managedFields`` is often
    half an answer): the comparison never reads them from the would-be object.
    """

    def __init__(self, maxsize: int = 4096) -> None:
        self.maxsize = maxsize
        self._entries: OrderedDict[tuple[bytes, str], dict[str, Any] | DryRunError] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(body: dict[str, Any], live_resource_version: str) -> tuple[bytes, str]:
        return hashlib.blake2b(
            norm.fingerprint(body), digest_size=20
        ).digest(), live_resource_version

    def get(self, key: tuple[bytes, str]) -> dict[str, Any] | DryRunError | None:
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(key)
        return entry

    def put(self, key: tuple[bytes, str], value: dict[str, Any] | DryRunError) -> None:
        self._entries[key] = value if isinstance(value, DryRunError) else _apply_body(value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


class ClusterDryRunner:
    """`DryRunner` over Tether's :class:`~tether.cluster.ClusterClient` (its discovery finds the
    kind, built-in or custom)."""

    def __init__(self, client: ClusterClient, *, field_manager: str = FIELD_MANAGER) -> None:
        self.client = client
        self.field_manager = field_manager

    async def dry_run_apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        try:
            info = await self.client.resource_for_object(obj)
            return await self.client.apply(
                info, obj, field_manager=self.field_manager, force=True, dry_run=True
            )
        except ClusterError as exc:
            # A rejection (invalid, forbidden, unknown kind) gives the same answer for the same
            # object; a timeout, a conflict, throttling, a 5xx or no answer may not.
            permanent = 400 <= exc.code < 500 and exc.code not in (408, 409, 429)
            message = f"{exc.code} {exc.message}" if exc.code else exc.message
            raise DryRunError(message, permanent=permanent) from exc


# --- comparison ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Pending:
    """A resource the local check could not call Synced: needs the server or a local prediction."""

    index: int
    key: ResourceKey
    desired: dict[str, Any]
    live: dict[str, Any]
    places: IgnoredPlaces
    dropped: list[norm.Path]
    body: dict[str, Any] = field(default_factory=dict)


def _apply_body(desired: dict[str, Any]) -> dict[str, Any]:
    """What a sync sends: the desired object without server-owned metadata (an apply rejects
    `managedFields`) and without `status` (ignored by the main resource endpoint)."""
    body = {k: v for k, v in desired.items() if k != "status"}
    metadata = desired.get("metadata")
    if isinstance(metadata, dict) and not norm.SERVER_METADATA.isdisjoint(metadata):
        body["metadata"] = {k: v for k, v in metadata.items() if k not in norm.SERVER_METADATA}
    return body


def _ignore_extraneous(live: Mapping[str, Any]) -> bool:
    annotations = (live.get("metadata") or {}).get("annotations") or {}
    return "IgnoreExtraneous" in str(annotations.get(COMPARE_OPTIONS_ANNOTATION, ""))


def _render(
    key: ResourceKey,
    status: SyncStatus,
    live: dict[str, Any] | None,
    desired: dict[str, Any] | None,
    *,
    decided_by: str,
    error: str | None = None,
    ignore_extraneous: bool = False,
) -> ResourceDiff:
    """The comparison of two normalized objects, Secret values masked (its textual and
    structured diffs are made when read)."""
    live, desired = mask_secrets(live, desired)
    return ResourceDiff(key, status, live, desired, decided_by, error, ignore_extraneous)


def _missing(key: ResourceKey, desired: dict[str, Any]) -> ResourceDiff:
    return _render(
        key, SyncStatus.MISSING, None, norm.normalize(_apply_body(desired)), decided_by="local"
    )


def _extraneous(key: ResourceKey, live: dict[str, Any]) -> ResourceDiff:
    return _render(
        key,
        SyncStatus.EXTRANEOUS,
        norm.normalize(live),
        None,
        decided_by="local",
        ignore_extraneous=_ignore_extraneous(live),
    )


def _local_check(
    index: int,
    key: ResourceKey,
    desired: dict[str, Any],
    live: dict[str, Any],
    rules: Sequence[IgnoreRule],
    manager: str,
) -> ResourceDiff | _Pending:
    """Step 1: Synced without any request, or what is needed to go on."""
    matched = matching_rules(rules, *key) if rules else []
    places = ignored_places(matched, live) if matched else IgnoredPlaces((), (), ())
    want = _compared(desired)
    have = live
    if places:
        try:
            want, have = places.strip(want), places.strip(live)
        except IgnoreRuleError as error:
            return _ignore_failed(key, live, error)
    # The server folds a Secret's stringData into data before anything else (applies included).
    compared = norm.merge_string_data(want) if norm.is_secret(want) else want
    dropped = norm.dropped_owned_paths(compared, have, manager)
    if not dropped and norm.is_contained(compared, have):
        return ResourceDiff(key, SyncStatus.SYNCED, synced_live=live)
    return _Pending(index, key, desired, live, places, dropped)


def _compared(desired: dict[str, Any]) -> dict[str, Any]:
    """The part of a desired object the local check compares (`status` never counts)."""
    return {k: v for k, v in desired.items() if k != "status"}


def _ignore_failed(key: ResourceKey, live: dict[str, Any], error: IgnoreRuleError) -> ResourceDiff:
    """An object whose ignore rules could not be applied: not comparable, and why."""
    normalized = norm.normalize(live)
    message = f"ignoreDifferences: {error.message}"
    return _render(
        key, SyncStatus.UNKNOWN, normalized, normalized, decided_by="local", error=message
    )


async def _evaluate_ignore_rules_ahead(
    desired: Sequence[dict[str, Any]],
    live: Mapping[ResourceKey, dict[str, Any]],
    rules: Sequence[IgnoreRule],
) -> None:
    """Run the jq expressions the local checks will need in one request, off the event loop."""
    if not any(rule.jq_path_expressions for rule in rules):
        return
    requests = []
    for obj in desired:
        key = ResourceKey.of(obj)
        live_obj = live.get(key)
        matched = matching_rules(rules, *key) if live_obj is not None else []
        if matched:
            places = ignored_places(matched, live_obj)
            requests += [(places, _compared(obj)), (places, live_obj)]
    await evaluate_ahead(requests)


def _finish(
    pending: _Pending, predicted: dict[str, Any], decided_by: str, error: str | None = None
) -> ResourceDiff:
    """Step 2: compare the would-be object with the live one, ignored places taken from live."""
    live = pending.live
    if pending.places:
        try:
            predicted = pending.places.take_from(predicted, live)
        except IgnoreRuleError as failure:
            return _ignore_failed(pending.key, live, failure)
    live_n, predicted_n = norm.normalize(live), norm.normalize(predicted)
    if error is not None:
        status = SyncStatus.UNKNOWN
    elif live_n == predicted_n:
        status = SyncStatus.SYNCED
    else:
        status = SyncStatus.OUT_OF_SYNC
    return _render(pending.key, status, live_n, predicted_n, decided_by=decided_by, error=error)


def _predict_locally(pending: _Pending) -> dict[str, Any]:
    desired = (
        norm.merge_string_data(pending.desired)
        if norm.is_secret(pending.desired)
        else pending.desired
    )
    predicted = norm.predict_apply(pending.live, _apply_body(desired))
    return (
        norm.delete_paths(predicted, pending.dropped, prune_empty=True)
        if pending.dropped
        else predicted
    )


def diff_resource(
    desired: dict[str, Any] | None,
    live: dict[str, Any] | None,
    rules: Sequence[IgnoreRule] = (),
    *,
    field_manager: str = FIELD_MANAGER,
) -> ResourceDiff:
    """Compare one resource without any request (local check, then local prediction).

    Use `compare` with a `DryRunner` for the server's answer where the local check cannot decide.
    """
    if desired is None and live is None:
        raise ValueError("diff_resource needs a desired or a live object")
    key = ResourceKey.of(desired if desired is not None else live)  # type: ignore[arg-type]
    if desired is None:
        assert live is not None
        return _extraneous(key, live)
    if live is None:
        return _missing(key, desired)
    result = _local_check(0, key, desired, live, rules, field_manager)
    if isinstance(result, ResourceDiff):
        return result
    return _finish(result, _predict_locally(result), "predicted")


async def compare(
    desired: Sequence[dict[str, Any]],
    live: Mapping[ResourceKey, dict[str, Any]],
    tracked_keys: Iterable[ResourceKey] = (),
    rules: Sequence[IgnoreRule] = (),
    dry_runner: DryRunner | None = None,
    *,
    cache: DryRunCache | None = None,
    field_manager: str = FIELD_MANAGER,
    concurrency: int = 16,
) -> AppDiff:
    """Compare an application's desired objects with the live ones.

    `desired`: objects as rendered from Git, with the namespace filled in for namespaced kinds
    and any annotation the sync adds (tracking id) already added, i.e. exactly what a sync
    would apply. `live`: live objects by key (from the live cache). `tracked_keys`: the live
    objects that belong to the application; those not desired are Extraneous. `rules`:
    application and system-wide ignore rules together. `dry_runner`: asked where the local
    check cannot say Synced; `cache` (kept by the caller between compares) avoids asking twice.
    """
    await _evaluate_ignore_rules_ahead(desired, live, rules)
    triage = _triage(desired, live, rules, field_manager)
    results = triage.results
    requests = 0
    if triage.pending and dry_runner is not None:
        decided, requests = await _decide_by_dry_run(triage.pending, dry_runner, cache, concurrency)
        for item, result in decided:
            results[item.index] = result
    else:
        for item in triage.pending:
            results[item.index] = _finish(item, _predict_locally(item), "predicted")
    for key in dict.fromkeys(tracked_keys):
        live_obj = live.get(key)
        if key in triage.seen or live_obj is None:
            continue
        results.append(_extraneous(key, live_obj))
    return AppDiff(tuple(r for r in results if r is not None), requests)


@dataclass(slots=True)
class _Triage:
    """The first pass over the desired objects: what is decided, what still needs deciding."""

    results: list[ResourceDiff | None] = field(default_factory=list)
    pending: list[_Pending] = field(default_factory=list)
    seen: dict[ResourceKey, int] = field(default_factory=dict)  # key -> index in results


def _triage(
    desired: Sequence[dict[str, Any]],
    live: Mapping[ResourceKey, dict[str, Any]],
    rules: Sequence[IgnoreRule],
    field_manager: str,
) -> _Triage:
    """Decide every resource the local check can; the others become pending."""
    triage = _Triage()
    positions: dict[ResourceKey, list[int]] = {}  # key -> manifest positions
    for position, obj in enumerate(desired):
        key = ResourceKey.of(obj)
        positions.setdefault(key, []).append(position)
        if key in triage.seen:
            continue
        triage.seen[key] = len(triage.results)
        if not (obj.get("apiVersion") and key.kind and key.name):
            triage.results.append(
                ResourceDiff(
                    key,
                    SyncStatus.UNKNOWN,
                    error=f"manifest #{position + 1} has no apiVersion, kind or metadata.name",
                )
            )
            continue
        live_obj = live.get(key)
        if live_obj is None:
            triage.results.append(_missing(key, obj))
            continue
        checked = _local_check(len(triage.results), key, obj, live_obj, rules, field_manager)
        if isinstance(checked, ResourceDiff):
            triage.results.append(checked)
        else:
            triage.results.append(None)
            triage.pending.append(checked)
    _refuse_duplicates(triage, positions)
    return triage


def _refuse_duplicates(triage: _Triage, positions: dict[ResourceKey, list[int]]) -> None:
    """Two desired objects with one identity: neither can be compared (nor applied)."""
    duplicated = {key for key, found in positions.items() if len(found) > 1}
    for key in duplicated:
        listed = ", ".join(f"#{p + 1}" for p in positions[key])
        triage.results[triage.seen[key]] = ResourceDiff(
            key,
            SyncStatus.UNKNOWN,
            error=f"{len(positions[key])} desired objects have the identity {key} (manifests {listed}); "
            "remove or rename all but one",
        )
    triage.pending = [p for p in triage.pending if p.key not in duplicated]


async def _decide_by_dry_run(
    pending: list[_Pending],
    dry_runner: DryRunner,
    cache: DryRunCache | None,
    concurrency: int,
) -> tuple[list[tuple[_Pending, ResourceDiff]], int]:
    """Ask the server about each pending resource (cached answers first); return the results
    and how many requests were sent."""
    semaphore = asyncio.Semaphore(max(1, concurrency))
    requests = 0

    async def resolve(item: _Pending) -> tuple[_Pending, ResourceDiff]:
        nonlocal requests
        item.body = _apply_body(item.desired)
        rv = str((item.live.get("metadata") or {}).get("resourceVersion") or "")
        cache_key = DryRunCache.key(item.body, rv)
        answer = cache.get(cache_key) if cache is not None else None
        if answer is None:
            async with semaphore:
                requests += 1
                try:
                    answer = await dry_runner.dry_run_apply(item.body)
                except DryRunError as error:
                    answer = error
            if cache is not None and (not isinstance(answer, DryRunError) or answer.permanent):
                cache.put(cache_key, answer)
        if isinstance(answer, DryRunError):
            message = scrub(
                f"server-side dry run failed: {answer.message}", item.desired, item.live
            )
            return item, _finish(item, _predict_locally(item), "predicted", message)
        return item, _finish(item, answer, "dry-run")

    decided = await asyncio.gather(*(resolve(p) for p in pending))
    return list(decided), requests


def respect_ignore_differences(
    desired: dict[str, Any], live: dict[str, Any] | None, rules: Sequence[IgnoreRule]
) -> dict[str, Any]:
    """For a sync with `RespectIgnoreDifferences=true`: `desired` with every ignored place holding
    the live value (removed where live has none), so the apply leaves those places as they are.

    Returns `desired` itself when nothing applies; never modifies its arguments.
    """
    if live is None:
        return desired
    matched = matching_rules(rules, *ResourceKey.of(desired))
    if not matched:
        return desired
    places = ignored_places(matched, live)
    return places.take_from(desired, live) if places else desired
