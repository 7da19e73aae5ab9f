"""Helm repositories over https: a private CA, insecure repositories, client certificates."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.charts.conftest import RepoFactory
from tests.charts.servers import Reply, ServerTLS, key_pem
from tests.images.conftest import KeyPair, make_certificate
from tether.charts import (
    ChartRepositoryError,
    ChartRepositoryUnreachableError,
    ChartSource,
    InvalidChartSourceError,
)
from tether.source.credentials import RepoCredentials, credentials_from_secret


@pytest.fixture(scope="session")
def authority() -> KeyPair:
    return make_certificate("tether test CA")


@pytest.fixture(scope="session")
def server_tls(authority: KeyPair) -> ServerTLS:
    return ServerTLS(make_certificate("127.0.0.1", authority, server=True))


@pytest.fixture(scope="session")
def client_pair(authority: KeyPair) -> KeyPair:
    return make_certificate("127.0.0.1", authority, server=True)  # a leaf; its SAN is unused


async def test_a_repository_with_a_private_ca_is_reached_with_that_ca(
    chart_repo: RepoFactory, source: ChartSource, server_tls: ServerTLS, authority: KeyPair,
    tmp_path: Path,
) -> None:  # fmt: skip
    repo = chart_repo(tls=server_tls)

    resolved = await source.resolve(repo.url, "web", "^1", ca_pem=authority.certificate_pem)
    folder = await source.materialize(resolved, tmp_path / "out", ca_pem=authority.certificate_pem)

    assert repo.url.startswith("https://") and (folder / "Chart.yaml").is_file()


async def test_without_the_ca_the_error_says_tls_verification_failed(
    chart_repo: RepoFactory, source: ChartSource, server_tls: ServerTLS
) -> None:
    repo = chart_repo(tls=server_tls)

    with pytest.raises(ChartRepositoryUnreachableError, match="TLS verification failed"):
        await source.resolve(repo.url, "web", "*")


async def test_an_insecure_repository_is_reached_without_its_ca(
    chart_repo: RepoFactory, source: ChartSource, server_tls: ServerTLS
) -> None:
    repo = chart_repo(tls=server_tls)
    insecure = RepoCredentials(url=repo.url, insecure=True)

    assert (await source.resolve(repo.url, "web", "1.0.0", insecure)).version == "1.0.0"


async def test_a_client_certificate_from_the_repository_secret_is_presented(
    chart_repo: RepoFactory, source: ChartSource, authority: KeyPair, client_pair: KeyPair,
    tmp_path: Path,
) -> None:  # fmt: skip
    server = make_certificate("127.0.0.1", authority, server=True)
    repo = chart_repo(tls=ServerTLS(server, client_ca=authority))
    secret = {
        "metadata": {"name": "charts", "labels": {"argocd.argoproj.io/secret-type": "repository"}},
        "stringData": {
            "type": "helm",
            "url": repo.url,
            "tlsClientCertData": client_pair.certificate_pem,
            "tlsClientCertKey": key_pem(client_pair),
        },
    }
    creds = credentials_from_secret(secret)
    ca = authority.certificate_pem

    with pytest.raises(ChartRepositoryUnreachableError, match="client certificate"):
        await source.resolve(repo.url, "web", "*", ca_pem=ca)
    resolved = await source.resolve(repo.url, "web", "*", creds, ca)
    folder = await source.materialize(resolved, tmp_path / "out", creds, ca)

    assert resolved.version == "2.0.0" and (folder / "Chart.yaml").is_file()
    assert "PRIVATE KEY" not in repr(creds)


async def test_a_certificate_that_is_not_pem_is_a_clear_error(
    chart_repo: RepoFactory, source: ChartSource, server_tls: ServerTLS, client_pair: KeyPair
) -> None:
    repo = chart_repo(tls=server_tls)
    half = RepoCredentials(url=repo.url, tls_client_cert_data=client_pair.certificate_pem)
    broken = RepoCredentials(
        url=repo.url, tls_client_cert_data="garbage", tls_client_cert_key=key_pem(client_pair)
    )

    with pytest.raises(InvalidChartSourceError, match="not a PEM certificate"):
        await source.resolve(repo.url, "web", "*", ca_pem="not a certificate")
    with pytest.raises(InvalidChartSourceError, match="needs both"):
        await source.resolve(repo.url, "web", "*", half)
    with pytest.raises(InvalidChartSourceError, match="not a PEM certificate and its") as caught:
        await source.resolve(repo.url, "web", "*", broken)
    assert "PRIVATE" not in str(caught.value)


async def test_a_redirect_from_https_down_to_http_is_not_followed(
    chart_repo: RepoFactory, source: ChartSource, server_tls: ServerTLS, authority: KeyPair,
    tmp_path: Path,
) -> None:  # fmt: skip
    repo = chart_repo(tls=server_tls)
    plain = chart_repo()
    target = f"{plain.url}/web-1.0.0.tgz"
    repo.routes["/charts/web-1.0.0.tgz"] = lambda seen: Reply(302, headers={"Location": target})
    ca = authority.certificate_pem
    resolved = await source.resolve(repo.url, "web", "1.0.0", ca_pem=ca)

    with pytest.raises(ChartRepositoryError, match="from https to plain http"):
        await source.materialize(resolved, tmp_path / "out", ca_pem=ca)
    assert plain.seen(".tgz") == []


def test_secrets_read_tls_fields_and_hide_them() -> None:
    encoded = base64.b64encode(b"-----BEGIN PRIVATE KEY-----\nabc\n").decode()
    creds = credentials_from_secret(
        {
            "metadata": {"name": "r", "labels": {"argocd.argoproj.io/secret-type": "repo-creds"}},
            "data": {
                "url": base64.b64encode(b"https://charts.example.com").decode(),
                "tlsClientCertKey": encoded,
            },
            "stringData": {"type": "helm", "tlsClientCertData": "CERT", "password": "pw"},
        }
    )

    assert creds.type == "helm" and creds.source == "repo-creds"
    assert creds.tls_client_cert_data == "CERT"
    assert creds.tls_client_cert_key == "-----BEGIN PRIVATE KEY-----\nabc\n"
    assert "abc" not in repr(creds) and "CERT" not in repr(creds) and "pw" not in repr(creds)
    assert creds.tls_client_cert_key in creds.secret_values()
