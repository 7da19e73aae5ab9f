"""The lean HTTP/1.1 path: used for static credentials, chunked bodies, stale keep-alive."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace

import pytest
import pytest_asyncio

from tether.cluster.client import ClusterClient
from tether.cluster.fasthttp import FastHTTP, static_auth_header
from tether.localcluster.cluster import LocalCluster

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], object]


@pytest_asyncio.fixture(loop_scope="session")
async def raw_server() -> AsyncIterator[Callable[[Handler], asyncio.Future[int]]]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> int:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)  # type: ignore[arg-type]
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield start  # type: ignore[misc]
    for server in servers:
        server.close()
        await server.wait_closed()


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    if length:
        await reader.readexactly(length)
    return head


@pytest.mark.asyncio(loop_scope="session")
async def test_token_kubeconfig_uses_the_lean_path_and_talks_to_the_cluster(
    local_cluster: LocalCluster,
) -> None:
    async with ClusterClient.from_kubeconfig(str(local_cluster.kubeconfig)) as client:
        assert client.transport.uses_fast_path
        info = await client.resource_for("v1", "Namespace")
        assert (await client.get(info, "default"))["metadata"]["name"] == "default"


def test_dynamic_credentials_stay_on_httpx() -> None:
    user = SimpleNamespace(
        exec={"command": "x"},
        auth_provider=None,
        token_file=None,
        token=None,
        username=None,
        password=None,
    )
    assert static_auth_header(user) is False
    user = SimpleNamespace(
        exec=None,
        auth_provider=None,
        token_file="/var/run/token",
        token=None,
        username=None,
        password=None,
    )
    assert static_auth_header(user) is False
    user = SimpleNamespace(
        exec=None, auth_provider=None, token_file=None, token="t", username=None, password=None
    )
    assert static_auth_header(user) == "Bearer t"


@pytest.mark.asyncio(loop_scope="session")
async def test_chunked_answers_are_decoded(
    raw_server: Callable[[Handler], asyncio.Future[int]],
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                await _read_request(reader)
            except asyncio.IncompleteReadError:
                return
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            writer.write(b'5\r\n{"a":\r\n3\r\n42}\r\n0\r\n\r\n')
            await writer.drain()

    port = await raw_server(handler)
    fast = FastHTTP(f"http://127.0.0.1:{port}", None, {})
    for _ in range(2):  # the second request reuses the kept-alive connection
        response = await fast.request("GET", "/x")
        assert response.status_code == 200
        assert response.json() == {"a": 42}
    await fast.aclose()


@pytest.mark.asyncio(loop_scope="session")
async def test_a_kept_alive_connection_the_server_closed_is_replaced(
    raw_server: Callable[[Handler], asyncio.Future[int]],
) -> None:
    served = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        await _read_request(reader)
        served += 1
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()  # closes without saying so: the client finds out on its next request

    port = await raw_server(handler)
    fast = FastHTTP(f"http://127.0.0.1:{port}", None, {})
    assert (await fast.request("GET", "/a")).content == b"ok"
    await asyncio.sleep(0.05)  # let the close reach the client's socket
    assert (await fast.request("POST", "/b", content=b"{}")).content == b"ok"
    assert served == 2
    await fast.aclose()
