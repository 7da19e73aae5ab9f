"""Server-side printing: ``meta.k8s.io/v1`` Table answers, so ``kubectl get`` shows real columns.

kubectl asks for ``application/json;as=Table;v=v1;g=meta.k8s.io``. Built-in kinds get the columns
kube-apiserver prints for them (READY, STATUS, …); custom resources get their CRD's
``additionalPrinterColumns``; everything else Name and Age.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tether.localcluster.kinds import ResourceType

Row = Callable[[dict[str, Any]], list[Any]]


def wants_table(accept: str) -> bool:
    return "as=Table" in accept and "g=meta.k8s.io" in accept


def _age(obj: dict[str, Any]) -> str:
    stamp = (obj.get("metadata") or {}).get("creationTimestamp")
    if not stamp:
        return "<unknown>"
    try:
        created = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return "<unknown>"
    seconds = max(0, int((datetime.now(UTC) - created).total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 48:
        return f"{hours}h"
    return f"{hours // 24}d"


def _col(name: str, kind: str = "string", priority: int = 0, fmt: str = "") -> dict[str, Any]:
    return {"name": name, "type": kind, "format": fmt, "description": name, "priority": priority}


def _status(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("status") or {}


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("spec") or {}


def _pod_status(pod: dict[str, Any]) -> str:
    status = _status(pod)
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return "Terminating"
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        if "waiting" in state and state["waiting"].get("reason"):
            return str(state["waiting"]["reason"])
        if (
            "terminated" in state
            and state["terminated"].get("reason")
            and status.get("phase") not in ("Running",)
        ):
            return str(state["terminated"]["reason"])
    return str(status.get("phase") or "Pending")


def _ports(svc: dict[str, Any]) -> str:
    parts = []
    for port in _spec(svc).get("ports") or []:
        text = str(port.get("port"))
        if port.get("nodePort"):
            text += f":{port['nodePort']}"
        parts.append(f"{text}/{port.get('protocol', 'TCP')}")
    return ",".join(parts) or "<none>"


def _images(obj: dict[str, Any]) -> str:
    spec = ((_spec(obj).get("template") or {}).get("spec")) or {}
    return ",".join(str(c.get("image", "")) for c in spec.get("containers") or [])


_BUILTIN: dict[tuple[str, str], tuple[list[dict[str, Any]], Row]] = {
    ("apps", "Deployment"): (
        [
            _col("Ready"),
            _col("Up-to-date", "integer"),
            _col("Available", "integer"),
            _col("Containers", priority=1),
            _col("Images", priority=1),
        ],
        lambda o: [
            f"{_status(o).get('readyReplicas', 0)}/{_spec(o).get('replicas', 1)}",
            _status(o).get("updatedReplicas", 0),
            _status(o).get("availableReplicas", 0),
            ",".join(
                str(c.get("name"))
                for c in ((_spec(o).get("template") or {}).get("spec") or {}).get("containers")
                or []
            ),
            _images(o),
        ],
    ),
    ("apps", "ReplicaSet"): (
        [_col("Desired", "integer"), _col("Current", "integer"), _col("Ready", "integer")],
        lambda o: [
            _spec(o).get("replicas", 1),
            _status(o).get("replicas", 0),
            _status(o).get("readyReplicas", 0),
        ],
    ),
    ("apps", "StatefulSet"): (
        [_col("Ready")],
        lambda o: [f"{_status(o).get('readyReplicas', 0)}/{_spec(o).get('replicas', 1)}"],
    ),
    ("apps", "DaemonSet"): (
        [
            _col("Desired", "integer"),
            _col("Current", "integer"),
            _col("Ready", "integer"),
            _col("Up-to-date", "integer"),
            _col("Available", "integer"),
        ],
        lambda o: [
            _status(o).get("desiredNumberScheduled", 0),
            _status(o).get("currentNumberScheduled", 0),
            _status(o).get("numberReady", 0),
            _status(o).get("updatedNumberScheduled", 0),
            _status(o).get("numberAvailable", 0),
        ],
    ),
    ("", "Pod"): (
        [
            _col("Ready"),
            _col("Status"),
            _col("Restarts", "string"),
            _col("IP", priority=1),
            _col("Node", priority=1),
        ],
        lambda o: [
            f"{sum(1 for c in _status(o).get('containerStatuses') or [] if c.get('ready'))}/{len(_spec(o).get('containers') or [])}",
            _pod_status(o),
            str(
                sum(
                    int(c.get("restartCount", 0)) for c in _status(o).get("containerStatuses") or []
                )
            ),
            _status(o).get("podIP") or "<none>",
            _spec(o).get("nodeName") or "<none>",
        ],
    ),
    ("", "Service"): (
        [_col("Type"), _col("Cluster-IP"), _col("External-IP"), _col("Port(s)")],
        lambda o: [
            _spec(o).get("type", "ClusterIP"),
            _spec(o).get("clusterIP") or "<none>",
            ",".join(
                i.get("ip", "")
                for i in ((_status(o).get("loadBalancer") or {}).get("ingress") or [])
            )
            or "<none>",
            _ports(o),
        ],
    ),
    ("", "Namespace"): ([_col("Status")], lambda o: [_status(o).get("phase", "Active")]),
    ("", "ConfigMap"): (
        [_col("Data", "integer")],
        lambda o: [len(o.get("data") or {}) + len(o.get("binaryData") or {})],
    ),
    ("", "Secret"): (
        [_col("Type"), _col("Data", "integer")],
        lambda o: [o.get("type", "Opaque"), len(o.get("data") or {})],
    ),
    ("", "PersistentVolumeClaim"): (
        [_col("Status"), _col("Volume"), _col("Capacity")],
        lambda o: [
            _status(o).get("phase", "Pending"),
            _spec(o).get("volumeName", ""),
            (_status(o).get("capacity") or {}).get("storage", ""),
        ],
    ),
    ("batch", "Job"): (
        [_col("Status"), _col("Completions")],
        lambda o: [
            next(
                (
                    c["type"]
                    for c in _status(o).get("conditions") or []
                    if c.get("status") == "True"
                    and c.get("type") in ("Complete", "Failed", "Suspended")
                ),
                "Running",
            ),
            f"{_status(o).get('succeeded', 0)}/{_spec(o).get('completions', 1)}",
        ],
    ),
    ("batch", "CronJob"): (
        [_col("Schedule"), _col("Suspend"), _col("Active", "integer"), _col("Last schedule")],
        lambda o: [
            _spec(o).get("schedule", ""),
            str(bool(_spec(o).get("suspend"))).capitalize(),
            len(_status(o).get("active") or []),
            _status(o).get("lastScheduleTime") or "<none>",
        ],
    ),
}


def _json_path(obj: Any, path: str) -> Any:
    """The subset of kubectl's JSONPath that printer columns use: ``.a.b``, ``.a[0].b`` and
    ``.a[?(@.type=="Ready")].status``."""
    cur: list[Any] = [obj]
    for token in re.findall(r"\.([^.\[]+)|\[([^\]]+)\]", path):
        name, index = token
        nxt: list[Any] = []
        for value in cur:
            if name:
                if isinstance(value, dict) and name in value:
                    nxt.append(value[name])
            elif index.startswith("?(@."):
                m = re.match(r'\?\(@\.([\w.]+)\s*==\s*["\']([^"\']*)["\']\)', index)
                if m and isinstance(value, list):
                    field, want = m.groups()
                    nxt.extend(
                        v for v in value if isinstance(v, dict) and str(v.get(field)) == want
                    )
            elif index == "*" and isinstance(value, list):
                nxt.extend(value)
            elif index.lstrip("-").isdigit() and isinstance(value, list):
                i = int(index)
                if -len(value) <= i < len(value):
                    nxt.append(value[i])
        cur = nxt
    if not cur:
        return None
    return cur[0] if len(cur) == 1 else ",".join(str(v) for v in cur)


def columns_for(rt: ResourceType) -> tuple[list[dict[str, Any]], Row]:
    name = {**_col("Name", fmt="name"), "description": "Name must be unique within a namespace."}
    age = _col("Age")
    builtin = _BUILTIN.get((rt.group, rt.kind))
    if builtin is not None:
        cols, row = builtin
        # Age sits after the standard columns and before the -o wide ones, as kubectl shows it
        wide_from = next((i for i, c in enumerate(cols) if c["priority"] > 0), len(cols))

        def ordered(o: dict[str, Any]) -> list[Any]:
            cells = row(o)
            return [o["metadata"]["name"], *cells[:wide_from], _age(o), *cells[wide_from:]]

        return [name, *cols[:wide_from], age, *cols[wide_from:]], ordered
    printer = [c for c in rt.printer_columns if c.get("jsonPath") != ".metadata.creationTimestamp"]
    if printer:
        cols = [
            _col(
                c["name"],
                c.get("type", "string") if c.get("type") != "date" else "string",
                int(c.get("priority", 0)),
            )
            for c in printer
        ]

        def row(o: dict[str, Any]) -> list[Any]:
            out: list[Any] = [o["metadata"]["name"]]
            for c in printer:
                value = _json_path(o, c.get("jsonPath", ""))
                out.append("" if value is None else value)
            out.append(_age(o))
            return out

        return [name, *cols, age], row
    return [name, age], lambda o: [o["metadata"]["name"], _age(o)]


def _partial(obj: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta}


def table(
    rt: ResourceType, objects: list[dict[str, Any]], list_meta: dict[str, Any] | None = None
) -> dict[str, Any]:
    cols, row = columns_for(rt)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta or {},
        "columnDefinitions": cols,
        "rows": [{"cells": row(o), "object": _partial(o)} for o in objects],
    }
