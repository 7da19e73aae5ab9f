"""Target revisions: refs from `ls-remote`, and semver versions and constraints over tags.

`resolve_revision` is pure: it takes the refs a remote advertises and a `targetRevision` and
returns the commit. Commit ids that are no ref tip (a short or full SHA) need the object database
of a mirror, so they resolve there (`Mirror.find_commit`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache, total_ordering

from tether.source.errors import InvalidSemverConstraintError, RevisionNotFoundError

HEAD = "HEAD"
_FULL_SHA = re.compile(r"^[0-9a-f]{40}$")
_SHORT_SHA = re.compile(r"^[0-9a-f]{7,40}$")

_VERSION = re.compile(
    r"^[vV]?(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+(?P<build>[0-9A-Za-z-.]+))?$"
)
# A version inside a constraint may be partial or carry wildcards: 1, 1.2, 1.2.x, 1.*, *.
_PARTIAL = re.compile(
    r"^[vV]?(?P<major>\d+|[xX*])(?:\.(?P<minor>\d+|[xX*]))?(?:\.(?P<patch>\d+|[xX*]))?"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-.]+)?$"
)
_COMPARATOR = re.compile(r"^(?P<op>>=|<=|!=|==|>|<|=|\^|~>|~)?\s*(?P<version>\S+)$")


def is_full_sha(revision: str) -> bool:
    """True for exactly 40 lowercase hex digits: a full commit id."""
    return bool(_FULL_SHA.match(revision))


def is_commit_sha(revision: str) -> bool:
    """True for 7 to 40 lowercase hex digits: a full or abbreviated commit id."""
    return bool(_SHORT_SHA.match(revision))


@total_ordering
@dataclass(frozen=True)
class Version:
    """A semantic version (semver 2.0.0). Build metadata is ignored for ordering."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Version | None:
        """The version in `text` (`v` prefix tolerated), or None when it is not one."""
        match = _VERSION.match(text.strip())
        if match is None:
            return None
        pre = match.group("pre")
        return cls(
            int(match.group("major")),
            int(match.group("minor")),
            int(match.group("patch")),
            tuple(pre.split(".")) if pre else (),
        )

    def _key(self) -> tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]:
        # A release sorts after all of its prereleases; numeric identifiers sort before
        # alphanumeric ones and compare as numbers.
        pre = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.prerelease)
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, pre)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() < other._key()

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        return f"{text}-{'.'.join(self.prerelease)}" if self.prerelease else text


@dataclass(frozen=True)
class _Bound:
    op: str  # one of > >= < <= = !=
    version: Version

    def accepts(self, version: Version) -> bool:
        if self.op == ">":
            return version > self.version
        if self.op == ">=":
            return version >= self.version
        if self.op == "<":
            return version < self.version
        if self.op == "<=":
            return version <= self.version
        if self.op == "!=":
            return version != self.version
        return version == self.version


@dataclass(frozen=True)
class SemverConstraint:
    """A constraint such as `1.2.*`, `>=1.0.0 <2.0.0`, `^1.2`, `~1.2.3` or `1.x || 2.x`.

    Comparators separated by blanks or commas must all hold; `||` separates alternatives.
    Partial versions are wildcards (`1.2` = `1.2.x`), `^` allows changes that keep the left-most
    non-zero part and `~` allows patch changes (minor changes when only a major is given).
    Prerelease versions match only when a comparator of the same alternative names one.
    """

    text: str
    alternatives: tuple[tuple[_Bound, ...], ...]
    allow_prerelease: tuple[bool, ...]

    def matches(self, version: Version) -> bool:
        """True when `version` satisfies the constraint."""
        for bounds, allow_pre in zip(self.alternatives, self.allow_prerelease, strict=True):
            if version.prerelease and not allow_pre:
                continue
            if all(bound.accepts(version) for bound in bounds):
                return True
        return False

    def newest(self, versions: Iterable[Version]) -> Version | None:
        """The highest version that satisfies the constraint, or None."""
        return max((v for v in versions if self.matches(v)), default=None)


def _partial(text: str, constraint: str) -> tuple[list[int | None], tuple[str, ...]]:
    match = _PARTIAL.match(text)
    if match is None:
        raise InvalidSemverConstraintError(
            f"{text!r} in semver constraint {constraint!r} is not a version "
            "(expected e.g. 1.2.3, 1.2, 1.x or *)"
        )
    parts: list[int | None] = []
    wildcard = False
    for name in ("major", "minor", "patch"):
        value = match.group(name)
        # Everything after the first wildcard or missing part is a wildcard too.
        if wildcard or value is None or value in ("x", "X", "*"):
            wildcard = True
            parts.append(None)
        else:
            parts.append(int(value))
    pre = match.group("pre")
    return parts, tuple(pre.split(".")) if pre else ()


def _bump(parts: list[int], index: int) -> Version:
    """The first version above everything that shares `parts[:index + 1]`."""
    head = [*parts[:index], parts[index] + 1]
    head += [0] * (3 - len(head))
    return Version(head[0], head[1], head[2])


def _floor(parts: list[int | None], pre: tuple[str, ...]) -> Version:
    known = [p if p is not None else 0 for p in parts]
    return Version(known[0], known[1], known[2], pre)


def _comparator_bounds(op: str, text: str, constraint: str) -> list[_Bound]:
    parts, pre = _partial(text, constraint)
    fixed = [p for p in parts if p is not None]
    if not fixed:
        # `*`, `x`, `>=*`: any version; `<*` and friends would match nothing, a sure mistake.
        if op in ("<", ">", "!="):
            raise InvalidSemverConstraintError(
                f"semver constraint {constraint!r}: {op}{text} can match no version"
            )
        return []
    floor = _floor(parts, pre)
    exact = len(fixed) == 3
    upper = floor if exact else _bump(fixed, len(fixed) - 1)
    if op == "^":
        first_nonzero = next((i for i, p in enumerate(fixed) if p != 0), len(fixed) - 1)
        return [_Bound(">=", floor), _Bound("<", _bump(fixed, first_nonzero))]
    if op in ("~", "~>"):
        keep = 1 if len(fixed) >= 2 else 0
        return [_Bound(">=", floor), _Bound("<", _bump(fixed, keep))]
    if op in ("", "=", "=="):
        return [_Bound("=", floor)] if exact else [_Bound(">=", floor), _Bound("<", upper)]
    if op == "!=":
        if exact:
            return [_Bound("!=", floor)]
        raise InvalidSemverConstraintError(
            f"semver constraint {constraint!r}: '!=' needs a full version such as 1.2.3"
        )
    if op == ">":
        return [_Bound(">", floor)] if exact else [_Bound(">=", upper)]
    if op == ">=":
        return [_Bound(">=", floor)]
    if op == "<":
        return [_Bound("<", floor)]
    # "<=": a partial version means up to the end of its range.
    return [_Bound("<=", floor)] if exact else [_Bound("<", upper)]


def _split_comparators(group: str) -> list[str]:
    # Join an operator separated from its version by blanks (">= 1.0") before splitting.
    return re.sub(r"(>=|<=|!=|==|~>|>|<|=|\^|~)\s+", r"\1", group.replace(",", " ")).split()


@lru_cache(maxsize=1024)
def parse_constraint(text: str) -> SemverConstraint:
    """Parse a semver constraint; raise `InvalidSemverConstraintError` when it is not one."""
    if not text.strip():
        raise InvalidSemverConstraintError("the semver constraint is empty")
    alternatives: list[tuple[_Bound, ...]] = []
    allow_pre: list[bool] = []
    for group in text.split("||"):
        bounds: list[_Bound] = []
        tokens = _split_comparators(group)
        if not tokens:
            raise InvalidSemverConstraintError(f"semver constraint {text!r} has an empty part")
        index = 0
        while index < len(tokens):
            # Hyphen range: "1.2 - 1.4.5" means >=1.2.0 and <=1.4.5 (partial upper = its range).
            if index + 2 < len(tokens) and tokens[index + 1] == "-":
                bounds += _comparator_bounds(">=", tokens[index], text)
                bounds += _comparator_bounds("<=", tokens[index + 2], text)
                index += 3
                continue
            match = _COMPARATOR.match(tokens[index])
            if match is None:
                raise InvalidSemverConstraintError(
                    f"{tokens[index]!r} in semver constraint {text!r} is not a comparator"
                )
            bounds += _comparator_bounds(match.group("op") or "", match.group("version"), text)
            index += 1
        alternatives.append(tuple(bounds))
        allow_pre.append(any(bound.version.prerelease for bound in bounds))
    return SemverConstraint(text, tuple(alternatives), tuple(allow_pre))


def is_semver_constraint(text: str) -> bool:
    """True when `text` parses as a semver constraint (a branch name such as `main` does not)."""
    try:
        parse_constraint(text)
    except InvalidSemverConstraintError:
        return False
    return True


@dataclass(frozen=True)
class ResolvedRevision:
    """A target revision resolved to a commit; `ref` is the ref it came from, if any."""

    revision: str
    commit: str
    ref: str | None


def resolve_revision(refs: Mapping[str, str], revision: str) -> ResolvedRevision | None:
    """Resolve `revision` against advertised refs (`ls-remote` output: ref name → commit).

    Order: empty or `HEAD` → the remote HEAD; a fully qualified ref (`refs/heads/main`); a branch;
    a tag (annotated tags peeled through their `^{}` entry); a full SHA (returned as is, its
    presence is checked when read); a semver constraint → the newest matching tag. Returns None
    for a short SHA or a name that matches nothing, so the caller can look in its mirror.
    Raises `RevisionNotFoundError` when a semver constraint matches no tag.
    """
    revision = revision.strip()
    if revision in ("", HEAD):
        commit = refs.get(HEAD)
        if commit is None:
            raise RevisionNotFoundError(
                "the remote repository advertises no HEAD (is it empty, or not a git server?)"
            )
        return ResolvedRevision(HEAD, commit, HEAD)
    candidates = (
        [revision]
        if revision.startswith("refs/")
        else [f"refs/heads/{revision}", f"refs/tags/{revision}"]
    )
    for ref in candidates:
        commit = refs.get(f"{ref}^{{}}") or refs.get(ref)
        if commit is not None:
            return ResolvedRevision(revision, commit, ref)
    if _FULL_SHA.match(revision):
        return ResolvedRevision(revision, revision, None)
    if is_commit_sha(revision):
        return None
    if not is_semver_constraint(revision):
        return None
    constraint = parse_constraint(revision)
    tags: dict[Version, str] = {}
    for ref in refs:
        if not ref.startswith("refs/tags/") or ref.endswith("^{}"):
            continue
        name = ref[len("refs/tags/") :]
        version = Version.parse(name)
        # Prefer the plain spelling when both v1.2.3 and 1.2.3 exist: a deterministic choice.
        if version is not None and (version not in tags or not name.startswith(("v", "V"))):
            tags[version] = ref
    newest = constraint.newest(tags)
    if newest is None:
        raise RevisionNotFoundError(
            f"no tag matches the semver constraint {revision!r} "
            f"({len(tags)} semver tag(s) in the repository)"
        )
    ref = tags[newest]
    return ResolvedRevision(revision, refs.get(f"{ref}^{{}}") or refs[ref], ref)
