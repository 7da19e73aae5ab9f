"""``tether repo add|list``: Git repository credentials, stored by the server as Secrets."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from tether.cli.api import (
    ApiClient,
    ApiGroup,
    CliError,
    output_option,
    read_secret_stdin,
    with_client,
)
from tether.cli.options import EXISTING_FILE
from tether.cli.output import print_listing, print_outcome


@click.group("repo", cls=ApiGroup)
def repo_group() -> None:
    """Manage repository credentials through the Tether API server."""


def repository_request(
    url: str,
    username: str | None,
    password: str | None,
    ssh_private_key: str | None,
    insecure: bool,
) -> dict[str, Any]:
    """The body of ``POST /api/v1/repositories`` (only the fields that are set)."""
    if password is not None and username is None:
        raise click.UsageError("a password needs --username")
    if ssh_private_key is not None and (username is not None or password is not None):
        raise click.UsageError("use either an SSH key or a username and password")
    body: dict[str, Any] = {"repo": url}
    if username is not None:
        body["username"] = username
    if password is not None:
        body["password"] = password
    if ssh_private_key is not None:
        body["sshPrivateKey"] = ssh_private_key
    if insecure:
        body["insecure"] = True
    return body


@repo_group.command("add")
@click.argument("url")
@click.option("--username", help="User name for HTTPS repositories.")
@click.option("--password", help="Password or token (visible to others; prefer --password-stdin).")
@click.option("--password-stdin", is_flag=True, help="Read the password or token from stdin.")
@click.option("--ssh-private-key-path", type=EXISTING_FILE, help="Private key (SSH repositories).")
@click.option("--insecure", is_flag=True, help="Skip TLS verification / SSH host key checks.")
@output_option()
@with_client()
def add_command(
    api: ApiClient,
    url: str,
    username: str | None,
    password: str | None,
    password_stdin: bool,
    ssh_private_key_path: Path | None,
    insecure: bool,
    output: str,
) -> None:
    """Register repository URL with its credentials (never shown again)."""
    if password is not None and password_stdin:
        raise click.UsageError("use either --password or --password-stdin")
    if password_stdin:
        password = read_secret_stdin("password")
    elif username is not None and password is None and sys.stdin.isatty():
        password = str(click.prompt(f"Password for {username}", hide_input=True))
    key = None
    if ssh_private_key_path is not None:
        try:
            key = ssh_private_key_path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise CliError(f"{ssh_private_key_path}: cannot read the key: {exc}") from None
    answer = api.add_repository(repository_request(url, username, password, key, insecure))
    print_outcome(answer, output, f"repository '{url}' added")


REPOSITORY_COLUMNS = ("TYPE", "REPO", "USERNAME", "INSECURE")


def repository_row(repo: dict[str, Any]) -> tuple[str, ...]:
    """One row of ``tether repo list``."""
    return (
        repo.get("type") or "git",
        repo.get("repo", ""),
        repo.get("username", ""),
        "true" if repo.get("insecure") else "false",
    )


@repo_group.command("list")
@output_option()
@with_client()
def list_command(api: ApiClient, output: str) -> None:
    """List repositories (credentials are never returned)."""
    print_listing(api.list_repositories(), output, REPOSITORY_COLUMNS, repository_row)
