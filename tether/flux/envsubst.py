"""Flux's fork of drone/envsubst, on text: the ``${...}`` parser and evaluator, and its bounds.

Only ``${...}`` is an expression, ``$$`` is a literal ``$`` anywhere. The fork's quirks are kept:
``${v:+x}``, ``${v:?x}``, ``${v=x}`` act as ``${v:-x}``; ``${v-x}`` and ``${v+x}`` are errors;
lengths, offsets and ``#``/``%`` patterns (Go's ``path.Match``, ``*`` matching ``/`` too) count
UTF-8 bytes; defaults are evaluated even when unused. Strict mode fails on an unset variable
unless the expression gives a default. :mod:`tether.flux.substitute` runs objects through it.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tether.errors import TetherError
from tether.safeyaml import MiB

#: the rule Flux checks variable names against, as its message spells it
VAR_NAME_RULE = "^[_[:alpha:]][_[:alpha:][:digit:]]*$"
_VAR_NAME = re.compile(r"[_A-Za-z][_A-Za-z0-9]*")  # RE2's classes are ASCII
_DEFAULT_OPS = frozenset({"-", ":-", "+", ":+", "=", ":=", "?", ":?"})  # strict lets these by
# one Go rune: a valid UTF-8 sequence, else a single byte (which Go reads as U+FFFD)
_RUNE = re.compile(
    rb"[\x00-\x7f]|[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
    rb"|\xf4[\x80-\x8f][\x80-\xbf]{2}|[\x80-\xff]"
)
_FAILED = "envsubst error: variable substitution failed: "
_Accept = Callable[[str, int], bool]


@dataclass(frozen=True)
class SubstitutionLimits:
    """Bounds of one call: ``max_work_bytes`` counts all bytes expressions produce (unused
    defaults too), ``max_match_steps`` the work of ``#``/``%`` patterns."""

    max_variables: int = 10_000
    max_value_bytes: int = 1 * MiB
    max_object_bytes: int = 8 * MiB
    max_total_bytes: int = 64 * MiB
    max_nesting: int = 16
    max_work_bytes: int = 256 * MiB
    max_match_steps: int = 2_000_000


DEFAULT_SUBSTITUTION_LIMITS = SubstitutionLimits()


class SubstitutionError(TetherError):
    """Substitution failed; the message names the object and variable, never a value."""

    def __init__(self, message: str, *, obj: str | None = None, variable: str | None = None):
        super().__init__(f"post build failed for {obj}: {message}" if obj else message)
        self.object = obj
        self.variable = variable


class EnvsubstFailure(Exception):
    """A failure not yet tied to an object (the engine's, or of a step around it): callers wrap
    it in :class:`SubstitutionError`. The message names variables, never a value."""

    def __init__(self, message: str, variable: str | None = None) -> None:
        super().__init__(message)
        self.message, self.variable = message, variable


class Envsubst:
    """Texts through Flux's envsubst with one set of variables, ``limits`` bounding all the texts
    together. :class:`SubstitutionError` on too many variables or too long a value; then
    :meth:`check_names` and :meth:`expand` raise :class:`EnvsubstFailure`."""

    def __init__(self, variables: Mapping[str, str], *, strict: bool = True,
                 limits: SubstitutionLimits = DEFAULT_SUBSTITUTION_LIMITS) -> None:  # fmt: skip
        self._values, self._strict = _encode(variables, limits), strict
        self._budget = _Budget(limits)
        self.used: set[str] = set()  # names whose values went into the last text, for messages

    def check_names(self) -> None:
        """Fails on a variable name Flux refuses (Flux checks at the first object it substitutes)."""
        for name in self._values:
            if not _VAR_NAME.fullmatch(name):
                raise EnvsubstFailure(f"envsubst error: '{name[:64]}' var name is invalid, "
                                      f"must match '{VAR_NAME_RULE}'", variable=name)  # fmt: skip

    def expand(self, text: str) -> str:
        """``text`` expanded; :attr:`used` then names the variables whose values went in."""
        limits, parts, size = self._budget.limits, [], 0
        self.used = set()
        for node in _Parser(text, limits.max_nesting).parse():
            parts.append(self._node(node))
            size += len(parts[-1])
            if size > limits.max_object_bytes:
                raise EnvsubstFailure(f"a substituted object exceeds {limits.max_object_bytes} "
                                      "bytes")  # fmt: skip
        self._budget.total += size
        if self._budget.total > limits.max_total_bytes:
            raise EnvsubstFailure(f"substituted objects exceed {limits.max_total_bytes} bytes")
        try:
            return b"".join(parts).decode("utf-8")
        except UnicodeDecodeError:  # an offset cut a character; Flux's YAML parser refuses it
            hint = describe_inserted(self.used)
            raise EnvsubstFailure("envsubst error: YAMLToJSON: the substituted text is not valid "
                                  f"UTF-8 ({hint})") from None  # fmt: skip

    def _node(self, node: bytes | _Func) -> bytes:
        if isinstance(node, bytes):
            return node
        args = [self._node(arg) for arg in node.args]  # all evaluated, as in Flux
        value = self._values.get(node.param)
        if value is None and self._strict and node.op not in _DEFAULT_OPS:
            raise EnvsubstFailure(f"{_FAILED}variable not set (strict mode): "
                                  f"{json.dumps(node.param[:253])}", node.param)  # fmt: skip
        if value is not None:
            self.used.add(node.param)
        result = _apply(node.op, value or b"", args, self._budget)
        self._budget.produce(len(result))
        return result


def expand(text: str, variables: Mapping[str, str], *, strict: bool = True,
           limits: SubstitutionLimits = DEFAULT_SUBSTITUTION_LIMITS) -> str:  # fmt: skip
    """``text`` through Flux's envsubst (as ``flux envsubst`` does), without YAML."""
    try:
        return Envsubst(variables, strict=strict, limits=limits).expand(text)
    except EnvsubstFailure as exc:
        raise SubstitutionError(exc.message, variable=exc.variable) from None


def describe_inserted(used: Iterable[str]) -> str:
    """Which values to check when expanded text is refused: their names, never the values."""
    names = sorted(used)
    listed = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
    return f"check the values of: {listed}" if names else "no variable was inserted"


class _Budget:
    def __init__(self, limits: SubstitutionLimits) -> None:
        self.limits, self.work, self.steps, self.total = limits, 0, 0, 0

    def produce(self, size: int) -> None:
        self.work += size
        if size > self.limits.max_object_bytes or self.work > self.limits.max_work_bytes:
            raise EnvsubstFailure("expressions produce too much text (substitution size limit)")

    def step(self, count: int) -> None:
        self.steps += count
        if self.steps > self.limits.max_match_steps:
            raise EnvsubstFailure("patterns take too many steps to match (substitution work limit)")


def _encode(variables: Mapping[str, str], limits: SubstitutionLimits) -> dict[str, bytes]:
    if len(variables) > limits.max_variables:
        raise SubstitutionError(f"more than {limits.max_variables} variables")
    values = {}
    for name, value in variables.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise SubstitutionError(f"variable {str(name)[:64]!r} is not a string")
        values[name] = value.encode("utf-8", "surrogateescape")
        if len(values[name]) > limits.max_value_bytes:
            raise SubstitutionError(f"variable {name[:64]!r} is longer than "
                                    f"{limits.max_value_bytes} bytes", variable=name)  # fmt: skip
    return values


# ---- parse (the fork's scanner, read again: same tokens, errors and oddities) --------------------


@dataclass(frozen=True, slots=True)
class _Func:
    param: str
    op: str
    args: tuple[bytes | _Func, ...] = ()


def _ident(ch: str, i: int) -> bool:
    category = unicodedata.category(ch)  # Go's unicode.IsLetter or IsDigit
    return ch == "_" or category[0] == "L" or category == "Nd"


def _op(*positions: str) -> _Accept:
    """Accepts one of ``positions[i - 1]`` as the i-th char of an operator."""
    return lambda ch, i: i <= len(positions) and ch in positions[i - 1]


def _not(stops: str) -> _Accept:
    return lambda ch, i: ch not in stops


_OPEN, _CLOSE, _WORD, _OTHER = "${", "}", "word", "other"


class _Parser:
    def __init__(self, text: str, max_nesting: int) -> None:
        self.text, self.pos, self.depth, self.max_nesting = text, 0, 0, max_nesting

    def parse(self) -> list[bytes | _Func]:
        text, plain = self.text, []
        nodes: list[bytes | _Func] = []
        while self.pos < len(text):
            dollar = text.find("$", self.pos)
            if dollar < 0:
                dollar = len(text)
            plain.append(text[self.pos : dollar])
            after = text[dollar + 1 : dollar + 2]
            self.pos = dollar + (2 if after in ("$", "{") else 1)
            if after == "{":
                nodes.append("".join(plain).encode())
                plain = []
                nodes.append(self._func())
            elif dollar < len(text):
                plain.append("$")  # "$$" is one literal "$"; a lone "$" stays
        return [*nodes, "".join(plain).encode()]

    def _peek(self, ahead: int = 0) -> str:
        return self.text[self.pos + ahead : self.pos + ahead + 1]

    def _scan(self, accept: _Accept | None = None, *, brace: bool = False, close: bool = False,
              escapes: str = "") -> tuple[str, str]:  # fmt: skip
        start, word = self.pos, []
        if brace and self.text.startswith("${", start):
            self.pos += 2
            return _OPEN, ""
        if close and self._peek() == "}":
            self.pos += 1
            return _CLOSE, ""
        while accept is not None and self._peek():
            ch, after = self._peek(), self._peek(1)
            if brace and ch == "$" and after == "{":
                break
            if ch in escapes and ((ch == "$" == after) or (ch == "\\" and after in ("/", "\\"))):
                word.append(after)  # an escaped char is taken without a look
                self.pos += 2
            elif accept(ch, len(word) + 1):
                word.append(ch)
                self.pos += 1
            else:
                break
        return (_WORD, "".join(word)) if self.pos > start else (_OTHER, "")

    def _expect(self, kind: str, token: tuple[str, str], problem: str = "bad substitution") -> str:
        if token[0] != kind:
            raise EnvsubstFailure(_FAILED + problem)
        return token[1]

    def _close(self, problem: str = "bad substitution") -> None:
        self._expect(_CLOSE, self._scan(close=True), problem)

    def _param(self, accept: _Accept, escapes: str = "") -> bytes | _Func:
        token = self._scan(accept, brace=True, escapes=escapes)
        if token[0] == _OPEN:
            return self._func()
        return self._expect(_WORD, token, "unable to parse substitution within function").encode()

    def _func(self) -> _Func:
        self.depth += 1
        if self.depth > self.max_nesting:
            raise EnvsubstFailure(f"expressions nested deeper than {self.max_nesting} levels "
                                  "(substitution nesting limit)")  # fmt: skip
        node = self._func_body()
        self.depth -= 1
        return node

    def _func_body(self) -> _Func:
        if self._peek() == "#":  # ${#name}
            self._expect(_WORD, self._scan(_op("#")))
            name = self._expect(_WORD, self._scan(_ident))
            self._close()
            return _Func(name, "#")
        name = self._expect(_WORD, self._scan(_ident), "unable to parse variable name")
        first, args = self._peek(), []
        if first == "=" or (first == ":" and self._peek(1) in ("=", "-", "?", "+")):
            accept = _op("=") if first == "=" else _op(":", "=-?+")
            op = self._expect(_WORD, self._scan(accept), "unable to parse default function")
            while self._peek() != "}":
                args.append(self._param(_not("}")))
        elif first == ":":  # ${name:offset} and ${name:offset:length}
            op = self._expect(_WORD, self._scan(_op(":")))
            args.append(self._param(_not(":}")))
            if self._scan(lambda ch, i: ch == ":", close=True)[0] == _CLOSE:  # or colons
                return _Func(name, op, tuple(args))
            args.append(self._param(_not("}")))
        elif first in (",", "^", "#", "%"):
            chars = ",^" if first in ",^" else first
            op = self._expect(_WORD, self._scan(_op(chars, chars)))
            args += [] if chars == ",^" else [self._param(_not("}"))]
        elif first == "/":  # ${name/from/to}, and // (all), /# (prefix), /% (suffix)
            op = self._expect(_WORD, self._scan(_op("/", "/#%")))
            args.append(self._param(_not("/"), "$\\"))
            self._expect(_WORD, self._scan(lambda ch, i: ch == "/"))  # a slash, or more
            if self._peek() != "}":
                args.append(self._param(_not("}"), "$\\"))
        else:
            op = ""
            self._close("missing closing brace")
            return _Func(name, op)
        self._close()
        return _Func(name, op, tuple(args))


# ---- evaluate ------------------------------------------------------------------------------------


def _apply(op: str, value: bytes, args: list[bytes], budget: _Budget) -> bytes:
    if op in (",", ",,", "^", "^^"):
        text = value.decode("utf-8", "surrogateescape")
        head = _recase(text if len(op) == 2 else text[:1], op[0] == "^")
        return (head + text[len(head) :]).encode("utf-8", "surrogateescape")
    if op == "#" and not args:
        return str(len(value)).encode()
    if op in ("#", "##", "%", "%%"):
        return _trim(value, args[0], longest=len(op) == 2, suffix=op[0] == "%", budget=budget)
    if op == ":":
        return _substring(value, args)
    if op in ("/", "//"):
        return _replace(value, args[0], args[1] if len(args) > 1 else b"", op == "//", budget)
    if op == "/#" and len(args) == 2 and value.startswith(args[0]):
        return args[1] + value[len(args[0]) :]
    if op == "/%" and len(args) == 2 and value.endswith(args[0]):
        return value[: len(value) - len(args[0])] + args[1]
    if op in ("/#", "/%") or value or not args:
        return value
    return b"".join(args)  # every default form: the value unless empty, else the words


def _recase(text: str, upper: bool) -> str:
    """Go's simple (one rune to one rune) case mapping; Python's own may give several."""
    if text.isascii():
        return text.upper() if upper else text.lower()
    out = []
    for ch in text:
        mapped = ch.upper() if upper else ch.lower()
        if len(mapped) != 1:
            mapped = ch.title() if upper else ("i" if ch == "\u0130" else ch)
        out.append(mapped if len(mapped) == 1 else ch)
    return "".join(out)


def _int64(word: bytes) -> int | None:
    """Go's ``strconv.Atoi``: ASCII digits with a sign, within 64 bits."""
    number = int(word) if re.fullmatch(rb"[+-]?[0-9]+", word) else None
    return number if number is not None and -(2**63) <= number < 2**63 else None


def _substring(value: bytes, args: list[bytes]) -> bytes:
    size, start, length = len(value), _int64(args[0]), _int64(args[-1])
    if start is None or (len(args) == 2 and length is None):
        return value
    start = max(size + start, 0) if start < 0 else start
    end = size if len(args) == 1 else (start + (length or 0) + 2**63) % 2**64 - 2**63  # Go int
    if end >= size:
        return value[start:] if start < size else b""
    if end < start:  # Flux's controller panics on this slice
        raise EnvsubstFailure(_FAILED + "negative substring length")
    return value[start:end]


def _replace(value: bytes, old: bytes, new: bytes, every: bool, budget: _Budget) -> bytes:
    if old == new:
        return value
    if not old:  # Go inserts at the start and, for "//", after every rune
        runes = _RUNE.findall(value) if every else []
        budget.produce(len(value) + (len(runes) + 1) * len(new))
        return new + (b"".join(rune + new for rune in runes) if every else value)
    count = value.count(old) if every else min(value.count(old), 1)
    budget.produce(len(value) + count * (len(new) - len(old)))
    return value.replace(old, new, -1 if every else 1)


def _reverse(data: bytes) -> bytes:
    """Go's ``string([]rune(s))`` reversed: invalid bytes become U+FFFD."""
    if data.isascii():
        return data[::-1]
    return "".join(chr(_rune_value(rune)) for rune in reversed(_RUNE.findall(data))).encode()


def _rune_value(rune: bytes) -> int:
    return 0xFFFD if len(rune) == 1 and rune[0] >= 0x80 else ord(rune.decode())


# ---- #, ##, % and %%: Go's path.Match on byte prefixes, "*" matching "/" too ------------------


def _trim(value: bytes, pattern: bytes, *, longest: bool, suffix: bool, budget: _Budget) -> bytes:
    """Removes the shortest (longest) non-empty prefix matching ``pattern``; ``%`` does so on
    the reversed value with the reversed pattern, as Flux does."""
    if suffix:
        value, pattern = _reverse(value), _reverse(pattern)
    try:
        tokens = _glob(pattern)
    except ValueError:  # a malformed pattern leaves the value as it is
        return _reverse(value) if suffix else value
    accepts = _glob_accepts(tokens, value, budget)
    # a prefix that cuts a character reads its bytes as U+FFFD each: only "?" and [...] care
    exact = value.isascii() or all(token[0] in "*=" for token in tokens)
    bounds = set() if exact else {match.end() for match in _RUNE.finditer(value)}
    trimmed = value
    for size in range(len(value), 0, -1) if longest else range(1, len(value) + 1):
        if exact or size in bounds:
            matched = accepts[size]
        else:
            matched = _glob_accepts(tokens, value[:size], budget)[size]
        if matched:
            trimmed = value[size:]
            break
    return _reverse(trimmed) if suffix else trimmed


def _glob(pattern: bytes) -> list[tuple[Any, ...]]:
    """The pattern's tokens; ``ValueError`` where Go reports ErrBadPattern."""
    tokens: list[tuple[Any, ...]] = []
    at = 0
    while at < len(pattern):
        byte = pattern[at]
        if byte in b"*?":
            tokens.append((chr(byte),))
        elif byte == ord("\\"):
            at += 1
            if at == len(pattern):
                raise ValueError("trailing backslash")
            tokens.append(("=", pattern[at]))
        elif byte == ord("["):
            negated = pattern[at + 1 : at + 2] == b"^"
            at += 1 + negated
            ranges: list[tuple[int, int]] = []
            while not (pattern[at : at + 1] == b"]" and ranges):
                low, at = _glob_char(pattern, at)
                high, at = _glob_char(pattern, at + 1) if pattern[at] == ord("-") else (low, at)
                ranges.append((low, high))
            tokens.append(("[", negated, ranges))
        else:
            tokens.append(("=", byte))
        at += 1
    return tokens


def _glob_char(pattern: bytes, at: int) -> tuple[int, int]:
    if at >= len(pattern) or pattern[at] in b"-]":
        raise ValueError("bad character class")
    at += pattern[at] == ord("\\")
    rune = _RUNE.match(pattern, at)
    if rune is None or rune.end() >= len(pattern) or (rune.end() - at == 1 and pattern[at] >= 0x80):
        raise ValueError("bad character class")
    return _rune_value(rune.group()), rune.end()


def _glob_accepts(tokens: list[tuple[Any, ...]], name: bytes, budget: _Budget) -> list[bool]:
    """For each prefix length of ``name``: does that whole prefix match? (one NFA pass)"""
    final, accepts = len(tokens), [False] * (len(name) + 1)
    pending: dict[int, set[int]] = {0: {0}}
    for at in range(len(name) + 1):
        states = pending.pop(at, set())
        stars = [state for state in states if state < final and tokens[state][0] == "*"]
        while stars:  # a star may match nothing
            state = stars.pop() + 1
            if state not in states:
                states.add(state)
                stars += [state] if state < final and tokens[state][0] == "*" else []
        budget.step(len(states) + 1)
        accepts[at] = final in states
        rune = _RUNE.match(name, at)
        if rune is None or not (states or pending):
            break
        for state in states - {final}:
            kind, token = tokens[state][0], tokens[state]
            if kind == "*":
                pending.setdefault(at + 1, set()).add(state)
            elif kind == "=" and name[at] == token[1]:
                pending.setdefault(at + 1, set()).add(state + 1)
            elif kind == "?" or (kind == "[" and any(
                    low <= _rune_value(rune.group()) <= high for low, high in token[2]) != token[1]):  # fmt: skip
                pending.setdefault(rune.end(), set()).add(state + 1)
    return accepts
