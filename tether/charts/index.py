"""A Helm repository's `index.yaml`, read into plain records.

The index is loaded with Tether's bounded YAML loader, as Kubernetes reads YAML (timestamps stay
text). Entries Helm itself would skip (no version, no URLs, not a mapping) are left out and
counted, so one malformed chart does not hide the others. Each chart's versions are kept
newest first by SemVer precedence; versions that are not strict SemVer 2 come last, in the
index's order, and only an exact targetRevision selects them.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from tether.charts.errors import ChartIndexError, ChartLimitError
from tether.charts.limits import ChartLimits
from tether.charts.models import ChartDependencyRef, ChartIndex, ChartVersion
from tether.images.semver import parse_version
from tether.safeyaml import KubernetesLoader, YamlError, YamlLimitError, YamlLimits, load
from tether.source.urls import scrub_url

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_MAX_FIELD = 4096  # longer texts in an entry are cut: they are only ever shown


def normalize_digest(text: str | None) -> str | None:
    """`sha256:<hex>` for a well-formed sha256 digest (Helm writes the bare hex), the text as
    it is for anything else (refused when the archive is checked), None for none."""
    if text is None or not text.strip():
        return None
    candidate = text.strip().lower()
    candidate = candidate.removeprefix("sha256:")
    return f"sha256:{candidate}" if _SHA256_HEX.fullmatch(candidate) else text


def _text(value: Any) -> str:
    """A scalar of the index as text (YAML may read `version: 1.10` as a number)."""
    if value is None or isinstance(value, dict | list):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)[:_MAX_FIELD]


def _dependencies(value: Any) -> tuple[ChartDependencyRef, ...]:
    if not isinstance(value, list):
        return ()
    found = []
    for item in value:
        if isinstance(item, dict) and _text(item.get("name")):
            found.append(
                ChartDependencyRef(
                    name=_text(item.get("name")),
                    version=_text(item.get("version")),
                    repository=_text(item.get("repository")),
                    alias=_text(item.get("alias")),
                )
            )
    return tuple(found)


def _entry(name: str, item: Any) -> ChartVersion | None:
    """One version of a chart, or None when Helm would skip it too."""
    if not isinstance(item, dict):
        return None
    version = _text(item.get("version")).strip()
    urls = item.get("urls")
    if not version or not isinstance(urls, list):
        return None
    urls = tuple(u.strip() for u in urls if isinstance(u, str) and u.strip())
    if not urls:
        return None
    digest = item.get("digest")
    return ChartVersion(
        name=name,
        version=version,
        digest=normalize_digest(digest if isinstance(digest, str) else None),
        urls=urls,
        created=_text(item.get("created")),
        app_version=_text(item.get("appVersion")),
        dependencies=_dependencies(item.get("dependencies")),
        semver=parse_version(version),
    )


def _newest_first(versions: list[ChartVersion]) -> tuple[ChartVersion, ...]:
    parsed = [v for v in versions if v.semver is not None]
    others = [v for v in versions if v.semver is None]
    # stable: versions of equal precedence (build metadata only) keep the index's order
    parsed.sort(key=lambda v: v.semver.precedence() if v.semver else (), reverse=True)
    return tuple(parsed + others)


def _document(body: bytes, repo_url: str, limits: ChartLimits) -> dict[str, Any]:
    shown = scrub_url(repo_url)
    yaml_limits = YamlLimits(max_bytes=limits.max_index_bytes)
    try:
        document = load(body, limits=yaml_limits, loader=KubernetesLoader)
    except YamlLimitError as exc:
        raise ChartLimitError(
            f"the index of the Helm repository {shown} is too large: {exc}"
        ) from None
    except YamlError as exc:
        raise ChartIndexError(
            f"the index of the Helm repository {shown} is not valid YAML: {exc}", shown
        ) from None
    looks_like_index = isinstance(document, dict) and (
        "entries" in document or "apiVersion" in document
    )
    if not looks_like_index or not isinstance(document.get("entries"), dict | None):
        raise ChartIndexError(
            f"{shown}/index.yaml is not a Helm repository index (no `entries` mapping): is "
            "repoURL the URL of a Helm repository?",
            shown,
        )
    return document


def parse_index(body: bytes, repo_url: str, limits: ChartLimits) -> ChartIndex:
    """Read an `index.yaml` body into a `ChartIndex` (validators and time left unset).

    Raises `ChartIndexError` when it is not an index, `ChartLimitError` past the YAML bounds.
    """
    document = _document(body, repo_url, limits)
    charts: dict[str, tuple[ChartVersion, ...]] = {}
    skipped = 0
    for name, items in (document.get("entries") or {}).items():
        if not isinstance(items, list):
            skipped += 1
            continue
        versions = []
        for item in items:
            entry = _entry(str(name), item)
            if entry is None:
                skipped += 1
            else:
                versions.append(entry)
        if versions:
            charts[str(name)] = _newest_first(versions)
    return ChartIndex(
        repo_url=repo_url,
        charts=charts,
        content_sha256=hashlib.sha256(body).hexdigest(),
        skipped=skipped,
    )
