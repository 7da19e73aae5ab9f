"""OCI repoURLs and tags: which repository a repoURL names, and which tag a targetRevision
selects, as Helm and Argo CD read them.

`oci://host[:port]/path` names a repository; a chart `name` is one more path component
(`helm pull oci://host/path/name`). Argo CD's older spelling, `host/path` with `enableOCI` in
the repository Secret, names the same. The first component is always the registry (unlike an
image reference, where `org/app` means Docker Hub).

Tags are versions: Helm stores a version's `+` as `_` (a tag may not hold `+`), so `1.2.0_b.1`
is the version `1.2.0+b.1`. A targetRevision that is a tag of the repository selects it;
otherwise it is a Masterminds semver range and the newest matching version wins (a
prerelease only for a range that names one). A `sha256:` digest selects that manifest.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any

from tether.charts.errors import ChartVersionNotFoundError, InvalidChartSourceError
from tether.charts.models import OciLocation
from tether.charts.urls import CHART_NAME
from tether.images.dockerconfig import DOMAIN_PATTERN, PATH_COMPONENT_PATTERN, TAG_PATTERN
from tether.images.errors import InvalidPolicyError
from tether.images.semver import Version, parse_constraint, parse_version
from tether.source.credentials import _secret_fields
from tether.source.urls import scrub_url

OCI_SCHEME = "oci://"
MANIFEST_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_MAX_NAME_LENGTH = 255
_SHOWN_TAGS = 5


@dataclass(frozen=True)
class OciSecretFlags:
    """What a repository Secret says about OCI beyond `RepoCredentials`: `enableOCI` (a Helm
    repository URL without a scheme is an OCI registry path) and `insecureOCIForceHttp`
    (speak plain http to the registry)."""

    enable_oci: bool = False
    plain_http: bool = False


def oci_flags_from_secret(secret: Mapping[str, Any] | None) -> OciSecretFlags:
    """Read `enableOCI` and `insecureOCIForceHttp` (`"true"`) from a repository Secret as read
    from the API (`data` in base64, `stringData`); a missing Secret says neither."""
    if secret is None:
        return OciSecretFlags()
    fields = _secret_fields(secret)

    def flag(name: str) -> bool:
        return fields.get(name, "").strip().lower() == "true"

    return OciSecretFlags(flag("enableOCI"), flag("insecureOCIForceHttp"))


def is_oci_url(repo_url: str, enable_oci: bool = False) -> bool:
    """Whether `repo_url` names an OCI repository: `oci://...`, or a URL without a scheme
    when the repository Secret says `enableOCI: "true"`."""
    text = repo_url.strip()
    if text.lower().startswith(OCI_SCHEME):
        return True
    return enable_oci and "://" not in text


def parse_oci_url(
    repo_url: str, chart: str | None = None, *, enable_oci: bool = False, plain_http: bool = False
) -> OciLocation:
    """The repository `repo_url` names (with `chart` appended as its last component).

    Raises `InvalidChartSourceError` for anything Helm or Argo CD would refuse: another
    scheme, user-info (a password belongs in a Secret), a tag or digest in the URL (it goes in
    targetRevision), a path component that is not lower-case letters and digits with single
    `.`, `_`, `__` or `-` separators.
    """
    text = repo_url.strip()
    shown = scrub_url(text)[:200]
    if text.lower().startswith(OCI_SCHEME):
        text = text[len(OCI_SCHEME) :]
    elif not (enable_oci and "://" not in text):
        raise InvalidChartSourceError(f"repoURL {shown} is not an oci:// URL")
    host, _, path = text.rstrip("/").partition("/")
    if "@" in host:
        raise InvalidChartSourceError(
            f"repoURL {shown} carries user-info: put the username and password in a "
            "repository Secret instead"
        )
    if not host or not DOMAIN_PATTERN.fullmatch(host):
        raise InvalidChartSourceError(f"repoURL {shown} names no registry host[:port]")
    if chart is not None:
        if not CHART_NAME.fullmatch(chart) or not PATH_COMPONENT_PATTERN.fullmatch(chart):
            raise InvalidChartSourceError(
                f"chart {chart[:100]!r} cannot name an OCI repository (lower-case letters, "
                "digits and single '.', '_' or '-' separators)"
            )
        path = f"{path}/{chart}" if path else chart
    if not path:
        raise InvalidChartSourceError(
            f"repoURL {shown} names a registry but no repository in it (oci://host/path)"
        )
    for component in path.split("/"):
        if not PATH_COMPONENT_PATTERN.fullmatch(component):
            hint = (
                "; the tag goes in targetRevision" if ":" in component or "@" in component else ""
            )
            raise InvalidChartSourceError(
                f"repoURL {shown}: {component[:100]!r} is not a repository path component "
                f"(lower-case letters, digits and single '.', '_' or '-' separators){hint}"
            )
    if len(host) + 1 + len(path) > _MAX_NAME_LENGTH:
        raise InvalidChartSourceError(
            f"repoURL {shown}: the repository name is longer than {_MAX_NAME_LENGTH} characters"
        )
    return OciLocation(host.lower(), path, plain_http)


def tag_of(version: str) -> str:
    """The tag a version is stored under (`+` becomes `_`)."""
    return version.replace("+", "_")


def version_of(tag: str) -> str:
    """The version a tag stands for (`_` becomes `+`)."""
    return tag.replace("_", "+")


def is_digest(target_revision: str) -> bool:
    """Whether targetRevision is a manifest digest (`sha256:<64 hex>`)."""
    return MANIFEST_DIGEST.fullmatch(target_revision.strip()) is not None


def exact_tag(target_revision: str) -> str | None:
    """The tag targetRevision names when read as a tag or version (None when it cannot be
    one, as `^1.2` or `>=1.0 <2.0`): tried before reading it as a range."""
    tag = tag_of(target_revision.strip())
    return tag if TAG_PATTERN.fullmatch(tag) else None


def _newest_first(tags: Iterable[str]) -> list[tuple[Version, str]]:
    parsed = [(v, t) for t in tags if (v := parse_version(version_of(t))) is not None]
    parsed.sort(key=lambda pair: pair[0].precedence(), reverse=True)
    return parsed


def select_tag(tags: Iterable[str], target_revision: str, subject: str) -> str:
    """The tag of `tags` that `target_revision` selects (see the module's docstring); empty
    and `*` select the newest release. `subject` names the repository in messages.

    Raises `InvalidChartSourceError` (neither a tag nor a range) or
    `ChartVersionNotFoundError` (nothing matches; the message lists the newest versions).
    """
    listed = list(tags)
    wanted = target_revision.strip()
    tag = exact_tag(wanted) if wanted else None
    if tag is not None and tag in listed:
        return tag
    try:
        constraint = parse_constraint(wanted or "*")
    except InvalidPolicyError as exc:
        raise InvalidChartSourceError(
            f"targetRevision {wanted[:100]!r} is neither a tag of {subject} nor a semver "
            f"range: {exc.message}"
        ) from None
    ordered = _newest_first(listed)
    for version, candidate in ordered:
        if constraint.matches(version):
            return candidate
    if not listed:
        raise ChartVersionNotFoundError(f"{subject} has no tags: nothing was pushed to it yet")
    releases = [version_of(t) for v, t in ordered if not v.prerelease]
    every = [version_of(t) for _, t in ordered] or listed
    newest = ", ".join(islice(releases or every, _SHOWN_TAGS))
    message = (
        f"{subject} has no tag matching {wanted or '*'!r} (newest: {newest}; "
        f"{len(listed)} tag(s) in all)"
    )
    names_prerelease = any(c.version.prerelease for group in constraint.groups for c in group)
    if not names_prerelease and any(v.prerelease for v, _ in ordered):
        message += (
            "; prereleases are chosen only by a range that names a prerelease (for example "
            "'>=1.0.0-0') or by their exact version"
        )
    raise ChartVersionNotFoundError(message)
