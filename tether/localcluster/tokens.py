"""ServiceAccount tokens: JWTs signed with the cluster's own key, checked on every use.

Two kinds, as kube-apiserver issues them:

* bound tokens from the TokenRequest API (``kubectl create token``): issuer
  :data:`ISSUER`, audiences (default: the API server's, :data:`API_AUDIENCES`), ``exp``, and the
  ServiceAccount's name and uid under the ``kubernetes.io`` claim;
* legacy tokens the token controller writes into Secrets of type
  ``kubernetes.io/service-account-token``: issuer ``kubernetes/serviceaccount``, no expiry,
  valid while the Secret still holds them.

A token is valid only while the ServiceAccount exists with the uid it was issued for (and, for a
legacy token, while its Secret exists and holds it): deleting and recreating an account revokes
its tokens.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

ISSUER = "https://kubernetes.default.svc.cluster.local"
LEGACY_ISSUER = "kubernetes/serviceaccount"
API_AUDIENCES = (ISSUER,)
ALGORITHM = "ES256"
#: TokenRequest bounds as kube-apiserver validates them (at least 10 minutes, at most 2^32 s)
MIN_EXPIRATION_SECONDS = 600
MAX_EXPIRATION_SECONDS = 1 << 32
DEFAULT_EXPIRATION_SECONDS = 3600
#: the longest token this server reads before refusing it (a JWT is a few hundred bytes)
MAX_TOKEN_BYTES = 16 * 1024


@dataclass(frozen=True)
class TokenClaims:
    """What a valid token says: the account, when it expires, which Secret holds it (legacy)."""

    namespace: str
    name: str
    uid: str
    expires: float | None
    audiences: tuple[str, ...]
    secret: str | None = None


class TokenIssuer:
    """Signs and verifies ServiceAccount tokens with one ECDSA P-256 key."""

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        self.key = key
        self.public_key = key.public_key()

    def issue(
        self,
        namespace: str,
        name: str,
        uid: str,
        audiences: list[str],
        expiration_seconds: int,
        now: float | None = None,
    ) -> tuple[str, int]:
        """A bound token for the account and its expiry (seconds since the epoch)."""
        issued = int(now if now is not None else time.time())
        expires = issued + expiration_seconds
        claims = {
            "aud": audiences or list(API_AUDIENCES),
            "exp": expires,
            "iat": issued,
            "nbf": issued,
            "iss": ISSUER,
            "jti": str(uuid.uuid4()),
            "sub": f"system:serviceaccount:{namespace}:{name}",
            "kubernetes.io": {
                "namespace": namespace,
                "serviceaccount": {"name": name, "uid": uid},
            },
        }
        return jwt.encode(claims, self.key, algorithm=ALGORITHM), expires

    def issue_legacy(self, namespace: str, name: str, uid: str, secret: str) -> str:
        """A token that never expires, for a ``kubernetes.io/service-account-token`` Secret."""
        claims = {
            "iss": LEGACY_ISSUER,
            "sub": f"system:serviceaccount:{namespace}:{name}",
            "kubernetes.io/serviceaccount/namespace": namespace,
            "kubernetes.io/serviceaccount/secret.name": secret,
            "kubernetes.io/serviceaccount/service-account.name": name,
            "kubernetes.io/serviceaccount/service-account.uid": uid,
        }
        return jwt.encode(claims, self.key, algorithm=ALGORITHM)

    def verify(self, token: str) -> TokenClaims | None:
        """The claims of a token this issuer signed, or None (bad signature, expired, foreign)."""
        if len(token) > MAX_TOKEN_BYTES or token.count(".") != 2:
            return None
        try:
            claims = jwt.decode(
                token,
                self.public_key,
                algorithms=[ALGORITHM],
                options={"verify_aud": False, "require": ["iss", "sub"]},
            )
        except jwt.PyJWTError:
            return None
        if claims.get("iss") == LEGACY_ISSUER:
            return _legacy_claims(claims)
        if claims.get("iss") != ISSUER or "exp" not in claims:
            return None
        return _bound_claims(claims)


def _bound_claims(claims: dict[str, Any]) -> TokenClaims | None:
    info = claims.get("kubernetes.io")
    if not isinstance(info, dict) or not isinstance(info.get("serviceaccount"), dict):
        return None
    aud = claims.get("aud")
    audiences = (aud,) if isinstance(aud, str) else tuple(str(a) for a in aud or [])
    account = info["serviceaccount"]
    return TokenClaims(
        str(info.get("namespace", "")),
        str(account.get("name", "")),
        str(account.get("uid", "")),
        float(claims["exp"]),
        audiences,
    )


def _legacy_claims(claims: dict[str, Any]) -> TokenClaims | None:
    prefix = "kubernetes.io/serviceaccount/"
    try:
        return TokenClaims(
            str(claims[prefix + "namespace"]),
            str(claims[prefix + "service-account.name"]),
            str(claims[prefix + "service-account.uid"]),
            None,
            (),
            secret=str(claims[prefix + "secret.name"]),
        )
    except KeyError:
        return None
