"""X-Forwarded-For is believed only from configured proxies: the sign-in lockout cannot be
escaped by writing another address in the header, and behind a trusted proxy the right-most
untrusted hop is the client."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from tests.server.conftest import Stack
from tether.server import ServerSettings, run_server
from tether.server.errors import SettingsError
from tether.server.proxy import client_address, parse_address, parse_trusted_proxies

ON_STACK = pytest.mark.asyncio(loop_scope="session")

TRUSTED = parse_trusted_proxies(["127.0.0.1/32", "10.0.0.0/8", "2001:db8::/32"])


@pytest.mark.parametrize(
    ("peer", "header", "client"),
    [
        # an untrusted peer is the client, whatever it writes
        ("198.51.100.1", "203.0.113.5", "198.51.100.1"),
        # a trusted peer: the right-most hop that is not a trusted proxy
        ("127.0.0.1", "203.0.113.5", "203.0.113.5"),
        ("127.0.0.1", "6.6.6.6, 203.0.113.5", "203.0.113.5"),
        ("127.0.0.1", "6.6.6.6, 203.0.113.5, 10.1.2.3", "203.0.113.5"),
        ("127.0.0.1", "203.0.113.5:4711, 10.1.2.3", "203.0.113.5"),
        ("127.0.0.1", "[2001:db9::7]:443", "2001:db9::7"),
        ("127.0.0.1", "2001:db8::1, 2001:db9::7", "2001:db9::7"),
        # every hop trusted: the furthest one; no header: the peer
        ("127.0.0.1", "10.0.0.9, 10.0.0.8", "10.0.0.9"),
        ("127.0.0.1", "", "127.0.0.1"),
        # a hop that is not an address stops the walk at the last trusted one
        ("127.0.0.1", "203.0.113.5, unknown", "127.0.0.1"),
        ("127.0.0.1", "203.0.113.5, garbage, 10.0.0.2", "10.0.0.2"),
        ("::ffff:127.0.0.1", "203.0.113.5", "203.0.113.5"),
    ],
)
def test_the_client_is_the_right_most_untrusted_hop(peer: str, header: str, client: str) -> None:
    assert client_address(peer, [header] if header else [], TRUSTED) == client


def test_without_trusted_proxies_the_header_is_never_read() -> None:
    assert client_address("127.0.0.1", ["203.0.113.5"], ()) == "127.0.0.1"
    assert parse_trusted_proxies("") == ()


def test_several_headers_are_one_list_and_only_the_last_hops_are_read() -> None:
    assert client_address("127.0.0.1", ["1.1.1.1", "203.0.113.5"], TRUSTED) == "203.0.113.5"
    padded = ", ".join(["10.0.0.1"] * 100)
    assert client_address("127.0.0.1", [f"203.0.113.5, {padded}"], TRUSTED) == "10.0.0.1"


def test_addresses_and_settings_are_parsed_strictly() -> None:
    assert parse_address("not-an-ip") is None and parse_address("") is None
    assert str(parse_address(" 192.0.2.1:80 ")) == "192.0.2.1"
    assert len(parse_trusted_proxies("10.0.0.0/8, ::1")) == 2
    with pytest.raises(SettingsError, match=r"'10\.0\.0\.0/33' is not an IP address"):
        parse_trusted_proxies(["10.0.0.0/33"])


@contextlib.asynccontextmanager
async def _server(stack: Stack, trusted_proxies: tuple[str, ...] = ()) -> AsyncIterator[str]:
    """A server of its own (its own lockout counts, a long lockout) over the stack's controller."""
    settings = ServerSettings(login_lockout_seconds=600, trusted_proxies=trusted_proxies)
    server = await run_server(stack.controller, listen="127.0.0.1:0", settings=settings)
    try:
        yield server.url
    finally:
        await server.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def direct(stack: Stack) -> AsyncIterator[str]:
    """The default settings: no trusted proxy."""
    async with _server(stack) as url:
        yield url


@pytest_asyncio.fixture(loop_scope="session")
async def behind_proxy(stack: Stack) -> AsyncIterator[str]:
    """Trusting loopback (where the test connects from) and 10.0.0.0/8."""
    async with _server(stack, ("127.0.0.1/32", "10.0.0.0/8")) as url:
        yield url


async def _fail(http: httpx.AsyncClient, forwarded: str) -> int:
    """One failed sign-in from the given X-Forwarded-For, under a name never used before (so
    only the per-address count can lock it out)."""
    answer = await http.post(
        "/api/v1/session",
        json={"username": f"nobody-{uuid.uuid4().hex[:8]}", "password": "wrong-password"},
        headers={"X-Forwarded-For": forwarded, "X-Real-IP": forwarded, "Forwarded": "for=1.1.1.1"},
    )
    assert answer.status_code in (401, 429), answer.text
    return answer.status_code


@ON_STACK
async def test_rotating_x_forwarded_for_does_not_escape_the_lockout(direct: str) -> None:
    async with httpx.AsyncClient(base_url=direct, timeout=30) as http:
        codes = [await _fail(http, f"203.0.113.{i}") for i in range(1, 7)]
    assert codes == [401] * 5 + [429]


@ON_STACK
async def test_behind_a_trusted_proxy_the_forwarded_client_is_counted(behind_proxy: str) -> None:
    async with httpx.AsyncClient(base_url=behind_proxy, timeout=30) as http:
        # the client spoofs the left part; the proxy appended its real address
        codes = [await _fail(http, f"6.6.6.{i}, 198.51.100.7") for i in range(5)]
        assert codes == [401] * 5
        assert await _fail(http, "7.7.7.7, 198.51.100.7, 10.0.0.3") == 429
        # another client behind the same proxy is not locked out
        assert await _fail(http, "198.51.100.8") == 401
