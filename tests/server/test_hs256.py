"""The API server's HS256 token codec, checked against PyJWT (the reference implementation)."""

from __future__ import annotations

import base64
import time
from typing import Any

import jwt
import orjson
import pytest

from tether.server import hs256

KEY = b"k" * 64
NOW = 1_800_000_000


def _claims(**extra: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": "tether",
        "aud": "tether",
        "sub": "admin",
        "iat": NOW,
        "nbf": NOW,
        "exp": NOW + 600,
        "jti": "j",
        "typ": "session",
    }
    claims.update(extra)
    return claims


def _decode(token: str, now: float = NOW + 1) -> dict[str, Any]:
    return hs256.decode(
        token, KEY, audience="tether", issuer="tether", require=("sub", "jti"), now=now
    )


def _segment(value: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).rstrip(b"=").decode()


def test_tokens_of_either_codec_verify_in_the_other() -> None:
    ours = hs256.encode(_claims(), KEY)
    assert jwt.get_unverified_header(ours) == {"alg": "HS256", "typ": "JWT"}
    decoded = jwt.decode(
        ours,
        KEY,
        algorithms=["HS256"],
        audience="tether",
        issuer="tether",
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )
    assert decoded == _claims()
    theirs = jwt.encode(_claims(aud=["other", "tether"]), KEY, algorithm="HS256")
    assert _decode(theirs)["aud"] == ["other", "tether"]


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (jwt.encode(_claims(), b"x" * 64, algorithm="HS256"), "signature"),
        (jwt.encode(_claims(), None, algorithm="none"), "algorithm"),
        (jwt.encode(_claims(), KEY, algorithm="HS512"), "algorithm"),
        (jwt.encode(_claims(aud="argocd"), KEY, algorithm="HS256"), "audience"),
        (jwt.encode(_claims(aud=None), KEY, algorithm="HS256"), "audience"),
        (jwt.encode(_claims(iss="dex"), KEY, algorithm="HS256"), "issuer"),
        (jwt.encode(_claims(nbf=NOW + 60), KEY, algorithm="HS256"), "nbf"),
        (jwt.encode(_claims(iat=NOW + 60), KEY, algorithm="HS256"), "iat"),
        (jwt.encode(_claims(iat="yesterday"), KEY, algorithm="HS256"), "iat"),
        (jwt.encode(_claims(exp=True), KEY, algorithm="HS256"), "exp"),
        (jwt.encode({"aud": "tether", "iss": "tether"}, KEY, algorithm="HS256"), "no sub"),
        ("garbage", "not a signed token"),
        ("a.b.c.d", "not a signed token"),
        ("%%%.%%%.%%%", "base64url"),
        (_segment({"alg": "HS256"}) + "." + _segment([1, 2]) + ".AAAA", "signature"),
        (_segment({"alg": "HS256"}) + "." + _segment([1, 2]) + ".A", "base64url"),
        ("a" * 9000, "too long"),
    ],
)
def test_what_is_not_valid_is_refused_naming_why(token: str, message: str) -> None:
    with pytest.raises(hs256.TokenError, match=message):
        _decode(token)


def test_a_changed_payload_breaks_the_signature() -> None:
    header, _payload, signature = hs256.encode(_claims(), KEY).split(".")
    tampered = f"{header}.{_segment(_claims(sub='mallory'))}.{signature}"
    with pytest.raises(hs256.TokenError, match="signature"):
        _decode(tampered)


def test_a_signed_payload_that_is_not_an_object_is_refused() -> None:
    signing_input = _segment({"alg": "HS256"}) + "." + _segment([1, 2])
    token = jwt.api_jws.encode(orjson.dumps([1, 2]), KEY, algorithm="HS256")
    assert token.split(".")[1] == signing_input.split(".")[1]
    with pytest.raises(hs256.TokenError, match="not a JSON object"):
        _decode(token)


def test_expiry_is_told_apart_and_the_clock_is_the_real_one_by_default() -> None:
    token = hs256.encode(_claims(), KEY)
    with pytest.raises(hs256.TokenExpired):
        _decode(token, now=NOW + 600)
    assert _decode(token, now=NOW + 599)["sub"] == "admin"
    fresh = int(time.time())
    live = hs256.encode(_claims(iat=fresh, nbf=fresh, exp=fresh + 60), KEY)
    assert hs256.decode(live, KEY, audience="tether", issuer="tether")["exp"] == fresh + 60
