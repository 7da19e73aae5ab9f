"""Semver versions and constraints, and revision resolution over advertised refs."""

from __future__ import annotations

import pytest

from tether.source import (
    InvalidSemverConstraintError,
    RevisionNotFoundError,
    Version,
    parse_constraint,
    resolve_revision,
)
from tether.source.revisions import is_semver_constraint


@pytest.mark.parametrize(
    ("constraint", "accepted", "refused"),
    [
        ("1.2.*", ["1.2.0", "v1.2.9"], ["1.3.0", "1.1.9", "1.2.1-rc.1"]),
        ("1.2.x", ["1.2.4"], ["1.3.0"]),
        (">=1.0.0 <2.0.0", ["1.0.0", "1.9.9"], ["0.9.9", "2.0.0", "1.5.0-rc.1"]),
        (">= 1.0, < 2.0", ["1.5.0"], ["2.0.0"]),
        ("^1.2", ["1.2.0", "1.9.0"], ["1.1.9", "2.0.0"]),
        ("^0.2.3", ["0.2.3", "0.2.9"], ["0.3.0", "0.2.2"]),
        ("~1.2", ["1.2.0", "1.2.7"], ["1.3.0"]),
        ("~1.2.3", ["1.2.3", "1.2.9"], ["1.2.2", "1.3.0"]),
        ("1.x || 3.x", ["1.0.0", "3.1.0"], ["2.0.0"]),
        (">1.2", ["1.3.0"], ["1.2.9"]),
        ("<=1.2", ["1.2.9"], ["1.3.0"]),
        ("1.2 - 1.4", ["1.2.0", "1.4.9"], ["1.1.0", "1.5.0"]),
        ("=1.2.3", ["1.2.3", "v1.2.3+build"], ["1.2.4"]),
        (">=1.0.0-rc.1 <1.0.1", ["1.0.0-rc.2", "1.0.0"], ["1.0.0-alpha"]),
        ("*", ["0.0.1", "9.0.0"], ["9.0.0-beta"]),
    ],
)
def test_constraint_accepts_and_refuses(
    constraint: str, accepted: list[str], refused: list[str]
) -> None:
    parsed = parse_constraint(constraint)

    for text in accepted:
        version = Version.parse(text)
        assert version is not None and parsed.matches(version), text
    for text in refused:
        version = Version.parse(text)
        assert version is not None and not parsed.matches(version), text


def test_prerelease_ordering_follows_semver() -> None:
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1"]
    versions = [Version.parse(v) for v in [*ordered, "1.0.0"]]

    assert [str(v) for v in sorted(reversed(versions))] == [*ordered, "1.0.0"]  # type: ignore[type-var]


@pytest.mark.parametrize("text", ["main", "release-1.x", "feature/x", "<*", "!=1.2", ">=", ""])
def test_non_constraints_are_recognised(text: str) -> None:
    assert not is_semver_constraint(text)
    with pytest.raises(InvalidSemverConstraintError):
        parse_constraint(text)


REFS = {
    "HEAD": "1" * 40,
    "refs/heads/main": "1" * 40,
    "refs/heads/v2": "2" * 40,
    "refs/tags/v1.0.0": "3" * 40,
    "refs/tags/v1.1.0": "4" * 40,
    "refs/tags/v1.1.0^{}": "5" * 40,
    "refs/tags/v2.0.0": "6" * 40,
}


def test_branch_tag_and_head_resolve_from_refs() -> None:
    assert resolve_revision(REFS, "HEAD").commit == "1" * 40  # type: ignore[union-attr]
    assert resolve_revision(REFS, "").commit == "1" * 40  # type: ignore[union-attr]
    assert resolve_revision(REFS, "v2").commit == "2" * 40  # type: ignore[union-attr]
    assert resolve_revision(REFS, "v1.1.0").commit == "5" * 40  # type: ignore[union-attr]
    assert resolve_revision(REFS, "~1.0").commit == "3" * 40  # type: ignore[union-attr]
    assert resolve_revision(REFS, "^1.0").ref == "refs/tags/v1.1.0"  # type: ignore[union-attr]


def test_unknown_names_and_short_shas_are_left_to_the_mirror() -> None:
    assert resolve_revision(REFS, "deleted-branch") is None
    assert resolve_revision(REFS, "abc1234") is None
    with pytest.raises(RevisionNotFoundError, match="no tag matches"):
        resolve_revision(REFS, ">=3.0.0")
