"""The tokenizer: expr's numbers (decimal, hex, octal, binary, with ``_``), its three kinds of
strings with Go's escapes, comments, names, word operators and symbols; each token carries its
1-based column."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tether.notify.expr.errors import ExprError
from tether.notify.expr.limits import INT64_MAX


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "num", "str", "name", "op", "eof"
    value: Any
    col: int


_WORD_OPS = frozenset({"and", "or", "not", "in", "matches", "contains", "startsWith", "endsWith"})
_SYMBOLS = (
    "?.",
    "??",
    "==",
    "!=",
    "<=",
    ">=",
    "&&",
    "||",
    "**",
    "..",
    "?",
    ":",
    "<",
    ">",
    "!",
    "+",
    "-",
    "*",
    "/",
    "%",
    "^",
    ".",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    "#",
    "|",
    ";",
    "=",
    "$",
)
_NUMBER = re.compile(
    r"0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+"
    r"|(?:[0-9][0-9_]*(?:\.(?!\.)[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9]+)?"
)
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DIGITS = "0123456789"
_SIMPLE_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
}


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        col = i + 1
        if c in " \t\r\n":
            i += 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise ExprError("unclosed comment", col)
            i = end + 2
        elif c in "'\"":
            value, i = _read_string(text, i)
            tokens.append(Token("str", value, col))
        elif c == "`":
            end = text.find("`", i + 1)
            if end < 0:
                raise ExprError("unclosed string", col)
            tokens.append(Token("str", text[i + 1 : end], col))
            i = end + 1
        elif c in _DIGITS or (c == "." and i + 1 < n and text[i + 1] in _DIGITS):
            m = _NUMBER.match(text, i)
            assert m is not None
            tokens.append(Token("num", _number(m.group(), col), col))
            i = m.end()
        elif (c.isascii() and c.isalpha()) or c == "_":
            m = NAME.match(text, i)
            assert m is not None
            word = m.group()
            tokens.append(Token("op" if word in _WORD_OPS else "name", word, col))
            i = m.end()
        else:
            for symbol in _SYMBOLS:
                if text.startswith(symbol, i):
                    # `a ?.5 : 1` is a ternary over .5, not optional chaining
                    if symbol == "?." and i + 2 < n and text[i + 2] in _DIGITS:
                        continue
                    tokens.append(Token("op", symbol, col))
                    i += len(symbol)
                    break
            else:
                raise ExprError(f"unexpected character {c!r}", col)
    tokens.append(Token("eof", None, n + 1))
    return tokens


def _number(text: str, col: int) -> int | float:
    clean = text.replace("_", "")
    try:
        if clean[:2].lower() in ("0x", "0o", "0b"):
            value: int | float = int(clean, 0)
        elif any(ch in clean for ch in ".eE"):
            value = float(clean)
        else:
            value = int(clean, 10)
    except ValueError:
        raise ExprError(f"invalid number {text!r}", col) from None
    if isinstance(value, int) and value > INT64_MAX:
        raise ExprError(f"integer {text} does not fit in 64 bits", col)
    return value


def _read_string(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    out: list[str] = []
    i = start + 1
    while i < len(text):
        c = text[i]
        if c == quote:
            return "".join(out), i + 1
        if c == "\n":
            break
        if c != "\\":
            out.append(c)
            i += 1
            continue
        esc = text[i + 1 : i + 2]
        if esc in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[esc])
            i += 2
        elif esc in ("x", "u", "U"):
            width = {"x": 2, "u": 4, "U": 8}[esc]
            digits = text[i + 2 : i + 2 + width]
            if len(digits) != width or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise ExprError(f"invalid escape \\{esc} in string", i + 1)
            code = int(digits, 16)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise ExprError(f"invalid code point \\{esc}{digits} in string", i + 1)
            out.append(chr(code))
            i += 2 + width
        elif esc in "01234567" and esc:
            digits = text[i + 1 : i + 4]
            if len(digits) != 3 or not all(d in "01234567" for d in digits) or int(digits, 8) > 255:
                raise ExprError("invalid octal escape in string", i + 1)
            out.append(chr(int(digits, 8)))
            i += 4
        else:
            raise ExprError(f"invalid escape \\{esc} in string", i + 1)
    raise ExprError("unclosed string", start + 1)
