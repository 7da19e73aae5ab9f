"""Go's builtin template functions (``text/template/funcs.go``), except ``call``."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any

from tether.gotemplate.functions import Func
from tether.gotemplate.gofmt import sprintf
from tether.gotemplate.values import (
    MISSING,
    ValueError_,
    check_size,
    equal,
    format_value,
    go_type,
    is_list,
    is_true,
    less,
)

MAX_FORMAT_WIDTH = 1 << 16


def _sprint(args: tuple[Any, ...]) -> str:
    """Go's ``fmt.Sprint``: a space between operands when neither is a string."""
    check_size(list(args))
    out: list[str] = []
    previous_string = True
    for i, arg in enumerate(args):
        is_string = isinstance(arg, str)
        if i > 0 and not is_string and not previous_string:
            out.append(" ")
        out.append(format_value(arg))
        previous_string = is_string
    return "".join(out)


def _eval_args(args: tuple[Any, ...]) -> str:
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return _sprint(args)


def _length(item: Any) -> int:
    if item is None or item is MISSING:
        raise ValueError_("len of nil pointer")
    if isinstance(item, str):
        return len(item.encode())
    if isinstance(item, Mapping) or is_list(item):
        return len(item)
    raise ValueError_(f"len of type {go_type(item)}")


def _index_arg(index: Any, size: int) -> int:
    if index is None:
        raise ValueError_("cannot index slice/array with nil")
    if not isinstance(index, int) or isinstance(index, bool):
        raise ValueError_(f"cannot index slice/array with type {go_type(index)}")
    if index < 0 or index > size:
        raise ValueError_(f"index out of range: {index}")
    return index


def _index(item: Any, *indexes: Any) -> Any:
    if item is None:
        raise ValueError_("index of untyped nil")
    for index in indexes:
        if item is None:
            raise ValueError_("index of nil pointer")
        if isinstance(item, str) or is_list(item):
            sequence = item.encode() if isinstance(item, str) else item
            position = _index_arg(index, len(sequence))
            if position == len(sequence):
                raise ValueError_(f"index out of range: {position}")
            item = sequence[position]
        elif isinstance(item, Mapping):
            if index is not None and not isinstance(index, str):
                raise ValueError_(f"value has type {go_type(index)}; should be string")
            item = item.get(index if index is not None else "")
        else:
            raise ValueError_(f"can't index item of type {go_type(item)}")
    return item


def _slice(item: Any, *indexes: Any) -> Any:
    if item is None:
        raise ValueError_("slice of untyped nil")
    if len(indexes) > 3:
        raise ValueError_(f"too many slice indexes: {len(indexes)}")
    if isinstance(item, str):
        if len(indexes) == 3:
            raise ValueError_("cannot 3-index slice a string")
        sequence: Any = item.encode()
    elif is_list(item):
        sequence = list(item)
    else:
        raise ValueError_(f"can't slice item of type {go_type(item)}")
    bounds = [0, len(sequence), len(sequence)]
    for i, index in enumerate(indexes):
        bounds[i] = _index_arg(index, len(sequence))
        if i > 0 and bounds[i] < bounds[i - 1]:
            raise ValueError_(f"invalid slice index: {bounds[i - 1]} > {bounds[i]}")
    if len(indexes) < 2:
        bounds[1] = len(sequence)
    result = sequence[bounds[0] : bounds[1]]
    return result.decode(errors="replace") if isinstance(item, str) else result


def _html(*args: Any) -> str:
    text = _eval_args(args)
    for old, new in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&#34;"), ("'", "&#39;")):
        text = text.replace(old, new)
    return text.replace("\0", "\ufffd")


_JS = {"\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E"}
_JS.update({"&": "\\u0026", "=": "\\u003D"})


def _js(*args: Any) -> str:
    out = []
    for ch in _eval_args(args):
        if ch in _JS:
            out.append(_JS[ch])
        elif ord(ch) < 0x20 or not ch.isprintable():
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)


def _urlquery(*args: Any) -> str:
    return urllib.parse.quote_plus(_eval_args(args), safe="")


def _printf(fmt: str, *args: Any) -> str:
    check_size(list(args))
    return sprintf(fmt, list(args), MAX_FORMAT_WIDTH)


def _println(*args: Any) -> str:
    check_size(list(args))
    return " ".join(format_value(arg) for arg in args) + "\n"


def _not(value: Any) -> bool:
    return not is_true(value)


def _le(a: Any, b: Any) -> bool:
    return less(a, b) or equal(a, b)


def _lazy(*_: Any) -> Any:
    raise AssertionError("and/or are evaluated by the executor")


BUILTINS: dict[str, Func] = {
    "and": Func(_lazy, ("any",), "any", lazy=True),
    "or": Func(_lazy, ("any",), "any", lazy=True),
    "not": Func(_not, ("any",)),
    "len": Func(_length, ("any",)),
    "index": Func(_index, ("any",), "any"),
    "slice": Func(_slice, ("any",), "any"),
    "print": Func(lambda *args: _sprint(args), (), "any"),
    "printf": Func(_printf, ("str",), "any"),
    "println": Func(_println, (), "any"),
    "html": Func(_html, (), "any"),
    "js": Func(_js, (), "any"),
    "urlquery": Func(_urlquery, (), "any"),
    "eq": Func(equal, ("any",), "any"),
    "ne": Func(lambda a, b: not equal(a, b), ("any", "any")),
    "lt": Func(less, ("any", "any")),
    "le": Func(_le, ("any", "any")),
    "gt": Func(lambda a, b: not _le(a, b), ("any", "any")),
    "ge": Func(lambda a, b: not less(a, b), ("any", "any")),
}
