"""A fake of Slack's Web API for the notification tests (Slack cannot run here), following its
documented shapes: ``POST /api/chat.postMessage`` and ``/api/chat.update`` with a JSON body and
``Authorization: Bearer <token>``; HTTP 200 with ``{"ok": false, "error": ...}`` for refusals
(``not_authed``, ``invalid_auth``, ``channel_not_found``, ``message_not_found``,
``invalid_blocks``), HTTP 429 with ``Retry-After`` when rate limited; ``ts`` message ids."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeSlack:
    def __init__(self, token: str, channels: set[str]) -> None:
        self.token = token
        self.channels = channels
        self.posted: list[dict[str, Any]] = []
        self.updated: list[dict[str, Any]] = []
        #: answer this many of the next calls with 429
        self.rate_limited = 0
        self._next = 0
        slack = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                status, headers, answer = slack.answer(
                    self.path, self.headers.get("Authorization", ""), body
                )
                data = json.dumps(answer).encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("content-type", "application/json; charset=utf-8")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.api_url = f"http://127.0.0.1:{self.server.server_address[1]}/api"

    def close(self) -> None:
        self.server.shutdown()

    def answer(
        self, path: str, auth: str, body: dict[str, Any]
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        if self.rate_limited:
            self.rate_limited -= 1
            return 429, {"Retry-After": "3"}, {"ok": False, "error": "ratelimited"}
        if not auth.startswith("Bearer "):
            return 200, {}, {"ok": False, "error": "not_authed"}
        if auth != f"Bearer {self.token}":
            return 200, {}, {"ok": False, "error": "invalid_auth"}
        if body.get("channel") not in self.channels:
            return 200, {}, {"ok": False, "error": "channel_not_found"}
        if "blocks" in body and not isinstance(body["blocks"], list):
            return 200, {}, {"ok": False, "error": "invalid_blocks"}
        if path == "/api/chat.postMessage":
            self._next += 1
            ts = f"1700000000.{self._next:06d}"
            self.posted.append({**body, "ts": ts})
            return 200, {}, {"ok": True, "channel": body["channel"], "ts": ts}
        if path == "/api/chat.update":
            if not any(m["ts"] == body.get("ts") for m in self.posted):
                return 200, {}, {"ok": False, "error": "message_not_found"}
            self.updated.append(body)
            return 200, {}, {"ok": True, "channel": body["channel"], "ts": body["ts"]}
        return 404, {}, {"ok": False, "error": "unknown_method"}
