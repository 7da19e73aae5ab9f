"""Helm repository URLs: which are accepted, where the index is, where an archive is."""

from __future__ import annotations

import re

import httpx2

from tether.charts.errors import InvalidChartSourceError
from tether.source.urls import scrub_url

#: a chart name that is also a safe folder name (Helm's own rule is stricter)
CHART_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,252}")
MAX_URL_LENGTH = 2048


def check_repo_url(repo_url: str) -> str:
    """`repo_url` without blanks and trailing slashes; raise when it is not an http(s) URL.

    A password in the URL is refused (it would be shown wherever the URL is): it belongs in a
    repository Secret. OCI registries (`oci://`) are not Helm repositories of this kind.
    """
    url = repo_url.strip()
    shown = scrub_url(url)[:200]
    if not url:
        raise InvalidChartSourceError("repoURL is empty: give the Helm repository's URL")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidChartSourceError(f"repoURL is longer than {MAX_URL_LENGTH} characters")
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme == "oci":
        raise InvalidChartSourceError(
            f"repoURL {shown}: charts from OCI registries are not supported yet; use the "
            "chart's http(s) Helm repository, or vendor the chart into Git"
        )
    if scheme not in ("http", "https"):
        raise InvalidChartSourceError(
            f"repoURL {shown} is not an http:// or https:// Helm repository URL"
        )
    try:
        parsed = httpx2.URL(url)
    except (httpx2.InvalidURL, ValueError):
        raise InvalidChartSourceError(f"repoURL {shown} is not a valid URL") from None
    if not parsed.host:
        raise InvalidChartSourceError(f"repoURL {shown} names no host")
    if parsed.userinfo:
        raise InvalidChartSourceError(
            f"repoURL {shown} carries user-info: put the username and password in a "
            "repository Secret (type: helm) instead"
        )
    return url if parsed.query else url.rstrip("/")


def check_chart_name(name: str) -> str:
    """`name` when it can name a chart (and a folder); raise otherwise."""
    if not CHART_NAME.fullmatch(name) or name in (".", ".."):
        raise InvalidChartSourceError(
            f"chart {name[:100]!r} is not a chart name (letters, digits, '-', '_', '.')"
        )
    return name


def index_url(repo_url: str) -> str:
    """Where the repository's index is: `<repoURL>/index.yaml`, any query kept (as Helm)."""
    url = httpx2.URL(repo_url)
    return str(url.copy_with(path=url.path.rstrip("/") + "/index.yaml"))


def archive_url(repo_url: str, reference: str) -> str:
    """An index `urls` entry made absolute: a relative one is inside the repository (Helm
    resolves it against the repository URL with a trailing slash, and keeps its query)."""
    base = httpx2.URL(repo_url)
    base = base.copy_with(path=base.path.rstrip("/") + "/")
    try:
        target = base.join(reference)
    except (httpx2.InvalidURL, ValueError):
        raise InvalidChartSourceError(
            f"the index gives the archive URL {scrub_url(reference)[:200]!r}, not a URL"
        ) from None
    if "://" not in reference and not target.query and base.query:
        target = target.copy_with(query=base.query)
    return str(target)


def origin(url: str | httpx2.URL) -> tuple[str, str, int]:
    """(scheme, host, port): credentials only ever go back to the origin they are for."""
    parsed = httpx2.URL(url) if isinstance(url, str) else url
    default = 443 if parsed.scheme == "https" else 80
    return (parsed.scheme, parsed.host.lower(), parsed.port or default)
