"""Where a repository's credentials may go, and that they never show."""

from __future__ import annotations

import pytest

from tether.charts import ChartSource, InvalidChartSourceError, RepoAccess
from tether.charts.urls import archive_url, check_repo_url, index_url
from tether.source.credentials import RepoCredentials, select_credentials

CREDS = RepoCredentials(
    url="https://charts.example.com",
    username="u",
    password="pa55word",
    tls_client_cert_data="CERT",
    tls_client_cert_key="KEY-MATERIAL",
)
ACCESS = RepoAccess("https://charts.example.com/stable", CREDS, ca_pem="CA")


def test_the_login_goes_to_the_repository_origin_only() -> None:
    assert (
        ACCESS.authorization("https://charts.example.com/other/x.tgz") == "Basic dTpwYTU1d29yZA=="
    )
    assert ACCESS.authorization("https://charts.example.com:8443/x.tgz") is None
    assert ACCESS.authorization("http://charts.example.com/x.tgz") is None
    assert ACCESS.authorization("https://github.com/x.tgz") is None
    passing = RepoAccess(ACCESS.repo_url, CREDS, pass_credentials=True)
    assert passing.authorization("https://github.com/x.tgz") is not None


def test_tls_material_is_for_the_repository_origin_only() -> None:
    own = ACCESS.tls_for("https://charts.example.com/a.tgz")
    assert own.client_key == "KEY-MATERIAL" and own.ca_pem == "CA"
    assert ACCESS.tls_for("https://objects.example.net/a.tgz").is_default


def test_nothing_secret_shows_and_quoted_text_is_scrubbed() -> None:
    shown = repr(ACCESS) + repr(ACCESS.tls_for("https://charts.example.com/a.tgz"))

    assert "pa55word" not in shown and "KEY-MATERIAL" not in shown and "CA'" not in shown
    assert ACCESS.scrub("echo pa55word dTpwYTU1d29yZA== KEY-MATERIAL") == "echo *** *** ***"
    assert ACCESS.scrub("see https://u:pa55@host/x") == "see https://host/x"
    assert ACCESS.fingerprint() != RepoAccess(ACCESS.repo_url).fingerprint()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("oci://ghcr.io/org/charts", "OCI registries are not supported"),
        ("git@github.com:org/charts.git", "not an http"),
        ("https://user:secret@charts.example.com", "user-info"),
        ("", "empty"),
    ],
)
def test_repo_urls_that_cannot_be_used_are_refused(url: str, problem: str) -> None:
    with pytest.raises(InvalidChartSourceError, match=problem) as caught:
        check_repo_url(url)
    assert "secret" not in str(caught.value)


def test_index_and_archive_urls_follow_helm() -> None:
    assert index_url("https://h/charts") == "https://h/charts/index.yaml"
    assert index_url("https://h/c?sig=1") == "https://h/c/index.yaml?sig=1"
    assert archive_url("https://h/charts", "web-1.0.0.tgz") == "https://h/charts/web-1.0.0.tgz"
    assert archive_url("https://h/charts", "/dl/web.tgz") == "https://h/dl/web.tgz"
    assert archive_url("https://h/charts", "https://o/web.tgz") == "https://o/web.tgz"
    assert archive_url("https://h/c?sig=1", "w.tgz") == "https://h/c/w.tgz?sig=1"


async def test_a_chart_name_that_is_not_one_is_refused(source: ChartSource) -> None:
    with pytest.raises(InvalidChartSourceError, match="not a chart name"):
        await source.resolve("https://charts.example.com", "../etc", "*")


def test_a_repository_secret_without_login_inherits_the_templates_certificate_pair() -> None:
    def secret(kind: str, **fields: str) -> dict[str, object]:
        labels = {"argocd.argoproj.io/secret-type": kind}
        return {"metadata": {"name": kind, "labels": labels}, "stringData": fields}

    template = secret(
        "repo-creds",
        url="https://charts.example.com/",
        password="pw",
        tlsClientCertData="T-CERT",
        tlsClientCertKey="T-KEY",
    )
    own = secret("repository", url="https://charts.example.com/team", type="helm")
    with_pair = secret(
        "repository",
        url="https://charts.example.com/team",
        tlsClientCertData="O-CERT",
        tlsClientCertKey="O-KEY",
    )

    inherited = select_credentials("https://charts.example.com/team", [template, own])
    kept = select_credentials("https://charts.example.com/team", [template, with_pair])

    assert inherited is not None and inherited.password == "pw" and inherited.type == "helm"
    assert (inherited.tls_client_cert_data, inherited.tls_client_cert_key) == ("T-CERT", "T-KEY")
    assert kept is not None and (kept.tls_client_cert_data, kept.tls_client_cert_key) == (
        "O-CERT",
        "O-KEY",
    )
