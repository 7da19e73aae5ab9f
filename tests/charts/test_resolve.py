"""Which version a targetRevision selects: exact versions, Masterminds ranges, prereleases."""

from __future__ import annotations

import pytest

from tether.charts import (
    ChartLimits,
    ChartNotFoundError,
    ChartVersionNotFoundError,
    InvalidChartSourceError,
    parse_index,
    resolve_chart,
    select_version,
)

VERSIONS = ["1.0.0", "1.2.0", "1.2.5", "1.3.0-rc.1", "2.0.0", "2.1.0-beta.1", "nightly"]
REPO = "https://charts.example.com/stable"


def index_text(versions: list[str] = VERSIONS) -> bytes:
    lines = ["apiVersion: v1", "entries:", "  web:"]
    for version in versions:
        lines += [
            "  - name: web",
            f"    version: {version}",
            f"    digest: {'ab' * 32}",
            f"    urls: [web-{version}.tgz]",
        ]
    lines += ["  website:", "  - {name: website, version: 1.0.0, urls: [w.tgz]}"]
    return "\n".join(lines).encode()


INDEX = parse_index(index_text(), REPO, ChartLimits())


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("1.2.0", "1.2.0"),
        ("^1.2", "1.2.5"),
        ("~1.2.0", "1.2.5"),
        (">=1.0.0 <2.0.0", "1.2.5"),
        (">=1.0.0, <2.0.0", "1.2.5"),
        ("1.x", "1.2.5"),
        ("*", "2.0.0"),
        ("", "2.0.0"),
        (" ", "2.0.0"),
        ("v1.0.0", "1.0.0"),
        ("1.0 - 1.2", "1.2.5"),
        ("^3.0 || 1.0.0", "1.0.0"),
    ],
)
def test_target_revision_selects_the_newest_matching_release(target: str, expected: str) -> None:
    assert select_version(INDEX, "web", target).version == expected


def test_a_prerelease_is_chosen_only_when_the_range_names_one() -> None:
    assert select_version(INDEX, "web", ">=2.0.0-0").version == "2.1.0-beta.1"
    assert select_version(INDEX, "web", "1.3.0-rc.1").version == "1.3.0-rc.1"
    assert select_version(INDEX, "web", "^1.3.0-0").version == "1.3.0-rc.1"
    with pytest.raises(ChartVersionNotFoundError):
        select_version(INDEX, "web", ">=2.0.1")  # 2.1.0-beta.1 is newer, but a prerelease


def test_no_match_lists_the_newest_versions_and_explains_prereleases() -> None:
    with pytest.raises(ChartVersionNotFoundError) as caught:
        select_version(INDEX, "web", ">=2.0.1")

    message = str(caught.value)
    assert "'>=2.0.1'" in message and "2.0.0, 1.2.5, 1.2.0, 1.0.0" in message
    assert "7 version(s)" in message and "2.1.0-beta.1" in message and ">=1.0.0-0" in message


def test_a_version_that_is_not_semver_is_selected_by_its_exact_text_only() -> None:
    assert select_version(INDEX, "web", "nightly").version == "nightly"
    assert INDEX.charts["web"][-1].version == "nightly"  # after every SemVer version


def test_an_unknown_chart_is_named_with_a_suggestion() -> None:
    with pytest.raises(ChartNotFoundError, match=r"no chart 'wbe'.*did you mean web"):
        select_version(INDEX, "wbe", "*")


def test_a_target_revision_that_is_neither_version_nor_range_is_refused() -> None:
    with pytest.raises(InvalidChartSourceError, match="neither one of its versions nor a semver"):
        select_version(INDEX, "web", "latest")


def test_resolution_makes_archive_urls_absolute_and_keeps_the_digest() -> None:
    resolved = resolve_chart(INDEX, "web", "^1.2")

    assert resolved.urls == (f"{REPO}/web-1.2.5.tgz",)
    assert resolved.digest == "sha256:" + "ab" * 32
    assert resolved.revision == "1.2.5" and resolved.target_revision == "^1.2"
    assert not resolved.differs_from(resolve_chart(INDEX, "web", "1.2.5"))
    assert resolved.differs_from(resolve_chart(INDEX, "web", "1.2.0"))
    assert resolved.differs_from(None)
