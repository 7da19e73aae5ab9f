"""Flux's Provider and Alert on the real stack: applied with kubectl as a Flux user writes them
(the CRDs are the controller's), an Alert following Argo CD Applications sends each sync's
Events to a generic-hmac Provider on a loopback receiver, signed as Flux's docs verify; an
errors-only Alert stays quiet; a Provider Tether cannot send to is told in the log."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.controller.stack import CONTROL_NS, Env, synced_healthy
from tests.notify.test_delivery import Receiver
from tether.localcluster.testing import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

KEY = "flux-hmac-" + uuid.uuid4().hex
API = "notification.toolkit.fluxcd.io/v1beta3"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.server.shutdown()


def objects(receiver: Receiver, app: str) -> list[dict[str, Any]]:
    def meta(name: str) -> dict[str, str]:
        return {"name": name, "namespace": CONTROL_NS}

    return [
        {"apiVersion": "v1", "kind": "Secret", "metadata": meta("flux-hook"),
         "stringData": {"token": KEY, "address": f"{receiver.url}/flux"}},
        {"apiVersion": API, "kind": "Provider", "metadata": meta("hook"),
         "spec": {"type": "generic-hmac", "secretRef": {"name": "flux-hook"}}},
        {"apiVersion": API, "kind": "Alert", "metadata": meta("apps"),
         "spec": {"providerRef": {"name": "hook"}, "eventSeverity": "info",
                  "eventSources": [{"kind": "Application", "name": app}],
                  "eventMetadata": {"cluster": "local"}}},
        {"apiVersion": API, "kind": "Alert", "metadata": meta("errors-only"),
         "spec": {"providerRef": {"name": "hook"}, "eventSeverity": "error",
                  "eventSources": [{"kind": "Application", "name": "*"}],
                  "eventMetadata": {"alert": "errors-only"}}},
        {"apiVersion": API, "kind": "Provider", "metadata": meta("teams"),
         "spec": {"type": "msteams", "address": "https://example.invalid"}},
        {"apiVersion": API, "kind": "Alert", "metadata": meta("to-teams"),
         "spec": {"providerRef": {"name": "teams"},
                  "eventSources": [{"kind": "Application", "name": app}]}},
    ]  # fmt: skip


async def test_an_alert_on_applications_sends_signed_flux_events(
    env: Env, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    name = f"flux-alert-{uuid.uuid4().hex[:6]}"
    await env.apply(*objects(receiver, name))
    await eventually(
        lambda: (
            env.controller.flux_alerts.watchers.get("Alert") is not None
            and len(env.controller.flux_alerts.watchers["Alert"].objects) >= 3
        ),
        60,
        "the Alerts followed",
    )
    url, _ = env.new_repo()
    await env.kube("create", "namespace", name)
    await env.application(name, url, name)
    await eventually(lambda: synced_healthy(env, name), 90, f"{name} synced")

    def mine() -> list[dict[str, Any]]:
        return [r for r in receiver.requests if f'"name":"{name}"' in r["body"]]

    await eventually(lambda: len(mine()) >= 1, 30, "an event for the app")
    for request in mine():
        algorithm, _, given = request["headers"]["X-Signature"].partition("=")
        body = request["body"].encode()
        assert algorithm == "sha256"
        assert hmac.compare_digest(given, hmac.new(KEY.encode(), body, hashlib.sha256).hexdigest())
        event = json.loads(body)
        assert event["involvedObject"]["kind"] == "Application"
        assert event["involvedObject"]["apiVersion"] == "argoproj.io/v1alpha1"
        assert event["metadata"]["cluster"] == "local"
        assert event["severity"] == "info"  # the errors-only Alert sent none of these
        assert event["metadata"].get("alert") != "errors-only"
        assert request["path"] == "/flux"
    reasons = {json.loads(r["body"])["reason"] for r in mine()}
    assert reasons, reasons
    await eventually(
        lambda: any("type msteams is not sent by Tether yet" in r.message for r in caplog.records),
        30,
        "the msteams Provider told",
    )
    # the next module on this worker shares the cluster: no Alert of this one routes its events
    await env.kube("delete", "alerts,providers", "--all", "-n", CONTROL_NS)


async def test_an_alert_on_kustomizations_sends_their_ready_transitions(
    env: Env, receiver: Receiver
) -> None:
    """A Kustomization of the control namespace turning Ready is reported as Flux's
    kustomize-controller reports it: reason, message, and the revision in the metadata."""
    name = f"ks-alert-{uuid.uuid4().hex[:6]}"
    provider = f"hook-{name}"
    meta = {"namespace": CONTROL_NS}
    url, _ = env.new_repo({"deploy/cm.yaml": "apiVersion: v1\nkind: ConfigMap\n"
                           "metadata: {name: alerted}\ndata: {k: v}\n"})  # fmt: skip
    await env.kube("create", "namespace", name)
    await env.apply(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {**meta, "name": provider},
         "stringData": {"token": KEY, "address": f"{receiver.url}/ks"}},
        {"apiVersion": API, "kind": "Provider", "metadata": {**meta, "name": provider},
         "spec": {"type": "generic-hmac", "secretRef": {"name": provider}}},
        {"apiVersion": API, "kind": "Alert", "metadata": {**meta, "name": name},
         "spec": {"providerRef": {"name": provider},
                  "eventSources": [{"kind": "Kustomization", "name": name}]}},
    )  # fmt: skip
    await eventually(
        lambda: any(
            a["metadata"]["name"] == name
            for a in env.controller.flux_alerts.watchers["Alert"].objects.values()
        ),
        60,
        "the Alert followed",
    )
    await env.apply(
        {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
         "metadata": {**meta, "name": name},
         "spec": {"url": url, "interval": "1m", "ref": {"branch": "main"}}},
        {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
         "metadata": {**meta, "name": name},
         "spec": {"interval": "10m", "prune": True, "path": "./deploy", "targetNamespace": name,
                  "sourceRef": {"kind": "GitRepository", "name": name}}},
    )  # fmt: skip

    def mine() -> list[dict[str, Any]]:
        return [
            json.loads(r["body"])
            for r in receiver.requests
            if r["path"] == "/ks" and f'"name":"{name}"' in r["body"]
        ]

    def succeeded() -> list[dict[str, Any]]:
        return [e for e in mine() if e["reason"] == "ReconciliationSucceeded"]

    # (a reconcile before the GitRepository's first artifact reports ArtifactFailed first)
    await eventually(succeeded, 60, "the Kustomization's success event")
    (event,) = succeeded()
    assert event["involvedObject"]["apiVersion"] == "kustomize.toolkit.fluxcd.io/v1"
    assert event["reportingController"] == "kustomize-controller"
    assert event["reason"] == "ReconciliationSucceeded"
    assert event["severity"] == "info"
    assert event["metadata"]["revision"].startswith("main@sha1:")
    assert event["message"] == f"Applied revision: {event['metadata']['revision']}"
    await env.kube("delete", "alerts,providers", "--all", "-n", CONTROL_NS)
    await env.kube("delete", "kustomization", name, "-n", CONTROL_NS, "--wait=false")
