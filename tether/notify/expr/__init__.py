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
"""

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
