"""Argo CD's notification settings read into plain data: ``argocd-notifications-cm`` (triggers,
templates, services, default triggers, context, global subscriptions) with the ``$key``
references of ``argocd-notifications-secret`` filled in, and the subscriptions of one
Application (its annotations, its AppProject's, the global ones its labels select).

Each entry is read on its own: one that cannot be read is reported in ``errors`` (naming the key)
and left out, the others still work. Nothing here sends or evaluates anything.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tether import safeyaml
from tether.errors import TetherError
from tether.labels import matches_selector

CONFIGMAP = "argocd-notifications-cm"
SECRET = "argocd-notifications-secret"
ANNOTATION_PREFIX = "notifications.argoproj.io/subscribe."
SUBSCRIPTIONS_ANNOTATION = "notifications.argoproj.io/subscriptions"
#: the services Tether delivers to; others are read and refused when used
SERVICE_TYPES = frozenset({"webhook", "slack", "github", "gitlab", "email"})

#: bounds on what one ConfigMap may declare
MAX_ENTRIES = 1000
MAX_ENTRY_BYTES = 256 * 1024
MAX_CONDITIONS = 50
MAX_RECIPIENTS = 100

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,252}")
_SECRET_REF = re.compile(r"\$\{([A-Za-z0-9_.-]+)\}|\$([A-Za-z0-9_.-]+)")


class NotificationConfigError(TetherError):
    """One entry of the notification settings cannot be read (the message names it)."""


@dataclass(frozen=True)
class Condition:
    """One condition of a trigger: when ``when`` holds, ``send`` these templates, once per
    value of ``once_per`` (an expression; "" means once per firing of the condition)."""

    when: str
    send: tuple[str, ...]
    once_per: str = ""
    description: str = ""


@dataclass(frozen=True)
class Trigger:
    name: str
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class Template:
    """``message`` and the service-specific parts (``slack``, ``email``, ``webhook``,
    ``github``...) as written."""

    name: str
    message: str = ""
    parts: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Service:
    """A service to deliver to: its ``type`` and the ``name`` subscriptions use; ``options``
    with the secret references filled in (never shown: ``repr`` hides them)."""

    type: str
    name: str
    options: Mapping[str, Any] = field(default_factory=dict, repr=False)
    #: the secret values used, so that text quoted from a service can be scrubbed of them
    secrets: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class GlobalSubscription:
    """An entry of ``subscriptions``: ``service:recipient`` pairs, the triggers (empty: the
    default ones) and the label ``selector`` of the apps it covers."""

    recipients: tuple[tuple[str, str], ...]
    triggers: tuple[str, ...] = ()
    selector: str = ""


@dataclass(frozen=True)
class Subscription:
    """One destination of one trigger for one app."""

    trigger: str
    service: str
    recipient: str


@dataclass(frozen=True)
class NotificationsConfig:
    triggers: Mapping[str, Trigger] = field(default_factory=dict)
    templates: Mapping[str, Template] = field(default_factory=dict)
    services: Mapping[str, Service] = field(default_factory=dict)
    default_triggers: tuple[str, ...] = ()
    #: ``defaultTriggers.<service>``
    service_default_triggers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    context: Mapping[str, str] = field(default_factory=dict)
    subscriptions: tuple[GlobalSubscription, ...] = ()
    #: the entries left out, each with why
    errors: tuple[str, ...] = ()

    def defaults_for(self, service: str) -> tuple[str, ...]:
        return self.service_default_triggers.get(service, self.default_triggers)


# --------------------------------------------------------------------------- reading


def _yaml(key: str, text: Any) -> Any:
    if not isinstance(text, str):
        raise NotificationConfigError(f"{key}: must be a string")
    if len(text.encode()) > MAX_ENTRY_BYTES:
        raise NotificationConfigError(f"{key}: longer than {MAX_ENTRY_BYTES} bytes")
    try:
        return safeyaml.load(text)
    except safeyaml.YamlError as exc:
        raise NotificationConfigError(f"{key}: not valid YAML: {exc}") from None


def _strings(key: str, value: Any, limit: int = MAX_CONDITIONS) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise NotificationConfigError(f"{key}: must be a list of strings")
    if len(value) > limit:
        raise NotificationConfigError(f"{key}: at most {limit} entries")
    return tuple(value)


def _name(key: str, name: str) -> str:
    if not _NAME.fullmatch(name):
        raise NotificationConfigError(f"{key}: {name!r} is not a valid name")
    return name


def parse_trigger(key: str, name: str, text: Any) -> Trigger:
    value = _yaml(key, text)
    if not isinstance(value, list) or not value:
        raise NotificationConfigError(f"{key}: must be a list of conditions")
    if len(value) > MAX_CONDITIONS:
        raise NotificationConfigError(f"{key}: at most {MAX_CONDITIONS} conditions")
    conditions = []
    for index, item in enumerate(value):
        where = f"{key}[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("when"), str):
            raise NotificationConfigError(f"{where}: needs `when` (an expression)")
        send = _strings(f"{where}.send", item.get("send"))
        if not send:
            raise NotificationConfigError(f"{where}: needs `send` (template names)")
        once_per = item.get("oncePer") or ""
        if not isinstance(once_per, str):
            raise NotificationConfigError(f"{where}.oncePer: must be a string")
        description = item.get("description") or ""
        conditions.append(Condition(item["when"], send, once_per, str(description)))
    return Trigger(name, tuple(conditions))


def parse_template(key: str, name: str, text: Any) -> Template:
    value = _yaml(key, text)
    if not isinstance(value, dict):
        raise NotificationConfigError(f"{key}: must be a mapping (message, slack, email...)")
    message = value.get("message", "")
    if not isinstance(message, str):
        raise NotificationConfigError(f"{key}.message: must be a string")
    parts = {k: v for k, v in value.items() if k != "message"}
    return Template(name, message, parts)


def _fill(value: Any, secrets: Mapping[str, str], used: set[str]) -> Any:
    """``value`` with ``$key`` / ``${key}`` of the secret filled in (a key the secret lacks is
    left as written)."""
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name = match.group(1) or match.group(2)
            if name in secrets:
                used.add(secrets[name])
                return secrets[name]
            return match.group(0)

        return _SECRET_REF.sub(replace, value)
    if isinstance(value, list):
        return [_fill(v, secrets, used) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, secrets, used) for k, v in value.items()}
    return value


def parse_service(key: str, text: Any, secrets: Mapping[str, str]) -> Service:
    """``service.<type>`` or ``service.<type>.<name>`` (the name subscriptions use: the type
    when no name is given)."""
    _, _, rest = key.partition(".")
    service_type, _, name = rest.partition(".")
    value = _yaml(key, text)
    if not isinstance(value, dict):
        raise NotificationConfigError(f"{key}: must be a mapping")
    used: set[str] = set()
    options = _fill(value, secrets, used)
    return Service(service_type, _name(key, name or service_type), options, tuple(used))


def _recipient_pairs(key: str, value: Any) -> tuple[tuple[str, str], ...]:
    pairs = []
    for text in _strings(key, value, MAX_RECIPIENTS):
        service, sep, recipient = text.partition(":")
        if not sep:
            raise NotificationConfigError(f"{key}: {text!r} is not service:recipient")
        pairs.append((service.strip(), recipient.strip()))
    return tuple(pairs)


def parse_global_subscriptions(key: str, text: Any) -> tuple[GlobalSubscription, ...]:
    value = _yaml(key, text)
    if not isinstance(value, list):
        raise NotificationConfigError(f"{key}: must be a list")
    out = []
    for index, item in enumerate(value[:MAX_CONDITIONS]):
        where = f"{key}[{index}]"
        if not isinstance(item, dict):
            raise NotificationConfigError(f"{where}: must be a mapping")
        selector = item.get("selector") or ""
        if not isinstance(selector, str):
            raise NotificationConfigError(f"{where}.selector: must be a string")
        out.append(
            GlobalSubscription(
                _recipient_pairs(f"{where}.recipients", item.get("recipients")),
                _strings(f"{where}.triggers", item.get("triggers")),
                selector,
            )
        )
    return tuple(out)


def secret_values(secret: Mapping[str, Any] | None) -> dict[str, str]:
    """The keys of ``argocd-notifications-secret`` (``data`` decoded, ``stringData`` winning)."""
    out: dict[str, str] = {}
    if not secret:
        return out
    for key, value in (secret.get("data") or {}).items():
        try:
            out[str(key)] = base64.b64decode(str(value), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            continue  # a value that is not text is never referenced
    for key, value in (secret.get("stringData") or {}).items():
        out[str(key)] = str(value)
    return out


def _entry(key: str, text: Any, secrets: Mapping[str, str], config: dict[str, Any]) -> None:
    """Read one ConfigMap entry into ``config``; unknown keys are ignored, as in Argo CD."""
    kind, _, name = key.partition(".")
    if kind == "trigger" and name:
        config["triggers"][_name(key, name)] = parse_trigger(key, name, text)
    elif kind == "template" and name:
        config["templates"][_name(key, name)] = parse_template(key, name, text)
    elif kind == "service" and name:
        service = parse_service(key, text, secrets)
        config["services"][service.name] = service
    elif key == "defaultTriggers":
        config["default_triggers"] = _strings(key, _yaml(key, text))
    elif kind == "defaultTriggers" and name:
        config["service_default_triggers"][name] = _strings(key, _yaml(key, text))
    elif key == "context":
        context = _yaml(key, text) or {}
        if not isinstance(context, dict):
            raise NotificationConfigError(f"{key}: must be a mapping")
        config["context"] = {str(k): str(v) for k, v in context.items()}
    elif key == "subscriptions":
        config["subscriptions"] = parse_global_subscriptions(key, text)


def parse_config(
    configmap: Mapping[str, Any] | None, secret: Mapping[str, Any] | None
) -> NotificationsConfig:
    """The settings of ``argocd-notifications-cm`` (None: no notifications) with the secret's
    references filled in."""
    data = (configmap or {}).get("data") or {}
    secrets = secret_values(secret)
    config: dict[str, Any] = {
        "triggers": {},
        "templates": {},
        "services": {},
        "service_default_triggers": {},
    }
    errors = []
    if len(data) > MAX_ENTRIES:
        errors.append(f"{CONFIGMAP}: more than {MAX_ENTRIES} entries; the rest are ignored")
    for key in sorted(data)[:MAX_ENTRIES]:
        try:
            _entry(str(key), data[key], secrets, config)
        except NotificationConfigError as exc:
            errors.append(exc.message)
    return NotificationsConfig(**config, errors=tuple(errors))


# --------------------------------------------------------------------------- subscriptions


def _annotation_subscriptions(
    annotations: Mapping[str, Any], config: NotificationsConfig
) -> Iterable[Subscription]:
    for key, value in annotations.items():
        if not isinstance(key, str) or not key.startswith(ANNOTATION_PREFIX):
            continue
        rest = key[len(ANNOTATION_PREFIX) :]
        trigger, _, service = rest.rpartition(".")
        triggers = (trigger,) if trigger else config.defaults_for(service)
        recipients = [r.strip() for r in str(value or "").split(";")][:MAX_RECIPIENTS]
        for name in triggers:
            for recipient in recipients or [""]:
                yield Subscription(name, service, recipient)
    listed = annotations.get(SUBSCRIPTIONS_ANNOTATION)
    if isinstance(listed, str):
        yield from _listed_subscriptions(listed, config)


def _listed_subscriptions(text: str, config: NotificationsConfig) -> Iterable[Subscription]:
    """``notifications.argoproj.io/subscriptions``: a YAML list of ``trigger`` (names) and
    ``destinations`` (``service``, ``recipients``); unreadable entries are skipped."""
    try:
        value = _yaml(SUBSCRIPTIONS_ANNOTATION, text)
    except NotificationConfigError:
        return
    for item in value if isinstance(value, list) else []:
        if not isinstance(item, dict):
            continue
        triggers = item.get("trigger") or []
        triggers = [triggers] if isinstance(triggers, str) else triggers
        for destination in item.get("destinations") or []:
            if not isinstance(destination, dict) or not destination.get("service"):
                continue
            service = str(destination["service"])
            names = [str(t) for t in triggers] or list(config.defaults_for(service))
            for name in names:
                for recipient in destination.get("recipients") or [""]:
                    yield Subscription(name, service, str(recipient))


def subscriptions_of(
    app: Mapping[str, Any],
    project: Mapping[str, Any] | None,
    config: NotificationsConfig,
) -> tuple[Subscription, ...]:
    """Every destination of every trigger for ``app``: its annotations, its AppProject's
    (which cover all its apps) and the global subscriptions whose selector its labels match;
    each once, in that order."""
    metadata = app.get("metadata") or {}
    found: dict[Subscription, None] = {}
    for holder in (metadata, (project or {}).get("metadata") or {}):
        for sub in _annotation_subscriptions(holder.get("annotations") or {}, config):
            found.setdefault(sub, None)
    labels = {str(k): str(v) for k, v in (metadata.get("labels") or {}).items()}
    for entry in config.subscriptions:
        if entry.selector and not matches_selector(labels, entry.selector):
            continue
        for service, recipient in entry.recipients:
            for name in entry.triggers or config.defaults_for(service):
                found.setdefault(Subscription(name, service, recipient), None)
    return tuple(found)
