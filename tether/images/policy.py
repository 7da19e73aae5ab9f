"""Image policies: choose the latest tag of an image repository as Flux does.

`parse_policy` checks the ``spec`` of a Flux ``ImagePolicy`` (``image.toolkit.fluxcd.io/v1``)
as written; `latest_tag` applies it to a repository's tags with the rules of Flux's
image-reflector-controller:

- ``filterTags.pattern`` keeps the tags it matches (anywhere, unless anchored);
  ``filterTags.extract`` (Go's ``$name``/``${name}``/``$1`` template) gives the value compared.
  The result is always the original tag; tags extracting the same value: the later one stands.
- ``semver.range``: the highest tag that is a version within the range (see `semver`), others
  skipped; equal versions (``1.0.0``, ``v1.0.0``): the first.
- ``alphabetical.order``: ``asc`` (default) takes the last tag in byte order, ``desc`` the first.
- ``numerical.order``: the same over Go floats; a value that is not a number fails the policy,
  as in Flux (filter the tags first); equal numbers: the later.

Patterns are RE2 (Go) syntax, translated by `tagfilter` for Python's ``re`` with RE2's
meaning; what RE2 lacks, and patterns that could backtrack badly, are refused there.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from tether.images.errors import InvalidPolicyError, NoMatchingTagError, RegistryResponseError
from tether.images.semver import Constraint, Version, parse_constraint, parse_version
from tether.images.tagfilter import MAX_TAG_LENGTH, ExtractTemplate, compile_re2, parse_template

MAX_TAGS = 100_000
MAX_EXTRACT_LENGTH = 256
DEFAULT_DIGEST_INTERVAL_SECONDS = 600.0

Order = Literal["asc", "desc"]
DigestReflection = Literal["Never", "IfNotPresent", "Always"]
_ORDERS: dict[object, Order] = {None: "asc", "": "asc", "asc": "asc", "desc": "desc"}
_REFLECTIONS: dict[object, DigestReflection] = {
    None: "Never", "": "Never", "Never": "Never", "IfNotPresent": "IfNotPresent", "Always": "Always"
}  # fmt: skip
_CHOICES = ("semver", "alphabetical", "numerical")


@dataclass(frozen=True)
class SemverPolicy:
    """Choose the highest tag that is a version within `range`."""

    range: str
    constraint: Constraint


@dataclass(frozen=True)
class AlphabeticalPolicy:
    """Choose the last tag in byte order (``asc``) or the first (``desc``)."""

    order: Order = "asc"


@dataclass(frozen=True)
class NumericalPolicy:
    """Choose the highest number (``asc``) or the lowest (``desc``)."""

    order: Order = "asc"


PolicyChoice = SemverPolicy | AlphabeticalPolicy | NumericalPolicy


@dataclass(frozen=True)
class TagFilter:
    """``spec.filterTags``: `regex` is `pattern` translated from RE2; `template` is `extract`."""

    pattern: str
    extract: str
    regex: re.Pattern[str]
    template: ExtractTemplate

    def value(self, tag: str) -> str | None:
        """The value the policy compares for `tag`, or None when the pattern does not match."""
        found = self.regex.search(tag)
        if found is None:
            return None
        return self.template.expand(found) if self.extract else tag


@dataclass(frozen=True)
class ImagePolicySpec:
    """A checked ImagePolicy spec.

    `digest_interval_seconds` is how often the digest of the latest tag is refreshed; it is set
    only when `digest_reflection_policy` is ``Always``.
    """

    policy: PolicyChoice
    filter_tags: TagFilter | None = None
    digest_reflection_policy: DigestReflection = "Never"
    digest_interval_seconds: float | None = None


def _mapping(value: object, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidPolicyError(f"{field} must be a mapping, not {type(value).__name__}")
    return value


def _string(value: object, field: str, *, optional: bool = False) -> str:
    if value is None and optional:
        return ""
    if not isinstance(value, str):
        raise InvalidPolicyError(f"{field} must be a string, not {type(value).__name__}")
    return value


def _order(choice: Mapping[str, Any], field: str) -> Order:
    order = choice.get("order")
    if isinstance(order, str | None) and order in _ORDERS:
        return _ORDERS[order]
    raise InvalidPolicyError(f"{field}.order must be 'asc' or 'desc', not {order!r}")


def _policy_choice(value: object) -> PolicyChoice:
    choices = _mapping(value, "spec.policy")
    unknown = sorted(set(choices) - set(_CHOICES))
    if unknown:
        raise InvalidPolicyError(
            f"spec.policy has unknown field {unknown[0]!r}: set exactly one of "
            "semver, alphabetical or numerical"
        )
    chosen = [name for name in _CHOICES if choices.get(name) is not None]
    if len(chosen) != 1:
        found = " and ".join(chosen) if chosen else "none"
        raise InvalidPolicyError(
            f"spec.policy must set exactly one of semver, alphabetical or numerical (found {found})"
        )
    name = chosen[0]
    choice = _mapping(choices[name], f"spec.policy.{name}")
    if name == "alphabetical":
        return AlphabeticalPolicy(_order(choice, "spec.policy.alphabetical"))
    if name == "numerical":
        return NumericalPolicy(_order(choice, "spec.policy.numerical"))
    text = choice.get("range")
    if text is None or text == "":
        raise InvalidPolicyError("spec.policy.semver.range is required, e.g. '>=1.0.0 <2.0.0'")
    text = _string(text, "spec.policy.semver.range")
    try:
        constraint = parse_constraint(text)
    except InvalidPolicyError as error:
        raise InvalidPolicyError(f"spec.policy.semver.range {text!r}: {error.message}") from None
    return SemverPolicy(text, constraint)


def _tag_filter(value: object) -> TagFilter | None:
    if value is None:
        return None
    spec = _mapping(value, "spec.filterTags")
    pattern = _string(spec.get("pattern", ""), "spec.filterTags.pattern", optional=True)
    extract = _string(spec.get("extract", ""), "spec.filterTags.extract", optional=True)
    if len(extract) > MAX_EXTRACT_LENGTH:
        raise InvalidPolicyError(
            f"spec.filterTags.extract is {len(extract)} characters long, more than "
            f"{MAX_EXTRACT_LENGTH}"
        )
    try:
        regex = compile_re2(pattern)
    except InvalidPolicyError as error:
        raise InvalidPolicyError(f"spec.filterTags.pattern {pattern!r}: {error.message}") from None
    try:
        template = parse_template(extract, regex)
    except InvalidPolicyError as error:
        raise InvalidPolicyError(f"spec.filterTags.extract {extract!r}: {error.message}") from None
    return TagFilter(pattern, extract, regex, template)


_DURATION = re.compile(r"(?:[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h))+")
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def _digest_reflection(spec: Mapping[str, Any]) -> tuple[DigestReflection, float | None]:
    given = spec.get("digestReflectionPolicy")
    if not isinstance(given, str | None) or given not in _REFLECTIONS:
        raise InvalidPolicyError(
            f"spec.digestReflectionPolicy must be Never, IfNotPresent or Always, not {given!r}"
        )
    reflection = _REFLECTIONS[given]
    interval = spec.get("interval")
    if interval is None:
        if reflection == "Always":
            raise InvalidPolicyError(
                "spec.interval must be set when spec.digestReflectionPolicy is Always, e.g. '10m'"
            )
        return reflection, None
    if reflection != "Always":
        raise InvalidPolicyError(
            "spec.interval is only accepted when spec.digestReflectionPolicy is Always"
        )
    text = _string(interval, "spec.interval")
    if not _DURATION.fullmatch(text):
        raise InvalidPolicyError(
            f"spec.interval {text!r} is not a duration such as '10m', '1h30m' or '90s'"
        )
    seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))
    # Flux refreshes every 10 minutes when the interval is zero.
    return "Always", seconds or DEFAULT_DIGEST_INTERVAL_SECONDS


def parse_policy(spec: Mapping[str, Any]) -> ImagePolicySpec:
    """Check the ``spec`` of an ImagePolicy and return it parsed.

    Raise `InvalidPolicyError`, naming the field, when ``spec.policy`` does not set exactly one
    of semver, alphabetical or numerical, when a range, order, pattern, extract template,
    digest reflection policy or interval is invalid.
    """
    spec = _mapping(spec, "spec")
    if spec.get("policy") is None:
        raise InvalidPolicyError(
            "spec.policy is required: set one of semver, alphabetical or numerical"
        )
    reflection, interval = _digest_reflection(spec)
    return ImagePolicySpec(
        policy=_policy_choice(spec["policy"]),
        filter_tags=_tag_filter(spec.get("filterTags")),
        digest_reflection_policy=reflection,
        digest_interval_seconds=interval,
    )


# Go's strconv.ParseFloat grammar: decimal or hexadecimal (with a p exponent) literals with
# underscores between digits, inf/infinity with a sign, nan without one.
_DEC = r"[0-9](?:_?[0-9])*"
_HEX = r"[0-9a-fA-F](?:_?[0-9a-fA-F])*"
_GO_DECIMAL = re.compile(rf"[+-]?(?:{_DEC}(?:\.(?:{_DEC})?)?|\.{_DEC})(?:[eE][+-]?{_DEC})?")
_GO_HEX = re.compile(rf"[+-]?0[xX](?:_?{_HEX}(?:\.(?:{_HEX})?)?|\.{_HEX})[pP][+-]?{_DEC}")
_GO_SPECIAL = re.compile(r"[+-]?(?i:inf|infinity)|(?i:nan)")


def parse_go_float(text: str) -> float | None:
    """`text` as Go's ``strconv.ParseFloat(text, 64)`` reads it, or None where it fails
    (syntax, or a finite literal too large for a float64)."""
    if _GO_SPECIAL.fullmatch(text):
        return float(text)
    try:
        if _GO_DECIMAL.fullmatch(text):
            value = float(text.replace("_", ""))
        elif _GO_HEX.fullmatch(text):
            value = float.fromhex(text.replace("_", ""))
        else:
            return None
    except OverflowError:
        return None
    return None if math.isinf(value) else value


def _candidates(policy: ImagePolicySpec, tags: Iterable[str], image: str) -> dict[str, str]:
    """The values to compare, each with the tag it came from, in input order."""
    values: dict[str, str] = {}
    count = 0
    for tag in tags:
        count += 1
        if count > MAX_TAGS:
            raise RegistryResponseError(
                f"{image or 'the repository'} has more than {MAX_TAGS} tags; Tether considers at "
                "most that many for an image policy",
                image,
            )
        if not isinstance(tag, str) or not tag or len(tag) > MAX_TAG_LENGTH:
            continue
        if policy.filter_tags is None:
            values.setdefault(tag, tag)
            continue
        value = policy.filter_tags.value(tag)
        if value is not None:
            values[value] = tag
    if not values:
        where = f" of {image}" if image else ""
        if count == 0:
            raise NoMatchingTagError(f"the repository{where} has no tags to choose from")
        pattern = policy.filter_tags.pattern if policy.filter_tags else ""
        raise NoMatchingTagError(
            f"no tag{where} matches spec.filterTags.pattern {pattern!r} ({count} tags checked)"
        )
    return values


def _latest_version(choice: SemverPolicy, values: dict[str, str], image: str) -> str:
    best: Version | None = None
    best_tag = ""
    versions = 0
    for value, tag in values.items():
        version = parse_version(value)
        if version is None:
            continue
        versions += 1
        if choice.constraint.matches(version) and (best is None or version.compare(best) > 0):
            best, best_tag = version, tag
    if best is None:
        where = f" of {image}" if image else ""
        raise NoMatchingTagError(
            f"no tag{where} is a version within semver range {choice.range!r} "
            f"({len(values)} candidates, {versions} of them versions; a prerelease only matches "
            "a range that names one, such as '>=1.0.0-0')"
        )
    return best_tag


def _latest_number(choice: NumericalPolicy, values: dict[str, str]) -> str:
    best_value = 0.0
    best_tag: str | None = None
    for value, tag in values.items():
        number = parse_go_float(value)
        if number is None or math.isnan(number):
            raise InvalidPolicyError(
                f"numerical policy: {value!r} (from tag {tag!r}) is not a number; keep only "
                "numeric tags with spec.filterTags.pattern (e.g. '^[0-9]+$') or extract one"
            )
        if best_tag is None or (
            number >= best_value if choice.order == "asc" else number <= best_value
        ):
            best_value, best_tag = number, tag
    assert best_tag is not None  # values is never empty
    return best_tag


def latest_tag(policy: ImagePolicySpec, tags: Iterable[str], *, image: str = "") -> str:
    """The tag `policy` chooses among `tags` (`image` only names the repository in errors).

    Raise `NoMatchingTagError` when no tag qualifies, `InvalidPolicyError` when a numerical
    policy meets a value that is not a number, and `RegistryResponseError` past `MAX_TAGS`
    tags. Tags longer than `MAX_TAG_LENGTH` are skipped.
    """
    values = _candidates(policy, tags, image)
    choice = policy.policy
    if isinstance(choice, SemverPolicy):
        return _latest_version(choice, values, image)
    if isinstance(choice, NumericalPolicy):
        return _latest_number(choice, values)
    chosen = max(values) if choice.order == "asc" else min(values)
    return values[chosen]
