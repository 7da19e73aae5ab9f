"""Cluster Secrets with execProviderConfig and client certificates, against the local cluster.

The plugin is a real program written by the test: it prints an ExecCredential carrying a token
the local cluster accepts (or fails, hangs, floods, lies, as asked through its ``env``), and
counts its runs in a file.
"""

from __future__ import annotations

import base64
import json
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.controller.stack import CONTROL_NS, Env, status_of
from tests.controller.test_clusters import cluster_secret
from tether.cluster.client import ClusterClient
from tether.cluster.config import ClientSettings, load_kubeconfig
from tether.cluster.errors import Forbidden
from tether.cluster.execauth import EXEC_API_V1, EXEC_API_V1BETA1, ExecLimits, ExecPluginError
from tether.controller.clusters import ClusterSecretError, client_for, parse_cluster_secret
from tether.localcluster import pki
from tether.localcluster.cluster import LocalCluster, write_kubeconfig
from tether.localcluster.testing import eventually, wait_until

PLUGIN = """\
#!{python}
import json, os, pathlib, sys, time
counter = pathlib.Path(os.environ["COUNTER"])
runs = int(counter.read_text()) + 1 if counter.exists() else 1
counter.write_text(str(runs))
pathlib.Path(str(counter) + ".info").write_text(os.environ.get("KUBERNETES_EXEC_INFO", ""))
mode = os.environ.get("MODE", "ok")
if mode == "fail":
    print("starting", file=sys.stderr)
    print("error: the SSO session has expired; run aws sso login", file=sys.stderr)
    sys.exit(1)
if mode == "hang":
    time.sleep(600)
if mode == "hang-with-helper":
    import subprocess
    helper = subprocess.Popen(["sleep", "600"])
    pathlib.Path(str(counter) + ".helper").write_text(str(helper.pid))
    time.sleep(600)
if mode == "shout":
    sys.stderr.write("noise " * 200_000)
    print("the real reason", file=sys.stderr)
    sys.exit(2)
if mode == "flood":
    sys.stdout.write("x" * 3_000_000)
    sys.exit(0)
if mode == "garbage":
    print("not json")
    sys.exit(0)
token = os.environ["TOKEN"]
if mode == "stale-first" and runs == 1:
    token = "a-token-the-server-refuses"
status = {{"token": token}}
if os.environ.get("EXPIRES"):
    status["expirationTimestamp"] = os.environ["EXPIRES"]
version = os.environ.get("ANSWER_VERSION", "client.authentication.k8s.io/v1")
print(json.dumps({{"apiVersion": version, "kind": "ExecCredential", "status": status}}))
"""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def plugin(tmp_path: Path) -> Path:
    path = tmp_path / "token-plugin"
    path.write_text(PLUGIN.format(python=sys.executable))
    path.chmod(0o755)
    return path


def runs(counter: Path) -> int:
    return int(counter.read_text()) if counter.exists() else 0


def exec_secret(
    cluster: LocalCluster,
    name: str,
    command: Path | str,
    counter: Path,
    server: str | None = None,
    api_version: str = EXEC_API_V1,
    **env: str,
) -> dict[str, Any]:
    config = {
        "execProviderConfig": {
            "command": str(command),
            "args": ["--cluster", name],
            "env": {"TOKEN": cluster.admin_token, "COUNTER": str(counter), **env},
            "apiVersion": api_version,
            "installHint": "install token-plugin from the platform team's bucket",
        },
        "tlsClientConfig": {"caData": b64(cluster.creds.ca_pem)},
    }
    return cluster_secret(name, server or cluster.url, config)


@pytest_asyncio.fixture
async def open_client() -> AsyncIterator[list[ClusterClient]]:
    """Clients the test opens, closed at its end."""
    opened: list[ClusterClient] = []
    yield opened
    for client in opened:
        await client.aclose()


async def versions(client: ClusterClient, times: int) -> None:
    for _ in range(times):
        await client.request("GET", "/version", verb="get")


def _client(secret: dict[str, Any], opened: list[ClusterClient], **settings: Any) -> ClusterClient:
    client = client_for(parse_cluster_secret(secret), ClientSettings(**settings))
    opened.append(client)
    return client


async def test_the_plugins_token_reaches_the_cluster_and_is_reused(
    local_cluster: LocalCluster, plugin: Path, tmp_path: Path, open_client: list[ClusterClient]
) -> None:
    counter = tmp_path / "runs"
    client = _client(exec_secret(local_cluster, "eks", plugin, counter), open_client)

    namespaces = await client.list(await client.resource_for("v1", "Namespace"))
    await versions(client, 3)

    assert any(ns["metadata"]["name"] == "default" for ns in namespaces.items)
    assert runs(counter) == 1
    info = json.loads(Path(f"{counter}.info").read_text())
    assert info == {
        "apiVersion": EXEC_API_V1,
        "kind": "ExecCredential",
        "spec": {"interactive": False},
    }


@pytest.mark.parametrize(
    ("api_version", "expires", "expected_runs"),
    [
        (EXEC_API_V1, "2020-01-01T00:00:00Z", 3),  # expired: every request runs it again
        (EXEC_API_V1BETA1, "2999-01-01T00:00:00+00:00", 1),  # valid until later: kept
    ],
)
async def test_the_token_is_kept_until_its_expiration_timestamp(
    local_cluster: LocalCluster,
    plugin: Path,
    tmp_path: Path,
    open_client: list[ClusterClient],
    api_version: str,
    expires: str,
    expected_runs: int,
) -> None:
    counter = tmp_path / "runs"
    secret = exec_secret(
        local_cluster,
        "gke",
        plugin,
        counter,
        api_version=api_version,
        ANSWER_VERSION=api_version,
        EXPIRES=expires,
    )
    client = _client(secret, open_client)

    await versions(client, 3)

    assert runs(counter) == expected_runs


async def test_a_refused_token_runs_the_plugin_again_once(
    local_cluster: LocalCluster, plugin: Path, tmp_path: Path, open_client: list[ClusterClient]
) -> None:
    counter = tmp_path / "runs"
    secret = exec_secret(local_cluster, "sso", plugin, counter, MODE="stale-first")
    client = _client(secret, open_client)

    await versions(client, 2)

    assert runs(counter) == 2


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (
            "fail",
            r"exec plugin 'token-plugin' of cluster broken \(https://127\.0\.0\.1:\d+\) exited "
            r"with status 1: starting / error: the SSO session has expired; run aws sso login",
        ),
        ("hang", r"did not finish within 1 s"),
        ("flood", r"printed more than 1048576 bytes; refused"),
        ("garbage", r"printed no ExecCredential JSON on stdout"),
    ],
)
async def test_a_failing_plugin_is_a_clear_error(
    local_cluster: LocalCluster,
    plugin: Path,
    tmp_path: Path,
    open_client: list[ClusterClient],
    mode: str,
    expected: str,
) -> None:
    secret = exec_secret(local_cluster, "broken", plugin, tmp_path / "runs", MODE=mode)
    client = _client(secret, open_client, exec_limits=ExecLimits(timeout=1.0))

    with pytest.raises(ExecPluginError, match=expected):
        await versions(client, 1)


async def test_a_plugin_that_overruns_is_killed_with_its_helpers(
    local_cluster: LocalCluster, plugin: Path, tmp_path: Path, open_client: list[ClusterClient]
) -> None:
    counter = tmp_path / "runs"
    secret = exec_secret(local_cluster, "slow", plugin, counter, MODE="hang-with-helper")
    client = _client(secret, open_client, exec_limits=ExecLimits(timeout=2.0))

    with pytest.raises(ExecPluginError, match="did not finish within 2 s"):
        await versions(client, 1)

    helper = int(Path(f"{counter}.helper").read_text())
    wait_until(lambda: not _alive(helper), timeout=10, what="the plugin's helper killed")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie is dead, only not yet reaped by its parent


async def test_a_flood_on_stderr_is_cut_to_its_end(
    local_cluster: LocalCluster, plugin: Path, tmp_path: Path, open_client: list[ClusterClient]
) -> None:
    secret = exec_secret(local_cluster, "loud", plugin, tmp_path / "runs", MODE="shout")
    client = _client(secret, open_client)

    with pytest.raises(ExecPluginError) as caught:
        await versions(client, 1)

    message = caught.value.message
    assert "exited with status 2" in message
    assert message.endswith("the real reason")
    assert len(message) < 6000


async def test_a_plugin_answering_another_version_is_refused(
    local_cluster: LocalCluster, plugin: Path, tmp_path: Path, open_client: list[ClusterClient]
) -> None:
    secret = exec_secret(
        local_cluster, "v", plugin, tmp_path / "runs", ANSWER_VERSION=EXEC_API_V1BETA1
    )
    client = _client(secret, open_client)

    with pytest.raises(
        ExecPluginError, match=r"is configured for client\.authentication\.k8s\.io/v1 "
    ):
        await versions(client, 1)


async def test_a_missing_plugin_shows_the_install_hint(
    local_cluster: LocalCluster, tmp_path: Path, open_client: list[ClusterClient]
) -> None:
    secret = exec_secret(local_cluster, "gone", tmp_path / "no-such-plugin", tmp_path / "runs")
    client = _client(secret, open_client)

    with pytest.raises(ExecPluginError, match="install token-plugin from the platform team"):
        await versions(client, 1)


@pytest.mark.parametrize(
    ("provider", "expected"),
    [
        ({"apiVersion": EXEC_API_V1}, "execProviderConfig.command must name the plugin"),
        (
            {"command": "x", "apiVersion": "client.authentication.k8s.io/v1alpha1"},
            "apiVersion must be one of client.authentication.k8s.io/v1, ",
        ),
        ({"command": "x", "apiVersion": EXEC_API_V1, "env": ["A=1"]}, "env must map names"),
        ({"command": "x", "apiVersion": EXEC_API_V1, "args": "--a"}, "args must be a list"),
    ],
)
def test_a_malformed_exec_provider_is_a_cluster_secret_error(
    provider: dict[str, Any], expected: str
) -> None:
    secret = cluster_secret("bad", "https://bad.example.com", {"execProviderConfig": provider})

    with pytest.raises(ClusterSecretError, match=expected):
        parse_cluster_secret(secret)


async def test_a_kubeconfig_with_a_v1_exec_user_works(
    local_cluster: LocalCluster, plugin: Path, tmp_path: Path
) -> None:
    counter = tmp_path / "runs"
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "local",
                "cluster": {
                    "server": local_cluster.url,
                    "certificate-authority-data": b64(local_cluster.creds.ca_pem),
                },
            }
        ],
        "users": [
            {
                "name": "plugin",
                "user": {
                    "exec": {
                        "apiVersion": EXEC_API_V1,
                        "command": str(plugin),
                        "env": [
                            {"name": "TOKEN", "value": local_cluster.admin_token},
                            {"name": "COUNTER", "value": str(counter)},
                        ],
                        "interactiveMode": "Never",
                    }
                },
            }
        ],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": "plugin"}}],
        "current-context": "local",
    }
    path = write_kubeconfig(tmp_path / "kubeconfig", doc)

    async with ClusterClient(load_kubeconfig(path)) as client:
        await versions(client, 2)

    assert runs(counter) == 1


# ---- client certificates ---------------------------------------------------------------------


def cert_secret(cluster: LocalCluster, name: str, user: str, groups: tuple[str, ...]) -> dict:  # type: ignore[type-arg]
    cert, key = pki.issue_client_cert(cluster.creds.ca_pem, cluster.creds.ca_key_pem, user, groups)
    config = {
        "tlsClientConfig": {
            "caData": b64(cluster.creds.ca_pem),
            "certData": b64(cert),
            "keyData": b64(key),
        }
    }
    return cluster_secret(name, cluster.url, config)


async def test_a_client_certificate_authenticates_as_its_subject(
    local_cluster: LocalCluster, open_client: list[ClusterClient]
) -> None:
    admin = _client(
        cert_secret(local_cluster, "masters", "cert-admin", ("system:masters",)), open_client
    )
    nobody = _client(cert_secret(local_cluster, "plain", "cert-nobody", ()), open_client)
    info = await admin.resource_for("v1", "Namespace")

    assert (await admin.list(info)).items
    with pytest.raises(Forbidden, match='User "cert-nobody" cannot list resource "namespaces"'):
        await nobody.list(info)


# ---- the controller deploys through the plugin -------------------------------------------------

APP_CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: via-exec
data:
  auth: exec
"""


async def _exec_app(env: Env, secret: dict[str, Any], cluster_name: str) -> tuple[str, str]:
    name = f"exec-{uuid.uuid4().hex[:6]}"
    target = f"exec-{uuid.uuid4().hex[:6]}"
    url, _ = env.new_repo({"apps/payment-service/production/cm.yaml": APP_CONFIGMAP})
    await env.kube("create", "namespace", target)
    await env.apply(secret)
    await env.application(
        name,
        url,
        target,
        **{"spec.destination.server": None, "spec.destination.name": cluster_name},
    )
    return name, target


async def test_an_app_syncs_to_a_cluster_reached_through_an_exec_plugin(
    env: Env, plugin: Path, tmp_path: Path
) -> None:
    cluster_name = f"exec-{uuid.uuid4().hex[:6]}"
    counter = tmp_path / "runs"
    secret = exec_secret(env.cluster, cluster_name, plugin, counter)
    secret["metadata"]["namespace"] = CONTROL_NS
    name, target = await _exec_app(env, secret, cluster_name)

    async def synced() -> bool:
        return status_of(await env.app(name))[0] == "Synced"

    await eventually(synced, timeout=60, what="the app synced through the exec plugin")
    live = await env.live("ConfigMap", "via-exec", target)
    assert live is not None and live["data"] == {"auth": "exec"}
    assert runs(counter) >= 1
    await env.kube("delete", "application", name, "-n", CONTROL_NS, check=False)


async def test_a_failing_plugin_is_an_app_condition_with_its_stderr(
    env: Env, plugin: Path, tmp_path: Path
) -> None:
    cluster_name = f"exec-{uuid.uuid4().hex[:6]}"
    # another spelling of the same server: the controller keeps one client per server URL
    server = env.cluster.url.replace("127.0.0.1", "localhost")
    secret = exec_secret(
        env.cluster, cluster_name, plugin, tmp_path / "runs", server=server, MODE="fail"
    )
    secret["metadata"]["namespace"] = CONTROL_NS
    name, _ = await _exec_app(env, secret, cluster_name)

    message = await eventually(
        lambda: env.condition(name, "ComparisonError"), timeout=20, what="the plugin's failure"
    )
    assert "exited with status 1" in message
    assert "the SSO session has expired; run aws sso login" in message
    await env.kube("delete", "application", name, "-n", CONTROL_NS, check=False)


async def test_a_malformed_exec_provider_is_an_invalid_spec_condition(env: Env) -> None:
    cluster_name = f"exec-{uuid.uuid4().hex[:6]}"
    provider = {"apiVersion": "client.authentication.k8s.io/v1alpha1", "command": "x"}
    secret = cluster_secret(
        cluster_name, "https://malformed.example.com", {"execProviderConfig": provider}
    )
    secret["metadata"]["namespace"] = CONTROL_NS
    name, _ = await _exec_app(env, secret, cluster_name)

    message = await eventually(
        lambda: env.condition(name, "InvalidSpecError"), timeout=20, what="the refusal"
    )
    assert "config.execProviderConfig.apiVersion must be one of" in message
    await env.kube("delete", "application", name, "-n", CONTROL_NS, check=False)
