"""The image reflector stage: an ImageRepository scanned, an ImagePolicy evaluated, as plain data.

`scan` reads a Flux ``ImageRepository`` as written, lists the repository's tags through a
`RegistryClient`, and returns them with the ``status`` document Flux's image-reflector-controller
writes; `evaluate` applies an ``ImagePolicy`` to tags (and digests) the caller provides and
returns its ``status``. Neither reads or writes the cluster: the caller resolves Secrets and
references, stores the tags, and writes the status.

The statuses follow Flux's (``api/v1`` and ``internal/controller`` of image-reflector-controller)
field for field, and its conditions follow kstatus as Flux's ``runtime/reconcile`` does:

- success: ``Ready=True`` reason ``Succeeded``; ``Reconciling`` and ``Stalled`` removed;
- a failure worth retrying: ``Ready=False`` with the failure's reason, ``Reconciling=True``
  reason ``ProgressingWithRetry``; the last good scan result and tags stay;
- a spec only its author can fix: ``Stalled=True`` and ``Ready=False`` with the same reason;
- ``status.observedGeneration`` moves only on success or stall.

A condition keeps its ``lastTransitionTime`` while its status, reason, message and observed
generation stay the same, so an unchanged outcome gives an unchanged status (nothing to write).
Messages say what to do and never carry a credential (the registry client scrubs what it quotes).
"""

from __future__ import annotations

import copy
import hashlib
import re
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from tether.durations import parse_duration
from tether.images.crds import DURATION_PATTERN, TIMEOUT_PATTERN
from tether.images.dockerconfig import (
    DOCKER_HUB,
    Credentials,
    ImageRef,
    credentials_from_dockerconfig,
    parse_repository,
)
from tether.images.errors import ImageError, InvalidPolicyError, RegistryAuthError
from tether.images.policy import ImagePolicySpec, latest_tag, parse_policy
from tether.images.registry import DEFAULT_EXCLUSIONS, RegistryClient, scan_timeout
from tether.names import FLUX_RECONCILE_REQUEST_ANNOTATION

# Condition types and reasons, spelled as Flux's fluxcd/pkg/apis/meta and the controllers'
# api/v1/condition_types.go spell them.
READY = "Ready"
RECONCILING = "Reconciling"
STALLED = "Stalled"
SUCCEEDED = "Succeeded"
PROGRESSING_WITH_RETRY = "ProgressingWithRetry"
IMAGE_URL_INVALID = "ImageURLInvalid"
AUTHENTICATION_FAILED = "AuthenticationFailed"
READ_OPERATION_FAILED = "ReadOperationFailed"
INTERVAL_NOT_CONFIGURED = "IntervalNotConfigured"
DEPENDENCY_NOT_READY = "DependencyNotReady"
INVALID_POLICY = "InvalidPolicy"
#: metav1.StatusFailure: the policy found no tag (or a tag it cannot compare)
FAILURE = "Failure"
#: meta.FailedReason: the digest of the chosen tag could not be read
FAILED = "Failed"

#: how many tags ``lastScanResult.latestTags`` shows
LATEST_TAGS_COUNT = 10
#: Flux's ImageRepository name for Docker Hub (go-containerregistry's spelling)
DOCKER_HUB_CANONICAL = "index.docker.io"

_OWNED = (READY, RECONCILING, STALLED)
#: what makes a condition the same one again (Flux's hasSameState): its time is then kept
_SAME_STATE = ("status", "reason", "message", "observedGeneration")
_MAX_MESSAGE = 32768  # metav1.Condition's limit
Outcome = Literal["ok", "retry", "stalled", "waiting"]


@dataclass(frozen=True)
class ScanOutcome:
    """What a scan of an ImageRepository gave.

    `status` is the whole ``status`` document to write. `tags` are the tags policies choose
    from: this scan's (in Flux's stored order, descending) when `scanned`, otherwise the
    `previous_tags` given to `scan`, untouched. `stalled`: only a change of the spec helps, do
    not retry. `requeue_after`: seconds until the next scan is due (``spec.interval``) after a
    success; None after a failure (retry with backoff) or a stall. `suspended`: nothing was
    done because ``spec.suspend`` is true.
    """

    status: dict[str, Any]
    tags: tuple[str, ...] | None
    scanned: bool
    ready: bool
    reason: str
    message: str
    stalled: bool = False
    suspended: bool = False
    requeue_after: float | None = None


@dataclass(frozen=True)
class PolicyOutcome:
    """What evaluating an ImagePolicy gave.

    `status` is the whole ``status`` document to write; `latest_ref` is its ``latestRef``
    (``{name, tag, digest?}``) or None; `changed` says ``latestRef`` moved (the old one is then
    ``observedPreviousRef``). `digest_needed` names a tag whose digest the policy's
    ``digestReflectionPolicy`` wants and ``digests`` did not hold: nothing else in the outcome
    is final; look the digest up and call `evaluate` again. `requeue_after`: the digest
    refresh interval, in seconds, for ``digestReflectionPolicy: Always``.
    """

    status: dict[str, Any]
    latest_ref: dict[str, str] | None
    ready: bool
    reason: str
    message: str
    changed: bool = False
    stalled: bool = False
    suspended: bool = False
    digest_needed: str | None = None
    requeue_after: float | None = None


class _Refusal(Exception):
    """Internal: why an object cannot be reconciled, with the condition to write."""

    def __init__(self, reason: str, message: str, outcome: Outcome) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.outcome = outcome


# ---- small readers and writers ------------------------------------------------------------------


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def rfc3339(moment: datetime) -> str:
    """`moment` as Kubernetes writes a ``metav1.Time``: seconds, UTC, ``Z`` (naive is UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _generation(obj: Mapping[str, Any]) -> int:
    generation = _map(obj.get("metadata")).get("generation")
    return generation if isinstance(generation, int) and not isinstance(generation, bool) else 0


def finish_status(
    status: dict[str, Any],
    obj: Mapping[str, Any],
    outcome: Outcome,
    reason: str,
    message: str,
    now: str,
    retrying: str = "retrying after a failure",
) -> None:
    """Write ``conditions`` (and ``observedGeneration``) of `status` for `outcome`, as Flux's
    result finalizer does. Conditions of other types are kept; Ready goes first."""
    generation = _generation(obj)
    old = [c for c in status.get("conditions") or [] if isinstance(c, Mapping)]
    wanted = [(READY, "True" if outcome == "ok" else "False", reason, message)]
    if outcome == "retry":
        wanted.append((RECONCILING, "True", PROGRESSING_WITH_RETRY, retrying))
    if outcome == "stalled":
        wanted.append((STALLED, "True", reason, message))
    conditions = []
    for kind, state, why, text in wanted:
        condition = {
            "type": kind,
            "status": state,
            "observedGeneration": generation,
            "lastTransitionTime": now,
            "reason": why,
            "message": text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "...",
        }
        before = next((c for c in old if c.get("type") == kind), None)
        if before is not None and all(before.get(k) == condition[k] for k in _SAME_STATE):
            condition["lastTransitionTime"] = before.get("lastTransitionTime") or now
        conditions.append(condition)
    others = [dict(c) for c in old if c.get("type") not in _OWNED]
    rest = sorted([*conditions[1:], *others], key=lambda c: str(c.get("type")))
    status["conditions"] = [conditions[0], *rest]
    if outcome in ("ok", "stalled"):
        status["observedGeneration"] = generation


def start_status(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the object's status, with the handled reconcile request recorded."""
    status = copy.deepcopy(dict(_map(obj.get("status"))))
    requested = _map(_map(obj.get("metadata")).get("annotations")).get(
        FLUX_RECONCILE_REQUEST_ANNOTATION
    )
    if isinstance(requested, str):
        status["lastHandledReconcileAt"] = requested
    return status


def _ready_now(status: Mapping[str, Any]) -> tuple[bool, str, str]:
    for condition in status.get("conditions") or []:
        if isinstance(condition, Mapping) and condition.get("type") == READY:
            ready = condition.get("status") == "True"
            return ready, str(condition.get("reason") or ""), str(condition.get("message") or "")
    return False, "", ""


def canonical_image_name(image: ImageRef) -> str:
    """``status.canonicalImageName`` as Flux writes it: the repository with every implied part
    explicit (``nginx`` is ``index.docker.io/library/nginx``)."""
    if image.registry == DOCKER_HUB:
        return f"{DOCKER_HUB_CANONICAL}/{image.repository}"
    return image.name


# ---- ImageRepository ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _RepositorySpec:
    image: ImageRef
    interval: float
    timeout: float
    exclusions: list[str]
    insecure: bool
    secret_name: str


def _duration(spec: Mapping[str, Any], field: str, pattern: str, example: str) -> float | None:
    value = spec.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(pattern, value):
        raise _Refusal(
            INTERVAL_NOT_CONFIGURED,
            f"spec.{field} {value!r} is not a duration such as {example}",
            "stalled",
        )
    return parse_duration(value)


def _image(spec: Mapping[str, Any]) -> ImageRef:
    image = spec.get("image")
    if not isinstance(image, str) or not image.strip():
        raise _Refusal(
            IMAGE_URL_INVALID,
            "spec.image is required: the image repository to scan, without a tag "
            "(e.g. ghcr.io/org/app)",
            "stalled",
        )
    try:
        return parse_repository(image)
    except ImageError as error:
        raise _Refusal(IMAGE_URL_INVALID, f"spec.image: {error}", "stalled") from None


def _read_repository_spec(spec: Mapping[str, Any]) -> _RepositorySpec:
    image = _image(spec)
    interval = _duration(spec, "interval", DURATION_PATTERN, "'5m' or '1h30m'")
    if interval is None:
        raise _Refusal(
            INTERVAL_NOT_CONFIGURED, "spec.interval is required, e.g. '5m' or '1h'", "stalled"
        )
    _duration(spec, "timeout", TIMEOUT_PATTERN, "'60s' or '2m'")  # checked; read below
    provider = spec.get("provider")
    if provider not in (None, "", "generic"):
        raise _Refusal(
            AUTHENTICATION_FAILED,
            f"spec.provider {provider!r} is not supported by Tether: use provider 'generic' (the "
            "default) with a secretRef to a kubernetes.io/dockerconfigjson Secret",
            "stalled",
        )
    exclusions = spec.get("exclusionList")
    if exclusions is None or exclusions == []:
        exclusions = list(DEFAULT_EXCLUSIONS)
    if not isinstance(exclusions, list) or not all(isinstance(p, str) for p in exclusions):
        # Flux retries a bad exclusionList as a failed scan; so does Tether
        raise _Refusal(
            READ_OPERATION_FAILED,
            "scan failed: spec.exclusionList must be a list of regular expressions",
            "retry",
        )
    secret_ref = _map(spec.get("secretRef")).get("name")
    return _RepositorySpec(
        image=image,
        interval=interval,
        timeout=scan_timeout(spec.get("timeout"), spec.get("interval")),
        exclusions=list(exclusions),
        insecure=spec.get("insecure") is True,
        secret_name=secret_ref if isinstance(secret_ref, str) else "",
    )


def _credentials(
    spec: _RepositorySpec, secret_data: Mapping[str, str] | None
) -> tuple[Credentials | None, str]:
    """The login for the scan, and a note for an authentication failure."""
    secret = f"Secret {spec.secret_name!r}" if spec.secret_name else "the registry Secret"
    if secret_data is None:
        if spec.secret_name:
            raise _Refusal(
                AUTHENTICATION_FAILED,
                f"failed to configure authentication options: {secret} named by spec.secretRef "
                "was not found in the ImageRepository's namespace",
                "retry",
            )
        return None, ""
    try:
        credentials = credentials_from_dockerconfig(secret_data, spec.image.registry)
    except ImageError as error:
        raise _Refusal(
            AUTHENTICATION_FAILED,
            f"failed to configure authentication options: {secret}: {error}",
            "retry",
        ) from None
    if credentials is None:
        return None, f" ({secret} holds no login for {spec.image.registry})"
    return credentials, ""


def _check_ca(ca_pem: str | None, insecure: bool) -> None:
    if ca_pem is None or insecure:
        return
    try:
        ssl.create_default_context(cadata=ca_pem)
    except (ssl.SSLError, ValueError):
        raise _Refusal(
            AUTHENTICATION_FAILED,
            "failed to configure authentication options: ca.crt of the Secret named by "
            "spec.certSecretRef is not a PEM certificate",
            "retry",
        ) from None


def tags_revision(tags: Sequence[str]) -> str:
    """``lastScanResult.revision``: a digest of the tags in their stored order, as Flux's tag
    storage computes it (sha256 of each tag followed by a newline)."""
    digest = hashlib.sha256()
    for tag in tags:
        digest.update(tag.encode() + b"\n")
    return f"sha256:{digest.hexdigest()}"


def _scan_result(ordered: Sequence[str], now: str) -> dict[str, Any]:
    result: dict[str, Any] = {
        "revision": tags_revision(ordered),
        "tagCount": len(ordered),
        "scanTime": now,
    }
    if ordered:
        result["latestTags"] = list(ordered[:LATEST_TAGS_COUNT])
    return result


async def scan(
    repo_obj: Mapping[str, Any],
    *,
    secret_data: Mapping[str, str] | None,
    ca_pem: str | None,
    client: RegistryClient,
    now: datetime,
    previous_tags: Sequence[str] | None = None,
) -> ScanOutcome:
    """Scan the image repository an ImageRepository names and return its tags and status.

    `secret_data` is the ``.data`` of the Secret ``spec.secretRef`` names (None: no secretRef,
    or the Secret is missing), `ca_pem` the ``ca.crt`` of ``spec.certSecretRef``. Registry
    failures (unreachable, refused login, malformed answers) become ``Ready=False`` (reasons
    ``ReadOperationFailed``, ``AuthenticationFailed``) to retry, with `previous_tags` and the
    last ``lastScanResult`` kept; a spec that cannot work (no image, an image with a tag, no
    interval, an unsupported provider) stalls (``ImageURLInvalid``, ``IntervalNotConfigured``).
    Never raises for anything the object or the registry holds.
    """
    status = start_status(repo_obj)
    kept = tuple(previous_tags) if previous_tags is not None else None
    spec_map = _map(repo_obj.get("spec"))
    if spec_map.get("suspend") is True:
        ready, reason, message = _ready_now(status)
        return ScanOutcome(status, kept, False, ready, reason, message, suspended=True)
    stamp = rfc3339(now)
    try:
        spec = _read_repository_spec(spec_map)
        credentials, note = _credentials(spec, secret_data)
        _check_ca(ca_pem, spec.insecure)
        try:
            tags = await client.list_tags(
                spec.image,
                credentials=credentials,
                insecure=spec.insecure,
                exclusions=spec.exclusions,
                timeout=spec.timeout,
                ca_certificate=None if spec.insecure else ca_pem,
            )
        except RegistryAuthError as error:
            raise _Refusal(AUTHENTICATION_FAILED, f"scan failed: {error}{note}", "retry") from None
        except ImageError as error:
            raise _Refusal(READ_OPERATION_FAILED, f"scan failed: {error}", "retry") from None
    except _Refusal as refusal:
        finish_status(status, repo_obj, refusal.outcome, refusal.reason, refusal.message, stamp)
        stalled = refusal.outcome == "stalled"
        return ScanOutcome(status, kept, False, False, refusal.reason, refusal.message, stalled)
    ordered = tuple(sorted(tags, reverse=True))  # Flux's stored order: descending, bytewise
    result = _scan_result(ordered, stamp)
    status["canonicalImageName"] = canonical_image_name(spec.image)
    status["lastScanResult"] = result
    status["observedExclusionList"] = spec.exclusions
    message = f"successful scan: found {result['tagCount']} tags with checksum {result['revision']}"
    finish_status(status, repo_obj, "ok", SUCCEEDED, message, stamp)
    return ScanOutcome(status, ordered, True, True, SUCCEEDED, message, requeue_after=spec.interval)


# ---- ImagePolicy --------------------------------------------------------------------------------


def image_repository_ref(policy_obj: Mapping[str, Any]) -> tuple[str, str]:
    """(namespace, name) of the ImageRepository an ImagePolicy refers to; the namespace
    defaults to the policy's own. The name is empty when the spec gives none."""
    ref = _map(_map(policy_obj.get("spec")).get("imageRepositoryRef"))
    own = _map(policy_obj.get("metadata")).get("namespace")
    namespace, name = ref.get("namespace") or own, ref.get("name")
    return (
        namespace if isinstance(namespace, str) else "",
        name if isinstance(name, str) else "",
    )


def _image_ref(value: Any) -> dict[str, str] | None:
    """A ``latestRef``-shaped mapping as written, or None when it is not one."""
    ref = _map(value)
    name, tag, digest = ref.get("name"), ref.get("tag"), ref.get("digest")
    if not isinstance(name, str) or not isinstance(tag, str):
        return None
    result = {"name": name, "tag": tag}
    if isinstance(digest, str) and digest:
        result["digest"] = digest
    return result


def _ref_text(ref: Mapping[str, str]) -> str:
    text = f"{ref['name']}:{ref['tag']}"
    return f"{text}@{ref['digest']}" if ref.get("digest") else text


def _ready_message(latest: Mapping[str, str], previous: Mapping[str, str] | None) -> str:
    """Flux's Ready message of an ImagePolicy."""
    message = f"Latest image tag for {latest['name']} resolved to {latest['tag']}"
    if latest.get("digest"):
        message += f" with digest {latest['digest']}"
    if previous is not None and previous != latest:
        message += f" (previously {_ref_text(previous)})"
    return message


def _repository_image(repository: Mapping[str, Any] | None, where: str) -> str:
    """The referred repository's ``spec.image`` as written (what ``latestRef.name`` holds)."""
    if repository is None:
        raise _Refusal(
            DEPENDENCY_NOT_READY,
            f"failed to get the referred ImageRepository: {where} does not exist",
            "retry",
        )
    image = _map(repository.get("spec")).get("image")
    if not isinstance(image, str):
        raise _Refusal(IMAGE_URL_INVALID, f"{where} has no spec.image", "stalled")
    try:
        parse_repository(image)
    except ImageError as error:
        raise _Refusal(IMAGE_URL_INVALID, f"{where}: spec.image: {error}", "stalled") from None
    return image


def _choose(
    policy_obj: Mapping[str, Any], tags: Sequence[str] | None, image: str, where: str
) -> tuple[str, ImagePolicySpec]:
    spec = _map(policy_obj.get("spec"))
    if spec.get("digestReflectionPolicy") == "Always" and spec.get("interval") is None:
        raise _Refusal(
            INTERVAL_NOT_CONFIGURED,
            "spec.interval must be set when spec.digestReflectionPolicy is set to 'Always' "
            "(how often the digest is refreshed, e.g. '10m')",
            "stalled",
        )
    try:
        policy = parse_policy(spec)
    except InvalidPolicyError as error:
        raise _Refusal(INVALID_POLICY, f"invalid policy: {error}", "stalled") from None
    if not tags:
        why = "it has not been scanned yet, or its scans fail"
        if tags is not None:
            why = "its last scan found none (after its exclusionList)"
        raise _Refusal(DEPENDENCY_NOT_READY, f"{where} has no tags: {why}", "waiting")
    try:
        return latest_tag(policy, tags, image=image), policy
    except ImageError as error:
        raise _Refusal(FAILURE, str(error), "retry") from None


def _with_digest(
    latest: dict[str, str],
    previous: dict[str, str] | None,
    reflection: str,
    digests: Mapping[str, str] | None,
    digest_error: ImageError | None,
) -> dict[str, str] | None:
    """`latest` with the digest the reflection policy wants, or None when it must be looked
    up first."""
    if reflection == "Never":
        return latest
    same = previous is not None and (previous["name"], previous["tag"]) == (
        latest["name"],
        latest["tag"],
    )
    kept = previous.get("digest") if previous is not None and same else None
    if reflection == "IfNotPresent" and kept:
        return {**latest, "digest": kept}
    failed = f"failed fetching digest of {_ref_text(latest)}"
    if digest_error is not None:
        raise _Refusal(FAILED, f"{failed}: {digest_error}", "retry")
    if digests is None:
        return None
    digest = digests.get(latest["tag"])
    if not digest:
        raise _Refusal(FAILED, f"{failed}: the registry has no manifest for this tag", "retry")
    return {**latest, "digest": digest}


def evaluate(
    policy_obj: Mapping[str, Any],
    tags: Sequence[str] | None,
    digests: Mapping[str, str] | None = None,
    *,
    repository: Mapping[str, Any] | None,
    now: datetime | None = None,
    digest_error: ImageError | None = None,
) -> PolicyOutcome:
    """Apply an ImagePolicy to the tags of the ImageRepository it refers to.

    `repository` is that ImageRepository (None: it does not exist), `tags` its tags as the last
    good scan gave them (None: never scanned), `digests` the digests looked up so far by tag
    (None: none looked up; see `PolicyOutcome.digest_needed`), `digest_error` why looking up
    the wanted digest failed. ``latestRef`` is ``{name: <the repository's spec.image>, tag,
    digest?}``; when it changes, the old one becomes ``observedPreviousRef``. Reasons:
    ``Succeeded``; ``InvalidPolicy`` and ``IntervalNotConfigured`` stall; ``DependencyNotReady``
    (no repository, no tags), ``Failure`` (no tag qualifies) and ``Failed`` (no digest) leave
    the last ``latestRef`` in place. Pure: reads nothing but its arguments.
    """
    status = start_status(policy_obj)
    previous = _image_ref(status.get("latestRef"))
    if _map(policy_obj.get("spec")).get("suspend") is True:
        ready, reason, message = _ready_now(status)
        return PolicyOutcome(status, previous, ready, reason, message, suspended=True)
    stamp = rfc3339(now or datetime.now(UTC))
    namespace, name = image_repository_ref(policy_obj)
    where = f"ImageRepository '{namespace}/{name}'"
    try:
        image = _repository_image(repository, where)
        tag, policy = _choose(policy_obj, tags, image, where)
        latest = _with_digest(
            {"name": image, "tag": tag},
            previous,
            policy.digest_reflection_policy,
            digests,
            digest_error,
        )
    except _Refusal as refusal:
        finish_status(status, policy_obj, refusal.outcome, refusal.reason, refusal.message, stamp)
        stalled = refusal.outcome == "stalled"
        return PolicyOutcome(
            status, previous, False, refusal.reason, refusal.message, stalled=stalled
        )
    if latest is None:
        ready, reason, message = _ready_now(status)
        return PolicyOutcome(status, previous, ready, reason, message, digest_needed=tag)
    changed = latest != previous
    if changed:
        if previous is None:
            status.pop("observedPreviousRef", None)
        else:
            status["observedPreviousRef"] = previous
        status["latestRef"] = latest
    message = _ready_message(latest, _image_ref(status.get("observedPreviousRef")))
    finish_status(status, policy_obj, "ok", SUCCEEDED, message, stamp)
    return PolicyOutcome(
        status,
        latest,
        True,
        SUCCEEDED,
        message,
        changed=changed,
        requeue_after=policy.digest_interval_seconds,
    )
