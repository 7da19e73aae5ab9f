"""Quoted strings read as gopher-lua (Argo CD's Lua) reads them, on LuaJIT: a backslash before a
character without an escape is that character, ``\\x``/``\\z``/``\\u`` are no escapes, a decimal
escape keeps its low byte; comments, long strings and line numbers stay as written."""

from __future__ import annotations

import textwrap

from hypothesis import given, settings
from hypothesis import strategies as st
from lupa import luajit21

from tests.engine.health.helpers import lua_check
from tether.engine.health import HEALTHY, UNKNOWN, HealthStatus
from tether.engine.health.dialect import gopher_strings

WIDGET = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}}


def test_escapes_luajit_alone_refuses_or_reads_otherwise_mean_what_gopher_lua_reads() -> None:
    script = r"""return {status = "Healthy", message = "a\.b|" .. '\x41|\z|\u{48}|\300|\/|\q'}"""
    assert lua_check(script, WIDGET) == HealthStatus(HEALTHY, "a.b|x41|z|u{48}|,|/|q")


def test_a_pattern_written_with_a_backslash_matches_as_in_argo_cd() -> None:
    # gopher-lua reads "\." as ".", so this pattern's dot matches any character.
    script = r"""
    local major, minor = string.match(obj.metadata.name, "v(%d+)\.(%d+)")
    return {status = "Healthy", message = major .. "/" .. minor}
    """
    release = {**WIDGET, "metadata": {"name": "release-v3.14"}}
    assert lua_check(script, release) == HealthStatus(HEALTHY, "3/14")


def test_ordinary_escapes_comments_and_long_strings_are_unchanged() -> None:
    script = textwrap.dedent(
        r"""
        -- a comment with "\." and '\q' in it
        --[==[ a long comment: "\x41" ]==]
        local long = [[\.\x41]]
        local level = [=[ "\q" ]] ]=]
        local plain = "tab\there \"quoted\" \65\066\\"
        return {status = "Healthy", message = long .. "|" .. level .. "|" .. plain}
        """
    )
    assert lua_check(script, WIDGET) == HealthStatus(
        HEALTHY, '\\.\\x41| "\\q" ]] |tab\there "quoted" AB\\'
    )


def test_error_lines_stay_those_of_the_script_after_continued_strings() -> None:
    script = 'local a = "one\\\ntwo\\.\\\nthree"\nlocal b = "\\q"\nreturn obj.spec.replicas'
    assert lua_check(script, WIDGET) == HealthStatus(
        UNKNOWN, "example.com/Widget:5: attempt to index field 'spec' (a nil value)"
    )


def test_source_without_backslash_is_returned_as_is() -> None:
    source = 'return {status = "Healthy"} -- no escapes'
    assert gopher_strings(source) is source


_GOPHER_ESCAPES = {
    "a": 7,
    "b": 8,
    "f": 12,
    "n": 10,
    "r": 13,
    "t": 9,
    "v": 11,
    "\\": 92,
    '"': 34,
    "'": 39,
}


def gopher_read(content: str) -> bytes:
    """The bytes gopher-lua's lexer reads from a quoted string's content (its scanEscape)."""
    out = bytearray()
    pos = 0
    while pos < len(content):
        char = content[pos]
        if char != "\\":
            out += char.encode()
            pos += 1
            continue
        char = content[pos + 1]
        if char in "\r\n":
            # gopher-lua's scanner turns a line end (CRLF and LFCR included) into one "\n".
            out.append(10)
            pos += 3 if content[pos + 1 : pos + 3] in ("\r\n", "\n\r") else 2
        elif char in _GOPHER_ESCAPES:
            out.append(_GOPHER_ESCAPES[char])
            pos += 2
        elif char.isdigit():
            end = pos + 2
            while end < min(pos + 4, len(content)) and content[end].isdigit():
                end += 1
            out.append(int(content[pos + 1 : end]) & 0xFF)
            pos = end
        else:
            # gopher-lua keeps only the low byte of a non-ASCII character here; the rewrite
            # keeps the whole character, and so does this model (no script writes that).
            out += char.encode()
            pos += 2
    return bytes(out)


# Pieces of string content: plain characters (comment and long-string marks among them),
# escapes both lexers share, escapes only LuaJIT knows, unknown ones, decimal escapes of every
# size, and line continuations.
_PIECES = st.sampled_from(
    [
        *("a", "x", "z", "u", "{", "4", "1", "9", "0", ".", " ", "'", "é", "--", "[[", "]]"),
        *("\\n", "\\t", "\\\\", '\\"', "\\'", "\\\n", "\\\r\n"),
        *("\\x", "\\z", "\\u", "\\.", "\\q", "\\/", "\\-", "\\é"),
        *("\\1", "\\65", "\\255", "\\256", "\\999", "\\0"),
    ]
)
_RUNTIME = luajit21.LuaRuntime(encoding=None)
_READ = _RUNTIME.eval(
    'function(s) local f, e = loadstring(s, "=s") if not f then error(e) end return f() end'
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECES, max_size=12))
def test_luajit_reads_each_rewritten_string_as_gopher_lua_reads_it(pieces: list[str]) -> None:
    content = "".join(pieces)
    source = f'return "{content}" -- "\\." stays\n'
    rewritten = gopher_strings(source)
    assert _READ(rewritten.encode()) == gopher_read(content)
    assert rewritten.endswith('-- "\\." stays\n')
    assert [c for c in rewritten if c in "\r\n"] == [c for c in source if c in "\r\n"]
    assert gopher_strings(rewritten) == rewritten
