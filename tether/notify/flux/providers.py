"""Sending one Flux event to one Provider, as Flux's notification-controller encodes it.

- ``generic``: a POST of the event JSON to the address, with the ``Gotk-Component`` header and
  the Secret's ``headers`` (YAML ``Name: value`` lines);
- ``generic-hmac``: the same, signed: ``X-Signature: sha256=<hex HMAC of the body>`` keyed with
  the Secret's ``token``;
- ``slack``: an attachment (green for info, red for errors; the involved object as author, the
  metadata as fields) posted to the address: Slack's ``chat.postMessage`` with the Secret's
  ``token`` as bearer (and ``channel``), or an incoming webhook URL.

The Secret's ``address`` and ``username`` override the spec's. A failure raises DeliveryError
(``retry`` for a connection error, ``429`` and ``5xx``); secrets are scrubbed from messages.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx2
import orjson
import yaml

from tether import safeyaml
from tether.notify.flux.models import FluxEvent, Provider
from tether.notify.senders import DeliveryError, checked_request

MAX_HEADERS = 50


def _headers(secret: Mapping[str, str], where: str) -> dict[str, str]:
    text = secret.get("headers")
    if not text:
        return {}
    try:
        found = safeyaml.load(text.encode())
    except (yaml.YAMLError, UnicodeDecodeError):
        raise DeliveryError(f"{where}: the Secret's headers are not YAML") from None
    if not isinstance(found, dict) or len(found) > MAX_HEADERS:
        raise DeliveryError(f"{where}: the Secret's headers must map at most {MAX_HEADERS} names")
    return {str(k): str(v) for k, v in found.items()}


def _address(provider: Provider, secret: Mapping[str, str], where: str) -> str:
    address = (secret.get("address") or provider.address).strip()
    try:
        scheme = urlsplit(address).scheme
    except ValueError:
        scheme = ""
    if scheme not in ("http", "https"):
        raise DeliveryError(f"{where}: the address is not an http(s) URL")
    return address


def slack_payload(
    provider: Provider, secret: Mapping[str, str], event: FluxEvent
) -> dict[str, Any]:
    obj = event.involved
    fields = [{"title": k, "value": v, "short": False} for k, v in sorted(event.metadata.items())]
    body: dict[str, Any] = {
        "username": secret.get("username") or provider.username or event.reporting_controller,
        "attachments": [
            {
                "color": "danger" if event.severity == "error" else "good",
                "author_name": f"{obj.kind}/{obj.name}.{obj.namespace}",
                "text": event.message,
                "mrkdwn_in": ["text"],
                **({"fields": fields} if fields else {}),
            }
        ],
    }
    if provider.channel:
        body["channel"] = provider.channel
    return body


async def send(
    provider: Provider,
    secret: Mapping[str, str],
    event: FluxEvent,
    client: httpx2.AsyncClient,
) -> None:
    where = f"Provider {provider.namespace}/{provider.name} ({provider.type})"
    secrets = [v for v in secret.values() if v]
    address = _address(provider, secret, where)
    headers = {"Content-Type": "application/json", "Gotk-Component": event.reporting_controller}
    if provider.type == "slack":
        body = orjson.dumps(slack_payload(provider, secret, event))
        if secret.get("token"):
            headers["Authorization"] = f"Bearer {secret['token']}"
    else:
        body = orjson.dumps(event.document())
        headers.update(_headers(secret, where))
        if provider.type == "generic-hmac":
            if not secret.get("token"):
                raise DeliveryError(f"{where}: generic-hmac needs a token in its Secret")
            digest = hmac.new(secret["token"].encode(), body, hashlib.sha256).hexdigest()
            headers["X-Signature"] = f"sha256={digest}"
    response = await checked_request(
        client, "POST", address, where, secrets, provider.timeout, headers=headers, content=body
    )
    if provider.type == "slack" and response.headers.get("content-type", "").startswith(
        "application/json"
    ):
        answer = response.json()
        if isinstance(answer, dict) and answer.get("ok") is False:
            raise DeliveryError(f"{where}: Slack answered {str(answer.get('error'))[:100]}")
