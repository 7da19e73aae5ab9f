"""A safe evaluator for the part of expr-lang (github.com/expr-lang/expr) that Argo CD's
notification triggers use in ``when`` and ``oncePer``.

The text is tokenized and parsed (Pratt, with expr's precedences) into a frozen tree, checked at
compile time (only known functions and methods; bounded length and depth), and evaluated over
plain JSON data (dict, list, str, int, float, bool, None) by walking the tree with a step budget.
See docs/notifications.md.

The modules, in the order a text meets them: ``tokens`` (the tokenizer), ``parser`` (the Pratt
parser and expr's precedence table) building ``nodes`` (the frozen tree), ``expression`` (the
entry points ``compile_expr`` and ``Expression``), ``evaluate`` (the tree walker and its step
budget), which applies ``values`` (expr's type rules, comparisons, arithmetic and printing),
``builtins`` (expr's functions and Argo CD's namespaces), ``gotime`` (Go's times and durations)
and ``re2`` (the linear-time matcher of ``matches``). ``limits`` holds every bound and
``errors`` the one error, ``ExprError``.

Importing the package loads none of them: a name taken from the package loads its module then
(PEP 562), so code that needs only ``re2`` or ``errors`` (Flux's Alert checks, at every
controller start) does not load the evaluator.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tether.notify.expr.errors import ExprError
    from tether.notify.expr.expression import Expression, compile_expr
    from tether.notify.expr.gotime import Duration, Time, parse_duration, parse_rfc3339
    from tether.notify.expr.limits import (
        MAX_DEPTH,
        MAX_LENGTH,
        MAX_MATCH_INPUT,
        MAX_REGEX_LENGTH,
        MAX_REGEX_PROGRAM,
        MAX_REGEX_WORK,
        MAX_STEPS,
        MAX_STRING,
    )
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

#: where each name of the package lives (loaded when first asked for)
_HOMES = {
    "ArrayLiteral": "tether.notify.expr.nodes",
    "Binary": "tether.notify.expr.nodes",
    "Call": "tether.notify.expr.nodes",
    "Chain": "tether.notify.expr.nodes",
    "Conditional": "tether.notify.expr.nodes",
    "Duration": "tether.notify.expr.gotime",
    "Element": "tether.notify.expr.nodes",
    "ExprError": "tether.notify.expr.errors",
    "Expression": "tether.notify.expr.expression",
    "Literal": "tether.notify.expr.nodes",
    "MAX_DEPTH": "tether.notify.expr.limits",
    "MAX_LENGTH": "tether.notify.expr.limits",
    "MAX_MATCH_INPUT": "tether.notify.expr.limits",
    "MAX_REGEX_LENGTH": "tether.notify.expr.limits",
    "MAX_REGEX_PROGRAM": "tether.notify.expr.limits",
    "MAX_REGEX_WORK": "tether.notify.expr.limits",
    "MAX_STEPS": "tether.notify.expr.limits",
    "MAX_STRING": "tether.notify.expr.limits",
    "MapLiteral": "tether.notify.expr.nodes",
    "Member": "tether.notify.expr.nodes",
    "Method": "tether.notify.expr.nodes",
    "Name": "tether.notify.expr.nodes",
    "Node": "tether.notify.expr.nodes",
    "Predicate": "tether.notify.expr.nodes",
    "Slice": "tether.notify.expr.nodes",
    "Time": "tether.notify.expr.gotime",
    "Unary": "tether.notify.expr.nodes",
    "compile_expr": "tether.notify.expr.expression",
    "parse_duration": "tether.notify.expr.gotime",
    "parse_rfc3339": "tether.notify.expr.gotime",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)


__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "MAX_MATCH_INPUT",
    "MAX_REGEX_LENGTH",
    "MAX_REGEX_PROGRAM",
    "MAX_REGEX_WORK",
    "MAX_STEPS",
    "MAX_STRING",
    "ArrayLiteral",
    "Binary",
    "Call",
    "Chain",
    "Conditional",
    "Duration",
    "Element",
    "ExprError",
    "Expression",
    "Literal",
    "MapLiteral",
    "Member",
    "Method",
    "Name",
    "Node",
    "Predicate",
    "Slice",
    "Time",
    "Unary",
    "compile_expr",
    "parse_duration",
    "parse_rfc3339",
]
