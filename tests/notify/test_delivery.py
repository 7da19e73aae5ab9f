"""Delivering notifications to real parts on loopback: a webhook receiver (programmable answers)
and aiosmtpd's SMTP server; retries on 5xx and 429 (Retry-After followed), none on 4xx, secrets
never in an error, a full queue refusing at once."""

from __future__ import annotations

import asyncio
import base64
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx2
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message

from tests.notify.fakeslack import FakeSlack
from tether.notify.config import parse_service
from tether.notify.delivery import Delivery, DeliverySettings
from tether.notify.senders import (
    DeliveryError,
    Rendered,
    SlackThreads,
    send_email,
    send_slack,
    send_webhook,
)

pytestmark = pytest.mark.asyncio

TOKEN = "s3cret-webhook-token"


class Receiver:
    """A loopback HTTP server answering each request with the next of ``answers``."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answers: list[tuple[int, dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                receiver.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": self.rfile.read(length).decode(),
                    }
                )
                status, headers, body = (
                    receiver.answers.pop(0) if receiver.answers else (200, {}, b"ok")
                )
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.server.shutdown()


def webhook_service(url: str) -> Any:
    text = (
        f"url: {url}/hooks\nheaders:\n- name: X-Token\n  value: Bearer $token\n"
        "basicAuth:\n  username: cd\n  password: $token\n"
    )
    return parse_service("service.webhook.deploys", text, {"token": TOKEN})


RENDERED = Rendered(
    "synced", {"webhook": {"deploys": {"method": "POST", "path": "/shop", "body": '{"a":1}'}}}
)


async def test_a_webhook_gets_its_method_path_body_headers_and_login(receiver: Receiver) -> None:
    async with httpx2.AsyncClient() as client:
        await send_webhook(webhook_service(receiver.url), RENDERED, client)
    (request,) = receiver.requests
    assert (request["method"], request["path"], request["body"]) == (
        "POST",
        "/hooks/shop",
        '{"a":1}',
    )
    assert request["headers"]["X-Token"] == f"Bearer {TOKEN}"
    login = base64.b64encode(f"cd:{TOKEN}".encode()).decode()
    assert request["headers"]["Authorization"] == f"Basic {login}"


async def test_a_refusal_names_the_answer_without_the_secret(receiver: Receiver) -> None:
    receiver.answers = [(400, {}, f"bad token {TOKEN}".encode())]
    async with httpx2.AsyncClient() as client:
        with pytest.raises(DeliveryError) as caught:
            await send_webhook(webhook_service(receiver.url), RENDERED, client)
    assert not caught.value.retry
    assert caught.value.message == "webhook deploys: POST answered 400: bad token ***"


async def test_server_errors_and_rate_limits_are_retried_then_delivered(
    receiver: Receiver,
) -> None:
    receiver.answers = [(500, {}, b"down"), (429, {"Retry-After": "7"}, b"slow down")]
    waited: list[float] = []

    async def sleep(seconds: float) -> None:
        waited.append(seconds)

    delivery = Delivery(DeliverySettings(workers=1), sleep=sleep)
    delivery.start()
    outcomes: list[tuple[bool, str]] = []
    async with httpx2.AsyncClient() as client:
        service = webhook_service(receiver.url)
        delivery.submit(
            "shop/on-sync-succeeded/deploys",
            lambda: send_webhook(service, RENDERED, client),
            lambda ok, error: outcomes.append((ok, error)),
        )
        await delivery.idle()
    await delivery.stop()
    assert outcomes == [(True, "")] and len(receiver.requests) == 3
    assert waited == [1.0, 7.0]  # the backoff, then the service's Retry-After
    assert (delivery.stats.delivered, delivery.stats.retried) == (1, 2)


async def test_a_full_queue_refuses_at_once() -> None:
    delivery = Delivery(DeliverySettings(queue_size=1, workers=1))

    async def never() -> None:
        await asyncio.sleep(3600)

    assert delivery.submit("first", never)
    assert not delivery.submit("second", never)
    assert delivery.stats.dropped == 1


async def test_an_email_reaches_a_real_smtp_server() -> None:
    received: list[Any] = []

    class Collect(Message):
        def handle_message(self, message: Any) -> None:
            received.append(message)

    with socket.socket() as probe:  # a free port for the server
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    smtp = Controller(Collect(), hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        service = parse_service(
            "service.email.ops", f"host: 127.0.0.1\nport: {port}\nfrom: cd@example.com\n", {}
        )
        rendered = Rendered("Application shop is synced.", {"email": {"subject": "Synced shop"}})
        await send_email(service, rendered, "ops@example.com")
    finally:
        smtp.stop()
    (mail,) = received
    assert (mail["From"], mail["To"], mail["Subject"]) == (
        "cd@example.com",
        "ops@example.com",
        "Synced shop",
    )
    assert mail.get_payload().strip() == "Application shop is synced."


SLACK_TOKEN = "xoxb-fake-token"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack(SLACK_TOKEN, {"deploys"})
    yield fake
    fake.close()


def slack_service(api_url: str, token: str = "$slack-token") -> Any:
    text = f"token: {token}\napiURL: {api_url}\nusername: Tether\nicon: ':rocket:'\n"
    return parse_service("service.slack", text, {"slack-token": SLACK_TOKEN})


async def test_slack_messages_thread_by_grouping_key(slack: FakeSlack) -> None:
    service, threads = slack_service(slack.api_url), SlackThreads()
    part = {"groupingKey": "shop", "notifyBroadcast": True, "blocks": '[{"type": "divider"}]'}
    async with httpx2.AsyncClient() as client:
        for text in ("sync started", "sync succeeded"):
            await send_slack(service, Rendered(text, {"slack": part}), "deploys", client, threads)
    first, second = slack.posted
    assert (first["text"], first["username"], first["icon_emoji"]) == (
        "sync started",
        "Tether",
        ":rocket:",
    )
    assert first["blocks"] == [{"type": "divider"}] and "thread_ts" not in first
    assert second["thread_ts"] == first["ts"] and second["reply_broadcast"] is True


async def test_slack_refusals_are_clear_and_rate_limits_retried(slack: FakeSlack) -> None:
    async with httpx2.AsyncClient() as client:
        with pytest.raises(DeliveryError, match=r"chat\.postMessage: channel_not_found"):
            await send_slack(
                slack_service(slack.api_url), Rendered("x"), "nope", client, SlackThreads()
            )
        with pytest.raises(DeliveryError, match="invalid_auth") as caught:
            await send_slack(
                slack_service(slack.api_url, "wrong"), Rendered("x"), "deploys", client,
                SlackThreads(),
            )  # fmt: skip
        assert not caught.value.retry
        slack.rate_limited = 1
        with pytest.raises(DeliveryError) as limited:
            await send_slack(
                slack_service(slack.api_url), Rendered("x"), "deploys", client, SlackThreads()
            )
        assert limited.value.retry and limited.value.retry_after == 3.0
        with pytest.raises(DeliveryError, match=r"slack\.blocks: not valid JSON"):
            bad = Rendered("x", {"slack": {"blocks": "[oops"}})
            await send_slack(slack_service(slack.api_url), bad, "deploys", client, SlackThreads())
