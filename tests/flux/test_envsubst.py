"""Flux's envsubst fork on text: each syntax form, its Go quirks and error words, the bounds."""

from __future__ import annotations

import time

import pytest

from tether.flux.envsubst import SubstitutionError, SubstitutionLimits, expand

# ---- each syntax form -------------------------------------------------------------------------

VALUES = {
    "word": "kubeRNetes",
    "path": "/srv/www/site/index.html",
    "file": "release.tar.gz",
    "repo": "ghcr.io/org/app",
    "empty": "",
    "neg": "-4",
    "cafe": "café",
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("${word}", "kubeRNetes"),
        ("${#word}", "10"),
        ("${#cafe}", "5"),  # bytes, not characters
        ("${word^}", "KubeRNetes"),
        ("${word^^}", "KUBERNETES"),
        ("${word,}", "kubeRNetes"),
        ("${word,,}", "kubernetes"),
        ("${cafe^^}", "CAFÉ"),
        ("${path:5}", "www/site/index.html"),
        ("${path:5:3}", "www"),
        ("${path:${neg}}", "html"),
        ("${path: -4}", "/srv/www/site/index.html"),  # not a number: unchanged
        ("${path:100}", ""),
        ("${path:20:100}", "html"),
        ("${file#*.}", "tar.gz"),
        ("${file##*.}", "gz"),
        ("${file%.*}", "release.tar"),
        ("${file%%.*}", "release"),
        ("${repo##*/}", "app"),  # Flux's "*" also matches "/"
        ("${file#[a-r]*e}", "lease.tar.gz"),
        ("${file##[a-r]*e}", ".tar.gz"),
        ("${file#[}", "release.tar.gz"),  # a malformed pattern changes nothing
        ("${cafe%?}", "caf\ufffd"),  # Flux cuts the last byte, not the character
        ("${repo/o/0}", "ghcr.i0/org/app"),
        ("${repo//o/0}", "ghcr.i0/0rg/app"),
        ("${repo/#ghcr.io/quay.io}", "quay.io/org/app"),
        ("${repo/%app/web}", "ghcr.io/org/web"),
        ("${repo/#org/x}", "ghcr.io/org/app"),
        ("${repo/#ghcr/}", "ghcr.io/org/app"),  # prefix and suffix need a replacement
        ("${repo//\\//-}", "ghcr.io-org-app"),
        ("${repo//o/}", "ghcr.i/rg/app"),
        ("${unset:=fallback}", "fallback"),
        ("${unset=fallback}", "fallback"),
        ("${unset:-fallback}", "fallback"),
        ("${unset:-}", ""),
        ("${empty:=fallback}", "fallback"),
        ("${word:=fallback}", "kubeRNetes"),
        ("${word:+other}", "kubeRNetes"),  # Flux's fork: ":+" acts as ":-"
        ("${unset:+other}", "other"),
        ("${unset:?message}", "message"),
        ("${unset:=pre-${word,,}-post}", "pre-kubernetes-post"),
        ("${unset:=${also_unset:=deep}}", "deep"),
        ("$word and ${word}", "$word and kubeRNetes"),  # no braces, no substitution
        ("$${word}", "${word}"),
        ("$$word costs $5$$", "$word costs $5$"),
        ("a\\${word}", "a\\kubeRNetes"),
    ],
)
def test_expression(template: str, expected: str) -> None:
    assert expand(template, VALUES, strict=False) == expected


@pytest.mark.parametrize(
    ("template", "variables", "expected"),
    [
        ("${v^^}", {"v": "straße"}, "STRAßE"),  # Go maps one rune to one rune
        ("${v,,}", {"v": "İSTANBUL"}, "istanbul"),
        ("${v#[]a]}", {"v": "]a"}, "]a"),  # malformed patterns leave the value alone
        ("${v#[a-]}", {"v": "ab"}, "ab"),
        ("${v%\\}", {"v": "a\\"}, "a\\"),
        ("${v#\\*}", {"v": "*a"}, "a"),
        ("${v#[^a-c]}", {"v": "dab"}, "ab"),
        ("${v#$%:*{}", {"v": "$%:x{y"}, "y"),  # "$", "%", ":" and "{" are plain in a pattern
        ("${v/$$/x}", {"v": "a$b"}, "axb"),  # "$$" and "\\/" are escapes in a replacement
        ("${v/a/\\/\\\\}", {"v": "a"}, "/\\"),
        ("${v//}", {"v": "ab"}, "bad"),
    ],
)
def test_go_quirks(template: str, variables: dict[str, str], expected: str) -> None:
    if expected == "bad":
        with pytest.raises(SubstitutionError):
            expand(template, variables)
    else:
        assert expand(template, variables) == expected


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("${word-x}", "missing closing brace"),  # bash forms the fork does not read
        ("${word+x}", "missing closing brace"),
        ("${word", "missing closing brace"),
        ("${}", "unable to parse variable name"),
        ("${word:=x", "unable to parse substitution within function"),
        ("${word:}", "unable to parse substitution within function"),
        ("${word^^^}", "bad substitution"),
        ("${word/x}", "bad substitution"),
        ("${#}", "bad substitution"),
        ("${word#a${word}}", "bad substitution"),
        ("${word:0:-1}", "negative substring length"),
        ("${word///x}", "unable to parse substitution within function"),
    ],
)
def test_syntax_errors_use_fluxs_words(template: str, problem: str) -> None:
    with pytest.raises(SubstitutionError) as caught:
        expand(template, VALUES, strict=False)
    assert str(caught.value) == f"envsubst error: variable substitution failed: {problem}"


@pytest.mark.parametrize(
    "template", ["${unset}", "${unset^^}", "${#unset}", "${unset:1}", "${unset/a/b}"]
)
def test_strict_mode_refuses_an_unset_variable_without_a_default(template: str) -> None:
    with pytest.raises(SubstitutionError, match='variable not set \\(strict mode\\): "unset"'):
        expand(template, VALUES)
    assert expand(template, VALUES, strict=False) in ("", "0")


def test_strict_mode_evaluates_an_unused_default_too() -> None:
    with pytest.raises(SubstitutionError) as caught:
        expand("${word:=${unset}}", VALUES)
    assert caught.value.variable == "unset"


def test_parse_errors_come_before_unset_variables() -> None:
    with pytest.raises(SubstitutionError, match="missing closing brace"):
        expand("${unset} ${word", VALUES)


# ---- bounds -----------------------------------------------------------------------------------


def test_nesting_depth_is_bounded() -> None:
    deep = "${a:=" * 2000 + "x" + "}" * 2000
    with pytest.raises(SubstitutionError, match="nested deeper than 16 levels"):
        expand(deep, {})


def test_expansion_blow_up_is_bounded() -> None:
    limits = SubstitutionLimits(max_object_bytes=1 << 20, max_work_bytes=4 << 20)
    big = {"v": "a" * 2000}
    with pytest.raises(SubstitutionError, match="substitution size limit"):
        expand("${v//a/${v}}", big, limits=limits)
    with pytest.raises(SubstitutionError, match="size limit"):  # unused defaults count too
        expand("${v:=${v//a/${v}}}" * 100, big, limits=limits)


def test_hostile_patterns_are_bounded_in_time() -> None:
    started = time.monotonic()
    # many stars cost one pass over the value (an NFA, no backtracking)
    assert expand("${v##*a*a*a*a*a*b}", {"v": "a" * 20_000}) == "a" * 20_000
    assert expand("${v%%a*a*a*a*a*}", {"v": "ba" * 10_000}) == "b"
    # "?" on multi-byte text needs a pass per cut character: bounded by the step limit
    with pytest.raises(SubstitutionError, match="work limit"):
        expand("${v#*?x}", {"v": "é" * 1500}, limits=SubstitutionLimits(max_match_steps=200_000))
    assert time.monotonic() - started < 10
