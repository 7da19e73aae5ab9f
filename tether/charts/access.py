"""How Tether reaches one Helm repository: its credentials, its CA, and where they may go.

The login (Basic, or a Bearer token) is sent only to the repository's own origin (scheme, host
and port): an archive URL or a redirect that leads elsewhere gets no credentials, as Helm does
unless `passCredentials` is set. The client certificate and the CA are likewise used for the
repository's origin only; other hosts are checked against the system's CAs.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field

from tether.charts.urls import origin
from tether.source.credentials import TOKEN_USERNAME, RepoCredentials
from tether.source.urls import scrub_text

_MAX_QUOTED = 300


@dataclass(frozen=True)
class TLSMaterial:
    """What a TLS context for one origin is made of (secret parts hidden from `repr`)."""

    insecure: bool = False
    ca_pem: str | None = field(default=None, repr=False)
    client_certificate: str | None = field(default=None, repr=False)
    client_key: str | None = field(default=None, repr=False)

    @property
    def is_default(self) -> bool:
        """True when the system's CAs and no client certificate will do."""
        return not (self.insecure or self.ca_pem or self.client_certificate or self.client_key)

    def fingerprint(self) -> str:
        """A digest naming this material, so contexts can be cached without keeping it as keys."""
        parts = (str(self.insecure), self.ca_pem, self.client_certificate, self.client_key)
        return hashlib.sha256("\0".join(p or "" for p in parts).encode()).hexdigest()


DEFAULT_TLS = TLSMaterial()


@dataclass(frozen=True)
class RepoAccess:
    """The repository URL with the credentials and CA (PEM) to use for it."""

    repo_url: str
    credentials: RepoCredentials | None = field(default=None, repr=False)
    ca_pem: str | None = field(default=None, repr=False)
    #: send the login to archive URLs on other hosts too (Argo CD's `helm.passCredentials`)
    pass_credentials: bool = False

    def fingerprint(self) -> str:
        """A digest of everything that can change what the server answers, for cache keys:
        two sets of credentials never share a cached index."""
        creds = self.credentials
        parts = [self.repo_url, self.ca_pem or ""]
        if creds is not None:
            parts += [
                creds.username or "",
                creds.password or "",
                creds.bearer_token or "",
                str(creds.insecure),
                creds.tls_client_cert_data or "",
                creds.tls_client_cert_key or "",
            ]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    def same_origin(self, url: str) -> bool:
        """Whether `url` is on the repository's scheme, host and port."""
        return origin(url) == origin(self.repo_url)

    def authorization(self, url: str) -> str | None:
        """The Authorization header for a request to `url`, None when none may go there."""
        creds = self.credentials
        if creds is None or not (self.same_origin(url) or self.pass_credentials):
            return None
        if creds.password:
            user = creds.username or TOKEN_USERNAME
            token = base64.b64encode(f"{user}:{creds.password}".encode()).decode()
            return f"Basic {token}"
        if creds.bearer_token:
            return f"Bearer {creds.bearer_token}"
        return None

    def tls_for(self, url: str) -> TLSMaterial:
        """The TLS material for a request to `url`: the repository's own for its origin."""
        if not self.same_origin(url) or not url.lower().startswith("https:"):
            return DEFAULT_TLS
        creds = self.credentials
        return TLSMaterial(
            insecure=bool(creds and creds.insecure),
            ca_pem=self.ca_pem or None,
            client_certificate=creds.tls_client_cert_data if creds else None,
            client_key=creds.tls_client_cert_key if creds else None,
        )

    @property
    def login(self) -> str:
        """Who is asking, for messages (never the password)."""
        creds = self.credentials
        if creds is None or not (creds.password or creds.bearer_token):
            return "anonymous access"
        if creds.password:
            return f"user {creds.username or TOKEN_USERNAME!r}"
        return "a bearer token"

    def secrets(self) -> tuple[str, ...]:
        """Every secret string, in every spelling it may be sent in."""
        values: list[str] = []
        if self.credentials is not None:
            values += self.credentials.secret_values()
        return tuple(v for v in values if v)

    def scrub(self, text: str) -> str:
        """`text` (from a server or an exception) without secrets or URL user-info, shortened."""
        cleaned = scrub_text(text, self.secrets())
        cleaned = "".join(c if c.isprintable() else " " for c in cleaned)
        return cleaned if len(cleaned) <= _MAX_QUOTED else cleaned[:_MAX_QUOTED] + "..."
