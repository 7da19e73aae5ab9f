"""Semantic versions and ranges as Flux's image policies read them.

Flux parses tags with ``fluxcd/pkg/version.ParseVersion`` (a strict SemVer 2.0.0 version with an
optional leading ``v``) and ranges with Masterminds/semver v3 (v3.4 rules). This module follows
both, including Masterminds' quirks, so that an ImagePolicy selects the same tag here as in Flux:

- a range is OR-groups (``||``) of AND-ed comparisons (separated by commas or spaces); a hyphen
  range ``A - B`` (spaces required) means ``>= A, <= B``;
- ``x``, ``X`` and ``*`` are wildcards; a partial version (``1``, ``1.2``) is a wildcard too;
  ``=``/no operator with a wildcard means ``~``;
- ``~1.2.3`` keeps major and minor, ``^1.2.3`` keeps the major (``^0.2.3`` the minor,
  ``^0.0.3`` the patch);
- a prerelease version matches an OR-group only when one comparison of that group names a
  prerelease (``>=1.0.0-0``); it is then compared by SemVer precedence across all versions,
  not only within the same major.minor.patch (unlike npm).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tether.images.errors import InvalidPolicyError

MAX_VERSION_LENGTH = 256  # Masterminds' own limit on a version string
MAX_RANGE_LENGTH = 512
_UINT64_MAX = 2**64 - 1

_IDENTIFIER = re.compile(r"[0-9A-Za-z-]+")
_DIGITS = re.compile(r"[0-9]+")
_WS = "\t\n\f\r "  # Go's \s: ASCII whitespace without \v

# One version-like operand of a comparison (wildcards allowed; Masterminds' character class
# also admits "|", which then fails when the number is read).
_OPERAND = (
    r"v?(?P<major>[0-9|xX*]+)(?P<minor>\.[0-9|xX*]+)?(?P<patch>\.[0-9|xX*]+)?"
    r"(?P<pre>-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?P<meta>\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)
_OPS = r"!=|>=|=>|<=|=<|~>|>|<|=|~|\^|"
_COMPARISON = re.compile(rf"(?P<op>{_OPS})[{_WS}]*(?P<operand>{_OPERAND})")
_HYPHEN_RANGE = re.compile(
    rf"[{_WS}]*(?P<low>{_OPERAND.replace('?P<', '?P<low_')})[{_WS}]+-[{_WS}]+"
    rf"(?P<high>{_OPERAND.replace('?P<', '?P<high_')})[{_WS}]*"
)
_CANONICAL_OPS = {"": "=", "=>": ">=", "=<": "<=", "~>": "~"}


@dataclass(frozen=True)
class Version:
    """A semantic version; ``original`` is the text it was read from (a tag keeps its ``v``)."""

    major: int
    minor: int
    patch: int
    prerelease: str = ""
    build: str = ""
    original: str = ""

    def precedence(self) -> tuple[object, ...]:
        """A key that sorts versions by SemVer precedence (build metadata ignored)."""
        return (self.major, self.minor, self.patch, _prerelease_key(self.prerelease))

    def compare(self, other: Version) -> int:
        """-1, 0 or 1 as this version is lower than, equal to or higher than `other`."""
        mine, theirs = self.precedence(), other.precedence()
        return (mine > theirs) - (mine < theirs)

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        text += f"-{self.prerelease}" if self.prerelease else ""
        return text + (f"+{self.build}" if self.build else "")


def _prerelease_key(prerelease: str) -> tuple[object, ...]:
    # A release sorts after all its prereleases; numeric identifiers sort before alphanumeric
    # ones and by value; one past uint64 is compared as text, as Masterminds does.
    if not prerelease:
        return (1,)
    parts: list[tuple[int, int, str]] = []
    for part in prerelease.split("."):
        if part.isascii() and part.isdigit() and int(part) <= _UINT64_MAX:
            parts.append((0, int(part), ""))
        else:
            parts.append((1, 0, part))
    return (0, tuple(parts))


def _valid_identifiers(text: str, *, numeric_leading_zero: bool) -> bool:
    for part in text.split("."):
        if not _IDENTIFIER.fullmatch(part):
            return False
        if not numeric_leading_zero and len(part) > 1 and part[0] == "0" and part.isdigit():
            return False
    return True


def _number(text: str, *, leading_zero: bool) -> int | None:
    if not _DIGITS.fullmatch(text) or (not leading_zero and len(text) > 1 and text[0] == "0"):
        return None
    value = int(text)
    return value if value <= _UINT64_MAX else None


def _numbers(parts: list[str], *, leading_zero: bool) -> tuple[int, int, int] | None:
    values = [_number(part, leading_zero=leading_zero) for part in parts]
    if values[0] is None or values[1] is None or values[2] is None:
        return None
    return values[0], values[1], values[2]


def parse_version(text: str) -> Version | None:
    """The version a tag names, or None when it is not one.

    Strict SemVer 2.0.0 (``MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]``, no leading zeros) with one
    optional leading ``v``, as Flux reads tags: ``1.2`` or ``v01.2.3`` are not versions.
    """
    body = text[1:] if text.startswith("v") else text
    if not body or len(body) > MAX_VERSION_LENGTH:
        return None
    major, sep1, rest = body.partition(".")
    minor, sep2, rest = rest.partition(".")
    if not sep1 or not sep2:
        return None
    rest, plus, build = rest.partition("+")
    if plus and not _valid_identifiers(build, numeric_leading_zero=True):
        return None
    patch, dash, prerelease = rest.partition("-")
    if dash and not _valid_identifiers(prerelease, numeric_leading_zero=False):
        return None
    numbers = _numbers([major, minor, patch], leading_zero=False)
    if numbers is None:
        return None
    return Version(*numbers, prerelease=prerelease, build=build, original=text)


@dataclass(frozen=True)
class Comparison:
    """One comparison of a range: ``op`` one of ``= != > < >= <= ~ ^`` and its operand.

    ``wildcard`` is the first wildcard part of the operand: "major" (``*``), "minor" (``1``,
    ``1.x``), "patch" (``1.2``, ``1.2.x``) or "" (a full version).
    """

    op: str
    version: Version
    wildcard: str = ""

    def matches(self, v: Version, include_prereleases: bool) -> bool:
        """Whether `v` satisfies this comparison (Masterminds' rules, quirks included)."""
        if v.prerelease and not include_prereleases:
            return False
        check = _CHECKS[self.op]
        return check(v, self)


def _not_equal(v: Version, c: Comparison) -> bool:
    con = c.version
    if c.wildcard:
        if con.major != v.major:
            return True
        if c.wildcard == "minor":
            return False
        if con.minor != v.minor:
            return True
        if c.wildcard == "patch":
            return _prerelease_key(v.prerelease) != _prerelease_key(con.prerelease) and bool(
                v.prerelease or con.prerelease
            )
        if con.patch != v.patch:
            return True
    return v.compare(con) != 0


def _greater(v: Version, c: Comparison) -> bool:
    con = c.version
    if c.wildcard in ("minor", "patch"):
        if v.major != con.major:
            return v.major > con.major
        return c.wildcard == "patch" and v.minor > con.minor
    return v.compare(con) > 0


def _less_equal(v: Version, c: Comparison) -> bool:
    con = c.version
    if not c.wildcard:
        return v.compare(con) <= 0
    if v.major > con.major:
        return False
    return not (v.major == con.major and v.minor > con.minor and c.wildcard != "minor")


def _tilde(v: Version, c: Comparison) -> bool:
    con = c.version
    if v.compare(con) < 0:
        return False
    if (con.major, con.minor, con.patch) == (0, 0, 0) and c.wildcard not in ("minor", "patch"):
        return True
    return v.major == con.major and (v.minor == con.minor or c.wildcard == "minor")


def _tilde_or_equal(v: Version, c: Comparison) -> bool:
    return _tilde(v, c) if c.wildcard else v.compare(c.version) == 0


def _caret(v: Version, c: Comparison) -> bool:
    con = c.version
    if v.compare(con) < 0:
        return False
    if con.major > 0 or c.wildcard == "minor":
        return v.major == con.major
    if v.major > 0:
        return False
    if con.minor > 0 or c.wildcard == "patch":
        return v.minor == con.minor
    # ^0.0.z (and, as in Masterminds, ^* and ^0.0.0) pin the patch.
    return v.minor == 0 and v.patch == con.patch


_CHECKS = {
    "=": _tilde_or_equal,
    "!=": _not_equal,
    ">": _greater,
    "<": lambda v, c: v.compare(c.version) < 0,
    ">=": lambda v, c: v.compare(c.version) >= 0,
    "<=": _less_equal,
    "~": _tilde,
    "^": _caret,
}


@dataclass(frozen=True)
class Constraint:
    """A parsed range: any of ``groups`` matches when all its comparisons do."""

    text: str
    groups: tuple[tuple[Comparison, ...], ...]

    def matches(self, version: Version) -> bool:
        """Whether `version` satisfies the range.

        A prerelease version can only satisfy a group in which some comparison names a
        prerelease (Masterminds v3.4: one is enough for the whole AND-group).
        """
        for group in self.groups:
            include = any(c.version.prerelease for c in group)
            if all(c.matches(version, include) for c in group):
                return True
        return False


def _is_wildcard(part: str | None) -> bool:
    return part is not None and part.lstrip(".") in ("x", "X", "*")


def _comparison(op: str, parts: dict[str, str | None], text: str) -> Comparison:
    major, minor, patch = parts["major"] or "", parts["minor"], parts["patch"]
    pre = (parts["pre"] or "")[1:]
    build = (parts["meta"] or "")[1:]
    if _is_wildcard(major):
        wildcard, numbers = "major", ["0", "0", "0"]
    elif minor is None or _is_wildcard(minor):
        wildcard, numbers = "minor", [major, "0", "0"]
    elif patch is None or _is_wildcard(patch):
        wildcard, numbers = "patch", [major, minor[1:], "0"]
    else:
        wildcard, numbers = "", [major, minor[1:], patch[1:]]
    values = _numbers(numbers, leading_zero=True)
    if values is None or (pre and not _valid_identifiers(pre, numeric_leading_zero=False)):
        raise InvalidPolicyError(f"{text!r} is not a version: {_RANGE_HINT}")
    version = Version(*values, prerelease=pre, build="" if wildcard else build)
    return Comparison(_CANONICAL_OPS.get(op, op), version, wildcard)


_RANGE_HINT = (
    "write comparisons such as '>=1.2.3 <2.0.0', '~1.2', '^1', '1.x' or '1.0 - 2.0', "
    "joined by ',' or spaces (and) or '||' (or)"
)


def _parse_group(segment: str) -> tuple[Comparison, ...]:
    # A tokenizer rather than one big regular expression: the same language as Masterminds'
    # validation pattern, in linear time whatever the input.
    comparisons: list[Comparison] = []
    pos, end = 0, len(segment)
    while pos < end and segment[pos] in _WS:
        pos += 1
    while True:
        found = _COMPARISON.match(segment, pos)
        if found is None:
            raise InvalidPolicyError(f"improper constraint {segment.strip()!r}: {_RANGE_HINT}")
        operand = found.groupdict()
        comparisons.append(_comparison(found["op"], operand, found[0]))
        pos = found.end()
        start = pos
        while pos < end and segment[pos] in _WS:
            pos += 1
        if pos == end:
            return tuple(comparisons)
        if segment[pos] == ",":
            pos += 1
            while pos < end and segment[pos] in _WS:
                pos += 1
        elif pos == start:
            raise InvalidPolicyError(f"improper constraint {segment.strip()!r}: {_RANGE_HINT}")


def parse_constraint(text: str) -> Constraint:
    """Parse a Masterminds/semver v3 range; raise `InvalidPolicyError` when it is not one."""
    if len(text) > MAX_RANGE_LENGTH:
        raise InvalidPolicyError(
            f"semver range is {len(text)} characters long, more than {MAX_RANGE_LENGTH}"
        )
    rewritten = _HYPHEN_RANGE.sub(lambda m: f">= {m['low']}, <= {m['high']} ", text)
    return Constraint(text, tuple(_parse_group(part) for part in rewritten.split("||")))
