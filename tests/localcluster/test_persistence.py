"""``--state DIR``: objects, uids and resourceVersions survive a restart and a ``kill -9``."""

from __future__ import annotations

import base64
import ssl
import threading
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from tether.localcluster.cluster import ClusterProcess
from tether.localcluster.testing import crd_manifest, wait_until

pytestmark = pytest.mark.slow


def _http(kubeconfig: Path) -> httpx.Client:
    doc = yaml.safe_load(kubeconfig.read_text())
    cluster = doc["clusters"][0]["cluster"]
    ctx = ssl.create_default_context(
        cadata=base64.b64decode(cluster["certificate-authority-data"]).decode()
    )
    token = doc["users"][0]["user"]["token"]
    return httpx.Client(
        base_url=cluster["server"],
        headers={"Authorization": f"Bearer {token}"},
        verify=ctx,
        timeout=30,
    )


CRD = crd_manifest("tether.test", "Note", "notes")


def _snapshot(http: httpx.Client) -> dict[str, Any]:
    out = {}
    for path in (
        "/api/v1/namespaces/default/configmaps",
        "/apis/apps/v1/namespaces/default/deployments",
        "/apis/tether.test/v1/namespaces/default/notes",
        "/api/v1/namespaces",
    ):
        for item in http.get(path).json()["items"]:
            meta = item["metadata"]
            out[(path, meta["name"])] = (
                meta["uid"],
                meta["resourceVersion"],
                orjson.dumps(item, option=orjson.OPT_SORT_KEYS),
            )
    return out


def test_restart_with_state_keeps_objects_uids_and_resource_versions(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = ClusterProcess.start(tmp_path, ["--state", str(state), "--no-workloads"])
    try:
        with _http(first.kubeconfig) as http:
            assert (
                http.post(
                    "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                    content=orjson.dumps(CRD),
                ).status_code
                == 201
            )
            for i in range(20):
                body = {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": f"c{i}"},
                    "data": {"i": str(i)},
                }
                assert (
                    http.post(
                        "/api/v1/namespaces/default/configmaps", content=orjson.dumps(body)
                    ).status_code
                    == 201
                )
            http.delete("/api/v1/namespaces/default/configmaps/c3")
            note = {
                "apiVersion": "tether.test/v1",
                "kind": "Note",
                "metadata": {"name": "n1"},
                "text": "hello",
            }
            # the CRD serves once it is established
            wait_until(
                lambda: (
                    http.post(
                        "/apis/tether.test/v1/namespaces/default/notes", content=orjson.dumps(note)
                    ).status_code
                    == 201
                ),
                timeout=10,
                what="a Note created",
            )
            before = _snapshot(http)
            rv_before = http.get("/api/v1/namespaces/default/configmaps").json()["metadata"][
                "resourceVersion"
            ]
    finally:
        first.stop()
    second = ClusterProcess.start(tmp_path, ["--state", str(state), "--no-workloads"])
    try:
        with _http(second.kubeconfig) as http:
            after = _snapshot(http)
            assert after == before
            listing = http.get("/api/v1/namespaces/default/configmaps").json()
            assert int(listing["metadata"]["resourceVersion"]) >= int(rv_before)
            # a write after the restart continues the same resourceVersion sequence
            body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "later"}}
            created = http.post(
                "/api/v1/namespaces/default/configmaps", content=orjson.dumps(body)
            ).json()
            assert int(created["metadata"]["resourceVersion"]) > int(rv_before)
            # a watcher resuming from before the restart gets a 410 and knows to relist
            with http.stream(
                "GET",
                "/api/v1/namespaces/default/configmaps",
                params={"watch": "1", "resourceVersion": "2"},
            ) as r:
                line = next(r.iter_lines())
            event = orjson.loads(line)
            assert event["type"] == "ERROR" and event["object"]["code"] == 410
    finally:
        second.stop()


def test_kill_9_during_a_stream_of_writes_loses_no_acknowledged_write(tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc = ClusterProcess.start(tmp_path, ["--state", str(state), "--no-workloads"])
    acknowledged: list[str] = []
    enough = threading.Event()

    def write() -> None:
        with _http(proc.kubeconfig) as http:
            for i in range(1000):
                body = {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": f"w{i:04d}"},
                    "data": {"i": str(i)},
                }
                try:
                    r = http.post(
                        "/api/v1/namespaces/default/configmaps", content=orjson.dumps(body)
                    )
                except httpx.HTTPError:
                    return
                if r.status_code == 201:
                    acknowledged.append(f"w{i:04d}")
                if len(acknowledged) >= 300:
                    enough.set()

    writer = threading.Thread(target=write)
    writer.start()
    assert enough.wait(60)
    proc.stop(kill=True)
    writer.join(30)
    assert 300 <= len(acknowledged) < 1000
    restarted = ClusterProcess.start(tmp_path, ["--state", str(state), "--no-workloads"])
    try:
        with _http(restarted.kubeconfig) as http:
            names = {
                i["metadata"]["name"]
                for i in http.get("/api/v1/namespaces/default/configmaps").json()["items"]
            }
        missing = [n for n in acknowledged if n not in names]
        assert missing == []
    finally:
        restarted.stop()
