"""Expr's rules for the values an expression meets (plain JSON data: dict, list, str, int, float,
bool, None; and Go's times and durations): their type names, equality (``==`` across types is
false), ordering (``<`` across types is an error), arithmetic (int64 that wraps, ``/`` gives a
float, ``%`` takes ints only, times and durations as Go adds them) and printing."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from tether.notify.expr.errors import ExprError
from tether.notify.expr.gotime import Duration, Time
from tether.notify.expr.limits import INT64_MAX, MAX_STRING


def type_name(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "map"
    if isinstance(value, Time):
        return "time.Time"
    if isinstance(value, Duration):
        return "time.Duration"
    return type(value).__name__


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def wrap(value: int) -> int:
    """Go's int64 arithmetic wraps around."""
    value &= (1 << 64) - 1
    return value - (1 << 64) if value > INT64_MAX else value


def equal(a: Any, b: Any) -> bool:
    if is_number(a) and is_number(b):
        return bool(a == b)
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if type(a) is not type(b) and not (isinstance(a, str) and isinstance(b, str)):
        return False
    return bool(a == b)


def go_format(value: Any) -> str:
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if not value.is_integer() or abs(value) >= 1e21 else str(int(value))
    return str(value)


def size(value: Any) -> int:
    return len(value) if isinstance(value, list | tuple | Mapping) else 0


def compare(op: str, left: Any, right: Any, col: int) -> bool:
    comparable = (
        (is_number(left) and is_number(right))
        or (isinstance(left, str) and isinstance(right, str))
        or (isinstance(left, Time) and isinstance(right, Time))
        or (isinstance(left, Duration) and isinstance(right, Duration))
    )
    if not comparable:
        raise ExprError(
            f"invalid operation: {op} (mismatched types {type_name(left)} and {type_name(right)})",
            col,
        )
    if op == "<":
        return bool(left < right)
    if op == ">":
        return bool(left > right)
    if op == "<=":
        return bool(left <= right)
    return bool(left >= right)


def arithmetic(op: str, left: Any, right: Any, col: int) -> Any:
    if op == "+" and isinstance(left, str) and isinstance(right, str):
        if len(left) + len(right) > MAX_STRING:
            raise ExprError(f"string longer than {MAX_STRING} characters", col)
        return left + right
    if isinstance(left, Time | Duration) or isinstance(right, Time | Duration):
        return _time_arithmetic(op, left, right, col)
    if not (is_number(left) and is_number(right)):
        raise ExprError(
            f"invalid operation: {op} (mismatched types {type_name(left)} and {type_name(right)})",
            col,
        )
    both_int = isinstance(left, int) and isinstance(right, int)
    if op in ("+", "-", "*"):
        if both_int:
            result = left + right if op == "+" else left - right if op == "-" else left * right
            return wrap(result)
        return float(left + right if op == "+" else left - right if op == "-" else left * right)
    if op == "/":
        if right == 0:
            if left == 0 or math.isnan(left):
                return math.nan
            return math.copysign(math.inf, left) * (math.copysign(1.0, right))
        return left / right
    if op == "%":
        if not both_int:
            raise ExprError(
                f"invalid operation: % (mismatched types {type_name(left)} and {type_name(right)})",
                col,
            )
        if right == 0:
            raise ExprError("integer divide by zero", col)
        # Go's remainder: exact on any int64, with the sign of the dividend
        remainder = abs(left) % abs(right)
        return -remainder if left < 0 else remainder
    # ** and ^: math.Pow
    try:
        return math.pow(left, right)
    except OverflowError:
        return math.inf
    except ValueError:
        return math.nan


def _time_arithmetic(op: str, left: Any, right: Any, col: int) -> Any:
    if op == "-" and isinstance(left, Time) and isinstance(right, Time):
        return Duration(left.nanoseconds - right.nanoseconds)
    if op in ("+", "-") and isinstance(left, Time) and isinstance(right, Duration):
        sign = 1 if op == "+" else -1
        return Time(left.nanoseconds + sign * right.nanoseconds)
    if op == "+" and isinstance(left, Duration) and isinstance(right, Time):
        return Time(right.nanoseconds + left.nanoseconds)
    if op in ("+", "-") and isinstance(left, Duration) and isinstance(right, Duration):
        sign = 1 if op == "+" else -1
        return Duration(wrap(left.nanoseconds + sign * right.nanoseconds))
    raise ExprError(
        f"invalid operation: {op} (mismatched types {type_name(left)} and {type_name(right)})",
        col,
    )
