"""The image policy stage: Flux ImagePolicy specs, Masterminds/semver ranges, RE2 tag filters."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tether.images.errors import InvalidPolicyError, NoMatchingTagError, RegistryResponseError
from tether.images.policy import (
    MAX_TAG_LENGTH,
    MAX_TAGS,
    AlphabeticalPolicy,
    NumericalPolicy,
    SemverPolicy,
    latest_tag,
    parse_go_float,
    parse_policy,
)
from tether.images.semver import Version, parse_constraint, parse_version


def semver_spec(range_: str, **extra: Any) -> dict[str, Any]:
    return {"policy": {"semver": {"range": range_}}, **extra}


def choose(spec: dict[str, Any], tags: list[str]) -> str:
    return latest_tag(parse_policy(spec), tags)


def satisfies(range_: str, version: str) -> bool:
    parsed = parse_version(version)
    assert parsed is not None, version
    return parse_constraint(range_).matches(parsed)


# --- SemVer ranges (Masterminds/semver v3) ------------------------------------------------------


def test_flux_example_range_selects_latest_patch_of_minor() -> None:
    tags = ["5.0.3", "5.1.0", "5.1.4", "5.1.3", "5.2.0", "6.0.0", "latest"]
    assert choose(semver_spec("5.1.x"), tags) == "5.1.4"


def test_flux_example_lower_bound_selects_latest_stable_not_prerelease() -> None:
    tags = ["1.0.0", "1.4.2", "2.0.0-rc.1", "0.9.0", "main"]
    assert choose(semver_spec(">=1.0.0"), tags) == "1.4.2"


def test_tags_that_are_not_strict_versions_are_ignored() -> None:
    # Flux's own cases: 4-part and suffixed tags are no versions, a v prefix is kept.
    tags = ["1.0.0", "1.0.0.1", "1.0.0p", "1.0.1", "1.2.0", "0.1.0"]
    assert choose(semver_spec("1.0.x"), tags) == "1.0.1"
    assert choose(semver_spec("1.0.x"), ["v1.2.3", "v1.0.0", "v0.1.0"]) == "v1.0.0"


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("1.2.3", Version(1, 2, 3, original="1.2.3")),
        ("v1.2.3", Version(1, 2, 3, original="v1.2.3")),
        ("1.2.3-rc.1+build.05", Version(1, 2, 3, "rc.1", "build.05", "1.2.3-rc.1+build.05")),
        (f"{2**64 - 1}.0.0", Version(2**64 - 1, 0, 0, original=f"{2**64 - 1}.0.0")),
    ],
)
def test_parse_version_reads_strict_semver_with_optional_v(tag: str, expected: Version) -> None:
    assert parse_version(tag) == expected


@pytest.mark.parametrize(
    "tag",
    ["1.2", "1", "V1.2.3", "vv1.2.3", "01.2.3", "1.02.3", "1.2.3-01", "1.2.3-", "1.2.3+",
     "1.2.3-a..b", "1.2.3_4", "b1.2.3", "", "v", f"{2**64}.0.0", "1.2.3-é"],
)  # fmt: skip
def test_parse_version_rejects_what_flux_rejects(tag: str) -> None:
    assert parse_version(tag) is None


@pytest.mark.parametrize("range_", ["1.0.x", "^1.0", "=1.0.0", "~1.0", ">=1.0", ">0,<2.0", "*",
                                    "1.2 - 1.4.5", ">= 1.2.3 < 2.0 || => 3.0, < 4", "v1.2.3",
                                    "~> 1.2", "=< 2", "!=1.2.3", "1.x-0", "01.2.3"])  # fmt: skip
def test_valid_ranges_parse(range_: str) -> None:
    assert parse_constraint(range_).text == range_


@pytest.mark.parametrize("range_", ["1.0.0p", "1x", "x1", "-1", "a", "", "   ", "12.3.4.1234",
                                    "12.3.34~ 1.2.3", ">= bar", "1.2.3,", "|| 1.0", "1.2.3-01",
                                    f"{2**64}", ">>1", "1.2.3 ||"])  # fmt: skip
def test_invalid_ranges_are_refused(range_: str) -> None:
    with pytest.raises(InvalidPolicyError):
        parse_constraint(range_)


def test_overlong_range_is_refused() -> None:
    with pytest.raises(InvalidPolicyError, match="more than"):
        parse_constraint(">=1.0.0 " * 100)


def test_caret_range_excludes_next_major() -> None:
    assert satisfies("^1.2.3", "1.8.9")
    assert not satisfies("^1.2.3", "2.0.0")
    assert not satisfies("^1.2.3", "1.2.2")


@pytest.mark.parametrize(
    ("range_", "inside", "outside"),
    [("^0.2.3", "0.2.5", "0.3.0"), ("^0.2", "0.2.9", "0.3.0"), ("^0.0.3", "0.0.3", "0.0.4"),
     ("^0.0", "0.0.7", "0.1.0"), ("^0", "0.9.9", "1.0.0"), ("^1.x", "1.9.0", "2.0.0")],
)  # fmt: skip
def test_caret_on_zero_major_keeps_the_first_non_zero_part(
    range_: str, inside: str, outside: str
) -> None:
    assert satisfies(range_, inside)
    assert not satisfies(range_, outside)


@pytest.mark.parametrize(
    ("range_", "inside", "outside"),
    [("~1.2.3", "1.2.9", "1.3.0"), ("~1.2", "1.2.0", "1.3.0"), ("~1", "1.9.0", "2.0.0"),
     ("~1.2.3", "1.2.3", "1.2.2"), ("~>1.2", "1.2.5", "1.3.0"), ("~0.0.0", "7.0.0", "")],
)  # fmt: skip
def test_tilde_allows_patch_level_changes(range_: str, inside: str, outside: str) -> None:
    assert satisfies(range_, inside)
    if outside:
        assert not satisfies(range_, outside)


@pytest.mark.parametrize(
    ("range_", "version", "expected"),
    [
        ("1.x", "1.4.0", True), ("1.x", "2.0.0", False), ("1.2.*", "1.2.7", True),
        ("1.2.*", "1.3.0", False), ("*", "4.5.6", True), ("2", "2.1.1", True), ("2", "3.0.0", False),
        ("=2.0", "2.0.1", True), ("4.1", "4.1.0", True), ("!=4.1.0", "4.1.0", False),
        ("!=4.1.0", "4.1.1", True), ("!=4.x", "4.1.0", False), ("!=4.x", "5.1.0", True),
        ("!=4.1", "4.1.9", False), (">11", "11.1.0", False), (">11", "12.0.0", True),
        (">1.1", "1.1.9", False), (">1.1", "1.2.0", True), ("<1.x", "1.1.1", False),
        ("<1.x", "0.1.1", True), ("<1.1", "1.0.9", True), ("<=1.1", "1.1.9", True),
        ("<=1.1", "1.2.0", False), ("<=2.x", "2.9.0", True), ("<=2.x", "3.0.0", False),
        (">=1.1", "1.1.0", True), (">=1.1", "1.0.9", False), ("=1.2.3", "1.2.3", True),
        ("=1.2.3", "1.2.4", False), ("1.2.3+build", "1.2.3", True),
    ],
)  # fmt: skip
def test_comparisons_and_wildcards_follow_masterminds(
    range_: str, version: str, expected: bool
) -> None:
    assert satisfies(range_, version) is expected


def test_hyphen_range_includes_both_ends() -> None:
    assert satisfies("1.2 - 1.4.5", "1.2.0")
    assert satisfies("1.2 - 1.4.5", "1.4.5")
    assert not satisfies("1.2 - 1.4.5", "1.4.6")
    assert not satisfies("1.2 - 1.4.5", "1.1.9")


def test_hyphen_without_spaces_is_a_prerelease_not_a_range() -> None:
    assert not satisfies("1.1-3", "2.0.0")
    assert satisfies("1.1-3", "1.1.5-4")


@pytest.mark.parametrize(
    ("range_", "version", "expected"),
    [
        (">1.1, <2", "1.2.1", True), (">1.1 <2", "1.1.1", False), (">1.1    <3", "4.3.2", False),
        (">=1.1, <2, !=1.2.3", "1.2.3", False), (">=1.1 <2 !=1.2.3 || > 3", "4.1.2", True),
        (">=1.1 <2 !=1.2.3 || > 3", "3.0.0", False), (">= 1.1, <2, !=1.2.3 || >= 3", "3.0.0", True),
        ("1.0.0 - 2.0.0 <=2.0.0", "1.5.0", True), ("<1 || >=3.0.0", "2.0.0", False),
    ],
)  # fmt: skip
def test_commas_and_spaces_mean_and_double_bar_means_or(
    range_: str, version: str, expected: bool
) -> None:
    assert satisfies(range_, version) is expected


def test_range_without_prerelease_never_matches_prerelease() -> None:
    for range_ in ("*", ">=1.0.0", "^1.x", "~1.2", "1.2.x", "<2.0.0", "!=9.9.9"):
        assert not satisfies(range_, "1.2.3-rc.1"), range_


def test_prerelease_in_range_admits_prereleases_by_precedence_across_versions() -> None:
    # Masterminds, unlike npm, does not keep them to the same major.minor.patch.
    assert satisfies("~1.2.3-beta.2", "1.2.3-beta.4")
    assert satisfies("~1.2.3-beta.2", "1.2.4-beta.2")
    assert not satisfies("~1.2.3-beta.2", "1.3.4-beta.2")
    assert not satisfies("^1.2.0-alpha.2", "1.2.0-alpha.1")
    assert satisfies(">=0.0.0-0", "3.4.5-beta.1")


def test_one_prerelease_comparison_opens_its_whole_and_group() -> None:
    # Masterminds v3.4: a prerelease in any comparison of an AND-group is enough.
    assert satisfies(">=1.0.0-0 <2.0.0", "1.5.0-rc.1")
    assert not satisfies(">=1.0.0-0 <2.0.0 || >=3", "3.1.0-rc.1")


def test_flux_example_rc_filter_with_prerelease_range_picks_latest_rc() -> None:
    spec = semver_spec("^1.x-0", filterTags={"pattern": ".*-rc.*"})
    tags = ["1.0.0", "1.1.0-rc.1", "1.2.0-rc.1", "1.2.0-rc.10", "1.2.0-rc.2", "2.0.0-rc.1", "1.3.0"]
    assert choose(spec, tags) == "1.2.0-rc.10"


def test_prerelease_precedence_follows_semver_spec() -> None:
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
               "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0"]  # fmt: skip
    versions = [parse_version(tag) for tag in ordered]
    assert all(v is not None for v in versions)
    keys = [v.precedence() for v in versions if v is not None]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)


def test_build_metadata_is_ignored_for_ordering_and_first_equal_tag_wins() -> None:
    assert choose(semver_spec("*"), ["1.0.0+b2", "v1.0.0", "1.0.0+b1", "0.9.0"]) == "1.0.0+b2"
    assert choose(semver_spec("*"), ["v1.0.0", "1.0.0"]) == "v1.0.0"


def test_highest_version_wins_not_last_or_longest() -> None:
    tags = ["1.10.0", "1.9.0", "1.2.10", "1.2.9", "v1.10.1", "1.10.1-rc.1"]
    assert choose(semver_spec(">=1.0.0"), tags) == "v1.10.1"


def test_no_version_in_range_is_no_matching_tag() -> None:
    with pytest.raises(NoMatchingTagError, match=r"semver range '1\.0\.x'"):
        choose(semver_spec("1.0.x"), ["1.2.0", "b1.0.0", "latest"])


VERSIONS = st.builds(
    lambda major, minor, patch, pre, v: f"{v}{major}.{minor}.{patch}{pre}",
    st.integers(0, 3), st.integers(0, 3), st.integers(0, 12),
    st.sampled_from(["", "", "", "-rc.1", "-rc.2", "-alpha", "-0"]), st.sampled_from(["", "v"]),
)  # fmt: skip
RANGES = st.sampled_from(["*", ">=1.0.0", "^1.2", "~2.1", "1.x", "<2", ">0.1 <3", "^0.2.3",
                          "1.0 - 2.1.5", ">=1.0.0-0", "~1.2.3-rc.1 || 3.x", "!=1.2.3"])  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(tags=st.lists(VERSIONS, min_size=1, max_size=25), range_=RANGES)
def test_chosen_tag_satisfies_range_and_no_matching_tag_is_higher(
    tags: list[str], range_: str
) -> None:
    constraint = parse_constraint(range_)
    matching = [v for v in map(parse_version, tags) if v is not None and constraint.matches(v)]
    if not matching:
        with pytest.raises(NoMatchingTagError):
            choose(semver_spec(range_), tags)
        return
    chosen = parse_version(choose(semver_spec(range_), tags))
    assert chosen is not None and constraint.matches(chosen)
    assert all(v.compare(chosen) <= 0 for v in matching)


# --- Alphabetical and numerical ------------------------------------------------------------------


def test_alphabetical_asc_takes_last_in_byte_order_and_desc_the_first() -> None:
    tags = ["b", "Z", "a10", "a9", "0"]
    assert choose({"policy": {"alphabetical": {"order": "asc"}}}, tags) == "b"
    assert choose({"policy": {"alphabetical": {"order": "desc"}}}, tags) == "0"
    assert choose({"policy": {"alphabetical": {}}}, ["a9", "a10"]) == "a9"


def test_flux_example_minio_release_timestamp_alphabetical() -> None:
    spec = {
        "filterTags": {"pattern": r"^RELEASE\.(?P<timestamp>.*)Z$", "extract": "$timestamp"},
        "policy": {"alphabetical": {"order": "asc"}},
    }
    tags = ["RELEASE.2021-03-01T04-20-55Z", "RELEASE.2021-04-22T15-44-28Z",
            "RELEASE.2020-12-31T00-00-00Z", "latest", "RELEASE.2022-01-01T00-00-00Z.fips"]  # fmt: skip
    assert choose(spec, tags) == "RELEASE.2021-04-22T15-44-28Z"


def test_numerical_compares_numbers_not_text() -> None:
    tags = ["9", "10", "1.5", "-3", "1e0", "0x1p3"]
    assert choose({"policy": {"numerical": {"order": "asc"}}}, tags) == "10"
    assert choose({"policy": {"numerical": {"order": "desc"}}}, tags) == "-3"


def test_numerical_equal_values_the_later_tag_wins() -> None:
    assert choose({"policy": {"numerical": {}}}, ["1", "01", "1.0", "0"]) == "1.0"


def test_timestamp_extract_numerical_returns_the_original_tag() -> None:
    spec = {
        "filterTags": {"pattern": r"^main-[a-f0-9]+-(?P<ts>[0-9]+)", "extract": "$ts"},
        "policy": {"numerical": {"order": "asc"}},
    }
    tags = ["main-abc123-1700000000", "main-def456-1700000300", "feature-x-1800000000",
            "main-9f8e7d-1600000000", "main-XYZ-1900000000", "latest"]  # fmt: skip
    assert choose(spec, tags) == "main-def456-1700000300"
    spec["policy"] = {"numerical": {"order": "desc"}}
    assert choose(spec, tags) == "main-9f8e7d-1600000000"


def test_numerical_fails_on_a_value_that_is_not_a_number_as_flux_does() -> None:
    with pytest.raises(InvalidPolicyError, match=r"'latest' .* is not a number.*filterTags"):
        choose({"policy": {"numerical": {}}}, ["1", "2", "latest"])
    with pytest.raises(InvalidPolicyError, match="not a number"):
        choose({"policy": {"numerical": {}}}, ["1", "NaN"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1", 1.0), ("-2.5", -2.5), ("1_000", 1000.0), ("1.", 1.0), (".5", 0.5), ("1e3", 1000.0),
     ("0x1p3", 8.0), ("0X1.8P1", 3.0), ("+Inf", float("inf")), ("-infinity", float("-inf")),
     ("0x_1p0", 1.0), ("1e-400", 0.0)],
)  # fmt: skip
def test_go_float_syntax_is_accepted(text: str, expected: float) -> None:
    assert parse_go_float(text) == expected


@pytest.mark.parametrize("text", ["", " 1", "1 ", "0x10", "1_", "_1", "1__0", "1._5", "+nan",
                                  "1e", "1e400", "0x1p99999", "infin", "1,5", "\u0661"])  # fmt: skip
def test_go_float_syntax_errors_are_refused(text: str) -> None:
    assert parse_go_float(text) is None


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-(10**6), 10**6), min_size=1, max_size=30), st.booleans())
def test_numerical_choice_is_the_extreme_value(numbers: list[int], ascending: bool) -> None:
    tags = [str(n) for n in numbers]
    order = "asc" if ascending else "desc"
    chosen = choose({"policy": {"numerical": {"order": order}}}, tags)
    assert int(chosen) == (max(numbers) if ascending else min(numbers))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text("abcXYZ019.-_", min_size=1, max_size=8), min_size=1, max_size=30))
def test_alphabetical_choice_is_the_extreme_string(tags: list[str]) -> None:
    assert choose({"policy": {"alphabetical": {}}}, tags) == max(tags)
    assert choose({"policy": {"alphabetical": {"order": "desc"}}}, tags) == min(tags)


# --- Tag filters -----------------------------------------------------------------------------------


def alphabetical_with_filter(pattern: str, extract: str = "") -> dict[str, Any]:
    return {"filterTags": {"pattern": pattern, "extract": extract}, "policy": {"alphabetical": {}}}


def test_pattern_matches_anywhere_unless_anchored() -> None:
    assert choose(alphabetical_with_filter("rc"), ["1.0.0-rc.1", "zz", "2.0.0"]) == "1.0.0-rc.1"
    with pytest.raises(NoMatchingTagError, match=r"matches spec\.filterTags\.pattern '\^rc'"):
        choose(alphabetical_with_filter("^rc"), ["1.0.0-rc.1", "zz"])


def test_empty_pattern_keeps_every_tag() -> None:
    assert choose(alphabetical_with_filter(""), ["a", "c", "b"]) == "c"


@pytest.mark.parametrize(
    ("extract", "value"),
    [("$ts", "20"), ("${ts}", "20"), ("$1", "20"), ("$2$ts", "b20"), ("${2}z", "bz"), ("$$", "$"),
     ("v$ts.0", "v20.0"), ("$0", "x-20-b"), ("$letter-$ts", "b-20")],
)  # fmt: skip
def test_extract_templates_follow_go_expand(extract: str, value: str) -> None:
    policy = parse_policy(alphabetical_with_filter(r"^x-(?P<ts>[0-9]+)-(?P<letter>[ab])$", extract))
    assert policy.filter_tags is not None
    assert policy.filter_tags.value("x-20-b") == value


def test_tags_extracting_the_same_value_later_tag_stands_for_it() -> None:
    spec = {"filterTags": {"pattern": r"-(?P<n>[0-9]+)$", "extract": "$n"},
            "policy": {"numerical": {}}}  # fmt: skip
    assert choose(spec, ["a-5", "b-3", "c-5"]) == "c-5"


def test_extract_naming_a_missing_group_is_refused() -> None:
    with pytest.raises(InvalidPolicyError, match=r"spec\.filterTags\.extract '\$version'"):
        parse_policy(alphabetical_with_filter(r"^(?P<ts>[0-9]+)$", "$version"))
    with pytest.raises(InvalidPolicyError, match=r"write \$\{1\}x"):
        parse_policy(alphabetical_with_filter(r"^([0-9]+)$", "$1x"))
    with pytest.raises(InvalidPolicyError, match="names no group"):
        parse_policy(alphabetical_with_filter(r"^(?P<letter>[a-z])$", "$letter_"))
    with pytest.raises(InvalidPolicyError, match="names no group"):
        parse_policy(alphabetical_with_filter(r"^([0-9]+)$", "$2"))


def test_malformed_dollar_in_extract_stays_literal() -> None:
    spec = alphabetical_with_filter(r"^v(?P<n>[0-9])$", "${n$-")
    policy = parse_policy(spec)
    assert policy.filter_tags is not None
    assert policy.filter_tags.value("v7") == "${n$-"


def test_group_that_took_no_part_extracts_empty_text() -> None:
    policy = parse_policy(alphabetical_with_filter(r"^(a)?(?P<n>[0-9]+)$", "$1:$n"))
    assert policy.filter_tags is not None
    assert policy.filter_tags.value("42") == ":42"
    assert policy.filter_tags.value("a42") == "a:42"


@pytest.mark.parametrize(
    ("pattern", "matches", "rejects"),
    [
        (r"^1\.0$", "1.0", "1.0\n"),  # RE2's $ is the very end
        (r"^\d+$", "123", "\u0661\u0662"),  # \d is ASCII in RE2 (these are Arabic-Indic digits)
        (r"^\w+$", "a_1", "é"),
        (r"^\s$", " ", "\v"),
        (r"(?i)^prod-[a-f]+$", "PROD-AbC", "prod-g"),
        (r"^x(?i)y$", "xY", "XY"),  # flags apply from where they are set
        (r"^(?<name>[0-9]+)$", "12", "1a"),  # Go 1.22's named group syntax
        (r"^a{,2}$", "a{,2}", "aa"),  # not a repeat in RE2
        (r"\bv1\b", "app-v1", "app-v10"),
        (r"^[^a-z]+$", "ABC", "AbC"),
        (r"(?i)^[^a-z]+$", "123", "ABC"),
        (r"^(?s:.)$", "\n", "ab"),
        (r"^.$", "é", "\n"),
        (r"^\x41\.$", "A.", "AB"),
        (r"^[]a]+$", "]a]", "b"),
        (r"^a+?$", "aaa", "b"),
        (r"(?m)^b$", "a\nb", "ab"),
    ],
)
def test_patterns_keep_their_re2_meaning(pattern: str, matches: str, rejects: str) -> None:
    policy = parse_policy(alphabetical_with_filter(pattern))
    assert policy.filter_tags is not None
    assert policy.filter_tags.value(matches) == matches
    assert policy.filter_tags.value(rejects) is None


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (r"(?=a)", "lookaround"), (r"(?!a)b", "lookaround"), (r"(?<=a)b", "lookaround"),
        (r"(?<!a)b", "lookaround"), (r"(a)\1", "backreferences"), (r"(?P<x>a)(?P=x)", "lookaround"),
        (r"(?>a)", "atomic"), (r"a*+", "nested repetition"), (r"a**", "nested repetition"),
        (r"*a", "missing argument"), (r"a{2,1}", "invalid repeat count"),
        (r"a{1001}", "invalid repeat count"), (r"\pL", "Unicode classes"),
        (r"[[:alpha:]]", "POSIX"), (r"\Qa.b\E", "not supported"), (r"\x{41}", "only \\\\xHH"),
        (r"(", "missing closing \\)"), (r"a)", "unexpected '\\)'"), (r"[a", "missing closing \\]"),
        (r"[z-a]", "invalid character class range"), (r"\y", "invalid escape"),
        (r"a\\", ""), (r"\\", ""), ("\\", "trailing backslash"), (r"(?x)a", "unsupported group"),
        (r"(?P<1a>x)", "invalid group name"), (r"(?P<a>x)(?P<a>y)", "duplicate group name"),
        (r"^*", "nothing to repeat"), (r"\Z", "invalid escape"), (r"(?#c)", "unsupported group"),
    ],
)  # fmt: skip
def test_patterns_re2_lacks_or_python_would_read_differently_are_refused(
    pattern: str, message: str
) -> None:
    if pattern in (r"a\\", r"\\"):  # these are valid: an escaped backslash
        parse_policy(alphabetical_with_filter(pattern))
        return
    with pytest.raises(InvalidPolicyError, match=r"spec\.filterTags\.pattern") as error:
        parse_policy(alphabetical_with_filter(pattern))
    assert re.search(message, str(error.value)), str(error.value)


@pytest.mark.parametrize(
    "pattern",
    [r"(a+)*", r"(a*)*b", r"(?:a?)+", r"(a|ab)*c", r"(a|a)*", r"(x|)+", r"(?:\.[0-9]+)*$",
     r".*.*.*x", r"(?P<a>.*)-(?P<b>.*)x", r"^(.*)(.*)(.*)x", "^" + "a?" * 20 + "a" * 20],
)  # fmt: skip
def test_patterns_that_could_backtrack_catastrophically_are_refused(pattern: str) -> None:
    with pytest.raises(InvalidPolicyError, match=r"exponential time|too ambiguous"):
        parse_policy(alphabetical_with_filter(pattern))


@pytest.mark.parametrize(
    "pattern",
    [r"^main-[a-f0-9]+-(?P<ts>[0-9]+)", r"^RELEASE\.(?P<timestamp>.*)Z$", r".*-rc.*",
     r"^v?(?P<major>[0-9]+)\.([0-9]+)\.([0-9]+)(-rc\.([0-9]+))?$", r"^(main|release)-\w+$",
     r"^(?P<env>.*)-(?P<sha>.*)-(?P<ts>.*)$", r"(ab)*c", r"^(?:[a-z]|[0-9])+$", r"[0-9]{8}"],
)  # fmt: skip
def test_usual_flux_patterns_are_accepted(pattern: str) -> None:
    assert parse_policy(alphabetical_with_filter(pattern)).filter_tags is not None


@pytest.mark.parametrize(
    "pattern", [r"^(?P<env>.*)-(?P<sha>.*)-(?P<ts>.*)$", r".*-rc.*", r"^a?a?a?a?a?a?aaaaaa(x)?$"]
)
@pytest.mark.timeout(120)  # exponential backtracking would never finish: a hang guard
def test_accepted_patterns_stay_fast_on_hostile_tags(pattern: str) -> None:
    policy = parse_policy(alphabetical_with_filter(pattern))
    tags = [f"{i:03d}" + "-" * (MAX_TAG_LENGTH - 3) for i in range(300)]
    tags += [f"{i:03d}" + "a" * (MAX_TAG_LENGTH - 3) for i in range(300)]
    try:
        latest_tag(policy, tags)
    except NoMatchingTagError:
        pass


def test_overlong_pattern_and_extract_are_refused() -> None:
    with pytest.raises(InvalidPolicyError, match=r"pattern .*longer than"):
        parse_policy(alphabetical_with_filter("a" * 600))
    with pytest.raises(InvalidPolicyError, match=r"extract is 300 characters"):
        parse_policy(alphabetical_with_filter("(a)", "$1" * 150))


# --- Spec checks and input bounds ------------------------------------------------------------------


def test_parse_policy_returns_typed_choices_and_defaults() -> None:
    semver = parse_policy(semver_spec("^1"))
    assert isinstance(semver.policy, SemverPolicy) and semver.policy.range == "^1"
    assert semver.filter_tags is None
    assert semver.digest_reflection_policy == "Never" and semver.digest_interval_seconds is None
    assert parse_policy({"policy": {"alphabetical": None, "numerical": {}}}).policy == (
        NumericalPolicy("asc")
    )
    assert parse_policy({"policy": {"alphabetical": {"order": ""}}}).policy == AlphabeticalPolicy()


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ([], "spec must be a mapping"),
        ({}, "spec.policy is required"),
        ({"policy": {}}, "exactly one of semver, alphabetical or numerical .found none"),
        ({"policy": {"semver": {"range": "1"}, "numerical": {}}}, "found semver and numerical"),
        ({"policy": {"semVer": {"range": "1"}}}, "spec.policy has unknown field 'semVer'"),
        ({"policy": "semver"}, "spec.policy must be a mapping"),
        ({"policy": {"semver": "1.x"}}, "spec.policy.semver must be a mapping"),
        ({"policy": {"semver": {}}}, "spec.policy.semver.range is required"),
        ({"policy": {"semver": {"range": 1}}}, "spec.policy.semver.range must be a string"),
        (semver_spec(">= bar"), "spec.policy.semver.range '>= bar': improper constraint"),
        ({"policy": {"alphabetical": {"order": "ASC"}}}, "spec.policy.alphabetical.order must"),
        ({"policy": {"numerical": {"order": "up"}}}, "spec.policy.numerical.order must"),
        (semver_spec("1", filterTags="^v"), "spec.filterTags must be a mapping"),
        (semver_spec("1", filterTags={"pattern": 5}), "spec.filterTags.pattern must be a string"),
        (semver_spec("1", filterTags={"extract": ["$1"]}), "spec.filterTags.extract must be"),
        (semver_spec("1", digestReflectionPolicy="always"), "spec.digestReflectionPolicy must"),
        (semver_spec("1", interval="5m"), "spec.interval is only accepted when"),
        (semver_spec("1", digestReflectionPolicy="Always"), "spec.interval must be set"),
        (semver_spec("1", digestReflectionPolicy="Always", interval="5 min"), "not a duration"),
        (semver_spec("1", digestReflectionPolicy="Always", interval=300), "must be a string"),
    ],
)
def test_invalid_specs_are_refused_naming_the_field(spec: Any, field: str) -> None:
    with pytest.raises(InvalidPolicyError, match=field):
        parse_policy(spec)


@pytest.mark.parametrize(
    ("reflection", "interval", "seconds"),
    [("IfNotPresent", None, None), ("Never", None, None), ("Always", "10m", 600.0),
     ("Always", "1h30m", 5400.0), ("Always", "1.5s", 1.5), ("Always", "250ms", 0.25),
     ("Always", "0s", 600.0)],
)  # fmt: skip
def test_digest_reflection_policy_and_interval_are_parsed(
    reflection: str, interval: str | None, seconds: float | None
) -> None:
    spec = semver_spec("1", digestReflectionPolicy=reflection)
    if interval is not None:
        spec["interval"] = interval
    parsed = parse_policy(spec)
    assert parsed.digest_reflection_policy == reflection
    assert parsed.digest_interval_seconds == seconds


def test_no_tags_at_all_is_no_matching_tag_naming_the_image() -> None:
    with pytest.raises(NoMatchingTagError, match=r"ghcr\.io/acme/app has no tags"):
        latest_tag(parse_policy(semver_spec("*")), [], image="ghcr.io/acme/app")


def test_tags_longer_than_the_oci_limit_are_skipped() -> None:
    too_long = "9" * (MAX_TAG_LENGTH + 1)
    just_fits = "8" * MAX_TAG_LENGTH
    assert choose({"policy": {"alphabetical": {}}}, [too_long, "1", just_fits]) == just_fits
    with pytest.raises(NoMatchingTagError):
        choose({"policy": {"alphabetical": {}}}, [too_long])


def test_more_tags_than_the_limit_is_an_error_naming_the_image() -> None:
    tags = (str(i) for i in range(MAX_TAGS + 1))
    with pytest.raises(RegistryResponseError, match=f"more than {MAX_TAGS} tags") as error:
        latest_tag(parse_policy({"policy": {"numerical": {}}}), tags, image="reg/app")
    assert error.value.image == "reg/app"
    assert latest_tag(parse_policy({"policy": {"numerical": {}}}), map(str, range(MAX_TAGS))) == (
        str(MAX_TAGS - 1)
    )
