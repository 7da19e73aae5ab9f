"""Go's view of template data: type names, truth, comparison and ``%v`` printing.

Data is what ``encoding/json`` gives Go (``map[string]interface{}``, ``[]interface{}``,
string, bool, int64 or float64, nil) plus the time values of the date functions. ``MISSING``
is Go's invalid ``reflect.Value``: what a missing map key yields, printed as ``<no value>``.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Final


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


class ValueError_(Exception):
    """A Go-level error inside a builtin; the executor adds the template's place."""


def is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def go_type(value: Any) -> str:
    """The Go type name a value would have, as Go's messages print it."""
    if value is MISSING:
        return "<nil>"
    if value is None:
        return "interface {}"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "map[string]interface {}"
    if isinstance(value, datetime.datetime):
        return "time.Time"
    if is_list(value):
        return "[]interface {}"
    return type(value).__name__


def is_true(value: Any) -> bool:
    """Go's template truth: false, 0, nil and empty strings, maps and lists are false."""
    if value is MISSING or value is None:
        return False
    if isinstance(value, bool | int | float):
        return value != 0
    if isinstance(value, str | bytes | Mapping) or is_list(value):
        return len(value) > 0
    return True


def format_float(value: float) -> str:
    """Go's ``%v`` of a float64: shortest digits, ``%e`` form when exp < -4 or >= 21... 6."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digit_tuple, exponent = Decimal(repr(value)).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    assert isinstance(exponent, int)
    point = len("".join(map(str, digit_tuple)).lstrip("0")) + exponent
    digits = digits.lstrip("0")
    head = "-" if sign else ""
    exp = point - 1
    if exp < -4 or exp >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{head}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return f"{head}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return head + digits + "0" * (point - len(digits))
    return f"{head}{digits[:point]}.{digits[point:]}"


def format_time(value: datetime.datetime) -> str:
    """Go's ``time.Time.String()``."""
    text = value.strftime("%Y-%m-%d %H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    offset = value.utcoffset() or datetime.timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    numeric = f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
    return f"{text} {numeric} {zone_name(value)}"


def zone_name(value: datetime.datetime) -> str:
    """Go's zone abbreviation: the zone's name, else the offset as -0700 (UTC when zero)."""
    offset = value.utcoffset() or datetime.timedelta(0)
    name = value.tzname() or ""
    if (name and not name.startswith("UTC")) or name == "UTC":
        return name
    if not offset:
        return "UTC"
    minutes = int(offset.total_seconds()) // 60
    return f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


def format_value(value: Any) -> str:
    """Go's ``%v`` (``fmt.Sprint``) of a value."""
    if value is None or value is MISSING:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return "[" + " ".join(str(b) for b in value) + "]"
    if isinstance(value, Mapping):
        items = sorted(value.items(), key=lambda item: sort_key(item[0]))
        return "map[" + " ".join(f"{format_value(k)}:{format_value(v)}" for k, v in items) + "]"
    if isinstance(value, datetime.datetime):
        return format_time(value)
    if is_list(value):
        return "[" + " ".join(format_value(item) for item in value) + "]"
    return str(value)


def sort_key(key: Any) -> tuple[int, Any]:
    """Go's map key order (``fmt`` and ``range`` sort keys): numbers, then strings."""
    if isinstance(key, bool):
        return (0, int(key))
    if isinstance(key, int | float):
        return (1, key)
    return (2, str(key))


MAX_NODES = 250_000
MAX_TEXT = 16 << 20


def check_size(value: Any, limit: int = MAX_NODES) -> None:
    """Refuse a value with more than ``limit`` parts or ``MAX_TEXT`` characters of strings,
    counting a shared part each time it is reached: a list of itself doubled in a loop would
    print 2**n parts from n objects, a list of one long string many times as many copies."""
    stack = [value]
    seen = 0
    text = 0
    while stack:
        item = stack.pop()
        seen += 1
        if seen > limit:
            raise ValueError_(f"value has more than {limit} parts")
        if isinstance(item, str):
            text += len(item)
            if text > MAX_TEXT:
                raise ValueError_(f"value has more than {MAX_TEXT} characters")
        elif isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif is_list(item):
            stack.extend(item)


def print_result(value: Any) -> str:
    """What ``{{pipeline}}`` prints: nil and missing values print as ``<no value>``."""
    if value is None or value is MISSING:
        return "<no value>"
    check_size(value)
    return format_value(value)


# --- comparison, as Go's text/template funcs.go -------------------------------------------


def _basic_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    return "invalid"


def equal(first: Any, *others: Any) -> bool:
    """Go's ``eq``: true when ``first`` equals any of ``others``."""
    if not others:
        raise ValueError_("missing argument for comparison")
    k1 = _basic_kind(first)
    for other in others:
        k2 = _basic_kind(other)
        if k1 != k2:
            if _is_valid(first) and _is_valid(other):
                raise ValueError_("incompatible types for comparison")
            continue
        if k1 != "invalid":
            if first == other:
                return True
            continue
        if _is_nil(first) or _is_nil(other):
            if _is_nil(first) == _is_nil(other):
                return True
            continue
        if isinstance(other, Mapping) or is_list(other):
            raise ValueError_(f"non-comparable type {format_value(other)}: {go_type(other)}")
        if first == other:
            return True
    return False


def _is_valid(value: Any) -> bool:
    return value is not None and value is not MISSING


def _is_nil(value: Any) -> bool:
    return value is None or value is MISSING


def less(first: Any, second: Any) -> bool:
    """Go's ``lt``: both operands of one basic kind that is ordered."""
    k1, k2 = _basic_kind(first), _basic_kind(second)
    if k1 == "invalid" or k2 == "invalid":
        raise ValueError_("invalid type for comparison")
    if k1 != k2:
        raise ValueError_("incompatible types for comparison")
    if k1 == "bool":
        raise ValueError_("invalid type for comparison")
    return bool(first < second)
