"""Push events from container registries: verification and parsing (the HTTP endpoint lives in
the server, beside the Git webhooks of `tether.source.webhooks`).

`parse_registry_event(headers, body, secrets, query=...)` recognizes a registry's request, checks
the size and its secret (in constant time), and returns a `RegistryEvent`: the images a push
named (repository, tag, digest). A scan of the ImageRepositories it `concerns` can start at once;
polling at their `interval` stays the fallback for a missed or refused event.

How a registry's request is told apart from a Git forge's, from what the request carries before
its body is read:

- GHCR: `X-GitHub-Event: package` or `registry_package` (every other GitHub event is a Git one);
- the distribution registry (`docker-registry`, and the registries built on it):
  `Content-Type: application/vnd.docker.distribution.events.v1+json` (v2 from distribution 3);
- Harbor and Docker Hub send no header of their own, so their webhook URL names them:
  `?registry=harbor`, `?registry=dockerhub&token=<secret>`.

Anything else gives None, and the endpoint hands the request to the Git parser.

Authentication; a registry without a configured secret is refused, as the Git parser refuses a
forge without one:

- distribution and Harbor: the `Authorization` header, the secret alone or after `Bearer `
  (distribution sends the headers of its `notifications.endpoints[].headers`, e.g.
  `Authorization: [Bearer <secret>]`; Harbor sends its webhook's "Auth Header");
- GHCR: `X-Hub-Signature-256`, the HMAC-SHA256 of the body with the GitHub webhook's secret;
- Docker Hub signs nothing and sends no header one could configure: the secret travels as the
  `token` query parameter. It is seen by whoever sees the URL (Docker Hub's settings, access
  logs that print query strings), so it should serve this webhook only.

What counts as a push: a distribution `push` of a manifest (blob uploads, pulls, mounts and
deletions push no image), Harbor's `PUSH_ARTIFACT` (Default payload format) or
`harbor.artifact.pushed` (CloudEvents), a Docker Hub webhook, a GitHub `published` or `updated`
container package. An entry whose image Docker would refuse (a bad tag, an upper-case name) is
skipped with a reason rather than failing the request: distribution resends a refused request,
and holds back the events after it, until it is accepted.

The host of a distribution event is the registry's own `http.host` setting when it has one, else
the `Host` the pushing client sent; both reach Tether through `target.url` (`request.host` when
there is no URL). A pusher can thus name any host; `distribution_registry` binds the secret to
one registry instead, whatever the payload says. Harbor's `resource_url` starts with Harbor's
configured external URL; Docker Hub's images are on `docker.io`, GHCR's on `ghcr.io`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson

from tether.images.dockerconfig import (
    DIGEST_PATTERN,
    DOCKER_HUB,
    TAG_PATTERN,
    ImageRef,
    parse_repository,
    registry_host_key,
)
from tether.images.errors import ImageError
from tether.images.registry import MANIFEST_MEDIA_TYPES
from tether.source.errors import (
    WebhookError,
    WebhookNotConfiguredError,
    WebhookPayloadError,
    WebhookPayloadTooLargeError,
    WebhookSignatureError,
)
from tether.source.webhooks import MAX_BODY_BYTES

#: events in one distribution envelope, or resources in one Harbor event
MAX_EVENTS = 1000
#: reasons kept in `RegistryEvent.skipped`
MAX_SKIPPED = 20

DISTRIBUTION = "distribution"
DOCKERHUB = "dockerhub"
GHCR = "ghcr"
HARBOR = "harbor"

GHCR_HOST = "ghcr.io"
EVENTS_MEDIA_TYPES = frozenset(
    {
        "application/vnd.docker.distribution.events.v1+json",
        "application/vnd.docker.distribution.events.v2+json",
    }
)
GITHUB_PACKAGE_EVENTS = frozenset({"package", "registry_package"})
#: the query parameter that names a registry without headers of its own
REGISTRY_PARAMETER = "registry"
TOKEN_PARAMETER = "token"


class RegistryWebhookError(ImageError, WebhookError):
    """A registry's webhook request was rejected; the server answers with `status`.

    Also a `WebhookError`, so the endpoint shared with Git webhooks answers both alike.
    """


class RegistryWebhookSignatureError(RegistryWebhookError, WebhookSignatureError):
    """The secret, token or signature of a registry's request is missing or wrong (401)."""


class RegistryWebhookNotConfiguredError(RegistryWebhookError, WebhookNotConfiguredError):
    """A registry's request arrived but no secret is configured for that registry (403)."""


class RegistryWebhookPayloadTooLargeError(RegistryWebhookError, WebhookPayloadTooLargeError):
    """The body exceeds the size limit, or lists more than `MAX_EVENTS` events (413)."""


class RegistryWebhookPayloadError(RegistryWebhookError, WebhookPayloadError):
    """The body is not the JSON the registry's event should carry (400)."""


@dataclass(frozen=True)
class RegistryWebhookSecrets:
    """The secret configured per registry (None: its requests are refused); hidden from repr.

    `distribution_registry` (`host[:port]`), when set, is the registry every distribution event
    is about, whatever host its payload names. `ghcr` is the GitHub webhook's secret, the Git
    `github` one when a single webhook sends both pushes and package events.
    """

    distribution: str | None = field(default=None, repr=False)
    distribution_registry: str | None = None
    dockerhub: str | None = field(default=None, repr=False)
    ghcr: str | None = field(default=None, repr=False)
    harbor: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class PushedImage:
    """One image a push named: the repository (no tag, no digest) and what was pushed to it."""

    repository: ImageRef
    tag: str | None = None
    digest: str | None = None

    def __str__(self) -> str:
        return str(replace(self.repository, tag=self.tag, digest=self.digest))


@dataclass(frozen=True)
class RegistryEvent:
    """A verified registry request. `images` is empty for events that push nothing (pulls,
    deletions, blob uploads, other package types); `skipped` says why entries that named an
    unusable image were left out (at most `MAX_SKIPPED` reasons)."""

    provider: str
    images: tuple[PushedImage, ...] = ()
    skipped: tuple[str, ...] = ()

    @property
    def repositories(self) -> frozenset[str]:
        """The repositories pushed to, in the form `concerns` compares."""
        return frozenset(_repository_key(image.repository) for image in self.images)


def concerns(event: RegistryEvent, image_repository: str) -> bool:
    """True when `event` pushed to `image_repository`, an ImageRepository's `spec.image`.

    Compared as Docker names images: `nginx` is `docker.io/library/nginx`, the host in any case,
    the port significant (`host:5000/app` is not `host/app`). A `spec.image` that is not a valid
    repository (a tag, a URL) concerns no event; its scan reports why.
    """
    try:
        wanted = parse_repository(image_repository)
    except ImageError:
        return False
    return _repository_key(wanted) in event.repositories


def _repository_key(image: ImageRef) -> str:
    return f"{registry_host_key(image.registry)}/{image.repository}"


# --- the request: provider, size, secret -----------------------------------------------------


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def _bytes(text: str) -> bytes:
    # A header or query value is text a client chose: a lone surrogate must not raise.
    return text.encode("utf-8", "surrogatepass")


def _provider(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    named = query.get(REGISTRY_PARAMETER)
    if named is not None:
        if named.lower() in (HARBOR, DOCKERHUB):
            return named.lower()
        shown = named if len(named) <= 40 else named[:40] + "..."
        raise RegistryWebhookError(
            f"webhook refused: ?{REGISTRY_PARAMETER}={shown!r} names no registry Tether knows "
            f"(harbor or dockerhub; GHCR and the distribution registry are recognized by their "
            "headers)"
        )
    if _header(headers, "X-GitHub-Event") in GITHUB_PACKAGE_EVENTS:
        return GHCR
    content_type = _header(headers, "Content-Type") or ""
    if content_type.split(";", 1)[0].strip().lower() in EVENTS_MEDIA_TYPES:
        return DISTRIBUTION
    return None


#: where each registry is given the secret Tether is configured with
_SECRET_PLACES = {
    DISTRIBUTION: "the registry config's notifications.endpoints[].headers "
    "(Authorization: [Bearer <secret>])",
    DOCKERHUB: f"the Docker Hub webhook's URL (?{REGISTRY_PARAMETER}=dockerhub"
    f"&{TOKEN_PARAMETER}=<secret>)",
    GHCR: "the GitHub webhook's Secret",
    HARBOR: "the Harbor webhook's Auth Header",
}


def _require_secret(secret: str | None, provider: str) -> str:
    if not secret:
        raise RegistryWebhookNotConfiguredError(
            f"{provider} webhook refused: no secret is configured for {provider} registry "
            f"events; configure one in Tether and the same in {_SECRET_PLACES[provider]}",
            provider,
        )
    return secret


def _check_authorization(provider: str, secret: str, given: str | None) -> None:
    """The `Authorization` header must be the secret, alone or after `Bearer `."""
    if given is None:
        raise RegistryWebhookSignatureError(
            f"{provider} webhook refused: the Authorization header is missing"
        )
    value = given.strip()
    scheme, _, token = value.partition(" ")
    exact = hmac.compare_digest(_bytes(secret), _bytes(value))
    bearer = scheme.lower() == "bearer" and hmac.compare_digest(
        _bytes(secret), _bytes(token.strip())
    )
    if not (exact or bearer):
        raise RegistryWebhookSignatureError(
            f"{provider} webhook refused: the Authorization header does not match the "
            "configured secret"
        )


def _check_token(secret: str, given: str | None) -> None:
    if given is None:
        raise RegistryWebhookSignatureError(
            f"dockerhub webhook refused: the URL has no ?{TOKEN_PARAMETER}= (Docker Hub signs "
            "nothing, so its webhook URL carries the secret)"
        )
    if not hmac.compare_digest(_bytes(secret), _bytes(given)):
        raise RegistryWebhookSignatureError(
            f"dockerhub webhook refused: ?{TOKEN_PARAMETER}= does not match the configured secret"
        )


def _check_signature(secret: str, body: bytes, given: str | None) -> None:
    if not given:
        raise RegistryWebhookSignatureError(
            "ghcr webhook refused: the X-Hub-Signature-256 header is missing"
        )
    expected = "sha256=" + hmac.new(_bytes(secret), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(_bytes(expected), _bytes(given.strip().lower())):
        raise RegistryWebhookSignatureError(
            "ghcr webhook refused: the X-Hub-Signature-256 signature does not match the "
            "configured secret"
        )


def _authenticate(
    provider: str,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    body: bytes,
    secrets: RegistryWebhookSecrets,
) -> None:
    if provider == DISTRIBUTION:
        secret = _require_secret(secrets.distribution, provider)
        _check_authorization(provider, secret, _header(headers, "Authorization"))
    elif provider == HARBOR:
        secret = _require_secret(secrets.harbor, provider)
        _check_authorization(provider, secret, _header(headers, "Authorization"))
    elif provider == DOCKERHUB:
        _check_token(_require_secret(secrets.dockerhub, provider), query.get(TOKEN_PARAMETER))
    else:
        secret = _require_secret(secrets.ghcr, provider)
        _check_signature(secret, body, _header(headers, "X-Hub-Signature-256"))


# --- the payloads ------------------------------------------------------------------------------


def _payload(body: bytes, provider: str) -> dict[str, Any]:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise RegistryWebhookPayloadError(
            f"{provider} webhook: the body is not JSON ({error})"
        ) from None
    if isinstance(payload, dict):
        return payload
    raise RegistryWebhookPayloadError(f"{provider} webhook: the body is not a JSON object")


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _entries(value: Any, provider: str, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise RegistryWebhookPayloadError(f"{provider} webhook: the payload has no {what} list")
    if len(value) > MAX_EVENTS:
        raise RegistryWebhookPayloadTooLargeError(
            f"{provider} webhook refused: {len(value)} {what}, more than the limit of {MAX_EVENTS}"
        )
    return value


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 100 else text[:100] + "..."


def _pushed(host: str, path: Any, tag: Any, digest: Any) -> PushedImage:
    """The image `host/path`, pushed as `tag` and `digest` (each may be absent).

    Raises `ImageError` for a name, tag or digest Docker would refuse; a tag spelled as a
    digest (Harbor's, for a push by digest) is no tag.
    """
    if not isinstance(path, str) or not path:
        raise ImageError(f"an event on {_shown(host)} names no repository")
    repository = parse_repository(f"{host}/{path}")
    if registry_host_key(repository.registry) != registry_host_key(host):
        raise ImageError(
            f"{_shown(host)} is not a registry host an image name can give (it needs a dot, a "
            "port, or to be localhost)"
        )
    if tag in (None, "") or (isinstance(tag, str) and DIGEST_PATTERN.fullmatch(tag)):
        tag = None
    elif not isinstance(tag, str) or not TAG_PATTERN.fullmatch(tag):
        raise ImageError(f"{_shown(tag)} of {repository.name} is not a valid tag")
    if digest in (None, ""):
        digest = None
    elif not isinstance(digest, str) or not DIGEST_PATTERN.fullmatch(digest):
        raise ImageError(f"{_shown(digest)} of {repository.name} is not a digest")
    return PushedImage(repository, tag, digest)


class _Collector:
    """The images of one payload, each once, and why entries were skipped."""

    def __init__(self) -> None:
        self.images: dict[PushedImage, None] = {}
        self.skipped: list[str] = []

    def add(self, host: str | None, path: Any, tag: Any, digest: Any) -> None:
        try:
            if not host:
                raise ImageError(f"the event on {_shown(path)} names no registry host")
            self.images[_pushed(host, path, tag, digest)] = None
        except ImageError as error:
            self.skipped.append(error.message)

    def event(self, provider: str) -> RegistryEvent:
        skipped = self.skipped[:MAX_SKIPPED]
        if len(self.skipped) > MAX_SKIPPED:
            skipped.append(f"... and {len(self.skipped) - MAX_SKIPPED} more")
        return RegistryEvent(provider, tuple(self.images), tuple(skipped))


def _host_of(url: Any) -> str | None:
    if not isinstance(url, str) or not url:
        return None
    text = url.split("://", 1)[1] if "://" in url else url
    return text.split("/", 1)[0].rpartition("@")[2] or None


def _is_manifest(target: dict[str, Any]) -> bool:
    # Blob uploads are pushes too (`application/octet-stream`); only a manifest is an image.
    url = target.get("url")
    by_url = isinstance(url, str) and "/manifests/" in urlsplit(url).path
    return target.get("mediaType") in MANIFEST_MEDIA_TYPES or by_url


def _distribution(payload: dict[str, Any], bound_host: str | None) -> RegistryEvent:
    found = _Collector()
    for entry in _entries(payload.get("events"), DISTRIBUTION, '"events"'):
        entry = _dict(entry)
        target = _dict(entry.get("target"))
        if entry.get("action") != "push" or not _is_manifest(target):
            continue
        host = _host_of(bound_host) or _host_of(target.get("url"))
        host = host or _host_of(_dict(entry.get("request")).get("host"))
        found.add(host, target.get("repository"), target.get("tag"), target.get("digest"))
    return found.event(DISTRIBUTION)


def _dockerhub(payload: dict[str, Any]) -> RegistryEvent:
    name = _dict(payload.get("repository")).get("repo_name")
    if not isinstance(name, str) or not name:
        raise RegistryWebhookPayloadError(
            "dockerhub webhook: the payload has no repository.repo_name"
        )
    found = _Collector()
    found.add(DOCKER_HUB, name, _dict(payload.get("push_data")).get("tag"), None)
    return found.event(DOCKERHUB)


def _ghcr(event: str, payload: dict[str, Any]) -> RegistryEvent:
    package = payload.get(event)
    if not isinstance(package, dict):
        raise RegistryWebhookPayloadError(
            f'ghcr webhook: the {event} event has no "{event}" object'
        )
    kinds = (package.get("package_type"), package.get("ecosystem"))
    container = any(isinstance(kind, str) and kind.lower() == "container" for kind in kinds)
    if payload.get("action") not in ("published", "updated") or not container:
        return RegistryEvent(GHCR)
    owner = _dict(package.get("owner")).get("login")
    name = package.get("name")
    if not isinstance(owner, str) or not owner or not isinstance(name, str) or not name:
        raise RegistryWebhookPayloadError("ghcr webhook: the package has no owner.login or name")
    version = _dict(package.get("package_version"))
    tag = _dict(_dict(version.get("container_metadata")).get("tag"))
    found = _Collector()
    # GHCR names are lower case; a package inside a path comes URL-encoded (`app%2Fapi`).
    found.add(GHCR_HOST, f"{owner}/{unquote(name)}".lower(), tag.get("name"), tag.get("digest"))
    return found.event(GHCR)


def _harbor(payload: dict[str, Any]) -> RegistryEvent:
    # Harbor's two payload formats: Default (`type`, `event_data`) and CloudEvents
    # (`specversion`, `type: harbor.artifact.pushed`, `data`); the data is the same.
    kind = payload.get("type")
    cloudevents = "specversion" in payload
    if not isinstance(kind, str):
        raise RegistryWebhookPayloadError('harbor webhook: the payload has no "type"')
    if kind != ("harbor.artifact.pushed" if cloudevents else "PUSH_ARTIFACT"):
        return RegistryEvent(HARBOR)
    data = _dict(payload.get("data" if cloudevents else "event_data"))
    full_name = _dict(data.get("repository")).get("repo_full_name")
    found = _Collector()
    for resource in _entries(data.get("resources"), HARBOR, "resources"):
        resource = _dict(resource)
        # resource_url is Harbor's external URL (its own setting) with the artifact's path.
        host = _host_of(resource.get("resource_url"))
        found.add(host, full_name, resource.get("tag"), resource.get("digest"))
    return found.event(HARBOR)


def parse_registry_event(
    headers: Mapping[str, str],
    body: bytes,
    secrets: RegistryWebhookSecrets,
    *,
    query: Mapping[str, str] | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> RegistryEvent | None:
    """Verify and parse one registry request; None when it is not one (a Git forge's).

    `headers` may use any case; `query` is the request URL's query parameters. The registry is
    recognized (see the module's documentation), then the size and its secret checked, and only
    then the body parsed. Raises a `RegistryWebhookError` (with an HTTP `status`): the
    registry has no secret configured (403), the secret is missing or wrong (401), the body is
    over `max_body_bytes` or lists more than `MAX_EVENTS` events (413), the body is not the
    registry's JSON (400). No message quotes a secret.
    """
    query = query or {}
    provider = _provider(headers, query)
    if provider is None:
        return None
    if len(body) > max_body_bytes:
        raise RegistryWebhookPayloadTooLargeError(
            f"{provider} webhook refused: the body has {len(body)} bytes, more than the limit "
            f"of {max_body_bytes} bytes"
        )
    _authenticate(provider, headers, query, body, secrets)
    payload = _payload(body, provider)
    if provider == DISTRIBUTION:
        return _distribution(payload, secrets.distribution_registry)
    if provider == DOCKERHUB:
        return _dockerhub(payload)
    if provider == HARBOR:
        return _harbor(payload)
    return _ghcr(_header(headers, "X-GitHub-Event") or "", payload)
