"""The parts of a server replica: which apps a push concerns, the pacing of webhook refreshes,
terminate as Argo CD's API server writes it, the bound on kept comparisons, and the
``tether server`` process itself."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.server.conftest import CONTROL_NS, Stack, eventually
from tether.cluster.client import ClusterClient
from tether.controller.config import ControllerConfig
from tether.controller.observer import ClusterObserver, ObservationError, ObserverSettings
from tether.controller.pushes import RefreshPacer, push_concerns
from tether.localcluster.cluster import LocalCluster
from tether.source.webhooks import RefUpdate, WebhookEvent

REPO = "https://git.example.com/team/deploy.git"


def _app(url: str, revision: str | None = None, *, multi: bool = False) -> dict[str, Any]:
    source: dict[str, Any] = {"repoURL": url, "path": "app"}
    if revision is not None:
        source["targetRevision"] = revision
    spec = {"sources": [source]} if multi else {"source": source}
    return {"metadata": {"name": "a"}, "spec": spec}


def _push(*refs: str, url: str = REPO) -> WebhookEvent:
    return WebhookEvent("github", "push", (url,), tuple(RefUpdate(r, None, "1" * 40) for r in refs))


def test_a_push_concerns_apps_of_that_repository_and_branch() -> None:
    main = _push("refs/heads/main")
    assert push_concerns(main, _app(REPO, "main"))
    assert push_concerns(main, _app("git@git.example.com:team/deploy", "main"))
    assert push_concerns(main, _app(REPO, "refs/heads/main"))
    assert push_concerns(main, _app(REPO)), "HEAD follows any pushed branch"
    assert push_concerns(main, _app(REPO, "main", multi=True))
    assert not push_concerns(main, _app(REPO, "release"))
    assert not push_concerns(main, _app("https://git.example.com/team/other.git", "main"))
    assert not push_concerns(_push("refs/tags/v1"), _app(REPO, "HEAD")), "a tag is no branch"
    assert push_concerns(_push("refs/tags/v1"), _app(REPO, "v1"))
    assert push_concerns(_push(), _app(REPO, "release")), "no ref named: every app of the repo"


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.text() | st.integers(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=20,
    )
)
def test_a_hostile_application_spec_never_breaks_the_push_matching(spec: Any) -> None:
    assert push_concerns(_push("refs/heads/main"), {"spec": {"source": spec, "sources": spec}}) in (
        True,
        False,
    )


class FakeTime:
    """A clock that moves only when the pacer sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.asyncio(loop_scope="session")
async def test_webhook_refreshes_are_paced_and_each_app_written_once() -> None:
    time = FakeTime()
    written: list[tuple[float, str]] = []

    async def write(name: str) -> None:
        written.append((time.now, name))

    pacer = RefreshPacer(write, rate=10, sleep=time.sleep, clock=time.clock)
    names = [f"app-{i:04d}" for i in range(1000)]
    pacer.add(names)
    pacer.add(names[:500])  # a second push while the first is being written
    await pacer.wait()
    assert [n for _, n in written] == names
    # any 11 writes in a row span a second at least: never more than 10 in one second
    times = [at for at, _ in written]
    assert min(later - first for first, later in zip(times, times[10:], strict=False)) >= 1 - 1e-9
    assert pacer.written == 1000 and pacer.pending() == []


def test_a_rate_that_is_not_positive_is_refused() -> None:
    async def write(name: str) -> None: ...

    with pytest.raises(ValueError, match="must be positive"):
        RefreshPacer(write, rate=0)


# ---- against the local cluster, in a control namespace no controller follows --------------------


@pytest_asyncio.fixture(loop_scope="session")
async def lone_observer(
    stack: Stack, local_cluster: LocalCluster, tmp_path: Path
) -> AsyncIterator[tuple[ClusterObserver, ClusterClient, str]]:
    """An observer of a new control namespace (the stack's controller installed the CRDs)."""
    client = ClusterClient.from_kubeconfig(str(local_cluster.kubeconfig))
    namespace = f"lone-{uuid.uuid4().hex[:6]}"
    info = await client.resource_for("v1", "Namespace")
    await client.create(
        info, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    )
    observer = ClusterObserver(
        client, ControllerConfig(namespace=namespace, cache_dir=tmp_path / "cache", bootstrap=False)
    )
    await observer.start()
    try:
        yield observer, client, namespace
    finally:
        await observer.stop()
        await client.aclose()


async def _app_in_phase(client: ClusterClient, namespace: str, phase: str) -> str:
    name = f"op-{uuid.uuid4().hex[:5]}"
    info = await client.resource_for("argoproj.io/v1alpha1", "Application")
    body = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "project": "default",
            "source": {"repoURL": REPO, "path": "app"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "x"},
        },
    }
    await client.create(info, body, namespace)
    state = {"phase": phase, "operation": {"sync": {}}, "startedAt": "2026-01-01T00:00:00Z"}
    await client.patch(
        info,
        name,
        {"status": {"operationState": state}},
        namespace,
        patch_type="merge",
        field_manager="tests",
        subresource="status",
    )
    return name


@pytest.mark.asyncio(loop_scope="session")
async def test_terminate_asks_the_controller_through_the_operation_state(
    lone_observer: tuple[ClusterObserver, ClusterClient, str],
) -> None:
    observer, client, namespace = lone_observer
    running = await _app_in_phase(client, namespace, "Running")
    finished = await _app_in_phase(client, namespace, "Succeeded")

    def seen(name: str, phase: str) -> bool:
        app = observer.applications().get(name) or {}
        return ((app.get("status") or {}).get("operationState") or {}).get("phase") == phase

    await eventually(lambda: seen(running, "Running") and seen(finished, "Succeeded"))
    assert await observer.terminate(running) is True
    assert await observer.terminate(finished) is False
    assert await observer.terminate("no-such-app") is False
    info = await client.resource_for("argoproj.io/v1alpha1", "Application")
    stored = await client.get(info, running, namespace)
    assert stored["status"]["operationState"]["phase"] == "Terminating"
    assert stored["status"]["operationState"]["startedAt"] == "2026-01-01T00:00:00Z"


@pytest.mark.asyncio(loop_scope="session")
async def test_kept_comparisons_are_bounded(stack: Stack, tmp_path: Path) -> None:

    names = [await stack.manual_app("bound") for _ in range(3)]
    observer = ClusterObserver(
        stack.client,
        ControllerConfig(namespace=CONTROL_NS, cache_dir=tmp_path / "cache", bootstrap=False),
        ObserverSettings(max_comparisons=2),
    )
    await observer.start()
    try:
        for name in names:
            await eventually(lambda name=name: _compared(observer, name), what=f"{name} compared")
            assert await observer.observe(name) is not None
        assert [observer.comparison(n) is not None for n in names] == [False, True, True]
    finally:
        await observer.stop()


def _compared(observer: ClusterObserver, name: str) -> bool:
    app = observer.applications().get(name) or {}
    return bool(((app.get("status") or {}).get("sync") or {}).get("revision"))


# ---- the process -----------------------------------------------------------------------------


@pytest.mark.asyncio(loop_scope="session")
async def test_tether_server_runs_apart_and_stops_on_sigterm(
    stack: Stack, local_cluster: LocalCluster, tmp_path: Path
) -> None:
    name = await stack.manual_app("proc")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tether.cli.main",
            "server",
            "--kubeconfig",
            str(local_cluster.kubeconfig),
            "--namespace",
            CONTROL_NS,
            "--cache-dir",
            str(tmp_path / "cache"),
            "--listen",
            "127.0.0.1:0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    try:
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 60)  # type: ignore[union-attr]
        assert "tether server running" in line, line + proc.stderr.read()  # type: ignore[union-attr]
        url = line.rsplit(" ", 1)[1].rstrip(")\n")
        headers = {"Authorization": f"Bearer {stack.tokens['admin']}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as http:
            assert (await http.get("/readyz")).status_code == 200
            path = f"/api/v1/applications/{name}/managed-resources"

            async def diff() -> list[dict[str, Any]] | None:
                answer = await http.get(path)
                assert answer.status_code == 200, answer.text
                return answer.json()["items"] or None

            items = await eventually(diff, timeout=60, what="the diff from the process")
            assert any(i["kind"] == "Deployment" for i in items)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_tether_server_without_argo_cd_resources_says_to_install_them(tmp_path: Path) -> None:
    fresh = LocalCluster(port=0, kubeconfig=tmp_path / "kubeconfig")
    fresh.start()
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "tether.cli.main",
                "server",
                "--kubeconfig",
                str(tmp_path / "kubeconfig"),
                "--listen",
                "127.0.0.1:0",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "HOME": str(tmp_path)},
        )
    finally:
        fresh.stop()
    assert proc.returncode == 1, proc.stderr
    assert "not installed in this cluster" in proc.stderr and "tether install" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.asyncio(loop_scope="session")
async def test_an_identity_that_may_not_list_the_control_namespace_gets_a_clear_error(
    stack: Stack, local_cluster: LocalCluster, tmp_path: Path
) -> None:
    kubeconfig = await asyncio.to_thread(
        local_cluster.access().service_account_kubeconfig,
        tmp_path / "kubeconfig",
        CONTROL_NS,
        "no-rights",
    )
    client = ClusterClient.from_kubeconfig(str(kubeconfig))
    observer = ClusterObserver(
        client,
        ControllerConfig(namespace=CONTROL_NS, cache_dir=tmp_path / "cache", bootstrap=False),
        ObserverSettings(start_timeout=2),
    )
    try:
        with pytest.raises(ObservationError, match=f"namespace {CONTROL_NS} could not be listed"):
            await observer.start()
    finally:
        await observer.stop()
        await client.aclose()
