"""argocd-ssh-known-hosts-cm and argocd-tls-certs-cm, read from a real cluster and followed.

The ConfigMaps are written with the real kubectl into a namespace of the local cluster and
watched by the controller's ``ObjectWatcher``; git runs against a real sshd.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
import yaml

from tests.controller.stack import CONTROL_NS, running_stack, status_of
from tests.source.conftest import SSHServer, make_remote
from tether.cluster.client import ClusterClient
from tether.controller.repoconfig import (
    ARGOCD_DEFAULT_KNOWN_HOSTS,
    SSH_KNOWN_HOSTS_CONFIGMAP,
    TLS_CERTS_CONFIGMAP,
    RepoConfig,
)
from tether.controller.watcher import ObjectWatcher
from tether.localcluster.cluster import LocalCluster, generate_credentials
from tether.localcluster.testing import Kubectl, eventually
from tether.source import HostKeyError, MirrorCache, RepoCredentials
from tether.source.trust import TrustLimits, parse_known_hosts


def _configmap(name: str, namespace: str, data: dict[str, str]) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace},
            "data": data,
        }
    )


def test_argocds_default_entries_are_all_valid() -> None:
    parsed = parse_known_hosts(ARGOCD_DEFAULT_KNOWN_HOSTS)

    assert parsed.rejected == ()
    assert {line.split()[0] for line in parsed.lines} >= {"github.com", "gitlab.com"}


def test_without_the_configmap_argocds_defaults_are_trusted(tmp_path: Path) -> None:
    config = RepoConfig(tmp_path / "trust", "argocd")
    defaults = config.trust.known_hosts_file.read_text()
    assert defaults.count("\n") == len(parse_known_hosts(ARGOCD_DEFAULT_KNOWN_HOSTS).lines)

    config.apply(SSH_KNOWN_HOSTS_CONFIGMAP, {"data": {}})
    assert config.trust.known_hosts_file.read_text() == ""  # present without the key: none

    config.on_configmap("DELETED", {"metadata": {"name": SSH_KNOWN_HOSTS_CONFIGMAP}})
    assert config.trust.known_hosts_file.read_text() == defaults


def test_left_out_entries_are_reported(tmp_path: Path) -> None:
    config = RepoConfig(tmp_path / "trust", "argocd")

    problems = config.apply(
        TLS_CERTS_CONFIGMAP,
        {"data": {"git.example.com": "no pem here", "ok.example.com": _ca_pem()}},
    )

    assert problems == ("'git.example.com' holds no PEM certificate (-----BEGIN CERTIFICATE-----)",)
    assert config.trust.ca_file_for("https://ok.example.com/r.git") is not None


def test_an_oversized_configmap_keeps_the_previous_trust(tmp_path: Path) -> None:
    config = RepoConfig(tmp_path / "trust", "argocd", TrustLimits(max_known_hosts_bytes=8192))
    before = config.trust.known_hosts_file.read_text()
    assert "github.com" in before  # the defaults are within the limit

    problems = config.apply(SSH_KNOWN_HOSTS_CONFIGMAP, {"data": {"ssh_known_hosts": "#" * 9000}})

    assert problems == ("9000 bytes of known hosts, more than the limit of 8192",)
    assert config.trust.known_hosts_file.read_text() == before


def _ca_pem() -> str:
    return generate_credentials().ca_pem.decode()


@pytest_asyncio.fixture
async def followed(
    client: ClusterClient, namespace: str, tmp_path: Path
) -> AsyncIterator[RepoConfig]:
    """A RepoConfig fed by a real watch of the ConfigMaps of ``namespace``."""
    config = RepoConfig(tmp_path / "trust", namespace)
    info = await client.resource_for("v1", "ConfigMap")
    watcher = ObjectWatcher(client, info, namespace, config.on_configmap)
    watcher.start()
    await asyncio.wait_for(watcher.synced.wait(), 30)
    try:
        yield config
    finally:
        await watcher.stop()


async def test_the_configmap_is_followed_into_git_host_key_checks(
    followed: RepoConfig,
    kubectl: Kubectl,
    namespace: str,
    ssh_server: SSHServer,
    tmp_path: Path,
) -> None:
    repo = make_remote(ssh_server.root, tmp_path, ssh_server.url("{name}"))
    sha = repo.commit_and_push("initial", {"app/cm.yaml": "kind: ConfigMap\n"})
    cache = MirrorCache(tmp_path / "cache", trust=followed.trust)
    creds = RepoCredentials(url=repo.url, ssh_private_key=ssh_server.client_key)
    mirror = cache.mirror(repo.url, creds)

    def head_or_error() -> str | HostKeyError:
        try:
            return mirror.ls_remote()["refs/heads/main"]
        except HostKeyError as exc:
            return exc

    async def write(known_hosts: str) -> None:
        data = {"ssh_known_hosts": known_hosts}
        manifest = _configmap(SSH_KNOWN_HOSTS_CONFIGMAP, namespace, data)
        await asyncio.to_thread(kubectl, "apply", "-f", "-", input=manifest)

    async def answer(expected: type) -> Any:
        found = await asyncio.to_thread(head_or_error)
        return found if isinstance(found, expected) else None

    # Argo CD's defaults (no ConfigMap yet) do not know this server
    assert isinstance(head_or_error(), HostKeyError)

    await write("# scanned\n" + ssh_server.known_hosts.read_text())
    assert await eventually(lambda: answer(str), what="the host key trusted") == sha

    impostor = ARGOCD_DEFAULT_KNOWN_HOSTS.splitlines()[0].split(" ", 1)[1]
    await write(f"[127.0.0.1]:{ssh_server.port} {impostor}\n")
    error = await eventually(lambda: answer(HostKeyError), what="the wrong key refused")
    assert (
        f"the ConfigMap {SSH_KNOWN_HOSTS_CONFIGMAP} (key ssh_known_hosts) in namespace {namespace}"
        in error.message
    )


# ---- the whole controller ------------------------------------------------------------------------

APP_CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: from-ssh
data:
  via: ssh
"""


async def test_controller_syncs_an_ssh_repository_once_the_configmap_trusts_its_host(
    local_cluster: LocalCluster, ssh_server: SSHServer, tmp_path: Path
) -> None:
    repo = make_remote(ssh_server.root, tmp_path, ssh_server.url("{name}"))
    repo.commit_and_push("manifests", {"apps/payment-service/production/cm.yaml": APP_CONFIGMAP})
    name = f"ssh-{uuid.uuid4().hex[:6]}"
    target_ns = f"ssh-{uuid.uuid4().hex[:6]}"
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": CONTROL_NS,
            "labels": {"argocd.argoproj.io/secret-type": "repository"},
        },
        "stringData": {"url": repo.url, "sshPrivateKey": ssh_server.client_key},
    }
    async with running_stack(local_cluster, tmp_path / "stack") as env:
        try:
            await env.kube("create", "namespace", target_ns)
            await env.apply(secret)
            await env.application(name, repo.url, target_ns)
            # Argo CD's default known hosts do not know the test's sshd
            message = await eventually(
                lambda: env.condition(name, "ComparisonError"), what="the host key refused"
            )
            assert f"the ConfigMap {SSH_KNOWN_HOSTS_CONFIGMAP}" in message
            assert f"[127.0.0.1]:{ssh_server.port}" in message

            known = {"ssh_known_hosts": ssh_server.known_hosts.read_text()}
            manifest = _configmap(SSH_KNOWN_HOSTS_CONFIGMAP, CONTROL_NS, known)
            await env.kube("apply", "-f", "-", input=manifest)

            async def synced() -> bool:
                return status_of(await env.app(name))[0] == "Synced"

            await eventually(synced, timeout=60, what="the app synced over SSH")
            live = await env.live("ConfigMap", "from-ssh", target_ns)
            assert live is not None and live["data"] == {"via": "ssh"}
        finally:
            await env.kube(
                "delete",
                "configmap",
                SSH_KNOWN_HOSTS_CONFIGMAP,
                "-n",
                CONTROL_NS,
                "--ignore-not-found",
                check=False,
            )
            await env.kube("delete", "application", name, "-n", CONTROL_NS, check=False)
            await env.kube("delete", "secret", name, "-n", CONTROL_NS, check=False)


async def test_the_tls_configmap_is_followed_and_its_deletion_too(
    followed: RepoConfig, kubectl: Kubectl, namespace: str
) -> None:
    ca = _ca_pem()
    manifest = _configmap(TLS_CERTS_CONFIGMAP, namespace, {"git.example.com": ca})
    await asyncio.to_thread(kubectl, "apply", "-f", "-", input=manifest)

    found = await eventually(
        lambda: followed.trust.ca_file_for("https://git.example.com:8443/org/r.git"),
        what="the CA file written",
    )
    assert found.read_text() == ca

    await asyncio.to_thread(kubectl, "delete", "configmap", TLS_CERTS_CONFIGMAP, "-n", namespace)
    await eventually(
        lambda: followed.trust.ca_file_for("https://git.example.com/org/r.git") is None,
        what="the CA forgotten",
    )
