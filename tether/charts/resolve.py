"""Which chart version a targetRevision selects, as Argo CD and Helm choose it.

A targetRevision equal to a version in the index selects that version (Helm looks for the exact
text first). Anything else is a Masterminds semver range (`^1.2`, `~1.2.3`, `>=1.0.0 <2.0.0`,
`1.x`, `1.0 - 2.0`, `a || b`), and the newest matching version wins; `*` and an empty
targetRevision select the newest version. A prerelease (`2.0.0-rc.1`) is selected only by a
range that names a prerelease itself (`>=2.0.0-0`), or by its exact text.
"""

from __future__ import annotations

import difflib
from itertools import islice

from tether.charts.errors import (
    ChartNotFoundError,
    ChartVersionNotFoundError,
    InvalidChartSourceError,
)
from tether.charts.models import ChartIndex, ChartVersion, ResolvedChart
from tether.charts.urls import archive_url
from tether.images.errors import InvalidPolicyError
from tether.images.semver import Constraint, parse_constraint
from tether.source.urls import scrub_url

_SHOWN_VERSIONS = 5


def _chart_versions(index: ChartIndex, chart: str) -> tuple[ChartVersion, ...]:
    versions = index.charts.get(chart)
    if versions:
        return versions
    shown = scrub_url(index.repo_url)
    close = difflib.get_close_matches(chart, list(index.charts), n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ChartNotFoundError(
        f"the Helm repository {shown} has no chart {chart!r} "
        f"({len(index.charts)} chart(s) in its index){hint}"
    )


def _constraint(text: str, chart: str) -> Constraint:
    try:
        return parse_constraint(text)
    except InvalidPolicyError as exc:
        raise InvalidChartSourceError(
            f"targetRevision {text[:100]!r} of chart {chart!r} is neither one of its versions "
            f"nor a semver range: {exc.message}"
        ) from None


def _no_match(index: ChartIndex, chart: str, wanted: str, constraint: Constraint) -> str:
    versions = _chart_versions(index, chart)
    releases = [v.version for v in versions if v.semver is not None and not v.semver.prerelease]
    prereleases = [v.version for v in versions if v.semver is not None and v.semver.prerelease]
    newest = ", ".join(islice(releases or [v.version for v in versions], _SHOWN_VERSIONS))
    message = (
        f"chart {chart!r} of the Helm repository {scrub_url(index.repo_url)} has no version "
        f"matching {wanted!r} (newest: {newest}; {len(versions)} version(s) in all)"
    )
    names_prerelease = any(c.version.prerelease for group in constraint.groups for c in group)
    if prereleases and not names_prerelease:
        shown = ", ".join(prereleases[:3])
        message += (
            f"; prereleases such as {shown} are chosen only by a range that names a "
            "prerelease (for example '>=1.0.0-0') or by their exact version"
        )
    return message


def select_version(index: ChartIndex, chart: str, target_revision: str) -> ChartVersion:
    """The version of `chart` that `target_revision` selects in `index`.

    Raises `ChartNotFoundError` (no such chart), `InvalidChartSourceError` (neither a version
    nor a range) or `ChartVersionNotFoundError` (nothing matches; the message lists the
    newest versions).
    """
    versions = _chart_versions(index, chart)
    wanted = target_revision.strip()
    for candidate in versions:
        if wanted and candidate.version == wanted:
            return candidate
    constraint = _constraint(wanted or "*", chart)
    # newest first: the first match is the newest one
    for candidate in versions:
        if candidate.semver is not None and constraint.matches(candidate.semver):
            return candidate
    raise ChartVersionNotFoundError(_no_match(index, chart, wanted or "*", constraint))


def resolve_chart(index: ChartIndex, chart: str, target_revision: str) -> ResolvedChart:
    """`select_version`, with the archive URLs made absolute against the repository URL."""
    version = select_version(index, chart, target_revision)
    return ResolvedChart(
        repo_url=index.repo_url,
        name=chart,
        version=version.version,
        digest=version.digest,
        urls=tuple(archive_url(index.repo_url, url) for url in version.urls),
        target_revision=target_revision,
        app_version=version.app_version,
        created=version.created,
    )
