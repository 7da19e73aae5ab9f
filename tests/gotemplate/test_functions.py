"""Sprig and Go formatting, case by case (masterminds.github.io/sprig, pkg.go.dev/fmt)."""

from __future__ import annotations

from typing import Any

import pytest

from tether.gotemplate import TemplateError, parse
from tether.gotemplate.values import format_float

DATA: dict[str, Any] = {
    "s": "Hello World",
    "branch": "feature/JIRA-123_fix",
    "rev": "0123456789abcdef",
    "m": {"b": 2, "a": {"x": [1, "two", None, True, 1.5]}},
    "l": ["a", "b"],
    "n": 42,
    "date": "2024-02-29T13:45:06Z",
}


def render(text: str) -> str:
    return parse(text, "f").execute(DATA)


SPRIG_CASES = [
    # String functions
    ("{{ upper .s }}|{{ lower .s }}|{{ title \"hello world\" }}", "HELLO WORLD|hello world|Hello World"),
    ('{{ trim "   hello    " }}|{{ trimPrefix "-" "-hello" }}|{{ trimSuffix "-" "hello-" }}', "hello|hello|hello"),
    ('{{ trunc 5 "hello world" }}|{{ trunc -5 "hello world" }}|{{ trunc 50 "hi" }}', "hello|world|hi"),
    ('{{ "I Am Henry VIII" | replace " " "-" }}', "I-Am-Henry-VIII"),
    ('{{ contains "cat" "catch" }} {{ hasPrefix "cat" "catch" }} {{ hasSuffix "ch" "catch" }}', "true true true"),
    ('{{ quote "a" }} {{ squote "a" }} {{ quote "a\\"b" 1 }}', '"a" \'a\' "a\\"b" "1"'),
    ('{{ indent 2 "a\\nb" }}|{{ nindent 2 "a" }}', "  a\n  b|\n  a"),
    ('{{ cat "hello" "beautiful" "world" }}', "hello beautiful world"),
    # String lists
    ('{{ join "-" .l }} {{ splitList "$" "foo$bar$baz" }} {{ (split "$" "foo$bar").\u005f1 }}', "a-b [foo bar baz] bar"),
    ('{{ $a := split "/" .branch }}{{ $a._0 }}', "feature"),
    # Defaults
    ('{{ default "foo" .missing }} {{ default "foo" "" }} {{ default "foo" 0 }} {{ default "foo" "bar" }}', "foo foo foo bar"),
    ("{{ empty 0 }} {{ empty .l }} {{ empty (dict) }} {{ empty false }} {{ empty \"x\" }}", "true false true true false"),
    ('{{ coalesce 0 "" .missing "x" }} {{ coalesce 0 }}', "x <no value>"),
    ('{{ ternary "foo" "bar" true }} {{ true | ternary "foo" "bar" }} {{ false | ternary "foo" "bar" }}', "foo foo bar"),
    ("{{ toJson .m }}", '{"a":{"x":[1,"two",null,true,1.5]},"b":2}'),
    ("{{ toPrettyJson .l }}", '[\n  "a",\n  "b"\n]'),
    ('{{ toJson "<&>" }}', '"\\u003c\\u0026\\u003e"'),
    ("{{ toYaml .m }}", "a:\n  x:\n  - 1\n  - two\n  - null\n  - true\n  - 1.5\nb: 2"),
    ('{{ (fromYaml "a: 1\\nb: [x]").b }}', "[x]"),
    # Dictionaries and lists
    ('{{ $d := dict "name1" "value1" "name2" "value2" }}{{ get $d "name1" }} {{ get $d "nope" }}|{{ hasKey $d "name2" }}', "value1 |true"),
    ('{{ $d := dict "a" 1 }}{{ $_ := set $d "b" 2 }}{{ $d }} {{ keys $d }} {{ values $d }}', "map[a:1 b:2] [a b] [1 2]"),
    ('{{ merge (dict "a" 1 "n" (dict "x" 1)) (dict "a" 2 "b" 3 "n" (dict "y" 2)) }}', "map[a:1 b:3 n:map[x:1 y:2]]"),
    ("{{ list 1 \"a\" .n }}", "[1 a 42]"),
    ('{{ dig "a" "x" "none" .m }} {{ dig "a" "q" "none" .m }}', "[1 two <nil> true 1.5] none"),
    # Encoding and hashing
    ('{{ b64enc "Hello" }} {{ b64dec "SGVsbG8=" }}', "SGVsbG8= Hello"),
    ('{{ sha256sum "Hello world!" }}', "c0535e4be2b79ffd93291305436bf889314e4a3faec05ecffcbb7df31ad9e51a"),
    # Math and conversions
    ('{{ add 1 2 3 }} {{ sub 3 2 }} {{ mul 2 3 }} {{ div 10 3 }} {{ mod 10 3 }} {{ max 1 2 3 }} {{ min 3 1 2 }}', "6 1 6 3 1 3 1"),
    ('{{ int "0x1F" }} {{ int "abc" }} {{ int64 "12" }} {{ float64 "1.25" }} {{ toString 12 }} {{ int 2.9 }}', "31 0 12 1.25 12 2"),
    # URLs and regular expressions
    ('{{ $u := urlParse "proto://auth@host:80/path?query#fragment" }}{{ $u.scheme }} {{ $u.host }} {{ $u.hostname }} {{ $u.path }} {{ $u.query }} {{ $u.fragment }} {{ $u.userinfo }}',
     "proto host:80 host /path query fragment auth"),
    ('{{ regexMatch "^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\\\\.[A-Za-z]{2,}$" "test@acme.com" }}', "true"),
    ('{{ regexFind "[a-zA-Z][1-9]" "abcd1234" }}', "d1"),
    ('{{ regexReplaceAll "a(x*)b" "-ab-axxb-" "${1}W" }}', "-W-xxW-"),
    ('{{ regexReplaceAll "(?P<x>[0-9]+)" "a12b" "<$x>" }}', "a<12>b"),
    ('{{ regexMatch "x$" "x\\n" }} {{ regexMatch "(?m)x$" "x\\n" }}', "false true"),
    ('{{ regexMatch "(" "x" }}', "false"),
    # Dates
    ('{{ toDate "2006-01-02T15:04:05Z07:00" .date | date "Mon Jan 2 15:04:05 2006" }}', "Thu Feb 29 13:45:06 2024"),
    ('{{ toDate "2006-01-02T15:04:05Z07:00" .date | dateModify "1.5h" | date "2006-01-02 03:04 PM" }}', "2024-02-29 03:15 PM"),
    ('{{ unixEpoch (toDate "2006-01-02" "1970-01-02") }} {{ date "2006-01-02" 86400 }}', "86400 1970-01-02"),
    ('{{ toDate "2006-01-02 15:04:05 -0700" "2024-01-01 10:00:00 +0200" }}', "2024-01-01 10:00:00 +0200 +0200"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), SPRIG_CASES)
def test_sprig_functions(text: str, expected: str) -> None:
    assert render(text) == expected


def test_now_is_a_time() -> None:
    assert render('{{ now | date "2006" }}').isdigit()


def test_regex_find_with_a_bad_pattern_is_an_error() -> None:
    with pytest.raises(TemplateError, match="error calling regexFind: error parsing regexp"):
        render('{{ regexFind "(" "x" }}')


def test_typed_parameters_reject_other_types_as_go_does() -> None:
    with pytest.raises(TemplateError, match="wrong type for value; expected string; got int"):
        render("{{ upper .n }}")
    with pytest.raises(TemplateError, match='expected integer; found "5"'):
        render('{{ trunc "5" .s }}')
    with pytest.raises(TemplateError, match="invalid value; expected string"):
        render("{{ .missing | upper }}")


def test_div_by_zero_is_an_error() -> None:
    with pytest.raises(TemplateError, match="error calling div: runtime error: integer divide"):
        render("{{ div 1 0 }}")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (0.5, "0.5"),
        (100000.0, "100000"),
        (1000000.0, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (-2.5e-10, "-2.5e-10"),
        (1e21, "1e+21"),
        (3.14159, "3.14159"),
        (float("inf"), "+Inf"),
        (float("nan"), "NaN"),
        (-0.0, "-0"),
    ],
)
def test_floats_print_as_go_percent_v(value: float, text: str) -> None:
    # fmt: "%v for floating point is %g", strconv's shortest repr with %e for exp < -4 || >= 21
    # when the precision is the shortest (it uses 6 as the limit, as %g does).
    assert format_float(value) == text
