"""Registry push events: distribution notifications, Docker Hub, GHCR package events and Harbor
webhooks, each verified by its secret, bounded, and matched against ImageRepositories; plus the
body Debian's docker-registry really sends."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from tests.images.conftest import NOTIFICATION_TOKEN, NotifyingRegistry, push_image
from tether.images.dockerconfig import parse_repository
from tether.images.errors import ImageError
from tether.images.events import (
    MAX_EVENTS,
    MAX_SKIPPED,
    PushedImage,
    RegistryEvent,
    RegistryWebhookError,
    RegistryWebhookNotConfiguredError,
    RegistryWebhookPayloadError,
    RegistryWebhookPayloadTooLargeError,
    RegistryWebhookSecrets,
    RegistryWebhookSignatureError,
    concerns,
    parse_registry_event,
)
from tether.localcluster.testing import wait_until
from tether.source.errors import WebhookError

DISTRIBUTION_SECRET = "distribution-notify-secret"
DOCKERHUB_TOKEN = "dockerhub-url-token"
GHCR_SECRET = "github-package-hook-secret"
HARBOR_SECRET = "harbor-auth-header-secret"
SECRETS = RegistryWebhookSecrets(
    distribution=DISTRIBUTION_SECRET,
    dockerhub=DOCKERHUB_TOKEN,
    ghcr=GHCR_SECRET,
    harbor=HARBOR_SECRET,
)
EVENTS_TYPE = "application/vnd.docker.distribution.events.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
REGISTRY = "registry.example.com:5000"


def digest(seed: str) -> str:
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


def image(reference: str, tag: str | None = None, digest: str | None = None) -> PushedImage:
    return PushedImage(parse_repository(reference), tag, digest)


# --- payloads, in the shapes the providers document --------------------------------------------


def distribution_event(
    action: str = "push",
    repository: str = "payment-service",
    tag: str | None = "1.5.0",
    media_type: str = OCI_MANIFEST,
    seed: str = "manifest",
    host: str = REGISTRY,
    with_url: bool = True,
) -> dict[str, Any]:
    kind = "blobs" if media_type == "application/octet-stream" else "manifests"
    target: dict[str, Any] = {"mediaType": media_type, "size": 455, "digest": digest(seed)}
    target |= {"length": 455, "repository": repository}
    if with_url:
        target["url"] = f"https://{host}/v2/{repository}/{kind}/{digest(seed)}"
    if tag is not None:
        target["tag"] = tag
    method = "PUT" if action == "push" else "GET"
    request = {"id": "r1", "addr": "10.0.0.7:41234", "host": host, "method": method}
    return {
        "id": f"event-{seed}",
        "timestamp": "2026-03-01T10:00:00.000000000Z",
        "action": action,
        "target": target,
        "request": request | {"useragent": "buildkit/v0.12"},
        "actor": {"name": "ci"},
        "source": {"addr": "registry-0:5000", "instanceID": "0f4e1c52"},
    }


def envelope(*events: dict[str, Any]) -> bytes:
    return json.dumps({"events": list(events)}).encode()


def with_authorization(headers: dict[str, str], authorization: str | None) -> dict[str, str]:
    return headers if authorization is None else headers | {"Authorization": authorization}


def distribution_headers(authorization: str | None = f"Bearer {DISTRIBUTION_SECRET}") -> dict:
    headers = {"Content-Type": EVENTS_TYPE, "User-Agent": "Go-http-client/1.1"}
    return with_authorization(headers, authorization)


def harbor_headers(authorization: str | None = HARBOR_SECRET) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "User-Agent": "Go-http-client/1.1"}
    return with_authorization(headers, authorization)


def dockerhub_payload(repo_name: str = "acme/payment-service", tag: str = "1.5.0") -> bytes:
    namespace, _, name = repo_name.partition("/")
    hub = f"https://registry.hub.docker.com/u/{repo_name}"
    repository: dict[str, Any] = {"name": name, "namespace": namespace, "repo_name": repo_name}
    repository |= {"repo_url": f"{hub}/", "is_private": True, "status": "Active", "star_count": 0}
    return json.dumps(
        {
            "callback_url": f"{hub}/hook/2141b5bi5i5b02bec211i4eeih0242eg11000a/",
            "push_data": {"pushed_at": 1767225600, "pusher": "ci-bot", "tag": tag},
            "repository": repository,
        }
    ).encode()


def ghcr_payload(
    event: str = "package",
    name: str = "payment-service",
    tag: str = "1.5.0",
    package_type: str = "CONTAINER",
    action: str = "published",
    owner: str = "Octo-Org",
) -> bytes:
    version: dict[str, Any] = {
        "id": 87654321,
        "version": digest("ghcr"),
        "name": digest("ghcr"),
        "metadata": [],
    }
    version["container_metadata"] = {
        "tag": {"name": tag, "digest": digest("ghcr")},
        "labels": {"source": f"https://github.com/{owner}/{name}"},
        "manifest": {"digest": digest("ghcr"), "media_type": OCI_MANIFEST},
    }
    version["package_url"] = f"ghcr.io/{owner.lower()}/{name}:{tag}"
    package = {
        "id": 1234567,
        "name": name,
        "namespace": owner,
        "ecosystem": package_type,
        "package_type": package_type,
        "html_url": f"https://github.com/orgs/{owner}/packages/container/package/{name}",
        "owner": {"login": owner, "id": 9919, "type": "Organization"},
        "package_version": version,
        "registry": {"type": "CONTAINER", "url": f"https://ghcr.io/{owner.lower()}"},
    }
    sender = {"login": "ci-bot", "type": "Bot"}
    return json.dumps({"action": action, event: package, "sender": sender}).encode()


def github_headers(event: str, body: bytes, secret: str = GHCR_SECRET) -> dict[str, str]:
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/4a2c1e0",
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-GitHub-Event": event,
        "X-Hub-Signature-256": f"sha256={signature}",
    }


def harbor_payload(kind: str = "PUSH_ARTIFACT", tags: tuple[str, ...] = ("1.5.0",)) -> bytes:
    url = "harbor.example.com/payments/payment-service"
    resources = [
        {"digest": digest(f"harbor-{tag}"), "tag": tag, "resource_url": f"{url}:{tag}"}
        for tag in tags
    ]
    repository: dict[str, Any] = {
        "name": "payment-service",
        "namespace": "payments",
        "repo_type": "private",
    }
    repository |= {"repo_full_name": "payments/payment-service", "date_created": 1700000000}
    data = {"resources": resources, "repository": repository}
    payload = {"type": kind, "occur_at": 1767225600, "operator": "robot$ci", "event_data": data}
    return json.dumps(payload).encode()


HARBOR_QUERY = {"registry": "harbor"}
DOCKERHUB_QUERY = {"registry": "dockerhub", "token": DOCKERHUB_TOKEN}


def parse(headers: dict[str, str], body: bytes, **kwargs: Any) -> RegistryEvent:
    event = parse_registry_event(headers, body, kwargs.pop("secrets", SECRETS), **kwargs)
    assert event is not None
    return event


# --- the distribution registry -----------------------------------------------------------------


def test_distribution_manifest_push_names_repository_tag_and_digest() -> None:
    body = envelope(
        distribution_event(media_type="application/octet-stream", seed="layer", tag=None),
        distribution_event(),
        distribution_event(action="pull", seed="pulled"),
    )
    event = parse(distribution_headers(), body)
    assert event.provider == "distribution"
    assert event.images == (image(f"{REGISTRY}/payment-service", "1.5.0", digest("manifest")),)
    assert event.skipped == ()
    assert str(event.images[0]) == f"{REGISTRY}/payment-service:1.5.0@{digest('manifest')}"


def test_distribution_blob_pushes_pulls_mounts_and_deletes_push_no_image() -> None:
    body = envelope(
        distribution_event(media_type="application/octet-stream", seed="layer", tag=None),
        distribution_event(action="pull"),
        distribution_event(action="mount", media_type="application/octet-stream", tag=None),
        distribution_event(action="delete", tag=None),
    )
    assert parse(distribution_headers(), body) == RegistryEvent("distribution")


def test_distribution_host_comes_from_the_url_then_the_request() -> None:
    without_url = distribution_event(with_url=False, host="Registry.Example.com:5000")
    index = distribution_event(media_type=DOCKER_LIST, seed="index", tag="2.0.0")
    index["target"]["url"] = (
        f"https://mirror.example.com/v2/payment-service/manifests/{digest('x')}"
    )
    event = parse(distribution_headers(), envelope(without_url, index))
    assert event.images == (
        image("Registry.Example.com:5000/payment-service", "1.5.0", digest("manifest")),
        image("mirror.example.com/payment-service", "2.0.0", digest("index")),
    )


def test_distribution_secret_bound_to_a_registry_overrides_the_payload_host() -> None:
    bound = RegistryWebhookSecrets(
        distribution=DISTRIBUTION_SECRET, distribution_registry="https://registry.example.com"
    )
    body = envelope(distribution_event(host="ghcr.io"), distribution_event(with_url=False))
    event = parse(distribution_headers(), body, secrets=bound)
    assert event.repositories == frozenset({"registry.example.com/payment-service"})


def test_distribution_push_by_digest_has_no_tag() -> None:
    body = envelope(distribution_event(tag=None, seed="platform"))
    event = parse(distribution_headers(), body)
    assert event.images == (image(f"{REGISTRY}/payment-service", None, digest("platform")),)


@pytest.mark.parametrize(
    "content_type",
    [
        "application/vnd.docker.distribution.events.v1+json; charset=utf-8",
        "Application/VND.docker.distribution.events.v2+json",
    ],
)
def test_distribution_recognized_by_its_media_type_in_any_case(content_type: str) -> None:
    headers = {"content-type": content_type, "authorization": f"Bearer {DISTRIBUTION_SECRET}"}
    assert parse(headers, envelope(distribution_event())).provider == "distribution"


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-secret", f"Basic {DISTRIBUTION_SECRET}", f"Bearer {DISTRIBUTION_SECRET}x"],
)
def test_distribution_refused_without_the_configured_bearer(authorization: str | None) -> None:
    with pytest.raises(RegistryWebhookSignatureError) as refused:
        parse_registry_event(
            distribution_headers(authorization), envelope(distribution_event()), SECRETS
        )
    assert refused.value.status == 401
    assert DISTRIBUTION_SECRET not in refused.value.message


def test_distribution_refused_when_no_secret_is_configured() -> None:
    with pytest.raises(RegistryWebhookNotConfiguredError) as refused:
        parse_registry_event(
            distribution_headers(), envelope(distribution_event()), RegistryWebhookSecrets()
        )
    assert refused.value.status == 403
    assert refused.value.provider == "distribution"
    assert "notifications.endpoints[].headers" in refused.value.message


# --- Harbor ------------------------------------------------------------------------------------


@pytest.mark.parametrize("authorization", [HARBOR_SECRET, f"Bearer {HARBOR_SECRET}"])
def test_harbor_push_artifact_names_each_resource(authorization: str) -> None:
    body = harbor_payload(tags=("1.5.0", "latest"))
    event = parse(harbor_headers(authorization), body, query=HARBOR_QUERY)
    assert event.provider == "harbor"
    assert event.images == (
        image("harbor.example.com/payments/payment-service", "1.5.0", digest("harbor-1.5.0")),
        image("harbor.example.com/payments/payment-service", "latest", digest("harbor-latest")),
    )


@pytest.mark.parametrize("kind", ["PULL_ARTIFACT", "DELETE_ARTIFACT", "SCANNING_COMPLETED"])
def test_harbor_events_other_than_push_push_no_image(kind: str) -> None:
    event = parse(harbor_headers(), harbor_payload(kind), query=HARBOR_QUERY)
    assert event == RegistryEvent("harbor")


def test_harbor_tag_spelled_as_a_digest_is_no_tag() -> None:
    payload = json.loads(harbor_payload())
    resource = payload["event_data"]["resources"][0]
    resource["tag"] = resource["digest"]
    resource["resource_url"] = f"https://harbor.example.com/payments/payment-service@{digest('x')}"
    event = parse(harbor_headers(), json.dumps(payload).encode(), query=HARBOR_QUERY)
    assert event.images == (
        image("harbor.example.com/payments/payment-service", None, digest("harbor-1.5.0")),
    )


def test_harbor_cloudevents_format_reads_the_same_data() -> None:
    default = json.loads(harbor_payload())
    cloudevent = {
        "specversion": "1.0",
        "requestid": "2eedfab8",
        "id": "4b2f89a6",
        "source": "/projects/3/webhook/policies/7",
        "type": "harbor.artifact.pushed",
        "datacontenttype": "application/json",
        "time": "2026-03-01T10:00:00Z",
        "data": default["event_data"],
        "operator": "robot$ci",
    }
    headers = {**harbor_headers(), "Content-Type": "application/cloudevents+json"}
    event = parse(headers, json.dumps(cloudevent).encode(), query=HARBOR_QUERY)
    assert event == parse(harbor_headers(), harbor_payload(), query=HARBOR_QUERY)
    assert event.images
    cloudevent["type"] = "harbor.artifact.pulled"
    pulled = parse(headers, json.dumps(cloudevent).encode(), query=HARBOR_QUERY)
    assert pulled == RegistryEvent("harbor")


@pytest.mark.parametrize(
    ("secrets", "authorization", "error"),
    [
        (SECRETS, None, RegistryWebhookSignatureError),
        (SECRETS, "Bearer not-the-secret", RegistryWebhookSignatureError),
        (
            RegistryWebhookSecrets(distribution=HARBOR_SECRET),
            HARBOR_SECRET,
            RegistryWebhookNotConfiguredError,
        ),
    ],
)
def test_harbor_refused_without_its_auth_header(
    secrets: RegistryWebhookSecrets, authorization: str | None, error: type[Exception]
) -> None:
    with pytest.raises(error):
        parse_registry_event(
            harbor_headers(authorization), harbor_payload(), secrets, query=HARBOR_QUERY
        )


# --- Docker Hub --------------------------------------------------------------------------------


def test_dockerhub_push_names_the_docker_hub_repository() -> None:
    event = parse({"Content-Type": "application/json"}, dockerhub_payload(), query=DOCKERHUB_QUERY)
    assert event.provider == "dockerhub"
    assert event.images == (image("docker.io/acme/payment-service", "1.5.0"),)
    assert concerns(event, "acme/payment-service")
    assert concerns(event, "index.docker.io/acme/payment-service")


@pytest.mark.parametrize(
    ("secrets", "query", "error"),
    [
        (SECRETS, {"registry": "dockerhub"}, RegistryWebhookSignatureError),
        (SECRETS, {"registry": "dockerhub", "token": "guess"}, RegistryWebhookSignatureError),
        (
            RegistryWebhookSecrets(harbor=DOCKERHUB_TOKEN),
            DOCKERHUB_QUERY,
            RegistryWebhookNotConfiguredError,
        ),
    ],
)
def test_dockerhub_refused_without_the_url_token(
    secrets: RegistryWebhookSecrets, query: dict[str, str], error: type[Exception]
) -> None:
    # Docker Hub signs nothing: a header claiming a secret proves nothing either
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {DOCKERHUB_TOKEN}"}
    with pytest.raises(error):
        parse_registry_event(headers, dockerhub_payload(), secrets, query=query)


# --- GHCR --------------------------------------------------------------------------------------


@pytest.mark.parametrize("event_name", ["package", "registry_package"])
def test_ghcr_container_package_names_the_ghcr_image(event_name: str) -> None:
    body = ghcr_payload(event_name)
    event = parse(github_headers(event_name, body), body)
    assert event.provider == "ghcr"
    assert event.images == (image("ghcr.io/octo-org/payment-service", "1.5.0", digest("ghcr")),)


def test_ghcr_package_inside_a_path_and_untagged_version() -> None:
    body = ghcr_payload(name="payments%2Fapi", tag="")
    event = parse(github_headers("package", body), body)
    assert event.images == (image("ghcr.io/octo-org/payments/api", None, digest("ghcr")),)


@pytest.mark.parametrize(
    ("package_type", "action"),
    [("npm", "published"), ("maven", "updated"), ("CONTAINER", "deleted")],
)
def test_ghcr_other_packages_and_actions_push_no_image(package_type: str, action: str) -> None:
    body = ghcr_payload(package_type=package_type, action=action)
    assert parse(github_headers("package", body), body) == RegistryEvent("ghcr")


def test_ghcr_refused_when_the_signature_does_not_match() -> None:
    body = ghcr_payload()
    wrong = github_headers("package", body, secret="another-secret")
    missing = {k: v for k, v in github_headers("package", body).items() if "Signature" not in k}
    altered = github_headers("package", body)
    for headers, sent in (
        (wrong, body),
        (missing, body),
        (altered, body.replace(b"1.5.0", b"9.9.9")),
    ):
        with pytest.raises(RegistryWebhookSignatureError):
            parse_registry_event(headers, sent, SECRETS)
    with pytest.raises(RegistryWebhookNotConfiguredError):
        parse_registry_event(github_headers("package", body), body, RegistryWebhookSecrets())


# --- telling registries from Git forges ----------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=00"},
        {"X-GitHub-Event": "ping"},
        {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "t"},
        {"Content-Type": "application/json"},
        {},
    ],
)
def test_git_forge_requests_are_left_to_the_git_parser(headers: dict[str, str]) -> None:
    # decided from headers alone: an oversize or garbled body is the Git parser's to refuse
    assert parse_registry_event(headers, b"\xff" * (2 * 1024 * 1024), SECRETS) is None


def test_an_unknown_registry_parameter_is_refused_without_echoing_it_whole() -> None:
    with pytest.raises(RegistryWebhookError) as refused:
        parse_registry_event({}, b"{}", SECRETS, query={"registry": "quay" + "x" * 500})
    assert refused.value.status == 400
    assert "x" * 100 not in refused.value.message
    assert "harbor or dockerhub" in refused.value.message


# --- bounds and malformed bodies ------------------------------------------------------------------


def test_oversize_body_refused_before_anything_is_checked() -> None:
    body = envelope(distribution_event()) + b" " * 2048
    with pytest.raises(RegistryWebhookPayloadTooLargeError) as refused:
        parse_registry_event(distribution_headers(None), body, SECRETS, max_body_bytes=1024)
    assert refused.value.status == 413


@pytest.mark.parametrize("body", [b"{not json", b'["events"]', b""])
@pytest.mark.parametrize("provider", ["distribution", "harbor", "ghcr"])
def test_malformed_bodies_refused_with_a_clear_error(provider: str, body: bytes) -> None:
    headers, query = {
        "distribution": (distribution_headers(), {}),
        "harbor": (harbor_headers(), HARBOR_QUERY),
        "ghcr": (github_headers("package", body), {}),
    }[provider]
    with pytest.raises(RegistryWebhookPayloadError, match=f"^{provider} webhook: the body is not"):
        parse_registry_event(headers, body, SECRETS, query=query)


@pytest.mark.parametrize(
    ("headers", "query", "body"),
    [
        (distribution_headers(), {}, b'{"events": {"action": "push"}}'),
        ({}, DOCKERHUB_QUERY, b'{"push_data": {"tag": "1.0"}}'),
        (harbor_headers(), HARBOR_QUERY, b'{"type": "PUSH_ARTIFACT", "event_data": {}}'),
        (None, {}, b'{"action": "published", "repository": {"full_name": "octo-org/app"}}'),
    ],
)
def test_payloads_missing_their_shape_are_refused(
    headers: dict[str, str] | None, query: dict[str, str], body: bytes
) -> None:
    headers = github_headers("package", body) if headers is None else headers
    with pytest.raises(RegistryWebhookPayloadError):
        parse_registry_event(headers, body, SECRETS, query=query)


def test_event_count_is_bounded() -> None:
    at_limit = [distribution_event(tag=f"1.0.{n}", seed=str(n)) for n in range(MAX_EVENTS)]
    assert len(parse(distribution_headers(), envelope(*at_limit)).images) == MAX_EVENTS
    over = envelope(*at_limit, distribution_event(seed="one-more"))
    with pytest.raises(RegistryWebhookPayloadTooLargeError, match=f"limit of {MAX_EVENTS}"):
        parse_registry_event(distribution_headers(), over, SECRETS)
    many_tags = harbor_payload(tags=tuple(f"1.0.{n}" for n in range(MAX_EVENTS + 1)))
    with pytest.raises(RegistryWebhookPayloadTooLargeError):
        parse_registry_event(harbor_headers(), many_tags, SECRETS, query=HARBOR_QUERY)


def test_unusable_images_are_skipped_with_a_reason() -> None:
    body = envelope(
        distribution_event(tag="t" * 129, seed="long-tag"),
        distribution_event(repository="Payment-Service", seed="upper"),
        distribution_event(host="registry", seed="bare-host"),
        distribution_event(repository="", seed="no-repository"),
        distribution_event(tag="1.5.1", seed="bad-digest"),
        distribution_event(repository="team/" + "a" * 250, seed="long-name"),
        distribution_event(tag="1.5.0", seed="good"),
    )
    body = body.replace(digest("bad-digest").encode(), b"sha256:short")
    event = parse(distribution_headers(), body)
    assert event.images == (image(f"{REGISTRY}/payment-service", "1.5.0", digest("good")),)
    assert len(event.skipped) == 6
    assert "is not a valid tag" in event.skipped[0]
    assert "'Payment-Service' is not a valid path component" in event.skipped[1]
    assert "'registry' is not a registry host" in event.skipped[2]
    assert "names no repository" in event.skipped[3]
    assert (
        "'sha256:short' of registry.example.com:5000/payment-service is not a digest"
        in (event.skipped[4])
    )


def test_skipped_reasons_are_bounded_and_images_listed_once() -> None:
    bad = [distribution_event(tag="-x", seed=str(n)) for n in range(MAX_SKIPPED + 5)]
    twice = [distribution_event(), distribution_event()]
    event = parse(distribution_headers(), envelope(*bad, *twice))
    assert len(event.skipped) == MAX_SKIPPED + 1
    assert event.skipped[-1] == "... and 5 more"
    assert len(event.images) == 1


def test_secrets_never_appear_in_messages_or_repr() -> None:
    given = "Bearer leaked-guess-1234"
    with pytest.raises(RegistryWebhookError) as refused:
        parse_registry_event(harbor_headers(given), harbor_payload(), SECRETS, query=HARBOR_QUERY)
    assert "leaked-guess" not in refused.value.message
    assert HARBOR_SECRET not in refused.value.message
    shown = repr(SECRETS)
    for secret in (DISTRIBUTION_SECRET, DOCKERHUB_TOKEN, GHCR_SECRET, HARBOR_SECRET):
        assert secret not in shown


def test_registry_errors_are_image_errors_and_webhook_errors() -> None:
    # the endpoint shared with the Git parser answers `WebhookError.status` for both
    for error, status in (
        (RegistryWebhookSignatureError, 401),
        (RegistryWebhookNotConfiguredError, 403),
        (RegistryWebhookPayloadTooLargeError, 413),
        (RegistryWebhookPayloadError, 400),
    ):
        assert issubclass(error, ImageError) and issubclass(error, WebhookError)
        assert error.status == status


# --- concerns ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pushed", "spec_image", "expected"),
    [
        ("docker.io/library/nginx", "nginx", True),
        ("nginx", "index.docker.io/library/nginx", True),
        ("registry-1.docker.io/library/nginx", "docker.io/nginx", True),
        ("Registry.Example.com:5000/team/app", "registry.example.com:5000/team/app", True),
        ("registry.example.com:5000/team/app", "registry.example.com/team/app", False),
        ("registry.example.com:5000/team/app", "registry.example.com:5001/team/app", False),
        ("registry.example.com/team/app", "registry.example.com/team/app-worker", False),
        ("docker.io/acme/app", "ghcr.io/acme/app", False),
        ("registry.example.com/team/app", "registry.example.com/team/app:1.0", False),
        ("registry.example.com/team/app", "https://registry.example.com/team/app", False),
    ],
)
def test_concerns_compares_normalized_repositories(
    pushed: str, spec_image: str, expected: bool
) -> None:
    event = RegistryEvent("distribution", (image(pushed, "1.0"),))
    assert concerns(event, spec_image) is expected


# --- the real docker-registry ------------------------------------------------------------------


def test_docker_registry_notification_parses_into_the_pushed_tag(
    notifying_registry: NotifyingRegistry,
) -> None:
    registry, sink = notifying_registry.registry, notifying_registry.sink
    secrets = RegistryWebhookSecrets(distribution=NOTIFICATION_TOKEN)
    digests = push_image(registry, "team/payment-service", ["1.5.0"])
    pushed = image(f"{registry.host}/team/payment-service", "1.5.0", digests["1.5.0"])

    def parsed() -> list[RegistryEvent]:
        events = [parse_registry_event(d.headers, d.body, secrets) for d in sink.deliveries]
        return [e for e in events if e is not None and pushed in e.images]

    found = wait_until(parsed, timeout=30, what="the registry's notification of the push")
    assert found[0].images == (pushed,)
    assert concerns(found[0], f"{registry.host}/team/payment-service")
    # the blob uploads were notified too, and push no image
    blob_deliveries = [d for d in sink.deliveries if b"/blobs/" in d.body]
    assert blob_deliveries
    for delivery in blob_deliveries:
        assert parse(delivery.headers, delivery.body, secrets=secrets).images == ()
    real = sink.deliveries[0]
    with pytest.raises(RegistryWebhookSignatureError):
        parse_registry_event(real.headers, real.body, RegistryWebhookSecrets(distribution="other"))
