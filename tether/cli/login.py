"""``tether login`` and ``tether logout``: get a token from the API server and remember it.

The token, the user name and the TLS settings are saved per server in the client config file
(mode 0600, see :func:`tether.cli.api.config_path`); the server logged in to last becomes the
default of every other client command.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click

from tether.cli.api import (
    ApiClient,
    ApiClientError,
    ApiCommand,
    CliConfig,
    CliError,
    ServerEntry,
    normalize_server,
    read_secret_stdin,
)
from tether.cli.options import EXISTING_FILE


def _password(password: str | None, password_stdin: bool, username: str) -> str:
    """The password from the flag, stdin, or a hidden prompt when a person is at the terminal."""
    if password_stdin:
        return read_secret_stdin("password")
    if password is not None:
        return password
    if sys.stdin.isatty():
        return str(click.prompt(f"Password for {username}", hide_input=True))
    raise CliError("no password: pass --password-stdin (or --password, or --token)")


@click.command("login", cls=ApiCommand)
@click.argument("server")
@click.option("--username", default="admin", show_default=True, help="Local account to sign in.")
@click.option("--password", help="Password (visible to other users; prefer --password-stdin).")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@click.option("--token", help="Save this API token instead of signing in with a password.")
@click.option("--insecure", is_flag=True, help="Do not verify the server's TLS certificate.")
@click.option("--ca", type=EXISTING_FILE, help="PEM CA certificate to trust for the server.")
@click.option("--plaintext", is_flag=True, help="Use http:// when SERVER has no scheme.")
def login_command(
    server: str,
    username: str,
    password: str | None,
    password_stdin: bool,
    token: str | None,
    insecure: bool,
    ca: Path | None,
    plaintext: bool,
) -> None:
    """Sign in to the Tether API server at SERVER and save the token.

    SERVER is a URL (https://tether.example.com) or HOST:PORT (https unless --plaintext).
    """
    if sum((password is not None, password_stdin, token is not None)) > 1:
        raise click.UsageError("use only one of --password, --password-stdin and --token")
    if insecure and ca is not None:
        raise click.UsageError("use either --ca or --insecure")
    url = normalize_server(server, plaintext)
    entry = ServerEntry(insecure=insecure, ca=str(ca.resolve()) if ca is not None else None)
    verify: bool | str = entry.ca or not insecure
    if token is None:
        secret = _password(password, password_stdin, username)
        with ApiClient(url, verify=verify) as anonymous:
            token = anonymous.sign_in(username, secret)
    # the user info proves the token works before it is saved (an API token names its own user)
    with ApiClient(url, token, verify=verify) as api:
        info = api.user_info()
    entry.token = token
    entry.username = str(info.get("username") or username)
    config = CliConfig.load()
    config.servers[url] = entry
    config.current = url
    config.save()
    click.echo(f"Logged in to {url} as {entry.username}")


@click.command("logout", cls=ApiCommand)
@click.argument("server", required=False)
def logout_command(server: str | None) -> None:
    """Sign out of SERVER (default: the current server) and forget its token."""
    config = CliConfig.load()
    url = normalize_server(server) if server else config.current
    entry = config.servers.get(url) if url else None
    if url is None or entry is None or not entry.token:
        raise CliError(f"not logged in to {url}" if url else "not logged in to any server")
    verify: bool | str = entry.ca or not entry.insecure
    # the server may be gone or the token expired already: forgetting it is what matters
    with contextlib.suppress(ApiClientError), ApiClient(url, entry.token, verify=verify) as api:
        api.sign_out()
    entry.token = None
    config.save()
    click.echo(f"Logged out from {url}")
