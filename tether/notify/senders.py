"""Delivering one rendered notification to one destination: the webhook and email services as
Argo CD configures them (``service.webhook.<name>``, ``service.email[.<name>]``).

A sender answers nothing or raises :class:`DeliveryError`; ``retry`` on it says whether trying
again may help (a connection error, a timeout, ``429`` or a ``5xx``; ``Retry-After`` is kept).
Text quoted from a service is scrubbed of the service's secrets. Email goes out through
``smtplib`` in a thread (never on the event loop).
"""

from __future__ import annotations

import asyncio
import email.message
import json
import smtplib
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx2

from tether.errors import TetherError
from tether.notify.config import Service

#: the longest a service may take to answer one request
TIMEOUT_SECONDS = 15.0
#: the most of a service's answer quoted in an error
QUOTED = 300


class DeliveryError(TetherError):
    """A notification could not be delivered; ``retry``: trying again may help."""

    def __init__(self, message: str, *, retry: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.retry = retry
        self.retry_after = retry_after


@dataclass(frozen=True)
class Rendered:
    """A template rendered for one app: ``message``, and per service its fields (``email``:
    ``subject``; ``webhook``: ``<service name>`` → ``method``, ``path``, ``body``...)."""

    message: str = ""
    parts: Mapping[str, Any] = field(default_factory=dict)


def scrub(text: str, service: Service) -> str:
    return scrub_all(text, service.secrets)


def _retry_after(response: httpx2.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def scrub_all(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


async def checked_request(
    client: httpx2.AsyncClient,
    method: str,
    url: str,
    what: str,
    secrets: Iterable[str] = (),
    timeout: float = TIMEOUT_SECONDS,
    **options: Any,
) -> httpx2.Response:
    """One request whose answer must be a success: a connection error, a ``429`` or a ``5xx``
    raise a DeliveryError to retry (with ``Retry-After``), another error status one not to;
    ``what`` names the destination in the message, ``secrets`` are scrubbed from it."""
    try:
        response = await client.request(method, url, timeout=timeout, **options)
    except httpx2.HTTPError as exc:
        raise DeliveryError(
            scrub_all(f"{what}: {type(exc).__name__}: {exc}", secrets), retry=True
        ) from None
    if response.status_code >= 300:
        retry = response.status_code == 429 or response.status_code >= 500
        quoted = scrub_all(response.text[:QUOTED], secrets)
        raise DeliveryError(
            f"{what}: {method} answered {response.status_code}: {quoted}",
            retry=retry,
            retry_after=_retry_after(response),
        )
    return response


async def send_webhook(service: Service, rendered: Rendered, client: httpx2.AsyncClient) -> None:
    """``template.webhook.<service name>`` (``method``, ``path``, ``body``) sent to the
    service's ``url`` with its ``headers`` and ``basicAuth``."""
    part = (rendered.parts.get("webhook") or {}).get(service.name)
    if not isinstance(part, Mapping):
        raise DeliveryError(
            f"the template has no webhook.{service.name} part for the service {service.name}"
        )
    options = service.options
    url = str(options.get("url") or "").rstrip("/") + str(part.get("path") or "")
    headers = {
        str(h.get("name")): str(h.get("value"))
        for h in options.get("headers") or []
        if isinstance(h, Mapping) and h.get("name")
    }
    auth = options.get("basicAuth")
    basic = (
        (str(auth.get("username")), str(auth.get("password")))
        if isinstance(auth, Mapping)
        else None
    )
    method = str(part.get("method") or "GET").upper()
    await checked_request(
        client,
        method,
        url,
        f"webhook {service.name}",
        service.secrets,
        headers=headers,
        content=str(part.get("body") or "").encode(),
        auth=basic,
    )


def _smtp_send(options: Mapping[str, Any], message: email.message.EmailMessage) -> None:
    host, port = str(options.get("host") or "localhost"), int(options.get("port") or 25)
    context = ssl.create_default_context()
    if options.get("insecure_skip_verify"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    smtp: smtplib.SMTP
    if port == 465:
        smtp = smtplib.SMTP_SSL(host, port, timeout=TIMEOUT_SECONDS, context=context)
    else:
        smtp = smtplib.SMTP(host, port, timeout=TIMEOUT_SECONDS)
    with smtp:
        if port != 465 and smtp.has_extn("starttls"):
            smtp.starttls(context=context)
        if options.get("username"):
            smtp.login(str(options["username"]), str(options.get("password") or ""))
        smtp.send_message(message)


async def send_email(service: Service, rendered: Rendered, recipient: str) -> None:
    """The message to ``recipient`` (addresses joined with ``,``), ``email.subject`` its
    subject; ``html: true`` in the service sends it as HTML."""
    options = service.options
    part = rendered.parts.get("email") or {}
    message = email.message.EmailMessage()
    message["From"] = str(options.get("from") or "argocd@localhost")
    message["To"] = recipient
    message["Subject"] = str(part.get("subject") or "") if isinstance(part, Mapping) else ""
    subtype = "html" if options.get("html") else "plain"
    message.set_content(rendered.message, subtype=subtype)
    try:
        await asyncio.to_thread(_smtp_send, options, message)
    except smtplib.SMTPResponseException as exc:
        text = (
            exc.smtp_error.decode(errors="replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        raise DeliveryError(
            scrub(f"email {service.name}: the server answered {exc.smtp_code} {text}", service),
            retry=400 <= exc.smtp_code < 500,
        ) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(
            scrub(f"email {service.name}: {type(exc).__name__}: {exc}", service), retry=True
        ) from None


# --------------------------------------------------------------------------- Slack

SLACK_API = "https://slack.com/api"
#: the longest ``blocks`` / ``attachments`` JSON read from a template
MAX_SLACK_JSON = 64 * 1024


class SlackThreads:
    """The first message of each (channel, groupingKey): later ones go to its thread."""

    def __init__(self, limit: int = 10_000) -> None:
        self._first: dict[tuple[str, str], str] = {}
        self._limit = limit

    def get(self, channel: str, key: str) -> str | None:
        return self._first.get((channel, key))

    def put(self, channel: str, key: str, ts: str) -> None:
        if len(self._first) >= self._limit:
            self._first.pop(next(iter(self._first)))
        self._first[(channel, key)] = ts


def _slack_json(part: Mapping[str, Any], name: str) -> Any:
    text = part.get(name)
    if not text:
        return None
    if not isinstance(text, str) or len(text) > MAX_SLACK_JSON:
        raise DeliveryError(f"slack.{name}: must be JSON text of at most {MAX_SLACK_JSON} bytes")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise DeliveryError(f"slack.{name}: not valid JSON: {exc}") from None


async def _slack_call(
    service: Service, client: httpx2.AsyncClient, method: str, body: Mapping[str, Any]
) -> Mapping[str, Any]:
    """One Slack Web API call (``chat.postMessage``, ``chat.update``): its answer when ``ok``."""
    base = str(service.options.get("apiURL") or SLACK_API).rstrip("/")
    token = str(service.options.get("token") or "")
    try:
        response = await client.post(
            f"{base}/{method}",
            json=dict(body),
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT_SECONDS,
        )
    except httpx2.HTTPError as exc:
        raise DeliveryError(
            scrub(f"slack {service.name}: {type(exc).__name__}: {exc}", service), retry=True
        ) from None
    if response.status_code == 429 or response.status_code >= 500:
        raise DeliveryError(
            f"slack {service.name}: {method} answered {response.status_code}",
            retry=True,
            retry_after=_retry_after(response),
        )
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or not answer.get("ok"):
        error = answer.get("error") if isinstance(answer, dict) else response.text[:QUOTED]
        raise DeliveryError(scrub(f"slack {service.name}: {method}: {error}", service))
    return answer


async def send_slack(
    service: Service,
    rendered: Rendered,
    channel: str,
    client: httpx2.AsyncClient,
    threads: SlackThreads,
) -> None:
    """``chat.postMessage`` to ``channel`` with the template's ``slack`` part (``attachments``
    and ``blocks`` as JSON text, ``groupingKey`` threads, ``notifyBroadcast``,
    ``deliveryPolicy`` Post, PostAndUpdate or Update), as Argo CD's Slack service."""
    raw = rendered.parts.get("slack")
    part: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    body: dict[str, Any] = {"channel": channel, "text": rendered.message}
    for name in ("attachments", "blocks"):
        value = _slack_json(part, name)
        if value is not None:
            body[name] = value
    options = service.options
    if options.get("username"):
        body["username"] = str(options["username"])
    icon = str(options.get("icon") or "")
    if icon:
        body["icon_emoji" if icon.startswith(":") else "icon_url"] = icon
    key = str(part.get("groupingKey") or "")
    first = threads.get(channel, key) if key else None
    policy = str(part.get("deliveryPolicy") or "Post")
    if first is not None and policy in ("Update", "PostAndUpdate"):
        await _slack_call(service, client, "chat.update", {**body, "ts": first})
        if policy == "Update":
            return
    if first is not None:
        body["thread_ts"] = first
        body["reply_broadcast"] = bool(part.get("notifyBroadcast"))
    answer = await _slack_call(service, client, "chat.postMessage", body)
    if key and first is None and isinstance(answer.get("ts"), str):
        threads.put(channel, key, answer["ts"])
