"""Where a cluster is and how to authenticate: kubeconfig or in-cluster, read by lightkube.

lightkube's ``KubeConfig`` already understands tokens, token files, client certificates and CA
data, and its client adapter turns one context into an ``httpx2`` client with the right TLS
context and auth flow. Tether reuses both, runs exec credential plugins itself
(:mod:`tether.cluster.execauth`: the v1 protocol, bounded, tokens renewed on expiry) and adds
its own settings (rate limits, retries) on top.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
from lightkube.config.client_adapter import AsyncClient as _adapter_async_client
from lightkube.config.client_adapter import ConnectionParams
from lightkube.config.client_adapter import ExecAuth as _LightkubeExecAuth
from lightkube.config.kubeconfig import KubeConfig, SingleConfig
from lightkube.config.models import UserExec
from lightkube.core.exceptions import ConfigError as _LightkubeConfigError

from tether.cluster.execauth import EXEC_API_VERSIONS, ExecAuth, ExecConfig, ExecLimits
from tether.errors import TetherError
from tether.names import CONTROLLER_FIELD_MANAGER

DEFAULT_KUBECONFIG = "~/.kube/config"


class ClusterConfigError(TetherError):
    """The kubeconfig (or in-cluster service account) cannot be used."""


@dataclass(frozen=True)
class ClientSettings:
    """Tunables of a :class:`~tether.cluster.client.ClusterClient`.

    The bound that protects the API server is ``max_in_flight``: at most that many requests of
    this client are being answered at once, so the rate follows the server's own pace (API
    Priority and Fairness counts seats, i.e. concurrent requests). ``qps``/``burst`` only guard
    against a runaway loop; a 429 with Retry-After pauses every request of the client
    (docs/controller.md, "Scaling", has the reasoning and Argo CD's and Flux's defaults).
    """

    qps: float = 5000.0
    burst: int = 10000
    #: requests answered at once (watches not counted); 0 = no bound
    max_in_flight: int = 32
    #: retries of a throttled (429), failed (5xx) or unreachable idempotent request
    max_retries: int = 5
    backoff_base: float = 0.2
    backoff_max: float = 10.0
    #: a server's Retry-After is honoured up to this many seconds
    max_retry_after: float = 60.0
    #: seconds for connect/read/write of ordinary requests (watches have no read timeout)
    timeout: float = 30.0
    field_manager: str = CONTROLLER_FIELD_MANAGER
    user_agent: str = "tether/0.1"
    list_page_size: int = 500
    #: non-watch calls over the lean HTTP/1.1 client when the credentials are static
    fast_http: bool = True
    #: bounds on each run of an exec credential plugin
    exec_limits: ExecLimits = field(default_factory=ExecLimits)


def load_kubeconfig(
    path: str | os.PathLike[str] | None = None, context: str | None = None
) -> SingleConfig:
    """One context of a kubeconfig file (``$KUBECONFIG`` or ``~/.kube/config`` by default)."""
    if path is None:
        # Only the first file of a KUBECONFIG list is read; merging lists is out of scope.
        env = os.environ.get("KUBECONFIG", "")
        path = env.split(os.pathsep)[0] if env else DEFAULT_KUBECONFIG
    file = Path(path).expanduser()
    try:
        config = KubeConfig.from_file(file).get(context_name=context)
    except _LightkubeConfigError as exc:
        raise ClusterConfigError(f"kubeconfig {file}: {exc}") from exc
    except FileNotFoundError as exc:
        raise ClusterConfigError(f"kubeconfig {file} does not exist") from exc
    if config is None:
        raise ClusterConfigError(f"kubeconfig {file} has no context {context or '(current)'}")
    return config


def in_cluster_config(
    service_account_dir: str = "/var/run/secrets/kubernetes.io/serviceaccount",
) -> SingleConfig:
    """The pod's service account (token re-read when it rotates) and ``KUBERNETES_SERVICE_*``."""
    try:
        config = KubeConfig.from_service_account(service_account_dir).get()
    except (_LightkubeConfigError, KeyError) as exc:
        raise ClusterConfigError(f"not running in a cluster: {exc}") from exc
    assert config is not None
    return config


def auto_config(context: str | None = None) -> SingleConfig:
    """In-cluster config when running in a pod, else the kubeconfig file (as kubectl decides)."""
    if os.environ.get("KUBERNETES_SERVICE_HOST") and context is None:
        try:
            return in_cluster_config()
        except ClusterConfigError:
            pass
    return load_kubeconfig(None, context)


def http_client(
    config: SingleConfig,
    settings: ClientSettings,
    transport: httpx2.AsyncBaseTransport | None = None,
) -> httpx2.AsyncClient:
    """An ``httpx2.AsyncClient`` with the config's base URL, TLS context and auth flow."""
    # lightkube types the transport as sync, but hands it to an AsyncClient unchanged.
    params = ConnectionParams(
        timeout=httpx2.Timeout(settings.timeout),
        transport=transport,  # type: ignore[arg-type]
    )
    try:
        client = _adapter_async_client(config, params)
    except (_LightkubeConfigError, OSError, ValueError) as exc:
        raise ClusterConfigError(f"cannot use cluster {config.cluster.server}: {exc}") from exc
    client.headers["User-Agent"] = settings.user_agent
    if isinstance(client.auth, _LightkubeExecAuth) and config.user and config.user.exec:
        # lightkube's runner knows neither v1 nor expiry nor any bound: ours replaces it
        where = f"cluster {config.context.cluster} ({config.cluster.server})"
        client.auth = ExecAuth(exec_config(config.user.exec, where), where, settings.exec_limits)
    return client


def exec_config(user_exec: UserExec, where: str) -> ExecConfig:
    """A kubeconfig ``user.exec`` as an :class:`ExecConfig`; an unknown protocol version is a
    :class:`ClusterConfigError`."""
    if user_exec.apiVersion not in EXEC_API_VERSIONS:
        raise ClusterConfigError(
            f"{where}: exec plugin {user_exec.command!r} asks for {user_exec.apiVersion!r}; "
            f"Tether speaks {' and '.join(EXEC_API_VERSIONS)}"
        )
    return ExecConfig(
        command=user_exec.command,
        api_version=user_exec.apiVersion,
        args=tuple(user_exec.args or ()),
        env=tuple((item.name, item.value) for item in user_exec.env or ()),
        install_hint=user_exec.installHint or "",
    )
