"""RE2 tag filters: Flux's ``filterTags.pattern`` and ``filterTags.extract`` for Python.

`compile_re2` parses a Go RE2 pattern and writes it out for Python's ``re`` with RE2's
meaning (ASCII ``\\d \\w \\s \\b`` and case folding, ``$`` only at the end, flags ``imsU``,
``(?<name>..)``, a ``{`` that starts no repeat count is a literal). What RE2 lacks
(lookaround, backreferences, atomic and possessive forms) is refused, as are the rarer RE2
forms ``\\p{..}``, ``[[:alpha:]]``, ``\\Q..\\E``, octal and ``\\x{..}``. Python's engine
backtracks, so a pattern is refused when it could take exponential time (a repeat of a
repeat or of overlapping alternatives, like ``(a+)*``, ``(a|ab)*``) or when its ambiguous
repeats (those whose characters can also start what follows, like ``.*`` before ``-``), with
the start positions of an unanchored search, allow more than 129² ways to match a
128-character tag: well under a millisecond per tag.

`parse_template` reads an extract template as Go's ``Regexp.Expand`` does (``$name``,
``${name}``, ``$1``, ``$$``) into an `ExtractTemplate`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from tether.images.errors import InvalidPolicyError

MAX_TAG_LENGTH = 128  # the OCI distribution spec's limit; longer tags are skipped
MAX_PATTERN_LENGTH = 512
MAX_REPEAT = 1000  # RE2's largest repeat count
# The most backtracking choices a pattern may imply: counting the start positions of an
# unanchored search, two unbounded ambiguous repeats over a 128-character tag.
MAX_AMBIGUITY = (MAX_TAG_LENGTH + 1) ** 2

Ranges = tuple[tuple[int, int], ...]
_MAX_CHAR = 0x10FFFF
_WORD: Ranges = ((48, 57), (65, 90), (95, 95), (97, 122))
_PERL_CLASSES: dict[str, Ranges] = {
    "d": ((48, 57),),
    "s": ((9, 10), (12, 13), (32, 32)),
    "w": _WORD,
}
_SIMPLE_ESCAPES = {"a": 7, "f": 12, "t": 9, "n": 10, "r": 13, "v": 11}
_W = "[0-9A-Za-z_]"
_ASSERTIONS = {
    "^": r"\A",
    "$": r"\Z",  # RE2's $ is the end of the text, Python's also matches before a final \n
    "A": r"\A",
    "z": r"\Z",
    "b": f"(?:(?<={_W})(?!{_W})|(?<!{_W})(?={_W}))",
    "B": f"(?:(?<={_W})(?={_W})|(?<!{_W})(?!{_W}))",
}
_REFUSED_ESCAPES = {
    "p": "Unicode classes (\\p) are not supported; use a class such as [A-Za-z]",
    "P": "Unicode classes (\\P) are not supported; use a class such as [^A-Za-z]",
    "Q": "\\Q...\\E is not supported; escape each character instead",
    "x": "only \\xHH escapes are supported",
}
_REPEAT = re.compile(r"\*|\+|\?|\{([0-9]+)(,([0-9]*))?\}")
_GROUP = re.compile(r"\?(?:P?<(?P<name>[^>]*)>|(?P<on>[imsU]*)(?:-(?P<off>[imsU]+))?(?P<end>[:)]))")
_FLAG_NAMES = {"i": "fold", "m": "multiline", "s": "dotall", "U": "ungreedy"}


def _ranges(*pairs: tuple[int, int]) -> Ranges:
    merged: list[tuple[int, int]] = []
    for low, high in sorted(pairs):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(high, merged[-1][1]))
        else:
            merged.append((low, high))
    return tuple(merged)


def _negate(ranges: Ranges) -> Ranges:
    bounds = [-1, *(n for low, high in ranges for n in (low, high)), _MAX_CHAR + 1]
    pairs = zip(bounds[::2], bounds[1::2], strict=True)
    return tuple((low + 1, high - 1) for low, high in pairs if high - low > 1)


def _fold(ranges: Ranges) -> Ranges:
    # Case-insensitive matching folds ASCII letters only: tags are ASCII.
    extra = [
        (max(low, a) + shift, min(high, z) + shift)
        for low, high in ranges
        for a, z, shift in ((97, 122, -32), (65, 90, 32))
        if low <= z and high >= a
    ]
    return _ranges(*ranges, *extra)


def _overlap(a: Ranges, b: Ranges) -> bool:
    return any(low1 <= high2 and low2 <= high1 for low1, high1 in a for low2, high2 in b)


@dataclass(frozen=True)
class _Node:
    """A parsed pattern: "chars" (one character in `ranges`), "assert" (zero-width, `text` in
    Python), "concat", "alt", "group" or "repeat" (of `items[0]`, `low` to `high` times)."""

    kind: str
    ranges: Ranges = ()
    text: str = ""
    items: tuple[_Node, ...] = ()
    low: int = 0
    high: int | None = 0
    lazy: bool = False
    name: str | None = None
    capture: bool = False


@dataclass
class _Flags:
    fold: bool = False
    multiline: bool = False
    dotall: bool = False
    ungreedy: bool = False


class _Re2Parser:
    """Recursive descent over Go's regexp syntax, failing where Go fails and where a
    construct could not keep its RE2 meaning in Python."""

    def __init__(self, pattern: str) -> None:
        self.text, self.pos, self.names = pattern, 0, set[str]()

    def fail(self, message: str) -> InvalidPolicyError:
        return InvalidPolicyError(f"{message} (at offset {self.pos})")

    def peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def alternation(self, flags: _Flags) -> _Node:
        branches = [self.sequence(flags)]
        while self.peek() == "|":
            self.pos += 1
            branches.append(self.sequence(flags))
        return branches[0] if len(branches) == 1 else _Node("alt", items=tuple(branches))

    def sequence(self, flags: _Flags) -> _Node:
        items: list[_Node] = []
        while self.peek() not in ("", "|", ")"):
            atom = self.atom(flags)
            if atom is not None:
                items.append(self.repeat(atom, flags))
        return items[0] if len(items) == 1 else _Node("concat", items=tuple(items))

    def bounds(self) -> tuple[re.Match[str], int, int | None] | None:
        found = _REPEAT.match(self.text, self.pos)
        if found is None:
            return None  # a "{" that is no repeat count is a literal, as in RE2
        if found[1] is None:
            low, high = {"*": (0, None), "+": (1, None), "?": (0, 1)}[found[0]]
            return found, low, high
        low, high = int(found[1]), None if found[2] and not found[3] else int(found[3] or found[1])
        if low > MAX_REPEAT or (high is not None and not low <= high <= MAX_REPEAT):
            raise self.fail(f"invalid repeat count {found[0]} (at most {MAX_REPEAT})")
        return found, low, high

    def repeat(self, atom: _Node, flags: _Flags) -> _Node:
        bounds = self.bounds()
        if bounds is None:
            return atom
        if atom.kind == "assert":
            raise self.fail("nothing to repeat: an anchor or word boundary cannot be repeated")
        found, low, high = bounds
        self.pos = found.end()
        lazy = self.peek() == "?"
        self.pos += lazy
        if self.bounds() is not None:
            raise self.fail("invalid nested repetition operator")
        return _Node("repeat", items=(atom,), low=low, high=high, lazy=lazy != flags.ungreedy)

    def atom(self, flags: _Flags) -> _Node | None:
        char = self.peek()
        if char == "(":
            return self.group(flags)
        if self.bounds() is not None:
            raise self.fail("missing argument to repetition operator")
        self.pos += 1
        if char == "[":
            ranges = self.char_class(flags)
        elif char == ".":
            ranges = ((0, _MAX_CHAR),) if flags.dotall else ((0, 9), (11, _MAX_CHAR))
        elif char in ("^", "$"):
            text = f"(?m:{char})" if flags.multiline else _ASSERTIONS[char]
            return _Node("assert", text=text)
        elif char == "\\" and self.peek() in ("A", "z", "b", "B") and self.peek():
            self.pos += 1
            return _Node("assert", text=_ASSERTIONS[self.text[self.pos - 1]])
        else:
            ranges = self.escape() if char == "\\" else ((ord(char), ord(char)),)
            ranges = _fold(ranges) if flags.fold else ranges
        return _Node("chars", ranges=ranges)

    def escape(self) -> Ranges:
        char = self.peek()
        self.pos += 1
        if char.lower() in _PERL_CLASSES and char:
            ranges = _PERL_CLASSES[char.lower()]
            return _negate(ranges) if char.isupper() else ranges
        if char in _SIMPLE_ESCAPES and char:
            return ((_SIMPLE_ESCAPES[char],) * 2,)
        digits = self.text[self.pos : self.pos + 2]
        if char == "x" and re.fullmatch("[0-9A-Fa-f]{2}", digits):
            self.pos += 2
            return ((int(digits, 16),) * 2,)
        if char.isdigit():
            raise self.fail("backreferences and octal escapes are not supported; use \\xHH")
        if char in _REFUSED_ESCAPES:
            raise self.fail(_REFUSED_ESCAPES[char])
        if char and char.isascii() and not char.isalnum():
            return ((ord(char), ord(char)),)
        raise self.fail(f"invalid escape \\{char}" if char else "trailing backslash")

    def group(self, flags: _Flags) -> _Node | None:
        start, inner = self.pos, _Flags(**vars(flags))
        self.pos += 1
        name, capture = None, True
        if self.peek() == "?":
            found = _GROUP.match(self.text, self.pos)
            if found is None or not (
                found["name"] is not None or found["on"] or found["off"] or found["end"] == ":"
            ):
                raise self.fail("unsupported group: RE2 has no lookaround, backreferences, atomic "
                                "or conditional groups; its flags are i, m, s and U")  # fmt: skip
            self.pos = found.end()
            if found["name"] is not None:
                name = self.group_name(found["name"])
            else:
                target = flags if found["end"] == ")" else inner
                for letter in found["on"]:
                    setattr(target, _FLAG_NAMES[letter], True)
                for letter in found["off"] or "":
                    setattr(target, _FLAG_NAMES[letter], False)
                if found["end"] == ")":
                    return None  # (?i) sets the flags for the rest of the current group
                capture = False
        body = self.alternation(inner)
        if self.peek() != ")":
            self.pos = start
            raise self.fail("missing closing )")
        self.pos += 1
        return _Node("group", items=(body,), name=name, capture=capture)

    def group_name(self, name: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise self.fail(f"invalid group name {name!r}: use letters, digits and '_'")
        if name in self.names:
            raise self.fail(f"duplicate group name {name!r}")
        self.names.add(name)
        return name

    def char_class(self, flags: _Flags) -> Ranges:
        start = self.pos - 1
        negated = self.peek() == "^"
        self.pos += negated
        pairs: list[tuple[int, int]] = []
        first = True
        while first or self.peek() != "]":
            first = False
            if not self.peek():
                self.pos = start
                raise self.fail("missing closing ]")
            if self.text.startswith("[:", self.pos) and ":]" in self.text[self.pos :]:
                raise self.fail("POSIX classes such as [[:alpha:]] are not supported; use [A-Za-z]")
            low = self.class_item()
            if self.peek() == "-" and self.text[self.pos + 1 : self.pos + 2] not in ("]", ""):
                self.pos += 1
                high = self.class_item()
                if len(low) != 1 or len(high) != 1 or not low[0][0] == low[0][1] <= high[0][0]:
                    raise self.fail("invalid character class range")
                low = ((low[0][0], high[0][1]),)
            pairs.extend(low)
        self.pos += 1
        ranges = _fold(_ranges(*pairs)) if flags.fold else _ranges(*pairs)
        return _negate(ranges) if negated else ranges

    def class_item(self) -> Ranges:
        char = self.peek()
        self.pos += 1
        return self.escape() if char == "\\" else ((ord(char), ord(char)),)


def _escape(code: int) -> str:
    char = chr(code)
    if char.isascii() and char.isalnum():
        return char
    return (
        f"\\x{code:02x}"
        if code < 0x100
        else f"\\u{code:04x}"
        if code < 0x10000
        else f"\\U{code:08x}"
    )


def _emit(node: _Node) -> str:
    """The Python pattern for `node`: classes spelled out, so no flag or escape of Python's
    changes their meaning."""
    if node.kind == "chars":
        if len(node.ranges) == 1 and node.ranges[0][0] == node.ranges[0][1]:
            return _escape(node.ranges[0][0])
        body = "".join(
            _escape(lo) + (f"-{_escape(hi)}" if hi > lo else "") for lo, hi in node.ranges
        )
        return f"[{body}]" if body else "(?!)"
    if node.kind == "assert":
        return node.text
    parts = [_emit(item) for item in node.items]
    if node.kind in ("concat", "alt"):
        return ("|" if node.kind == "alt" else "").join(parts)
    if node.kind == "group":
        return (
            f"(?P<{node.name}>{parts[0]})"
            if node.name
            else f"({'' if node.capture else '?:'}{parts[0]})"
        )
    low, high = node.low, node.high
    count = f"{{{low},}}" if high is None else f"{{{low}}}" if low == high else f"{{{low},{high}}}"
    return parts[0] + count + ("?" if node.lazy else "")


def _nullable(node: _Node) -> bool:
    if node.kind in ("chars", "assert"):
        return node.kind == "assert"
    if node.kind == "repeat" and node.low == 0:
        return True
    checks = [_nullable(item) for item in node.items]
    return any(checks) if node.kind == "alt" else all(checks)


def _first(node: _Node) -> Ranges:
    """The characters a match of `node` can start with."""
    if node.kind == "chars":
        return node.ranges
    pairs: list[tuple[int, int]] = []
    for item in () if node.kind == "repeat" and node.high == 0 else node.items:
        pairs.extend(_first(item))
        if node.kind == "concat" and not _nullable(item):
            break
    return _ranges(*pairs)


def _ambiguous_alternation(node: _Node, follow: Ranges) -> bool:
    starts = [_ranges(*_first(b), *(follow if _nullable(b) else ())) for b in node.items]
    return any(_overlap(a, b) for i, a in enumerate(starts) for b in starts[i + 1 :])


def _unsafe_to_repeat(node: _Node) -> bool:
    if node.kind == "repeat" and node.high != node.low:
        return True
    if node.kind == "alt" and (_ambiguous_alternation(node, ()) or any(map(_nullable, node.items))):
        return True
    return any(_unsafe_to_repeat(item) for item in node.items)


def _ambiguity(node: _Node, follow: Ranges) -> int:
    """How many ways a backtracking engine may try to match `node` before what follows it
    (whose first characters are `follow`): the product of the ambiguous choices in it."""
    if node.kind in ("chars", "assert"):
        return 1
    if node.kind == "group":
        return _ambiguity(node.items[0], follow)
    if node.kind == "concat":
        total = 1
        for item in reversed(node.items):
            total *= _ambiguity(item, follow)
            follow = _ranges(*_first(item), *follow) if _nullable(item) else _first(item)
        return total
    if node.kind == "alt":
        choices = len(node.items) if _ambiguous_alternation(node, follow) else 1
        return choices * max(_ambiguity(branch, follow) for branch in node.items)
    body = node.items[0]
    repeats = node.high is None or node.high > 1
    if repeats and _unsafe_to_repeat(body):
        raise InvalidPolicyError(
            "a repeated group contains a repeat or overlapping alternatives (like (a+)* or "
            "(a|ab)*), which can take exponential time; rewrite it without nesting"
        )
    total = _ambiguity(body, _ranges(*_first(body), *follow) if repeats else follow)
    if node.high != node.low and _overlap(_first(body), follow):
        high = MAX_TAG_LENGTH if node.high is None else min(node.high, MAX_TAG_LENGTH)
        total *= max(high - node.low, 0) + 1
    return total


def compile_re2(pattern: str) -> re.Pattern[str]:
    """Compile an RE2 pattern into an equivalent Python one, or raise `InvalidPolicyError`."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise InvalidPolicyError(f"longer than {MAX_PATTERN_LENGTH} characters")
    parser = _Re2Parser(pattern)
    tree = parser.alternation(_Flags())
    if parser.pos < len(pattern):
        raise parser.fail("unexpected ')'")
    # An unanchored pattern is tried at every position of the tag.
    head = tree.items[0] if tree.kind == "concat" and tree.items else tree
    starts = 1 if head.kind == "assert" and head.text == r"\A" else MAX_TAG_LENGTH + 1
    if starts * _ambiguity(tree, ()) > MAX_AMBIGUITY:
        raise InvalidPolicyError(
            "too ambiguous to match in bounded time: several repeats (like .*) can match what "
            "follows them; anchor the pattern or use narrower classes such as [^-]*"
        )
    return re.compile(_emit(tree))


@dataclass(frozen=True)
class ExtractTemplate:
    """``filterTags.extract`` parsed: literal text and capture group numbers."""

    parts: tuple[str | int, ...] = ()

    def expand(self, found: re.Match[str]) -> str:
        """The template with each group replaced by what it matched ("" when it took no part)."""
        return "".join(p if isinstance(p, str) else found.group(p) or "" for p in self.parts)


def _template_name(text: str, start: int) -> tuple[str, int] | None:
    # Go's Regexp.Expand: $name or ${name}, a name being letters, digits and "_".
    brace = text.startswith("{", start)
    end = begin = start + brace
    while end < len(text) and (
        text[end].isalpha() or text[end] == "_" or unicodedata.category(text[end]) == "Nd"
    ):
        end += 1
    if end == begin or (brace and not text.startswith("}", end)):
        return None
    return text[begin:end], end + brace


def parse_template(text: str, regex: re.Pattern[str]) -> ExtractTemplate:
    """Parse `text` like Go's ``Regexp.Expand``; unlike Go (which expands an unknown group to
    ""), a reference to a group the pattern lacks is an error."""
    parts: list[str | int] = []
    pos = 0
    while pos < len(text):
        dollar = text.find("$", pos)
        if dollar < 0:
            parts.append(text[pos:])
            break
        parts.append(text[pos:dollar])
        reference = _template_name(text, dollar + 1)
        if text.startswith("$$", dollar) or reference is None:
            parts.append("$")  # "$$" is a "$"; a "$" that starts no name stays as it is
            pos = dollar + 1 + text.startswith("$$", dollar)
            continue
        name, pos = reference
        number = (
            int(name)
            if name.isascii() and name.isdigit() and (name == "0" or name[0] != "0")
            else None
        )
        if number is not None and number <= regex.groups:
            parts.append(number)
        elif number is None and name in regex.groupindex:
            parts.append(regex.groupindex[name])
        else:
            hint = (
                f"; write ${{{name[:1]}}}{name[1:]} for group {name[:1]} then text"
                if name[:1].isdigit()
                else ""
            )
            raise InvalidPolicyError(
                f"${name} names no group of the pattern (it has {regex.groups}: "
                f"{', '.join(regex.groupindex) or 'none named'}){hint}"
            )
    return ExtractTemplate(tuple(p for p in parts if p != ""))
