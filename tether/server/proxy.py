"""The address a request comes from: the peer, or behind trusted proxies the forwarded client.

``X-Forwarded-For`` is read only when the peer is a trusted proxy (``ServerSettings.
trusted_proxies``, CIDRs, none by default); anyone else could write any address in it, and the
sign-in lockout counts failures per address. The list is read from the right: each proxy
appends the address it received the request from, so the right-most address that is not a
trusted proxy is the client; addresses left of it were written by the client and are never
used. ``Forwarded`` and ``X-Real-IP`` are not read.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from tether.server.errors import SettingsError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: hops of X-Forwarded-For looked at, right to left (a chain of proxies is never this long)
MAX_FORWARDED_HOPS = 16
FORWARDED_FOR = "x-forwarded-for"


def parse_trusted_proxies(cidrs: str | Iterable[str]) -> tuple[Network, ...]:
    """The networks of ``cidrs`` (``10.0.0.0/8``, ``::1``, ``127.0.0.1``; a list, or one
    comma-separated text); `SettingsError` naming the first one that is not an address or
    network."""
    if isinstance(cidrs, str):
        cidrs = [c for c in cidrs.split(",") if c.strip()]
    networks = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            raise SettingsError(
                f"trusted proxy {cidr!r} is not an IP address or CIDR network "
                "(for example 10.0.0.0/8 or 2001:db8::/32)"
            ) from None
    return tuple(networks)


def parse_address(text: str) -> Address | None:
    """An address as proxies write it (``1.2.3.4``, ``1.2.3.4:5678``, ``[2001:db8::1]:443``,
    ``2001:db8::1``); None for anything else (``unknown``, obfuscated names, garbage)."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, networks: Sequence[Network]) -> bool:
    return any(address in network for network in networks)


def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]
) -> str:
    """The client's address: the peer unless it is a trusted proxy; then the right-most
    ``X-Forwarded-For`` hop that is not a trusted proxy (or, when every hop is trusted or one
    cannot be read, the last trusted address reached)."""
    if peer is None:
        return "unknown"
    current = parse_address(peer)
    if current is None or not trusted or not _trusted(current, trusted):
        return peer
    hops = [hop for header in forwarded_for for hop in header.split(",")]
    for hop in reversed(hops[-MAX_FORWARDED_HOPS:]):
        address = parse_address(hop)
        if address is None:
            break
        current = address
        if not _trusted(address, trusted):
            break
    return str(current)
