"""The registry side of `OciArtifacts`: the login a repository Secret gives, the wording of
the registry client's errors and how they become the charts' own, the URLs and names used in
requests and messages, and the private folder a tree is built in."""

from __future__ import annotations

import tempfile
from pathlib import Path

from tether.charts.errors import (
    ChartAuthError,
    ChartError,
    ChartLimitError,
    ChartRepositoryError,
    ChartRepositoryUnreachableError,
    InvalidChartSourceError,
)
from tether.charts.models import OciLocation
from tether.images.dockerconfig import Credentials
from tether.images.errors import (
    RegistryAuthError,
    RegistryError,
    RegistryLimitError,
    RegistryUnreachableError,
)
from tether.images.registry import RegistrySession, RegistryWording
from tether.source.credentials import RepoCredentials
from tether.source.urls import scrub_url


def registry_login(creds: RepoCredentials | None) -> Credentials | None:
    """The registry login of a repository Secret (Argo CD's OCI credentials are a username
    and a password; a registry token is given as the password)."""
    if creds is None:
        return None
    if creds.password:
        return Credentials(creds.username or "", creds.password)
    if creds.bearer_token:
        raise InvalidChartSourceError(
            f"the repository Secret for {scrub_url(creds.url)} gives a bearerToken, which OCI "
            "registries do not take: give the token as `password` (with the `username` the "
            "registry expects for tokens)"
        )
    return None


WORDING = RegistryWording(
    subject="OCI repository",
    login_hint=(
        "add a repository Secret for the repoURL with a username and password: type oci, or "
        "type helm with enableOCI"
    ),
    ca_hint="give the registry's CA in argocd-tls-certs-cm, or mark the repository insecure",
    http_hint='if it is plain http, say insecureOCIForceHttp: "true" in the repository Secret',
)


def chart_error(exc: RegistryError, location: OciLocation) -> ChartError:
    """The registry client's error as the charts' own (its message is already scrubbed)."""
    if isinstance(exc, RegistryAuthError):
        return ChartAuthError(exc.message, location.url)
    if isinstance(exc, RegistryUnreachableError):
        return ChartRepositoryUnreachableError(exc.message, location.url)
    if isinstance(exc, RegistryLimitError):
        return ChartLimitError(exc.message)
    return ChartRepositoryError(exc.message, location.url)


def artifact_what(location: OciLocation, reference: str | None = None) -> str:
    return f"OCI artifact {location.reference}" + (f":{reference}" if reference else "")


def manifest_url(session: RegistrySession, location: OciLocation, reference: str) -> str:
    return f"{session.origin}/v2/{location.repository}/manifests/{reference}"


def staging_folder(final: Path) -> str:
    """A private folder beside `final` to build a tree in; `final` must not exist yet."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        raise ChartError(f"cannot place the OCI artifact: {final} already exists")
    return tempfile.mkdtemp(prefix=".tether-oci-", dir=final.parent)
