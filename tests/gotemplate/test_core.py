"""Go's text/template semantics, case by case.

Expected outputs follow pkg.go.dev/text/template (sections cited per case) and Go's
exec_test.go behaviour for map[string]interface{} data.
"""

from __future__ import annotations

from typing import Any

import pytest

from tether.gotemplate import TemplateError, TemplateOptions, parse

DATA: dict[str, Any] = {
    "name": "guestbook",
    "n": 3,
    "zero": 0,
    "f": 1000000.0,
    "half": 0.5,
    "empty": "",
    "none": None,
    "t": True,
    "list": ["a", "b", "c"],
    "nums": [1, 2, 3],
    "map": {"b": 2, "a": 1},
    "nested": {"x": {"y": "deep"}},
    "items": [{"k": "one"}, {"k": "two"}],
}


def render(text: str, data: Any = None, **options: Any) -> str:
    return parse(text, "t", options=TemplateOptions(**options)).execute(
        DATA if data is None else data
    )


CASES = [
    # "{{pipeline}} The default textual representation (the same as would be printed by
    # fmt.Print) of the value of the pipeline is copied to the output."
    ("{{.name}}", "guestbook"),
    ("{{.n}}", "3"),
    ("{{.f}}", "1e+06"),
    ("{{.half}}", "0.5"),
    ("{{.t}}", "true"),
    ("{{.list}}", "[a b c]"),
    ("{{.map}}", "map[a:1 b:2]"),
    ("{{.nested}}", "map[x:map[y:deep]]"),
    ("{{.nested.x.y}}", "deep"),
    ("{{.none}}", "<no value>"),
    ("{{.missing}}", "<no value>"),
    ("{{.missing.deeper}}", "<no value>"),
    ("{{print nil}}", "<nil>"),
    ("{{print .none}}", "<nil>"),
    ("{{1.5}} {{1e3}} {{0x1F}} {{'a'}} {{-7}} {{1_000}}", "1.5 1000 31 97 -7 1000"),
    ('{{"a\\tb"}}|{{`raw\\n`}}', "a\tb|raw\\n"),
    # "Text and spaces": trim markers remove all trailing/leading white space.
    ("a  {{- .n -}}  b", "a3b"),
    ("a {{- /* comment */ -}} b", "ab"),
    # "{{-3}}" parses as an action containing the number -3
    ("a {{-3}}", "a -3"),
    ('{{ "a" }}{{/* multi\nline */}}{{ "b" }}', "ab"),
    ("{{/* a comment */}}x", "x"),
    ("{{23 -}} < {{- 45}}", "23<45"),
    # "The empty values are false, 0, any nil pointer or interface value, and any array,
    # slice, map, or string of length zero."
    ("{{if .zero}}y{{else}}n{{end}}", "n"),
    ("{{if .empty}}y{{else}}n{{end}}", "n"),
    ("{{if .none}}y{{else}}n{{end}}", "n"),
    ("{{if .missing}}y{{else}}n{{end}}", "n"),
    ("{{if .list}}y{{else}}n{{end}}", "y"),
    ("{{if .zero}}a{{else if .n}}b{{else}}c{{end}}", "b"),
    ("{{with .nested.x}}{{.y}}{{end}}", "deep"),
    ("{{with .missing}}y{{else}}n{{end}}", "n"),
    ("{{with .missing}}a{{else with .name}}{{.}}{{end}}", "guestbook"),
    # range: "If the value is a map and the keys are of basic type with a defined order, the
    # elements will be visited in sorted key order."
    ("{{range .list}}{{.}}{{end}}", "abc"),
    ("{{range $i, $v := .list}}{{$i}}{{$v}}{{end}}", "0a1b2c"),
    ("{{range $v := .list}}{{$v}}{{end}}", "abc"),
    ("{{range $k, $v := .map}}{{$k}}={{$v}};{{end}}", "a=1;b=2;"),
    ("{{range .missing}}x{{else}}none{{end}}", "none"),
    ("{{range .items}}{{.k}} {{end}}", "one two "),
    ('{{range .list}}{{if eq . "b"}}{{break}}{{end}}{{.}}{{end}}', "a"),
    ('{{range .list}}{{if eq . "b"}}{{continue}}{{end}}{{.}}{{end}}', "ac"),
    ("{{range 3}}{{.}}{{end}}", "012"),
    # Variables: "A variable's scope extends to the "end" action of the control structure".
    ("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}", "2"),
    ("{{$x := .name}}{{range .list}}{{$x}}{{end}}", "guestbookguestbookguestbook"),
    ("{{with .nested}}{{$.name}}{{end}}", "guestbook"),
    # Pipelines: "the result of the previous command is passed as the last argument".
    ('{{"x" | printf "%s-%s" "a"}}', "a-x"),
    ("{{.n | print}}", "3"),
    ("{{(index .items 1).k}}", "two"),
    # Functions: and/or "Returns the first empty argument or the last argument".
    ('{{and 1 0 2}} {{and 1 2}} {{or 0 "" 3}} {{or 0 ""}}', "0 2 3 "),
    ("{{and .zero .missing.x}}", "0"),
    ("{{not .zero}} {{not .name}}", "true false"),
    ("{{len .list}} {{len .map}} {{len .name}}", "3 2 9"),
    ('{{index .map "a"}} {{index .list 1}} {{index .nested "x" "y"}}', "1 b deep"),
    ('{{index .map "zz"}}', "<no value>"),
    ('{{slice .list 1}} {{slice .list 1 2}} {{slice "hello" 1 3}}', "[b c] [b] el"),
    ('{{print "a" 1 2 "b"}}|{{println 1 "x"}}', "a1 2b|1 x\n"),
    (
        '{{printf "%d %5s|%-5s|%q %t %x %v %.2f %03d %%" 7 "ab" "cd" "q" true 255 .map 3.14159 5}}',
        '7    ab|cd   |"q" true ff map[a:1 b:2] 3.14 005 %',
    ),
    (
        '{{printf "%d" "x"}} {{printf "%s"}} {{printf "a" 1}}',
        "%!d(string=x) %!s(MISSING) a%!(EXTRA int=1)",
    ),
    # fmt: "For compound objects, the elements are printed using these rules, recursively"
    (
        '{{printf "%s|%d|%x" .nums .nums .map}}',
        "[%!s(int=1) %!s(int=2) %!s(int=3)]|[1 2 3]|map[61:1 62:2]",
    ),
    ('{{printf "%s" nil}}', "%!s(<nil>)"),
    ('{{html "<a href=\\"x\\">&\'"}}', "&lt;a href=&#34;x&#34;&gt;&amp;&#39;"),
    ('{{js "it\'s <b>"}}', "it\\'s \\u003Cb\\u003E"),
    ('{{urlquery "a b&c=d/é"}}', "a+b%26c%3Dd%2F%C3%A9"),
    # Comparison: "eq: Returns the boolean truth of arg1 == arg2 || arg1 == arg3 ..."
    (
        '{{eq .name "guestbook"}} {{eq 1 2 3 1}} {{ne 1 2}} {{eq .missing "x"}}',
        "true true true false",
    ),
    ('{{lt 1 2}} {{le 2 2}} {{gt "b" "a"}} {{ge 1.5 2.5}}', "true true true false"),
    ("{{eq .none nil}}", "true"),
    # define/template/block: "{{template "name" pipeline}} ... with dot set to the value".
    ('{{define "T"}}[{{.}}]{{end}}{{template "T" .n}}{{template "T"}}', "[3][<no value>]"),
    ('{{block "B" .name}}<{{.}}>{{end}}', "<guestbook>"),
    ('{{define "T"}}{{$}}{{end}}{{template "T" "root"}}', "root"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_renders_like_go(text: str, expected: str) -> None:
    assert render(text) == expected


def test_missingkey_zero_prints_no_value_for_interface_maps() -> None:
    # missingkey=zero on map[string]interface{}: the zero value is a nil interface,
    # which prints as <no value> (golang/go#24963).
    assert render("{{.missing}}", missing_key="zero") == "<no value>"


def test_missingkey_zero_then_field_is_a_nil_pointer_error() -> None:
    with pytest.raises(TemplateError, match=r"nil pointer evaluating interface \{\}.y"):
        render("{{.missing.y}}", missing_key="zero")


def test_missingkey_error_names_the_key() -> None:
    with pytest.raises(TemplateError) as info:
        render("line\n  {{.nested.nope}}", missing_key="error")
    assert str(info.value) == (
        'template: t:2:4: executing "t" at <.nested.nope>: map has no entry for key "nope"'
    )
    assert (info.value.line, info.value.column) == (2, 4)


PARSE_ERRORS = [
    ("{{end}}", "template: t:1: unexpected {{end}}"),
    ("{{else}}", "template: t:1: unexpected {{else}}"),
    ("{{if .x}}", "template: t:1: unexpected EOF"),
    ("{{.x", "template: t:1: unclosed action"),
    ('{{"abc}}', "template: t:1: unterminated quoted string"),
    ("{{/* x }}", "template: t:1: unclosed comment"),
    ("{{/* x */ .x}}", "template: t:1: comment ends before closing delimiter"),
    ("{{(.x}}", "template: t:1: unclosed left paren"),
    ("{{.x)}}", "template: t:1: unexpected right paren"),
    ("{{$y}}", 'template: t:1: undefined variable "$y"'),
    ("{{nope 1}}", 'template: t:1: function "nope" not defined'),
    ("{{.a | 1}}", "template: t:1: non executable command in pipeline stage 2"),
    ("{{break}}", "template: t:1: {{break}} outside {{range}}"),
    ("{{if}}{{end}}", "template: t:1: missing value for if"),
    ("{{if .a}}{{else}}{{else}}{{end}}", "template: t:1: expected end; found {{else}}"),
    ("{{$a, $b := .x}}", "template: t:1: too many declarations in command"),
    (
        '{{define "a"}}x{{end}}{{define "a"}}y{{end}}',
        'template: t:1: template: multiple definition of template "a"',
    ),
    ("\n\n{{.a b}}", 'template: t:3: function "b" not defined'),
    ("{{3x}}", 'template: t:1: bad number syntax: "3x"'),
    ("{{1.2.3}}", 'template: t:1: bad number syntax: "1.2.3"'),
    (
        '{{env "HOME"}}',
        'template: t:1: function "env" is refused: it reads the controller\'s environment',
    ),
    ("{{call .f}}", 'template: t:1: function "call" is refused: it calls a function value'),
]


@pytest.mark.parametrize(("text", "message"), PARSE_ERRORS)
def test_parse_errors_read_like_go(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        parse(text, "t")
    assert str(info.value) == message


EXEC_ERRORS = [
    (
        '{{eq 1 "a"}}',
        'executing "t" at <eq 1 "a">: error calling eq: incompatible types for comparison',
    ),
    ("{{lt .map 1}}", "error calling lt: invalid type for comparison"),
    ("{{lt true false}}", "error calling lt: invalid type for comparison"),
    ("{{eq .map .map}}", "non-comparable type"),
    ("{{.name.x}}", "can't evaluate field x in type interface {}"),
    ("{{.none.x}}", "nil pointer evaluating interface {}.x"),
    ("{{.map 1}}", "map is not a method but has arguments"),
    ('{{"a" 1}}', 'can\'t give argument to non-function "a"'),
    ("{{nil}}", "nil is not a command"),
    ("{{index .list 5}}", "error calling index: index out of range: 5"),
    ("{{index .none 1}}", "error calling index: index of untyped nil"),
    ("{{len 3}}", "error calling len: len of type int"),
    ("{{range .name}}{{end}}", "range can't iterate over guestbook"),
    ('{{template "nope"}}', 'executing "t" at <{{template "nope"}}>: template "nope" not defined'),
    ("{{range $i, $v := 3}}{{end}}", "can't use 3 to iterate over more than one variable"),
    ("{{eq}}", "wrong number of args for eq: want at least 1 got 0"),
    ("{{not 1 2}}", "wrong number of args for not: want 1 got 2"),
    ("{{printf 1}}", "expected string; found 1"),
    ("{{printf .missing}}", "invalid value; expected string"),
    ("{{printf .n}}", "wrong type for value; expected string; got int"),
]


@pytest.mark.parametrize(("text", "message"), EXEC_ERRORS)
def test_execution_errors_read_like_go(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        render(text)
    assert message in str(info.value)
    assert str(info.value).startswith("template: t:1:")


def test_a_parsed_template_is_reusable_and_frozen() -> None:
    template = parse("{{.name}}")
    assert template.execute({"name": "a"}) == "a"
    assert template.execute({"name": "b"}) == "b"
    with pytest.raises(AttributeError):
        template.name = "other"  # type: ignore[misc]


def test_functions_option_restricts_the_table() -> None:
    options = TemplateOptions(functions=frozenset({"eq"}))
    assert parse("{{eq 1 1}}", options=options).execute({}) == "true"
    with pytest.raises(TemplateError, match='function "len" is not supported'):
        parse("{{len .x}}", options=options)
