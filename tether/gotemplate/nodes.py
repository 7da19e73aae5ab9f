"""The parsed form of a template: frozen nodes, each knowing where it came from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union


@dataclass(frozen=True, slots=True)
class Text:
    pos: int
    text: str


@dataclass(frozen=True, slots=True)
class Dot:
    pos: int

    def __str__(self) -> str:
        return "."


@dataclass(frozen=True, slots=True)
class Nil:
    pos: int

    def __str__(self) -> str:
        return "nil"


@dataclass(frozen=True, slots=True)
class Literal:
    """A bool, string or number constant; ``value`` is its Go value (int, float, str, bool)."""

    pos: int
    value: object
    source: str

    def __str__(self) -> str:
        return self.source


@dataclass(frozen=True, slots=True)
class Field:
    """``.a.b.c``: a chain of keys looked up from dot."""

    pos: int
    names: tuple[str, ...]

    def __str__(self) -> str:
        return "".join(f".{name}" for name in self.names)


@dataclass(frozen=True, slots=True)
class Variable:
    """``$x.a.b``: a variable, then a chain of keys."""

    pos: int
    name: str
    names: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.name + "".join(f".{name}" for name in self.names)


@dataclass(frozen=True, slots=True)
class Function:
    pos: int
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Chain:
    """``(pipeline).a.b``: keys looked up from the value of a parenthesised pipeline."""

    pos: int
    node: Pipeline
    names: tuple[str, ...]

    def __str__(self) -> str:
        return f"({self.node})" + "".join(f".{name}" for name in self.names)


Operand = Union[Dot, Nil, Literal, Field, Variable, Function, Chain, "Pipeline"]


@dataclass(frozen=True, slots=True)
class Command:
    pos: int
    args: tuple[Operand, ...]

    def __str__(self) -> str:
        parts = [f"({arg})" if isinstance(arg, Pipeline) else str(arg) for arg in self.args]
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Pipeline:
    pos: int
    line: int
    declared: tuple[str, ...]
    is_assign: bool
    commands: tuple[Command, ...]

    def __str__(self) -> str:
        head = ""
        if self.declared:
            head = ", ".join(self.declared) + (" = " if self.is_assign else " := ")
        return head + " | ".join(str(command) for command in self.commands)


@dataclass(frozen=True, slots=True)
class Action:
    pos: int
    line: int
    pipe: Pipeline


@dataclass(frozen=True, slots=True)
class Branch:
    """``if``, ``with`` and ``range``: a pipeline, a body and an optional else."""

    keyword: str
    pos: int
    line: int
    pipe: Pipeline
    body: tuple[Node, ...]
    otherwise: tuple[Node, ...] | None


@dataclass(frozen=True, slots=True)
class LoopControl:
    """``{{break}}`` or ``{{continue}}``."""

    keyword: str
    pos: int
    line: int


@dataclass(frozen=True, slots=True)
class TemplateCall:
    """``{{template "name" pipeline}}``."""

    pos: int
    line: int
    name: str
    pipe: Pipeline | None

    def __str__(self) -> str:
        quoted = '"' + self.name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return f"{{{{template {quoted}" + (f" {self.pipe}" if self.pipe else "") + "}}"


Node = Text | Action | Branch | LoopControl | TemplateCall
