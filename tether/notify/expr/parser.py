"""Text to tree: a Pratt parser with expr's precedences, checking as it goes: only known functions,
predicates and methods, each with the right number of arguments; refused constructs named with
their column; nesting bounded; a literal ``matches`` pattern compiled once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tether.notify.expr.builtins import BUILTINS, NAMESPACES, NEEDS_REPO_SERVER, PREDICATES
from tether.notify.expr.errors import ExprError
from tether.notify.expr.gotime import METHODS
from tether.notify.expr.limits import MAX_DEPTH
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
from tether.notify.expr.tokens import NAME, Token, tokenize

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


class Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.pos = 0
        self.closures = 0
        self.nesting = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.pos]

    def peek(self, offset: int = 1) -> Token:
        return self.tokens[min(self.pos + offset, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def is_op(self, value: str, token: Token | None = None) -> bool:
        token = token or self.current
        return token.kind == "op" and token.value == value

    def expect(self, value: str, what: str) -> Token:
        if not self.is_op(value):
            raise ExprError(
                f"expected {what}, found {self.describe(self.current)}", self.current.col
            )
        return self.advance()

    @staticmethod
    def describe(token: Token) -> str:
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

    def refuse_op(self, token: Token) -> None:
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
                regex = compile_regex(right.value, right.col)
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

    def name(self, token: Token) -> Node:
        word = token.value
        if word in ("true", "false"):
            return Literal(col=token.col, value=word == "true")
        if word == "nil":
            return Literal(col=token.col, value=None)
        if word == "let":
            raise ExprError("unsupported: 'let'", token.col)
        if word in NAMESPACES:
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
    def field(token: Token) -> str:
        if token.value.startswith("__"):
            raise ExprError(f"unsupported: name {token.value!r}", token.col)
        return str(token.value)

    def call(self, function: str, col: int) -> Node:
        self.expect("(", "'('")
        if function in PREDICATES:
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
        if function in NEEDS_REPO_SERVER:
            raise ExprError(f"unsupported: function '{function}' (needs the repo server)", col)
        if function not in BUILTINS:
            raise ExprError(f"unsupported: function '{function}'", col)
        args = self.sequence(")", lambda: self.expression(0))
        fewest, most = BUILTINS[function]
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
                if name.kind not in ("name", "op") or not NAME.fullmatch(str(name.value)):
                    raise ExprError(f"expected a name after '{token.value}'", name.col)
                self.advance()
                chained = chained or optional
                if self.is_op("("):
                    if name.value not in METHODS:
                        raise ExprError(f"unsupported: method '{name.value}'", name.col)
                    self.advance()
                    args = self.sequence(")", lambda: self.expression(0))
                    if len(args) != METHODS[name.value]:
                        raise ExprError(
                            f"{name.value}() takes {METHODS[name.value]} arguments", name.col
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
