"""gopher-lua's quoted strings, read by LuaJIT.

Argo CD parses health scripts with gopher-lua, whose lexer reads a backslash before any
character it has no escape for as that character (``"\\."`` is ``"."``, as in PUC Lua 5.1), has no
``\\x``, ``\\z`` or ``\\u`` escapes (``"\\x41"`` is ``"x41"``) and keeps the low byte of a decimal
escape above 255. LuaJIT refuses the first ("invalid escape sequence") and gives the others
other meanings, so a script Argo CD runs would fail or read different text. :func:`gopher_strings`
rewrites the escapes of quoted strings so that LuaJIT reads every string as gopher-lua does.

Only quoted strings change: comments, long strings (``[[...]]``, ``[==[...]==]``) and code are
copied as they are, and no line is added or removed, so error lines stay those of the script.
"""

from __future__ import annotations

import re

# What the scan stops at: a long comment, a line comment, a long string or a quote.
_SPECIAL = re.compile(r"--\[(=*)\[|--|\[(=*)\[|[\"']")
_LINE_END = re.compile(r"[\r\n]")
# Inside a quoted string: its closing quote, an escape, or a line end (an unfinished string,
# left to the compiler to report).
_IN_STRING = {quote: re.compile(rf"[{quote}\\\r\n]") for quote in "\"'"}
# Escapes both lexers read alike; `\` before a line end continues the string on the next line.
_SAME_ESCAPES = frozenset("abfnrtv\\\"'")
_DIGITS = "0123456789"


def gopher_strings(source: str) -> str:
    """``source`` with each quoted string's escapes written so LuaJIT reads what gopher-lua
    reads; unchanged when it has no backslash."""
    if "\\" not in source:
        return source
    out: list[str] = []
    pos = 0
    while (found := _SPECIAL.search(source, pos)) is not None:
        out.append(source[pos : found.start()])
        token = found.group(0)
        if token in ('"', "'"):
            pos = _copy_quoted(source, found.end(), token, out)
            continue
        if token == "--":
            line_end = _LINE_END.search(source, found.end())
            end = line_end.start() if line_end else len(source)
        else:
            level = found.group(1) if found.group(1) is not None else found.group(2)
            close = source.find(f"]{level}]", found.end())
            end = close + len(level) + 2 if close >= 0 else len(source)
        out.append(source[found.start() : end])
        pos = end
    out.append(source[pos:])
    return "".join(out)


def _copy_quoted(source: str, start: int, quote: str, out: list[str]) -> int:
    """Copy the string whose opening ``quote`` ends at ``start`` into ``out``; the position
    after its closing quote (or where it stops unfinished)."""
    out.append(quote)
    pos = start
    while (found := _IN_STRING[quote].search(source, pos)) is not None:
        out.append(source[pos : found.start()])
        char = found.group(0)
        if char == quote:
            out.append(quote)
            return found.end()
        if char != "\\":
            return found.start()
        pos = _copy_escape(source, found.end(), out)
    out.append(source[pos:])
    return len(source)


def _copy_escape(source: str, pos: int, out: list[str]) -> int:
    """Write the escape whose backslash ends at ``pos`` as gopher-lua reads it; the position
    after it."""
    if pos >= len(source):
        out.append("\\")
        return pos
    char = source[pos]
    if char in _SAME_ESCAPES:
        out.append("\\" + char)
        return pos + 1
    if char in "\r\n":
        # A CRLF (or LFCR) after the backslash is one line end for both lexers.
        pair = source[pos : pos + 2]
        length = 2 if pair in ("\r\n", "\n\r") else 1
        out.append("\\" + source[pos : pos + length])
        return pos + length
    if char in _DIGITS:
        end = pos + 1
        while end < min(pos + 3, len(source)) and source[end] in _DIGITS:
            end += 1
        # Three digits, so that a digit after the escape is not read into it.
        out.append(f"\\{int(source[pos:end]) & 0xFF:03d}")
        return end
    out.append(char)
    return pos + 1
