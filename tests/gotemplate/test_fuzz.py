"""Whatever the text, parsing and executing end quickly in a result or a TemplateError."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tether.gotemplate import TemplateError, parse

PIECES = [
    "{{", "}}", "{{-", "-}}", " ", "\n", ".", ".a", ".b.c", "$", "$x", ":=", "=", "|", "(", ")",
    '"s"', "`r`", "'c'", "1", "-2", "3.5", "0x1F", "1e9", "true", "nil", ",", "if", "else",
    "end", "range", "with", "define", "template", "block", "break", "continue", '"t"', "/*",
    "*/", "eq", "and", "or", "not", "len", "index", "printf", "%v", "upper", "default",
    "toYaml", "nindent", "regexMatch", "list", "dict", "x", "\\",
]  # fmt: skip

template_text = st.lists(st.sampled_from(PIECES) | st.text(max_size=3), max_size=40).map("".join)
DATA = {"a": {"b": 1}, "b": {"c": [1, "x", None]}, "list": [1, 2, 3], "s": "str"}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(template_text)
def test_parse_and_execute_raise_nothing_but_template_error(text: str) -> None:
    started = time.monotonic()
    try:
        template = parse(text, "fuzz")
        template.execute(DATA)
    except TemplateError as exc:
        assert str(exc).startswith("template: fuzz")
    assert time.monotonic() - started < 1.0


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_parses_or_fails_cleanly(text: str) -> None:
    try:
        parse(text, "fuzz")
    except TemplateError as exc:
        assert exc.line >= 0
