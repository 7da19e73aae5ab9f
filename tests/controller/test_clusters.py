"""Cluster Secrets: parsing as Argo CD writes them, resolving destinations, real clients."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tether.cluster.config import ClientSettings
from tether.cluster.errors import ClusterError, Unauthorized
from tether.controller.clusters import (
    IN_CLUSTER_NAME,
    IN_CLUSTER_SERVER,
    ClusterSecretError,
    UnknownDestination,
    client_for,
    kubeconfig_for,
    parse_cluster_secret,
    resolve_destination,
)
from tether.controller.models import Destination
from tether.localcluster.cluster import LocalCluster


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def cluster_secret(
    name: str, server: str, config: dict[str, Any], *, plain: bool = False, **extra: str
) -> dict[str, Any]:
    values = {"name": name, "server": server, "config": json.dumps(config), **extra}
    secret: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": f"cluster-{name}",
            "namespace": "argocd",
            "labels": {"argocd.argoproj.io/secret-type": "cluster"},
        },
        "type": "Opaque",
    }
    if plain:
        secret["stringData"] = values
    else:
        secret["data"] = {k: b64(v) for k, v in values.items()}
    return secret


CA = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_parse_base64_data_and_hide_credentials_from_repr() -> None:
    secret = cluster_secret(
        "prod",
        "https://prod.example.com/",
        {
            "bearerToken": "very-secret-token",
            "tlsClientConfig": {"insecure": False, "caData": b64(CA), "keyData": b64("KEY")},
        },
        namespaces="a, b",
        clusterResources="true",
        project="team",
    )
    entry = parse_cluster_secret(secret)
    assert (entry.name, entry.server) == ("prod", "https://prod.example.com")
    assert entry.namespaces == ("a", "b") and entry.cluster_resources
    assert entry.project == "team" and entry.secret_name == "argocd/cluster-prod"
    assert entry.bearer_token == "very-secret-token"
    assert entry.tls.ca_data == CA and entry.tls.key_data == b"KEY"
    shown = repr(entry)
    assert "very-secret-token" not in shown and "KEY" not in shown
    assert "prod.example.com" in shown


def test_parse_string_data_with_basic_auth() -> None:
    secret = cluster_secret(
        "dev", "https://dev", {"username": "admin", "password": "pw"}, plain=True
    )
    entry = parse_cluster_secret(secret)
    assert (entry.username, entry.password) == ("admin", "pw")
    assert "pw" not in repr(entry)
    assert kubeconfig_for(entry)["users"][0]["user"] == {"username": "admin", "password": "pw"}


def test_unnamed_cluster_is_called_by_its_server() -> None:
    secret = cluster_secret("x", "https://x.example.com", {}, plain=True)
    del secret["stringData"]["name"]
    assert parse_cluster_secret(secret).name == "https://x.example.com"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"stringData": {"server": ""}}, "server is required"),
        (
            {"stringData": {"server": "https://a", "config": "{not json"}},
            "config is not valid JSON",
        ),
        ({"stringData": {"server": "https://a", "config": "[]"}}, "config must be a JSON object"),
        (
            {
                "stringData": {
                    "server": "https://a",
                    "config": '{"tlsClientConfig": {"caData": "%%"}}',
                }
            },
            "caData must be base64-encoded PEM",
        ),
        ({"data": {"server": "!!notbase64"}}, "data.server is not valid base64"),
    ],
)
def test_malformed_secrets_are_reported_by_name(change: dict[str, Any], message: str) -> None:
    secret = cluster_secret("bad", "https://a", {}, plain=True)
    secret.pop("stringData")
    secret.update(change)
    with pytest.raises(ClusterSecretError, match=message) as info:
        parse_cluster_secret(secret)
    assert "argocd/cluster-bad" in str(info.value)


def test_unlabelled_secret_is_not_a_cluster() -> None:
    secret = cluster_secret("a", "https://a", {})
    secret["metadata"]["labels"] = {}
    with pytest.raises(ClusterSecretError, match="lacks the label"):
        parse_cluster_secret(secret)
    with pytest.raises(UnknownDestination):
        resolve_destination(Destination(server="https://a"), [secret])


def test_resolve_by_server_or_name() -> None:
    secrets = [
        cluster_secret("prod", "https://prod.example.com", {"bearerToken": "t"}),
        cluster_secret("dev", "https://dev.example.com", {"bearerToken": "t"}),
    ]
    by_server = resolve_destination(Destination(server="https://dev.example.com/"), secrets)
    assert by_server.name == "dev"
    assert resolve_destination(Destination(name="prod"), secrets).server == (
        "https://prod.example.com"
    )


def test_in_cluster_needs_no_secret() -> None:
    by_server = resolve_destination(Destination(server=IN_CLUSTER_SERVER), [])
    by_name = resolve_destination(Destination(name=IN_CLUSTER_NAME), [])
    for entry in (by_server, by_name):
        assert entry.is_in_cluster and entry.name == IN_CLUSTER_NAME


def test_secret_for_the_in_cluster_server_renames_it() -> None:
    secrets = [cluster_secret("local", IN_CLUSTER_SERVER, {}, namespaces="apps")]
    entry = resolve_destination(Destination(name="local"), secrets)
    assert entry.is_in_cluster and entry.namespaces == ("apps",)
    with pytest.raises(
        UnknownDestination, match="there are no clusters with this name: in-cluster"
    ):
        resolve_destination(Destination(name=IN_CLUSTER_NAME), secrets)


def test_unknown_destinations_say_what_is_missing() -> None:
    secrets = [cluster_secret("prod", "https://prod", {})]
    with pytest.raises(UnknownDestination) as info:
        resolve_destination(Destination(name="staging"), secrets)
    assert str(info.value) == "there are no clusters with this name: staging"
    with pytest.raises(UnknownDestination) as info:
        resolve_destination(Destination(server="https://staging.example.com"), secrets)
    assert str(info.value) == "cluster 'https://staging.example.com' has not been configured"


def test_duplicate_names_are_ambiguous() -> None:
    secrets = [cluster_secret("prod", "https://a", {}), cluster_secret("prod", "https://b", {})]
    with pytest.raises(UnknownDestination, match="there are 2 clusters with the same name: prod"):
        resolve_destination(Destination(name="prod"), secrets)


def test_malformed_secret_only_matters_when_it_is_the_destination() -> None:
    broken = cluster_secret("broken", "https://broken", {}, plain=True)
    broken["stringData"]["config"] = "{"
    good = cluster_secret("good", "https://good", {})
    assert resolve_destination(Destination(name="good"), [broken, good]).name == "good"
    with pytest.raises(ClusterSecretError, match="config is not valid JSON"):
        resolve_destination(Destination(name="broken"), [broken, good])


def test_unsupported_credential_plugins_are_refused_clearly() -> None:
    entry = parse_cluster_secret(
        cluster_secret("eks", "https://eks", {"awsAuthConfig": {"clusterName": "x"}})
    )
    with pytest.raises(ClusterSecretError, match=r"config.awsAuthConfig is not supported"):
        client_for(entry)


def test_insecure_drops_the_ca_and_client_certs_go_in_pairs() -> None:
    config = {"tlsClientConfig": {"insecure": True, "caData": b64(CA)}}
    doc = kubeconfig_for(parse_cluster_secret(cluster_secret("a", "https://a", config)))
    assert doc["clusters"][0]["cluster"] == {
        "server": "https://a",
        "insecure-skip-tls-verify": True,
    }
    half = {"tlsClientConfig": {"certData": b64("CERT")}}
    with pytest.raises(ClusterSecretError, match="certData and keyData must be given together"):
        kubeconfig_for(parse_cluster_secret(cluster_secret("a", "https://a", half)))


@pytest.fixture(scope="module")
def second_cluster() -> Iterator[LocalCluster]:
    """A second, separate local cluster, registered only through a cluster Secret."""
    with LocalCluster(workloads=None) as cluster:
        yield cluster


def _secret_for(cluster: LocalCluster, token: str, **tls: Any) -> dict[str, Any]:
    tls_config = tls or {"caData": b64(cluster.creds.ca_pem)}
    return cluster_secret(
        "second", cluster.url, {"bearerToken": token, "tlsClientConfig": tls_config}
    )


async def test_client_for_reaches_a_real_second_cluster(second_cluster: LocalCluster) -> None:
    secret = _secret_for(second_cluster, second_cluster.admin_token)
    entry = resolve_destination(Destination(name="second", namespace="x"), [secret])
    async with client_for(entry) as client:
        info = await client.resource_for("v1", "Namespace")
        names = {ns["metadata"]["name"] for ns in (await client.list(info)).items}
    assert "default" in names


async def test_client_for_insecure_skips_verification(second_cluster: LocalCluster) -> None:
    secret = _secret_for(second_cluster, second_cluster.admin_token, insecure=True)
    async with client_for(parse_cluster_secret(secret)) as client:
        info = await client.resource_for("v1", "Namespace")
        assert (await client.list(info)).items


async def test_wrong_token_is_a_clear_unauthorized_error(second_cluster: LocalCluster) -> None:
    secret = _secret_for(second_cluster, "not-the-token")
    settings = ClientSettings(max_retries=0)
    async with client_for(parse_cluster_secret(secret), settings) as client:
        with pytest.raises(Unauthorized) as info:
            await client.resource_for("v1", "Namespace")
    assert info.value.code == 401


async def test_missing_ca_fails_tls_verification(second_cluster: LocalCluster) -> None:
    secret = _secret_for(second_cluster, second_cluster.admin_token, insecure=False)
    settings = ClientSettings(max_retries=0)
    async with client_for(parse_cluster_secret(secret), settings) as client:
        with pytest.raises(ClusterError, match=r"(?i)certificate"):
            await client.resource_for("v1", "Namespace")
