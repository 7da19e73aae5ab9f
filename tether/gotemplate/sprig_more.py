"""More of Sprig v3: its list functions (``first``, ``uniq``, ``without``, ``concat``, ...), a few
string functions (``substr``, ``nospace``, ``splitn``, ``abbrev``, ...), hashes and base32, and
``atoi``/``add1``/``ceil``/``floor``/``round``/``until``/``untilStep``.

Each behaves as Sprig's Go code: a list function given something that is not a list fails as
Sprig panics (``Cannot find first on type string``), the ``must`` variants the same way; a value
compares as Go's ``reflect.DeepEqual`` does (a boolean is never a number). Results are bounded
as every other function's (:func:`tether.gotemplate.values.check_size`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import unicodedata
import zlib
from collections.abc import Callable, Mapping
from typing import Any

from tether.gotemplate.functions import Func
from tether.gotemplate.sprig import empty, strslice, strval, to_float64, to_int64, wrap64
from tether.gotemplate.values import (
    MAX_NODES,
    MAX_TEXT,
    MISSING,
    ValueError_,
    check_size,
    go_type,
    is_list,
)

_GO_SPACES = frozenset("\t\n\v\f\r \x85\xa0")


def _items(value: Any, verb: str) -> list[Any]:
    """The elements of a list argument, or Sprig's panic message for anything else."""
    if is_list(value):
        return list(value)
    shown = "%!s(<nil>)" if value is None or value is MISSING else go_type(value)
    raise ValueError_(f"Cannot {verb} type {shown}")


def _key(value: Any) -> Any:
    """A hashable stand-in for a JSON value: two values have the same key when Go's
    ``reflect.DeepEqual`` says they are equal (numbers are float64 there, so ``1`` and ``1.0``
    are; a boolean is never a number)."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", value)
    if isinstance(value, str):
        return ("string", value)
    if value is None or value is MISSING:
        return ("nil",)
    if is_list(value):
        return ("list", tuple(_key(item) for item in value))
    if isinstance(value, Mapping):
        return ("map", tuple(sorted((str(k), _key(v)) for k, v in value.items())))
    return ("other", repr(value))


def _in(needle: Any, items: list[Any]) -> bool:
    key = _key(needle)
    return any(_key(item) == key for item in items)


def _bounded(result: list[Any]) -> list[Any]:
    check_size(result)
    return result


def _first(value: Any) -> Any:
    items = _items(value, "find first on")
    return items[0] if items else None


def _last(value: Any) -> Any:
    items = _items(value, "find last on")
    return items[-1] if items else None


def _rest(value: Any) -> list[Any]:
    # a nil slice prints as [] in Go
    return _items(value, "find rest on")[1:]


def _initial(value: Any) -> list[Any]:
    return _items(value, "find initial on")[:-1]


def _uniq(value: Any) -> list[Any]:
    # keyed, not compared pairwise: a list of 250,000 values must not cost 250,000² steps
    seen: set[Any] = set()
    found: list[Any] = []
    for item in _items(value, "find uniq on"):
        key = _key(item)
        if key not in seen:
            seen.add(key)
            found.append(item)
    return found


def _compact(value: Any) -> list[Any]:
    return [item for item in _items(value, "compact on") if not empty(item)]


def _without(value: Any, *omit: Any) -> list[Any]:
    return [item for item in _items(value, "find without on") if not _in(item, list(omit))]


def _has(needle: Any, haystack: Any) -> bool:
    if haystack is None or haystack is MISSING:
        return False
    return _in(needle, _items(haystack, "find has on"))


def _push(value: Any, item: Any) -> list[Any]:
    return _bounded([*_items(value, "push on"), item])


def _prepend(value: Any, item: Any) -> list[Any]:
    return _bounded([item, *_items(value, "prepend on")])


def _concat(*lists: Any) -> list[Any]:
    joined: list[Any] = []
    for value in lists:
        if not is_list(value):
            shown = "%!s(<nil>)" if value is None or value is MISSING else go_type(value)
            raise ValueError_(f"Cannot concat type {shown} as list")
        joined.extend(value)
        if len(joined) > MAX_NODES:
            raise ValueError_(f"value has more than {MAX_NODES} parts")
    return _bounded(joined)


def _slice(value: Any, *indices: Any) -> list[Any]:
    if not is_list(value):
        raise ValueError_(f"list should be type of slice or array but {go_type(value)}")
    items = list(value)
    if not items:
        return []
    start = to_int64(indices[0]) if indices else 0
    end = to_int64(indices[1]) if len(indices) > 1 else len(items)
    if not 0 <= start <= end <= len(items):
        raise ValueError_(f"reflect: slice index out of range [{start}:{end}] of {len(items)}")
    return items[start:end]


def _chunk(size: int, value: Any) -> list[list[Any]]:
    items = _items(value, "chunk")
    if size <= 0:
        raise ValueError_("chunk size must be positive")
    return _bounded([items[i : i + size] for i in range(0, len(items), size)])


def _sort_alpha(value: Any) -> list[str]:
    if not is_list(value):
        return [strval(value)]
    # Go sorts by bytes: code points in UTF-8 order are code point order
    return sorted(strslice(value))


def _to_strings(value: Any) -> list[str]:
    return strslice(value)


def _reverse(value: Any) -> list[Any]:
    return _items(value, "find reverse on")[::-1]


# ---- strings ------------------------------------------------------------------------------------


def _substr(start: int, end: int, text: str) -> str:
    raw = text.encode()
    if start < 0:
        piece = raw[:end] if 0 <= end <= len(raw) else None
    elif end < 0 or end > len(raw):
        piece = raw[start:] if start <= len(raw) else None
    else:
        piece = raw[start:end] if start <= end else None
    if piece is None:
        raise ValueError_(f"slice bounds out of range [{start}:{end}] with length {len(raw)}")
    return piece.decode(errors="replace")


def _nospace(text: str) -> str:
    return "".join(
        ch
        for ch in text
        if ch not in _GO_SPACES and unicodedata.category(ch) not in ("Zs", "Zl", "Zp")
    )


def _repeat(count: int, text: str) -> str:
    if count < 0:
        raise ValueError_("strings: negative Repeat count")
    if count * len(text) > MAX_TEXT:
        raise ValueError_(f"the result would have more than {MAX_TEXT} characters")
    return text * count


def _splitn(separator: str, count: int, text: str) -> dict[str, str]:
    if count == 0:
        return {}
    if separator == "":
        chars = list(text)
        parts = (
            chars
            if count < 0 or count >= len(chars)
            else [*chars[: count - 1], "".join(chars[count - 1 :])]
        )
    else:
        parts = text.split(separator) if count < 0 else text.split(separator, count - 1)
    if len(parts) > MAX_NODES:
        raise ValueError_(f"the result would have more than {MAX_NODES} parts")
    return {f"_{i}": part for i, part in enumerate(parts)}


def _abbrev(width: int, text: str) -> str:
    raw = text.encode()
    if width < 4 or len(raw) <= width:
        return text
    return raw[: width - 3].decode(errors="replace") + "..."


def _swapcase(text: str) -> str:
    return "".join(
        ch.lower() if ch.isupper() or ch.istitle() else ch.upper() if ch.islower() else ch
        for ch in text
    )


def _b32dec(text: str) -> str:
    try:
        return base64.b32decode(text).decode(errors="replace")
    except (binascii.Error, ValueError) as exc:
        return f"illegal base32 data: {exc}"


# ---- numbers ------------------------------------------------------------------------------------


def _atoi(text: str) -> int:
    stripped = text[1:] if text[:1] in "+-" else text
    if not stripped.isascii() or not stripped.isdigit():
        return 0
    value = int(text)
    return value if -(2**63) <= value < 2**63 else 0


def _round(value: Any, places: int, *round_on: Any) -> float:
    threshold = to_float64(round_on[0]) if round_on else 0.5
    number = to_float64(value)
    power = math.pow(10, places)
    digit = power * number
    fraction = math.modf(digit)[0]
    rounded = math.ceil(digit) if fraction >= threshold else math.floor(digit)
    return rounded / power


def _until_step(start: int, stop: int, step: int) -> list[int]:
    if (stop < start and step >= 0) or (stop >= start and step <= 0):
        return []
    count = len(range(start, stop, step))
    if count > MAX_NODES:
        raise ValueError_(f"the result would have more than {MAX_NODES} parts")
    return list(range(start, stop, step))


def _until(count: int) -> list[int]:
    return _until_step(0, count, -1 if count < 0 else 1)


def _float_of(fn: Callable[[float], float]) -> Func:
    def call(value: Any) -> float:
        return float(fn(to_float64(value)))

    return Func(call, ("any",))


def _add1(value: Any) -> int:
    return wrap64(to_int64(value) + 1)


_LISTS: dict[str, Func] = {
    "first": Func(_first, ("any",)),
    "last": Func(_last, ("any",)),
    "rest": Func(_rest, ("any",)),
    "initial": Func(_initial, ("any",)),
    "uniq": Func(_uniq, ("any",)),
    "compact": Func(_compact, ("any",)),
    "without": Func(_without, ("any",), "any"),
    "has": Func(_has, ("any", "any")),
    "append": Func(_push, ("any", "any")),
    "push": Func(_push, ("any", "any")),
    "prepend": Func(_prepend, ("any", "any")),
    "concat": Func(_concat, (), "any"),
    "chunk": Func(_chunk, ("int", "any")),
    "reverse": Func(_reverse, ("any",)),
}

MORE_FUNCTIONS: dict[str, Func] = {
    **_LISTS,
    # Sprig's must* variants return the error its plain ones panic with: a failed template
    # either way here
    **{"must" + name[0].upper() + name[1:]: func for name, func in _LISTS.items()},
    # ``slice`` itself stays Go's builtin (strings too); Sprig's list-only one is ``mustSlice``
    "mustSlice": Func(_slice, ("any",), "any"),
    "sortAlpha": Func(_sort_alpha, ("any",)),
    "toStrings": Func(_to_strings, ("any",)),
    "substr": Func(_substr, ("int", "int", "str")),
    "nospace": Func(_nospace, ("str",)),
    "repeat": Func(_repeat, ("int", "str")),
    "trimAll": Func(lambda cutset, s: s.strip(cutset), ("str", "str")),
    "trimall": Func(lambda cutset, s: s.strip(cutset), ("str", "str")),
    "plural": Func(lambda one, many, count: one if count == 1 else many, ("str", "str", "int")),
    "splitn": Func(_splitn, ("str", "int", "str")),
    "abbrev": Func(_abbrev, ("int", "str")),
    "swapcase": Func(_swapcase, ("str",)),
    "sha1sum": Func(lambda s: hashlib.sha1(s.encode()).hexdigest(), ("str",)),
    "sha512sum": Func(lambda s: hashlib.sha512(s.encode()).hexdigest(), ("str",)),
    "adler32sum": Func(lambda s: str(zlib.adler32(s.encode())), ("str",)),
    "b32enc": Func(lambda s: base64.b32encode(s.encode()).decode(), ("str",)),
    "b32dec": Func(_b32dec, ("str",)),
    "atoi": Func(_atoi, ("str",)),
    "add1": Func(_add1, ("any",)),
    "ceil": _float_of(math.ceil),
    "floor": _float_of(math.floor),
    "round": Func(_round, ("any", "int"), "any"),
    "until": Func(_until, ("int",)),
    "untilStep": Func(_until_step, ("int", "int", "int")),
}
