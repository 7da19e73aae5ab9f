"""Sprig's list functions and the rest of its pure string and math functions, case by case as
Sprig's Go code answers them (masterminds.github.io/sprig)."""

from __future__ import annotations

from typing import Any

import pytest

from tether.gotemplate import TemplateError, parse

DATA: dict[str, Any] = {"l": ["a", "b"], "n": 42}


def render(text: str) -> str:
    return parse(text, "f").execute(DATA)


CASES = [
    # lists
    ("{{ first .l }} {{ last .l }} {{ rest (list 1 2 3) }} {{ initial (list 1 2 3) }}", "a b [2 3] [1 2]"),
    ("{{ first (list) }} {{ rest (list) }} {{ initial (list) }}", "<no value> [] []"),
    ('{{ uniq (list 1 1 2 "a" "a") }} {{ uniq (list 1 true "1" (list 1) (list 1)) }}', "[1 2 a] [1 true 1 [1]]"),
    ("{{ uniq (until 200000) | len }}", "200000"),  # keyed, not compared pairwise
    ('{{ compact (list 1 "" .missing "a" 0 false) }}', "[1 a]"),
    ("{{ without (list 1 2 3 4) 1 3 }} {{ without .l }}", "[2 4] [a b]"),
    ('{{ has 4 (list 1 2 3 4) }} {{ has "x" .l }} {{ has true (list 1) }} {{ has 1 .missing }}', "true false false false"),
    ('{{ append .l "c" }} {{ push .l "d" }} {{ prepend .l "z" }} {{ concat (list 1) (list 2 3) .l }}', "[a b c] [a b d] [z a b] [1 2 3 a b]"),
    ("{{ .l }}", "[a b]"),  # append and friends make new lists
    ("{{ slice (list 1 2 3 4 5) 1 3 }} {{ slice (list 1 2 3) 1 }} {{ slice (list 1 2) }}", "[2 3] [2 3] [1 2]"),
    ("{{ chunk 2 (list 1 2 3) }} {{ reverse (list 1 2 3) }}", "[[1 2] [3]] [3 2 1]"),
    ('{{ sortAlpha (list "c" "a" "B") }} {{ sortAlpha "x" }} {{ toStrings (list 1 2.5 true) }}', "[B a c] [x] [1 2.5 true]"),
    ("{{ mustFirst .l }} {{ mustReverse .l }} {{ mustSlice (list 1 2 3) 1 2 }}", "a [b a] [2]"),
    # strings
    ('{{ substr 0 5 "hello world" }}|{{ substr -1 5 "hello" }}|{{ substr 6 99 "hello world" }}', "hello|hello|world"),
    ('{{ nospace "hello w o r l d" }}|{{ repeat 3 "ab" }}|{{ trimAll "$" "$5.00$" }}', "helloworld|ababab|5.00"),
    ('{{ plural "one anchovy" "many anchovies" 2 }}, {{ plural "one anchovy" "many anchovies" 1 }}', "many anchovies, one anchovy"),
    ('{{ $p := splitn "$" 2 "foo$bar$baz" }}{{ $p._0 }}|{{ $p._1 }}|{{ len (splitn "$" -1 "a$b$c") }}', "foo|bar$baz|3"),
    ('{{ abbrev 5 "hello world" }}|{{ abbrev 20 "hello" }}|{{ swapcase "This Is A.Test" }}', "he...|hello|tHIS iS a.tEST"),
    ('{{ sha1sum "Hello world!" }} {{ adler32sum "Hello world!" }}', "d3486ae9136e7856bc42212385ea797094475802 487130206"),
    ('{{ b32enc "string" }} {{ b32dec "ON2HE2LOM4======" }}', "ON2HE2LOM4====== string"),
    # numbers
    ('{{ atoi "42" }} {{ atoi "x" }} {{ add1 3 }} {{ add1 .n }}', "42 0 4 43"),
    ("{{ ceil 123.001 }} {{ floor 123.9999 }} {{ round 123.555555 3 }} {{ round 123.5 0 }} {{ round 1.24 1 0.4 }}", "124 123 123.556 124 1.3"),
    ("{{ until 3 }} {{ untilStep 3 6 2 }} {{ until -2 }} {{ untilStep 5 1 1 }}", "[0 1 2] [3 5] [0 -1] []"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_sprig_functions(text: str, expected: str) -> None:
    assert render(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{{ first "abc" }}', "Cannot find first on type string"),
        ('{{ mustLast "abc" }}', "Cannot find last on type string"),
        ("{{ concat (list 1) 2 }}", "Cannot concat type"),
        ("{{ mustSlice (list 1 2) 0 5 }}", "slice index out of range"),
        ('{{ mustSlice "ab" 0 1 }}', "list should be type of slice or array but string"),
        ("{{ chunk 0 (list 1) }}", "chunk size must be positive"),
        ('{{ substr 9 2 "abc" }}', "slice bounds out of range"),
        ('{{ repeat 100000000 "ab" }}', "more than"),
        ('{{ repeat -1 "ab" }}', "negative Repeat count"),
        ("{{ until 10000000 }}", "more than"),
        ("{{ chunk 1 (until 200000) }}", "more than"),
    ],
)
def test_what_sprig_refuses_is_an_error_and_results_are_bounded(text: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        render(text)
