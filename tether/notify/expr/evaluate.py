"""The evaluator: walks a compiled tree over plain JSON data (dict, list, str, int, float, bool,
None) with a step budget. Nothing is ever looked up on a Python object: a ``.name`` is a dict
key, a ``.Method()`` one of the few Go methods Argo CD's conditions call on times and durations.

Semantics followed from expr: a missing map key is nil; ``.name`` or ``[i]`` on nil is an error
unless the access is ``?.`` (which makes the rest of the chain nil); ``==`` across types is
false; ``<`` across types is an error; ``/`` gives a float; ``%`` takes ints only; ``and``,
``or``, ``not`` and ``? :`` take booleans only. See docs/notifications.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from tether.notify.expr.builtins import FUNCTIONS
from tether.notify.expr.errors import ExprError
from tether.notify.expr.gotime import GO_ZERO_TIME, Duration, Time, go_float_div
from tether.notify.expr.limits import MAX_STEPS, MAX_STRING
from tether.notify.expr.nodes import (
    ArrayLiteral,
    Binary,
    Call,
    Chain,
    Conditional,
    Element,
    Literal,
    MapLiteral,
    Member,
    Method,
    Name,
    Node,
    Predicate,
    Slice,
    Unary,
)
from tether.notify.expr.re2 import compile_regex
from tether.notify.expr.values import (
    arithmetic,
    compare,
    equal,
    go_format,
    is_number,
    size,
    type_name,
    wrap,
)


class NilChain(Exception):
    """A ``?.`` met nil: the enclosing chain is nil."""


class Evaluation:
    def __init__(self, env: Mapping[str, Any], now: Callable[[], datetime]) -> None:
        self.env = env
        self.now: Callable[[], datetime] = now
        self.steps = 0
        self.elements: list[tuple[Any, int]] = []

    def charge(self, steps: int, col: int) -> None:
        self.steps += steps
        if self.steps > MAX_STEPS:
            raise ExprError(f"evaluation took more than {MAX_STEPS} steps", col)

    def eval(self, node: Node) -> Any:
        self.charge(1, node.col)
        return _EVALUATORS[type(node)](self, node)

    def boolean(self, node: Node, what: str) -> bool:
        value = self.eval(node)
        if not isinstance(value, bool):
            raise ExprError(f"{what} needs a bool, not {type_name(value)}", node.col)
        return value

    def string(self, value: Any, what: str, col: int) -> str:
        if not isinstance(value, str):
            raise ExprError(f"{what} needs a string, not {type_name(value)}", col)
        return value

    def bounded(self, value: str, col: int) -> str:
        if len(value) > MAX_STRING:
            raise ExprError(f"string longer than {MAX_STRING} characters", col)
        return value

    # node kinds

    def literal(self, node: Literal) -> Any:
        return node.value

    def name(self, node: Name) -> Any:
        return self.env.get(node.name)

    def element(self, node: Element) -> Any:
        value, index = self.elements[-1]
        return index if node.index else value

    def member(self, node: Member) -> Any:
        obj = self.eval(node.obj)
        key = self.eval(node.key)
        if obj is None:
            if node.optional:
                raise NilChain
            raise ExprError(f"cannot fetch {go_format(key)!r} from nil", node.col)
        if isinstance(obj, Mapping):
            if not isinstance(key, str):
                raise ExprError(f"a map key must be a string, not {type_name(key)}", node.col)
            return obj.get(key)
        if isinstance(obj, list | tuple | str):
            if not isinstance(key, int) or isinstance(key, bool):
                what = f"{go_format(key)!r}" if isinstance(key, str) else type_name(key)
                raise ExprError(f"cannot fetch {what} from {type_name(obj)}", node.col)
            index = key + len(obj) if key < 0 else key
            if not 0 <= index < len(obj):
                raise ExprError(f"index {key} out of range (length {len(obj)})", node.col)
            return obj[index]
        raise ExprError(f"cannot fetch {go_format(key)!r} from {type_name(obj)}", node.col)

    def slice(self, node: Slice) -> Any:
        obj = self.eval(node.obj)
        if not isinstance(obj, list | tuple | str):
            raise ExprError(f"cannot slice {type_name(obj)}", node.col)
        bounds = []
        for part, default in ((node.low, 0), (node.high, len(obj))):
            value = default if part is None else self.eval(part)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ExprError(f"a slice bound must be an int, not {type_name(value)}", node.col)
            bounds.append(value)
        return obj[bounds[0] : bounds[1]]

    def chain(self, node: Chain) -> Any:
        try:
            return self.eval(node.inner)
        except NilChain:
            return None

    def unary(self, node: Unary) -> Any:
        if node.op in ("not", "!"):
            return not self.boolean(node.operand, f"'{node.op}'")
        value = self.eval(node.operand)
        if isinstance(value, Duration) and node.op == "-":
            return Duration(-value.nanoseconds)
        if not is_number(value):
            raise ExprError(f"unary '{node.op}' needs a number, not {type_name(value)}", node.col)
        if node.op == "+":
            return value
        return wrap(-value) if isinstance(value, int) else -value

    def binary(self, node: Binary) -> Any:
        op = node.op
        if op in ("and", "&&", "or", "||"):
            left = self.boolean(node.left, f"'{op}'")
            if left == (op in ("or", "||")):
                return left
            return self.boolean(node.right, f"'{op}'")
        if op == "??":
            left = self.eval(node.left)
            return self.eval(node.right) if left is None else left
        left = self.eval(node.left)
        right = self.eval(node.right)
        result = self.operate(node, op, left, right)
        return (not result) if node.negate else result

    def operate(self, node: Node, op: str, left: Any, right: Any) -> Any:
        col = node.col
        if op == "==":
            self.charge(size(left) + size(right), col)
            return equal(left, right)
        if op == "!=":
            self.charge(size(left) + size(right), col)
            return not equal(left, right)
        if op in ("<", ">", "<=", ">="):
            return compare(op, left, right, col)
        if op == "in":
            return self.contained(left, right, col)
        if op in ("contains", "startsWith", "endsWith"):
            text = self.string(left, f"'{op}'", col)
            part = self.string(right, f"'{op}'", col)
            if op == "contains":
                return part in text
            return text.startswith(part) if op == "startsWith" else text.endswith(part)
        if op == "matches":
            text = self.string(left, "'matches'", col)
            regex = node.regex if isinstance(node, Binary) and node.regex else None
            if regex is None:
                regex = compile_regex(self.string(right, "'matches'", col), col)
            return regex.search(text, col)
        return arithmetic(op, left, right, col)

    def contained(self, needle: Any, haystack: Any, col: int) -> bool:
        if haystack is None:
            return False
        if isinstance(haystack, Mapping):
            return isinstance(needle, str) and needle in haystack
        if isinstance(haystack, list | tuple):
            self.charge(len(haystack), col)
            return any(equal(needle, item) for item in haystack)
        raise ExprError(f"'in' needs an array or a map, not {type_name(haystack)}", col)

    def conditional(self, node: Conditional) -> Any:
        if self.boolean(node.test, "'? :'"):
            return self.eval(node.then)
        return self.eval(node.otherwise)

    def array(self, node: ArrayLiteral) -> Any:
        return [self.eval(item) for item in node.items]

    def mapping(self, node: MapLiteral) -> Any:
        out: dict[str, Any] = {}
        for key_node, value_node in node.pairs:
            key = self.eval(key_node)
            out[go_format(key) if not isinstance(key, str) else key] = self.eval(value_node)
        return out

    def predicate(self, node: Predicate) -> Any:
        subject = self.eval(node.subject)
        if subject is None:
            subject = []
        if isinstance(subject, Mapping):
            subject = list(subject.values())
        if not isinstance(subject, list | tuple):
            raise ExprError(
                f"{node.function}() needs an array, not {type_name(subject)}", node.subject.col
            )
        fn = node.function
        matched = 0
        results = []
        for index, item in enumerate(subject):
            self.elements.append((item, index))
            try:
                value = self.eval(node.body)
            finally:
                self.elements.pop()
            if fn == "map":
                results.append(value)
                continue
            if not isinstance(value, bool):
                raise ExprError(f"the predicate of {fn}() gave {type_name(value)}", node.body.col)
            if value:
                matched += 1
                if fn == "any":
                    return True
                if fn == "none":
                    return False
                if fn in ("find", "findIndex"):
                    return item if fn == "find" else index
                if fn == "filter":
                    results.append(item)
                if fn == "findLast":
                    results = [item]
            elif fn == "all":
                return False
        answers: dict[str, Any] = {
            "all": True,
            "any": False,
            "none": True,
            "one": matched == 1,
            "count": matched,
            "find": None,
            "findIndex": -1,
            "findLast": results[0] if results else None,
        }
        return results if fn in ("map", "filter") else answers[fn]

    def method(self, node: Method) -> Any:
        obj = self.eval(node.obj)
        if obj is None and node.optional:
            raise NilChain
        args = [self.eval(arg) for arg in node.args]
        name = node.method
        if isinstance(obj, Time):
            if name in ("Sub", "Before", "After", "Equal"):
                other = args[0]
                if not isinstance(other, Time):
                    raise ExprError(f"{name}() needs a time, not {type_name(other)}", node.col)
                if name == "Sub":
                    return Duration(obj.nanoseconds - other.nanoseconds)
                if name == "Before":
                    return obj.nanoseconds < other.nanoseconds
                if name == "After":
                    return obj.nanoseconds > other.nanoseconds
                return obj.nanoseconds == other.nanoseconds
            if name == "Add":
                if not isinstance(args[0], Duration):
                    raise ExprError(f"Add() needs a duration, not {type_name(args[0])}", node.col)
                return Time(obj.nanoseconds + args[0].nanoseconds)
            if name == "Unix":
                return obj.nanoseconds // 1_000_000_000
            if name == "UnixMilli":
                return obj.nanoseconds // 1_000_000
            if name == "IsZero":
                return obj.nanoseconds == GO_ZERO_TIME
            if name == "UTC":
                return obj
        if isinstance(obj, Duration):
            ns = obj.nanoseconds
            units = {"Hours": 3_600_000_000_000, "Minutes": 60_000_000_000}
            if name in units:
                return go_float_div(ns, units[name])
            if name == "Seconds":
                return go_float_div(ns, 1_000_000_000)
            if name == "Milliseconds":
                whole = abs(ns) // 1_000_000  # Go truncates toward zero
                return -whole if ns < 0 else whole
            if name == "Nanoseconds":
                return ns
        raise ExprError(f"{type_name(obj)} has no method {name}()", node.col)

    def call(self, node: Call) -> Any:
        args = [self.eval(arg) for arg in node.args]
        try:
            return FUNCTIONS[node.function](self, args, node.col)
        except (ValueError, OverflowError) as exc:
            raise ExprError(f"{node.function}(): {exc}", node.col) from None


_EVALUATORS: dict[type, Callable[[Evaluation, Any], Any]] = {
    Literal: Evaluation.literal,
    Name: Evaluation.name,
    Element: Evaluation.element,
    Member: Evaluation.member,
    Slice: Evaluation.slice,
    Chain: Evaluation.chain,
    Unary: Evaluation.unary,
    Binary: Evaluation.binary,
    Conditional: Evaluation.conditional,
    ArrayLiteral: Evaluation.array,
    MapLiteral: Evaluation.mapping,
    Predicate: Evaluation.predicate,
    Method: Evaluation.method,
    Call: Evaluation.call,
}
