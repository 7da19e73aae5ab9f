"""Go's ``fmt.Sprintf`` for the verbs templates use: %v %s %d %q %t %x %X %o %b %c %e %f %g %%.

A wrong argument prints as Go prints it (``%!d(string=x)``, ``%!s(MISSING)``,
``%!(EXTRA int=1)``). Widths and precisions are bounded by ``max_width`` so a format cannot
ask for gigabytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from tether.gotemplate.values import (
    MISSING,
    ValueError_,
    format_float,
    format_value,
    go_type,
    is_list,
    sort_key,
)

_DIRECTIVE = re.compile(r"%([-+# 0]*)(\*|\d+)?(?:\.(\*|\d+)?)?(.)?", re.DOTALL)


def go_quote(text: str) -> str:
    """Go's ``strconv.Quote``: a double-quoted string with Go escapes."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in "\a\b\f\n\r\t\v":
            out.append(
                json.dumps(ch)[1:-1] if ch in "\b\f\n\r\t" else {"\a": "\\a", "\v": "\\v"}[ch]
            )
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif not ch.isprintable() and code > 0x7F:
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _bad(verb: str, arg: Any) -> str:
    if arg is None or arg is MISSING:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({go_type(arg)}={format_value(arg)})"


def _format_int(value: int, verb: str, flags: str, precision: int | None) -> str:
    base = {"d": "d", "x": "x", "X": "X", "o": "o", "b": "b"}[verb]
    body = format(abs(value), base)
    if precision is not None:
        body = body.zfill(precision) if precision else ("" if value == 0 else body)
    if "#" in flags:
        body = {"x": "0x", "X": "0X", "o": "0", "b": "0b"}.get(verb, "") + body
    sign = "-" if value < 0 else ("+" if "+" in flags else (" " if " " in flags else ""))
    return sign + body


def _format_number(arg: Any, verb: str, flags: str, precision: int | None) -> str:
    if isinstance(arg, bool) or not isinstance(arg, int | float):
        if verb in "xX" and isinstance(arg, str):
            encoded = arg.encode().hex()
            return encoded.upper() if verb == "X" else encoded
        return _bad(verb, arg)
    if isinstance(arg, int):
        if verb == "c":
            return chr(arg) if 0 <= arg <= 0x10FFFF else "\ufffd"
        if verb in "dxXob":
            return _format_int(arg, verb, flags, precision)
        if verb == "q":
            return "'" + chr(arg) + "'"
        return _bad(verb, arg)
    if verb in "eEfFgG":
        if verb in "gG" and precision is None:
            text = format_float(arg)
        else:
            text = format(
                arg,
                ("+" if "+" in flags else "") + f".{6 if precision is None else precision}{verb}",
            )
            if verb in "eE":
                text = re.sub(r"([eE][+-])(\d)$", r"\g<1>0\2", text)
        return text if text.startswith(("-", "+")) or "+" not in flags else "+" + text
    return _bad(verb, arg)


def _format_one(verb: str, flags: str, precision: int | None, arg: Any) -> str:
    if verb not in "vT" and isinstance(arg, Mapping):
        # fmt applies the verb to each key and value, and to each element of a list
        items = sorted(arg.items(), key=lambda item: sort_key(item[0]))
        body = " ".join(
            f"{_format_one(verb, flags, precision, k)}:{_format_one(verb, flags, precision, v)}"
            for k, v in items
        )
        return f"map[{body}]"
    if verb not in "vT" and is_list(arg):
        return "[" + " ".join(_format_one(verb, flags, precision, item) for item in arg) + "]"
    if verb in "vs":
        if verb == "s" and (isinstance(arg, bool | int | float) or arg is None):
            return _bad(verb, arg)
        text = format_value(arg) if arg is not MISSING else "<nil>"
        return text[:precision] if precision is not None and verb == "s" else text
    if verb == "q":
        if isinstance(arg, str):
            return go_quote(arg)
        return _format_number(arg, verb, flags, precision)
    if verb == "t":
        return ("true" if arg else "false") if isinstance(arg, bool) else _bad(verb, arg)
    if verb in "dxXobceEfFgG":
        return _format_number(arg, verb, flags, precision)
    if verb == "T":
        return go_type(arg) if arg is not None else "<nil>"
    return f"%!{verb}({go_type(arg)}={format_value(arg)})"


def _pad(text: str, width: int | None, flags: str) -> str:
    if width is None or len(text) >= width:
        return text
    if "-" in flags:
        return text + " " * (width - len(text))
    if "0" in flags and text[:1] in "+- " and text[1:].replace(".", "").isalnum():
        return text[0] + text[1:].rjust(width - 1, "0")
    if "0" in flags and text.replace(".", "").isalnum():
        return text.rjust(width, "0")
    return text.rjust(width)


def sprintf(fmt: str, args: list[Any], max_width: int) -> str:
    """Format ``args`` by the Go format string ``fmt``."""
    out: list[str] = []
    position = 0
    used = 0
    for match in _DIRECTIVE.finditer(fmt):
        out.append(fmt[position : match.start()])
        position = match.end()
        flags, width_text, precision_text, verb = match.groups()
        if verb is None:
            out.append("%!(NOVERB)")
            continue
        if verb == "%" and not flags and width_text is None and precision_text is None:
            out.append("%")
            continue
        width = precision = None
        if width_text is not None:
            width, used = _star(width_text, args, used)
        if precision_text is not None or (match.group(0).count(".") and verb != "."):
            precision, used = _star(precision_text or "0", args, used)
        for bound in (width, precision):
            if bound is not None and bound > max_width:
                raise ValueError_(f"width or precision {bound} is larger than {max_width}")
        if used >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[used]
        used += 1
        out.append(_pad(_format_one(verb, flags, precision, arg), width, flags))
    out.append(fmt[position:])
    if used < len(args):
        extra = ", ".join(
            f"{go_type(a)}={format_value(a)}" if a is not None else "<nil>" for a in args[used:]
        )
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _star(text: str, args: list[Any], used: int) -> tuple[int, int]:
    if text != "*":
        return int(text), used
    if used < len(args) and isinstance(args[used], int) and not isinstance(args[used], bool):
        return args[used], used + 1
    raise ValueError_("%!(BADWIDTH)")
