"""Flux's ``Receiver`` (``notification.toolkit.fluxcd.io/v1``): a webhook that asks the objects
it names to reconcile now. Pure parts: the path, the request's verification, the targets.

The path is Flux's: ``/hook/`` + the SHA-256 of the token, the Receiver's name and namespace, so
a receiver's URL is known only to whoever knows its token. Verification per ``spec.type``:
``generic`` (the path is the secret), ``generic-hmac`` (``X-Signature: sha1|sha256|sha512=<hex
HMAC of the body>``), ``github`` (``X-Hub-Signature-256`` or ``X-Hub-Signature``, the event in
``X-GitHub-Event``; ``ping`` answered, nothing reconciled) and ``gitlab`` (``X-Gitlab-Token``,
the event in ``X-Gitlab-Event``). ``spec.events``, when given, lists the events that count.
Other types Flux knows are refused by name in the Receiver's status.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tether.fields import FieldReader, InvalidSpecError
from tether.flux.specs import Unsupported

SUPPORTED_TYPES = ("generic", "generic-hmac", "github", "gitlab")
#: every type Flux's CRD enumerates (accepted, refused by name when not supported)
FLUX_TYPES = (
    *SUPPORTED_TYPES, "bitbucket", "harbor", "dockerhub", "quay", "gcr", "nexus", "acr",
    "cdevents",
)  # fmt: skip
MAX_RESOURCES = 1000
_HASHES = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


class RejectedRequest(Exception):
    """The request does not come from whoever holds the token (or names another event)."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Target:
    """One ``spec.resources`` entry: a name (``*`` with ``match_labels``: every match)."""

    api_version: str
    kind: str
    name: str
    namespace: str
    match_labels: Mapping[str, str]


@dataclass(frozen=True)
class ReceiverSpec:
    type: str
    events: tuple[str, ...]
    secret: str
    resources: tuple[Target, ...]


def webhook_path(token: str, name: str, namespace: str) -> str:
    return "/hook/" + hashlib.sha256(f"{token}{name}{namespace}".encode()).hexdigest()


def parse_receiver(spec: Any, namespace: str) -> ReceiverSpec:
    reader = FieldReader(spec, "spec")
    kind = reader.string("type") or ""
    if kind not in FLUX_TYPES:
        raise InvalidSpecError(f"spec.type: {kind!r} is not one of {', '.join(FLUX_TYPES)}")
    if kind not in SUPPORTED_TYPES:
        raise Unsupported(f"spec.type: {kind} receivers are not supported by Tether yet")
    secret = reader.child("secretRef")
    name = secret.string("name") if secret is not None else None
    if not name:
        raise InvalidSpecError("spec.secretRef.name is required")
    entries = reader.objects("resources")
    if not entries or len(entries) > MAX_RESOURCES:
        raise InvalidSpecError(f"spec.resources: between 1 and {MAX_RESOURCES} entries")
    targets = []
    for entry in entries:
        target_name, kind_of = entry.string("name") or "", entry.string("kind") or ""
        if not target_name or not kind_of:
            raise InvalidSpecError(f"{entry.path}: kind and name are required (name * for all)")
        labels = {str(k): str(v) for k, v in (entry.mapping("matchLabels") or {}).items()}
        targets.append(
            Target(
                api_version=entry.string("apiVersion") or "",
                kind=kind_of,
                name=target_name,
                namespace=entry.string("namespace") or namespace,
                match_labels=labels,
            )
        )
    return ReceiverSpec(kind, reader.strings("events"), name, tuple(targets))


def verify(spec: ReceiverSpec, headers: Mapping[str, str], body: bytes, token: str) -> bool:
    """Whether the request should reconcile the targets: True; False for a GitHub ``ping``
    (answered, nothing done); :class:`RejectedRequest` when it is not genuine or its event is
    not one of ``spec.events``. ``headers`` are lower-cased."""
    if spec.type == "generic":
        return True
    if spec.type == "generic-hmac":
        _check_signature(headers.get("x-signature", ""), body, token, "X-Signature")
        return True
    if spec.type == "github":
        signature = headers.get("x-hub-signature-256") or headers.get("x-hub-signature", "")
        _check_signature(signature, body, token, "X-Hub-Signature-256")
        event = headers.get("x-github-event", "")
        if event == "ping":
            return False
        _check_event(spec, event)
        return True
    # gitlab
    if not hmac.compare_digest(headers.get("x-gitlab-token", "").encode(), token.encode()):
        raise RejectedRequest("the X-Gitlab-Token header does not match the Receiver's token")
    _check_event(spec, headers.get("x-gitlab-event", ""))
    return True


def _check_signature(header: str, body: bytes, token: str, name: str) -> None:
    algorithm, _, digest = header.partition("=")
    make = _HASHES.get(algorithm.lower())
    if make is None or not digest:
        raise RejectedRequest(f"the {name} header is missing or not <sha1|sha256|sha512>=<hex>")
    expected = hmac.new(token.encode(), body, make).hexdigest()
    if not hmac.compare_digest(expected, digest.lower()):
        raise RejectedRequest(f"the {name} signature does not match the body")


def _check_event(spec: ReceiverSpec, event: str) -> None:
    if spec.events and event not in spec.events:
        raise RejectedRequest(
            f"event {event!r} is not one of the Receiver's events ({', '.join(spec.events)})",
            status=400,
        )


def matches(target: Target, obj: Mapping[str, Any]) -> bool:
    """Whether ``obj`` (of the target's kind and namespace) is one the target names."""
    meta = obj.get("metadata") or {}
    if target.name != "*":
        return bool(meta.get("name") == target.name)
    labels = meta.get("labels") or {}
    return all(labels.get(k) == v for k, v in target.match_labels.items())


def select(target: Target, objects: Sequence[Mapping[str, Any]]) -> list[str]:
    """The names among ``objects`` the target reconciles."""
    return sorted(str(o["metadata"]["name"]) for o in objects if matches(target, o))
