"""Sprig's string, list, dictionary, default and math functions (masterminds/sprig v3).

Each behaves as Sprig's Go code does for the values JSON gives, including Sprig's habit of
turning bad input into a zero value instead of an error (``int "x"`` is 0).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tether.gotemplate.functions import Func
from tether.gotemplate.gofmt import go_quote
from tether.gotemplate.sprig_data import DATA_FUNCTIONS
from tether.gotemplate.values import (
    MAX_NODES,
    MISSING,
    ValueError_,
    check_size,
    format_value,
    is_list,
)

MAX_RESULT = 16 << 20


def strval(value: Any) -> str:
    """Sprig's ``strval``: strings as they are, anything else as Go's ``%v``."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return format_value(value)


def empty(value: Any) -> bool:
    """Sprig's ``empty``: nil, zero numbers, false and empty strings, lists and maps."""
    if value is None or value is MISSING:
        return True
    if isinstance(value, bool | int | float):
        return not value
    if isinstance(value, str | bytes | Mapping) or is_list(value):
        return len(value) == 0
    return False


def to_int64(value: Any) -> int:
    """``cast.ToInt64`` as Sprig uses it: strings parsed in Go's base-0 syntax, errors are 0."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value == value and abs(value) < 2**63 else 0
    if isinstance(value, str):
        text = re.sub(r"\.0+$", "", value)
        try:
            if re.fullmatch(r"[+-]?0[0-7]+", text):
                return int(text, 8)
            return int(text, 0)
        except ValueError:
            return 0
    return 0


def to_float64(value: Any) -> float:
    if isinstance(value, bool | int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return 0.0
    return 0.0


def strslice(value: Any) -> list[str]:
    check_size(value)
    if value is None:
        return []
    if is_list(value):
        return [strval(item) for item in value if item is not None]
    return [strval(value)]


def _title(text: str) -> str:
    # strings.Title: the first letter of each word, a word starting after a non-letter/digit.
    out: list[str] = []
    previous = " "
    for ch in text:
        separator = not (previous.isalnum() or previous == "_")
        out.append(ch.upper() if separator else ch)
        previous = ch
    return "".join(out)


def _trunc(count: int, text: str) -> str:
    if count < 0 and len(text) + count > 0:
        return text[len(text) + count :]
    if count >= 0 and len(text) > count:
        return text[:count]
    return text


def _indent(spaces: int, text: str) -> str:
    if spaces < 0:
        raise ValueError_("negative indent")
    if spaces * (text.count("\n") + 1) > 1 << 24:
        raise ValueError_("indentation larger than 16 MiB")
    pad = " " * spaces
    return pad + text.replace("\n", "\n" + pad)


def _default(default: Any, *given: Any) -> Any:
    if not given or empty(given[0]):
        return default
    return given[0]


def _coalesce(*values: Any) -> Any:
    return next((value for value in values if not empty(value)), None)


def _dict(*pairs: Any) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for i in range(0, len(pairs), 2):
        result[strval(pairs[i])] = pairs[i + 1] if i + 1 < len(pairs) else ""
    return result


def _as_dict(value: Any, name: str) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    raise ValueError_(f"wrong type for value; expected map[string]interface {{}}; got {name}")


def _get(mapping: Any, key: str) -> Any:
    return _as_dict(mapping, type(mapping).__name__).get(key, "")


def _set(mapping: Any, key: str, value: Any) -> dict[str, Any]:
    target = _as_dict(mapping, type(mapping).__name__)
    target[key] = value
    return target


def _keys(*mappings: Any) -> list[str]:
    # Go's map order is random; Tether sorts, which is one of the orders Go may give.
    return sorted(key for mapping in mappings for key in _as_dict(mapping, "value"))


def _values(mapping: Any) -> list[Any]:
    target = _as_dict(mapping, "value")
    return [target[key] for key in sorted(target)]


def _merge(destination: Any, *sources: Any) -> dict[str, Any]:
    target = _as_dict(destination, "value")
    check_size([target, *sources])
    for source in sources:
        _merge_into(target, _as_dict(source, "value"), 0)
    return target


def _merge_into(target: dict[str, Any], source: Mapping[str, Any], depth: int) -> None:
    # mergo.Merge without override: keys of the destination win, maps merge deeply.
    if depth > 100:
        raise ValueError_("maps nested more than 100 deep")
    for key, value in source.items():
        if key not in target or empty(target[key]):
            target[key] = value
        elif isinstance(target[key], dict) and isinstance(value, Mapping):
            _merge_into(target[key], value, depth + 1)


def _replace(old: str, new: str, text: str) -> str:
    count = text.count(old) if old else len(text) + 1
    if len(text) + count * (len(new) - len(old)) > MAX_RESULT:
        raise ValueError_(f"the result would be longer than {MAX_RESULT} characters")
    return text.replace(old, new)


def _join(separator: str, value: Any) -> str:
    parts = strslice(value)
    if sum(map(len, parts)) + len(separator) * max(len(parts) - 1, 0) > MAX_RESULT:
        raise ValueError_(f"the result would be longer than {MAX_RESULT} characters")
    return separator.join(parts)


def _split(separator: str, text: str) -> dict[str, str]:
    return {f"_{i}": part for i, part in enumerate(_go_split(text, separator))}


def _go_split(text: str, separator: str) -> list[str]:
    parts = len(text) if separator == "" else text.count(separator) + 1
    if parts > MAX_NODES:
        raise ValueError_(f"the result would have more than {MAX_NODES} parts")
    if separator == "":
        return list(text)
    return text.split(separator)


def _arith(op: str) -> Func:
    def apply(first: Any, *rest: Any) -> int:
        result = to_int64(first)
        for value in rest:
            other = to_int64(value)
            if op in "/%" and other == 0:
                raise ValueError_("runtime error: integer divide by zero")
            if op == "/":
                result = abs(result) // abs(other) * (1 if (result < 0) == (other < 0) else -1)
            elif op == "%":
                result = abs(result) % abs(other) * (1 if result >= 0 else -1)
            else:
                result = result - other if op == "-" else result * other
        return wrap64(result)

    return Func(apply, ("any",), "any") if op == "*" else Func(apply, ("any", "any"))


def _extreme(pick: Any) -> Func:
    def apply(first: Any, *rest: Any) -> int:
        return int(pick([to_int64(first), *(to_int64(value) for value in rest)]))

    return Func(apply, ("any",), "any")


def wrap64(value: int) -> int:
    return (value + 2**63) % 2**64 - 2**63


def _dig(*args: Any) -> Any:
    if len(args) < 3:
        raise ValueError_(f"dig needs at least three arguments, got {len(args)}")
    *keys, default, mapping = args
    current = _as_dict(mapping, "value")
    for i, key in enumerate(keys):
        if strval(key) not in current:
            return default
        step = current[strval(key)]
        if i == len(keys) - 1:
            return step
        current = _as_dict(step, "value")
    return default


def _base(path: str) -> str:
    # Go's path.Base: the last element, trailing slashes ignored; "" is ".", "/" is "/".
    if path == "":
        return "."
    stripped = path.rstrip("/")
    return stripped.rpartition("/")[2] if stripped else "/"


def _quote(*values: Any) -> str:
    check_size(list(values))
    return " ".join(go_quote(strval(value)) for value in values if value is not None)


def _squote(*values: Any) -> str:
    check_size(list(values))
    return " ".join(f"'{strval(value)}'" for value in values if value is not None)


def _cat(*values: Any) -> str:
    check_size(list(values))
    return " ".join(strval(value) for value in values if value is not None).strip()


def _add(*values: Any) -> int:
    return wrap64(sum(to_int64(value) for value in values))


SPRIG: dict[str, Func] = {
    "upper": Func(str.upper, ("str",)),
    "lower": Func(str.lower, ("str",)),
    "title": Func(_title, ("str",)),
    "trim": Func(lambda s: s.strip(" \t\n\r\v\f\x85\xa0"), ("str",)),
    "trimPrefix": Func(lambda prefix, s: s.removeprefix(prefix), ("str", "str")),
    "trimSuffix": Func(lambda suffix, s: s.removesuffix(suffix), ("str", "str")),
    "trunc": Func(_trunc, ("int", "str")),
    "replace": Func(_replace, ("str", "str", "str")),
    "contains": Func(lambda sub, s: sub in s, ("str", "str")),
    "hasPrefix": Func(lambda prefix, s: s.startswith(prefix), ("str", "str")),
    "hasSuffix": Func(lambda suffix, s: s.endswith(suffix), ("str", "str")),
    "quote": Func(_quote, (), "any"),
    "squote": Func(_squote, (), "any"),
    "indent": Func(_indent, ("int", "str")),
    "nindent": Func(lambda n, s: "\n" + _indent(n, s), ("int", "str")),
    "join": Func(_join, ("str", "any")),
    "splitList": Func(lambda sep, s: _go_split(s, sep), ("str", "str")),
    "split": Func(_split, ("str", "str")),
    "toString": Func(strval, ("any",)),
    "cat": Func(_cat, (), "any"),
    "base": Func(_base, ("str",)),
    "dig": Func(_dig, (), "any"),
    "default": Func(_default, ("any",), "any"),
    "empty": Func(empty, ("any",)),
    "coalesce": Func(_coalesce, (), "any"),
    "ternary": Func(lambda yes, no, cond: yes if cond else no, ("any", "any", "bool")),
    "list": Func(lambda *v: list(v), (), "any"),
    "dict": Func(_dict, (), "any"),
    "get": Func(_get, ("any", "str")),
    "set": Func(_set, ("any", "str", "any")),
    "hasKey": Func(lambda m, k: k in _as_dict(m, "value"), ("any", "str")),
    "keys": Func(_keys, (), "any"),
    "values": Func(_values, ("any",)),
    "merge": Func(_merge, ("any",), "any"),
    "int": Func(lambda v: wrap64(to_int64(v)), ("any",)),
    "int64": Func(lambda v: wrap64(to_int64(v)), ("any",)),
    "float64": Func(to_float64, ("any",)),
    "add": Func(_add, (), "any"),
    "sub": _arith("-"),
    "mul": _arith("*"),
    "div": _arith("/"),
    "mod": _arith("%"),
    "max": _extreme(max),
    "min": _extreme(min),
    **DATA_FUNCTIONS,
}
