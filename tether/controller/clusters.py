"""Destination clusters as Argo CD stores them: Secrets labelled ``secret-type: cluster``.

A cluster Secret holds ``name``, ``server`` and a ``config`` JSON document (``bearerToken``,
``username``/``password``, ``execProviderConfig``, ``tlsClientConfig`` with a CA and client
certificate), plus optional ``namespaces``,
``clusterResources`` and ``project``. Values are base64 in ``data`` or plain in ``stringData``.
``https://kubernetes.default.svc`` (named ``in-cluster``) always means the cluster the controller
itself talks to, so it needs no Secret.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lightkube.config.kubeconfig import KubeConfig

from tether.cluster.client import ClusterClient
from tether.cluster.config import ClientSettings
from tether.cluster.execauth import ExecConfig, check_exec_config
from tether.controller.models import Destination
from tether.errors import TetherError
from tether.names import (
    IN_CLUSTER_NAME,
    IN_CLUSTER_SERVER,
    SECRET_TYPE_LABEL,
)
from tether.names import SECRET_TYPE_CLUSTER as CLUSTER_SECRET_TYPE


class ClusterSecretError(TetherError):
    """A cluster Secret is malformed, or asks for something Tether cannot do yet."""


class UnknownDestination(TetherError):
    """An Application's destination names no registered cluster."""


@dataclass(frozen=True)
class TLSClientConfig:
    """``config.tlsClientConfig``; the PEM data is decoded, the key never shown."""

    insecure: bool = False
    server_name: str = ""
    ca_data: bytes = b""
    cert_data: bytes = b""
    key_data: bytes = field(default=b"", repr=False)


@dataclass(frozen=True)
class ClusterEntry:
    """One registered cluster. Credentials are kept out of ``repr`` so they never reach a log."""

    name: str
    server: str
    #: namespaces the cluster is limited to (empty: all of them)
    namespaces: tuple[str, ...] = ()
    #: with ``namespaces`` set, whether cluster-scoped resources may still be managed
    cluster_resources: bool = False
    project: str = ""
    bearer_token: str = field(default="", repr=False)
    username: str = ""
    password: str = field(default="", repr=False)
    tls: TLSClientConfig = field(default_factory=TLSClientConfig)
    proxy_url: str = ""
    #: the credential plugin run for a token (``execProviderConfig``)
    exec_provider: ExecConfig | None = field(default=None, repr=False)
    #: Argo CD's own AWS authenticator, which Tether does not run (use execProviderConfig)
    aws_auth: dict[str, Any] | None = field(default=None, repr=False)
    secret_name: str = ""

    @property
    def is_in_cluster(self) -> bool:
        return self.server == IN_CLUSTER_SERVER


def is_cluster_secret(secret: Mapping[str, Any]) -> bool:
    """Whether ``secret`` carries the ``argocd.argoproj.io/secret-type: cluster`` label."""
    labels = (secret.get("metadata") or {}).get("labels") or {}
    return labels.get(SECRET_TYPE_LABEL) == CLUSTER_SECRET_TYPE


def _secret_name(secret: Mapping[str, Any]) -> str:
    meta = secret.get("metadata") or {}
    return f"{meta.get('namespace') or ''}/{meta.get('name') or ''}".lstrip("/")


def _value(secret: Mapping[str, Any], key: str) -> str | None:
    """A Secret value: ``stringData`` wins over ``data``, as the API server merges them."""
    string_data = secret.get("stringData") or {}
    if key in string_data and string_data[key] is not None:
        return str(string_data[key])
    data = secret.get("data") or {}
    if data.get(key) is None:
        return None
    try:
        return base64.b64decode(str(data[key]), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise ClusterSecretError(
            f"cluster secret {_secret_name(secret)}: data.{key} is not valid base64 text"
        ) from None


def _pem(config: Mapping[str, Any], key: str, where: str) -> bytes:
    value = config.get(key)
    if not value:
        return b""
    try:
        return base64.b64decode(str(value), validate=True)
    except binascii.Error:
        raise ClusterSecretError(
            f"{where}: config.tlsClientConfig.{key} must be base64-encoded PEM"
        ) from None


def parse_cluster_secret(secret: Mapping[str, Any]) -> ClusterEntry:
    """A cluster Secret (a dict, as read from the API or written in a manifest) as an entry."""
    where = f"cluster secret {_secret_name(secret)}"
    if not is_cluster_secret(secret):
        raise ClusterSecretError(f"{where} lacks the label {SECRET_TYPE_LABEL}: cluster")
    server = (_value(secret, "server") or "").strip().rstrip("/")
    if not server:
        raise ClusterSecretError(f"{where}: server is required")
    raw_config = _value(secret, "config") or "{}"
    try:
        config = json.loads(raw_config)
    except json.JSONDecodeError as exc:
        raise ClusterSecretError(f"{where}: config is not valid JSON ({exc.msg})") from None
    if not isinstance(config, dict):
        raise ClusterSecretError(f"{where}: config must be a JSON object")
    tls_raw = config.get("tlsClientConfig") or {}
    if not isinstance(tls_raw, dict):
        raise ClusterSecretError(f"{where}: config.tlsClientConfig must be an object")
    tls = TLSClientConfig(
        insecure=bool(tls_raw.get("insecure", False)),
        server_name=str(tls_raw.get("serverName") or ""),
        ca_data=_pem(tls_raw, "caData", where),
        cert_data=_pem(tls_raw, "certData", where),
        key_data=_pem(tls_raw, "keyData", where),
    )
    namespaces = tuple(
        ns.strip() for ns in (_value(secret, "namespaces") or "").split(",") if ns.strip()
    )
    exec_provider = _exec_provider(config.get("execProviderConfig"), where)
    return ClusterEntry(
        # Argo CD shows an unnamed cluster by its server URL.
        name=(_value(secret, "name") or "").strip() or server,
        server=server,
        namespaces=namespaces,
        cluster_resources=(_value(secret, "clusterResources") or "").strip().lower() == "true",
        project=(_value(secret, "project") or "").strip(),
        bearer_token=str(config.get("bearerToken") or ""),
        username=str(config.get("username") or ""),
        password=str(config.get("password") or ""),
        tls=tls,
        proxy_url=str(config.get("proxyUrl") or ""),
        exec_provider=exec_provider,
        aws_auth=config.get("awsAuthConfig") or None,
        secret_name=_secret_name(secret),
    )


def _exec_provider(raw: Any, where: str) -> ExecConfig | None:
    if not raw:
        return None
    if not isinstance(raw, dict):
        raise ClusterSecretError(f"{where}: config.execProviderConfig must be an object")
    try:
        return check_exec_config(raw, "config.execProviderConfig")
    except ValueError as exc:
        raise ClusterSecretError(f"{where}: {exc}") from None


def _entries(secrets: Iterable[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], str, str]]:
    """(secret, server, name) of every cluster Secret, read without parsing its config."""
    found = []
    for secret in secrets:
        if not is_cluster_secret(secret):
            continue
        server = (_value(secret, "server") or "").strip().rstrip("/")
        name = (_value(secret, "name") or "").strip() or server
        found.append((secret, server, name))
    return found


def in_cluster_entry(name: str = IN_CLUSTER_NAME) -> ClusterEntry:
    """The cluster the controller runs against; it uses the controller's own credentials."""
    return ClusterEntry(name=name, server=IN_CLUSTER_SERVER)


def resolve_destination(
    destination: Destination, secrets: Iterable[Mapping[str, Any]]
) -> ClusterEntry:
    """The registered cluster an Application deploys to.

    ``destination.server`` matches a Secret's server; ``destination.name`` a Secret's name. The
    in-cluster server (or the name ``in-cluster``, unless a Secret renamed it) needs no Secret:
    its entry has ``is_in_cluster`` set and the controller uses its own client for it. Raises
    :class:`UnknownDestination` when nothing matches, :class:`ClusterSecretError` when the
    matching Secret is malformed.
    """
    entries = _entries(secrets)
    in_cluster_secret = next((s for s, server, _ in entries if server == IN_CLUSTER_SERVER), None)
    if destination.server:
        server = destination.server.rstrip("/")
        for secret, secret_server, _ in entries:
            if secret_server == server:
                return parse_cluster_secret(secret)
        if server == IN_CLUSTER_SERVER:
            return in_cluster_entry()
        raise UnknownDestination(f"cluster '{server}' has not been configured")
    name = destination.name or ""
    matches = [(secret, server) for secret, server, secret_name in entries if secret_name == name]
    if not matches:
        # A Secret for the in-cluster server renames it; the default name then stops working.
        if name == IN_CLUSTER_NAME and in_cluster_secret is None:
            return in_cluster_entry()
        raise UnknownDestination(f"there are no clusters with this name: {name}")
    if len(matches) > 1:
        servers = ", ".join(sorted(server for _, server in matches))
        raise UnknownDestination(
            f"there are {len(matches)} clusters with the same name: {name} ({servers})"
        )
    return parse_cluster_secret(matches[0][0])


def kubeconfig_for(entry: ClusterEntry) -> dict[str, Any]:
    """A one-context kubeconfig document (a dict) reaching ``entry`` with its credentials."""
    where = f"cluster {entry.name} ({entry.secret_name or 'no secret'})"
    unsupported = [
        what
        for what, present in (
            ("config.awsAuthConfig", entry.aws_auth),
            ("config.proxyUrl", entry.proxy_url),
            ("config.tlsClientConfig.serverName", entry.tls.server_name),
        )
        if present
    ]
    if unsupported:
        # an EKS token comes as well from `aws eks get-token` run as an exec plugin
        hint = (
            " (run `aws eks get-token` through config.execProviderConfig)" if entry.aws_auth else ""
        )
        raise ClusterSecretError(
            f"{where}: {', '.join(unsupported)} is not supported by Tether{hint}"
        )
    if bool(entry.tls.cert_data) != bool(entry.tls.key_data):
        raise ClusterSecretError(f"{where}: certData and keyData must be given together")
    cluster: dict[str, Any] = {"server": entry.server}
    if entry.tls.insecure:
        # A CA next to insecure would still be used for verification by the client; insecure
        # must mean what it says, so the CA is left out.
        cluster["insecure-skip-tls-verify"] = True
    elif entry.tls.ca_data:
        cluster["certificate-authority-data"] = base64.b64encode(entry.tls.ca_data).decode()
    user: dict[str, Any] = {}
    if entry.bearer_token:
        user["token"] = entry.bearer_token
    elif entry.username and entry.password:
        user["username"] = entry.username
        user["password"] = entry.password
    elif entry.exec_provider is not None:
        user["exec"] = _kubeconfig_exec(entry.exec_provider)
    if entry.tls.cert_data:
        user["client-certificate-data"] = base64.b64encode(entry.tls.cert_data).decode()
        user["client-key-data"] = base64.b64encode(entry.tls.key_data).decode()
    # the cluster's own name, so that errors (an exec plugin's) say which cluster failed
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": entry.name, "cluster": cluster}],
        "users": [{"name": "destination", "user": user}],
        "contexts": [
            {"name": "destination", "context": {"cluster": entry.name, "user": "destination"}}
        ],
        "current-context": "destination",
    }


def _kubeconfig_exec(config: ExecConfig) -> dict[str, Any]:
    """``execProviderConfig`` as a kubeconfig ``user.exec`` (env as a list of name/value)."""
    document: dict[str, Any] = {"apiVersion": config.api_version, "command": config.command}
    if config.args:
        document["args"] = list(config.args)
    if config.env:
        document["env"] = [{"name": name, "value": value} for name, value in config.env]
    if config.install_hint:
        document["installHint"] = config.install_hint
    return document


def client_for(entry: ClusterEntry, settings: ClientSettings | None = None) -> ClusterClient:
    """A :class:`ClusterClient` for a registered cluster (close it when done)."""
    config = KubeConfig.from_dict(kubeconfig_for(entry)).get()
    assert config is not None  # the document names its current context
    return ClusterClient(config, settings)
