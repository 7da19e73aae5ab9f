"""Fault injection, and proof that a client with retries converges through it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from lightkube import ApiError
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap

from tether.localcluster.cluster import LocalCluster
from tether.localcluster.faults import FaultConfig
from tether.localcluster.testing import lightkube_for, wait_until


@pytest.fixture
def faulty() -> Iterator[LocalCluster]:
    with LocalCluster(workloads=None) as cluster:
        yield cluster


def _with_retries(call: Any, attempts: int = 30) -> Any:
    """What a well-behaved controller does: retry 5xx/429, honouring Retry-After."""
    for _ in range(attempts):
        try:
            return call()
        except ApiError as exc:
            if exc.status.code not in (429, 500, 503):
                raise
            details = exc.status.details
            wait = getattr(details, "retryAfterSeconds", None) or 0.05
            time.sleep(float(wait))
    raise AssertionError("did not converge")


class Mirror:
    """A list+watch mirror of ConfigMaps: resumes cut watches, relists on 410."""

    def __init__(self, cluster: LocalCluster, namespace: str) -> None:
        self.client = lightkube_for(cluster)
        self.namespace = namespace
        self.names: set[str] = set()
        self.relists = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _relist(self) -> str:
        listing = self.client.list(ConfigMap, namespace=self.namespace)
        self.names = {o.metadata.name for o in listing}
        self.relists += 1
        return str(listing.resourceVersion)

    def _run(self) -> None:
        rv = self._relist()
        while not self.stop.is_set():
            try:
                # lightkube re-opens a watch that the server ends, from the last resourceVersion
                for event, obj in self.client.watch(
                    ConfigMap, namespace=self.namespace, resource_version=rv
                ):
                    rv = obj.metadata.resourceVersion
                    if event == "DELETED":
                        self.names.discard(obj.metadata.name)
                    else:
                        self.names.add(obj.metadata.name)
                    if self.stop.is_set():
                        return
                self.resumes += 1
            except ApiError as exc:
                if exc.status.code == 410:
                    rv = self._relist()
                else:
                    raise
            except Exception:
                if self.stop.is_set():
                    return
                raise


def test_client_with_retries_converges_through_errors_cut_watches_and_a_410(
    faulty: LocalCluster,
) -> None:
    client = lightkube_for(faulty)
    mirror = Mirror(faulty, "default")
    faulty.call(
        setattr,
        faulty.app,
        "faults",
        FaultConfig(error_rate={"write": 0.2}, retry_after=1, watch_cut_seconds=1.0, seed=7),
    )
    mirror.thread.start()
    expected: set[str] = set()

    def writer(start: int) -> None:
        for i in range(start, start + 10):
            name = f"cm-{i}"
            obj = ConfigMap(metadata=ObjectMeta(name=name, namespace="default"), data={"i": str(i)})
            _with_retries(lambda obj=obj: client.apply(obj, field_manager="tester", force=True))
            expected.add(name)

    threads = [threading.Thread(target=writer, args=(n * 10,)) for n in range(4)]
    for t in threads:
        t.start()
    # force the 410 once the writes are under way, so a resumed watch meets it mid-stream
    wait_until(lambda: len(expected) >= 10, timeout=30, what="ten writes", interval=0.01)
    faulty.call(setattr, faulty.app.faults, "force_410", 1)
    for t in threads:
        t.join()
    for i in range(0, 40, 4):
        _with_retries(lambda i=i: client.delete(ConfigMap, f"cm-{i}", namespace="default"))
        expected.discard(f"cm-{i}")
    wait_until(
        lambda: mirror.names == expected and mirror.relists >= 2,
        timeout=20,
        what="the mirror holds what the server holds, after a relist",
    )
    mirror.stop.set()
    mirror.thread.join(timeout=5)  # the server cuts the watch within a second
    server_names = {o.metadata.name for o in client.list(ConfigMap, namespace="default")}
    assert server_names == expected
    assert mirror.names == expected
    assert mirror.relists >= 2  # the initial list and the relist after the forced 410
    counts = faulty.app.request_counts
    # watches were cut every second and resumed from their resourceVersion
    assert counts[("watch", "configmaps")] >= 3
    assert counts[("patch", "configmaps")] > 40  # the injected failures were retried


def test_error_rates_latency_and_throttling_are_reported_with_real_status_bodies(
    faulty: LocalCluster,
) -> None:
    import ssl

    ctx = ssl.create_default_context(cadata=faulty.creds.ca_pem.decode())
    headers = {"Authorization": f"Bearer {faulty.admin_token}"}
    with httpx.Client(base_url=faulty.url, headers=headers, verify=ctx) as http:
        r = http.put(
            "/tether/v1/faults",
            json={"error_rate": {"list": 1.0}, "throttle_share": 1.0, "retry_after": 3},
        )
        assert r.status_code == 200
        r = http.get("/api/v1/namespaces/default/configmaps")
        assert r.status_code == 429
        assert r.headers["retry-after"] == "3"
        assert r.json()["reason"] == "TooManyRequests"
        assert r.json()["details"]["retryAfterSeconds"] == 3
        http.put("/tether/v1/faults", json={"error_rate": {"list": 1.0}, "throttle_share": 0.0})
        r = http.get("/api/v1/namespaces/default/configmaps")
        assert r.status_code == 500 and r.json()["reason"] == "InternalError"
        assert http.get("/version").status_code == 200  # discovery stays healthy
        # held back 2 s, the answer misses a client that waits 0.2 s
        http.put("/tether/v1/faults", json={"latency_ms": 2000})
        with pytest.raises(httpx.ReadTimeout):
            http.get("/api/v1/namespaces/default/configmaps", timeout=0.2)
        http.put("/tether/v1/faults", json={"latency_ms": 0})
        assert http.get("/api/v1/namespaces/default/configmaps").status_code == 200
        bad = http.put("/tether/v1/faults", json={"error_rate": {"list": 2}})
        assert bad.status_code == 400
        viewer = {"Authorization": f"Bearer {faulty.viewer_token}"}
        assert http.put("/tether/v1/faults", json={}, headers=viewer).status_code == 403
        http.put("/tether/v1/faults", json={})
        metrics = http.get("/metrics").text
        assert 'apiserver_request_total{verb="list",resource="configmaps"}' in metrics
        assert "apiserver_registered_watchers" in metrics
