"""Repository credentials: chosen from Argo CD style Secrets, handed to git without exposing them.

Secrets are plain dicts as read from the Kubernetes API. A Secret labelled
`argocd.argoproj.io/secret-type: repository` applies to one repository (its `url`); one labelled
`repo-creds` is a template for every repository whose URL starts with its `url`, the longest such
prefix winning. Credentials reach git through environment variables only (never the command
line, which any local user can read in the process list, and never the URL).
"""

from __future__ import annotations

import base64
import binascii
import os
import shlex
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tether.source.errors import CredentialsError
from tether.source.limits import GitTimeouts
from tether.source.trust import DEFAULT_KNOWN_HOSTS_ORIGIN, DEFAULT_TLS_ORIGIN, RepoTrust
from tether.source.urls import repo_match_key

SECRET_TYPE_LABEL = "argocd.argoproj.io/secret-type"
REPOSITORY = "repository"
REPO_CREDS = "repo-creds"

# Username sent with a token that comes without one; GitHub, GitLab and Gitea ignore it.
TOKEN_USERNAME = "x-access-token"


@dataclass(frozen=True)
class RepoCredentials:
    """What Tether needs to reach one repository. Secret values are hidden from `repr`."""

    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    bearer_token: str | None = field(default=None, repr=False)
    ssh_private_key: str | None = field(default=None, repr=False)
    insecure: bool = False
    type: str = "git"
    project: str | None = None
    secret_name: str | None = None
    source: str = REPOSITORY
    #: client certificate (PEM) and its key, for repositories that want one (Helm over https)
    tls_client_cert_data: str | None = field(default=None, repr=False)
    tls_client_cert_key: str | None = field(default=None, repr=False)
    #: Argo CD's ``enableOCI`` (a Helm repository URL without a scheme is an OCI registry) and
    #: ``insecureOCIForceHttp`` (speak plain http to it)
    enable_oci: bool = False
    oci_force_http: bool = False

    @property
    def has_secret(self) -> bool:
        """True when these credentials carry a password, token or key."""
        return bool(self.password or self.bearer_token or self.ssh_private_key)

    def secret_values(self) -> tuple[str, ...]:
        """Every secret string, so that text quoted from git can be scrubbed of them."""
        values = [
            v
            for v in (
                self.password,
                self.bearer_token,
                self.ssh_private_key,
                self.tls_client_cert_key,
            )
            if v
        ]
        if self.password:
            # The Basic header carries the password base64-encoded: scrub that spelling too.
            values.append(_basic_token(self.username or TOKEN_USERNAME, self.password))
        return tuple(values)


def _basic_token(username: str, password: str) -> str:
    return base64.b64encode(f"{username}:{password}".encode()).decode()


def _secret_fields(secret: Mapping[str, Any]) -> dict[str, str]:
    """Merge `data` (base64) and `stringData` (plain, wins as the API server does) of a Secret."""
    name = secret.get("metadata", {}).get("name", "<unnamed>")
    fields: dict[str, str] = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            fields[key] = base64.b64decode(str(value), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise CredentialsError(
                f"Secret {name!r}: field {key!r} of `data` is not valid base64 text"
            ) from None
    for key, value in (secret.get("stringData") or {}).items():
        fields[key] = str(value)
    return fields


def credentials_from_secret(secret: Mapping[str, Any]) -> RepoCredentials:
    """Read one repository or repo-creds Secret into `RepoCredentials`."""
    metadata = secret.get("metadata") or {}
    name = metadata.get("name")
    kind = (metadata.get("labels") or {}).get(SECRET_TYPE_LABEL, REPOSITORY)
    fields = _secret_fields(secret)
    url = fields.get("url", "").strip()
    if not url:
        raise CredentialsError(f"Secret {name!r} labelled {kind!r} has no `url`")
    return RepoCredentials(
        url=url,
        username=fields.get("username") or None,
        password=fields.get("password") or None,
        bearer_token=fields.get("bearerToken") or None,
        ssh_private_key=fields.get("sshPrivateKey") or None,
        enable_oci=fields.get("enableOCI", "").strip().lower() == "true",
        oci_force_http=fields.get("insecureOCIForceHttp", "").strip().lower() == "true",
        insecure=fields.get("insecure", "").strip().lower() == "true",
        type=fields.get("type", "git") or "git",
        project=fields.get("project") or None,
        secret_name=name,
        source=kind,
        tls_client_cert_data=fields.get("tlsClientCertData") or None,
        tls_client_cert_key=fields.get("tlsClientCertKey") or None,
    )


def _transport(url: str) -> str:
    """`ssh` or `http` (or another scheme): credentials never cross between transports."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else "ssh"
    return "http" if scheme in ("http", "https") else scheme


def _same_repository(a: str, b: str) -> bool:
    # Scheme and port count, as in Argo CD's SameURL: a password stored for https on 443 must
    # not be sent over plain http, nor to another service on another port of the host.
    return repo_match_key(a) == repo_match_key(b)


def select_credentials(
    repo_url: str,
    secrets: Iterable[Mapping[str, Any]],
    project: str | None = None,
) -> RepoCredentials | None:
    """Pick the credentials for `repo_url` from a list of Secret dicts, as Argo CD does.

    A `repository` Secret whose url is the same repository wins (`repo_match_key`: `.git`,
    case and default-port spellings match; scheme and port must be the same, so an https Secret
    never applies to an ssh URL, an http one or another port). Otherwise the `repo-creds` template with
    the longest url prefix of `repo_url` applies. A repository Secret without any credential
    inherits them from the best template, keeping its own `insecure` and `project`. Secrets
    scoped to another `project` are skipped, and project-scoped ones are preferred.
    Secrets of other types (cluster, ...) are ignored. Returns None when nothing applies.
    """
    repositories: list[RepoCredentials] = []
    templates: list[RepoCredentials] = []
    for secret in secrets:
        labels = (secret.get("metadata") or {}).get("labels") or {}
        kind = labels.get(SECRET_TYPE_LABEL)
        if kind not in (REPOSITORY, REPO_CREDS):
            continue
        creds = credentials_from_secret(secret)
        if creds.project is not None and creds.project != project:
            continue
        (repositories if kind == REPOSITORY else templates).append(creds)

    def scoped_first(c: RepoCredentials) -> int:
        return 0 if c.project is not None else 1

    exact = sorted((c for c in repositories if _same_repository(c.url, repo_url)), key=scoped_first)
    matching = [c for c in templates if repo_url.startswith(c.url)]
    template = min(matching, key=lambda c: (-len(c.url), scoped_first(c)), default=None)
    if exact:
        chosen = exact[0]
        if not chosen.has_secret and template is not None:
            # a client certificate and its key go together: the Secret's own pair, or the template's
            tls = chosen if chosen.tls_client_cert_data or chosen.tls_client_cert_key else template
            return RepoCredentials(
                url=chosen.url,
                username=template.username,
                password=template.password,
                bearer_token=template.bearer_token,
                ssh_private_key=template.ssh_private_key,
                insecure=chosen.insecure,
                type=chosen.type,
                project=chosen.project,
                secret_name=template.secret_name,
                source=REPO_CREDS,
                tls_client_cert_data=tls.tls_client_cert_data,
                tls_client_cert_key=tls.tls_client_cert_key,
            )
        return chosen
    return template


@dataclass(frozen=True)
class GitEnvironment:
    """Environment for one git invocation, and the strings to scrub from its output."""

    env: dict[str, str]
    secrets: tuple[str, ...]
    #: where the operator configures trusted SSH host keys and TLS CAs, named in errors
    known_hosts_origin: str = DEFAULT_KNOWN_HOSTS_ORIGIN
    tls_origin: str = DEFAULT_TLS_ORIGIN


def _config_env(pairs: list[tuple[str, str]]) -> dict[str, str]:
    # GIT_CONFIG_COUNT/KEY/VALUE (git >= 2.31) are `git -c` through the environment: same effect,
    # but invisible in /proc/<pid>/cmdline.
    env = {"GIT_CONFIG_COUNT": str(len(pairs))}
    for index, (key, value) in enumerate(pairs):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    return env


@contextmanager
def git_environment(
    repo_url: str,
    credentials: RepoCredentials | None,
    known_hosts_file: Path | None,
    timeouts: GitTimeouts | None = None,
    allow_file: bool = False,
    trust: RepoTrust | None = None,
) -> Iterator[GitEnvironment]:
    """Yield the environment that lets git reach `repo_url` with `credentials`, then clean up.

    git never prompts (GIT_TERMINAL_PROMPT=0, no askpass) and ignores the system and user
    configuration, so a developer's credential helper or `insteadOf` cannot change what Tether
    does. HTTPS credentials travel as an `http.extraHeader`; an SSH key is written to a private
    temporary file for the duration of the command only, and the host key is checked against
    `known_hosts_file` unless the repository is marked insecure. A stalled HTTP transfer or SSH
    connection fails after the limits of `timeouts`. The `file` transport is refused unless
    `allow_file` (the caller's `RepoPolicy` allows local repositories). `trust` gives the
    known hosts when `known_hosts_file` is None, and the CAs an https server of that host is
    checked against (`http.sslCAInfo`, instead of the system's CAs).
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GIT_", "SSH_ASKPASS", "SSH_AUTH_SOCK"))
    }
    env.update(
        {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "",
            "SSH_ASKPASS": "",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "LC_ALL": "C",
            "LANGUAGE": "C",
        }
    )
    timeouts = timeouts or GitTimeouts()
    config: list[tuple[str, str]] = [
        ("credential.helper", ""),
        ("protocol.allow", "never"),
        *((f"protocol.{scheme}.allow", "always") for scheme in ("https", "http", "ssh", "git")),
        ("protocol.file.allow", "always" if allow_file else "never"),
        ("gc.autoDetach", "false"),
        # A server that accepts and then stalls must not hold a poll for minutes.
        ("http.lowSpeedLimit", str(timeouts.low_speed_limit)),
        ("http.lowSpeedTime", str(timeouts.low_speed_time)),
    ]
    secrets: tuple[str, ...] = credentials.secret_values() if credentials else ()
    transport = _transport(repo_url)
    with tempfile.TemporaryDirectory(prefix="tether-git-") as scratch:
        if transport == "http":
            config += _http_config(repo_url, credentials, trust)
        if transport == "ssh":
            if known_hosts_file is None and trust is not None:
                known_hosts_file = trust.known_hosts_file
            env["GIT_SSH_COMMAND"] = _ssh_command(
                credentials, known_hosts_file, Path(scratch), timeouts
            )
        env.update(_config_env(config))
        yield GitEnvironment(
            env=env,
            secrets=secrets,
            known_hosts_origin=trust.known_hosts_origin if trust else DEFAULT_KNOWN_HOSTS_ORIGIN,
            tls_origin=trust.tls_origin if trust else DEFAULT_TLS_ORIGIN,
        )


def _http_config(
    repo_url: str, credentials: RepoCredentials | None, trust: RepoTrust | None
) -> list[tuple[str, str]]:
    """git configuration for an http(s) repository: its Authorization header and TLS trust."""
    config: list[tuple[str, str]] = []
    if credentials is not None:
        if credentials.bearer_token:
            config.append(("http.extraHeader", f"Authorization: Bearer {credentials.bearer_token}"))
        elif credentials.password:
            token = _basic_token(credentials.username or TOKEN_USERNAME, credentials.password)
            config.append(("http.extraHeader", f"Authorization: Basic {token}"))
    if credentials is not None and credentials.insecure:
        config.append(("http.sslVerify", "false"))
    elif trust is not None:
        ca_file = trust.ca_file_for(repo_url)
        if ca_file is not None:
            # only these CAs, as Argo CD pins a server to the certificates configured for it
            config.append(("http.sslCAInfo", str(ca_file)))
    return config


def _ssh_command(
    credentials: RepoCredentials | None,
    known_hosts_file: Path | None,
    scratch: Path,
    timeouts: GitTimeouts,
) -> str:
    options = [
        "ssh",
        "-F",
        os.devnull,
        "-o",
        "BatchMode=yes",
        "-o",
        "LogLevel=ERROR",
        "-o",
        # OpenSSH applies it to the TCP connection and to the banner exchange.
        f"ConnectTimeout={timeouts.connect}",
        "-o",
        f"ServerAliveInterval={timeouts.server_alive_interval}",
        "-o",
        "ServerAliveCountMax=3",
    ]
    if credentials is not None and credentials.insecure:
        options += ["-o", "StrictHostKeyChecking=no", "-o", f"UserKnownHostsFile={os.devnull}"]
    else:
        known = str(known_hosts_file) if known_hosts_file is not None else os.devnull
        options += [
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={known}",
            "-o",
            f"GlobalKnownHostsFile={os.devnull}",
        ]
    if credentials is not None and credentials.ssh_private_key:
        key_file = scratch / "id"
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            key = credentials.ssh_private_key
            # OpenSSH refuses a key file whose last line lacks its newline.
            handle.write(key if key.endswith("\n") else key + "\n")
        options += ["-i", str(key_file), "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none"]
    return shlex.join(options)
