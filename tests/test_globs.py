"""The one glob matcher (tether.globs): gobwas/glob syntax, each caller's variant, bounded cost."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tether.globs
from tests.render.bounded import run_python, run_tether
from tether.controller.project import glob_match as project_glob_match
from tether.globs import (
    MAX_GLOB_LENGTH,
    Glob,
    GlobSyntax,
    InvalidGlobError,
    compile_glob,
    glob_match,
)
from tether.render import glob_match as render_glob_match
from tether.render.errors import RenderError

# ---- the syntax, by example ----------------------------------------------------------------------

PATHS = GlobSyntax(separators="/")


@pytest.mark.parametrize(
    ("pattern", "text", "syntax", "expected"),
    [
        ("*.yaml", "a/b.yaml", GlobSyntax(), True),  # no separator: * crosses '/'
        ("*.yaml", "a/b.yaml", PATHS, False),
        ("**.yaml", "a/b.yaml", PATHS, True),
        ("***", "a/b", PATHS, True),  # three stars are two
        ("a?c", "a/c", PATHS, False),
        ("a?c", "a/c", GlobSyntax(), True),
        ("a[/]c", "a/c", PATHS, True),  # a class may name a separator
        ("[]a]", "]", GlobSyntax(), True),  # ']' first in a class is a member
        ("[^a]", "a", GlobSyntax(), True),  # gobwas: "^" is a member
        ("[^a]", "a", GlobSyntax(class_negators="!^"), False),
        ("[a-]", "-", GlobSyntax(), True),
        ("{,x}y", "y", GlobSyntax(), True),  # an empty alternative
        ("{a,{b,c}d}", "cd", GlobSyntax(), True),
        ("a,b}", "a,b}", GlobSyntax(), True),  # outside braces ',' and '}' are characters
        ("a\\", "a\\", GlobSyntax(), True),  # a trailing backslash is itself
        ("", "", GlobSyntax(), True),
        ("", "a", GlobSyntax(), False),
    ],
)
def test_glob_syntax(pattern: str, text: str, syntax: GlobSyntax, expected: bool) -> None:
    assert glob_match(pattern, text, syntax) is expected


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("[ab", "unclosed '\\['"),
        ("[]", "unclosed '\\['"),
        ("[!]", "empty '\\[\\]'"),
        ("[!]a]", "empty '\\[\\]'"),  # only right after '[' is ']' a member
        ("{a,b", "unclosed '{'"),
        ("[z-a]", "range z-a is out of order"),
        ("*" * (MAX_GLOB_LENGTH + 1), f"longer than {MAX_GLOB_LENGTH} characters"),
    ],
)
def test_what_is_not_a_glob_is_refused_by_name(pattern: str, why: str) -> None:
    with pytest.raises(InvalidGlobError, match=why):
        compile_glob(pattern)


def test_each_caller_keeps_its_way_with_a_bad_glob() -> None:
    # an AppProject entry that is no glob matches nothing (Argo CD); a directory app fails
    assert project_glob_match("[ab", "a") is False
    with pytest.raises(RenderError, match="invalid glob '\\[ab': unclosed"):
        render_glob_match("[ab", "a")


def test_callers_differ_only_where_argo_cd_does() -> None:
    assert project_glob_match("[^a]x", "bx") and not render_glob_match("[^a]x", "bx")
    assert project_glob_match("*", "https://host/a/b", separators="/")  # a lone * allows all
    assert not project_glob_match("*/b", "https://host/a/b", separators="/")
    assert render_glob_match("*/b", "https://host/a/b")


def test_braces_nested_as_deep_as_a_pattern_allows() -> None:
    depth = MAX_GLOB_LENGTH // 2
    pattern = "{" * depth + "}" * depth
    assert glob_match(pattern, "") and not glob_match(pattern, "a")


# ---- the same answers as a regular expression written from the same parts -----------------------


@dataclass(frozen=True)
class Piece:
    """One part of a generated glob, as glob text and as the regular expression it means."""

    glob: str
    regex: str


LETTERS = "ab/.x"


def _pieces(syntax: GlobSyntax) -> st.SearchStrategy[Piece]:
    one = "." if not syntax.separators else f"[^{re.escape(syntax.separators)}]"
    letter = st.sampled_from(LETTERS).map(lambda c: Piece(c, re.escape(c)))
    escaped = st.sampled_from("*?[]{},\\!").map(lambda c: Piece("\\" + c, re.escape(c)))
    fixed = st.sampled_from(
        [Piece("?", one), Piece("*", one + "*"), Piece("**", ".*"), Piece("***", ".*")]
    )
    leaf = st.one_of(letter, escaped, fixed, _classes(syntax))
    return st.recursive(
        leaf,
        lambda inner: st.lists(st.lists(inner, max_size=3), min_size=1, max_size=3).map(
            lambda alternatives: Piece(
                "{" + ",".join("".join(p.glob for p in alt) for alt in alternatives) + "}",
                "(?:" + "|".join("".join(p.regex for p in alt) for alt in alternatives) + ")",
            )
        ),
        max_leaves=6,
    )


def _classes(syntax: GlobSyntax) -> st.SearchStrategy[Piece]:
    single = st.sampled_from(LETTERS).map(lambda c: (c, re.escape(c)))
    ranges = st.sampled_from(["a-b", "a-x", ".-a"]).map(
        lambda r: (r, f"{re.escape(r[0])}-{re.escape(r[2])}")
    )
    members = st.lists(st.one_of(single, ranges), min_size=1, max_size=3)

    def piece(first_bracket: bool, negator: str, parts: list[tuple[str, str]]) -> Piece:
        first_bracket = first_bracket and not negator  # '[!]' is an empty class
        glob = ("]" if first_bracket else "") + "".join(g for g, _ in parts)
        regex = ("\\]" if first_bracket else "") + "".join(r for _, r in parts)
        return Piece(f"[{negator}{glob}]", f"[{'^' if negator else ''}{regex}]")

    negators = st.sampled_from(["", *syntax.class_negators])
    return st.builds(piece, st.booleans(), negators, members)


SYNTAXES = [GlobSyntax(), GlobSyntax("/", "!^"), GlobSyntax("/.", "!")]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_matches_as_the_regular_expression_of_its_parts(data: st.DataObject) -> None:
    syntax = data.draw(st.sampled_from(SYNTAXES))
    pieces = data.draw(st.lists(_pieces(syntax), max_size=5))
    pattern = "".join(p.glob for p in pieces)
    regex = re.compile("".join(p.regex for p in pieces), re.DOTALL)
    texts = data.draw(
        st.lists(
            st.one_of(
                st.text(alphabet=LETTERS + "]-^!*", max_size=8),
                st.from_regex(regex, fullmatch=True).filter(lambda t: len(t) <= 40),
            ),
            min_size=1,
            max_size=6,
        )
    )
    glob = Glob(pattern, syntax)
    for text in texts:
        assert glob.matches(text) is (regex.fullmatch(text) is not None), (pattern, text)


def test_a_pattern_past_its_cache_budget_answers_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = [f"{a}/{b}.yaml" for a in ("x", "ab", "a.b", "b/a") for b in ("a", "xa", "b")]
    pattern = "{*a*,b/**}.yaml"
    unbounded = Glob(pattern, PATHS)
    monkeypatch.setattr(tether.globs, "STATE_BUDGET", 3)
    starved = Glob(pattern, PATHS)
    for _ in range(2):  # the second round finds what the first could keep
        assert [starved.matches(t) for t in texts] == [unbounded.matches(t) for t in texts]
    assert any(unbounded.matches(t) for t in texts) and not all(unbounded.matches(t) for t in texts)


# ---- hostile patterns: bounded time ---------------------------------------------------------------

HOSTILE = [
    # a regular expression backtracks over every way to share the a's among the stars: the first
    # took about a minute for 60 characters, the others years
    ("*a" * 8 + "b", "a" * 200),
    ("{a,a}" * 60 + "b", "a" * 60 + "c"),
    ("*a" * 511 + "b", "a" * 4096),
    ("*" + "?" * 1000 + "*", "x" * 4096),
]


def test_hostile_patterns_are_matched_in_linear_time() -> None:
    code = (
        "import sys, json\n"
        "from tether.globs import glob_match, GlobSyntax\n"
        "cases = json.loads(sys.stdin.read())\n"
        "print(json.dumps([glob_match(p, t) for p, t in cases]"
        " + [glob_match(p, t, GlobSyntax('/')) for p, t in cases]))\n"
    )
    # the watchdog only stops a regression from hanging the suite; the longest case here (a
    # pattern of 1,023 characters over 4,096) takes about half a second
    run = run_python(code, stdin=json.dumps(HOSTILE).encode(), timeout=60)
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    assert json.loads(run.stdout) == [False, False, False, True] * 2


def test_tether_render_with_a_hostile_include_finishes(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    for name in ("a" * 200, "a" * 10 + "b"):
        (app / f"{name}.yaml").write_text(
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{len(name)}\n"
        )
    include = "*a" * 10 + "b.yaml"
    run = run_tether(["render", str(app), "--include", include, "-o", "json"], timeout=60)
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    names = [obj["metadata"]["name"] for obj in json.loads(run.stdout)["items"]]
    assert names == ["cm-11"]


def test_tether_render_with_an_empty_class_prints_one_line(tmp_path: Path) -> None:
    # the regular expression '[]' escaped as a traceback
    app = tmp_path / "app"
    app.mkdir()
    (app / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n")
    run = run_tether(["render", str(app), "--include", "[]"], timeout=60)
    assert run.returncode == 1
    assert run.stderr.decode().splitlines() == ["Error: invalid glob '[]': unclosed '['"]
