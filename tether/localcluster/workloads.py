"""Simulated kube-controller-manager, scheduler and kubelet: workloads that run, succeed and fail.

A real API server never writes the status of a Deployment; its controllers do. This module plays
those controllers so that health checks, rollouts, hooks and the demo behave as on a real cluster:

* Deployment → ReplicaSets (one per pod template, revision annotations, rolling update bounded by
  surge/unavailability, Recreate, history limit, ``ProgressDeadlineExceeded``);
* ReplicaSet → Pods; StatefulSet → ordered Pods and their PVCs; DaemonSet → one Pod per node;
* Job → Pods until completions (or ``backoffLimit`` failures); CronJob → Jobs on schedule;
* Pods: scheduled at once, images pulled (``imagepull.py``: with ``WorkloadOptions.images`` a
  missing image waits in ErrImagePull/ImagePullBackOff), Running and Ready after
  ``pod_ready_delay``; PVCs Bound; LoadBalancer Services get an address.

Failures on demand: an image whose tag ends in ``-crashloop`` never becomes ready (CrashLoopBackOff,
then ``ProgressDeadlineExceeded`` once the deadline — scaled by ``time_scale`` — passes); one whose
tag ends in ``-pullbackoff`` is never found; a Job whose image tag ends in ``-fail`` has failing
pods.

All status goes through the ``status`` subresource with the field managers the real components use.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tether.localcluster.api import ClusterApi, WriteContext, now_rfc3339
from tether.localcluster.apierrors import ApiError
from tether.localcluster.imagepull import ImagePuller, Waiting, image_id, tag_of
from tether.localcluster.images import ImageCatalog
from tether.localcluster.kinds import ResourceType
from tether.localcluster.selectors import match_label_selector_object
from tether.localcluster.store import Event, Key, deep_copy

log = logging.getLogger(__name__)

DEPLOYMENTS: Key = ("apps", "deployments")
REPLICASETS: Key = ("apps", "replicasets")
STATEFULSETS: Key = ("apps", "statefulsets")
DAEMONSETS: Key = ("apps", "daemonsets")
JOBS: Key = ("batch", "jobs")
CRONJOBS: Key = ("batch", "cronjobs")
PODS: Key = ("", "pods")
PVCS: Key = ("", "persistentvolumeclaims")
SERVICES: Key = ("", "services")
NODES: Key = ("", "nodes")
HPAS: Key = ("autoscaling", "horizontalpodautoscalers")

CONTROLLER = "kube-controller-manager"
KUBELET = "kubelet"
SCHEDULER = "kube-scheduler"
NODE_NAME = "tether-node"
REVISION = "deployment.kubernetes.io/revision"
ALPHANUM = "bcdfghjklmnpqrstvwxz2456789"


@dataclass
class WorkloadOptions:
    """Knobs for tests and benchmarks."""

    #: seconds from scheduling until a healthy container is Running and Ready
    pod_ready_delay: float = 0.2
    #: seconds a Job pod runs before it succeeds or fails
    job_run_time: float = 0.2
    #: multiplier applied to progressDeadlineSeconds and other controller timeouts
    time_scale: float = 1.0
    #: seconds until a PVC is Bound
    pvc_bind_delay: float = 0.1
    #: the images a pull finds; None: every image exists (but a tag ending in -pullbackoff)
    images: ImageCatalog | None = None


def _hash(value: Any) -> str:
    """A short, stable name-safe hash (the pod-template-hash of a template)."""
    import orjson

    digest = hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).digest()
    number = int.from_bytes(digest[:8], "big")
    out = []
    for _ in range(10):
        number, rem = divmod(number, len(ALPHANUM))
        out.append(ALPHANUM[rem])
    return "".join(out)


def _suffix() -> str:
    return "".join(random.choices(ALPHANUM, k=5))


def _owner_ref(obj: dict[str, Any], api_version: str, kind: str) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _controller_uid(obj: dict[str, Any]) -> str | None:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def _condition(
    conditions: list[dict[str, Any]],
    ctype: str,
    status: str,
    reason: str,
    message: str,
    now: str,
    update_time: bool = False,
) -> list[dict[str, Any]]:
    """Set one condition the way controllers do.

    ``lastTransitionTime`` moves only when the status flips. Conditions that carry
    ``lastUpdateTime`` (``update_time``) refresh it when status, reason or message change; an
    unchanged condition stays byte-identical so a resync writes nothing.
    """
    out = []
    found = False
    for cond in conditions:
        if cond.get("type") != ctype:
            out.append(cond)
            continue
        found = True
        changed = (cond.get("status"), cond.get("reason"), cond.get("message")) != (
            status,
            reason,
            message,
        )
        new = dict(cond)
        if cond.get("status") != status:
            new["lastTransitionTime"] = now
        if update_time and changed:
            new["lastUpdateTime"] = now
        new.update({"status": status, "reason": reason, "message": message})
        out.append(new)
    if not found:
        entry: dict[str, Any] = {"type": ctype, "status": status}
        if update_time:
            entry["lastUpdateTime"] = now
        entry.update({"lastTransitionTime": now, "reason": reason, "message": message})
        out.append(entry)
    return out


def _touch(conditions: list[dict[str, Any]], ctype: str, now: str) -> list[dict[str, Any]]:
    """Mark progress on a condition (``lastUpdateTime`` = now) without changing it otherwise."""
    return [{**c, "lastUpdateTime": now} if c.get("type") == ctype else c for c in conditions]


def _pct_or_int(value: Any, total: int, round_up: bool) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.endswith("%"):
        fraction = int(value[:-1]) * total / 100
        return math.ceil(fraction) if round_up else math.floor(fraction)
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


class WorkloadSimulator:
    """Reacts to store events like the real workload controllers and the kubelet do."""

    def __init__(self, api: ClusterApi, options: WorkloadOptions | None = None) -> None:
        self.api = api
        self.store = api.store
        self.options = options or WorkloadOptions()
        self._puller = ImagePuller(self.options.images, self.options.time_scale)
        self._queue: asyncio.Queue[tuple[Key, str, str]] = asyncio.Queue()
        self._pending: set[tuple[Key, str, str]] = set()
        self._timers: dict[tuple[Key, str, str], asyncio.TimerHandle] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        #: monotonic times a pod was scheduled / started running, by uid
        self._scheduled_at: dict[str, float] = {}
        self._running_at: dict[str, float] = {}
        self.handlers: dict[Key, Callable[[dict[str, Any]], None]] = {
            DEPLOYMENTS: self._sync_deployment,
            REPLICASETS: self._sync_replicaset,
            STATEFULSETS: self._sync_statefulset,
            DAEMONSETS: self._sync_daemonset,
            JOBS: self._sync_job,
            CRONJOBS: self._sync_cronjob,
            PODS: self._sync_pod,
            PVCS: self._sync_pvc,
            SERVICES: self._sync_service,
            HPAS: self._sync_hpa,
        }

    # ---- plumbing ------------------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        meta = event.obj["metadata"]
        ns = meta.get("namespace") or ""
        if event.key in self.handlers and event.type != "DELETED":
            self.enqueue(event.key, ns, meta["name"])
        if event.key == PODS and event.type == "DELETED":
            self._forget_pod(meta.get("uid", ""))
        # a change to a dependent wakes its controller up (ReplicaSet → Deployment, Pod → owner)
        for ref in meta.get("ownerReferences") or []:
            if not ref.get("controller"):
                continue
            owner_key = _KIND_KEYS.get((ref.get("apiVersion", ""), ref.get("kind", "")))
            if owner_key is not None:
                self.enqueue(owner_key, ns, ref.get("name", ""))

    def _forget_pod(self, uid: str) -> None:
        """What the kubelet kept about a pod that is gone (clocks, image back-offs)."""
        self._scheduled_at.pop(uid, None)
        self._running_at.pop(uid, None)
        self._puller.forget(uid)

    def enqueue(self, key: Key, namespace: str, name: str) -> None:
        item = (key, namespace, name)
        if item not in self._pending:
            self._pending.add(item)
            self._queue.put_nowait(item)

    def enqueue_after(self, delay: float, key: Key, namespace: str, name: str) -> None:
        """Re-check an object later (a pod becoming ready, a deadline passing)."""
        if self._loop is None:
            return
        item = (key, namespace, name)
        existing = self._timers.get(item)
        due = self._loop.time() + max(0.0, delay)
        if existing is not None and existing.when() <= due:
            return
        if existing is not None:
            existing.cancel()
        self._timers[item] = self._loop.call_at(due, self._fire, item)

    def _fire(self, item: tuple[Key, str, str]) -> None:
        self._timers.pop(item, None)
        self.enqueue(*item)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._ensure_node()
        for key in self.handlers:
            for obj in self.store.objects(key):
                self.enqueue(key, obj["metadata"].get("namespace") or "", obj["metadata"]["name"])
        while True:
            item = await self._queue.get()
            self._pending.discard(item)
            key, ns, name = item
            current = self.store.get(key, ns, name)
            if current is None:
                continue
            try:
                self.handlers[key](current)
            except ApiError as exc:
                # a conflict with a concurrent client write: look again with fresh state
                log.debug("workload sync %s/%s/%s: %s", key, ns, name, exc.message)
                if exc.code in (409, 429, 500):
                    self.enqueue_after(0.05, key, ns, name)
            except Exception:
                log.exception("workload sync failed for %s %s/%s", key, ns, name)

    def _rt(self, key: Key) -> ResourceType:
        types = self.api.registry.by_key(key)
        return types[0]

    def _write_status(
        self, key: Key, obj: dict[str, Any], status: dict[str, Any], manager: str = CONTROLLER
    ) -> dict[str, Any]:
        current = self.store.get(
            key, obj["metadata"].get("namespace") or "", obj["metadata"]["name"]
        )
        if current is None:
            return obj
        if current.get("status") == status:
            return current
        new = deep_copy(current)
        new["status"] = status
        result, _ = self.api._commit(
            self._rt(key), current, new, WriteContext(manager=manager, subresource="status")
        )
        return result

    def _update(
        self, key: Key, old: dict[str, Any], new: dict[str, Any], manager: str = CONTROLLER
    ) -> dict[str, Any]:
        result, _ = self.api._commit(self._rt(key), old, new, WriteContext(manager=manager))
        return result

    def _create(
        self, key: Key, namespace: str, obj: dict[str, Any], manager: str = CONTROLLER
    ) -> dict[str, Any] | None:
        try:
            return self.api.create(
                self._rt(key), namespace, obj, WriteContext(manager=manager)
            ).body
        except ApiError as exc:
            if exc.code in (403, 409):  # namespace terminating, or the name exists already
                return None
            raise

    def _delete(self, key: Key, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        try:
            self.api.delete(
                self._rt(key),
                meta.get("namespace") or "",
                meta["name"],
                {"propagationPolicy": "Background"},
                False,
            )
        except ApiError as exc:
            if exc.code != 404:
                raise

    def _owned(self, key: Key, namespace: str, owner_uid: str) -> list[dict[str, Any]]:
        return [
            obj
            for _, obj in self.store.dependents_of(owner_uid)
            if obj["metadata"].get("namespace", "") == namespace
            and _controller_uid(obj) == owner_uid
            and self._key_of(obj) == key
        ]

    def _key_of(self, obj: dict[str, Any]) -> Key | None:
        return _KIND_KEYS.get((obj.get("apiVersion", ""), obj.get("kind", "")))

    def _ensure_node(self) -> None:
        if self.store.get(NODES, "", NODE_NAME) is not None:
            return
        rt = self.api.registry.by_path("", "v1", "nodes")
        if rt is None:
            return
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": NODE_NAME,
                "labels": {
                    "kubernetes.io/hostname": NODE_NAME,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "node-role.kubernetes.io/control-plane": "",
                },
            },
        }
        created = self.api.create(rt, "", node, WriteContext(manager=KUBELET)).body
        now = now_rfc3339()
        status = {
            "capacity": {"cpu": "8", "memory": "32Gi", "pods": "500"},
            "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "500"},
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": now,
                }
            ],
            "addresses": [
                {"type": "InternalIP", "address": "10.0.0.2"},
                {"type": "Hostname", "address": NODE_NAME},
            ],
            "nodeInfo": {
                "kubeletVersion": "v1.37.1",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        }
        self._write_status(NODES, created, status, KUBELET)

    # ---- pods (scheduler + kubelet) ------------------------------------------------------------

    @staticmethod
    def _clock(clocks: dict[str, float], uid: str, fallback: str | None) -> float:
        """When something happened to a pod, on the monotonic clock (from its timestamp after a
        restart, when the in-memory clock is gone)."""
        if uid in clocks:
            return clocks[uid]
        return time.monotonic() - (time.time() - _parse_time(fallback))

    def _new_pod(
        self,
        owner: dict[str, Any],
        owner_kind: str,
        api_version: str,
        name: str,
        template: dict[str, Any],
        extra_labels: dict[str, str],
    ) -> dict[str, Any] | None:
        meta = deep_copy(template.get("metadata") or {})
        labels = {**(meta.get("labels") or {}), **extra_labels}
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                **{k: v for k, v in meta.items() if k in ("annotations",)},
                "name": name,
                "namespace": owner["metadata"]["namespace"],
                "labels": labels,
                "ownerReferences": [_owner_ref(owner, api_version, owner_kind)],
            },
            "spec": deep_copy(template.get("spec") or {}),
        }
        return self._create(PODS, owner["metadata"]["namespace"], pod)

    def _sync_pod(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        if meta.get("deletionTimestamp"):
            return
        if not (pod.get("spec") or {}).get("nodeName"):
            self._schedule_pod(pod)
            return
        status = deep_copy(pod.get("status") or {})
        if status.get("phase") in ("Succeeded", "Failed"):
            return
        # timestamps in objects have one-second precision: keep sub-second clocks in memory
        uid = meta.get("uid", "")
        waited = time.monotonic() - self._clock(
            self._scheduled_at, uid, meta.get("creationTimestamp")
        )
        if waited < self.options.pod_ready_delay and not status.get("startTime"):
            self.enqueue_after(
                self.options.pod_ready_delay - waited,
                PODS,
                meta.get("namespace") or "",
                meta["name"],
            )
            return
        self._run_pod(pod, status)

    def _schedule_pod(self, pod: dict[str, Any]) -> None:
        """The scheduler: bind the pod to the node, or say why no node fits."""
        meta, spec = pod["metadata"], pod.get("spec") or {}
        status = deep_copy(pod.get("status") or {})
        now = now_rfc3339()
        node_labels = self._node_labels()
        selector = spec.get("nodeSelector") or {}
        if any(node_labels.get(k) != v for k, v in selector.items()):
            # no node matches: the scheduler reports why and the pod stays Pending
            status["phase"] = "Pending"
            status["conditions"] = _condition(
                status.get("conditions") or [],
                "PodScheduled",
                "False",
                "Unschedulable",
                "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. "
                "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
                now,
            )
            self._write_status(PODS, pod, status, SCHEDULER)
            return
        # the scheduler binds through pods/binding, which may set what a pod update may not
        new = deep_copy(pod)
        new["spec"]["nodeName"] = NODE_NAME
        pod, _ = self.api._commit(
            self._rt(PODS), pod, new, WriteContext(manager=SCHEDULER), validate=False
        )
        status = deep_copy(pod.get("status") or {})
        status["conditions"] = _condition(
            status.get("conditions") or [], "PodScheduled", "True", "", "", now
        )
        for cond in status["conditions"]:
            cond.pop("reason", None)
            cond.pop("message", None)
        status.setdefault("phase", "Pending")
        self._write_status(PODS, pod, status, SCHEDULER)
        self._scheduled_at[meta.get("uid", "")] = time.monotonic()
        self.enqueue_after(
            self.options.pod_ready_delay, PODS, meta.get("namespace") or "", meta["name"]
        )

    def _pull_images(
        self, pod: dict[str, Any], containers: list[dict[str, Any]]
    ) -> dict[str, Waiting]:
        """The containers that wait for their image, by name; the pod is looked at again when
        the first of their back-offs ends."""
        meta = pod["metadata"]
        waiting: dict[str, Waiting] = {}
        for c in containers:
            previous = _container_status(pod, c["name"])
            state = (previous or {}).get("state") or {}
            if (
                previous is not None
                and previous.get("image") == c.get("image")
                and ("running" in state or "terminated" in state)
            ):
                continue  # started already: its image is on the node
            result = self._puller.ensure(meta.get("uid", ""), c)
            if result is not None:
                waiting[c["name"]] = result
        rechecks = [w.recheck_in for w in waiting.values() if w.recheck_in is not None]
        if rechecks:
            self.enqueue_after(min(rechecks), PODS, meta.get("namespace") or "", meta["name"])
        return waiting

    def _run_pod(self, pod: dict[str, Any], status: dict[str, Any]) -> None:
        """The kubelet: pull images, start containers, report them (and end Job pods)."""
        meta, spec = pod["metadata"], pod.get("spec") or {}
        ns, name, uid = meta.get("namespace") or "", meta["name"], meta.get("uid", "")
        now = now_rfc3339()
        containers = spec.get("containers") or []
        pulls = self._pull_images(pod, containers)
        crashing = [
            c["name"]
            for c in containers
            if c["name"] not in pulls and tag_of(c.get("image", "")).endswith("-crashloop")
        ]
        owner_kind = next(
            (r.get("kind") for r in meta.get("ownerReferences") or [] if r.get("controller")), None
        )
        # a Job's pods, and a bare pod that is not restarted (a Helm test, a hook), run to
        # their end; they fail for a "-fail" tag, or a shell asked to `exit N` (N not 0)
        bare = owner_kind is None and spec.get("restartPolicy") in ("Never", "OnFailure")
        is_job = (owner_kind == "Job" or bare) and not pulls
        failing = is_job and any(_fails(c) for c in containers)
        if is_job and status.get("phase") == "Running":
            ran = time.monotonic() - self._clock(self._running_at, uid, status.get("startTime"))
            if ran >= self.options.job_run_time:
                self._finish_pod(pod, status, failed=failing, now=now)
                self._scheduled_at.pop(uid, None)
                self._running_at.pop(uid, None)
            else:
                self.enqueue_after(self.options.job_run_time - ran, PODS, ns, name)
            return
        started = status.get("startTime")
        status.update(
            {
                # a container that runs makes the pod Running; one waiting for its image does not
                "phase": "Running" if len(pulls) < len(containers) else "Pending",
                "hostIP": "10.0.0.2",
                "hostIPs": [{"ip": "10.0.0.2"}],
                "podIP": status.get("podIP")
                or f"10.244.{random.randint(0, 255)}.{random.randint(2, 254)}",
                "startTime": started or now,
            }
        )
        status["podIPs"] = [{"ip": status["podIP"]}]
        status["containerStatuses"] = [
            _container_report(pod, c, crashing, pulls.get(c["name"]), now) for c in containers
        ]
        unready = [c["name"] for c in containers if c["name"] in crashing or c["name"] in pulls]
        status["conditions"] = _pod_conditions(status.get("conditions") or [], unready, now)
        self._write_status(PODS, pod, status, KUBELET)
        if is_job:
            self._running_at.setdefault(uid, time.monotonic())
            self.enqueue_after(self.options.job_run_time, PODS, ns, name)
        elif not unready:
            self._scheduled_at.pop(uid, None)

    def _node_labels(self) -> dict[str, str]:
        node = self.store.get(NODES, "", NODE_NAME)
        return dict((node or {}).get("metadata", {}).get("labels") or {})

    def _finish_pod(
        self, pod: dict[str, Any], status: dict[str, Any], failed: bool, now: str
    ) -> None:
        status["phase"] = "Failed" if failed else "Succeeded"
        reason = "Error" if failed else "Completed"
        code = 1 if failed else 0
        status["containerStatuses"] = [
            {
                **cs,
                "ready": False,
                "started": False,
                "state": {
                    "terminated": {
                        "exitCode": code,
                        "reason": reason,
                        "startedAt": status.get("startTime", now),
                        "finishedAt": now,
                    }
                },
            }
            for cs in status.get("containerStatuses") or []
        ]
        conds = status.get("conditions") or []
        conds = _condition(
            conds, "Ready", "False", "PodCompleted" if not failed else "PodFailed", "", now
        )
        conds = _condition(
            conds,
            "ContainersReady",
            "False",
            "PodCompleted" if not failed else "PodFailed",
            "",
            now,
        )
        status["conditions"] = conds
        self._write_status(PODS, pod, status, KUBELET)

    # ---- ReplicaSet ----------------------------------------------------------------------------

    def _sync_replicaset(self, rs: dict[str, Any]) -> None:
        meta = rs["metadata"]
        if meta.get("deletionTimestamp"):
            return
        ns = meta["namespace"]
        spec = rs.get("spec") or {}
        desired = int(spec.get("replicas", 1))
        pods = [
            p
            for p in self._owned(PODS, ns, meta["uid"])
            if not p["metadata"].get("deletionTimestamp")
        ]
        active = [
            p for p in pods if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
        ]
        template = spec.get("template") or {}
        if len(active) < desired:
            for _ in range(desired - len(active)):
                self._new_pod(
                    rs, "ReplicaSet", "apps/v1", f"{meta['name']}-{_suffix()}", template, {}
                )
        elif len(active) > desired:
            # remove not-ready pods first, then the newest, as the real controller prefers
            ranked = sorted(
                active,
                key=lambda p: (_is_ready(p), p["metadata"].get("creationTimestamp", "")),
                reverse=False,
            )
            for pod in ranked[: len(active) - desired]:
                self._delete(PODS, pod)
        pods = [
            p
            for p in self._owned(PODS, ns, meta["uid"])
            if not p["metadata"].get("deletionTimestamp")
        ]
        selector = spec.get("selector")
        ready = sum(1 for p in pods if _is_ready(p))
        status = {
            "replicas": len(pods),
            "fullyLabeledReplicas": sum(
                1
                for p in pods
                if match_label_selector_object(selector, p["metadata"].get("labels") or {})
            ),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": meta.get("generation", 1),
        }
        status = {k: v for k, v in status.items() if v or k in ("replicas", "observedGeneration")}
        self._write_status(REPLICASETS, rs, status)

    # ---- Deployment ----------------------------------------------------------------------------

    def _sync_deployment(self, deploy: dict[str, Any]) -> None:
        meta = deploy["metadata"]
        if meta.get("deletionTimestamp"):
            return
        ns = meta["namespace"]
        spec = deploy.get("spec") or {}
        desired = int(spec.get("replicas", 1))
        template = spec.get("template") or {}
        template_hash = _hash(template)[:10]
        replicasets = self._owned(REPLICASETS, ns, meta["uid"])
        new_rs = next(
            (
                rs
                for rs in replicasets
                if rs["metadata"].get("labels", {}).get("pod-template-hash") == template_hash
            ),
            None,
        )
        old_rss = [rs for rs in replicasets if rs is not new_rs]
        revisions = [
            int((rs["metadata"].get("annotations") or {}).get(REVISION, "0") or 0)
            for rs in replicasets
        ]
        now = now_rfc3339()
        status = deep_copy(deploy.get("status") or {})
        conditions = status.get("conditions") or []
        strategy = spec.get("strategy") or {}
        paused = bool(spec.get("paused"))
        created_new = False
        if new_rs is None and not paused:
            revision = max(revisions, default=0) + 1
            rs_meta = {
                "name": f"{meta['name']}-{template_hash}",
                "namespace": ns,
                "labels": {
                    **(template.get("metadata") or {}).get("labels", {}),
                    "pod-template-hash": template_hash,
                },
                "annotations": {
                    REVISION: str(revision),
                    "deployment.kubernetes.io/desired-replicas": str(desired),
                    "deployment.kubernetes.io/max-replicas": str(
                        desired
                        + _pct_or_int(
                            (strategy.get("rollingUpdate") or {}).get("maxSurge", "25%"),
                            desired,
                            True,
                        )
                    ),
                },
                "ownerReferences": [_owner_ref(deploy, "apps/v1", "Deployment")],
            }
            selector = deep_copy(spec.get("selector") or {})
            selector.setdefault("matchLabels", {})["pod-template-hash"] = template_hash
            rs_template = deep_copy(template)
            rs_template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = (
                template_hash
            )
            recreate_waiting = strategy.get("type") == "Recreate" and any(
                self._owned(PODS, ns, rs["metadata"]["uid"]) for rs in old_rss
            )
            new_rs = self._create(
                REPLICASETS,
                ns,
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "metadata": rs_meta,
                    "spec": {
                        "replicas": 0 if recreate_waiting else desired,
                        "minReadySeconds": spec.get("minReadySeconds", 0),
                        "selector": selector,
                        "template": rs_template,
                    },
                },
            )
            if new_rs is None:
                return
            created_new = True
            conditions = _condition(
                conditions,
                "Progressing",
                "True",
                "NewReplicaSetCreated",
                f'Created new replica set "{new_rs["metadata"]["name"]}"',
                now,
                update_time=True,
            )
        if new_rs is None:
            return
        # the Deployment's revision annotation follows its newest ReplicaSet (written via /status)
        new_revision = (new_rs["metadata"].get("annotations") or {}).get(REVISION, "1")
        if not paused:
            self._roll(deploy, new_rs, old_rss, desired, strategy)
            replicasets = self._owned(REPLICASETS, ns, meta["uid"])
            new_rs = next(
                (rs for rs in replicasets if rs["metadata"]["uid"] == new_rs["metadata"]["uid"]),
                new_rs,
            )
            old_rss = [
                rs for rs in replicasets if rs["metadata"]["uid"] != new_rs["metadata"]["uid"]
            ]
            self._trim_history(spec, old_rss)
        all_rs = [new_rs, *old_rss]
        new_status = new_rs.get("status") or {}
        total = sum(int((rs.get("status") or {}).get("replicas", 0)) for rs in all_rs)
        ready = sum(int((rs.get("status") or {}).get("readyReplicas", 0)) for rs in all_rs)
        available = sum(int((rs.get("status") or {}).get("availableReplicas", 0)) for rs in all_rs)
        updated = int(new_status.get("replicas", 0))
        new_available = int(new_status.get("availableReplicas", 0))
        max_unavailable = _pct_or_int(
            (strategy.get("rollingUpdate") or {}).get("maxUnavailable", "25%"), desired, False
        )
        if strategy.get("type") == "Recreate":
            max_unavailable = desired
        rs_name = new_rs["metadata"]["name"]
        complete = updated == desired and new_available == desired and total == desired
        deadline = spec.get("progressDeadlineSeconds")
        if paused:
            conditions = _condition(
                conditions,
                "Progressing",
                "Unknown",
                "DeploymentPaused",
                "Deployment is paused",
                now,
                update_time=True,
            )
        elif complete:
            conditions = _condition(
                conditions,
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{rs_name}" has successfully progressed.',
                now,
                update_time=True,
            )
        else:
            progressing = next((c for c in conditions if c.get("type") == "Progressing"), None)
            timed_out = (
                progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded"
            )
            previous = deploy.get("status") or {}
            moved = (
                created_new
                or previous.get("updatedReplicas", 0) != updated
                or previous.get("availableReplicas", 0) != available
                or previous.get("readyReplicas", 0) != ready
                or progressing is None
                or progressing.get("reason") == "DeploymentPaused"
                or previous.get("observedGeneration") != meta.get("generation")
            )
            if moved and not created_new:
                conditions = _condition(
                    conditions,
                    "Progressing",
                    "True",
                    "ReplicaSetUpdated",
                    f'ReplicaSet "{rs_name}" is progressing.',
                    now,
                    update_time=True,
                )
                conditions = _touch(conditions, "Progressing", now)
                timed_out = False
            if deadline is not None and not timed_out:
                progressing = next((c for c in conditions if c.get("type") == "Progressing"), None)
                since = _parse_time((progressing or {}).get("lastUpdateTime"))
                limit = float(deadline) * self.options.time_scale
                if time.time() - since >= limit:
                    conditions = _condition(
                        conditions,
                        "Progressing",
                        "False",
                        "ProgressDeadlineExceeded",
                        f'ReplicaSet "{rs_name}" has timed out progressing.',
                        now,
                        update_time=True,
                    )
                else:
                    self.enqueue_after(
                        limit - (time.time() - since) + 0.01, DEPLOYMENTS, ns, meta["name"]
                    )
        if available >= desired - max_unavailable:
            conditions = _condition(
                conditions,
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                now,
                update_time=True,
            )
        else:
            conditions = _condition(
                conditions,
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                now,
                update_time=True,
            )
        conditions.sort(key=lambda c: {"Available": 0, "Progressing": 1}.get(c.get("type", ""), 2))
        new_status_obj: dict[str, Any] = {
            "observedGeneration": meta.get("generation", 1),
            "replicas": total,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": available,
            "unavailableReplicas": max(0, desired - available),
            "conditions": conditions,
        }
        new_status_obj = {
            k: v
            for k, v in new_status_obj.items()
            if v or k in ("observedGeneration", "conditions")
        }
        current = self.store.get(DEPLOYMENTS, ns, meta["name"]) or deploy
        annotations = current["metadata"].get("annotations") or {}
        if annotations.get(REVISION) != new_revision or current.get("status") != new_status_obj:
            new = deep_copy(current)
            new["status"] = new_status_obj
            new["metadata"].setdefault("annotations", {})[REVISION] = new_revision
            self.api._commit(
                self._rt(DEPLOYMENTS),
                current,
                new,
                WriteContext(manager=CONTROLLER, subresource="status"),
            )

    def _roll(
        self,
        deploy: dict[str, Any],
        new_rs: dict[str, Any],
        old_rss: list[dict[str, Any]],
        desired: int,
        strategy: dict[str, Any],
    ) -> None:
        """Move replicas from old ReplicaSets to the new one without dropping below availability."""
        ns = deploy["metadata"]["namespace"]
        if strategy.get("type") == "Recreate":
            old_pods = sum(len(self._owned(PODS, ns, rs["metadata"]["uid"])) for rs in old_rss)
            for rs in old_rss:
                self._scale_rs(rs, 0)
            self._scale_rs(new_rs, desired if old_pods == 0 else 0)
            return
        rolling = strategy.get("rollingUpdate") or {}
        surge = _pct_or_int(rolling.get("maxSurge", "25%"), desired, True)
        unavailable = _pct_or_int(rolling.get("maxUnavailable", "25%"), desired, False)
        if surge == 0 and unavailable == 0:
            unavailable = 1
        old_total = sum(int((rs.get("spec") or {}).get("replicas", 0)) for rs in old_rss)
        new_replicas = int((new_rs.get("spec") or {}).get("replicas", 0))
        # scale up the new ReplicaSet within the surge allowance
        allowed = max(0, desired + surge - old_total)
        target_new = min(desired, max(new_replicas, allowed))
        if target_new != new_replicas:
            self._scale_rs(new_rs, target_new)
        # scale down old ReplicaSets as far as availability allows
        new_available = int((new_rs.get("status") or {}).get("availableReplicas", 0))
        old_available = sum(
            int((rs.get("status") or {}).get("availableReplicas", 0)) for rs in old_rss
        )
        min_available = desired - unavailable
        can_remove = max(0, new_available + old_available - min_available)
        # old pods that are not available can always go
        unavailable_old = sum(
            max(
                0,
                int((rs.get("spec") or {}).get("replicas", 0))
                - int((rs.get("status") or {}).get("availableReplicas", 0)),
            )
            for rs in old_rss
        )
        budget = can_remove + unavailable_old
        for rs in sorted(old_rss, key=lambda r: r["metadata"].get("creationTimestamp", "")):
            current = int((rs.get("spec") or {}).get("replicas", 0))
            if current == 0 or budget <= 0:
                continue
            cut = min(current, budget)
            budget -= cut
            self._scale_rs(rs, current - cut)
        if new_replicas == target_new and old_total == 0 and target_new != desired:
            self._scale_rs(new_rs, desired)

    def _scale_rs(self, rs: dict[str, Any], replicas: int) -> None:
        current = self.store.get(REPLICASETS, rs["metadata"]["namespace"], rs["metadata"]["name"])
        if current is None or int((current.get("spec") or {}).get("replicas", 0)) == replicas:
            return
        new = deep_copy(current)
        new["spec"]["replicas"] = replicas
        annotations = new["metadata"].setdefault("annotations", {})
        annotations["deployment.kubernetes.io/desired-replicas"] = annotations.get(
            "deployment.kubernetes.io/desired-replicas", str(replicas)
        )
        self._update(REPLICASETS, current, new)

    def _trim_history(self, spec: dict[str, Any], old_rss: list[dict[str, Any]]) -> None:
        limit = int(spec.get("revisionHistoryLimit", 10))
        idle = [
            rs
            for rs in old_rss
            if int((rs.get("spec") or {}).get("replicas", 0)) == 0
            and int((rs.get("status") or {}).get("replicas", 0)) == 0
        ]
        idle.sort(
            key=lambda r: int((r["metadata"].get("annotations") or {}).get(REVISION, "0") or 0)
        )
        for rs in idle[: max(0, len(idle) - limit)]:
            self._delete(REPLICASETS, rs)

    # ---- StatefulSet ---------------------------------------------------------------------------

    def _sync_statefulset(self, sts: dict[str, Any]) -> None:
        meta = sts["metadata"]
        if meta.get("deletionTimestamp"):
            return
        ns, name = meta["namespace"], meta["name"]
        spec = sts.get("spec") or {}
        desired = int(spec.get("replicas", 1))
        template = spec.get("template") or {}
        revision = f"{name}-{_hash(template)[:10]}"
        pods = {p["metadata"]["name"]: p for p in self._owned(PODS, ns, meta["uid"])}
        ordered = (spec.get("podManagementPolicy") or "OrderedReady") == "OrderedReady"
        for i in range(desired):
            pod_name = f"{name}-{i}"
            pod = pods.get(pod_name)
            if pod is None:
                for claim in spec.get("volumeClaimTemplates") or []:
                    self._ensure_claim(sts, claim, i)
                pod_template = deep_copy(template)
                pod_template.setdefault("spec", {})["hostname"] = pod_name
                if spec.get("serviceName"):
                    pod_template["spec"]["subdomain"] = spec["serviceName"]
                labels = {
                    "controller-revision-hash": revision,
                    "statefulset.kubernetes.io/pod-name": pod_name,
                    "apps.kubernetes.io/pod-index": str(i),
                }
                self._new_pod(sts, "StatefulSet", "apps/v1", pod_name, pod_template, labels)
                if ordered:
                    break
                continue
            if ordered and not _is_ready(pod):
                break
        # rolling update: replace the highest ordinal still on an old revision, one at a time
        pods = {p["metadata"]["name"]: p for p in self._owned(PODS, ns, meta["uid"])}
        strategy = spec.get("updateStrategy") or {}
        partition = int((strategy.get("rollingUpdate") or {}).get("partition", 0))
        if strategy.get("type", "RollingUpdate") == "RollingUpdate" and all(
            _is_ready(p) for p in pods.values()
        ):
            for i in reversed(range(partition, desired)):
                pod = pods.get(f"{name}-{i}")
                if (
                    pod is not None
                    and pod["metadata"].get("labels", {}).get("controller-revision-hash")
                    != revision
                ):
                    self._delete(PODS, pod)
                    break
        for pod_name, pod in pods.items():
            index = (
                int(pod_name.rsplit("-", 1)[-1])
                if pod_name.rsplit("-", 1)[-1].isdigit()
                else desired
            )
            if index >= desired:
                self._delete(PODS, pod)
        pods = {
            p["metadata"]["name"]: p
            for p in self._owned(PODS, ns, meta["uid"])
            if not p["metadata"].get("deletionTimestamp")
        }
        updated = sum(
            1
            for p in pods.values()
            if p["metadata"].get("labels", {}).get("controller-revision-hash") == revision
        )
        ready = sum(1 for p in pods.values() if _is_ready(p))
        status = deep_copy(sts.get("status") or {})
        current_revision = status.get("currentRevision") or revision
        if updated == len(pods) == desired:
            current_revision = revision
        current = sum(
            1
            for p in pods.values()
            if p["metadata"].get("labels", {}).get("controller-revision-hash") == current_revision
        )
        new_status = {
            "observedGeneration": meta.get("generation", 1),
            "replicas": len(pods),
            "readyReplicas": ready,
            "currentReplicas": current,
            "updatedReplicas": updated,
            "availableReplicas": ready,
            "currentRevision": current_revision,
            "updateRevision": revision,
            "collisionCount": 0,
        }
        self._write_status(STATEFULSETS, sts, new_status)

    def _ensure_claim(self, sts: dict[str, Any], claim: dict[str, Any], index: int) -> None:
        ns = sts["metadata"]["namespace"]
        claim_name = (
            f"{claim.get('metadata', {}).get('name', 'data')}-{sts['metadata']['name']}-{index}"
        )
        if self.store.get(PVCS, ns, claim_name) is not None:
            return
        pvc = {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {
                "name": claim_name,
                "namespace": ns,
                "labels": (sts.get("spec") or {}).get("selector", {}).get("matchLabels", {}),
            },
            "spec": deep_copy(claim.get("spec") or {}),
        }
        self._create(PVCS, ns, pvc)

    # ---- DaemonSet -----------------------------------------------------------------------------

    def _sync_daemonset(self, ds: dict[str, Any]) -> None:
        meta = ds["metadata"]
        if meta.get("deletionTimestamp"):
            return
        ns = meta["namespace"]
        spec = ds.get("spec") or {}
        template = spec.get("template") or {}
        revision = _hash(template)[:10]
        pods = [
            p
            for p in self._owned(PODS, ns, meta["uid"])
            if not p["metadata"].get("deletionTimestamp")
        ]
        stale = [
            p
            for p in pods
            if p["metadata"].get("labels", {}).get("controller-revision-hash") != revision
        ]
        for pod in stale:
            self._delete(PODS, pod)
        if not [p for p in pods if p not in stale]:
            pod_template = deep_copy(template)
            pod_template.setdefault("spec", {})["nodeName"] = NODE_NAME
            self._new_pod(
                ds,
                "DaemonSet",
                "apps/v1",
                f"{meta['name']}-{_suffix()}",
                pod_template,
                {
                    "controller-revision-hash": revision,
                    "pod-template-generation": str(meta.get("generation", 1)),
                },
            )
        pods = [
            p
            for p in self._owned(PODS, ns, meta["uid"])
            if not p["metadata"].get("deletionTimestamp")
        ]
        ready = sum(1 for p in pods if _is_ready(p))
        updated = sum(
            1
            for p in pods
            if p["metadata"].get("labels", {}).get("controller-revision-hash") == revision
        )
        status = {
            "observedGeneration": meta.get("generation", 1),
            "desiredNumberScheduled": 1,
            "currentNumberScheduled": min(1, len(pods)),
            "updatedNumberScheduled": min(1, updated),
            "numberReady": min(1, ready),
            "numberAvailable": min(1, ready),
            "numberMisscheduled": 0,
        }
        if ready < 1:
            status["numberUnavailable"] = 1
            status.pop("numberAvailable")
        self._write_status(DAEMONSETS, ds, status)

    # ---- Job and CronJob -----------------------------------------------------------------------

    def _sync_job(self, job: dict[str, Any]) -> None:
        meta = job["metadata"]
        if meta.get("deletionTimestamp"):
            return
        ns = meta["namespace"]
        spec = job.get("spec") or {}
        status = deep_copy(job.get("status") or {})
        conditions = status.get("conditions") or []
        now = now_rfc3339()
        if any(
            c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
            for c in conditions
        ):
            return
        if spec.get("suspend"):
            status["conditions"] = _condition(
                conditions,
                "Suspended",
                "True",
                "JobSuspended",
                "Job suspended",
                now,
                update_time=True,
            )
            self._write_status(JOBS, job, status)
            return
        completions = int(spec.get("completions", 1) or 1)
        parallelism = int(spec.get("parallelism", 1))
        backoff = int(spec.get("backoffLimit", 6))
        pods = self._owned(PODS, ns, meta["uid"])
        succeeded = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Succeeded")
        failed = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Failed")
        active_pods = [
            p
            for p in pods
            if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
            and not p["metadata"].get("deletionTimestamp")
        ]
        status.setdefault("startTime", now)
        if failed > backoff:
            status["conditions"] = _condition(
                conditions,
                "FailureTarget",
                "True",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
                now,
                update_time=True,
            )
            status["conditions"] = _condition(
                status["conditions"],
                "Failed",
                "True",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
                now,
                update_time=True,
            )
            for pod in active_pods:
                self._delete(PODS, pod)
            status.update({"failed": failed, "active": 0, "ready": 0, "terminating": 0})
            status.pop("active")
            self._write_status(JOBS, job, _compact_job_status(status, succeeded))
            return
        if succeeded >= completions:
            status["conditions"] = _condition(
                conditions,
                "SuccessCriteriaMet",
                "True",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
                now,
                update_time=True,
            )
            status["conditions"] = _condition(
                status["conditions"],
                "Complete",
                "True",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
                now,
                update_time=True,
            )
            status["completionTime"] = status.get("completionTime") or now
            status.update({"succeeded": succeeded, "failed": failed})
            status.pop("active", None)
            self._write_status(JOBS, job, _compact_job_status(status, succeeded))
            return
        wanted = min(parallelism, completions - succeeded)
        labels = {
            "batch.kubernetes.io/controller-uid": meta["uid"],
            "batch.kubernetes.io/job-name": meta["name"],
            "controller-uid": meta["uid"],
            "job-name": meta["name"],
        }
        for _ in range(max(0, wanted - len(active_pods))):
            self._new_pod(
                job,
                "Job",
                "batch/v1",
                f"{meta['name']}-{_suffix()}",
                spec.get("template") or {},
                labels,
            )
        active_pods = [
            p
            for p in self._owned(PODS, ns, meta["uid"])
            if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
        ]
        status.update(
            {
                "active": len(active_pods),
                "ready": sum(1 for p in active_pods if _is_ready(p)),
                "succeeded": succeeded,
                "failed": failed,
                "terminating": 0,
                "uncountedTerminatedPods": {},
            }
        )
        self._write_status(JOBS, job, _compact_job_status(status, succeeded))

    def _sync_cronjob(self, cron: dict[str, Any]) -> None:
        meta = cron["metadata"]
        if meta.get("deletionTimestamp"):
            return
        spec = cron.get("spec") or {}
        status = deep_copy(cron.get("status") or {})
        ns = meta["namespace"]
        try:
            schedule = CronSchedule.parse(spec.get("schedule", ""))
        except ValueError:
            return
        now = time.time()
        last = _parse_time(status.get("lastScheduleTime") or meta.get("creationTimestamp"))
        due = schedule.next_after(last)
        jobs = self._owned(JOBS, ns, meta["uid"])
        active = [
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "name": j["metadata"]["name"],
                "namespace": ns,
                "uid": j["metadata"]["uid"],
                "resourceVersion": j["metadata"]["resourceVersion"],
            }
            for j in jobs
            if not any(
                c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
                for c in (j.get("status") or {}).get("conditions") or []
            )
        ]
        if due <= now and not spec.get("suspend"):
            if not (spec.get("concurrencyPolicy") == "Forbid" and active):
                job_template = spec.get("jobTemplate") or {}
                scheduled_minute = int(due // 60)
                job = {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "metadata": {
                        "name": f"{meta['name']}-{scheduled_minute}",
                        "namespace": ns,
                        "labels": deep_copy(
                            (job_template.get("metadata") or {}).get("labels") or {}
                        ),
                        "annotations": {
                            "batch.kubernetes.io/cronjob-scheduled-timestamp": datetime.fromtimestamp(
                                due, UTC
                            ).strftime("%Y-%m-%dT%H:%M:%SZ")
                        },
                        "ownerReferences": [_owner_ref(cron, "batch/v1", "CronJob")],
                    },
                    "spec": deep_copy(job_template.get("spec") or {}),
                }
                self._create(JOBS, ns, job)
            status["lastScheduleTime"] = datetime.fromtimestamp(due, UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            )
            due = schedule.next_after(due)
        if active:
            status["active"] = active
        else:
            status.pop("active", None)
        self._write_status(CRONJOBS, cron, status)
        self.enqueue_after(max(0.05, due - now), CRONJOBS, ns, meta["name"])

    # ---- PVCs and Services ---------------------------------------------------------------------

    def _sync_pvc(self, pvc: dict[str, Any]) -> None:
        status = pvc.get("status") or {}
        if status.get("phase") == "Bound" or pvc["metadata"].get("deletionTimestamp"):
            return
        created = _parse_time(pvc["metadata"].get("creationTimestamp"))
        wait = self.options.pvc_bind_delay - (time.time() - created)
        ns, name = pvc["metadata"]["namespace"], pvc["metadata"]["name"]
        if wait > 0:
            self.enqueue_after(wait, PVCS, ns, name)
            return
        spec = pvc.get("spec") or {}
        volume = f"pvc-{pvc['metadata']['uid']}"
        if spec.get("volumeName") != volume:
            new = deep_copy(pvc)
            new["spec"]["volumeName"] = volume
            pvc = self._update(PVCS, pvc, new)
        storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
        self._write_status(
            PVCS,
            pvc,
            {
                "phase": "Bound",
                "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                "capacity": {"storage": storage},
            },
        )

    def _sync_service(self, svc: dict[str, Any]) -> None:
        spec = svc.get("spec") or {}
        if spec.get("type") != "LoadBalancer":
            return
        ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress")
        if ingress:
            return
        octet = int(hashlib.sha256(svc["metadata"]["uid"].encode()).hexdigest()[:2], 16)
        self._write_status(
            SERVICES,
            svc,
            {"loadBalancer": {"ingress": [{"ip": f"172.18.255.{octet}", "ipMode": "VIP"}]}},
            "cloud-controller-manager",
        )

    def _sync_hpa(self, hpa: dict[str, Any]) -> None:
        """The HorizontalPodAutoscaler controller with a metrics server that reports the
        target comfortably within bounds: desired = current replicas, clamped to min/max."""
        spec = hpa.get("spec") or {}
        ref = spec.get("scaleTargetRef") or {}
        ns = hpa["metadata"]["namespace"]
        key = {
            "Deployment": DEPLOYMENTS,
            "StatefulSet": STATEFULSETS,
            "ReplicaSet": REPLICASETS,
        }.get(str(ref.get("kind")))
        target = self.store.get(key, ns, str(ref.get("name"))) if key is not None else None
        now = now_rfc3339()
        status = deep_copy(hpa.get("status") or {})
        conditions = status.get("conditions") or []
        if key is None or target is None:
            conditions = _condition(
                conditions,
                "AbleToScale",
                "False",
                "FailedGetScale",
                f'the HPA controller was unable to get the target\'s current scale: {str(ref.get("kind", "")).lower()}s "{ref.get("name")}" not found',
                now,
            )
            status["conditions"] = conditions
            self._write_status(HPAS, hpa, status)
            return
        current = int((target.get("spec") or {}).get("replicas", 1))
        low, high = int(spec.get("minReplicas", 1)), int(spec.get("maxReplicas", current))
        desired = min(max(current, low), high)
        if desired != current:
            scaled = deep_copy(target)
            scaled["spec"]["replicas"] = desired
            self.api._commit(
                self._rt(key),
                target,
                scaled,
                WriteContext(manager="horizontal-pod-autoscaler", subresource="scale"),
            )
        conditions = _condition(
            conditions,
            "AbleToScale",
            "True",
            "ReadyForNewScale",
            "recommended size matches current size",
            now,
        )
        conditions = _condition(
            conditions,
            "ScalingActive",
            "True",
            "ValidMetricFound",
            "the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)",
            now,
        )
        limited = desired in (low, high) and low != high
        conditions = _condition(
            conditions,
            "ScalingLimited",
            "True" if limited else "False",
            "TooFewReplicas"
            if desired == low and limited
            else ("TooManyReplicas" if limited else "DesiredWithinRange"),
            "the desired replica count is less than the minimum replica count"
            if desired == low and limited
            else (
                "the desired replica count is more than the maximum replica count"
                if limited
                else "the desired count is within the acceptable range"
            ),
            now,
        )
        status.update(
            {"currentReplicas": current, "desiredReplicas": desired, "conditions": conditions}
        )
        self._write_status(HPAS, hpa, status, "horizontal-pod-autoscaler")


_KIND_KEYS: dict[tuple[str, str], Key] = {
    ("apps/v1", "Deployment"): DEPLOYMENTS,
    ("apps/v1", "ReplicaSet"): REPLICASETS,
    ("apps/v1", "StatefulSet"): STATEFULSETS,
    ("apps/v1", "DaemonSet"): DAEMONSETS,
    ("batch/v1", "Job"): JOBS,
    ("batch/v1", "CronJob"): CRONJOBS,
    ("v1", "Pod"): PODS,
}


def _compact_job_status(status: dict[str, Any], succeeded: int) -> dict[str, Any]:
    """Zero counters are omitted by the real Job controller, except where it writes them."""
    out = {k: v for k, v in status.items() if v not in (0, None) or k in ("terminating",)}
    if "uncountedTerminatedPods" in status:
        out["uncountedTerminatedPods"] = status["uncountedTerminatedPods"]
    if succeeded:
        out["succeeded"] = succeeded
    return out


def _container_report(
    pod: dict[str, Any],
    c: dict[str, Any],
    crashing: list[str],
    waiting: Waiting | None,
    now: str,
) -> dict[str, Any]:
    """One entry of ``status.containerStatuses``."""
    name, image = c["name"], c.get("image", "")
    previous = _container_status(pod, name)
    not_started = {"name": name, "image": image, "imageID": "", "ready": False, "started": False}
    if waiting is not None:
        return {**not_started, "restartCount": 0, "state": waiting.state()}
    if name in crashing and previous is not None and "waiting" in (previous.get("state") or {}):
        return previous
    if name in crashing:
        return {
            **not_started,
            "restartCount": 1,
            "lastState": {
                "terminated": {
                    "exitCode": 1,
                    "reason": "Error",
                    "startedAt": now,
                    "finishedAt": now,
                }
            },
            "state": {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off 10s restarting failed container={name} pod={pod['metadata']['name']}",
                }
            },
        }
    if (
        previous is not None
        and previous.get("image") == image
        and "running" in (previous.get("state") or {})
    ):
        return previous
    return {
        "name": name,
        "image": image,
        "imageID": image_id(image),
        "containerID": f"containerd://{hashlib.sha256((pod['metadata']['name'] + name).encode()).hexdigest()}",
        "ready": True,
        "started": True,
        "restartCount": 0,
        # now: the pod's start for a first run, later for an image that came after a back-off
        "state": {"running": {"startedAt": now}},
    }


_EXIT = re.compile(r"^\s*exit\s+([0-9]+)\s*;?\s*$")


def _fails(container: Mapping[str, Any]) -> bool:
    """Whether the simulated kubelet ends ``container`` in failure: an image tag ending in
    ``-fail``, or ``sh -c 'exit N'`` with N other than 0 (the one command it runs)."""
    if tag_of(str(container.get("image", ""))).endswith("-fail"):
        return True
    words = [str(w) for w in (container.get("command") or []) + (container.get("args") or [])]
    if len(words) >= 3 and words[0].rsplit("/", 1)[-1] in ("sh", "bash") and words[1] == "-c":
        found = _EXIT.match(words[2])
        return found is not None and int(found.group(1)) != 0
    return False


def _pod_conditions(
    conditions: list[dict[str, Any]], unready: list[str], now: str
) -> list[dict[str, Any]]:
    """The kubelet's pod conditions once the sandbox runs: Ready only without ``unready``
    containers (a reason and message only where a condition is False)."""
    ready = not unready
    flag = "True" if ready else "False"
    reason = "" if ready else "ContainersNotReady"
    message = "" if ready else f"containers with unready status: [{' '.join(unready)}]"
    conds = _condition(conditions, "PodReadyToStartContainers", "True", "", "", now)
    conds = _condition(conds, "Initialized", "True", "", "", now)
    conds = _condition(conds, "Ready", flag, reason, message, now)
    conds = _condition(conds, "ContainersReady", flag, reason, message, now)
    for cond in conds:
        if not cond.get("reason"):
            cond.pop("reason", None)
            cond.pop("message", None)
    return conds


def _is_ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    if status.get("phase") != "Running":
        return False
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def _container_status(pod: dict[str, Any], container: str) -> dict[str, Any] | None:
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        if cs.get("name") == container:
            return dict(cs)
    return None


def _parse_time(text: str | None) -> float:
    if not text:
        return time.time()
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return time.time()


class CronSchedule:
    """Standard five-field cron expressions (with ``*/n``, ranges, lists and @-macros)."""

    MACROS = {
        "@yearly": "0 0 1 1 *",
        "@annually": "0 0 1 1 *",
        "@monthly": "0 0 1 * *",
        "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *",
        "@midnight": "0 0 * * *",
        "@hourly": "0 * * * *",
    }
    RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))

    def __init__(self, fields: list[set[int]]) -> None:
        self.minutes, self.hours, self.days, self.months, self.weekdays = fields

    @classmethod
    def parse(cls, text: str) -> CronSchedule:
        text = cls.MACROS.get(text.strip(), text.strip())
        if text.startswith("TZ=") or text.startswith("CRON_TZ="):
            text = text.split(None, 1)[1] if " " in text else ""
        parts = text.split()
        if len(parts) != 5:
            raise ValueError(f"expected exactly 5 fields, found {len(parts)}: {text}")
        return cls(
            [cls._field(part, lo, hi) for part, (lo, hi) in zip(parts, cls.RANGES, strict=True)]
        )

    @staticmethod
    def _field(text: str, lo: int, hi: int) -> set[int]:
        values: set[int] = set()
        for item in text.split(","):
            step = 1
            if "/" in item:
                item, step_text = item.split("/", 1)
                step = int(step_text)
            if item in ("*", "?"):
                start, end = lo, hi
            elif "-" in item:
                a, b = item.split("-", 1)
                start, end = int(a), int(b)
            else:
                start = end = int(item)
                if step != 1:
                    end = hi
            if start < lo or end > hi or start > end or step < 1:
                raise ValueError(f"value out of range in {text}")
            values.update(range(start, end + 1, step))
        return values

    def next_after(self, after: float) -> float:
        """The first matching minute strictly after ``after`` (epoch seconds, UTC)."""
        minute = int(after // 60) + 1
        for _ in range(366 * 24 * 60):
            dt = datetime.fromtimestamp(minute * 60, UTC)
            weekday = (dt.weekday() + 1) % 7
            if (
                dt.minute in self.minutes
                and dt.hour in self.hours
                and dt.day in self.days
                and dt.month in self.months
                and weekday in self.weekdays
            ):
                return float(minute * 60)
            minute += 1
        raise ValueError("schedule never fires")
