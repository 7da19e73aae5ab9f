"""Regular expressions for ``matches``: RE2 syntax, matched by a Thompson NFA in linear time.

``matches`` runs its own linear-time matcher (RE2 syntax, no backtracking), so no pattern can
take exponential time. What RE2 lacks (lookaround, backreferences, atomic groups, conditionals)
is refused, and a pattern's length, its program and the work of matching it are bounded."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tether.notify.expr.errors import ExprError
from tether.notify.expr.limits import (
    MAX_MATCH_INPUT,
    MAX_REGEX_LENGTH,
    MAX_REGEX_PROGRAM,
    MAX_REGEX_WORK,
)

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


class Regex:
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


def compile_regex(pattern: str, col: int) -> Regex:
    parser = _RegexParser(pattern, col)
    if len(pattern) > MAX_REGEX_LENGTH:
        raise parser.fail(f"longer than {MAX_REGEX_LENGTH} characters")
    tree = parser.parse()
    program: list[tuple] = []
    _emit(tree, program, parser.fail)
    program.append(("match",))
    if len(program) > MAX_REGEX_PROGRAM:
        raise parser.fail("pattern too large")
    return Regex(pattern, program)
