"""``spec.kubeConfig``: a Kustomization or HelmRelease that deploys to another cluster, with the
kubeconfig a Secret of its namespace holds (key ``value``, else ``value.yaml``, or the one
``secretRef.key`` names), as Flux reads it.

The kubeconfig is hostile input: it is bounded and parsed as data, and only inline credentials
are taken (``certificate-authority-data``, ``client-certificate-data``/``client-key-data``,
``token``, ``username``/``password``): an ``exec`` plugin, an ``auth-provider`` or a file path
would make the controller run a program or read its own files, and are refused by name (Flux
refuses exec plugins too unless told otherwise). Clients are kept per Secret version, so a
reconcile does not open new connections.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lightkube.config.kubeconfig import KubeConfig

from tether.cluster.client import ClusterClient
from tether.cluster.config import ClusterConfigError
from tether.cluster.errors import ClusterError, NotFound
from tether.cluster.secretdata import decoded
from tether.flux.specs import KubeConfigRef
from tether.safeyaml import YamlError, load

MAX_KUBECONFIG = 256 * 1024
_FORBIDDEN_USER = {
    "exec": "an exec plugin (a program the controller would run)",
    "auth-provider": "an auth-provider",
    "tokenFile": "a token file (a file of the controller's)",
    "client-certificate": "a certificate file (use client-certificate-data)",
    "client-key": "a key file (use client-key-data)",
}


class RemoteError(Exception):
    """The kubeconfig cannot be had or used; the message is Flux-shaped."""


@dataclass
class Remote:
    """A client of another cluster and the kubeconfig it was made from (for helm)."""

    client: ClusterClient
    kubeconfig: dict[str, Any]


class RemoteClusters:
    def __init__(self, client: ClusterClient) -> None:
        self.client = client
        self._open: dict[tuple[str, str], tuple[str, Remote]] = {}

    async def remote(self, namespace: str, ref: KubeConfigRef) -> Remote:
        where = f"secret '{namespace}/{ref.secret}'"
        info = await self.client.resource_for("v1", "Secret")
        try:
            secret = await self.client.get(info, ref.secret, namespace)
        except NotFound:
            raise RemoteError(f"failed to get kubeconfig {where}: not found") from None
        except ClusterError as exc:
            raise RemoteError(f"failed to get kubeconfig {where}: {exc.message}") from None
        version = str((secret.get("metadata") or {}).get("resourceVersion") or "")
        held = self._open.get((namespace, ref.secret))
        if held is not None and held[0] == version:
            return held[1]
        document = parse_kubeconfig(decoded(secret), ref.key, where)
        try:
            config = KubeConfig.from_dict(document).get()
        except Exception as exc:  # lightkube's errors are of several types
            raise RemoteError(f"kubeconfig in {where}: {exc}") from None
        if config is None:
            raise RemoteError(f"kubeconfig in {where} has no current context")
        try:
            remote = Remote(ClusterClient(config), document)
        except ClusterConfigError as exc:
            raise RemoteError(f"kubeconfig in {where}: {exc.message}") from None
        if held is not None:
            await held[1].client.aclose()
        self._open[(namespace, ref.secret)] = (version, remote)
        return remote

    async def aclose(self) -> None:
        for _, remote in self._open.values():
            await remote.client.aclose()
        self._open.clear()


def parse_kubeconfig(data: dict[str, str], key: str | None, where: str) -> dict[str, Any]:
    """The kubeconfig of a Secret's data, checked (see the module docstring)."""
    keys = [key] if key else ["value", "value.yaml"]
    text = next((data[k] for k in keys if data.get(k)), None)
    if text is None:
        raise RemoteError(f"{where} has no key {' or '.join(repr(k) for k in keys)}")
    if len(text) > MAX_KUBECONFIG:
        raise RemoteError(f"the kubeconfig in {where} is larger than {MAX_KUBECONFIG} bytes")
    try:
        document = load(text)
    except YamlError as exc:
        raise RemoteError(f"the kubeconfig in {where} is not YAML: {exc.message}") from None
    if not isinstance(document, dict):
        raise RemoteError(f"the kubeconfig in {where} is not a kubeconfig")
    for entry in document.get("users") or ():
        user = (entry or {}).get("user") or {} if isinstance(entry, dict) else {}
        for field, what in _FORBIDDEN_USER.items():
            if user.get(field):
                raise RemoteError(f"the kubeconfig in {where} uses {what}: refused")
    for entry in document.get("clusters") or ():
        cluster = (entry or {}).get("cluster") or {} if isinstance(entry, dict) else {}
        if cluster.get("certificate-authority"):
            raise RemoteError(
                f"the kubeconfig in {where} names a CA file: give certificate-authority-data"
            )
    return document
