"""Go's literal syntax: numbers, interpreted and raw strings, character constants."""

from __future__ import annotations

import re

_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_INT = re.compile(r"[+-]?(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|[0-9][0-9_]*)")
_OCTAL = re.compile(r"[+-]?0[0-7_]+")
_FLOAT = re.compile(
    r"[+-]?(([0-9][0-9_]*)?\.?[0-9_]*([eE][+-]?[0-9_]+)?"
    r"|0[xX][0-9a-fA-F_]*\.?[0-9a-fA-F_]*[pP][+-]?[0-9_]+)"
)
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


class LiteralError(ValueError):
    """A literal Go would not accept; the message is Go's."""


def parse_number(text: str) -> int | float:
    """A Go number literal: an int when it is written as one, else a float64."""
    if text.endswith("i"):
        raise LiteralError(f"complex number {text} is not supported")
    if _INT.fullmatch(text) and "__" not in text and not text.rstrip("_").endswith("_"):
        if _OCTAL.fullmatch(text) and len(text.lstrip("+-")) > 1:
            value = int(text.replace("_", ""), 8)
        else:
            value = int(text.replace("_", ""), 0)
        if not INT64_MIN <= value <= INT64_MAX:
            raise LiteralError(f"{text} overflows int")
        return value
    if _FLOAT.fullmatch(text) and any(ch.isdigit() for ch in text):
        try:
            if text.lstrip("+-")[:2].lower() == "0x":
                sign = -1.0 if text.startswith("-") else 1.0
                return sign * float.fromhex(text.lstrip("+-").replace("_", ""))
            return float(text.replace("_", ""))
        except (ValueError, OverflowError):
            pass
    raise LiteralError(f"illegal number syntax: {_quote(text)}")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unquote(text: str) -> str:
    """Go's ``strconv.Unquote`` for a double-quoted or backquoted string."""
    if text.startswith("`"):
        return text[1:-1].replace("\r", "")
    return _unescape(text[1:-1], '"')


def unquote_char(text: str) -> int:
    """A character constant ``'x'`` as its code point, as Go's parser reads it."""
    value = _unescape(text[1:-1], "'")
    if len(value) != 1:
        raise LiteralError(f"malformed character constant: {text}")
    return ord(value)


def _unescape(body: str, quote: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == quote:
            raise LiteralError("invalid syntax")
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        i, decoded = _escape_at(body, i + 1, quote)
        out.append(decoded)
    return "".join(out)


def _escape_at(body: str, i: int, quote: str) -> tuple[int, str]:
    if i >= len(body):
        raise LiteralError("invalid syntax")
    ch = body[i]
    if ch in _ESCAPES:
        return i + 1, _ESCAPES[ch]
    if ch == "\\" or ch == quote:
        return i + 1, ch
    widths = {"x": 2, "u": 4, "U": 8}
    if ch in widths:
        digits = body[i + 1 : i + 1 + widths[ch]]
        if len(digits) != widths[ch] or not all(d in "0123456789abcdefABCDEF" for d in digits):
            raise LiteralError("invalid syntax")
        code = int(digits, 16)
        if ch != "x" and (code > 0x10FFFF or 0xD800 <= code <= 0xDFFF):
            raise LiteralError("invalid syntax")
        return i + 1 + widths[ch], chr(code)
    if ch in "01234567":
        digits = body[i : i + 3]
        if len(digits) != 3 or not all(d in "01234567" for d in digits) or int(digits, 8) > 255:
            raise LiteralError("invalid syntax")
        return i + 3, chr(int(digits, 8))
    raise LiteralError("invalid syntax")
