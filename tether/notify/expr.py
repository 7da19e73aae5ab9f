"""A safe evaluator for the part of expr-lang (github.com/expr-lang/expr) that Argo CD's
notification triggers use in ``when`` and ``oncePer``.

The text is tokenized and parsed (Pratt, with expr's precedences) into a frozen tree, checked at
compile time (only known functions and methods; bounded length and depth), and evaluated over
plain JSON data (dict, list, str, int, float, bool, None) by walking the tree with a step budget.
Nothing is ever looked up on a Python object: a ``.name`` is a dict key, a ``.Method()`` one of
the few Go methods Argo CD's conditions call on times and durations. ``matches`` runs its own
linear-time matcher (RE2 syntax, no backtracking), so no pattern can take exponential time.

Semantics followed from expr: a missing map key is nil; ``.name`` or ``[i]`` on nil is an error
unless the access is ``?.`` (which makes the rest of the chain nil); ``==`` across types is
false; ``<`` across types is an error; ``/`` gives a float; ``%`` takes ints only; ``and``,
``or``, ``not`` and ``? :`` take booleans only. See docs/expr-draft.md.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tether.errors import TetherError

#: bounds on what one expression may ask for
MAX_LENGTH = 4096
MAX_DEPTH = 64
MAX_STEPS = 100_000
MAX_STRING = 1024 * 1024
MAX_MATCH_INPUT = 64 * 1024
MAX_REGEX_LENGTH = 1024
MAX_REGEX_PROGRAM = 4000
MAX_REGEX_WORK = 2_000_000

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1


class ExprError(TetherError):
    """An expression that cannot be compiled (refused or malformed) or failed to evaluate."""

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(message if column is None else f"{message} at column {column}")
        self.column = column


# --- values beyond JSON: Go's time.Time and time.Duration ---------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class Time:
    """An instant, as nanoseconds since the Unix epoch (UTC), like Go's ``time.Time``."""

    nanoseconds: int

    @classmethod
    def from_datetime(cls, value: datetime) -> Time:
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        delta = value - datetime(1970, 1, 1, tzinfo=UTC)
        return cls(delta // timedelta(microseconds=1) * 1000)

    def to_datetime(self) -> datetime:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=self.nanoseconds // 1000)

    def __str__(self) -> str:
        return self.to_datetime().isoformat()


@dataclass(frozen=True, slots=True, order=True)
class Duration:
    """A span of time in nanoseconds, like Go's ``time.Duration``."""

    nanoseconds: int

    def __str__(self) -> str:
        return f"{self.nanoseconds / 1e9:g}s"


# --- tokens ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "num", "str", "name", "op", "eof"
    value: Any
    col: int


_WORD_OPS = frozenset({"and", "or", "not", "in", "matches", "contains", "startsWith", "endsWith"})
_SYMBOLS = (
    "?.",
    "??",
    "==",
    "!=",
    "<=",
    ">=",
    "&&",
    "||",
    "**",
    "..",
    "?",
    ":",
    "<",
    ">",
    "!",
    "+",
    "-",
    "*",
    "/",
    "%",
    "^",
    ".",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    "#",
    "|",
    ";",
    "=",
    "$",
)
_NUMBER = re.compile(
    r"0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+"
    r"|(?:[0-9][0-9_]*(?:\.(?!\.)[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9]+)?"
)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DIGITS = "0123456789"
_SIMPLE_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
}


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        col = i + 1
        if c in " \t\r\n":
            i += 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise ExprError("unclosed comment", col)
            i = end + 2
        elif c in "'\"":
            value, i = _read_string(text, i)
            tokens.append(_Token("str", value, col))
        elif c == "`":
            end = text.find("`", i + 1)
            if end < 0:
                raise ExprError("unclosed string", col)
            tokens.append(_Token("str", text[i + 1 : end], col))
            i = end + 1
        elif c in _DIGITS or (c == "." and i + 1 < n and text[i + 1] in _DIGITS):
            m = _NUMBER.match(text, i)
            assert m is not None
            tokens.append(_Token("num", _number(m.group(), col), col))
            i = m.end()
        elif (c.isascii() and c.isalpha()) or c == "_":
            m = _NAME.match(text, i)
            assert m is not None
            word = m.group()
            tokens.append(_Token("op" if word in _WORD_OPS else "name", word, col))
            i = m.end()
        else:
            for symbol in _SYMBOLS:
                if text.startswith(symbol, i):
                    # `a ?.5 : 1` is a ternary over .5, not optional chaining
                    if symbol == "?." and i + 2 < n and text[i + 2] in _DIGITS:
                        continue
                    tokens.append(_Token("op", symbol, col))
                    i += len(symbol)
                    break
            else:
                raise ExprError(f"unexpected character {c!r}", col)
    tokens.append(_Token("eof", None, n + 1))
    return tokens


def _number(text: str, col: int) -> int | float:
    clean = text.replace("_", "")
    try:
        if clean[:2].lower() in ("0x", "0o", "0b"):
            value: int | float = int(clean, 0)
        elif any(ch in clean for ch in ".eE"):
            value = float(clean)
        else:
            value = int(clean, 10)
    except ValueError:
        raise ExprError(f"invalid number {text!r}", col) from None
    if isinstance(value, int) and value > _INT64_MAX:
        raise ExprError(f"integer {text} does not fit in 64 bits", col)
    return value


def _read_string(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    out: list[str] = []
    i = start + 1
    while i < len(text):
        c = text[i]
        if c == quote:
            return "".join(out), i + 1
        if c == "\n":
            break
        if c != "\\":
            out.append(c)
            i += 1
            continue
        esc = text[i + 1 : i + 2]
        if esc in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[esc])
            i += 2
        elif esc in ("x", "u", "U"):
            width = {"x": 2, "u": 4, "U": 8}[esc]
            digits = text[i + 2 : i + 2 + width]
            if len(digits) != width or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise ExprError(f"invalid escape \\{esc} in string", i + 1)
            code = int(digits, 16)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise ExprError(f"invalid code point \\{esc}{digits} in string", i + 1)
            out.append(chr(code))
            i += 2 + width
        elif esc in "01234567" and esc:
            digits = text[i + 1 : i + 4]
            if len(digits) != 3 or not all(d in "01234567" for d in digits) or int(digits, 8) > 255:
                raise ExprError("invalid octal escape in string", i + 1)
            out.append(chr(int(digits, 8)))
            i += 4
        else:
            raise ExprError(f"invalid escape \\{esc} in string", i + 1)
    raise ExprError("unclosed string", start + 1)


# --- the tree ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    """One node of a compiled expression; ``col`` is its 1-based column in the text."""

    col: int
    depth: int = field(default=1, init=False, compare=False, repr=False)

    def children(self) -> tuple[Node, ...]:
        return ()

    def __post_init__(self) -> None:
        depth = 1 + max((child.depth for child in self.children()), default=0)
        if depth > MAX_DEPTH:
            raise ExprError(f"expression nests deeper than {MAX_DEPTH}", self.col)
        object.__setattr__(self, "depth", depth)


@dataclass(frozen=True, slots=True, kw_only=True)
class Literal(Node):
    value: Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Name(Node):
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Element(Node):
    """``#`` in a predicate: the element at hand (``#index``: its index)."""

    index: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Member(Node):
    """``obj.name``, ``obj?.name``, ``obj[key]``, ``obj?.[key]``."""

    obj: Node
    key: Node
    optional: bool

    def children(self) -> tuple[Node, ...]:
        return (self.obj, self.key)


@dataclass(frozen=True, slots=True, kw_only=True)
class Slice(Node):
    obj: Node
    low: Node | None
    high: Node | None

    def children(self) -> tuple[Node, ...]:
        return tuple(n for n in (self.obj, self.low, self.high) if n is not None)


@dataclass(frozen=True, slots=True, kw_only=True)
class Chain(Node):
    """The end of a member chain holding a ``?.``: a nil met there makes the whole chain nil."""

    inner: Node

    def children(self) -> tuple[Node, ...]:
        return (self.inner,)


@dataclass(frozen=True, slots=True, kw_only=True)
class Call(Node):
    """A function: a builtin (``len``) or one of Argo CD's (``time.Now``)."""

    function: str
    args: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.args


@dataclass(frozen=True, slots=True, kw_only=True)
class Predicate(Node):
    """``all(list, pred)`` and its kin: ``pred`` is evaluated with ``#`` bound to each element."""

    function: str
    subject: Node
    body: Node

    def children(self) -> tuple[Node, ...]:
        return (self.subject, self.body)


@dataclass(frozen=True, slots=True, kw_only=True)
class Method(Node):
    """``value.Sub(other)``: a method of a time or a duration."""

    obj: Node
    method: str
    args: tuple[Node, ...]
    optional: bool = False

    def children(self) -> tuple[Node, ...]:
        return (self.obj, *self.args)


@dataclass(frozen=True, slots=True, kw_only=True)
class Unary(Node):
    op: str
    operand: Node

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


@dataclass(frozen=True, slots=True, kw_only=True)
class Binary(Node):
    op: str
    left: Node
    right: Node
    negate: bool = False  # `not in`, `not matches`, ...
    regex: _Regex | None = None  # `matches` with a literal pattern, compiled once

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@dataclass(frozen=True, slots=True, kw_only=True)
class Conditional(Node):
    test: Node
    then: Node
    otherwise: Node

    def children(self) -> tuple[Node, ...]:
        return (self.test, self.then, self.otherwise)


@dataclass(frozen=True, slots=True, kw_only=True)
class ArrayLiteral(Node):
    items: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.items


@dataclass(frozen=True, slots=True, kw_only=True)
class MapLiteral(Node):
    pairs: tuple[tuple[Node, Node], ...]

    def children(self) -> tuple[Node, ...]:
        return tuple(n for pair in self.pairs for n in pair)


# --- parsing ----------------------------------------------------------------------------------------

# expr's table (parser/operator): precedence, right-associative
_BINARY: dict[str, tuple[int, bool]] = {
    "or": (10, False),
    "||": (10, False),
    "and": (15, False),
    "&&": (15, False),
    "==": (20, False),
    "!=": (20, False),
    "<": (20, False),
    ">": (20, False),
    "<=": (20, False),
    ">=": (20, False),
    "in": (20, False),
    "matches": (20, False),
    "contains": (20, False),
    "startsWith": (20, False),
    "endsWith": (20, False),
    "+": (30, False),
    "-": (30, False),
    "*": (60, False),
    "/": (60, False),
    "%": (60, False),
    "**": (100, True),
    "^": (100, True),
    "??": (500, False),
}
_UNARY = {"not": 50, "!": 50, "-": 90, "+": 90}
_NEGATABLE = frozenset({"in", "matches", "contains", "startsWith", "endsWith"})
_REFUSED_OPS = {
    "|": "the pipe operator '|'",
    "..": "the range operator '..'",
    ";": "'let' and ';'",
    "=": "assignment '='",
    "$": "'$env'",
}

#: builtin functions: name -> (fewest, most arguments)
_BUILTINS: dict[str, tuple[int, int]] = {
    "len": (1, 1),
    "lower": (1, 1),
    "upper": (1, 1),
    "trim": (1, 2),
    "trimPrefix": (2, 2),
    "trimSuffix": (2, 2),
    "hasPrefix": (2, 2),
    "hasSuffix": (2, 2),
    "split": (2, 3),
    "replace": (3, 3),
    "join": (1, 2),
    "indexOf": (2, 2),
    "keys": (1, 1),
    "values": (1, 1),
    "first": (1, 1),
    "last": (1, 1),
    "abs": (1, 1),
    "min": (1, 32),
    "max": (1, 32),
    "int": (1, 1),
    "float": (1, 1),
    "string": (1, 1),
    "now": (0, 0),
    "duration": (1, 1),
    # Argo CD's functions (argo-cd: util/notification/expression)
    "time.Now": (0, 0),
    "time.Parse": (1, 1),
    "strings.ReplaceAll": (3, 3),
    "strings.ToUpper": (1, 1),
    "strings.ToLower": (1, 1),
    "sync.GetInfoItem": (2, 2),
    "repo.RepoURLToHTTPS": (1, 1),
    "repo.FullNameByRepoURL": (1, 1),
}
_PREDICATES = frozenset(
    {"all", "any", "none", "one", "filter", "map", "count", "find", "findIndex", "findLast"}
)
_NAMESPACES = frozenset({"time", "strings", "sync", "repo"})
_NEEDS_REPO_SERVER = frozenset({"repo.GetCommitMetadata", "repo.GetAppDetails"})
#: Go methods of time.Time and time.Duration: name -> number of arguments
_METHODS: dict[str, int] = {
    "Sub": 1,
    "Add": 1,
    "Before": 1,
    "After": 1,
    "Equal": 1,
    "Unix": 0,
    "UnixMilli": 0,
    "IsZero": 0,
    "UTC": 0,
    "Hours": 0,
    "Minutes": 0,
    "Seconds": 0,
    "Milliseconds": 0,
    "Nanoseconds": 0,
}


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0
        self.closures = 0
        self.nesting = 0

    @property
    def current(self) -> _Token:
        return self.tokens[self.pos]

    def peek(self, offset: int = 1) -> _Token:
        return self.tokens[min(self.pos + offset, len(self.tokens) - 1)]

    def advance(self) -> _Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def is_op(self, value: str, token: _Token | None = None) -> bool:
        token = token or self.current
        return token.kind == "op" and token.value == value

    def expect(self, value: str, what: str) -> _Token:
        if not self.is_op(value):
            raise ExprError(
                f"expected {what}, found {self.describe(self.current)}", self.current.col
            )
        return self.advance()

    @staticmethod
    def describe(token: _Token) -> str:
        if token.kind == "eof":
            return "end of expression"
        if token.kind == "str":
            return "a string"
        return repr(str(token.value))

    def parse(self) -> Node:
        node = self.expression(0)
        if self.current.kind != "eof":
            self.refuse_op(self.current)
            raise ExprError(f"unexpected {self.describe(self.current)}", self.current.col)
        return node

    def refuse_op(self, token: _Token) -> None:
        if token.kind == "op" and token.value in _REFUSED_OPS:
            raise ExprError(f"unsupported: {_REFUSED_OPS[token.value]}", token.col)

    def enter(self, col: int) -> None:
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise ExprError(f"expression nests deeper than {MAX_DEPTH}", col)

    def expression(self, precedence: int) -> Node:
        self.enter(self.current.col)
        left = self.unary()
        while True:
            token = self.current
            if token.kind != "op":
                break
            negate = False
            op = token.value
            if op == "not" and self.peek().kind == "op" and self.peek().value in _NEGATABLE:
                negate, op = True, self.peek().value
            if op not in _BINARY:
                self.refuse_op(token)
                break
            prec, right_assoc = _BINARY[op]
            if prec < precedence:
                break
            self.advance()
            if negate:
                self.advance()
            right = self.expression(prec if right_assoc else prec + 1)
            regex = None
            if op == "matches" and isinstance(right, Literal) and isinstance(right.value, str):
                regex = _compile_regex(right.value, right.col)
            left = Binary(col=token.col, op=op, left=left, right=right, negate=negate, regex=regex)
        if precedence == 0 and self.is_op("?"):
            col = self.advance().col
            then = self.expression(0)
            self.expect(":", "':' of the conditional")
            otherwise = self.expression(0)
            left = Conditional(col=col, test=left, then=then, otherwise=otherwise)
        self.nesting -= 1
        return left

    def unary(self) -> Node:
        token = self.current
        if token.kind == "op" and token.value in _UNARY:
            self.advance()
            operand = self.expression(_UNARY[token.value])
            return self.postfix(Unary(col=token.col, op=token.value, operand=operand))
        return self.postfix(self.primary())

    def primary(self) -> Node:
        token = self.advance()
        if token.kind in ("num", "str"):
            return Literal(col=token.col, value=token.value)
        if token.kind == "name":
            return self.name(token)
        if token.kind == "eof":
            raise ExprError("unexpected end of expression", token.col)
        op = token.value
        if op == "(":
            inner = self.expression(0)
            self.expect(")", "')'")
            return inner
        if op == "[":
            items = self.sequence("]", lambda: self.expression(0))
            return ArrayLiteral(col=token.col, items=tuple(items))
        if op == "{":
            return MapLiteral(col=token.col, pairs=tuple(self.sequence("}", self.map_pair)))
        if op == "#":
            if self.closures == 0:
                raise ExprError("'#' outside a predicate", token.col)
            nxt = self.current
            if nxt.kind == "name" and nxt.col == token.col + 1:
                self.advance()
                if nxt.value != "index":
                    raise ExprError(f"unsupported: '#{nxt.value}'", token.col)
                return Element(col=token.col, index=True)
            return Element(col=token.col)
        if op == "." and self.closures > 0 and self.current.kind == "name":
            # `.name` in a predicate is `#.name`
            name = self.advance()
            return Member(
                col=token.col,
                obj=Element(col=token.col),
                key=Literal(col=name.col, value=self.field(name)),
                optional=False,
            )
        self.refuse_op(token)
        raise ExprError(f"unexpected {self.describe(token)}", token.col)

    def name(self, token: _Token) -> Node:
        word = token.value
        if word in ("true", "false"):
            return Literal(col=token.col, value=word == "true")
        if word == "nil":
            return Literal(col=token.col, value=None)
        if word == "let":
            raise ExprError("unsupported: 'let'", token.col)
        if word in _NAMESPACES:
            if self.is_op(".") and self.peek().kind == "name":
                function = f"{word}.{self.peek().value}"
                self.advance()
                self.advance()
                if not self.is_op("("):
                    raise ExprError(f"unsupported: '{function}' is not called", token.col)
                return self.call(function, token.col)
            raise ExprError(
                f"unsupported: '{word}' is only for calls such as {word}.…()", token.col
            )
        if self.is_op("("):
            return self.call(word, token.col)
        return Name(col=token.col, name=self.field(token))

    @staticmethod
    def field(token: _Token) -> str:
        if token.value.startswith("__"):
            raise ExprError(f"unsupported: name {token.value!r}", token.col)
        return str(token.value)

    def call(self, function: str, col: int) -> Node:
        self.expect("(", "'('")
        if function in _PREDICATES:
            subject = self.expression(0)
            self.expect(",", f"',' and a predicate in {function}()")
            self.closures += 1
            if self.is_op("{"):
                self.advance()
                body = self.expression(0)
                self.expect("}", "'}' closing the predicate")
            else:
                body = self.expression(0)
            self.closures -= 1
            self.expect(")", f"')' closing {function}()")
            return Predicate(col=col, function=function, subject=subject, body=body)
        if function in _NEEDS_REPO_SERVER:
            raise ExprError(f"unsupported: function '{function}' (needs the repo server)", col)
        if function not in _BUILTINS:
            raise ExprError(f"unsupported: function '{function}'", col)
        args = self.sequence(")", lambda: self.expression(0))
        fewest, most = _BUILTINS[function]
        if not fewest <= len(args) <= most:
            want = str(fewest) if fewest == most else f"{fewest} to {most}"
            raise ExprError(f"{function}() takes {want} arguments, not {len(args)}", col)
        return Call(col=col, function=function, args=tuple(args))

    def map_pair(self) -> tuple[Node, Node]:
        token = self.advance()
        if token.kind in ("str", "num"):
            key: Node = Literal(col=token.col, value=token.value)
        elif token.kind == "name":
            key = Literal(col=token.col, value=self.field(token))
        elif self.is_op("(", token):
            key = self.expression(0)
            self.expect(")", "')'")
        else:
            raise ExprError(f"expected a map key, found {self.describe(token)}", token.col)
        self.expect(":", "':' after a map key")
        return key, self.expression(0)

    def sequence(self, close: str, item: Callable[[], Any]) -> list[Any]:
        items: list[Any] = []
        while not self.is_op(close):
            items.append(item())
            if not self.is_op(close):
                self.expect(",", f"',' or '{close}'")
        self.advance()
        return items

    def postfix(self, node: Node) -> Node:
        chained = False
        while True:
            token = self.current
            if self.is_op(".") or self.is_op("?."):
                optional = token.value == "?."
                self.advance()
                if optional and self.is_op("["):
                    self.advance()
                    key = self.expression(0)
                    self.expect("]", "']'")
                    node = Member(col=token.col, obj=node, key=key, optional=True)
                    chained = True
                    continue
                name = self.current
                if name.kind not in ("name", "op") or not _NAME.fullmatch(str(name.value)):
                    raise ExprError(f"expected a name after '{token.value}'", name.col)
                self.advance()
                chained = chained or optional
                if self.is_op("("):
                    if name.value not in _METHODS:
                        raise ExprError(f"unsupported: method '{name.value}'", name.col)
                    self.advance()
                    args = self.sequence(")", lambda: self.expression(0))
                    if len(args) != _METHODS[name.value]:
                        raise ExprError(
                            f"{name.value}() takes {_METHODS[name.value]} arguments", name.col
                        )
                    node = Method(
                        col=name.col,
                        obj=node,
                        method=name.value,
                        args=tuple(args),
                        optional=optional,
                    )
                    continue
                key = Literal(col=name.col, value=self.field(name))
                node = Member(col=token.col, obj=node, key=key, optional=optional)
            elif self.is_op("["):
                self.advance()
                node = self.index(node, token.col)
            else:
                break
        return Chain(col=node.col, inner=node) if chained else node

    def index(self, node: Node, col: int) -> Node:
        if self.is_op(":"):
            self.advance()
            high = None if self.is_op("]") else self.expression(0)
            self.expect("]", "']'")
            return Slice(col=col, obj=node, low=None, high=high)
        key = self.expression(0)
        if self.is_op(":"):
            self.advance()
            high = None if self.is_op("]") else self.expression(0)
            self.expect("]", "']'")
            return Slice(col=col, obj=node, low=key, high=high)
        self.expect("]", "']'")
        return Member(col=col, obj=node, key=key, optional=False)


# --- evaluation -------------------------------------------------------------------------------------


class _NilChain(Exception):
    """A ``?.`` met nil: the enclosing chain is nil."""


def _type_name(value: Any) -> str:
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


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _wrap(value: int) -> int:
    """Go's int64 arithmetic wraps around."""
    value &= (1 << 64) - 1
    return value - (1 << 64) if value > _INT64_MAX else value


def _equal(a: Any, b: Any) -> bool:
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if type(a) is not type(b) and not (isinstance(a, str) and isinstance(b, str)):
        return False
    return bool(a == b)


def _go_format(value: Any) -> str:
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if not value.is_integer() or abs(value) >= 1e21 else str(int(value))
    return str(value)


_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})"
)
_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_DURATION_UNITS = {
    "ns": 1,
    "us": 1000,
    "µs": 1000,
    "μs": 1000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}


def parse_rfc3339(text: str) -> Time:
    """``time.Parse`` as Argo CD exposes it: RFC3339, fractional seconds allowed."""
    m = _RFC3339.fullmatch(text)
    if m is None:
        raise ValueError(f"{text!r} is not an RFC3339 time")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    fraction = (m.group(7) or "").ljust(9, "0")
    zone = m.group(8)
    offset = 0 if zone == "Z" else (int(zone[1:3]) * 60 + int(zone[4:6])) * 60
    if zone[0] == "-":
        offset = -offset
    if hour > 23 or minute > 59 or second > 59 or abs(offset) >= 86400:
        raise ValueError(f"{text!r} is out of range")
    moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    base = Time.from_datetime(moment).nanoseconds
    return Time(base + int(fraction) - offset * 1_000_000_000)


def parse_duration(text: str) -> Duration:
    """Go's ``time.ParseDuration``: ``"1h30m"``, ``"-1.5s"``, ``"0"``."""
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return Duration(0)
    total = 0.0
    pos = 0
    while pos < len(body):
        m = _DURATION_PART.match(body, pos)
        if m is None:
            raise ValueError(f"invalid duration {text!r}")
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    if not body or abs(total) > _INT64_MAX:
        raise ValueError(f"invalid duration {text!r}")
    return Duration(-int(total) if text.startswith("-") else int(total))


def _go_float_div(ns: int, unit: int) -> float:
    whole, rest = divmod(abs(ns), unit)
    sign = -1 if ns < 0 else 1
    return sign * (float(whole) + rest / unit)


_GIT_URL = re.compile(r"(?:(?P<scheme>[a-z][a-z0-9+.-]*)://)?(?:(?P<user>[^@/]+)@)?(?P<rest>.*)")


def _repo_parts(url: str) -> tuple[str, str]:
    """(host, path) of a Git URL: ``https://host/o/r.git``, ``git@host:o/r.git``, ``ssh://…``."""
    m = _GIT_URL.fullmatch(url)
    assert m is not None
    rest = m.group("rest")
    if m.group("scheme") is None and ":" in rest.split("/", 1)[0]:
        host, path = rest.split(":", 1)  # scp-like git@host:owner/repo
    else:
        host, _, path = rest.partition("/")
    return host, path.lstrip("/")


def _repo_url_to_https(url: str) -> str:
    host, path = _repo_parts(url)
    return f"https://{host}/{path}"


def _full_name_by_repo_url(url: str) -> str:
    _, path = _repo_parts(url)
    if path.endswith(".git"):
        path = path[:-4]
    parts = [p for p in path.split("/") if p]
    return "/".join(parts[:2]) if len(parts) >= 2 else path


class _Evaluation:
    def __init__(self, env: Mapping[str, Any], now: Callable[[], datetime]) -> None:
        self.env = env
        self.now = now
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
            raise ExprError(f"{what} needs a bool, not {_type_name(value)}", node.col)
        return value

    def string(self, value: Any, what: str, col: int) -> str:
        if not isinstance(value, str):
            raise ExprError(f"{what} needs a string, not {_type_name(value)}", col)
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
                raise _NilChain
            raise ExprError(f"cannot fetch {_go_format(key)!r} from nil", node.col)
        if isinstance(obj, Mapping):
            if not isinstance(key, str):
                raise ExprError(f"a map key must be a string, not {_type_name(key)}", node.col)
            return obj.get(key)
        if isinstance(obj, list | tuple | str):
            if not isinstance(key, int) or isinstance(key, bool):
                what = f"{_go_format(key)!r}" if isinstance(key, str) else _type_name(key)
                raise ExprError(f"cannot fetch {what} from {_type_name(obj)}", node.col)
            index = key + len(obj) if key < 0 else key
            if not 0 <= index < len(obj):
                raise ExprError(f"index {key} out of range (length {len(obj)})", node.col)
            return obj[index]
        raise ExprError(f"cannot fetch {_go_format(key)!r} from {_type_name(obj)}", node.col)

    def slice(self, node: Slice) -> Any:
        obj = self.eval(node.obj)
        if not isinstance(obj, list | tuple | str):
            raise ExprError(f"cannot slice {_type_name(obj)}", node.col)
        bounds = []
        for part, default in ((node.low, 0), (node.high, len(obj))):
            value = default if part is None else self.eval(part)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ExprError(f"a slice bound must be an int, not {_type_name(value)}", node.col)
            bounds.append(value)
        return obj[bounds[0] : bounds[1]]

    def chain(self, node: Chain) -> Any:
        try:
            return self.eval(node.inner)
        except _NilChain:
            return None

    def unary(self, node: Unary) -> Any:
        if node.op in ("not", "!"):
            return not self.boolean(node.operand, f"'{node.op}'")
        value = self.eval(node.operand)
        if isinstance(value, Duration) and node.op == "-":
            return Duration(-value.nanoseconds)
        if not _is_number(value):
            raise ExprError(f"unary '{node.op}' needs a number, not {_type_name(value)}", node.col)
        if node.op == "+":
            return value
        return _wrap(-value) if isinstance(value, int) else -value

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
            self.charge(_size(left) + _size(right), col)
            return _equal(left, right)
        if op == "!=":
            self.charge(_size(left) + _size(right), col)
            return not _equal(left, right)
        if op in ("<", ">", "<=", ">="):
            return _compare(op, left, right, col)
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
                regex = _compile_regex(self.string(right, "'matches'", col), col)
            return regex.search(text, col)
        return _arithmetic(op, left, right, col)

    def contained(self, needle: Any, haystack: Any, col: int) -> bool:
        if haystack is None:
            return False
        if isinstance(haystack, Mapping):
            return isinstance(needle, str) and needle in haystack
        if isinstance(haystack, list | tuple):
            self.charge(len(haystack), col)
            return any(_equal(needle, item) for item in haystack)
        raise ExprError(f"'in' needs an array or a map, not {_type_name(haystack)}", col)

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
            out[_go_format(key) if not isinstance(key, str) else key] = self.eval(value_node)
        return out

    def predicate(self, node: Predicate) -> Any:
        subject = self.eval(node.subject)
        if subject is None:
            subject = []
        if isinstance(subject, Mapping):
            subject = list(subject.values())
        if not isinstance(subject, list | tuple):
            raise ExprError(
                f"{node.function}() needs an array, not {_type_name(subject)}", node.subject.col
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
                raise ExprError(f"the predicate of {fn}() gave {_type_name(value)}", node.body.col)
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
            raise _NilChain
        args = [self.eval(arg) for arg in node.args]
        name = node.method
        if isinstance(obj, Time):
            if name in ("Sub", "Before", "After", "Equal"):
                other = args[0]
                if not isinstance(other, Time):
                    raise ExprError(f"{name}() needs a time, not {_type_name(other)}", node.col)
                if name == "Sub":
                    return Duration(obj.nanoseconds - other.nanoseconds)
                if name == "Before":
                    return obj.nanoseconds < other.nanoseconds
                if name == "After":
                    return obj.nanoseconds > other.nanoseconds
                return obj.nanoseconds == other.nanoseconds
            if name == "Add":
                if not isinstance(args[0], Duration):
                    raise ExprError(f"Add() needs a duration, not {_type_name(args[0])}", node.col)
                return Time(obj.nanoseconds + args[0].nanoseconds)
            if name == "Unix":
                return obj.nanoseconds // 1_000_000_000
            if name == "UnixMilli":
                return obj.nanoseconds // 1_000_000
            if name == "IsZero":
                return obj.nanoseconds == _GO_ZERO_TIME
            if name == "UTC":
                return obj
        if isinstance(obj, Duration):
            ns = obj.nanoseconds
            units = {"Hours": 3_600_000_000_000, "Minutes": 60_000_000_000}
            if name in units:
                return _go_float_div(ns, units[name])
            if name == "Seconds":
                return _go_float_div(ns, 1_000_000_000)
            if name == "Milliseconds":
                return int(ns / 1_000_000) if abs(ns) < 2**52 else -(-ns // 1_000_000)
            if name == "Nanoseconds":
                return ns
        raise ExprError(f"{_type_name(obj)} has no method {name}()", node.col)

    def call(self, node: Call) -> Any:
        args = [self.eval(arg) for arg in node.args]
        try:
            return _FUNCTIONS[node.function](self, args, node.col)
        except (ValueError, OverflowError) as exc:
            raise ExprError(f"{node.function}(): {exc}", node.col) from None


_GO_ZERO_TIME = Time.from_datetime(datetime(1, 1, 1, tzinfo=UTC)).nanoseconds


def _size(value: Any) -> int:
    return len(value) if isinstance(value, list | tuple | Mapping) else 0


def _compare(op: str, left: Any, right: Any, col: int) -> bool:
    comparable = (
        (_is_number(left) and _is_number(right))
        or (isinstance(left, str) and isinstance(right, str))
        or (isinstance(left, Time) and isinstance(right, Time))
        or (isinstance(left, Duration) and isinstance(right, Duration))
    )
    if not comparable:
        raise ExprError(
            f"invalid operation: {op} (mismatched types {_type_name(left)} and {_type_name(right)})",
            col,
        )
    if op == "<":
        return bool(left < right)
    if op == ">":
        return bool(left > right)
    if op == "<=":
        return bool(left <= right)
    return bool(left >= right)


def _arithmetic(op: str, left: Any, right: Any, col: int) -> Any:
    if op == "+" and isinstance(left, str) and isinstance(right, str):
        if len(left) + len(right) > MAX_STRING:
            raise ExprError(f"string longer than {MAX_STRING} characters", col)
        return left + right
    if isinstance(left, Time | Duration) or isinstance(right, Time | Duration):
        return _time_arithmetic(op, left, right, col)
    if not (_is_number(left) and _is_number(right)):
        raise ExprError(
            f"invalid operation: {op} (mismatched types {_type_name(left)} and {_type_name(right)})",
            col,
        )
    both_int = isinstance(left, int) and isinstance(right, int)
    if op in ("+", "-", "*"):
        if both_int:
            result = left + right if op == "+" else left - right if op == "-" else left * right
            return _wrap(result)
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
                f"invalid operation: % (mismatched types {_type_name(left)} and "
                f"{_type_name(right)})",
                col,
            )
        if right == 0:
            raise ExprError("integer divide by zero", col)
        return (
            int(math.fmod(left, right)) if abs(left) < 2**52 else left - right * int(left / right)
        )
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
        return Duration(_wrap(left.nanoseconds + sign * right.nanoseconds))
    raise ExprError(
        f"invalid operation: {op} (mismatched types {_type_name(left)} and {_type_name(right)})",
        col,
    )


def _string_fn(transform: Callable[[str], str]) -> Callable[[_Evaluation, list[Any], int], Any]:
    def run(ev: _Evaluation, args: list[Any], col: int) -> Any:
        return transform(ev.string(args[0], "this function", col))

    return run


def _len(ev: _Evaluation, args: list[Any], col: int) -> Any:
    value = args[0]
    if isinstance(value, str | list | tuple | Mapping):
        return len(value)
    raise ExprError(f"invalid argument for len (type {_type_name(value)})", col)


def _trim(ev: _Evaluation, args: list[Any], col: int) -> Any:
    text = ev.string(args[0], "trim()", col)
    if len(args) == 1:
        return text.strip(" \t\n\r\v\f")
    return text.strip(ev.string(args[1], "trim()", col))


def _two_strings(ev: _Evaluation, args: list[Any], col: int, what: str) -> tuple[str, str]:
    return ev.string(args[0], what, col), ev.string(args[1], what, col)


def _replace(ev: _Evaluation, args: list[Any], col: int) -> Any:
    text, old = _two_strings(ev, args, col, "replace()")
    new = ev.string(args[2], "replace()", col)
    count = text.count(old) if old else len(text) + 1
    if len(text) + count * (len(new) - len(old)) > MAX_STRING:
        raise ExprError(f"string longer than {MAX_STRING} characters", col)
    return text.replace(old, new)


def _split(ev: _Evaluation, args: list[Any], col: int) -> Any:
    text, sep = _two_strings(ev, args, col, "split()")
    limit = args[2] if len(args) == 3 else -1
    if not isinstance(limit, int) or isinstance(limit, bool):
        raise ExprError("split() needs an int count", col)
    if limit == 0:
        return []
    if sep == "":
        parts = list(text)
        if limit > 0 and len(parts) > limit:
            parts = [*parts[: limit - 1], "".join(parts[limit - 1 :])]
        return parts
    return text.split(sep, limit - 1 if limit > 0 else -1)


def _join(ev: _Evaluation, args: list[Any], col: int) -> Any:
    items = args[0]
    sep = ev.string(args[1], "join()", col) if len(args) == 2 else ""
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise ExprError("join() needs an array of strings", col)
    return ev.bounded(sep.join(items), col)


def _collection(value: Any, what: str, col: int, kinds: type | tuple[type, ...]) -> Any:
    if not isinstance(value, kinds):
        raise ExprError(f"{what} needs {'a map' if kinds is Mapping else 'an array'}", col)
    return value


def _min_max(pick: Callable[..., Any], name: str) -> Callable[[_Evaluation, list[Any], int], Any]:
    def run(ev: _Evaluation, args: list[Any], col: int) -> Any:
        values = args[0] if len(args) == 1 and isinstance(args[0], list | tuple) else args
        if not values or not all(_is_number(v) for v in values):
            raise ExprError(f"{name}() needs numbers", col)
        return pick(values)

    return run


def _to_int(ev: _Evaluation, args: list[Any], col: int) -> Any:
    value = args[0]
    if isinstance(value, str):
        return int(value.strip(), 10)
    if _is_number(value):
        if isinstance(value, float) and not math.isfinite(value):
            raise ExprError(f"int() of {value}", col)
        return _wrap(int(value))
    raise ExprError(f"int() needs a number or a string, not {_type_name(value)}", col)


def _to_float(ev: _Evaluation, args: list[Any], col: int) -> Any:
    value = args[0]
    if isinstance(value, str) or _is_number(value):
        return float(value)
    raise ExprError(f"float() needs a number or a string, not {_type_name(value)}", col)


def _abs(ev: _Evaluation, args: list[Any], col: int) -> Any:
    if not _is_number(args[0]):
        raise ExprError(f"abs() needs a number, not {_type_name(args[0])}", col)
    return abs(args[0])


def _time_parse(ev: _Evaluation, args: list[Any], col: int) -> Any:
    return parse_rfc3339(ev.string(args[0], "time.Parse()", col))


def _duration(ev: _Evaluation, args: list[Any], col: int) -> Any:
    return parse_duration(ev.string(args[0], "duration()", col))


def _get_info_item(ev: _Evaluation, args: list[Any], col: int) -> Any:
    app, name = args
    operation = app.get("operation") if isinstance(app, Mapping) else None
    if not isinstance(operation, Mapping):
        raise ExprError("sync.GetInfoItem(): the application has no operation", col)
    for item in operation.get("info") or []:
        if isinstance(item, Mapping) and item.get("name") == name:
            return item.get("value", "")
    raise ExprError(f"sync.GetInfoItem(): the application has no info item {name!r}", col)


_FUNCTIONS: dict[str, Callable[[_Evaluation, list[Any], int], Any]] = {
    "len": _len,
    "lower": _string_fn(str.lower),
    "upper": _string_fn(str.upper),
    "trim": _trim,
    "trimPrefix": lambda ev, a, c: str.removeprefix(*_two_strings(ev, a, c, "trimPrefix()")),
    "trimSuffix": lambda ev, a, c: str.removesuffix(*_two_strings(ev, a, c, "trimSuffix()")),
    "hasPrefix": lambda ev, a, c: str.startswith(*_two_strings(ev, a, c, "hasPrefix()")),
    "hasSuffix": lambda ev, a, c: str.endswith(*_two_strings(ev, a, c, "hasSuffix()")),
    "split": _split,
    "replace": _replace,
    "join": _join,
    "indexOf": lambda ev, a, c: str.find(*_two_strings(ev, a, c, "indexOf()")),
    "keys": lambda ev, a, c: list(_collection(a[0], "keys()", c, Mapping)),
    "values": lambda ev, a, c: list(_collection(a[0], "values()", c, Mapping).values()),
    "first": lambda ev, a, c: (_collection(a[0], "first()", c, (list, tuple)) or [None])[0],
    "last": lambda ev, a, c: (_collection(a[0], "last()", c, (list, tuple)) or [None])[-1],
    "abs": _abs,
    "min": _min_max(min, "min"),
    "max": _min_max(max, "max"),
    "int": _to_int,
    "float": _to_float,
    "string": lambda ev, a, c: _go_format(a[0]),
    "now": lambda ev, a, c: Time.from_datetime(ev.now()),
    "duration": _duration,
    "time.Now": lambda ev, a, c: Time.from_datetime(ev.now()),
    "time.Parse": _time_parse,
    "strings.ReplaceAll": _replace,
    "strings.ToUpper": _string_fn(str.upper),
    "strings.ToLower": _string_fn(str.lower),
    "sync.GetInfoItem": _get_info_item,
    "repo.RepoURLToHTTPS": lambda ev, a, c: _repo_url_to_https(ev.string(a[0], "repo", c)),
    "repo.FullNameByRepoURL": lambda ev, a, c: _full_name_by_repo_url(ev.string(a[0], "repo", c)),
}

_EVALUATORS: dict[type, Callable[[_Evaluation, Any], Any]] = {
    Literal: _Evaluation.literal,
    Name: _Evaluation.name,
    Element: _Evaluation.element,
    Member: _Evaluation.member,
    Slice: _Evaluation.slice,
    Chain: _Evaluation.chain,
    Unary: _Evaluation.unary,
    Binary: _Evaluation.binary,
    Conditional: _Evaluation.conditional,
    ArrayLiteral: _Evaluation.array,
    MapLiteral: _Evaluation.mapping,
    Predicate: _Evaluation.predicate,
    Method: _Evaluation.method,
    Call: _Evaluation.call,
}


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Expression:
    """A compiled expression: reusable, immutable, safe to share between threads."""

    text: str
    tree: Node

    def evaluate(self, env: Mapping[str, Any], *, now: Callable[[], datetime] | None = None) -> Any:
        """The expression's value over ``env`` (``app`` and the rest); ``now`` is the clock of
        ``time.Now()``. Raises ExprError when evaluation fails (nil member access, mismatched
        types, a budget exceeded)."""
        evaluation = _Evaluation(env, now or _utc_now)
        try:
            return evaluation.eval(self.tree)
        except _NilChain:  # pragma: no cover - every `?.` sits inside a Chain
            return None
        except RecursionError:
            raise ExprError("the data nests too deeply to compare") from None

    def truthy(self, env: Mapping[str, Any], *, now: Callable[[], datetime] | None = None) -> bool:
        """The expression as a trigger condition: its bool value. A value that is not a bool is
        an ExprError; Argo CD counts such a condition, like one that fails, as not holding
        (and logs it), so a caller that catches ExprError and logs behaves as Argo CD."""
        value = self.evaluate(env, now=now)
        if not isinstance(value, bool):
            raise ExprError(f"the condition gave {_type_name(value)}, not a bool")
        return value


def compile_expr(text: str) -> Expression:
    """Parse and check ``text``: raises ExprError naming the construct and its column for
    malformed text, unknown functions and methods, refused constructs and exceeded bounds."""
    if not isinstance(text, str):
        raise ExprError(f"an expression must be a string, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExprError(f"expression longer than {MAX_LENGTH} characters")
    if not text.strip():
        raise ExprError("empty expression")
    try:
        tree = _Parser(text).parse()
    except RecursionError:
        raise ExprError(f"expression nests deeper than {MAX_DEPTH}") from None
    return Expression(text, tree)


# --- regular expressions: RE2 syntax, matched by a Thompson NFA in linear time -------------------


_CharTest = Callable[[str], bool]

_PERL_CLASSES: dict[str, _CharTest] = {
    "d": lambda c: "0" <= c <= "9",
    "w": lambda c: c == "_" or ("0" <= c <= "9") or ("a" <= c.lower() <= "z"),
    "s": lambda c: c in " \t\n\r\f\v",
}
_POSIX_CLASSES: dict[str, _CharTest] = {
    "alpha": lambda c: c.isascii() and c.isalpha(),
    "digit": _PERL_CLASSES["d"],
    "alnum": lambda c: c.isascii() and c.isalnum(),
    "space": _PERL_CLASSES["s"],
    "upper": lambda c: "A" <= c <= "Z",
    "lower": lambda c: "a" <= c <= "z",
    "word": _PERL_CLASSES["w"],
    "xdigit": lambda c: c in "0123456789abcdefABCDEF",
    "punct": lambda c: c.isascii() and not c.isalnum() and c.isprintable() and c != " ",
}
_ESCAPED_CHARS = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "a": "\a"}


def _negated(test: _CharTest) -> _CharTest:
    return lambda ch: not test(ch)


class _RegexParser:
    """RE2 syntax to a small tree: ("char", test) ("cat", [...]) ("alt", [...])
    ("repeat", node, min, max|None) ("assert", kind) ("empty",)."""

    def __init__(self, pattern: str, col: int) -> None:
        self.p = pattern
        self.i = 0
        self.col = col
        self.icase = False
        self.dotall = False
        self.multiline = False

    def fail(self, message: str) -> ExprError:
        return ExprError(f"regex {self.p!r}: {message}", self.col)

    def parse(self) -> tuple:
        node = self.alternation()
        if self.i < len(self.p):
            raise self.fail("unmatched ')'")
        return node

    def alternation(self) -> tuple:
        branches = [self.concat()]
        while self.i < len(self.p) and self.p[self.i] == "|":
            self.i += 1
            branches.append(self.concat())
        return branches[0] if len(branches) == 1 else ("alt", branches)

    def concat(self) -> tuple:
        items: list[tuple] = []
        while self.i < len(self.p) and self.p[self.i] not in "|)":
            atom = self.atom()
            if atom is None:
                continue
            items.append(self.quantified(atom))
        return ("cat", items)

    def quantified(self, atom: tuple) -> tuple:
        p = self.p
        repeated = False
        while self.i < len(p) and p[self.i] in "*+?{":
            c = p[self.i]
            if c == "{":
                m = re.compile(r"\{(\d+)(,(\d*))?\}").match(p, self.i)
                if m is None:
                    break  # a literal '{', as in RE2
                low = int(m.group(1))
                high = low if m.group(2) is None else (int(m.group(3)) if m.group(3) else None)
                if low > 1000 or (high is not None and (high > 1000 or high < low)):
                    raise self.fail("invalid repeat count")
                self.i = m.end()
            else:
                low, high = {"*": (0, None), "+": (1, None), "?": (0, 1)}[c]
                self.i += 1
            if repeated:
                raise self.fail("invalid nested repetition operator")
            repeated = True
            atom = ("repeat", atom, low, high)
            if self.i < len(p) and p[self.i] == "?":
                self.i += 1  # lazy: the same set of matches
        if atom[0] == "assert" and repeated:
            raise self.fail("missing argument to repetition operator")
        return atom

    def atom(self) -> tuple | None:
        p = self.p
        c = p[self.i]
        if c in "*+?":
            raise self.fail("missing argument to repetition operator")
        if c == "(":
            return self.group()
        self.i += 1
        if c == "[":
            return ("char", self.char_class())
        if c == ".":
            dotall = self.dotall
            return ("char", (lambda ch: True) if dotall else (lambda ch: ch != "\n"))
        if c == "^":
            return ("assert", "bol" if self.multiline else "bot")
        if c == "$":
            return ("assert", "eol" if self.multiline else "eot")
        if c == "\\":
            escaped = self.escape(in_class=False)
            return ("char", self.literal(escaped)) if isinstance(escaped, str) else escaped
        return ("char", self.literal(c))

    def literal(self, c: str) -> _CharTest:
        if self.icase and c.lower() != c.upper():
            folded = c.casefold()
            return lambda ch: ch.casefold() == folded
        return lambda ch: ch == c

    def group(self) -> tuple | None:
        p = self.p
        self.i += 1
        if p.startswith("?", self.i):
            for refused, what in (
                ("?=", "lookahead"),
                ("?!", "lookahead"),
                ("?<=", "lookbehind"),
                ("?<!", "lookbehind"),
                ("?>", "atomic groups"),
                ("?(", "conditionals"),
            ):
                if p.startswith(refused, self.i):
                    raise self.fail(f"{what} are not RE2 syntax")
            m = re.compile(r"\?P?<([A-Za-z_][A-Za-z0-9_]*)>").match(p, self.i)
            if m:
                self.i = m.end()
            else:
                m = re.compile(r"\?([imsU]*)(?:-([imsU]*))?([:)])").match(p, self.i)
                if m is None:
                    raise self.fail("invalid or unsupported group")
                saved = (self.icase, self.dotall, self.multiline)
                for flag, on in [(f, True) for f in m.group(1)] + [
                    (f, False) for f in (m.group(2) or "")
                ]:
                    if flag == "i":
                        self.icase = on
                    elif flag == "s":
                        self.dotall = on
                    elif flag == "m":
                        self.multiline = on
                self.i = m.end()
                if m.group(3) == ")":
                    return None  # flags for the rest of the enclosing group
                inner = self.alternation()
                self.icase, self.dotall, self.multiline = saved
                self.close()
                return inner
        saved = (self.icase, self.dotall, self.multiline)
        inner = self.alternation()
        self.icase, self.dotall, self.multiline = saved
        self.close()
        return inner

    def close(self) -> None:
        if self.i >= len(self.p) or self.p[self.i] != ")":
            raise self.fail("missing ')'")
        self.i += 1

    def escape(self, in_class: bool) -> Any:
        p = self.p
        if self.i >= len(p):
            raise self.fail("trailing backslash")
        c = p[self.i]
        self.i += 1
        if c in "123456789":
            raise self.fail("backreferences are not RE2 syntax")
        if c in _PERL_CLASSES:
            return ("char", _PERL_CLASSES[c])
        if c.lower() in _PERL_CLASSES and c.isupper():
            return ("char", _negated(_PERL_CLASSES[c.lower()]))
        if not in_class:
            kinds = {"b": "word", "B": "notword", "A": "bot", "z": "eot"}
            if c in kinds:
                return ("assert", kinds[c])
        if c in _ESCAPED_CHARS:
            return _ESCAPED_CHARS[c]
        if c == "x":
            m = re.compile(r"\{([0-9a-fA-F]{1,6})\}|([0-9a-fA-F]{2})").match(p, self.i)
            if m is None:
                raise self.fail("invalid \\x escape")
            self.i = m.end()
            code = int(m.group(1) or m.group(2), 16)
            if code > 0x10FFFF:
                raise self.fail("invalid \\x escape")
            return chr(code)
        if c == "0":
            return "\0"
        if c.isascii() and not c.isalnum():
            return c
        raise self.fail(f"unsupported escape \\{c}")

    def char_class(self) -> _CharTest:
        p = self.p
        negate = p.startswith("^", self.i)
        if negate:
            self.i += 1
        tests: list[_CharTest] = []
        first = True
        while True:
            if self.i >= len(p):
                raise self.fail("missing ']'")
            c = p[self.i]
            if c == "]" and not first:
                self.i += 1
                break
            first = False
            m = re.compile(r"\[:(\^?)([a-z]+):\]").match(p, self.i)
            if m:
                if m.group(2) not in _POSIX_CLASSES:
                    raise self.fail(f"unknown class [:{m.group(2)}:]")
                posix = _POSIX_CLASSES[m.group(2)]
                tests.append(_negated(posix) if m.group(1) else posix)
                self.i = m.end()
                continue
            low = self.class_char()
            if callable(low):
                tests.append(low)
                continue
            if p.startswith("-", self.i) and self.i + 1 < len(p) and p[self.i + 1] != "]":
                self.i += 1
                high = self.class_char()
                if callable(high) or high < low:
                    raise self.fail("invalid character class range")
                tests.append(self.range_test(low, high))
            else:
                tests.append(self.range_test(low, low))

        def member(ch: str) -> bool:
            return any(t(ch) for t in tests) != negate

        return member

    def range_test(self, low: str, high: str) -> _CharTest:
        if self.icase:
            return lambda ch: any(low <= v <= high for v in (ch, ch.lower(), ch.upper()))
        return lambda ch: low <= ch <= high

    def class_char(self) -> str | _CharTest:
        c = self.p[self.i]
        self.i += 1
        if c != "\\":
            return c
        escaped = self.escape(in_class=True)
        if isinstance(escaped, str):
            return escaped
        if escaped[0] != "char":
            raise self.fail("invalid escape in a character class")
        return escaped[1]


class _Regex:
    """A compiled pattern: a Thompson NFA program, searched without backtracking."""

    def __init__(self, pattern: str, program: list[tuple]) -> None:
        self.pattern = pattern
        self.program = program

    def search(self, text: str, col: int) -> bool:
        if len(text) > MAX_MATCH_INPUT:
            raise ExprError(f"'matches' on a string longer than {MAX_MATCH_INPUT}", col)
        program = self.program
        work = 0
        budget = MAX_REGEX_WORK
        n = len(text)

        def closure(states: list[int], seen: set[int], pc: int, pos: int) -> bool:
            nonlocal work
            stack = [pc]
            while stack:
                pc = stack.pop()
                if pc in seen:
                    continue
                seen.add(pc)
                work += 1
                inst = program[pc]
                kind = inst[0]
                if kind == "match":
                    return True
                if kind == "char":
                    states.append(pc)
                elif kind == "jmp":
                    stack.append(inst[1])
                elif kind == "split":
                    stack.append(inst[2])
                    stack.append(inst[1])
                elif _assertion(inst[1], text, pos, n):
                    stack.append(pc + 1)
            return False

        current: list[int] = []
        seen: set[int] = set()
        for pos in range(n + 1):
            if closure(current, seen, 0, pos):
                return True
            if pos == n:
                break
            if work > budget:
                raise ExprError(f"regex {self.pattern!r} took too long to match", col)
            ch = text[pos]
            following: list[int] = []
            next_seen: set[int] = set()
            for pc in current:
                work += 1
                if program[pc][1](ch) and closure(following, next_seen, pc + 1, pos + 1):
                    return True
            current, seen = following, next_seen
        return False


def _is_word(ch: str) -> bool:
    return _PERL_CLASSES["w"](ch)


def _assertion(kind: str, text: str, pos: int, n: int) -> bool:
    if kind == "bot":
        return pos == 0
    if kind == "eot":
        return pos == n
    if kind == "bol":
        return pos == 0 or text[pos - 1] == "\n"
    if kind == "eol":
        return pos == n or text[pos] == "\n"
    before = pos > 0 and _is_word(text[pos - 1])
    after = pos < n and _is_word(text[pos])
    return (before != after) == (kind == "word")


def _emit(node: tuple, program: list[tuple], fail: Callable[[str], ExprError]) -> None:
    if len(program) > MAX_REGEX_PROGRAM:
        raise fail("pattern too large")
    kind = node[0]
    if kind == "char":
        program.append(("char", node[1]))
    elif kind == "assert":
        program.append(("assert", node[1]))
    elif kind == "cat":
        for item in node[1]:
            _emit(item, program, fail)
    elif kind == "alt":
        jumps = []
        branches = node[1]
        for branch in branches[:-1]:
            split = len(program)
            program.append(("split", split + 1, -1))
            _emit(branch, program, fail)
            jumps.append(len(program))
            program.append(("jmp", -1))
            program[split] = ("split", split + 1, len(program))
        _emit(branches[-1], program, fail)
        for at in jumps:
            program[at] = ("jmp", len(program))
    else:  # repeat
        _, inner, low, high = node
        for _ in range(low):
            _emit(inner, program, fail)
        if high is None:
            loop = len(program)
            program.append(("split", loop + 1, -1))
            _emit(inner, program, fail)
            program.append(("jmp", loop))
            program[loop] = ("split", loop + 1, len(program))
        else:
            exits = []
            for _ in range(high - low):
                exits.append(len(program))
                program.append(("split", len(program) + 1, -1))
                _emit(inner, program, fail)
            for at in exits:
                program[at] = ("split", at + 1, len(program))


def _compile_regex(pattern: str, col: int) -> _Regex:
    parser = _RegexParser(pattern, col)
    if len(pattern) > MAX_REGEX_LENGTH:
        raise parser.fail(f"longer than {MAX_REGEX_LENGTH} characters")
    tree = parser.parse()
    program: list[tuple] = []
    _emit(tree, program, parser.fail)
    program.append(("match",))
    if len(program) > MAX_REGEX_PROGRAM:
        raise parser.fail("pattern too large")
    return _Regex(pattern, program)
