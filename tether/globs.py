"""The one glob matcher: gobwas/glob syntax, as Argo CD uses it for projects and directory apps.

Syntax: ``*`` matches any run of characters except the separators, ``**`` (two or more stars)
any run at all, ``?`` one character other than a separator, ``[a-z]`` / ``[!a-z]`` one character
in (or not in) a class, ``{a,b}`` one of the alternatives (nested allowed, empty ones too) and a
backslash escapes the next character. A ``]`` right after ``[`` is part of the class. Without
separators ``*`` and ``**`` are the same. Each caller says how it reads a glob with a
:class:`GlobSyntax`.

Matching takes time linear in the text whatever the pattern, so a pattern such as
``*a*a*a*a*a*a*a*ab`` cannot make it backtrack for minutes as a regular expression does: the
pattern becomes an automaton of at most one node per character, the text is run through it with
the set of nodes it can be in held as bits, and the sets met become cached states (a lazily built
DFA): a character costs one dictionary lookup once its step is known, at most one pass over the
nodes before. The cache of each pattern is bounded; past the bound, steps are computed and not
kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from tether.errors import TetherError

#: Longest pattern accepted: a pattern costs one automaton node per character.
MAX_GLOB_LENGTH = 1024
#: Cached steps of one pattern: a unit per transition and per 64 nodes of each state (a typical
#: pattern uses a few hundred; at most about 200 KiB).
STATE_BUDGET = 2048
#: Compiled patterns kept.
CACHED_GLOBS = 1024

_SPECIAL = frozenset("*?[{\\")


class InvalidGlobError(TetherError):
    """A pattern is not a glob: an unclosed ``[`` or ``{``, an empty class, a reversed range."""


@dataclass(frozen=True)
class GlobSyntax:
    """How one caller reads globs.

    ``separators``: the characters ``*`` and ``?`` do not match (``**`` and classes do).
    ``class_negators``: the characters that, first in a class, negate it (gobwas: ``!``).
    """

    separators: str = ""
    class_negators: str = "!"


#: gobwas/glob without separators
GOBWAS = GlobSyntax()

Test = Callable[[str], bool]


@dataclass
class _Node:
    """One automaton node: it takes the character ``test`` names (a string: that character; a
    function: those it accepts), or (``test`` None) it is a free branch to every node of
    ``out``; a node with neither test nor way out accepts."""

    test: Test | str | None = None
    out: list[int] = field(default_factory=list)


class _Builder:
    """Turns a pattern into automaton nodes in one pass, with an explicit stack for braces (so no
    nesting depth can exhaust Python's stack)."""

    def __init__(self, pattern: str, syntax: GlobSyntax) -> None:
        self.pattern = pattern
        self.syntax = syntax
        self.nodes: list[_Node] = [_Node()]  # node 0: the start, a free branch
        #: nodes whose next node is the one added next
        self.loose: list[int] = [0]
        #: per open brace: its branch node and the ends of its finished alternatives
        self.braces: list[tuple[int, list[int]]] = []

    def fail(self, why: str) -> InvalidGlobError:
        return InvalidGlobError(f"invalid glob {self.pattern!r}: {why}")

    def add(self, node: _Node) -> int:
        index = len(self.nodes)
        self.nodes.append(node)
        for loose in self.loose:
            self.nodes[loose].out.append(index)
        self.loose = [index]
        return index

    def build(self) -> list[_Node]:
        """The nodes of the whole pattern: node 0 starts, the last one accepts."""
        pattern, n, i = self.pattern, len(self.pattern), 0
        while i < n:
            ch = pattern[i]
            if ch == "\\" and i + 1 < n:
                self.add(_Node(pattern[i + 1]))
                i += 2
            elif ch == "*":
                run = 1
                while i + run < n and pattern[i + run] == "*":
                    run += 1
                self.star(crosses=run > 1)
                i += run
            elif ch == "?":
                self.add(_Node(self.not_separator))
                i += 1
            elif ch == "[":
                i = self.char_class(i)
            elif ch == "{":
                branch = self.add(_Node())
                self.braces.append((branch, []))
                i += 1
            elif self.braces and ch in ",}":
                self.alternative_ends(closing=ch == "}")
                i += 1
            else:
                self.add(_Node(ch))
                i += 1
        if self.braces:
            raise self.fail("unclosed '{'")
        self.add(_Node())  # accepting
        return self.nodes

    def not_separator(self, ch: str) -> bool:
        return ch not in self.syntax.separators

    def star(self, crosses: bool) -> None:
        """A loop: a branch that either goes on or takes one character and comes back."""
        branch = self.add(_Node())
        self.add(_Node(_anything if crosses else self.not_separator, [branch]))
        self.loose = [branch]

    def alternative_ends(self, closing: bool) -> None:
        """End one alternative of the innermost brace; at its ``}``, join them all."""
        branch, ends = self.braces[-1]
        ends.extend(self.loose)
        if closing:
            self.braces.pop()
            self.loose = ends
            self.add(_Node())  # where the alternatives meet
        else:
            self.loose = [branch]

    def char_class(self, i: int) -> int:
        """Add the class starting at ``pattern[i] == '['``; return the index after it."""
        end = self.pattern.find("]", i + 2)  # a ']' first in the class is one of its members
        if end == -1:
            raise self.fail("unclosed '['")
        body = self.pattern[i + 1 : end]
        negate = body[0] in self.syntax.class_negators
        if negate:
            body = body[1:]
        if not body:
            raise self.fail("empty '[]'")
        members = self.class_members(body)
        self.add(_Node(lambda ch: members(ch) is not negate))
        return end + 1

    def class_members(self, body: str) -> Test:
        """The test of a class body: single characters and ``lo-hi`` ranges (a ``-`` first or
        last is a character)."""
        singles: set[str] = set()
        ranges: list[tuple[str, str]] = []
        j = 0
        while j < len(body):
            if j + 2 < len(body) and body[j + 1] == "-":
                low, high = body[j], body[j + 2]
                if high < low:
                    raise self.fail(f"range {low}-{high} is out of order")
                ranges.append((low, high))
                j += 3
            else:
                singles.add(body[j])
                j += 1
        return lambda ch: ch in singles or any(low <= ch <= high for low, high in ranges)


def _anything(_ch: str) -> bool:
    return True


class _Automaton:
    """The nodes as bit sets: one bit per character-taking node and one for the accepting node.

    A set of bits is where the text can be; ``follow[b]`` is where it can be after node ``b``
    took a character, branches already followed.
    """

    def __init__(self, nodes: list[_Node]) -> None:
        bits: dict[int, int] = {}
        #: per character, the nodes that take exactly it; the other tests one by one
        self.literals: dict[str, int] = {}
        self.others: list[tuple[int, Test]] = []
        for index, node in enumerate(nodes):
            if node.test is None and node.out:
                continue  # a branch
            bits[index] = len(bits)
            bit = 1 << bits[index]
            if isinstance(node.test, str):
                self.literals[node.test] = self.literals.get(node.test, 0) | bit
            elif node.test is not None:
                self.others.append((bit, node.test))
        # branches only lead forward (to nodes added later), so one backward pass gives each
        # node the set it stands for
        reach = [0] * len(nodes)
        for index in range(len(nodes) - 1, -1, -1):
            node = nodes[index]
            if index in bits:
                reach[index] = 1 << bits[index]
            else:
                for out in node.out:
                    reach[index] |= reach[out]
        self.start = reach[0]
        self.accept = 1 << bits[len(nodes) - 1]
        self.follow = [reach[nodes[index].out[0]] for index in bits if nodes[index].out]

    def takers(self, ch: str) -> int:
        """The nodes that take ``ch``."""
        mask = self.literals.get(ch, 0)
        for bit, test in self.others:
            if test(ch):
                mask |= bit
        return mask

    def step(self, state: int, takers: int) -> int:
        """Where the text can be after one character taken by ``takers`` from ``state``."""
        hits = state & takers
        following = 0
        # byte by byte: a third of the big-integer work of peeling off one bit at a time
        for position, byte in enumerate(hits.to_bytes((hits.bit_length() + 7) // 8, "little")):
            if byte:
                base = position * 8
                for bit in _BITS_OF_BYTE[byte]:
                    following |= self.follow[base + bit]
        return following


#: the set bits of each byte value
_BITS_OF_BYTE = [tuple(bit for bit in range(8) if value >> bit & 1) for value in range(256)]


@dataclass(slots=True)
class _State:
    """A set of nodes the text can be in (a DFA state) and its known transitions."""

    nodes: int
    accepting: bool
    next: dict[str, _State] = field(default_factory=dict)


class Glob:
    """A compiled glob; :meth:`matches` runs it over a whole text."""

    def __init__(self, pattern: str, syntax: GlobSyntax = GOBWAS) -> None:
        if len(pattern) > MAX_GLOB_LENGTH:
            raise InvalidGlobError(
                f"invalid glob {pattern[:40]!r}...: longer than {MAX_GLOB_LENGTH} characters"
            )
        self.pattern = pattern
        self._budget = STATE_BUDGET
        self._states: dict[int, _State] = {}
        self._takers: dict[str, int] = {}
        # a pattern without special characters is compared, not run
        if _SPECIAL.intersection(pattern):
            self._automaton = _Automaton(_Builder(pattern, syntax).build())
            self._start: _State | None = self._state(self._automaton.start)
            self._dead = self._state(0)
        else:
            self._start = None

    def matches(self, text: str) -> bool:
        """Whether the whole of ``text`` matches the pattern."""
        if self._start is None:
            return text == self.pattern
        state, dead = self._start, self._dead
        for ch in text:
            following = state.next.get(ch)
            if following is None:
                following = self._step(state, ch)
            if following is dead:
                return False
            state = following
        return state.accepting

    def _state(self, nodes: int) -> _State:
        state = self._states.get(nodes)
        if state is None:
            state = _State(nodes, bool(nodes & self._automaton.accept))
            cost = 1 + nodes.bit_length() // 64
            if self._budget >= cost or not nodes:
                # kept only while the pattern's budget lasts: memory stays bounded
                self._budget -= cost
                self._states[nodes] = state
        return state

    def _step(self, state: _State, ch: str) -> _State:
        takers = self._takers.get(ch)
        if takers is None:
            takers = self._automaton.takers(ch)
            if self._budget > 0:
                self._budget -= 1
                self._takers[ch] = takers
        following = self._state(self._automaton.step(state.nodes, takers))
        if self._budget > 0:
            self._budget -= 1
            state.next[ch] = following
        return following


@lru_cache(maxsize=CACHED_GLOBS)
def compile_glob(pattern: str, syntax: GlobSyntax = GOBWAS) -> Glob:
    """The compiled ``pattern`` (kept for reuse); :class:`InvalidGlobError` if it is no glob."""
    return Glob(pattern, syntax)


def glob_match(pattern: str, text: str, syntax: GlobSyntax = GOBWAS) -> bool:
    """Whether the whole of ``text`` matches ``pattern`` read with ``syntax``."""
    return compile_glob(pattern, syntax).matches(text)
