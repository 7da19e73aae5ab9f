"""Flux's notification API as Tether reads it: ``notification.toolkit.fluxcd.io/v1beta3``
``Provider`` and ``Alert`` objects, and the event they route (Flux's event JSON).

Parsing refuses what cannot work with a message naming the field (a missing provider type, an
``eventSeverity`` that is neither ``info`` nor ``error``, a regular expression that does not
compile); the dispatcher logs it once per object version. As in Flux v1beta3, Alerts and
Providers are static: they have no status.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tether.durations import InvalidDurationError, parse_duration
from tether.errors import TetherError
from tether.notify.expr.errors import ExprError
from tether.notify.expr.re2 import Regex, compile_regex

#: the provider types Tether sends to (the rest of Flux's list is refused by name)
ALERTING_TYPES = ("generic", "generic-hmac", "slack")
#: Flux's other provider types, refused with a clear message (not silently dropped)
FLUX_ONLY_TYPES = (
    "azureeventhub", "datadog", "discord", "githubdispatch", "googlechat", "googlepubsub",
    "grafana", "lark", "matrix", "msteams", "opsgenie", "pagerduty", "alertmanager", "rocket",
    "sentry", "telegram", "webex", "nats", "zulip", "otel", "zoom", "azuredevops", "bitbucket",
    "bitbucketserver", "github", "gitlab", "gitea", "githubpullrequestcomment",
    "giteapullrequestcomment", "gitlabmergerequestcomment",
)  # fmt: skip
SEVERITIES = ("info", "error")
#: Flux's caps: regexes per list, summary length
MAX_PATTERNS = 64
MAX_SUMMARY = 255
DEFAULT_TIMEOUT = 15.0


class FluxAlertError(TetherError):
    """An Alert or Provider that cannot work as written."""


@dataclass(frozen=True)
class InvolvedObject:
    kind: str
    name: str
    namespace: str
    api_version: str = ""
    uid: str = ""
    resource_version: str = ""


@dataclass(frozen=True)
class FluxEvent:
    """One event as Flux's controllers send it to the notification-controller."""

    involved: InvolvedObject
    severity: str
    reason: str
    message: str
    reporting_controller: str = "tether"
    metadata: Mapping[str, str] = field(default_factory=dict)
    timestamp: str = ""
    #: the object's labels, for ``eventSources[].matchLabels``
    labels: Mapping[str, str] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        """Flux's event JSON (``events.md``)."""
        obj = self.involved
        involved = {"kind": obj.kind, "namespace": obj.namespace, "name": obj.name}
        if obj.api_version:
            involved["apiVersion"] = obj.api_version
        if obj.uid:
            involved["uid"] = obj.uid
        if obj.resource_version:
            involved["resourceVersion"] = obj.resource_version
        stamp = self.timestamp or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "involvedObject": involved,
            "severity": self.severity,
            "timestamp": stamp,
            "message": self.message,
            "reason": self.reason,
            **({"metadata": dict(self.metadata)} if self.metadata else {}),
            "reportingController": self.reporting_controller,
            "reportingInstance": self.reporting_controller,
        }


@dataclass(frozen=True)
class EventSource:
    kind: str
    name: str
    namespace: str
    match_labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Alert:
    namespace: str
    name: str
    provider: str
    sources: tuple[EventSource, ...]
    severity: str = "info"
    inclusions: tuple[Regex, ...] = ()
    exclusions: tuple[Regex, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)
    summary: str = ""
    suspended: bool = False


@dataclass(frozen=True)
class Provider:
    namespace: str
    name: str
    type: str
    address: str = ""
    channel: str = ""
    username: str = ""
    secret: str = ""
    timeout: float = DEFAULT_TIMEOUT
    suspended: bool = False


def _spec(obj: Mapping[str, Any], what: str) -> tuple[str, str, Mapping[str, Any]]:
    meta = obj.get("metadata") or {}
    name, namespace = str(meta.get("name") or ""), str(meta.get("namespace") or "")
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        raise FluxAlertError(f"{what} {namespace}/{name}: spec must be an object")
    return namespace, name, spec


def _strings(value: Any, field_name: str, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FluxAlertError(f"{where}: {field_name} must be a list of strings")
    if len(value) > MAX_PATTERNS:
        raise FluxAlertError(f"{where}: {field_name} has more than {MAX_PATTERNS} entries")
    return value


def _regexes(value: Any, field_name: str, where: str) -> tuple[Regex, ...]:
    found = []
    for index, pattern in enumerate(_strings(value, field_name, where)):
        try:
            found.append(compile_regex(pattern, 0))
        except ExprError as exc:
            raise FluxAlertError(
                f"{where}: {field_name}[{index}] is not a regular expression Tether runs: "
                f"{exc.message}"
            ) from None
    return tuple(found)


def _string_map(value: Any, field_name: str, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise FluxAlertError(f"{where}: {field_name} must map strings to strings")
    return dict(value)


def parse_alert(obj: Mapping[str, Any]) -> Alert:
    namespace, name, spec = _spec(obj, "Alert")
    where = f"Alert {namespace}/{name}"
    provider = (spec.get("providerRef") or {}).get("name")
    if not isinstance(provider, str) or not provider:
        raise FluxAlertError(f"{where}: spec.providerRef.name is required")
    severity = spec.get("eventSeverity") or "info"
    if severity not in SEVERITIES:
        raise FluxAlertError(f"{where}: spec.eventSeverity must be info or error, not {severity!r}")
    raw_sources = spec.get("eventSources")
    if not isinstance(raw_sources, list) or not raw_sources:
        raise FluxAlertError(f"{where}: spec.eventSources must list at least one source")
    sources = []
    for index, raw in enumerate(raw_sources):
        if not isinstance(raw, Mapping) or not raw.get("kind") or not raw.get("name"):
            raise FluxAlertError(f"{where}: spec.eventSources[{index}] needs kind and name")
        labels = _string_map(raw.get("matchLabels"), f"eventSources[{index}].matchLabels", where)
        sources.append(
            EventSource(
                str(raw["kind"]), str(raw["name"]), str(raw.get("namespace") or namespace), labels
            )
        )
    summary = spec.get("summary") or ""
    if not isinstance(summary, str) or len(summary) > MAX_SUMMARY:
        raise FluxAlertError(f"{where}: spec.summary must be text of at most {MAX_SUMMARY}")
    return Alert(
        namespace,
        name,
        provider,
        tuple(sources),
        str(severity),
        _regexes(spec.get("inclusionList"), "spec.inclusionList", where),
        _regexes(spec.get("exclusionList"), "spec.exclusionList", where),
        _string_map(spec.get("eventMetadata"), "spec.eventMetadata", where),
        summary,
        spec.get("suspend") is True,
    )


def parse_provider(obj: Mapping[str, Any]) -> Provider:
    namespace, name, spec = _spec(obj, "Provider")
    where = f"Provider {namespace}/{name}"
    kind = spec.get("type")
    if kind in FLUX_ONLY_TYPES:
        raise FluxAlertError(
            f"{where}: type {kind} is not sent by Tether yet; it sends "
            f"{', '.join(ALERTING_TYPES)} (Argo CD's notifications cover GitHub and GitLab "
            "commit statuses, see docs/notifications.md)"
        )
    if kind not in ALERTING_TYPES:
        raise FluxAlertError(f"{where}: spec.type {kind!r} is not a provider type")
    timeout = DEFAULT_TIMEOUT
    if spec.get("timeout"):
        try:
            timeout = min(parse_duration(str(spec["timeout"])), 300.0)
        except InvalidDurationError:
            raise FluxAlertError(f"{where}: spec.timeout is not a duration") from None
    return Provider(
        namespace,
        name,
        str(kind),
        str(spec.get("address") or ""),
        str(spec.get("channel") or ""),
        str(spec.get("username") or ""),
        str((spec.get("secretRef") or {}).get("name") or ""),
        timeout,
        spec.get("suspend") is True,
    )
