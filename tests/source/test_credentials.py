"""Choosing credentials from Argo CD repository Secrets, and handing them to git safely."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from tether.source import (
    CredentialsError,
    RepoCredentials,
    credentials_from_secret,
    select_credentials,
)
from tether.source.credentials import git_environment
from tether.source.errors import InvalidRepositoryURLError
from tether.source.urls import check_repo_url, normalize_repo_url


def secret(kind: str, name: str, string_data: dict[str, str] | None = None, **data: str) -> Any:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": "argocd",
            "labels": {"argocd.argoproj.io/secret-type": kind},
        },
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
        "stringData": string_data or {},
    }


SECRETS = [
    secret("repo-creds", "org", url="https://github.com/org", username="org", password="p-org"),
    secret("repo-creds", "team", url="https://github.com/org/team-", password="p-team"),
    secret("repository", "exact", url="https://github.com/org/special.git", password="p-exact"),
    secret("repository", "flag-only", {"url": "https://github.com/org/plain", "insecure": "true"}),
    secret("cluster", "not-git", url="https://github.com/org/x", password="p-cluster"),
    secret("repository", "ssh", url="git@github.com:org/special.git", sshPrivateKey="KEY"),
    secret(
        "repository", "scoped", url="https://github.com/org/scoped", password="p-p", project="p"
    ),
]


def test_repository_secret_matches_the_same_repository_in_any_spelling() -> None:
    creds = select_credentials("https://GitHub.com/org/special", SECRETS)

    assert creds is not None and creds.secret_name == "exact" and creds.password == "p-exact"


def test_longest_repo_creds_prefix_wins() -> None:
    team = select_credentials("https://github.com/org/team-web.git", SECRETS)
    org = select_credentials("https://github.com/org/other.git", SECRETS)

    assert team is not None and team.secret_name == "team"
    assert org is not None and org.secret_name == "org" and org.username == "org"
    assert select_credentials("https://gitlab.com/org/x.git", SECRETS) is None


def test_repository_secret_without_credentials_inherits_the_template() -> None:
    creds = select_credentials("https://github.com/org/plain", SECRETS)

    assert creds is not None
    assert creds.password == "p-org" and creds.insecure is True and creds.url.endswith("plain")


def test_https_secret_never_applies_to_an_ssh_url() -> None:
    creds = select_credentials("git@github.com:org/special.git", SECRETS)

    assert creds is not None and creds.ssh_private_key == "KEY" and creds.password is None


def test_repository_secret_is_not_sent_to_another_scheme_or_port() -> None:
    for url in ("http://github.com/org/special", "https://github.com:8443/org/special"):
        creds = select_credentials(url, SECRETS)
        assert creds is None or creds.secret_name != "exact"
    same = select_credentials("https://github.com:443/org/special.git/", SECRETS)
    assert same is not None and same.secret_name == "exact"


def test_project_scoped_secret_applies_only_to_its_project() -> None:
    assert select_credentials("https://github.com/org/scoped", SECRETS, "p").password == "p-p"  # type: ignore[union-attr]
    other = select_credentials("https://github.com/org/scoped", SECRETS, "q")
    assert other is not None and other.secret_name == "org"


def test_string_data_wins_over_data_and_bad_base64_is_a_clear_error() -> None:
    both = secret("repository", "s", {"password": "plain"}, url="https://h/r", password="b64")
    assert credentials_from_secret(both).password == "plain"
    broken = secret("repository", "broken")
    broken["data"] = {"url": "%%%"}

    with pytest.raises(CredentialsError, match=r"'broken'.*'url'.*base64"):
        credentials_from_secret(broken)


def test_https_credentials_travel_in_an_extra_header_in_the_environment() -> None:
    creds = RepoCredentials(url="https://h/r", username="bot", password="hunter2")

    with git_environment("https://h/r", creds, None) as environment:
        env = environment.env

    assert env["GIT_TERMINAL_PROMPT"] == "0"
    header = base64.b64encode(b"bot:hunter2").decode()
    values = [env[f"GIT_CONFIG_VALUE_{i}"] for i in range(int(env["GIT_CONFIG_COUNT"]))]
    assert f"Authorization: Basic {header}" in values
    assert "hunter2" in environment.secrets and header in environment.secrets
    assert "hunter2" not in repr(creds)


def test_ssh_key_is_written_privately_and_removed_after_use() -> None:
    creds = RepoCredentials(url="git@h:r", ssh_private_key="-----KEY-----")

    with git_environment("git@h:r.git", creds, Path("/k/known_hosts")) as environment:
        command = environment.env["GIT_SSH_COMMAND"]
        key = Path(command.split("-i ")[1].split()[0])
        assert key.read_text() == "-----KEY-----\n"
        assert key.stat().st_mode & 0o777 == 0o600

    assert "StrictHostKeyChecking=yes" in command
    assert "UserKnownHostsFile=/k/known_hosts" in command
    assert not key.exists()


def test_urls_with_passwords_or_command_transports_are_refused() -> None:
    with pytest.raises(InvalidRepositoryURLError, match="embeds a password"):
        check_repo_url("https://bot:hunter2@github.com/org/r.git")
    with pytest.raises(InvalidRepositoryURLError, match="not supported"):
        check_repo_url("ext::sh -c touch% /tmp/pwned")
    with pytest.raises(InvalidRepositoryURLError, match="not supported"):
        check_repo_url("fd::17")
    with pytest.raises(InvalidRepositoryURLError, match="may not start with"):
        check_repo_url("--upload-pack=touch /tmp/pwned")


def test_normalized_urls_match_across_https_ssh_and_dot_git() -> None:
    spellings = [
        "https://GitHub.com/Org/Repo.git",
        "git@github.com:org/repo",
        "ssh://git@github.com:22/org/repo.git/",
        "http://github.com/org/repo/",
    ]

    assert {normalize_repo_url(s) for s in spellings} == {"github.com/org/repo"}
