"""How previews are configured: ``argocd-cm`` keys (where the API is, where the UI is, the bounds)
and ``tether-secret`` keys (the tokens). Read by the server, passed to the previews as plain data.

``argocd-cm``::

    url: https://cd.example.com            # Argo CD's key: the UI's address, for links
    preview.enabled: "true"                # "false" turns previews off
    preview.github.apiURL: https://ghe.example.com/api/v3   # default: from the repository URL
    preview.maxComment: "60000"            # characters of the comment at most

``tether-secret``: ``preview.github.token``, ``preview.gitlab.token``, ``preview.gitea.token``
(or ``preview.token`` for every host). Without a token previews are still made (the UI and the
API show them) and nothing is posted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

#: the provider of each webhook's host, as `tether.githost.host_for` names it
PROVIDERS = {"github": "github", "gitlab": "gitlab", "gitea": "gitea", "gogs": "gitea"}
#: GitHub's limit on a comment is 65,536 characters; some room is left
DEFAULT_MAX_COMMENT = 60_000
MIN_MAX_COMMENT = 2_000


@dataclass(frozen=True)
class PreviewSettings:
    enabled: bool = True
    #: the UI's address (``argocd-cm`` ``url``), for links to the full diff; empty: no links
    ui_url: str = ""
    #: provider → token (``""``: every provider)
    tokens: Mapping[str, str] = field(default_factory=dict)
    #: provider → API URL, when not the one the repository URL implies
    api_urls: Mapping[str, str] = field(default_factory=dict)
    max_comment: int = DEFAULT_MAX_COMMENT

    def provider(self, webhook_provider: str) -> str:
        return PROVIDERS.get(webhook_provider, webhook_provider)

    def token(self, webhook_provider: str) -> str:
        return self.tokens.get(self.provider(webhook_provider)) or self.tokens.get("", "")

    def api_url(self, webhook_provider: str) -> str | None:
        return self.api_urls.get(self.provider(webhook_provider)) or None

    def __repr__(self) -> str:  # the tokens never reach a log line
        return (
            f"PreviewSettings(enabled={self.enabled}, ui_url={self.ui_url!r}, "
            f"providers_with_tokens={sorted(self.tokens)}, api_urls={dict(self.api_urls)!r})"
        )


def read_settings(
    settings: Mapping[str, str] | None, secret_values: Mapping[str, str] | None
) -> PreviewSettings:
    """Settings from ``argocd-cm``'s data and ``tether-secret``'s values."""
    data = settings or {}
    secrets = secret_values or {}
    tokens = {
        provider: str(secrets[f"preview.{provider}.token"]).strip()
        for provider in ("github", "gitlab", "gitea")
        if secrets.get(f"preview.{provider}.token")
    }
    if secrets.get("preview.token"):
        tokens[""] = str(secrets["preview.token"]).strip()
    api_urls = {
        provider: str(data[f"preview.{provider}.apiURL"]).strip()
        for provider in ("github", "gitlab", "gitea")
        if data.get(f"preview.{provider}.apiURL")
    }
    try:
        max_comment = max(MIN_MAX_COMMENT, int(str(data.get("preview.maxComment", ""))))
    except ValueError:
        max_comment = DEFAULT_MAX_COMMENT
    return PreviewSettings(
        enabled=str(data.get("preview.enabled", "true")).strip().lower() != "false",
        ui_url=str(data.get("url") or "").strip(),
        tokens=tokens,
        api_urls=api_urls,
        max_comment=min(max_comment, DEFAULT_MAX_COMMENT),
    )
