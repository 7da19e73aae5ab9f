"""HTTPS repositories on a server with its own CA, trusted only through per-server PEM entries."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.source.conftest import PASSWORD, USER, Remote, make_remote
from tether.localcluster.cluster import Credentials, generate_credentials
from tether.source import MirrorCache, RepoCredentials
from tether.source.errors import TLSCertificateError, TrustConfigError
from tether.source.gitserver import GitHTTPServer
from tether.source.trust import (
    DEFAULT_CA_FALLBACK,
    RepoTrust,
    TrustLimits,
    parse_server_certificates,
    url_host,
)


@pytest.fixture(scope="module")
def tls_creds() -> Credentials:
    """A CA and a certificate for 127.0.0.1 signed by it."""
    return generate_credentials()


@pytest.fixture(scope="module")
def https_server(
    tls_creds: Credentials, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GitHTTPServer]:
    folder = tmp_path_factory.mktemp("https")
    (folder / "cert.pem").write_bytes(tls_creds.cert_pem)
    (folder / "key.pem").write_bytes(tls_creds.key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    root = folder / "repos"
    root.mkdir()
    with GitHTTPServer(root, (USER, PASSWORD), tls=context) as server:
        yield server


@pytest.fixture
def https_repo(https_server: GitHTTPServer, tmp_path: Path) -> tuple[Remote, str]:
    # pushed through the file system: the test's own git does not trust the server either
    repo = make_remote(https_server.root, tmp_path, https_server.url("{name}"))
    sha = repo.commit_and_push("initial", {"app/cm.yaml": "kind: ConfigMap\n"})
    return repo, sha


def _creds(url: str, insecure: bool = False) -> RepoCredentials:
    return RepoCredentials(url=url, username=USER, password=PASSWORD, insecure=insecure)


def _mirror(tmp_path: Path, trust: RepoTrust, url: str, insecure: bool = False):  # type: ignore[no-untyped-def]
    return MirrorCache(tmp_path / "cache", trust=trust).mirror(url, _creds(url, insecure))


def test_the_server_entry_makes_the_https_repository_trusted(
    https_repo: tuple[Remote, str], tls_creds: Credentials, tmp_path: Path
) -> None:
    repo, sha = https_repo
    trust = RepoTrust(tmp_path / "trust")
    # the key is the host alone: the URL's port is not part of it, as in Argo CD
    assert trust.set_tls_certificates({"127.0.0.1": tls_creds.ca_pem.decode()}) == ()

    mirror = _mirror(tmp_path, trust, repo.url)

    assert mirror.resolve("main").commit == sha
    assert mirror.tree(sha).read_file("app/cm.yaml") == b"kind: ConfigMap\n"


def test_without_an_entry_the_certificate_is_refused_naming_the_key(
    https_repo: tuple[Remote, str], tmp_path: Path
) -> None:
    repo, _ = https_repo
    trust = RepoTrust(tmp_path / "trust", tls_origin="ConfigMap argocd/tls-test")

    with pytest.raises(TLSCertificateError) as caught:
        _mirror(tmp_path, trust, repo.url).ls_remote()

    message = caught.value.message
    assert "the TLS certificate of 127.0.0.1 " in message
    assert "under the key '127.0.0.1' of ConfigMap argocd/tls-test" in message
    assert PASSWORD not in message


def test_another_servers_ca_does_not_make_it_trusted(
    https_repo: tuple[Remote, str], tmp_path: Path
) -> None:
    repo, _ = https_repo
    trust = RepoTrust(tmp_path / "trust")
    trust.set_tls_certificates({"127.0.0.1": generate_credentials().ca_pem.decode()})

    with pytest.raises(TLSCertificateError):
        _mirror(tmp_path, trust, repo.url).ls_remote()


def test_insecure_skips_the_certificate_check(
    https_repo: tuple[Remote, str], tmp_path: Path
) -> None:
    repo, sha = https_repo
    trust = RepoTrust(tmp_path / "trust")

    assert _mirror(tmp_path, trust, repo.url, insecure=True).ls_remote()["refs/heads/main"] == sha


def test_the_default_fallback_entry_serves_hosts_without_their_own(
    https_repo: tuple[Remote, str], tls_creds: Credentials, tmp_path: Path
) -> None:
    repo, sha = https_repo
    trust = RepoTrust(tmp_path / "trust")
    trust.set_tls_certificates({DEFAULT_CA_FALLBACK: tls_creds.ca_pem.decode()})

    assert _mirror(tmp_path, trust, repo.url).ls_remote()["refs/heads/main"] == sha


def test_a_removed_entry_stops_trusting_at_the_next_command(
    https_repo: tuple[Remote, str], tls_creds: Credentials, tmp_path: Path
) -> None:
    repo, sha = https_repo
    trust = RepoTrust(tmp_path / "trust")
    trust.set_tls_certificates({"127.0.0.1": tls_creds.ca_pem.decode()})
    mirror = _mirror(tmp_path, trust, repo.url)
    assert mirror.ls_remote()["refs/heads/main"] == sha

    trust.set_tls_certificates({})

    with pytest.raises(TLSCertificateError):
        mirror.ls_remote()
    assert list(trust.tls_dir.iterdir()) == []


def test_an_invalid_entry_is_left_out_and_the_others_kept(
    tls_creds: Credentials, tmp_path: Path
) -> None:
    trust = RepoTrust(tmp_path / "trust")
    broken = "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n"

    problems = trust.set_tls_certificates(
        {
            "Git.Example.com": tls_creds.ca_pem.decode(),
            "bad.example.com": broken,
            "empty.example.com": "just text",
        }
    )

    assert [p.split()[0] for p in problems] == ["'bad.example.com'", "'empty.example.com'"]
    assert "cannot be read" in problems[0]
    assert "holds no PEM certificate" in problems[1]
    assert trust.ca_file_for("https://git.example.com:8443/org/repo.git") == (
        trust.tls_dir / "git.example.com"
    )
    assert trust.ca_file_for("https://bad.example.com/org/repo.git") is None
    assert trust.ca_file_for("ssh://git@git.example.com/org/repo.git") is None


@pytest.mark.parametrize(
    ("server", "pem_of", "reason"),
    [
        ("../etc", lambda ca: ca, "is not a server name"),
        ("a/b", lambda ca: ca, "is not a server name"),
        ("ok.example", lambda ca: ca * 3, "holds 3 certificates, more than the limit of 2"),
        ("ok.example", lambda ca: ca + "x" * 3000, "more than the limit of 3000"),
    ],
)
def test_server_entries_are_bounded(
    tls_creds: Credentials, server: str, pem_of: object, reason: str
) -> None:
    limits = TrustLimits(max_certs_per_server=2, max_pem_bytes=3000)
    ca = tls_creds.ca_pem.decode()

    with pytest.raises(ValueError, match=reason):
        parse_server_certificates(server, pem_of(ca), limits)  # type: ignore[operator]


def test_too_many_servers_keep_the_previous_certificates(
    tls_creds: Credentials, tmp_path: Path
) -> None:
    trust = RepoTrust(tmp_path / "trust", TrustLimits(max_servers=2))
    ca = tls_creds.ca_pem.decode()
    trust.set_tls_certificates({"a.example": ca})

    with pytest.raises(TrustConfigError, match="3 TLS servers, more than the limit of 2"):
        trust.set_tls_certificates({"b.example": ca, "c.example": ca, "d.example": ca})

    assert trust.ca_file_for("https://a.example/r") == trust.tls_dir / "a.example"


def test_url_host_drops_port_and_case() -> None:
    assert url_host("https://Git.Example.com:8443/x") == "git.example.com"
    assert url_host("http://git.example.com/x") == "git.example.com"
    assert url_host("git@git.example.com:org/x.git") is None
