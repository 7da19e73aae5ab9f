"""HS256 JSON Web Tokens (RFC 7519, JWS compact form of RFC 7515): the one kind the API server
issues and accepts.

A codec of its own rather than PyJWT's: PyJWT loads ``cryptography`` for its asymmetric
algorithms whether or not they are used, ~9 MiB of resident memory in every controller for an
algorithm (HMAC-SHA256) the standard library has. Only ``alg: HS256`` is accepted — no ``none``,
no key confusion — the signature is checked before a claim is read, and the claims are checked as
PyJWT checks them (``exp``, ``nbf``, ``iat``, ``aud``, ``iss``, required names). Tokens made by
PyJWT with the same key verify here and the other way round (tests/server/test_access.py).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

ALGORITHM = "HS256"
MAX_TOKEN_BYTES = 8192  # far above any token Tether issues; bounds the work of a hostile one
_HEADER = {"alg": ALGORITHM, "typ": "JWT"}


class TokenError(Exception):
    """The token is not one this server issued, or no longer valid."""


class TokenExpired(TokenError):
    """Signed by this server, past its ``exp``."""


def encode(claims: Mapping[str, Any], key: bytes) -> str:
    signing_input = _b64(orjson.dumps(_HEADER)) + b"." + _b64(orjson.dumps(dict(claims)))
    signature = hmac.new(key, signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + _b64(signature)).decode("ascii")


def decode(
    token: str,
    key: bytes,
    *,
    audience: str,
    issuer: str,
    require: Iterable[str] = (),
    now: float | None = None,
) -> dict[str, Any]:
    """The claims of ``token``; :class:`TokenError` unless it is valid now."""
    raw = token.encode("utf-8", "replace")
    if len(raw) > MAX_TOKEN_BYTES:
        raise TokenError("the token is too long")
    parts = raw.split(b".")
    if len(parts) != 3:
        raise TokenError("not a signed token")
    header = _json_object(parts[0])
    if header.get("alg") != ALGORITHM:
        raise TokenError("the token's algorithm is not HS256")
    expected = hmac.new(key, parts[0] + b"." + parts[1], hashlib.sha256).digest()
    if not hmac.compare_digest(expected, _unb64(parts[2])):
        raise TokenError("the signature does not match")
    claims = _json_object(parts[1])
    _check_claims(claims, audience, issuer, require, time.time() if now is None else now)
    return claims


def _check_claims(
    claims: dict[str, Any], audience: str, issuer: str, require: Iterable[str], now: float
) -> None:
    for name in require:
        if name not in claims:
            raise TokenError(f"the token has no {name} claim")
    if "iat" in claims:
        iat = _number(claims, "iat")
        if iat > now:
            raise TokenError("the token is not yet valid (iat)")
    if "nbf" in claims and _number(claims, "nbf") > now:
        raise TokenError("the token is not yet valid (nbf)")
    if "exp" in claims and _number(claims, "exp") <= now:
        raise TokenExpired("the token has expired")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud
    if not isinstance(audiences, list) or audience not in audiences:
        raise TokenError("the token is for another audience")
    if claims.get("iss") != issuer:
        raise TokenError("the token is from another issuer")


def _number(claims: dict[str, Any], name: str) -> float:
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenError(f"the token's {name} claim is not a number")
    return float(value)


def _json_object(segment: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(_unb64(segment))
    except orjson.JSONDecodeError:
        raise TokenError("the token is not JSON") from None
    if not isinstance(value, dict):
        raise TokenError("the token is not a JSON object")
    return value


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _unb64(segment: bytes) -> bytes:
    try:
        padded = segment + b"=" * (-len(segment) % 4)
        return base64.b64decode(padded, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise TokenError("the token is not base64url") from None
