"""The notifier: on each change of an Application, which of its subscribed triggers fire, the
templates rendered for each destination, delivered in the background, and the sent keys recorded
on the app (``notified.notifications.argoproj.io``) so that a restart sends nothing twice.

It sees the cluster only through plain callables (the app's AppProject, the notification
ConfigMap and Secret, a patch of the app's annotation) and evaluates conditions and renders
templates through the functions it is given (``tether.notify.expr``, ``tether.gotemplate``).
A problem (an unknown trigger, template or service, an expression or template error) is logged
once per app and cause; it never stops the controller nor slows a sync.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx2

from tether import gotemplate
from tether.errors import TetherError
from tether.notify import firing
from tether.notify.config import (
    NotificationsConfig,
    Service,
    Subscription,
    Template,
    parse_config,
    subscriptions_of,
)
from tether.notify.delivery import Delivery
from tether.notify.expr import Expression, compile_expr
from tether.notify.senders import (
    DeliveryError,
    Rendered,
    SlackThreads,
    send_email,
    send_slack,
    send_webhook,
)
from tether.notify.statuses import CommitStatuses
from tether.systemtls import system_context

log = logging.getLogger(__name__)

#: most (app, problem) pairs remembered as told (the oldest are told again after)
MAX_TOLD = 10_000
#: ``render(template text, env)``: the text rendered (raises on a template error)
RenderText = Callable[[str, Mapping[str, Any]], str]
Objects = Callable[[], Mapping[str, Any] | None]


@dataclass(frozen=True)
class NotifierParts:
    """What the notifier reads and writes, as plain callables."""

    configmap: Objects
    secret: Objects
    project_of: Callable[[Mapping[str, Any]], Mapping[str, Any] | None]
    #: ``record(app name, annotation value)``: write the notified keys on the app
    record: Callable[[str, str], Awaitable[None]]
    #: the app as last seen (None when gone)
    current: Callable[[str], Mapping[str, Any] | None]
    evaluate: firing.Evaluate
    render: RenderText
    clock: Callable[[], float] = time.time


def expression_evaluator(limit: int = 1000) -> firing.Evaluate:
    """``evaluate(text, env)`` with expr-lang's subset (:mod:`tether.notify.expr`), each text
    compiled once (the newest ``limit`` kept)."""
    compiled: dict[str, Expression] = {}

    def evaluate(text: str, env: Mapping[str, Any]) -> Any:
        expression = compiled.get(text)
        if expression is None:
            expression = compile_expr(text)
            if len(compiled) >= limit:
                compiled.pop(next(iter(compiled)))
            compiled[text] = expression
        return expression.evaluate(env)

    return evaluate


def template_renderer(limit: int = 1000) -> RenderText:
    """``render(text, env)`` with Go's text/template and Sprig (:mod:`tether.gotemplate`), as
    Argo CD renders notification templates; each text parsed once (the newest ``limit`` kept)."""
    parsed: dict[str, gotemplate.Template] = {}

    def render(text: str, env: Mapping[str, Any]) -> str:
        template = parsed.get(text)
        if template is None:
            template = gotemplate.parse(text, "notification")
            if len(parsed) >= limit:
                parsed.pop(next(iter(parsed)))
            parsed[text] = template
        return template.execute(dict(env))

    return render


def render_template(template: Template, env: Mapping[str, Any], render: RenderText) -> Rendered:
    """The template's message and every string of its service parts rendered over ``env``."""

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return render(value, env)
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        return value

    return Rendered(render(template.message, env) if template.message else "", walk(template.parts))


@dataclass
class _Config:
    versions: tuple[str, str] = ("", "")
    config: NotificationsConfig = field(default_factory=NotificationsConfig)


class Notifier:
    """Notifications for the Applications of one control namespace."""

    def __init__(self, parts: NotifierParts, delivery: Delivery) -> None:
        self.parts = parts
        self.delivery = delivery
        self.http = httpx2.AsyncClient(verify=system_context(), follow_redirects=False)
        self.threads = SlackThreads()
        self.statuses = CommitStatuses()
        self._config = _Config()
        self._told: dict[tuple[str, str], None] = {}

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.statuses.aclose()

    def config(self) -> NotificationsConfig:
        """The settings, read again only when the ConfigMap or the Secret changed."""
        cm, secret = self.parts.configmap(), self.parts.secret()
        versions = (_version(cm), _version(secret))
        if versions != self._config.versions:
            self._config = _Config(versions, parse_config(cm, secret))
            for error in self._config.config.errors:
                log.warning("notifications: %s", error)
        return self._config.config

    def _tell(self, app: str, problem: str) -> None:
        if (app, problem) not in self._told:
            if len(self._told) >= MAX_TOLD:
                self._told.pop(next(iter(self._told)))
            self._told[(app, problem)] = None
            log.warning("notifications of %s: %s", app, problem)

    async def on_application(self, app: Mapping[str, Any]) -> None:
        """Consider one change of ``app``: fire, queue the deliveries, record what was sent.
        One call at a time per app (the controller's notification worker keeps an app's changes
        in order; different apps are considered concurrently)."""
        name = str(app["metadata"]["name"])
        config = self.config()  # no network: the settings as the controller follows them
        subscriptions = subscriptions_of(app, self.parts.project_of(app), config)
        if not subscriptions:
            return
        env = {"app": with_status_defaults(app), "context": dict(config.context)}
        state = firing.read_state(app)
        sending, new_state = self._fire(name, config, subscriptions, env, state)
        if new_state != state:
            await self.parts.record(name, firing.write_state(new_state))
        for notification in sending:
            self._submit(name, config, notification, env)

    def _fire(
        self,
        name: str,
        config: NotificationsConfig,
        subscriptions: tuple[Subscription, ...],
        env: Mapping[str, Any],
        state: dict[str, int],
    ) -> tuple[list[firing.Notification], dict[str, int]]:
        by_trigger: dict[str, list[Subscription]] = defaultdict(list)
        for sub in subscriptions:
            by_trigger[sub.trigger].append(sub)
        sending: list[firing.Notification] = []
        now = int(self.parts.clock())
        for trigger_name, destinations in by_trigger.items():
            trigger = config.triggers.get(trigger_name)
            if trigger is None:
                self._tell(
                    name, f"trigger {trigger_name!r} is not defined in the notifications ConfigMap"
                )
                continue
            results, problems = firing.evaluate_trigger(trigger, env, self.parts.evaluate)
            for problem in problems:
                self._tell(name, problem)
            fired, state = firing.decide(trigger_name, results, destinations, state, now)
            sending.extend(fired)
        return sending, state

    def _submit(
        self,
        name: str,
        config: NotificationsConfig,
        notification: firing.Notification,
        env: Mapping[str, Any],
    ) -> None:
        destination = notification.destination
        service = config.services.get(destination.service)
        what = f"{name}/{notification.trigger}/{destination.service}"
        if service is None:
            self._tell(name, f"service {destination.service!r} is not defined")
            return
        for template_name in notification.templates:
            template = config.templates.get(template_name)
            if template is None:
                self._tell(name, f"template {template_name!r} is not defined")
                continue
            try:
                rendered = render_template(template, env, self.parts.render)
            except TetherError as exc:
                self._tell(name, f"template {template_name}: {exc.message}")
                continue
            self.delivery.submit(
                what,
                functools.partial(self._send, service, rendered, destination.recipient),
                functools.partial(self._delivered, name, notification),
            )

    async def _delivered(
        self, name: str, notification: firing.Notification, ok: bool, _: str
    ) -> None:
        """A delivery that failed for good drops its key: the next change tries again."""
        if ok:
            return
        app = self.parts.current(name)
        if app is None:
            return
        state = firing.read_state(app)
        if notification.key in state:
            await self.parts.record(name, firing.write_state(firing.failed(state, notification)))

    async def _send(self, service: Service, rendered: Rendered, recipient: str) -> None:
        if service.type == "webhook":
            await send_webhook(service, rendered, self.http)
        elif service.type == "slack":
            await send_slack(service, rendered, recipient, self.http, self.threads)
        elif service.type == "email":
            await send_email(service, rendered, recipient)
        elif service.type in ("github", "gitlab"):
            await self.statuses.send(service, rendered)
        else:
            raise DeliveryError(f"service type {service.type!r} is not supported")


#: parts of an Application's status that Argo CD's typed object always has (structs, not
#: pointers): the catalog's ``app.status.health.status`` is "" before the first health check,
#: not an error; ``operationState`` stays nil until an operation runs
_ALWAYS_THERE = ("sync", "health", "summary")


def with_status_defaults(app: Mapping[str, Any]) -> Mapping[str, Any]:
    """``app`` as Argo CD's notifications see it: ``status`` and its struct parts present."""
    status = app.get("status")
    status = status if isinstance(status, Mapping) else {}
    if (
        all(isinstance(status.get(part), Mapping) for part in _ALWAYS_THERE)
        and app.get("status") is status
    ):
        return app
    filled = {**status, **{p: {} for p in _ALWAYS_THERE if not isinstance(status.get(p), Mapping)}}
    return {**app, "status": filled}


def _version(obj: Mapping[str, Any] | None) -> str:
    if not obj:
        return ""
    return str((obj.get("metadata") or {}).get("resourceVersion") or id(obj))
