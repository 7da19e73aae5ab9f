"""Who is asking: bearer tokens, ServiceAccount tokens, client certificates, impersonation.

As kube-apiserver with anonymous requests turned off (``--anonymous-auth=false``): a request with
no credentials, or with a token nobody issued, is 401 Unauthorized. Every authenticated user is
in ``system:authenticated``; a ServiceAccount is ``system:serviceaccount:<ns>:<name>`` in
``system:serviceaccounts`` and ``system:serviceaccounts:<ns>``; a client certificate signed by the
cluster CA names the user in its CN and the groups in its O entries.

Impersonation (``Impersonate-User``, ``-Group``, ``-Uid``, ``-Extra-<key>``) is checked against
the ``impersonate`` verb on ``users``, ``groups``, ``serviceaccounts`` (core group),
``uids`` and ``userextras/<key>`` (``authentication.k8s.io``) for the caller; the request then
runs as the impersonated identity.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from tether.localcluster import apierrors
from tether.localcluster.apierrors import ApiError
from tether.localcluster.bootstrap import AUTHENTICATED, UNAUTHENTICATED
from tether.localcluster.rbac import SA_PREFIX, Decision, Identity, service_account_user
from tether.localcluster.requestinfo import Attributes
from tether.localcluster.store import Store
from tether.localcluster.tokens import API_AUDIENCES, TokenClaims, TokenIssuer

SERVICE_ACCOUNTS = ("", "serviceaccounts")
SECRETS = ("", "secrets")
ANONYMOUS = "system:anonymous"
#: the ASGI scope key where the TLS layer leaves a verified client certificate's (CN, O entries)
CLIENT_CERT_SCOPE_KEY = "tether.client_cert"
#: verified tokens remembered (the signature is checked once; account and expiry on every use)
TOKEN_CACHE_LIMIT = 10_000
#: Impersonate-* headers read at most (a request with more is refused, not parsed forever)
MAX_IMPERSONATION_HEADERS = 100


def service_account_identity(namespace: str, name: str, uid: str = "") -> Identity:
    """The user a ServiceAccount's token authenticates as."""
    return Identity(
        service_account_user(namespace, name),
        ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", AUTHENTICATED),
        uid,
    )


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


class Authenticator:
    """Turns a request's credentials into an :class:`Identity` (or 401)."""

    def __init__(self, store: Store, static: dict[str, Identity], issuer: TokenIssuer) -> None:
        self.store = store
        self.static = static
        self.issuer = issuer
        self._verified: dict[str, tuple[TokenClaims, Identity]] = {}

    def authenticate(self, scope: dict[str, Any], authorization: str | None) -> Identity:
        """The caller's identity from its bearer token or its client certificate."""
        if authorization is not None:
            if not authorization.startswith("Bearer "):
                raise unauthorized()
            identity = self.from_token(authorization[7:].strip())
            if identity is None:
                raise unauthorized()
            return identity
        cert = scope.get(CLIENT_CERT_SCOPE_KEY)
        if cert is not None:
            common_name, organizations = cert
            if common_name:
                return Identity(common_name, (*organizations, AUTHENTICATED))
        raise unauthorized()

    def from_token(self, token: str, audiences: tuple[str, ...] = API_AUDIENCES) -> Identity | None:
        """The identity a token stands for now, or None (unknown, expired, account gone)."""
        identity = self.static.get(token)
        if identity is not None:
            return identity
        known = self._verified.get(token)
        if known is None:
            claims = self.issuer.verify(token)
            if claims is None:
                return None
            if len(self._verified) >= TOKEN_CACHE_LIMIT:
                self._verified.clear()
            identity = service_account_identity(claims.namespace, claims.name, claims.uid)
            known = self._verified[token] = (claims, identity)
        claims, identity = known
        if claims.expires is not None and claims.expires <= time.time():
            self._verified.pop(token, None)
            return None
        if claims.audiences and not any(a in claims.audiences for a in audiences):
            return None
        if not self._account_current(claims, token):
            return None
        return identity

    def _account_current(self, claims: TokenClaims, token: str) -> bool:
        account = self.store.get(SERVICE_ACCOUNTS, claims.namespace, claims.name)
        if account is None or account["metadata"].get("uid") != claims.uid:
            return False
        if account["metadata"].get("deletionTimestamp"):
            return False
        if claims.secret is None:
            return True
        secret = self.store.get(SECRETS, claims.namespace, claims.secret)
        if secret is None:
            return False
        return bool(_secret_token(secret) == token)


def _secret_token(secret: dict[str, Any]) -> str | None:
    value = (secret.get("data") or {}).get("token")
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value).decode()
    except ValueError:
        return None


Authorize = Callable[[Identity, Attributes], Decision]
Forbid = Callable[[Identity, Attributes, str], ApiError]


def impersonate(
    caller: Identity, headers: list[tuple[bytes, bytes]], authorize: Authorize, forbid: Forbid
) -> Identity:
    """The identity the request runs as: ``caller``, or whom its Impersonate-* headers name
    (each one authorized for ``caller`` with the ``impersonate`` verb first)."""
    user, groups, uid, extra = _impersonation_headers(headers)
    if user is None:
        if groups or uid is not None or extra:
            raise apierrors.internal(
                "requested impersonation of groups, uid or extra without a user"
            )
        return caller
    for attrs in _impersonation_checks(user, groups, uid, extra):
        decision = authorize(caller, attrs)
        if not decision.allowed:
            raise forbid(caller, attrs, decision.reason)
    if user.startswith(SA_PREFIX) and not groups:
        parts = user[len(SA_PREFIX) :].split(":", 1)
        if len(parts) == 2:
            groups = ["system:serviceaccounts", f"system:serviceaccounts:{parts[0]}"]
    marker = UNAUTHENTICATED if user == ANONYMOUS else AUTHENTICATED
    if marker not in groups:
        groups.append(marker)
    frozen_extra = tuple((k, tuple(v)) for k, v in sorted(extra.items()))
    return Identity(user, tuple(groups), uid or "", frozen_extra)


def _impersonation_headers(
    headers: list[tuple[bytes, bytes]],
) -> tuple[str | None, list[str], str | None, dict[str, list[str]]]:
    user: str | None = None
    uid: str | None = None
    groups: list[str] = []
    extra: dict[str, list[str]] = {}
    seen = 0
    for raw_key, raw_value in headers:
        if not raw_key.startswith(b"impersonate-"):
            continue
        seen += 1
        if seen > MAX_IMPERSONATION_HEADERS:
            raise apierrors.bad_request(
                f"at most {MAX_IMPERSONATION_HEADERS} Impersonate-* headers are accepted"
            )
        key, value = raw_key.decode("latin-1"), raw_value.decode("latin-1").strip()
        if key == "impersonate-user":
            user = value
        elif key == "impersonate-group":
            groups.append(value)
        elif key == "impersonate-uid":
            uid = value
        elif key.startswith("impersonate-extra-"):
            extra.setdefault(unquote(key[len("impersonate-extra-") :]), []).append(value)
    return user, groups, uid, extra


def _impersonation_checks(
    user: str, groups: list[str], uid: str | None, extra: dict[str, list[str]]
) -> list[Attributes]:
    """The ``impersonate`` questions kube-apiserver asks, in its order."""
    checks: list[Attributes] = []
    if user.startswith(SA_PREFIX) and len(user[len(SA_PREFIX) :].split(":")) == 2:
        namespace, name = user[len(SA_PREFIX) :].split(":")
        checks.append(Attributes("impersonate", True, namespace, "", "serviceaccounts", "", name))
    else:
        checks.append(Attributes("impersonate", True, "", "", "users", "", user))
    for group in groups:
        checks.append(Attributes("impersonate", True, "", "", "groups", "", group))
    if uid is not None:
        checks.append(Attributes("impersonate", True, "", "authentication.k8s.io", "uids", "", uid))
    for key, values in extra.items():
        for value in values:
            checks.append(
                Attributes(
                    "impersonate", True, "", "authentication.k8s.io", "userextras", key, value
                )
            )
    return checks
