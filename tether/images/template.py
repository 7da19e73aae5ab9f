"""Commit messages of image updates: the subset of Go's text/template that Flux users write in
``spec.git.commit.messageTemplate`` of an ImageUpdateAutomation (image.toolkit.fluxcd.io/v1).

The data (Flux's ``TemplateData``, see :mod:`tether.images.automation`) is read as Go would:
a dataclass is a struct whose exported field ``.OldValue`` is the attribute ``old_value`` and
whose method ``.Changes`` is ``changes()``; a mapping with string keys answers ``.Key``; a type
defining ``__str__`` prints through it (Go's String method), other structs print as ``{a b}``.

Supported: text, ``{{ pipeline }}``, ``{{-``/``-}}`` trimming, ``{{/* comments */}}``,
``if``/``else if``/``else``, ``range`` (one or two variables, ``else``), ``with``/``else``,
variables (``$``, ``$x := ...``, ``$x = ...``, ``$x.Field``), pipes, parentheses, string
(raw, or with the escapes JSON shares with Go), integer, boolean and nil literals; Go's ``and
or not len index print printf println eq ne lt le gt ge`` and Sprig's ``lower upper title trim
trimPrefix trimSuffix replace contains hasPrefix hasSuffix quote default``. Anything else is an
:class:`InvalidTemplateError` naming it: ``define``/``template``/``block``, ``break``/
``continue``, other functions, floating-point numbers, arguments to methods, and fields Flux
removed (``.Updated``, ``.Changed.ImageResult``, with Flux's advice).

As Go does, ranges over maps visit keys in sorted order, a key missing from a map prints
``<no value>`` (and is false), an unknown field is an error. Parsing and rendering are bounded
(:class:`TemplateLimits`): template size, output size, nesting, and steps (each action, loop
iteration and function call counts one).
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import Any

from tether.images.errors import ImageError

#: Flux's commit message when the automation sets no template
DEFAULT_MESSAGE_TEMPLATE = "Update from image update automation"
_SPACE = " \t\r\n"
_KEYWORDS = ("if", "else", "end", "range", "with", "define", "template", "block", "break",
             "continue")  # fmt: skip
_MAX_WIDTH = 10_000  # of a printf field


class InvalidTemplateError(ImageError):
    """The commit message template cannot be parsed or run; ``line`` is 1-based when known."""

    def __init__(self, problem: str, line: int | None = None) -> None:
        super().__init__(f"commit message template: {f'line {line}: ' if line else ''}{problem}")
        self.problem = problem
        self.line = line


@dataclass(frozen=True)
class TemplateLimits:
    """Bounds of parsing and rendering one commit message."""

    max_template_chars: int = 64 * 1024
    max_output_chars: int = 64 * 1024
    max_steps: int = 100_000
    max_depth: int = 32  # nested if/range/with and parentheses


DEFAULT_TEMPLATE_LIMITS = TemplateLimits()


# ---- Go's view of Python values ---------------------------------------------------------------

# Go fields a template may still use but Flux removed, by the Python type that had them
_REMOVED = {
    ("TemplateData", "Updated"): "template uses removed '.Updated' field; use '.Changed' instead",
    ("ChangeSet", "ImageResult"): "template uses removed '.Changed.ImageResult' field; use "
    "'.Changed.FileChanges' or '.Changed.Objects' instead",
}


class _NoValue:
    """Go's invalid value: what a key missing from a map gives."""


_NO_VALUE = _NoValue()
_NO_FINAL = object()  # the first command of a pipeline receives no piped value


def _go_type(value: Any) -> str:
    if isinstance(value, Mapping | list | tuple):
        return "map" if isinstance(value, Mapping) else "slice"
    basic = {str: "string", bool: "bool", int: "int"}
    return basic.get(type(value)) or ("nil" if value in (None, _NO_VALUE) else type(value).__name__)


def _format(value: Any) -> str:
    """fmt's %v of a value (Go's String method where the type has one)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int):
        return str(value).lower() if isinstance(value, bool) else str(value)
    if value is None or value is _NO_VALUE:
        return "<nil>"
    if isinstance(value, list | tuple):
        return "[" + " ".join(map(_format, value)) + "]"
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{_format(k)}:{_format(value[k])}" for k in sorted(value)) + "]"
    if "__str__" in type(value).__dict__:
        return str(value)
    values = (getattr(value, item.name) for item in dataclasses.fields(value))
    return "{" + " ".join(map(_format, values)) + "}"


def _truth(value: Any) -> bool:
    """Go's truth: false, 0, nil, an empty string or collection are false; structs are true."""
    if value is _NO_VALUE or value is None:
        return False
    return bool(value) if isinstance(value, int | str | list | tuple | Mapping) else True


def _attribute(name: str) -> str:
    """Go's exported name as the Python attribute: ``APIVersion`` → ``api_version``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


# ---- lexing and parsing -----------------------------------------------------------------------

_TOKEN = re.compile(
    r"""(?P<space>[ \t\r\n]+)|(?P<str>"(?:[^"\\\n]|\\.)*")|(?P<raw>`[^`]*`)
    |(?P<num>[-+]?\d[\w.]*)|(?P<var>\$\w*(?:\.[A-Za-z_]\w*)*)|(?P<field>(?:\.[A-Za-z_]\w*)+)
    |(?P<dot>\.)|(?P<ident>[A-Za-z_]\w*)|(?P<declare>:=)|(?P<assign>=)|(?P<pipe>\|)
    |(?P<lparen>\()|(?P<rparen>\))|(?P<comma>,)""",
    re.VERBOSE,
)


@dataclass
class _Pipe:
    decl: list[str]
    assign: bool
    cmds: list[list[tuple[Any, ...]]]  # each command: its operands
    line: int


@dataclass
class _Control:
    """``if`` (branches tried in order), ``with`` or ``range`` (one branch), and ``else``."""

    kind: str
    branches: list[tuple[_Pipe, list[Any]]]
    otherwise: list[Any] = field(default_factory=list)


def _token_value(kind: str, text: str, line: int) -> Any:
    if kind == "str":
        try:
            return json.loads(text, strict=False)
        except ValueError:
            raise InvalidTemplateError(f"string {text}: unknown escape", line) from None
    if kind == "num" and not re.fullmatch(r"[-+]?\d+", text):
        raise InvalidTemplateError(f"number {text!r}: only decimal integers are supported", line)
    if kind == "var":
        name, *fields = text.split(".")
        return name, tuple(fields)
    converters = {"raw": lambda: text[1:-1], "num": lambda: int(text),
                  "field": lambda: tuple(text[1:].split(".")),
                  "chain": lambda: tuple(text[1:].split("."))}  # fmt: skip
    return converters.get(kind, lambda: text)()


class _Parser:
    def __init__(self, src: str, limits: TemplateLimits) -> None:
        self.src, self.limits = src, limits
        self.breaks = [match.start() for match in re.finditer("\n", src)]
        self.items = list(self._split())
        self.index = self.depth = 0
        self.vars = ["$"]

    def line_of(self, pos: int) -> int:
        return bisect.bisect_left(self.breaks, pos) + 1

    def fail(self, problem: str, pos_or_line: int, is_pos: bool = False) -> InvalidTemplateError:
        return InvalidTemplateError(problem, self.line_of(pos_or_line) if is_pos else pos_or_line)

    def _split(self) -> Iterator[tuple[str, Any, int]]:
        """Text pieces and actions (token lists), trimming applied."""
        src, pos, trim = self.src, 0, False
        while True:
            start = src.find("{{", pos)
            text = src[pos : len(src) if start == -1 else start]
            text = text.lstrip(_SPACE) if trim else text
            inner = start + 2
            if start != -1 and re.match(r"-[ \t\r\n]", src[inner : inner + 2]):
                text, inner = text.rstrip(_SPACE), inner + 2
            if text:
                yield "text", text, pos
            if start == -1:
                return
            if src.startswith("/*", inner):  # a comment: {{/* ... */}}, trim markers allowed
                end = re.compile(r"\*/(?:}}|[ \t\r\n]-}})").search(src, inner)
                if end is None:
                    raise self.fail("comment not closed by */}}", inner, is_pos=True)
                pos, trim = end.end(), end.group().endswith("-}}")
                continue
            tokens, pos, trim = self._lex(inner)
            yield "action", tokens, start

    def _lex(self, pos: int) -> tuple[list[tuple[str, Any]], int, bool]:
        """One action's tokens from ``pos``, where it ends, and whether it trims after."""
        src, tokens = self.src, list[tuple[str, Any]]()
        while not src.startswith("}}", pos):
            if src.startswith("-}}", pos) and src[pos - 1] in _SPACE:
                return tokens, pos + 3, True
            match = _TOKEN.match(src, pos)
            if match is None:
                got = repr(src[pos]) if pos < len(src) else "end of template"
                raise self.fail(f"unexpected {got} in action", pos, is_pos=True)
            kind = match.lastgroup or ""
            if kind == "field" and src[pos - 1] == ")":  # (pipeline).Field
                kind = "chain"
            if kind != "space":
                tokens.append((kind, _token_value(kind, match.group(), self.line_of(pos))))
            pos = match.end()
        return tokens, pos + 2, False

    def parse_list(self, top: bool = False) -> tuple[list[Any], tuple[str, list[Any], int]]:
        """Nodes up to an ``else`` or ``end``, returned with its words and line."""
        nodes: list[Any] = []
        while self.index < len(self.items):
            kind, value, pos = self.items[self.index]
            self.index += 1
            line = self.line_of(pos)
            keyword = value[0][1] if kind == "action" and value and value[0][0] == "ident" else ""
            if kind == "text":
                nodes.append(value)
            elif keyword in ("else", "end"):
                if top:
                    raise self.fail(f"unexpected {{{{{keyword}}}}}", line)
                return nodes, (keyword, value[1:], line)
            elif keyword in ("if", "with", "range"):
                nodes.append(self.control(keyword, value[1:], line))
            elif keyword in _KEYWORDS:
                raise self.fail(f"{{{{{keyword}}}}} is not supported", line)
            else:
                nodes.append(self.pipeline(value, line))
        if not top:
            raise self.fail("missing {{end}}", self.line_of(len(self.src)))
        return nodes, ("", [], 0)

    def nest(self, line: int, by: int = 1) -> None:
        self.depth += by
        if self.depth > self.limits.max_depth:
            raise self.fail(f"nested deeper than {self.limits.max_depth}", line)

    def control(self, keyword: str, tokens: list[Any], line: int) -> _Control:
        self.nest(line)
        mark = len(self.vars)
        node = _Control(keyword, [])
        while True:
            pipe = self.pipeline(tokens, line, needed=keyword)
            body, (stop, tokens, line) = self.parse_list()
            node.branches.append((pipe, body))
            if stop == "else" and keyword == "if" and tokens[:1] == [("ident", "if")]:
                tokens = tokens[1:]
                continue
            if tokens:
                raise self.fail(f"unexpected words after {{{{{stop}}}}}", line)
            if stop == "else":
                node.otherwise, (stop, tokens, line) = self.parse_list()
                if stop != "end" or tokens:
                    raise self.fail(
                        f"{{{{else}}}} of {{{{{keyword}}}}} needs a plain {{{{end}}}}", line
                    )
            del self.vars[mark:]
            self.nest(line, -1)
            return node

    def pipeline(self, tokens: list[Any], line: int, needed: str = "", decl: bool = True) -> _Pipe:
        kinds = [kind for kind, _ in tokens[:4]]
        names, assign = [], False
        if kinds[:2] in (["var", "declare"], ["var", "assign"]) and not tokens[0][1][1]:
            names, assign, tokens = [tokens[0][1][0]], kinds[1] == "assign", tokens[2:]
        elif needed == "range" and kinds == ["var", "comma", "var", "declare"]:
            names, tokens = [tokens[0][1][0], tokens[2][1][0]], tokens[4:]
        if names and not decl:
            raise self.fail("a parenthesized pipeline cannot declare a variable", line)
        if assign and names[0] not in self.vars:
            raise self.fail(f"undefined variable {names[0]!r}", line)
        cmds: list[list[tuple[Any, ...]]] = [[]]
        position = 0
        while position < len(tokens):
            if tokens[position][0] == "pipe" and cmds[-1]:
                cmds.append([])
                position += 1
                continue
            operand, position = self.operand(tokens, position, line)
            cmds[-1].append(operand)
        if not cmds[-1]:
            raise self.fail(
                f"missing value for {f'{{{{{needed}}}}}' if needed else 'command'}", line
            )
        if any(cmd[0][0] in ("lit", "nil") for cmd in cmds[1:]):
            raise self.fail("non-executable command in a pipeline stage", line)
        self.vars += [] if assign else names
        return _Pipe(names, assign, cmds, line)

    def operand(self, tokens: list[Any], position: int, line: int) -> tuple[Any, int]:
        kind, value = tokens[position]
        position += 1
        if kind == "lparen":
            depth, start = 1, position
            while position < len(tokens) and depth:
                depth += {"lparen": 1, "rparen": -1}.get(tokens[position][0], 0)
                position += 1
            if depth:
                raise self.fail("unclosed left parenthesis", line)
            self.nest(line)
            pipe = self.pipeline(tokens[start : position - 1], line, decl=False)
            self.nest(line, -1)
            chained = position < len(tokens) and tokens[position][0] == "chain"
            return ("pipe", pipe, tokens[position][1] if chained else ()), position + chained
        if kind == "var" and value[0] not in self.vars:
            raise self.fail(f"undefined variable {value[0]!r}", line)
        simple = {"var": ("var", value), "field": ("field", value), "dot": ("var", ("", ())),
                  "str": ("lit", value), "num": ("lit", value)}  # fmt: skip
        if kind in simple:
            return simple[kind], position  # the variable named "" is dot
        if kind == "ident" and value in ("true", "false", "nil"):
            return ("nil",) if value == "nil" else ("lit", value == "true"), position
        if kind == "ident" and value in _FUNCTIONS:
            return ("call", value), position
        if kind == "ident" and value not in _KEYWORDS:
            raise self.fail(f'function "{value}" not defined', line)
        raise self.fail(f"unexpected {value!r} in operand", line)


# ---- execution --------------------------------------------------------------------------------


class _Run:
    """One rendering: output, step count, variables."""

    def __init__(self, limits: TemplateLimits, data: Any) -> None:
        self.limits = limits
        self.out: list[str] = []
        self.size = self.steps = self.line = 0
        self.vars: list[list[Any]] = [["$", data]]

    def fail(self, problem: str) -> InvalidTemplateError:
        return InvalidTemplateError(problem, self.line)

    def step(self) -> None:
        self.steps += 1
        if self.steps > self.limits.max_steps:
            raise self.fail(f"stopped after {self.limits.max_steps} steps (template step limit)")

    def check_size(self, size: int) -> None:
        if size > self.limits.max_output_chars:
            bound = f"{self.limits.max_output_chars} characters (commit message size limit)"
            raise self.fail(f"the message would be longer than {bound}")

    def nodes(self, nodes: Sequence[Any], dot: Any) -> None:
        mark = len(self.vars)
        for node in nodes:
            self.step()
            if isinstance(node, _Pipe):
                value = self.pipeline(node, dot)
                if node.decl:  # {{ $x := ... }} prints nothing
                    continue
                node = "<no value>" if value is _NO_VALUE else _format(value)
            if isinstance(node, str):
                self.check_size(self.size + len(node))
                self.size += len(node)
                self.out.append(node)
            elif node.kind == "range":
                self.range_(node, dot)
            else:
                for pipe, body in node.branches:
                    value = self.pipeline(pipe, dot)
                    if _truth(value):
                        self.nodes(body, value if node.kind == "with" else dot)
                        break
                else:
                    self.nodes(node.otherwise, dot)
        del self.vars[mark:]

    def range_(self, node: _Control, dot: Any) -> None:
        pipe, body = node.branches[0]
        value = self.pipeline(pipe, dot, declare=False)
        if isinstance(value, list | tuple):
            items: list[tuple[Any, Any]] = list(enumerate(value))
        elif isinstance(value, Mapping):
            items = [(key, value[key]) for key in sorted(value)]
        elif value is None or value is _NO_VALUE:
            items = []
        else:
            raise self.fail(f"range can't iterate over {_format(value)}")
        mark = len(self.vars)
        for key, item in items:
            self.step()
            if pipe.assign:
                self.set_var(pipe.decl[0], item, assign=True)
            else:
                bound = [key, item] if len(pipe.decl) == 2 else [item]
                self.vars[mark:] = [[name, v] for name, v in zip(pipe.decl, bound, strict=False)]
            self.nodes(body, item)
        del self.vars[mark:]
        if not items:
            self.nodes(node.otherwise, dot)

    def pipeline(self, pipe: _Pipe, dot: Any, declare: bool = True) -> Any:
        self.line = pipe.line
        value: Any = _NO_FINAL
        for first, *args in pipe.cmds:
            if first[0] == "call":
                value = self.call(first[1], args, dot, value)
            elif args or value is not _NO_FINAL or first[0] == "nil":
                what = "nil is not a command" if first[0] == "nil" else "a non-function"
                raise self.fail(what if first[0] == "nil" else f"can't give an argument to {what}")
            else:
                value = self.operand(first, dot)
        if declare and pipe.decl:
            self.set_var(pipe.decl[0], value, pipe.assign)
        return value

    def set_var(self, name: str, value: Any, assign: bool) -> None:
        entry = next((e for e in reversed(self.vars) if e[0] == name), None) if assign else None
        if entry is not None:
            entry[1] = value
        else:
            self.vars.append([name, value])

    def operand(self, node: tuple[Any, ...], dot: Any) -> Any:
        kind = node[0]
        if kind in ("lit", "nil"):
            return node[1] if kind == "lit" else None
        if kind == "call":  # a function named as an argument is called without arguments
            return self.call(node[1], [], dot, _NO_FINAL)
        receiver, names = dot, node[1]
        if kind == "pipe":
            receiver, names = self.pipeline(node[1], dot, declare=False), node[2]
        if kind == "var":
            name, names = node[1]
            if name:
                receiver = next(e[1] for e in reversed(self.vars) if e[0] == name)
        for name in names:
            receiver = self.field(receiver, name)
        return receiver

    def field(self, receiver: Any, name: str) -> Any:
        if receiver is _NO_VALUE or receiver is None:
            return _NO_VALUE
        if isinstance(receiver, Mapping) and all(isinstance(key, str) for key in receiver):
            return receiver.get(name, _NO_VALUE)
        attribute = _attribute(name)
        if dataclasses.is_dataclass(receiver) and name[0].isupper() and "_" not in name:
            if attribute in {item.name for item in dataclasses.fields(receiver)}:
                return getattr(receiver, attribute)
            if callable(type(receiver).__dict__.get(attribute)):  # a method without arguments
                return getattr(receiver, attribute)()
        removed = _REMOVED.get((type(receiver).__name__, name))
        raise self.fail(removed or f"can't evaluate field {name} in type {_go_type(receiver)}")

    def call(self, name: str, args: Sequence[Any], dot: Any, final: Any) -> Any:
        self.step()
        function, low, high = _FUNCTIONS[name]
        count = len(args) + (final is not _NO_FINAL)
        if not low <= count <= high:
            want = str(low) if low == high else f"{low} to {high}" if high < _MANY else f"{low}+"
            raise self.fail(f"wrong number of arguments for {name}: want {want}, got {count}")
        thunks: list[Callable[[], Any]] = [partial(self.operand, arg, dot) for arg in args]
        if final is not _NO_FINAL:
            thunks.append(lambda: final)
        if name in ("and", "or"):  # evaluated only as far as needed, as Go does
            value = None
            for thunk in thunks:
                value = thunk()
                if _truth(value) == (name == "or"):
                    break
            return value
        result = function(self, *(thunk() for thunk in thunks))
        if isinstance(result, str):
            self.check_size(len(result))
        return result


# ---- functions --------------------------------------------------------------------------------


def _string(run: _Run, value: Any) -> str:
    if not isinstance(value, str):
        raise run.fail(f"expected a string argument, got {_go_type(value)}")
    return value


def _sprint(run: _Run, *values: Any) -> str:
    """fmt.Sprint: a space between operands when neither is a string."""
    strings = [isinstance(value, str) for value in values]
    return "".join(
        ("" if not index or strings[index] or strings[index - 1] else " ") + _format(value)
        for index, value in enumerate(values)
    )


def _quote(text: str) -> str:
    """strconv.Quote, for the characters a commit message meets."""
    return json.dumps(text, ensure_ascii=False)


_VERB = re.compile(r"%([-0]*)(\d*)(?:\.(\d+))?(.?)", re.DOTALL)


def _printf(run: _Run, template: Any, *values: Any) -> str:
    """fmt.Sprintf for %v %s %d %q %t %%, with a width, a precision for %s, and - or 0."""
    out, used, position, text = [], 0, 0, _string(run, template)
    for match in _VERB.finditer(text):
        out.append(text[position : match.start()])
        position = match.end()
        flags, width, precision, verb = match.groups()
        if verb == "%" or used >= len(values):
            out.append("%" if verb == "%" else f"%!{verb}(MISSING)")
            continue
        if max(int(width or 0), int(precision or 0)) > _MAX_WIDTH:
            raise run.fail(f"printf width or precision larger than {_MAX_WIDTH}")
        value, used, kind = values[used], used + 1, _go_type(values[used])
        fits = {"v": True, "s": kind not in ("bool", "int"), "d": kind == "int",
                "q": kind == "string", "t": kind == "bool"}.get(verb, False)  # fmt: skip
        piece = _quote(value) if verb == "q" and fits else _format(value)
        piece = piece[: int(precision)] if precision and verb == "s" else piece
        piece = piece if fits else f"%!{verb}({kind}={piece})"
        padded = piece.rjust(int(width or 0), "0" if "0" in flags and verb == "d" else " ")
        out.append(piece.ljust(int(width or 0)) if "-" in flags else padded)
    out.append(text[position:])
    if used < len(values):
        out.append(f"%!(EXTRA {', '.join(map(_format, values[used:]))})")
    return "".join(out)


def _length(run: _Run, value: Any) -> int:
    if isinstance(value, str | list | tuple | Mapping):
        return len(value.encode()) if isinstance(value, str) else len(value)  # Go counts bytes
    raise run.fail(f"len of type {_go_type(value)}")


def _index(run: _Run, item: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(item, Mapping):  # a missing key gives the element type's zero value
            item = item.get(key, "" if all(isinstance(v, str) for v in item.values()) else None)
        elif isinstance(item, list | tuple) and _go_type(key) == "int" and 0 <= key < len(item):
            item = item[key]
        else:
            raise run.fail(f"cannot index {_go_type(item)} with {_format(key)}")
    return item


def _compare(run: _Run, op: str, left: Any, *rights: Any) -> bool:
    """eq (with any of several), ne, lt, le, gt, ge over values of one basic kind."""
    for right in rights:
        kinds = {_go_type(left), _go_type(right)}
        if len(kinds) != 1 or not kinds <= {"string", "int", "bool"}:
            raise run.fail(f"incompatible types for comparison: {' and '.join(sorted(kinds))}")
        if op not in ("eq", "ne") and kinds == {"bool"}:
            raise run.fail("invalid type for comparison: bool")
        if _ORDER[op](left, right):
            return True
    return False


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b, "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b,
}  # fmt: skip


def _replace(run: _Run, old: Any, new: Any, src: Any) -> str:
    old, new, src = _string(run, old), _string(run, new), _string(run, src)
    count = src.count(old) if old else len(src) + 1
    run.check_size(len(src) + count * (len(new) - len(old)))
    return src.replace(old, new)


def _text(function: Callable[..., Any]) -> Callable[..., Any]:
    """A Sprig function over string arguments."""
    return lambda run, *values: function(*(_string(run, value) for value in values))


def _loose(function: Callable[..., Any]) -> Callable[..., Any]:
    """A function of Go ``any`` arguments: a missing key arrives as nil."""
    return lambda run, *values: function(run, *(None if v is _NO_VALUE else v for v in values))


def _comparison(op: str) -> tuple[Callable[..., Any], int, int]:
    return (lambda run, *values: _compare(run, op, *values)), 2, _MANY if op == "eq" else 2


_MANY = 1_000
# name: (function, fewest arguments, most arguments)
_FUNCTIONS: dict[str, tuple[Callable[..., Any], int, int]] = {
    "and": (_sprint, 1, _MANY),  # both evaluated by _Run.call itself
    "or": (_sprint, 1, _MANY),
    "not": (lambda run, value: not _truth(value), 1, 1),
    "len": (_length, 1, 1),
    "index": (_index, 1, _MANY),
    "print": (_loose(_sprint), 0, _MANY),
    "printf": (_loose(_printf), 1, _MANY),
    "println": (_loose(lambda run, *values: " ".join(map(_format, values)) + "\n"), 0, _MANY),
    **{op: _comparison(op) for op in _ORDER},
    "lower": (_text(str.lower), 1, 1),
    "upper": (_text(str.upper), 1, 1),
    "title": (_text(lambda s: re.sub(r"(?<!\w)\w", lambda m: m.group().upper(), s)), 1, 1),
    "trim": (_text(lambda s: s.strip(" \t\n\r\v\f")), 1, 1),
    "trimPrefix": (_text(lambda prefix, s: s.removeprefix(prefix)), 2, 2),
    "trimSuffix": (_text(lambda suffix, s: s.removesuffix(suffix)), 2, 2),
    "replace": (_replace, 3, 3),
    "contains": (_text(lambda needle, s: needle in s), 2, 2),
    "hasPrefix": (_text(lambda prefix, s: s.startswith(prefix)), 2, 2),
    "hasSuffix": (_text(lambda suffix, s: s.endswith(suffix)), 2, 2),
    "quote": (_loose(lambda run, *v: " ".join(_quote(_format(x)) for x in v if x is not None)), 0,
              _MANY),
    "default": (lambda run, fallback, given=None: given if _truth(given) else fallback, 1, 2),
}  # fmt: skip


# ---- public API -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommitTemplate:
    """A parsed commit message template."""

    source: str
    limits: TemplateLimits
    nodes: tuple[Any, ...] = field(repr=False)

    def render(self, data: Any) -> str:
        """The commit message for ``data``; :class:`InvalidTemplateError` when the template
        reads a field that does not exist, misuses a function or passes a bound."""
        run = _Run(self.limits, data)
        run.nodes(self.nodes, data)
        return "".join(run.out)


@lru_cache(maxsize=256)
def parse_template(
    source: str | None, limits: TemplateLimits = DEFAULT_TEMPLATE_LIMITS
) -> CommitTemplate:
    """Parse a ``messageTemplate`` (empty or ``None``: Flux's default message)."""
    source = source or DEFAULT_MESSAGE_TEMPLATE
    if len(source) > limits.max_template_chars:
        bound = f"{limits.max_template_chars} characters (template size limit)"
        raise InvalidTemplateError(f"the template is longer than {bound}")
    nodes, _ = _Parser(source, limits).parse_list(top=True)
    return CommitTemplate(source, limits, tuple(nodes))


def render_message(
    source: str | None, data: Any, limits: TemplateLimits = DEFAULT_TEMPLATE_LIMITS
) -> str:
    """Parse and render a commit message template."""
    return parse_template(source, limits).render(data)
