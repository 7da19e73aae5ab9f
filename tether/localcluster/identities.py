"""Kubeconfigs for a given identity on a local cluster: a ServiceAccount, a token, a certificate.

Tests and ``tether up`` use them to act as someone other than the admin: the controller as its
ServiceAccount, a person as a certificate user in a group.
"""

from __future__ import annotations

import base64
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml

from tether.errors import TetherError
from tether.localcluster import pki
from tether.localcluster.cluster import cert_user_entry, identity_kubeconfig, write_kubeconfig


class IdentityError(TetherError):
    """A kubeconfig for an identity cannot be made (no CA key, account missing, ...)."""


@dataclass(frozen=True)
class ClusterAccess:
    """What it takes to reach a cluster as its admin: server URL, CA, admin token, CA key."""

    server: str
    ca_pem: bytes
    admin_token: str
    ca_key_pem: bytes = b""

    @classmethod
    def from_kubeconfig(cls, path: Path, ca_key_pem: bytes = b"") -> ClusterAccess:
        """Read the admin context of a kubeconfig the local cluster wrote."""
        doc = yaml.safe_load(Path(path).read_text())
        cluster = doc["clusters"][0]["cluster"]
        users = {u["name"]: u["user"] for u in doc["users"]}
        context = next(c for c in doc["contexts"] if c["name"] == doc["current-context"])
        token = users[context["context"]["user"]]["token"]
        ca = base64.b64decode(cluster["certificate-authority-data"])
        return cls(cluster["server"], ca, token, ca_key_pem)

    def _client(self) -> httpx.Client:
        context = ssl.create_default_context(cadata=self.ca_pem.decode())
        return httpx.Client(
            base_url=self.server,
            verify=context,
            headers={"Authorization": f"Bearer {self.admin_token}"},
            timeout=30,
        )

    def service_account_token(
        self,
        namespace: str,
        name: str,
        expiration_seconds: int = 3600,
        audiences: list[str] | None = None,
        create: bool = True,
    ) -> str:
        """A token for ServiceAccount ``namespace/name`` through the TokenRequest API (the
        account is created first when missing and ``create`` is true)."""
        with self._client() as http:
            base = f"/api/v1/namespaces/{namespace}/serviceaccounts"
            if create and http.get(f"{base}/{name}").status_code == 404:
                account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}
                _check(http.post(base, content=orjson.dumps(account)))
            spec: dict[str, Any] = {"expirationSeconds": expiration_seconds}
            if audiences:
                spec["audiences"] = audiences
            body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
            answer = _check(http.post(f"{base}/{name}/token", content=orjson.dumps(body)))
        return str(answer["status"]["token"])

    def token_kubeconfig(self, path: Path, token: str, user: str = "token-user") -> Path:
        """Write a kubeconfig that authenticates with ``token``."""
        return write_kubeconfig(
            path, identity_kubeconfig(self.server, self.ca_pem, user, {"token": token})
        )

    def service_account_kubeconfig(self, path: Path, namespace: str, name: str) -> Path:
        """Write a kubeconfig acting as ServiceAccount ``namespace/name`` (created if missing)."""
        token = self.service_account_token(namespace, name)
        return self.token_kubeconfig(path, token, f"system:serviceaccount:{namespace}:{name}")

    def client_cert(self, user: str, groups: tuple[str, ...] = ()) -> tuple[bytes, bytes]:
        """A client certificate and key (PEM) that authenticate as ``user`` in ``groups``, e.g.
        for an Argo CD cluster Secret's ``tlsClientConfig``."""
        if not self.ca_key_pem:
            raise IdentityError(
                "this cluster's CA key is not known here: start it with --state to issue "
                "client certificates"
            )
        return pki.issue_client_cert(self.ca_pem, self.ca_key_pem, user, groups)

    def cert_kubeconfig(self, path: Path, user: str, groups: tuple[str, ...] = ()) -> Path:
        """Write a kubeconfig with a client certificate for ``user`` in ``groups``."""
        cert, key = self.client_cert(user, groups)
        doc = identity_kubeconfig(self.server, self.ca_pem, user, cert_user_entry(cert, key))
        return write_kubeconfig(path, doc)


def _check(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 400:
        try:
            message = response.json().get("message", response.text)
        except ValueError:
            message = response.text
        raise IdentityError(f"the cluster refused ({response.status_code}): {message}")
    answer: dict[str, Any] = response.json()
    return answer


def saved_ca_key(state_dir: Path) -> bytes:
    """The CA key saved under a cluster's ``--state`` folder (empty when there is none)."""
    saved = Path(state_dir) / "credentials.json"
    if not saved.exists():
        return b""
    return str(orjson.loads(saved.read_bytes()).get("ca_key", "")).encode()
