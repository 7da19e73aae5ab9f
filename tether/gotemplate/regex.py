"""Go's RE2 regular expressions on Python's ``re``, refused when they could run away.

RE2 runs in linear time; Python's ``re`` backtracks and can take exponential time. So a
pattern is translated (Go's ``$`` is the end of text, classes are ASCII, ``(?<name>`` is a
named group) and refused when Go would refuse it (backreferences, lookarounds, possessive
quantifiers) or when it could be slow here: a repetition of something that itself repeats or
alternates (``(a+)+``, ``(a|ab)*``), or an estimated backtracking cost — the product of every
repetition's and alternation's choices, times the input length when unanchored — above
:data:`MAX_COST` for the text at hand.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from tether.gotemplate.values import ValueError_

MAX_COST = 20_000_000
_POSIX = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_QUANTIFIER = re.compile(r"\*|\+|\?|\{(\d+)(,(\d*))?\}")


@dataclass(frozen=True, slots=True)
class Regex:
    compiled: re.Pattern[str]
    factors: tuple[int | None, ...]  # None: an unbounded repetition (a factor of n)
    anchored: bool

    def check_cost(self, text: str, limit: int) -> None:
        if len(text) > limit:
            raise ValueError_(f"regular expressions search at most {limit} characters")
        n = len(text) + 1
        cost = 1 if self.anchored else n
        for factor in self.factors:
            cost *= n if factor is None else factor
            if cost > MAX_COST:
                raise ValueError_(
                    f"regular expression could backtrack too long on {len(text)} characters"
                )


class _Scanner:
    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.i = 0
        self.out: list[str] = []
        self.factors: list[int | None] = []
        # per open group: [contains repetition or alternation, branch count, start in out]
        self.groups: list[list[int]] = [[0, 1, 0]]
        self.last_atom_group: list[int] | None = None
        self.multiline = False

    def fail(self, message: str) -> ValueError_:
        return ValueError_(f"error parsing regexp: {message}: `{self.pattern}`")

    def run(self) -> str:
        while self.i < len(self.pattern):
            self.step()
        if len(self.groups) > 1:
            raise self.fail("missing closing )")
        if self.groups[0][1] > 1:
            self.factors.append(self.groups[0][1])
        return "".join(self.out)

    def step(self) -> None:
        ch = self.pattern[self.i]
        quantifier = _QUANTIFIER.match(self.pattern, self.i)
        if quantifier:
            self.quantify(quantifier)
            return
        self.last_atom_group = None
        if ch == "\\":
            self.escape()
        elif ch == "[":
            self.char_class()
        elif ch == "(":
            self.open_group()
        elif ch == ")":
            self.close_group()
        elif ch == "|":
            self.groups[-1][0] = 1
            self.groups[-1][1] += 1
            self.out.append("|")
            self.i += 1
        elif ch == "$":
            self.out.append("$" if self.multiline else r"\Z")
            self.i += 1
        else:
            self.out.append(re.escape(ch) if ch not in ".^" else ch)
            self.i += 1

    def quantify(self, match: re.Match[str]) -> None:
        text = match.group(0)
        self.i = match.end()
        lazy = self.pattern.startswith("?", self.i)
        if lazy:
            self.i += 1
        if self.pattern.startswith(("+", "*"), self.i) or _QUANTIFIER.match(self.pattern, self.i):
            raise self.fail(f"invalid nested repetition operator: `{text}{self.pattern[self.i]}`")
        if self.last_atom_group is not None and self.last_atom_group[0]:
            raise ValueError_(
                f"regular expression `{self.pattern}` repeats a group that itself repeats or "
                "alternates; Tether refuses it (it could backtrack exponentially)"
            )
        if text in ("*", "+"):
            factor: int | None = None
        elif text == "?":
            factor = 2
        else:
            low = int(match.group(1))
            high = match.group(3)
            if (high and int(high) > 1000) or low > 1000:
                raise self.fail(f"invalid repeat count: `{text}`")
            factor = None if match.group(2) and not high else int(high or low) - low + 1
        self.factors.append(factor)
        self.groups[-1][0] = 1
        self.out.append(text + ("?" if lazy else ""))

    def escape(self) -> None:
        nxt = self.pattern[self.i + 1 : self.i + 2]
        if nxt == "" or (nxt.isdigit() and nxt != "0"):
            raise self.fail(f"invalid escape sequence: `\\{nxt}`")
        if nxt in "pP":
            raise self.fail("Unicode classes \\p are not supported by Tether")
        translated = {"z": r"\Z", "Q": None, "C": None}.get(nxt, "\\" + nxt)
        if translated is None:
            raise self.fail(f"invalid escape sequence: `\\{nxt}`")
        self.out.append(translated)
        self.i += 2

    def char_class(self) -> None:
        end = self.i + 1
        if self.pattern.startswith("^", end):
            end += 1
        if self.pattern.startswith("]", end):
            end += 1
        body: list[str] = []
        while end < len(self.pattern) and self.pattern[end] != "]":
            posix = re.match(r"\[:(\^?)(\w+):\]", self.pattern[end:])
            if posix and posix.group(2) in _POSIX and not posix.group(1):
                body.append(_POSIX[posix.group(2)])
                end += posix.end()
                continue
            if self.pattern[end] == "\\":
                body.append(self.pattern[end : end + 2])
                end += 2
                continue
            body.append("\\[" if self.pattern[end] == "[" else self.pattern[end])
            end += 1
        if end >= len(self.pattern):
            raise self.fail(f"missing closing ]: `{self.pattern[self.i :]}`")
        head = self.pattern[self.i : self.i + 1 + self.pattern.startswith("^", self.i + 1)]
        self.out.append(head + "".join(body) + "]")
        self.i = end + 1

    def open_group(self) -> None:
        rest = self.pattern[self.i :]
        if rest.startswith(("(?=", "(?!", "(?<=", "(?<!", "(?>", "(?#", "(?(")):
            raise self.fail(f"invalid or unsupported Perl syntax: `{rest[:3]}`")
        flags = re.match(r"\(\?([imsU-]*)(:|\))", rest)
        named = re.match(r"\(\?P?<(\w+)>", rest)
        if named:
            self.out.append(f"(?P<{named.group(1)}>")
            self.i += named.end()
        elif flags:
            if "U" in flags.group(1):
                raise self.fail("the U flag is not supported by Tether")
            if "m" in flags.group(1).split("-")[0]:
                self.multiline = True
            self.out.append(flags.group(0))
            self.i += flags.end()
            if flags.group(2) == ")":
                return
        elif rest.startswith("(?"):
            raise self.fail(f"invalid or unsupported Perl syntax: `{rest[:3]}`")
        else:
            self.out.append("(")
            self.i += 1
        self.groups.append([0, 1, len(self.out)])

    def close_group(self) -> None:
        if len(self.groups) == 1:
            raise self.fail(f"unexpected ): `{self.pattern}`")
        group = self.groups.pop()
        if group[1] > 1:
            self.factors.append(group[1])
        if group[0]:
            self.groups[-1][0] = 1
        self.out.append(")")
        self.i += 1
        self.last_atom_group = group


@functools.lru_cache(maxsize=256)
def compile_re2(pattern: str, max_size: int) -> Regex:
    """Translate and compile a Go regular expression, or raise with Go's kind of message."""
    if len(pattern) > max_size:
        raise ValueError_(f"regular expression longer than {max_size} characters")
    scanner = _Scanner(pattern)
    translated = scanner.run()
    try:
        compiled = re.compile(translated, re.ASCII)
    except re.error as exc:
        raise ValueError_(f"error parsing regexp: {exc}: `{pattern}`") from None
    anchored = pattern.startswith(("^", "\\A")) and not scanner.multiline
    return Regex(compiled, tuple(scanner.factors), anchored)


_REFERENCE = re.compile(r"\$(?:\$|\{(\w+)\}|(\w+))")


@dataclass(frozen=True, slots=True)
class Replacement:
    """A Go replacement template as a Python one, with what bounds its expansion."""

    template: str
    literal_length: int
    references: int


def translate_replacement(template: str, compiled: re.Pattern[str]) -> Replacement:
    """Go's ``Regexp.Expand`` syntax (``$1``, ``${1}``, ``$name``, ``${name}``, ``$$``) as a
    template for ``re.sub``; a group that does not exist expands to nothing, as in Go."""
    out: list[str] = []
    literal = 0
    references = 0
    position = 0
    for ref in _REFERENCE.finditer(template):
        text = template[position : ref.start()]
        out.append(text.replace("\\", "\\\\"))
        literal += len(text)
        position = ref.end()
        name = ref.group(1) or ref.group(2)
        if name is None:
            out.append("$")
            literal += 1
        elif name.isdigit() and int(name) <= compiled.groups:
            out.append(f"\\g<{int(name)}>")
            references += 1
        elif name in compiled.groupindex:
            out.append(f"\\g<{name}>")
            references += 1
    text = template[position:]
    out.append(text.replace("\\", "\\\\"))
    literal += len(text)
    return Replacement("".join(out), literal, references)
