"""The API served over TLS when given a certificate and key (``--tls-cert``/``--tls-key``)."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest

from tests.server.conftest import Stack
from tether.localcluster.cluster import generate_credentials
from tether.server.app import run_server


@pytest.mark.asyncio(loop_scope="session")
async def test_server_speaks_tls_with_the_given_certificate_and_sets_secure_cookies(
    stack: Stack, tmp_path: Path
) -> None:
    creds = generate_credentials()  # a CA and a certificate for 127.0.0.1
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.write_bytes(creds.cert_pem)
    key.write_bytes(creds.key_pem)
    server = await run_server(
        stack.controller, listen="127.0.0.1:0", tls_cert=str(cert), tls_key=str(key)
    )
    try:
        assert server.url.startswith("https://")
        trusted = ssl.create_default_context(cadata=creds.ca_pem.decode())
        async with httpx.AsyncClient(base_url=server.url, verify=trusted) as http:
            assert (await http.get("/healthz")).status_code == 200
            password = stack.server.admin_password
            answer = await http.post(
                "/api/v1/session", json={"username": "admin", "password": password}
            )
            assert answer.status_code == 200
            assert "secure" in answer.headers["set-cookie"].lower()
        async with httpx.AsyncClient(base_url=server.url) as untrusted:
            with pytest.raises(httpx.ConnectError):
                await untrusted.get("/healthz")
    finally:
        await server.stop()
