"""Flux's Provider and Alert as Flux's docs write them: parsing and its refusals, routing (event
sources, severity, inclusion and exclusion lists, metadata), the providers on loopback receivers
(generic, generic-hmac verified with the docs' recipe, Slack's documented Web API fake), and the
events made from Applications and image objects."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from tests.notify.fakeslack import FakeSlack
from tests.notify.test_delivery import Receiver
from tether.notify.flux.events import application_event, ready_transition
from tether.notify.flux.models import (
    FluxAlertError,
    FluxEvent,
    InvolvedObject,
    parse_alert,
    parse_provider,
)
from tether.notify.flux.providers import send
from tether.notify.flux.routing import matches, route
from tether.notify.senders import DeliveryError

pytestmark = pytest.mark.asyncio


def alert(**spec: Any) -> dict[str, Any]:
    base = {"providerRef": {"name": "hook"}, "eventSources": [{"kind": "ImagePolicy", "name": "*"}]}
    return {"metadata": {"name": "a", "namespace": "flux-system"}, "spec": {**base, **spec}}


def provider(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "hook", "namespace": "flux-system"}, "spec": spec}


def event(
    message: str = "Latest image tag for 'ghcr.io/acme/web' resolved to 1.5.0",
    severity: str = "info",
    kind: str = "ImagePolicy",
    name: str = "web",
    namespace: str = "flux-system",
    **extra: Any,
) -> FluxEvent:
    return FluxEvent(InvolvedObject(kind, name, namespace), severity, "Succeeded", message, **extra)


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ({"providerRef": {}}, "providerRef.name is required"),
        ({"eventSeverity": "warning"}, "eventSeverity must be info or error"),
        ({"eventSources": []}, "at least one source"),
        ({"eventSources": [{"kind": "ImagePolicy"}]}, "eventSources[0] needs kind and name"),
        ({"exclusionList": ["(unclosed"]}, "exclusionList[0] is not a regular expression"),
        ({"summary": "x" * 300}, "at most 255"),
    ],
)
async def test_alerts_that_cannot_work_are_refused_naming_the_field(
    spec: dict[str, Any], words: str
) -> None:
    with pytest.raises(FluxAlertError, match=None) as refused:
        parse_alert(alert(**spec))
    assert words in refused.value.message and "Alert flux-system/a" in refused.value.message


async def test_providers_tether_does_not_send_are_refused_by_name() -> None:
    with pytest.raises(FluxAlertError) as refused:
        parse_provider(provider(type="msteams"))
    assert "type msteams is not sent by Tether yet" in refused.value.message
    with pytest.raises(FluxAlertError, match="not a provider type"):
        parse_provider(provider(type="carrier-pigeon"))
    assert parse_provider(provider(type="generic", timeout="5s")).timeout == 5.0


async def test_routing_follows_fluxs_rules() -> None:
    assert matches(parse_alert(alert()), event())
    # the Alert's namespace when the source names none; a name; labels
    assert not matches(parse_alert(alert()), event(namespace="apps"))
    named = parse_alert(alert(eventSources=[{"kind": "ImagePolicy", "name": "api"}]))
    assert not matches(named, event()) and matches(named, event(name="api"))
    labelled = parse_alert(
        alert(eventSources=[{"kind": "ImagePolicy", "name": "*", "matchLabels": {"team": "a"}}])
    )
    assert not matches(labelled, event()) and matches(labelled, event(labels={"team": "a"}))
    # errors only
    errors = parse_alert(alert(eventSeverity="error"))
    assert not matches(errors, event()) and matches(errors, event(severity="error"))
    # inclusion, and exclusion winning over it
    lists = parse_alert(alert(inclusionList=[".*resolved.*"], exclusionList=["1\\.5\\.0$"]))
    assert not matches(lists, event())
    assert matches(lists, event(message="Latest image tag resolved to 1.6.0"))
    assert not matches(lists, event(message="scan failed"))
    assert not matches(parse_alert(alert(suspend=True)), event())


async def test_event_metadata_never_overrides_the_events_own() -> None:
    found = parse_alert(alert(eventMetadata={"env": "prod", "revision": "x"}, summary="us-east"))
    ((_, routed),) = route([found], event(metadata={"revision": "1.5.0"}))
    assert routed.metadata == {"env": "prod", "revision": "1.5.0", "summary": "us-east"}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.server.shutdown()


async def test_generic_posts_fluxs_event_json_with_the_secrets_headers(
    receiver: Receiver,
) -> None:
    hook = parse_provider(provider(type="generic", address=receiver.url + "/flux"))
    secret = {"headers": "Authorization: Bearer abc\nX-Env: prod\n"}
    async with httpx2.AsyncClient() as client:
        await send(hook, secret, event(reporting_controller="image-reflector-controller"), client)
    (request,) = receiver.requests
    assert (request["method"], request["path"]) == ("POST", "/flux")
    assert request["headers"]["Gotk-Component"] == "image-reflector-controller"
    assert request["headers"]["Authorization"] == "Bearer abc"
    body = json.loads(request["body"])
    assert body["involvedObject"] == {
        "kind": "ImagePolicy",
        "namespace": "flux-system",
        "name": "web",
    }
    assert (body["severity"], body["reason"]) == ("info", "Succeeded")
    assert body["reportingController"] == "image-reflector-controller"


async def test_generic_hmac_signs_the_body_as_the_docs_verify_it(receiver: Receiver) -> None:
    hook = parse_provider(provider(type="generic-hmac", address="http://ignored.invalid"))
    secret = {"token": "hmac-key", "address": receiver.url}  # the Secret's address wins
    async with httpx2.AsyncClient() as client:
        await send(hook, secret, event(), client)
    (request,) = receiver.requests
    algorithm, _, given = request["headers"]["X-Signature"].partition("=")
    expected = hmac.new(b"hmac-key", request["body"].encode(), hashlib.sha256).hexdigest()
    assert algorithm == "sha256" and hmac.compare_digest(given, expected)
    with pytest.raises(DeliveryError, match="needs a token"):
        async with httpx2.AsyncClient() as client:
            await send(hook, {"address": receiver.url}, event(), client)


async def test_failures_are_retried_or_not_and_never_show_the_secret(receiver: Receiver) -> None:
    hook = parse_provider(provider(type="generic", address=receiver.url))
    receiver.answers = [(503, {"Retry-After": "2"}, b"busy"), (400, {}, b"bad token=tok-123")]
    async with httpx2.AsyncClient() as client:
        with pytest.raises(DeliveryError) as busy:
            await send(hook, {"token": "tok-123"}, event(), client)
        assert busy.value.retry and busy.value.retry_after == 2.0
        with pytest.raises(DeliveryError) as refused:
            await send(hook, {"token": "tok-123"}, event(), client)
    assert not refused.value.retry and "tok-123" not in refused.value.message


async def test_slack_gets_an_attachment_coloured_by_severity() -> None:
    slack = FakeSlack("xoxb-flux", {"general"})
    try:
        bot = parse_provider(
            provider(type="slack", channel="general", address=f"{slack.api_url}/chat.postMessage")
        )
        failed = event("scan failed: 401", severity="error", metadata={"env": "prod"})
        async with httpx2.AsyncClient() as client:
            await send(bot, {"token": "xoxb-flux"}, failed, client)
            with pytest.raises(DeliveryError, match="invalid_auth"):
                await send(bot, {"token": "wrong"}, failed, client)
        (posted,) = slack.posted
        (attachment,) = posted["attachments"]
        assert attachment["color"] == "danger" and attachment["text"] == "scan failed: 401"
        assert attachment["author_name"] == "ImagePolicy/web.flux-system"
        assert attachment["fields"] == [{"title": "env", "value": "prod", "short": False}]
    finally:
        slack.close()


async def test_events_from_applications_and_ready_transitions() -> None:
    app = {"metadata": {"name": "web", "namespace": "argocd", "labels": {"team": "a"}},
           "status": {"sync": {"revision": "abc"}}}  # fmt: skip
    made = application_event(app, "Warning", "SyncFailed", "sync failed")
    assert (made.involved.kind, made.severity, made.metadata) == (
        "Application", "error", {"revision": "abc"}
    )  # fmt: skip
    obj = {"metadata": {"name": "web", "namespace": "argocd"}}

    def ready(status: str, message: str) -> dict[str, Any]:
        return {
            "conditions": [{"type": "Ready", "status": status, "reason": "R", "message": message}]
        }

    assert ready_transition("ImagePolicy", obj, ready("True", "a"), ready("True", "a")) is None
    moved = ready_transition("ImagePolicy", obj, ready("True", "a"), ready("True", "b"))
    assert moved is not None and moved.severity == "info" and moved.message == "b"
    assert moved.reporting_controller == "image-reflector-controller"
    broke = ready_transition("ImageUpdateAutomation", obj, {}, ready("False", "push failed"))
    assert broke is not None and broke.severity == "error"
