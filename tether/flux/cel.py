"""The part of CEL (Common Expression Language) Flux's ``healthCheckExprs`` and ``readyExpr``
use, evaluated on plain data with bounds.

Syntax: literals (``1``, ``2u``, ``1.5``, ``'s'``/``"s"`` with escapes, ``true``, ``null``),
lists ``[..]`` and maps ``{k: v}``, field selection ``a.b``, indexing ``a[i]``/``a['k']``,
``!``/``-``, ``* / %``, ``+ -``, ``< <= > >= == != in``, ``&&``, ``||``, ``c ? a : b``; the
macros ``has(a.b)``, ``l.all(x, p)``, ``l.exists(x, p)``, ``l.exists_one(x, p)``, ``l.map(x, e)``,
``l.map(x, p, e)``, ``l.filter(x, p)``; the functions ``size``, ``contains``, ``startsWith``,
``endsWith``, ``matches`` (RE2, linear time), ``int``, ``uint``, ``double``, ``string``,
``bool``. As CEL, ``&&`` and ``||`` absorb an error on one side when the other decides, and a
missing field is an error (``has()`` tests for one).

Bounds: an expression of at most 1,024 characters and 32 levels of nesting, at most 100,000
evaluation steps; a parse error or a bound names the position."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tether.notify.expr.errors import ExprError
from tether.notify.expr.re2 import compile_regex

MAX_LENGTH = 1024
MAX_DEPTH = 32
MAX_STEPS = 100_000


class CelError(Exception):
    """An expression that cannot be parsed or evaluated; ``message`` says why and where."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CelSyntaxError(CelError):
    """The expression is not CEL Tether reads."""


# ---- lexer -------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<num>\d+\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|0x[0-9a-fA-F]+u?|\d+u?)
    | (?P<str>[rR]?(?:'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"))
    | (?P<id>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<op>&&|\|\||==|!=|<=|>=|[-+*/%<>!?:.,()\[\]{}])
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"true": True, "false": False, "null": None}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "a": "\a",
            "b": "\b", "f": "\f", "v": "\v", "`": "`", "?": "?"}  # fmt: skip


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    pos: int


def _tokens(text: str) -> list[_Tok]:
    found, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise CelSyntaxError(f"unexpected character {text[pos:].lstrip()[:1]!r} at {pos + 1}")
        kind = match.lastgroup or ""
        found.append(_Tok(kind, match.group(kind), match.start(kind)))
        pos = match.end()
    found.append(_Tok("end", "", len(text)))
    return found


def _string(token: str, pos: int) -> str:
    raw = token[0] in "rR"
    body = token[2:-1] if raw else token[1:-1]
    if raw:
        return body
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1] if i + 1 < len(body) else ""
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt in "uU" or nxt == "x":
            width = {"u": 4, "U": 8, "x": 2}[nxt]
            digits = body[i + 2 : i + 2 + width]
            if len(digits) != width or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise CelSyntaxError(f"invalid escape at {pos + i + 1}")
            out.append(chr(int(digits, 16)))
            i += 2 + width
        else:
            raise CelSyntaxError(f"invalid escape '\\{nxt}' at {pos + i + 1}")
    return "".join(out)


# ---- parser: an expression becomes nested tuples ---------------------------------------------

Node = tuple[Any, ...]
_MACROS = {"all", "exists", "exists_one", "map", "filter"}


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0
        self.depth = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self, text: str | None = None) -> _Tok:
        tok = self.toks[self.i]
        if text is not None and tok.text != text:
            shown = tok.text or "the end"
            raise CelSyntaxError(f"expected '{text}' at {tok.pos + 1}, found {shown!r}")
        self.i += 1
        return tok

    def at(self, *texts: str) -> bool:
        tok = self.peek()
        return (tok.kind == "op" and tok.text in texts) or (tok.kind == "id" and tok.text in texts)

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise CelSyntaxError(f"nested more than {MAX_DEPTH} levels deep")

    def parse(self) -> Node:
        node = self.expr()
        if self.peek().kind != "end":
            tok = self.peek()
            raise CelSyntaxError(f"unexpected {tok.text!r} at {tok.pos + 1}")
        return node

    def expr(self) -> Node:
        self.nest()
        cond = self.binary(0)
        if self.at("?"):
            self.take("?")
            yes = self.expr()
            self.take(":")
            no = self.expr()
            cond = ("cond", cond, yes, no)
        self.depth -= 1
        return cond

    _LEVELS = (
        ("||",),
        ("&&",),
        ("<", "<=", ">", ">=", "==", "!=", "in"),
        ("+", "-"),
        ("*", "/", "%"),
    )

    def binary(self, level: int) -> Node:
        if level == len(self._LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while self.at(*self._LEVELS[level]):
            op = self.take().text
            right = self.binary(level + 1)
            left = (op, left, right)
        return left

    def unary(self) -> Node:
        if self.at("!", "-"):
            op = self.take().text
            self.nest()
            operand = self.unary()
            self.depth -= 1
            return ("neg" if op == "-" else "not", operand)
        return self.member(self.primary())

    def member(self, node: Node) -> Node:
        while True:
            if self.at("."):
                self.take(".")
                name = self.take()
                if name.kind != "id":
                    raise CelSyntaxError(f"expected a field name at {name.pos + 1}")
                if self.at("("):
                    node = self.call(name, node)
                else:
                    node = ("select", node, name.text)
            elif self.at("["):
                self.take("[")
                index = self.expr()
                self.take("]")
                node = ("index", node, index)
            else:
                return node

    def args(self) -> list[Node]:
        self.take("(")
        found = []
        if not self.at(")"):
            found.append(self.expr())
            while self.at(","):
                self.take(",")
                found.append(self.expr())
        self.take(")")
        return found

    def call(self, name: _Tok, target: Node | None) -> Node:
        if target is not None and name.text in _MACROS:
            args = self.args()
            var = args[0] if args else None
            if (
                not args
                or var is None
                or var[0] != "ident"
                or len(args) not in (2, 3)
                or (len(args) == 3 and name.text != "map")
            ):
                raise CelSyntaxError(f"{name.text}() at {name.pos + 1} takes a variable and an "
                                     "expression")  # fmt: skip
            return ("macro", name.text, target, var[1], *args[1:])
        if target is None and name.text == "has":
            args = self.args()
            if len(args) != 1 or args[0][0] != "select":
                raise CelSyntaxError(f"has() at {name.pos + 1} takes a field selection (a.b)")
            return ("has", args[0][1], args[0][2])
        return ("call", name.text, target, self.args(), name.pos)

    def primary(self) -> Node:
        tok = self.peek()
        if tok.kind == "num":
            self.take()
            return ("lit", _number(tok.text, tok.pos))
        if tok.kind == "str":
            self.take()
            return ("lit", _string(tok.text, tok.pos))
        if tok.kind == "id":
            self.take()
            if tok.text in _KEYWORDS:
                return ("lit", _KEYWORDS[tok.text])
            if self.at("("):
                return self.call(tok, None)
            return ("ident", tok.text)
        if self.at("("):
            self.take("(")
            node = self.expr()
            self.take(")")
            return node
        if self.at("["):
            self.take("[")
            items = []
            if not self.at("]"):
                items.append(self.expr())
                while self.at(","):
                    self.take(",")
                    if self.at("]"):
                        break
                    items.append(self.expr())
            self.take("]")
            return ("list", items)
        if self.at("{"):
            self.take("{")
            pairs = []
            if not self.at("}"):
                while True:
                    key = self.expr()
                    self.take(":")
                    pairs.append((key, self.expr()))
                    if not self.at(","):
                        break
                    self.take(",")
                    if self.at("}"):
                        break
            self.take("}")
            return ("map", pairs)
        shown = tok.text or "the end"
        raise CelSyntaxError(f"unexpected {shown!r} at {tok.pos + 1}")


def _number(text: str, pos: int) -> Any:
    if "." in text or ("e" in text.lower() and not text.lower().startswith("0x")):
        return float(text)
    unsigned = text.endswith("u")
    value = int(text.rstrip("u"), 16 if text.lower().startswith("0x") else 10)
    if value > (2**64 - 1 if unsigned else 2**63 - 1):
        raise CelSyntaxError(f"integer {text} out of range at {pos + 1}")
    return value


@dataclass(frozen=True)
class Program:
    """A parsed expression; :meth:`evaluate` it on a variables map."""

    text: str
    node: Node

    def evaluate(self, variables: Mapping[str, Any]) -> Any:
        return _Evaluator(variables).run(self.node)


def compile_expr(text: str) -> Program:
    """Parse ``text``; :class:`CelSyntaxError` names what is wrong and where."""
    if len(text) > MAX_LENGTH:
        raise CelSyntaxError(f"longer than {MAX_LENGTH} characters")
    if not text.strip():
        raise CelSyntaxError("empty expression")
    return Program(text, _Parser(text).parse())


# ---- evaluation --------------------------------------------------------------------------------


class _Error:
    """An error carried as a value, so ``&&``/``||`` may absorb it."""

    def __init__(self, message: str) -> None:
        self.message = message


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    return {int: "int", float: "double", str: "string", bytes: "bytes", list: "list",
            dict: "map", type(None): "null_type"}.get(type(value), type(value).__name__)  # fmt: skip


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return bool(a == b)


class _Evaluator:
    def __init__(self, variables: Mapping[str, Any]) -> None:
        self.scope: dict[str, Any] = dict(variables)
        self.steps = 0

    def run(self, node: Node) -> Any:
        value = self.eval(node)
        if isinstance(value, _Error):
            raise CelError(value.message)
        return value

    def eval(self, node: Node) -> Any:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise CelError(f"evaluation took more than {MAX_STEPS} steps")
        handler: Callable[[Node], Any] = getattr(self, f"_{_NAMES.get(node[0], node[0])}")
        return handler(node)

    def _strict(self, node: Node) -> Any:
        value = self.eval(node)
        if isinstance(value, _Error):
            raise _Raise(value)
        return value

    def _lit(self, node: Node) -> Any:
        return node[1]

    def _ident(self, node: Node) -> Any:
        if node[1] not in self.scope:
            return _Error(f"undeclared reference to '{node[1]}'")
        return self.scope[node[1]]

    def _list(self, node: Node) -> Any:
        try:
            return [self._strict(item) for item in node[1]]
        except _Raise as err:
            return err.error

    def _map(self, node: Node) -> Any:
        try:
            return {self._strict(k): self._strict(v) for k, v in node[1]}
        except _Raise as err:
            return err.error
        except TypeError:
            return _Error("unsupported map key type")

    def _select(self, node: Node) -> Any:
        target = self.eval(node[1])
        if isinstance(target, _Error):
            return target
        if not isinstance(target, dict):
            return _Error(f"no such key: '{node[2]}' (on a {_type_name(target)})")
        if node[2] not in target:
            return _Error(f"no such key: '{node[2]}'")
        return target[node[2]]

    def _has(self, node: Node) -> Any:
        target = self.eval(node[1])
        if isinstance(target, _Error):
            return target
        if not isinstance(target, dict):
            return _Error(f"has() on a {_type_name(target)}")
        return node[2] in target

    def _index(self, node: Node) -> Any:
        try:
            target, key = self._strict(node[1]), self._strict(node[2])
        except _Raise as err:
            return err.error
        if isinstance(target, list):
            if isinstance(key, bool) or not isinstance(key, int | float) or key != int(key):
                return _Error("a list index must be an int")
            if not 0 <= int(key) < len(target):
                return _Error(f"index out of range: {int(key)}")
            return target[int(key)]
        if isinstance(target, dict):
            if key not in target:
                return _Error(f"no such key: {key!r}")
            return target[key]
        return _Error(f"cannot index a {_type_name(target)}")

    def _cond(self, node: Node) -> Any:
        cond = self.eval(node[1])
        if isinstance(cond, _Error):
            return cond
        if not isinstance(cond, bool):
            return _Error("a condition must be a bool")
        return self.eval(node[2] if cond else node[3])

    def _not(self, node: Node) -> Any:
        value = self.eval(node[1])
        if isinstance(value, _Error):
            return value
        return not value if isinstance(value, bool) else _Error("'!' takes a bool")

    def _neg(self, node: Node) -> Any:
        value = self.eval(node[1])
        if isinstance(value, _Error):
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            return _Error("'-' takes a number")
        return -value

    def _logic(self, node: Node) -> Any:
        decisive = node[0] == "||"  # the value that decides alone
        left = self.eval(node[1])
        if left is decisive:
            return decisive
        right = self.eval(node[2])
        if right is decisive:
            return decisive
        for side in (left, right):
            if isinstance(side, _Error):
                return side
            if not isinstance(side, bool):
                return _Error(f"'{node[0]}' takes bools")
        return not decisive

    def _binary(self, node: Node) -> Any:
        op = node[0]
        try:
            a, b = self._strict(node[1]), self._strict(node[2])
        except _Raise as err:
            return err.error
        if op == "==":
            return _equal(a, b)
        if op == "!=":
            return not _equal(a, b)
        if op == "in":
            if isinstance(b, list):
                return any(_equal(a, item) for item in b)
            if isinstance(b, dict):
                return a in b
            return _Error(f"'in' takes a list or a map, not a {_type_name(b)}")
        return _arith(op, a, b)

    def _macro(self, node: Node) -> Any:
        kind, target_node, var = node[1], node[2], node[3]
        target = self.eval(target_node)
        if isinstance(target, _Error):
            return target
        if isinstance(target, dict):
            items = list(target)
        elif isinstance(target, list):
            items = target
        else:
            return _Error(f"{kind}() on a {_type_name(target)}")
        saved, had = self.scope.get(var), var in self.scope
        try:
            return self._iterate(kind, items, var, node[4:])
        finally:
            if had:
                self.scope[var] = saved
            else:
                self.scope.pop(var, None)

    def _iterate(self, kind: str, items: list[Any], var: str, exprs: tuple[Node, ...]) -> Any:
        results: list[Any] = []
        error: _Error | None = None
        count = 0
        for item in items:
            self.scope[var] = item
            value = self.eval(exprs[0])
            if kind == "map" and len(exprs) == 1:
                if isinstance(value, _Error):
                    return value
                results.append(value)
                continue
            if isinstance(value, _Error):
                if kind in ("all", "exists"):
                    error = error or value
                    continue
                return value
            if not isinstance(value, bool):
                return _Error(f"{kind}() needs a bool predicate")
            if kind == "all" and not value:
                return False
            if kind == "exists" and value:
                return True
            if kind == "exists_one":
                count += value
            elif kind == "filter" and value:
                results.append(item)
            elif kind == "map" and value:
                mapped = self.eval(exprs[1])
                if isinstance(mapped, _Error):
                    return mapped
                results.append(mapped)
        if error is not None:
            return error
        return {"all": True, "exists": False, "exists_one": count == 1}.get(kind, results)

    def _call(self, node: Node) -> Any:
        name, target_node, arg_nodes, pos = node[1], node[2], node[3], node[4]
        try:
            target = self._strict(target_node) if target_node is not None else None
            args = [self._strict(a) for a in arg_nodes]
        except _Raise as err:
            return err.error
        if target_node is not None:
            args = [target, *args]
        function = _FUNCTIONS.get(name)
        if function is None:
            return _Error(f"undeclared function '{name}' at {pos + 1}")
        try:
            return function(*args)
        except TypeError:
            return _Error(f"no matching overload for '{name}' at {pos + 1}")
        except (ValueError, OverflowError) as exc:
            return _Error(f"{name}: {exc}")


class _Raise(Exception):
    def __init__(self, error: _Error) -> None:
        self.error = error


_NAMES = {"&&": "logic", "||": "logic", **dict.fromkeys(
    ("==", "!=", "<", "<=", ">", ">=", "in", "+", "-", "*", "/", "%"), "binary")}  # fmt: skip


def _arith(op: str, a: Any, b: Any) -> Any:
    numbers = all(isinstance(x, int | float) and not isinstance(x, bool) for x in (a, b))
    if op in ("<", "<=", ">", ">="):
        if not (numbers or (type(a) is type(b) and isinstance(a, str | bytes))):
            return _Error(f"no matching overload for '{op}' on {_type_name(a)}, {_type_name(b)}")
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
    if op == "+" and not numbers:
        if type(a) is type(b) and isinstance(a, str | bytes | list):
            if len(a) + len(b) > 1_000_000:
                return _Error("'+' would make a value larger than 1,000,000")
            return a + b
        return _Error(f"no matching overload for '+' on {_type_name(a)}, {_type_name(b)}")
    if not numbers:
        return _Error(f"no matching overload for '{op}' on {_type_name(a)}, {_type_name(b)}")
    if op in ("/", "%") and b == 0 and isinstance(b, int):
        return _Error("division by zero" if op == "/" else "modulus by zero")
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return a / b if isinstance(a, float) or isinstance(b, float) else int(a / b)
    return a % b if isinstance(a, float) or isinstance(b, float) else a - b * int(a / b)


def _size(value: Any) -> int:
    if isinstance(value, str | bytes | list | dict):
        return len(value)
    raise TypeError


def _strings(function: Callable[[str, str], bool]) -> Callable[[Any, Any], bool]:
    def call(a: Any, b: Any) -> bool:
        if not isinstance(a, str) or not isinstance(b, str):
            raise TypeError
        return function(a, b)

    return call


def _matches(text: Any, pattern: Any) -> bool:
    if not isinstance(text, str) or not isinstance(pattern, str):
        raise TypeError
    try:
        return compile_regex(pattern, 0).search(text, 0)
    except ExprError as exc:
        raise ValueError(str(exc)) from None


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError
    return int(value)


def _double(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError
    return float(value)


def _string_of(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    if isinstance(value, bytes):
        return value.decode()
    raise TypeError


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    raise TypeError


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "size": _size,
    "contains": _strings(lambda a, b: b in a),
    "startsWith": _strings(lambda a, b: a.startswith(b)),
    "endsWith": _strings(lambda a, b: a.endswith(b)),
    "matches": _matches,
    "int": _int,
    "uint": _int,
    "double": _double,
    "string": _string_of,
    "bool": _bool,
}
