"""Settings of the API server that are not read from the cluster."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tether.source.webhooks import WebhookSecrets

#: the folder the web UI's static files are served from
DEFAULT_UI_DIR = Path(__file__).with_name("ui")


@dataclass
class ServerSettings:
    """What an operator may tune; everything else comes from ConfigMaps and Secrets.

    RBAC lines given here are added to those of the ``argocd-rbac-cm`` ConfigMap; webhook
    secrets given here win over the ``webhook.*`` keys of the ``tether-secret`` Secret.
    """

    #: the URL users reach the server at (shown by ``/api/v1/settings``)
    url: str = ""
    #: lifetime of a sign-in token (Argo CD's default: 24 h; Tether's: 12 h)
    session_seconds: float = 12 * 3600
    #: extra policy lines in Argo CD's CSV format
    rbac_policy_csv: str = ""
    #: role every authenticated user gets; None: the ConfigMap's ``policy.default`` (or none)
    rbac_default_role: str | None = None
    #: largest JSON request body accepted
    max_body_bytes: int = 2 * 1024 * 1024
    #: largest webhook body accepted
    webhook_max_bytes: int = 1024 * 1024
    webhook_secrets: WebhookSecrets | None = None
    #: proxies (IP addresses or CIDR networks) whose X-Forwarded-For is believed; none by
    #: default: the client address is then always the connection's peer
    trusted_proxies: tuple[str, ...] = ()
    #: failed sign-ins (per client address and per username) within the window before 429
    login_max_failures: int = 5
    login_failure_window: float = 300.0
    login_lockout_seconds: float = 300.0
    #: the cookie carries ``Secure`` (set automatically when serving TLS)
    secure_cookie: bool = False
    ui_dir: Path = field(default_factory=lambda: DEFAULT_UI_DIR)
    #: how long a read of the ``tether-secret`` Secret is reused before it is read again
    secret_cache_seconds: float = 2.0
    #: how long a refresh request waits for the controller to compare the app again (then 504)
    refresh_timeout: float = 60.0
