"""Local accounts, passwords, signed tokens and the sign-in rate limit.

State lives in the cluster, as Argo CD keeps it in ``argocd-secret`` and ``argocd-cm``:

* Secret ``tether-secret`` (control namespace): ``admin.passwordHash`` and
  ``admin.passwordMtime``, ``server.secretkey`` (the token signing key), per extra account
  ``accounts.<name>.password`` (a hash), ``accounts.<name>.passwordMtime`` and
  ``accounts.<name>.tokens`` (JSON list of the API tokens issued: id, issuedAt, expiresAt).
* Secret ``argocd-initial-admin-secret`` (control namespace), key ``password``: the generated
  first admin password in clear text, as Argo CD writes it, created only when it is generated.
* ConfigMap ``argocd-cm``: ``accounts.<name>: apiKey, login`` declares an extra account and
  what it may do; ``accounts.<name>.enabled: "false"`` and ``admin.enabled: "false"`` switch
  accounts off.

Passwords are hashed with argon2id (in a thread: hashing is deliberately slow). Tokens are HS256
JWTs signed with ``server.secretkey``; a sign-in token expires after the session lifetime and is
refused once the password changes; an API token is valid while its id is listed.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import logging
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from tether.cluster.client import ClusterClient
from tether.cluster.errors import AlreadyExists, Conflict, NotFound
from tether.names import (
    INITIAL_ADMIN_PASSWORD_KEY,
    INITIAL_ADMIN_SECRET,
    SERVER_FIELD_MANAGER,
    SERVER_SECRET,
)
from tether.server import hs256
from tether.server.errors import ApiError, NotFoundError, TooManyRequests, Unauthenticated

log = logging.getLogger(__name__)

SECRET_NAME = SERVER_SECRET
ISSUER = "tether"
AUDIENCE = "tether"
ADMIN = "admin"

# OWASP's argon2id configuration (19 MiB, 2 passes, 1 lane) rather than the library's default
# (RFC 9106's low-memory option: 64 MiB, 4 lanes): each hash or sign-in touches its memory at
# once, and the controller's embedded server would carry 64 MiB as its peak resident memory.
# Hashes made with other parameters still verify (argon2 stores them in the hash).
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the account does not exist, so an unknown name costs as long as a
    wrong password and answers alike (no user enumeration by timing). Made on first use, not at
    import: a process that imports the server but never signs anyone in pays nothing."""
    return _hasher.hash(secrets.token_urlsafe(16))


async def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (computed off the event loop)."""
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; always pays for one verification."""

    def check() -> bool:
        try:
            return bool(_hasher.verify(stored_hash or _dummy_hash(), password)) and bool(
                stored_hash
            )
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


def generate_password() -> str:
    """A random password for the first start (about 120 bits, easy to copy)."""
    return secrets.token_urlsafe(15)


@dataclass(frozen=True)
class User:
    """An authenticated caller."""

    username: str
    groups: tuple[str, ...] = ()
    #: the id of the token used (an API token's id, or a sign-in token's)
    token_id: str = ""
    api_token: bool = False

    @property
    def subjects(self) -> list[str]:
        return [self.username, *self.groups]


@dataclass(frozen=True)
class Account:
    """A local account and what it may do."""

    name: str
    enabled: bool
    login: bool
    api_key: bool


def _decode(data: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (data or {}).items():
        try:
            out[key] = base64.b64decode(str(value)).decode()
        except (ValueError, UnicodeDecodeError):
            continue
    return out


def _encode(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def _secret_body(name: str, namespace: str, data: dict[str, str]) -> dict[str, Any]:
    """An Opaque Secret of Tether's (``data`` already base64-encoded)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": "tether"},
        },
        "data": data,
    }


class SecretStore:
    """The ``tether-secret`` Secret: read through the client, reused for a short while."""

    def __init__(self, client: ClusterClient, namespace: str, ttl: float) -> None:
        self.client = client
        self.namespace = namespace
        self.ttl = ttl
        self._values: dict[str, str] | None = None
        self._read_at = 0.0
        self._lock = asyncio.Lock()

    async def values(self) -> dict[str, str]:
        """The decoded keys of the Secret ({} when it does not exist)."""
        if self._values is not None and time.monotonic() - self._read_at < self.ttl:
            return self._values
        async with self._lock:
            if self._values is not None and time.monotonic() - self._read_at < self.ttl:
                return self._values
            info = await self.client.resource_for("v1", "Secret")
            try:
                obj = await self.client.get(info, SECRET_NAME, self.namespace)
                self._values = _decode(obj.get("data") or {})
            except NotFound:
                self._values = {}
            self._read_at = time.monotonic()
            return self._values

    async def update(self, changes: dict[str, str | None]) -> dict[str, str]:
        """Set (or, with None, remove) keys; creates the Secret when missing."""
        info = await self.client.resource_for("v1", "Secret")
        data = {k: (_encode(v) if v is not None else None) for k, v in changes.items()}
        try:
            obj = await self.client.patch(
                info,
                SECRET_NAME,
                {"data": data},
                self.namespace,
                field_manager=SERVER_FIELD_MANAGER,
            )
        except NotFound:
            kept = {k: v for k, v in data.items() if v is not None}
            body = _secret_body(SECRET_NAME, self.namespace, kept)
            try:
                obj = await self.client.create(info, body, field_manager=SERVER_FIELD_MANAGER)
            except (AlreadyExists, Conflict):
                # another server replica created it meanwhile: patch on top of theirs
                obj = await self.client.patch(
                    info,
                    SECRET_NAME,
                    {"data": data},
                    self.namespace,
                    field_manager=SERVER_FIELD_MANAGER,
                )
        self._values = _decode(obj.get("data") or {})
        self._read_at = time.monotonic()
        return self._values


async def write_initial_admin_secret(client: ClusterClient, namespace: str, password: str) -> bool:
    """Create ``argocd-initial-admin-secret`` (key ``password``), as Argo CD does, so a standalone
    install can be signed into; an existing one is left alone. Returns whether it was created.

    The password is only ever generated once (when no hash exists), so the Secret tells the
    operator the first password; Argo CD's advice holds: delete it once the password is changed.
    """
    info = await client.resource_for("v1", "Secret")
    body = _secret_body(
        INITIAL_ADMIN_SECRET, namespace, {INITIAL_ADMIN_PASSWORD_KEY: _encode(password)}
    )
    try:
        await client.create(info, body, field_manager=SERVER_FIELD_MANAGER)
    except (AlreadyExists, Conflict):
        log.warning(
            "%s exists in %s and was kept: it may hold an older password",
            INITIAL_ADMIN_SECRET,
            namespace,
        )
        return False
    return True


class LoginLimiter:
    """Counts failed sign-ins per client address and per username; too many lock both out."""

    def __init__(self, max_failures: int, window: float, lockout: float) -> None:
        self.max_failures = max_failures
        self.window = window
        self.lockout = lockout
        self._failures: dict[str, list[float]] = {}
        self._locked_until: dict[str, float] = {}

    def check(self, *keys: str) -> None:
        """Raise 429 when any key is locked out."""
        now = time.monotonic()
        for key in keys:
            until = self._locked_until.get(key, 0.0)
            if until > now:
                raise TooManyRequests(
                    "too many failed sign-in attempts; try again later",
                    retry_after=until - now,
                )

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        if len(self._failures) > 10_000:
            self._forget_old(now)
        for key in keys:
            recent = [t for t in self._failures.get(key, []) if now - t < self.window]
            recent.append(now)
            self._failures[key] = recent
            if len(recent) >= self.max_failures:
                self._locked_until[key] = now + self.lockout

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)

    def _forget_old(self, now: float) -> None:
        # bounded memory when many addresses or names are tried
        for key in [k for k, v in self._failures.items() if not v or now - v[-1] >= self.window]:
            del self._failures[key]
        for key in [k for k, t in self._locked_until.items() if t <= now]:
            del self._locked_until[key]


class Authenticator:
    """Accounts, passwords and tokens; see the module docstring."""

    def __init__(
        self,
        store: SecretStore,
        settings_of: Callable[[], dict[str, str]],
        session_seconds: float,
        limiter: LoginLimiter,
    ) -> None:
        self.store = store
        #: the current ``argocd-cm`` data
        self.settings_of = settings_of
        self.session_seconds = session_seconds
        self.limiter = limiter
        #: sign-in tokens signed out before they expire: id -> expiry
        self._revoked_sessions: dict[str, float] = {}

    # ---- bootstrap -----------------------------------------------------------------------------

    async def bootstrap(self) -> str | None:
        """Create the signing key and the admin password when missing; return a new password."""
        values = await self.store.values()
        changes: dict[str, str | None] = {}
        password: str | None = None
        if not values.get("server.secretkey"):
            changes["server.secretkey"] = base64.b64encode(secrets.token_bytes(32)).decode()
        if not values.get("admin.passwordHash"):
            password = generate_password()
            changes["admin.passwordHash"] = await hash_password(password)
            changes["admin.passwordMtime"] = str(int(time.time()))
        if changes:
            await self.store.update(changes)
        if password is not None:
            await write_initial_admin_secret(self.store.client, self.store.namespace, password)
        return password

    # ---- accounts ------------------------------------------------------------------------------

    def account(self, name: str) -> Account | None:
        """The account called ``name`` (admin or one declared in ``argocd-cm``), if any."""
        cm = self.settings_of()
        if name == ADMIN:
            enabled = cm.get("admin.enabled", "true").strip().lower() != "false"
            return Account(ADMIN, enabled, login=True, api_key=True)
        declared = cm.get(f"accounts.{name}")
        if declared is None:
            return None
        capabilities = {c.strip() for c in declared.split(",") if c.strip()}
        enabled = cm.get(f"accounts.{name}.enabled", "true").strip().lower() != "false"
        return Account(name, enabled, "login" in capabilities, "apiKey" in capabilities)

    def accounts(self) -> list[Account]:
        names = {ADMIN}
        for key in self.settings_of():
            if key.startswith("accounts.") and key.count(".") == 1:
                names.add(key.split(".", 1)[1])
        return [a for a in (self.account(n) for n in sorted(names)) if a is not None]

    @staticmethod
    def _key(name: str, field: str) -> str:
        if name == ADMIN:
            return {"password": "admin.passwordHash"}.get(field, f"admin.{field}")
        return f"accounts.{name}.{field}"

    async def _signing_key(self) -> bytes:
        key = (await self.store.values()).get("server.secretkey")
        if not key:
            raise ApiError("the server has no signing key yet", 503)
        return key.encode()

    # ---- sign-in -------------------------------------------------------------------------------

    async def sign_in(self, username: str, password: str, client_ip: str) -> str:
        """A sign-in token, or 401 (same message whatever was wrong) / 429 after failures."""
        keys = (f"ip:{client_ip}", f"user:{username}")
        self.limiter.check(*keys)
        account = self.account(username)
        values = await self.store.values()
        stored = values.get(self._key(username, "password")) if account is not None else None
        ok = await verify_password(stored, password)
        if not ok or account is None or not account.enabled or not account.login:
            self.limiter.failed(*keys)
            raise Unauthenticated("Invalid username or password")
        self.limiter.succeeded(*keys)
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": username,
            "iat": now,
            "nbf": now,
            "exp": now + int(self.session_seconds),
            "jti": uuid.uuid4().hex,
            "typ": "session",
        }
        return hs256.encode(claims, await self._signing_key())

    def sign_out(self, user: User, expires_at: float) -> None:
        now = time.time()
        for token_id in [k for k, t in self._revoked_sessions.items() if t < now]:
            del self._revoked_sessions[token_id]
        if user.token_id and not user.api_token:
            self._revoked_sessions[user.token_id] = expires_at

    async def set_password(self, name: str, password: str) -> None:
        await self.store.update(
            {
                self._key(name, "password"): await hash_password(password),
                self._key(name, "passwordMtime"): str(int(time.time())),
            }
        )

    async def check_password(self, name: str, password: str) -> bool:
        values = await self.store.values()
        return await verify_password(values.get(self._key(name, "password")), password)

    # ---- API tokens ----------------------------------------------------------------------------

    async def tokens(self, name: str) -> list[dict[str, Any]]:
        raw = (await self.store.values()).get(self._key(name, "tokens"), "")
        try:
            items = orjson.loads(raw) if raw else []
        except orjson.JSONDecodeError:
            return []
        return [t for t in items if isinstance(t, dict) and isinstance(t.get("id"), str)]

    async def create_token(
        self, name: str, expires_in: float | None, token_id: str | None
    ) -> tuple[str, dict[str, Any]]:
        account = self.account(name)
        if account is None or not account.enabled:
            raise NotFoundError(f"account {name} does not exist")
        if not account.api_key:
            raise ApiError(
                f"account {name} does not have the apiKey capability (argocd-cm accounts.{name})",
                400,
            )
        existing = await self.tokens(name)
        token_id = token_id or uuid.uuid4().hex
        if any(t["id"] == token_id for t in existing):
            raise ApiError(f"account {name} already has a token with id {token_id}", 409)
        now = int(time.time())
        entry: dict[str, Any] = {"id": token_id, "issuedAt": now}
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": name,
            "iat": now,
            "nbf": now,
            "jti": token_id,
            "typ": "api",
        }
        if expires_in:
            entry["expiresAt"] = now + int(expires_in)
            claims["exp"] = entry["expiresAt"]
        token = hs256.encode(claims, await self._signing_key())
        await self.store.update(
            {self._key(name, "tokens"): orjson.dumps([*existing, entry]).decode()}
        )
        return token, entry

    async def delete_token(self, name: str, token_id: str) -> bool:
        existing = await self.tokens(name)
        kept = [t for t in existing if t["id"] != token_id]
        if len(kept) == len(existing):
            return False
        await self.store.update({self._key(name, "tokens"): orjson.dumps(kept).decode()})
        return True

    # ---- verification --------------------------------------------------------------------------

    async def verify(self, token: str) -> tuple[User, float]:
        """The user a token stands for and its expiry (0: none); 401 when it is not valid."""
        try:
            claims = hs256.decode(
                token,
                await self._signing_key(),
                audience=AUDIENCE,
                issuer=ISSUER,
                require=("sub", "iat", "jti", "typ"),
            )
        except hs256.TokenExpired:
            raise Unauthenticated("the token has expired; sign in again") from None
        except hs256.TokenError:
            raise Unauthenticated("the token is not valid") from None
        name = str(claims["sub"])
        account = self.account(name)
        if account is None or not account.enabled:
            raise Unauthenticated(f"account {name} is disabled or does not exist")
        token_id = str(claims["jti"])
        if claims["typ"] == "api":
            if not any(t["id"] == token_id for t in await self.tokens(name)):
                raise Unauthenticated("the token has been revoked")
            return User(name, token_id=token_id, api_token=True), float(claims.get("exp") or 0)
        if claims["typ"] != "session" or "exp" not in claims:
            raise Unauthenticated("the token is not valid")
        if token_id in self._revoked_sessions:
            raise Unauthenticated("the token has been signed out")
        values = await self.store.values()
        mtime = values.get(self._key(name, "passwordMtime"))
        if mtime and int(claims["iat"]) < int(mtime):
            raise Unauthenticated("the password changed since this sign-in; sign in again")
        return User(name, token_id=token_id), float(claims["exp"])
