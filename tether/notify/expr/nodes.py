"""The tree of a compiled expression: frozen nodes, each knowing its column and its depth, so a
tree deeper than ``MAX_DEPTH`` is refused as it is built."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tether.notify.expr.errors import ExprError
from tether.notify.expr.limits import MAX_DEPTH
from tether.notify.expr.re2 import Regex


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
    regex: Regex | None = None  # `matches` with a literal pattern, compiled once

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
