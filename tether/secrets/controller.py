"""The Sealed Secrets controller: SealedSecret in, owned Secret out, a ``Synced`` condition always.

For every SealedSecret it decrypts ``spec.encryptedData`` with every sealing key it holds
(newest first), then creates or updates the Secret of the same name with a controller
ownerReference, the template's labels, annotations, type and immutability. It never overwrites a
Secret it does not own, and every failure (wrong key, wrong scope, corrupted data, foreign
Secret) is a ``Synced=False`` condition with a reason and a message that contains neither a value
nor key material.

Kubernetes calls go through :class:`~tether.secrets.kubeapi.KubeApi`, implemented on Tether's
cluster client and live cache by :class:`~tether.secrets.kubeapi.ClusterKubeApi`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tether.secrets.crd import sealed_secret_crd
from tether.secrets.keys import (
    DEFAULT_KEY_SIZE,
    DEFAULT_RENEW_PERIOD,
    KEY_LABEL,
    KEY_PREFIX,
    KeyPair,
    KeyRing,
    generate_key_pair,
    key_secret,
)
from tether.secrets.kubeapi import LISTED, KubeApi
from tether.secrets.sealed import (
    API_VERSION,
    KIND,
    MANAGED_ANNOTATION,
    CorruptedValueError,
    NoMatchingKeyError,
    SealingError,
    secret_from_sealed,
    unseal_data,
)

log = logging.getLogger("tether.secrets")

SYNCED = "Synced"
DEFAULT_CONTROL_NAMESPACE = "kube-system"


@dataclass
class ControllerOptions:
    """How the controller runs. ``renew_period`` of None or zero turns renewal off; ``workers``
    SealedSecrets are unsealed at once (RSA decryption runs in threads, off the event loop)."""

    control_namespace: str = DEFAULT_CONTROL_NAMESPACE
    key_prefix: str = KEY_PREFIX
    key_size: int = DEFAULT_KEY_SIZE
    renew_period: dt.timedelta | None = DEFAULT_RENEW_PERIOD
    key_cutoff: dt.datetime | None = None
    workers: int = 8
    install_crd: bool = True
    events: bool = True
    # only these namespaces' SealedSecrets are unsealed (None: every namespace)
    namespaces: frozenset[str] | None = None


@dataclass(frozen=True)
class SyncResult:
    """The outcome of one reconcile: the condition written and whether the Secret changed."""

    synced: bool
    reason: str
    message: str
    secret_changed: bool = False


KeyFactory = Callable[[], KeyPair]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _rfc3339(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class SealedSecretsController:
    """Unseals SealedSecrets into Secrets; run it with :meth:`run` or ``async with running()``."""

    api: KubeApi
    options: ControllerOptions = field(default_factory=ControllerOptions)
    key_factory: KeyFactory | None = None
    clock: Callable[[], dt.datetime] = _now
    ring: KeyRing = field(default_factory=KeyRing)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    _cache: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    _queue: asyncio.Queue[tuple[str, str]] = field(default_factory=asyncio.Queue)
    _queued: set[tuple[str, str]] = field(default_factory=set)
    _busy: set[tuple[str, str]] = field(default_factory=set)
    _dirty: set[tuple[str, str]] = field(default_factory=set)

    # --- keys -------------------------------------------------------------------------------

    async def load_keys(self) -> None:
        """Read every key Secret of the control namespace into the ring (adding, never
        forgetting: a key Secret deleted by hand still unseals until restart)."""
        secrets = await self.api.list_secrets(self.options.control_namespace, KEY_LABEL)
        ring, problems = await asyncio.to_thread(KeyRing.from_secrets, secrets)
        for problem in problems:
            log.warning("ignoring a sealing key: %s", problem)
        for pair in ring.pairs:
            self.ring.add(pair)

    async def renew_key(self) -> KeyPair:
        """Generate a key, store it as a Secret, make it the sealing key. Old keys stay."""
        factory = self.key_factory or (lambda: generate_key_pair(key_size=self.options.key_size))
        pair = await asyncio.to_thread(factory)
        created = await self.api.create_secret(
            key_secret(pair, self.options.control_namespace, self.options.key_prefix)
        )
        stored = KeyPair(
            created["metadata"]["name"], pair.private_key, pair.certificate, self.clock()
        )
        self.ring.add(stored)
        log.info(
            "new sealing key %s/%s (public key sha256 %s); %d keys kept",
            self.options.control_namespace,
            stored.name,
            stored.fingerprint()[:16],
            len(self.ring),
        )
        return stored

    async def ensure_keys(self) -> None:
        """Load the keys and add one when none exists or the newest is due for renewal."""
        await self.load_keys()
        if self.ring.renewal_due(self.clock(), self.options.renew_period, self.options.key_cutoff):
            await self.renew_key()

    async def _renewal_loop(self) -> None:
        while True:
            due = self.ring.next_renewal(self.options.renew_period)
            if due is None:
                return
            wait = (due - self.clock()).total_seconds()
            # wake at least hourly: a clock jump or a key added by another replica is seen
            await asyncio.sleep(min(max(wait, 0.0), 3600.0))
            before = len(self.ring)
            await self.ensure_keys()
            if len(self.ring) > before:
                self._retry_failed()

    def _retry_failed(self) -> None:
        """Queue every SealedSecret whose last sync failed: a new key may open it now."""
        for key, obj in self._cache.items():
            conditions = (obj.get("status") or {}).get("conditions") or []
            if any(c.get("type") == SYNCED and c.get("status") != "True" for c in conditions):
                self._enqueue(key)

    # --- running ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Prepare: namespace, CRD, keys. :meth:`run` calls it."""
        await self.api.ensure_namespace(self.options.control_namespace)
        if self.options.install_crd:
            await self.api.ensure_crd(sealed_secret_crd())
        await self.ensure_keys()

    async def run(self) -> None:
        """Run until cancelled: watch SealedSecrets and owned Secrets, reconcile, renew keys."""
        await self.start()
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._watch_sealed())
            tasks.create_task(self._watch_secrets())
            tasks.create_task(self._renewal_loop())
            for _ in range(max(1, self.options.workers)):
                tasks.create_task(self._worker())

    @contextlib.asynccontextmanager
    async def running(self, timeout: float = 30.0) -> AsyncIterator[SealedSecretsController]:
        """Run in a background task while the block runs; ready (keys loaded, first list
        queued) on entry."""
        task = asyncio.create_task(self.run())
        ready = asyncio.create_task(self.ready.wait())
        try:
            done, _ = await asyncio.wait(
                {task, ready}, timeout=timeout, return_when="FIRST_COMPLETED"
            )
            if task in done:
                task.result()
            if ready not in done:
                raise TimeoutError("the sealed secrets controller did not become ready")
            yield self
        finally:
            ready.cancel()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _watch_sealed(self) -> None:
        async for event, obj in self.api.watch_sealed_secrets():
            meta = obj.get("metadata") or {}
            key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
            if event == LISTED:
                self.ready.set()
                continue
            if self.options.namespaces is not None and key[0] not in self.options.namespaces:
                continue
            if event == "DELETED":
                # the owned Secret goes with it through its ownerReference (garbage collection)
                self._cache.pop(key, None)
                continue
            if event not in ("ADDED", "MODIFIED"):
                continue
            previous = self._cache.get(key)
            self._cache[key] = obj
            if not _only_status_changed(previous, obj):
                self._enqueue(key)
        # a watch that ends means the API went away: fail the task group loudly
        raise ConnectionError("the SealedSecret watch ended")

    async def _watch_secrets(self) -> None:
        # an owned Secret deleted or edited by hand is put back from its SealedSecret
        async for event, obj in self.api.watch_owned_secrets():
            meta = obj.get("metadata") or {}
            for ref in meta.get("ownerReferences") or []:
                if ref.get("kind") == KIND and ref.get("apiVersion") == API_VERSION:
                    key = (str(meta.get("namespace") or ""), str(ref.get("name") or ""))
                    if key in self._cache and event in ("MODIFIED", "DELETED"):
                        self._enqueue(key)

    def _enqueue(self, key: tuple[str, str]) -> None:
        if key in self._busy:
            self._dirty.add(key)
            return
        if key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    async def _worker(self) -> None:
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            self._busy.add(key)
            try:
                await self.reconcile(*key)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # an API failure: report it without the object and try again shortly
                log.warning("reconcile of SealedSecret %s/%s failed: %s", *key, type(exc).__name__)
                self._dirty.add(key)
                await asyncio.sleep(1.0)
            finally:
                self._busy.discard(key)
                if key in self._dirty:
                    self._dirty.discard(key)
                    self._enqueue(key)

    # --- one SealedSecret -------------------------------------------------------------------

    async def reconcile(self, namespace: str, name: str) -> SyncResult | None:
        """Bring the Secret of one SealedSecret in line and write its condition."""
        sealed = self._cache.get((namespace, name))
        if sealed is None:
            return None
        try:
            data = await asyncio.to_thread(unseal_data, self.ring.private_keys(), sealed)
            desired = secret_from_sealed(sealed, data)
        except SealingError as exc:
            reason = (
                "CorruptedData"
                if isinstance(exc, CorruptedValueError)
                else "NoMatchingKey"
                if isinstance(exc, NoMatchingKeyError)
                else "UnsealFailed"
            )
            return await self._report(sealed, SyncResult(False, reason, f"cannot unseal: {exc}"))
        if desired["metadata"].get("ownerReferences") is None:
            desired["metadata"].setdefault("annotations", {})[MANAGED_ANNOTATION] = "true"
        existing = await self.api.get_secret(namespace, name)
        changed = False
        if existing is None:
            await self.api.create_secret(desired)
            changed = True
        else:
            if not self._owns(sealed, existing):
                return await self._report(
                    sealed,
                    SyncResult(
                        False,
                        "SecretNotOwned",
                        f"Secret {namespace}/{name} exists and is not managed by this "
                        f"SealedSecret; not overwriting it (delete it, or annotate it "
                        f"{MANAGED_ANNOTATION}=true to hand it over)",
                    ),
                )
            if _differs(existing, desired):
                if existing.get("immutable") and existing.get("data") != desired.get("data"):
                    # an immutable Secret's data cannot be updated, only replaced
                    await self.api.delete_secret(namespace, name)
                    await self.api.create_secret(desired)
                else:
                    merged = dict(desired)
                    merged["metadata"] = {
                        **desired["metadata"],
                        "resourceVersion": existing["metadata"].get("resourceVersion"),
                    }
                    await self.api.replace_secret(merged)
                changed = True
        return await self._report(
            sealed, SyncResult(True, "Unsealed", "Secret unsealed", secret_changed=changed)
        )

    def _owns(self, sealed: Mapping[str, Any], existing: Mapping[str, Any]) -> bool:
        meta = existing.get("metadata") or {}
        uid = (sealed.get("metadata") or {}).get("uid")
        for ref in meta.get("ownerReferences") or []:
            if ref.get("controller") and ref.get("kind") == KIND and ref.get("uid") == uid:
                return True
        annotations = meta.get("annotations") or {}
        # Bitnami's hand-over: a Secret annotated managed=true may be taken over
        return str(annotations.get(MANAGED_ANNOTATION, "")).lower() == "true"

    async def _report(self, sealed: dict[str, Any], result: SyncResult) -> SyncResult:
        meta = sealed.get("metadata") or {}
        namespace, name = meta.get("namespace") or "", meta.get("name") or ""
        status = sealed.get("status") or {}
        current = next((c for c in status.get("conditions") or [] if c.get("type") == SYNCED), None)
        state = "True" if result.synced else "False"
        generation = meta.get("generation")
        unchanged = (
            current is not None
            and current.get("status") == state
            and current.get("reason") == result.reason
            and current.get("message") == result.message
            and status.get("observedGeneration") == generation
        )
        if not result.synced:
            log.warning("SealedSecret %s/%s: %s", namespace, name, result.message)
        if unchanged:
            return result
        now = _rfc3339(self.clock())
        transition = (
            current.get("lastTransitionTime")
            if current is not None and current.get("status") == state
            else now
        )
        condition = {
            "type": SYNCED,
            "status": state,
            "reason": result.reason,
            "message": result.message,
            "lastUpdateTime": now,
            "lastTransitionTime": transition or now,
        }
        new_status: dict[str, Any] = {"conditions": [condition]}
        if generation is not None:
            new_status["observedGeneration"] = generation
        await self.api.patch_status(namespace, name, new_status)
        if self.options.events and not result.synced:
            await self._event(sealed, result)
        return result

    async def _event(self, sealed: Mapping[str, Any], result: SyncResult) -> None:
        meta = sealed.get("metadata") or {}
        now = _rfc3339(self.clock())
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{meta.get('name')}.{uuid.uuid4().hex[:16]}",
                "namespace": meta.get("namespace"),
            },
            "involvedObject": {
                "apiVersion": API_VERSION,
                "kind": KIND,
                "name": meta.get("name"),
                "namespace": meta.get("namespace"),
                "uid": meta.get("uid"),
            },
            "reason": "ErrUnsealFailed" if result.reason != "SecretNotOwned" else result.reason,
            "message": result.message,
            "type": "Warning",
            "source": {"component": "tether-secrets"},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            await self.api.create_event(event)
        except Exception as exc:
            # an event is a courtesy; the condition already says what happened
            log.info("could not record an event: %s", type(exc).__name__)


def _only_status_changed(previous: Mapping[str, Any] | None, current: Mapping[str, Any]) -> bool:
    """Whether an update touched only what the controller itself writes (status, version):
    reconciling again would decrypt everything to learn nothing new."""
    if previous is None:
        return False
    old, new = previous.get("metadata") or {}, current.get("metadata") or {}
    status = current.get("status") or {}
    return (
        old.get("uid") == new.get("uid")
        and old.get("generation") == new.get("generation")
        and old.get("annotations") == new.get("annotations")
        and previous.get("spec") == current.get("spec")
        and status.get("observedGeneration") == new.get("generation")
        and bool(status.get("conditions"))
    )


def _differs(existing: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    have = existing.get("metadata") or {}
    want = desired.get("metadata") or {}
    if (existing.get("data") or {}) != (desired.get("data") or {}):
        return True
    if (existing.get("type") or "Opaque") != desired.get("type"):
        return True
    if bool(existing.get("immutable")) != bool(desired.get("immutable")):
        return True
    for field_name in ("labels", "annotations", "ownerReferences"):
        if (have.get(field_name) or None) != (want.get(field_name) or None):
            return True
    return False
