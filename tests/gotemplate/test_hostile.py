"""Hostile templates fail fast, with a message that says which bound they passed."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tether.gotemplate import (
    TemplateError,
    TemplateLimitError,
    TemplateLimits,
    TemplateOptions,
    parse,
)


@pytest.fixture(autouse=True)
def _fast() -> Iterator[None]:
    started = time.monotonic()
    yield
    assert time.monotonic() - started < 3.0


def run(text: str, data: object = None) -> str:
    return parse(text, "h").execute({} if data is None else data)


def test_deeply_nested_ifs_are_refused_at_parse() -> None:
    with pytest.raises(TemplateLimitError, match="nesting deeper than 100 levels"):
        parse("{{if 1}}" * 5000 + "{{end}}" * 5000)


def test_deeply_nested_parentheses_are_refused_at_parse() -> None:
    with pytest.raises(TemplateLimitError, match="nesting deeper than 100"):
        parse("{{" + "(" * 5000 + "1" + ")" * 5000 + "}}")


def test_a_huge_range_is_refused_before_it_starts() -> None:
    with pytest.raises(TemplateLimitError, match="more than 1000000 steps"):
        run("{{range 1000000000}}x{{end}}")


def test_nested_ranges_stop_at_the_step_bound() -> None:
    with pytest.raises(TemplateLimitError, match="more than 1000000 steps"):
        run("{{range 1000}}{{range 1000}}{{range 1000}}{{end}}{{end}}{{end}}")


def test_template_recursion_stops_at_the_depth_bound() -> None:
    with pytest.raises(TemplateLimitError, match=r"exceeded maximum template depth \(100\)"):
        run('{{define "a"}}{{template "a" .}}{{end}}{{template "a" .}}')


def test_ten_megabytes_of_output_are_refused() -> None:
    text = "{{range 100000}}" + "x" * 100 + "{{end}}"
    with pytest.raises(TemplateLimitError, match="output larger than 4194304 characters"):
        run(text)


def test_a_string_doubled_in_a_loop_is_stopped() -> None:
    text = '{{$x := "0123456789"}}{{range 40}}{{$x = printf "%s%s" $x $x}}{{end}}'
    with pytest.raises(TemplateLimitError, match="printf made a string longer than"):
        run(text)


def test_a_template_larger_than_the_bound_is_refused() -> None:
    with pytest.raises(TemplateLimitError, match="more than 1048576"):
        parse("x" * (2 << 20))


def test_bounds_are_options() -> None:
    options = TemplateOptions(limits=TemplateLimits(max_steps=50, max_output=10))
    with pytest.raises(TemplateLimitError, match="more than 50 steps"):
        parse("{{range 100}}{{end}}", options=options).execute({})
    with pytest.raises(TemplateLimitError, match="output larger than 10"):
        parse("{{range 5}}abc{{end}}", options=options).execute({})


def test_a_value_nested_by_the_template_is_refused_when_printed() -> None:
    text = '{{$d := dict}}{{range 5000}}{{$d = dict "a" $d}}{{end}}{{$d}}'
    with pytest.raises(TemplateLimitError, match="nested too deeply"):
        run(text)


def test_template_calls_inside_deep_actions_are_a_limit_error() -> None:
    text = '{{define "a"}}' + "{{if 1}}" * 90 + '{{template "a"}}' + "{{end}}" * 90 + "{{end}}"
    with pytest.raises(TemplateLimitError, match=r"nested too deeply|maximum template depth"):
        run(text + '{{template "a"}}')


def test_a_cyclic_value_is_refused_when_printed() -> None:
    with pytest.raises(TemplateLimitError):
        run('{{$d := dict}}{{$_ := set $d "self" $d}}{{$d}}')


@pytest.mark.parametrize(
    "pattern",
    ["(a+)+$", "(a*)*b", "(a|aa)+$", "(x+x+)+y", "(.*a){12}"],
)
def test_exponential_regular_expressions_are_refused(pattern: str) -> None:
    with pytest.raises(TemplateError, match="could backtrack exponentially"):
        run("{{regexFind .p .s}}", {"p": pattern, "s": "a" * 5000 + "!"})


def test_polynomial_regular_expressions_are_refused_on_long_input() -> None:
    with pytest.raises(TemplateError, match="could backtrack too long on 5000 characters"):
        run("{{regexFind .p .s}}", {"p": ".*.*.*=", "s": "a" * 5000})
    # the same pattern on a short text is fine
    assert run("{{regexFind .p .s}}", {"p": ".*.*.*=", "s": "ab=c"}) == "ab="


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("(a)\\1", "invalid escape sequence"),
        ("a(?=b)", "invalid or unsupported Perl syntax"),
        ("a(?<!b)", "invalid or unsupported Perl syntax"),
        ("a**", "invalid nested repetition operator"),
        ("a{1,5000}", "invalid repeat count"),
    ],
)
def test_syntax_re2_lacks_is_refused_as_go_refuses_it(pattern: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        run("{{regexFind .p .s}}", {"p": pattern, "s": "ab"})


def test_regex_input_is_bounded() -> None:
    with pytest.raises(TemplateError, match="at most 65536 characters"):
        run('{{regexFind "x" .s}}', {"s": "a" * 70000})


def test_huge_widths_and_indents_are_refused() -> None:
    with pytest.raises(TemplateError, match="width or precision"):
        run('{{printf "%999999999d" 1}}')
    with pytest.raises(TemplateError, match="indentation larger"):
        run('{{indent 100000000 "x"}}')


@pytest.mark.parametrize("name", ["env", "expandenv", "getHostByName", "call", "readFile"])
def test_functions_reaching_outside_are_refused_by_name(name: str) -> None:
    with pytest.raises(TemplateError, match=f'function "{name}" is refused'):
        parse("{{" + name + ' "x"}}')


@pytest.mark.parametrize("name", ["genPrivateKey", "randAlpha", "uuidv4", "seq", "semver"])
def test_other_sprig_functions_are_not_supported(name: str) -> None:
    with pytest.raises(TemplateError, match=f'function "{name}" is not supported'):
        parse("{{" + name + " 1}}")


def test_a_long_time_layout_is_refused_before_it_backtracks() -> None:
    # toDate turns its layout into a regular expression; a hostile layout is refused
    text = '{{ toDate .layout .text | date "2006" }}'
    data = {"layout": "1" * 60, "text": "2" * 99 + "x"}
    assert run(text, data) == "0001"  # Sprig's toDate gives the zero time on error


@pytest.mark.parametrize(
    "use", ["{{$l}}", "{{toJson $l}}", "{{toYaml $l}}", "{{print $l}}", '{{len (join "," $l)}}']
)
def test_a_value_doubled_by_sharing_is_refused(use: str) -> None:
    # 40 objects, each a list of the previous one twice: 2**40 parts when printed
    text = "{{$l := list 1}}{{range 40}}{{$l = list $l $l}}{{end}}" + use
    with pytest.raises(TemplateError, match="more than 250000 parts"):
        run(text)


def test_replace_that_would_explode_is_refused() -> None:
    text = '{{$s := "xxxxxxxxxx"}}{{range 6}}{{$s = replace "x" $s $s}}{{end}}{{len $s}}'
    with pytest.raises(TemplateError, match="longer than"):
        run(text)


def _doubled(times: int) -> str:
    return '{{$s := "0123456789"}}{{range ' + str(times) + '}}{{$s = printf "%s%s" $s $s}}{{end}}'


def test_many_copies_of_a_long_string_are_refused() -> None:
    text = _doubled(18) + "{{$l := list $s $s $s $s $s $s $s}}{{toJson $l}}"
    with pytest.raises(TemplateError, match="more than 16777216 characters"):
        run(text)


def test_splitting_into_millions_of_parts_is_refused() -> None:
    with pytest.raises(TemplateError, match="more than 250000 parts"):
        run(_doubled(18) + '{{len (splitList "" $s)}}')


def test_a_regex_replacement_that_explodes_is_refused() -> None:
    text = _doubled(12) + '{{len (regexReplaceAll "[0-9]" $s "' + "$0" * 450 + '")}}'
    with pytest.raises(TemplateError, match="longer than"):
        run(text)
