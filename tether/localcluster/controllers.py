"""The control loops a real cluster runs beside its API server, reduced to what the API needs.

* garbage collection through ``ownerReferences`` (Background, Foreground and Orphan deletion);
* namespace termination (delete the contents, then finalize the namespace);
* CRD lifecycle (names accepted, Established after a configurable delay, endpoints appearing and
  disappearing, instances deleted before the CRD goes).

Work is queued from store events and handled by one task on the server's event loop, so it never
runs inside another write.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from tether.localcluster.api import ClusterApi, WriteContext, now_rfc3339
from tether.localcluster.apierrors import ApiError
from tether.localcluster.kinds import ResourceType, ScaleSpec
from tether.localcluster.store import Event, Key, deep_copy

log = logging.getLogger(__name__)

NAMESPACES: Key = ("", "namespaces")
CRDS: Key = ("apiextensions.k8s.io", "customresourcedefinitions")
CRD_CLEANUP = "customresourcecleanup.apiextensions.k8s.io"
GC_MANAGER = "kube-controller-manager"


class ControlPlane:
    """Reacts to store events: GC, namespace termination and CRD establishment."""

    def __init__(self, api: ClusterApi, *, crd_establish_delay: float = 0.0) -> None:
        self.api = api
        self.store = api.store
        self.registry = api.registry
        self.crd_establish_delay = crd_establish_delay
        self._queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._pending: set[tuple[str, str]] = set()
        self.extra_handlers: list[Callable[[Event], None]] = []
        self.store.listeners.append(self._on_event)
        # CRDs loaded from saved state serve their endpoints from the first request on
        for crd in self.store.objects(CRDS):
            if _is_established(crd) and not crd["metadata"].get("deletionTimestamp"):
                self._register_crd(crd)

    # ---- event intake --------------------------------------------------------------------------

    def _enqueue(self, item: tuple[str, str]) -> None:
        if item not in self._pending:
            self._pending.add(item)
            self._queue.put_nowait(item)

    def _on_event(self, event: Event) -> None:
        obj = event.obj
        meta = obj["metadata"]
        if event.key == CRDS:
            self._enqueue(("crd", meta["name"]))
        if event.key == NAMESPACES and meta.get("deletionTimestamp"):
            self._enqueue(("namespace", meta["name"]))
        ns = meta.get("namespace")
        if event.type == "DELETED":
            self._enqueue(("orphans-of", meta.get("uid", "")))
            for ref in meta.get("ownerReferences") or []:
                self._enqueue(("finalize", str(ref.get("uid"))))
            if ns:
                terminating = self.store.get(NAMESPACES, "", ns)
                if terminating is not None and terminating["metadata"].get("deletionTimestamp"):
                    self._enqueue(("namespace", ns))
        elif meta.get("deletionTimestamp"):
            finalizers = meta.get("finalizers") or []
            if "foregroundDeletion" in finalizers or "orphan" in finalizers:
                self._enqueue(("finalize", meta.get("uid", "")))
        for handler in self.extra_handlers:
            handler(event)

    async def run(self) -> None:
        """Handle queued work forever; errors are logged, never fatal."""
        for crd in self.store.objects(CRDS):
            self._enqueue(("crd", crd["metadata"]["name"]))
        while True:
            item = await self._queue.get()
            self._pending.discard(item)
            try:
                await self._handle(item)
            except ApiError as exc:
                log.debug("control loop %s: %s", item, exc.message)
            except Exception:
                log.exception("control loop failed on %s", item)

    async def drain(self) -> None:
        """Wait until queued work is done (tests and the in-process runner use it)."""
        while self._pending:
            await asyncio.sleep(0.005)

    async def _handle(self, item: tuple[str, str]) -> None:
        kind, ident = item
        if kind == "crd":
            await self._reconcile_crd(ident)
        elif kind == "namespace":
            self._reconcile_namespace(ident)
        elif kind == "orphans-of":
            self._collect_orphans(ident)
        elif kind == "finalize":
            self._finalize_owner(ident)

    # ---- helpers -------------------------------------------------------------------------------

    def _rt_for(self, key: Key) -> ResourceType | None:
        types = self.registry.by_key(key)
        return types[0] if types else None

    def _write(
        self, key: Key, old: dict[str, Any], new: dict[str, Any], subresource: str | None = None
    ) -> None:
        rt = self._rt_for(key)
        if rt is None:
            return
        ctx = WriteContext(manager=GC_MANAGER, subresource=subresource)
        self.api._commit(rt, old, new, ctx)

    def _delete(self, key: Key, obj: dict[str, Any], policy: str) -> None:
        rt = self._rt_for(key)
        if rt is None:
            return
        meta = obj["metadata"]
        try:
            self.api.delete(
                rt, meta.get("namespace", ""), meta["name"], {"propagationPolicy": policy}, False
            )
        except ApiError as exc:
            if exc.code != 404:
                raise

    def _remove_finalizer(self, key: Key, obj: dict[str, Any], finalizer: str) -> None:
        new = deep_copy(obj)
        remaining = [f for f in new["metadata"].get("finalizers") or [] if f != finalizer]
        if remaining:
            new["metadata"]["finalizers"] = remaining
        else:
            new["metadata"].pop("finalizers", None)
        self._write(key, obj, new)

    # ---- garbage collection --------------------------------------------------------------------

    def _owners_alive(self, obj: dict[str, Any]) -> bool:
        ns = obj["metadata"].get("namespace")
        for ref in obj["metadata"].get("ownerReferences") or []:
            owner = self.store.by_uid_get(str(ref.get("uid")))
            if owner is None:
                continue
            owner_ns = owner["metadata"].get("namespace")
            # a namespaced owner in another namespace is treated as absent, as the real GC does
            if owner_ns and owner_ns != ns:
                continue
            return True
        return False

    def _collect_orphans(self, uid: str) -> None:
        for key, dep in self.store.dependents_of(uid):
            if dep["metadata"].get("deletionTimestamp"):
                continue
            if not self._owners_alive(dep):
                self._delete(key, dep, "Background")

    def _finalize_owner(self, uid: str) -> None:
        where = self.store.by_uid.get(uid)
        if where is None:
            return
        key = where[0]
        owner = self.store.get(key, *where[1])
        if owner is None or not owner["metadata"].get("deletionTimestamp"):
            return
        finalizers = owner["metadata"].get("finalizers") or []
        if "orphan" in finalizers:
            for dep_key, dep in self.store.dependents_of(uid):
                new = deep_copy(dep)
                refs = [
                    r for r in new["metadata"].get("ownerReferences") or [] if r.get("uid") != uid
                ]
                if refs:
                    new["metadata"]["ownerReferences"] = refs
                else:
                    new["metadata"].pop("ownerReferences", None)
                self._write(dep_key, dep, new)
            current = self.store.get(key, *where[1])
            if current is not None:
                self._remove_finalizer(key, current, "orphan")
            return
        if "foregroundDeletion" in finalizers:
            blocking = False
            for dep_key, dep in self.store.dependents_of(uid):
                if not dep["metadata"].get("deletionTimestamp"):
                    others_alive = any(
                        r.get("uid") != uid and self.store.by_uid_get(str(r.get("uid"))) is not None
                        for r in dep["metadata"].get("ownerReferences") or []
                    )
                    if others_alive:
                        continue
                    self._delete(dep_key, dep, "Foreground")
                still = self.store.get(
                    dep_key, dep["metadata"].get("namespace", ""), dep["metadata"]["name"]
                )
                if still is not None and any(
                    r.get("uid") == uid and r.get("blockOwnerDeletion")
                    for r in still["metadata"].get("ownerReferences") or []
                ):
                    blocking = True
            if not blocking:
                current = self.store.get(key, *where[1])
                if current is not None:
                    self._remove_finalizer(key, current, "foregroundDeletion")

    # ---- namespaces ----------------------------------------------------------------------------

    def _reconcile_namespace(self, name: str) -> None:
        ns = self.store.get(NAMESPACES, "", name)
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return
        remaining = 0
        for rt in self._namespaced_types():
            for obj in self.store.objects(rt.key, name):
                remaining += 1
                if not obj["metadata"].get("deletionTimestamp"):
                    self._delete(rt.key, obj, "Background")
        left = sum(len(self.store.objects(rt.key, name)) for rt in self._namespaced_types())
        ns = self.store.get(NAMESPACES, "", name)
        if ns is None:
            return
        if left:
            self._set_namespace_conditions(ns, remaining=left)
            return
        new = deep_copy(ns)
        spec_finalizers = [
            f for f in (new.get("spec") or {}).get("finalizers") or [] if f != "kubernetes"
        ]
        new.setdefault("spec", {})
        if spec_finalizers:
            new["spec"]["finalizers"] = spec_finalizers
        else:
            new["spec"].pop("finalizers", None)
        new.setdefault("status", {})["phase"] = "Terminating"
        if spec_finalizers:
            self._write(NAMESPACES, ns, new, subresource="finalize")
            return
        if new["metadata"].get("finalizers"):
            self._write(NAMESPACES, ns, new, subresource="finalize")
            return
        self.store.remove(NAMESPACES, ns, self.store.next_rv())

    def _set_namespace_conditions(self, ns: dict[str, Any], remaining: int) -> None:
        new = deep_copy(ns)
        now = now_rfc3339()
        conditions = [
            {
                "type": "NamespaceContentRemaining",
                "status": "True",
                "reason": "SomeResourcesRemain",
                "message": f"Some resources are remaining: {remaining} objects",
                "lastTransitionTime": now,
            }
        ]
        old_conditions = (ns.get("status") or {}).get("conditions") or []
        if [(c.get("type"), c.get("message")) for c in old_conditions] == [
            (c["type"], c["message"]) for c in conditions
        ]:
            return
        new.setdefault("status", {})["conditions"] = conditions
        self._write(NAMESPACES, ns, new, subresource="status")

    def _namespaced_types(self) -> list[ResourceType]:
        seen: dict[Key, ResourceType] = {}
        for rt in self.registry:
            if rt.namespaced and rt.key not in seen:
                seen[rt.key] = rt
        return list(seen.values())

    # ---- CRDs ----------------------------------------------------------------------------------

    async def _reconcile_crd(self, name: str) -> None:
        crd = self.store.get(CRDS, "", name)
        if crd is None:
            self._unregister_crd(name)
            return
        spec = crd.get("spec") or {}
        if crd["metadata"].get("deletionTimestamp"):
            self._unregister_crd(name, keep_storage=True)
            instances_key = (spec.get("group", ""), (spec.get("names") or {}).get("plural", ""))
            for obj in self.store.objects(instances_key):
                rt = self._type_from_crd(crd, None)
                if rt is None:
                    break
                meta = obj["metadata"]
                if not meta.get("deletionTimestamp"):
                    self.api.delete(rt, meta.get("namespace", ""), meta["name"], {}, False)
            if self.store.objects(instances_key):
                return
            current = self.store.get(CRDS, "", name)
            if current is not None and CRD_CLEANUP in (current["metadata"].get("finalizers") or []):
                self._remove_finalizer(CRDS, current, CRD_CLEANUP)
            return
        if not _is_established(crd):
            if self.crd_establish_delay:
                self._write_crd_status(crd, established=False)
                await asyncio.sleep(self.crd_establish_delay)
                crd = self.store.get(CRDS, "", name)
                if crd is None:
                    return
            self._write_crd_status(crd, established=True)
            crd = self.store.get(CRDS, "", name) or crd
        self._register_crd(crd)

    def _write_crd_status(self, crd: dict[str, Any], established: bool) -> None:
        spec = crd.get("spec") or {}
        names = dict(spec.get("names") or {})
        names.setdefault("singular", str(names.get("kind", "")).lower())
        names.setdefault("listKind", f"{names.get('kind')}List")
        now = now_rfc3339()
        conditions = [
            {
                "type": "NamesAccepted",
                "status": "True",
                "reason": "NoConflicts",
                "message": "no conflicts found",
                "lastTransitionTime": now,
            },
            {
                "type": "Established",
                "status": "True" if established else "False",
                "reason": "InitialNamesAccepted" if established else "Installing",
                "message": "the initial names have been accepted",
                "lastTransitionTime": now,
            },
        ]
        storage = [v["name"] for v in spec.get("versions") or [] if v.get("storage")]
        stored = list((crd.get("status") or {}).get("storedVersions") or [])
        for version in storage:
            if version not in stored:
                stored.append(version)
        new = deep_copy(crd)
        new["status"] = {"acceptedNames": names, "conditions": conditions, "storedVersions": stored}
        self._write(CRDS, crd, new, subresource="status")

    def _type_from_crd(
        self, crd: dict[str, Any], version: dict[str, Any] | None
    ) -> ResourceType | None:
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        versions = spec.get("versions") or []
        if version is None:
            version = next(
                (v for v in versions if v.get("storage")), versions[0] if versions else None
            )
        if version is None:
            return None
        subresources = version.get("subresources") or {}
        scale_def = subresources.get("scale")
        scale = None
        if isinstance(scale_def, dict):
            scale = ScaleSpec(
                spec_replicas=scale_def.get("specReplicasPath", ".spec.replicas"),
                status_replicas=scale_def.get("statusReplicasPath", ".status.replicas"),
                label_selector=scale_def.get("labelSelectorPath"),
            )
        schema_def = (version.get("schema") or {}).get("openAPIV3Schema") or {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
        }
        return ResourceType(
            group=spec.get("group", ""),
            version=version.get("name", "v1"),
            kind=names.get("kind", ""),
            plural=names.get("plural", ""),
            singular=names.get("singular") or str(names.get("kind", "")).lower(),
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            short_names=tuple(names.get("shortNames") or ()),
            categories=tuple(names.get("categories") or ()),
            has_status="status" in subresources,
            scale=scale,
            generation="custom",
            openapi_schema=schema_def,
            crd_name=crd["metadata"]["name"],
            selectable_fields=tuple(
                f.get("jsonPath", "") for f in version.get("selectableFields") or []
            ),
            printer_columns=tuple(version.get("additionalPrinterColumns") or ()),
        )

    def _register_crd(self, crd: dict[str, Any]) -> None:
        name = crd["metadata"]["name"]
        self.registry.remove_crd(name)
        for version in (crd.get("spec") or {}).get("versions") or []:
            if not version.get("served", True):
                continue
            rt = self._type_from_crd(crd, version)
            if rt is not None:
                self.registry.add(rt)

    def _unregister_crd(self, name: str, keep_storage: bool = False) -> None:
        self.registry.remove_crd(name)


def _is_established(crd: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Established" and c.get("status") == "True"
        for c in (crd.get("status") or {}).get("conditions") or []
    )
