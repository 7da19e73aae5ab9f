"""The API server sees the controller only through its face (`tether.controller.face`).

Statically: `tether/server` imports nothing of `tether.controller` but the face and the models
of Application, AppProject and their status (with the project's sync windows), and names no attribute of the controller that the
face does not declare. At run time: the whole API works over the real controller seen through a
proxy that offers the face's members and nothing else.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import httpx
import pytest

import tether.server
from tests.server.conftest import Stack, eventually, in_process_api
from tether.controller.config import ControllerConfig
from tether.controller.face import ControllerFace, ObservingFace
from tether.controller.observer import ClusterObserver

SERVER_DIR = Path(tether.server.__file__).parent
#: the controller modules the server may import (``windowgate``: an AppProject's sync windows
#: applied to an Application, ``dependencies``: the apps' dependency graph; pure like the models)
#: ``previews``: the records and settings of pull-request previews, plain data like ``models``
ALLOWED = frozenset(
    {"dependencies", "face", "models", "previews", "project", "status", "windowgate"}
)
#: (server module, controller module) imports waiting for a face method (TODO in that module)
PENDING: frozenset[tuple[str, str]] = frozenset()
FACE_MEMBERS = frozenset(name for name in dir(ControllerFace) if not name.startswith("_"))
#: what a server replica's face adds (`tether server`)
OBSERVING_MEMBERS = frozenset(name for name in dir(ObservingFace) if not name.startswith("_"))


def _server_modules() -> list[tuple[str, ast.Module]]:
    return [
        (str(path.relative_to(SERVER_DIR)), ast.parse(path.read_text(), str(path)))
        for path in sorted(SERVER_DIR.rglob("*.py"))
    ]


def _controller_modules(tree: ast.Module) -> list[str]:
    """The modules of `tether.controller` a module imports (``""``: the package itself)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
            if node.module == "tether.controller":
                names = [f"tether.controller.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name == "tether.controller" or name.startswith("tether.controller."):
                found.append(name.removeprefix("tether.controller").lstrip(".").split(".")[0])
    return found


def test_the_server_imports_only_the_face_and_the_models_of_the_controller() -> None:
    refused = [
        f"{module}: tether.controller.{imported or ''}"
        for module, tree in _server_modules()
        for imported in _controller_modules(tree)
        if imported not in ALLOWED and (module, imported) not in PENDING
    ]
    assert refused == []


def test_the_import_check_sees_every_form_of_import() -> None:
    source = (
        "import tether.controller.controller\n"
        "from tether.controller import watcher, status\n"
        "from tether.controller.clusters import ClusterEntry\n"
        "from tether.controllers import x\n"
    )
    assert _controller_modules(ast.parse(source)) == ["controller", "watcher", "status", "clusters"]


def _controller_attributes(
    tree: ast.Module, owner_name: str = "controller"
) -> list[tuple[int, str]]:
    """(line, attribute) of every ``<...>.controller.<attribute>`` and ``controller.<attribute>``
    (or of another ``owner_name``)."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        owner = node.value
        if (isinstance(owner, ast.Name) and owner.id == owner_name) or (
            isinstance(owner, ast.Attribute) and owner.attr == owner_name
        ):
            found.append((node.lineno, node.attr))
    return found


def test_the_server_uses_only_members_of_the_face() -> None:
    assert {"applications", "comparison", "cluster_of", "metrics", "subscribe"} <= FACE_MEMBERS
    outside = [
        f"{module}:{line}: controller.{attr}"
        for module, tree in _server_modules()
        for line, attr in _controller_attributes(tree)
        if attr not in FACE_MEMBERS
    ]
    assert outside == []


def test_the_server_uses_only_members_of_the_observing_face_on_a_replica() -> None:
    assert {"observe", "open_cluster", "on_push"} <= OBSERVING_MEMBERS - FACE_MEMBERS
    outside = [
        f"{module}:{line}: observer.{attr}"
        for module, tree in _server_modules()
        for line, attr in _controller_attributes(tree, "observer")
        if attr not in OBSERVING_MEMBERS
    ]
    assert outside == []


def test_the_attribute_check_sees_the_controller_however_it_is_reached() -> None:
    source = "ctx.state.controller.apps.get(x)\ncontroller.queue.qsize()\nself.controller.metrics()"
    assert sorted(_controller_attributes(ast.parse(source))) == [
        (1, "apps"),
        (2, "queue"),
        (3, "metrics"),
    ]


class FaceOnly:
    """The real controller, reachable only through the members `ControllerFace` declares (or
    another set of ``members``)."""

    def __init__(self, controller: Any, members: frozenset[str] = FACE_MEMBERS) -> None:
        self._controller = controller
        self._members = members
        self.used: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        if name not in self._members:
            raise AttributeError(f"{name!r} is not on the controller's face")
        self.used.add(name)
        return getattr(self._controller, name)


async def _json(http: httpx.AsyncClient, path: str, **params: str) -> Any:
    answer = await http.get(path, params=params)
    assert answer.status_code == 200, f"{path}: {answer.status_code} {answer.text}"
    return answer.json()


async def _sync_and_wait(http: httpx.AsyncClient, app: str) -> dict[str, Any]:
    answer = await http.post(f"{app}/sync", json={})
    assert answer.status_code == 200, answer.text

    async def finished() -> dict[str, Any] | None:
        found = await _json(http, app)
        status = found.get("status") or {}
        done = (status.get("operationState") or {}).get("phase") == "Succeeded"
        healthy = (status.get("health") or {}).get("status") == "Healthy"
        return found if done and healthy and not found.get("operation") else None

    return await eventually(finished, timeout=60, what="sync through the face-only server")


async def _check_objects(http: httpx.AsyncClient, app: str, namespace: str) -> None:
    """The routes of what the app deployed answer from its comparison and live cache."""
    managed = (await _json(http, f"{app}/managed-resources"))["items"]
    assert {(i["kind"], i["status"]) for i in managed} >= {("Deployment", "Synced")}
    manifests = await _json(http, f"{app}/manifests")
    assert any(m["kind"] == "Deployment" for m in manifests["manifests"])
    nodes = (await _json(http, f"{app}/resource-tree"))["nodes"]
    assert {"Deployment", "ReplicaSet"} <= {n["kind"] for n in nodes}
    deployment = await _json(
        http,
        f"{app}/resource",
        group="apps",
        kind="Deployment",
        namespace=namespace,
        name="payment-service",
    )
    assert deployment["metadata"]["name"] == "payment-service"
    assert "items" in await _json(http, f"{app}/events")
    assert len((await _json(http, f"{app}/history"))["items"]) == 1


async def _check_metrics(http: httpx.AsyncClient, name: str) -> None:
    """Sync counted through the subscription; the controller's counters read from its face."""
    text = (await http.get("/metrics")).text
    assert f'argocd_app_sync_total{{name="{name}",namespace=' in text
    for series in ("tether_queue_depth", "argocd_git_request_total", "argocd_app_reconcile_count"):
        assert series in text, series


async def _metrics_counted(http: httpx.AsyncClient, name: str) -> bool:
    return f'argocd_app_sync_total{{name="{name}"' in (await http.get("/metrics")).text


@pytest.mark.asyncio(loop_scope="session")
async def test_the_api_works_over_the_face_alone(stack: Stack) -> None:
    name = await stack.manual_app("face")
    face = FaceOnly(stack.controller)
    async with in_process_api(face, stack.tokens["admin"]) as http:
        path = f"/api/v1/applications/{name}"
        synced = await _sync_and_wait(http, path)
        namespace = synced["spec"]["destination"]["namespace"]
        listed = await _json(http, "/api/v1/applications", sync="Synced", health="Healthy")
        assert name in {a["metadata"]["name"] for a in listed["items"]}
        await _check_objects(http, path, namespace)
        assert (await http.post(f"{path}/refresh", json={"hard": True})).status_code == 200
        assert (await http.delete(f"{path}/operation")).json() == {"terminated": False}
        await eventually(lambda: _metrics_counted(http, name), what="the sync counted")
        await _check_metrics(http, name)
        for route in ("/api/v1/clusters", "/api/v1/repositories", "/api/v1/settings"):
            await _json(http, route)
        assert (await http.get("/readyz")).status_code == 200
    assert {"subscribe", "comparison", "desired", "cluster_of", "metrics", "refresh"} <= face.used


@pytest.mark.asyncio(loop_scope="session")
async def test_the_api_of_a_replica_works_over_the_observing_face_alone(
    stack: Stack, tmp_path: Path
) -> None:
    name = await stack.manual_app("oface")
    observer = ClusterObserver(
        stack.client,
        ControllerConfig(namespace=stack.controller.namespace, cache_dir=tmp_path, bootstrap=False),
    )
    await observer.start()
    face = FaceOnly(observer, OBSERVING_MEMBERS)
    try:
        async with in_process_api(face, stack.tokens["admin"]) as http:
            path = f"/api/v1/applications/{name}"
            synced = await _sync_and_wait(http, path)
            await _check_objects(http, path, synced["spec"]["destination"]["namespace"])
            assert (await http.post(f"{path}/refresh", json={"hard": True})).status_code == 200
            assert (await http.delete(f"{path}/operation")).json() == {"terminated": False}
            assert (await http.get("/readyz")).status_code == 200
    finally:
        await observer.stop()
    assert {"observe", "open_cluster", "subscribe", "refresh", "terminate"} <= face.used
    assert observer.comparisons.computed >= 1, "the diff was computed on demand"
