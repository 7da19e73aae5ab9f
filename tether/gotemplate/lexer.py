"""Go's ``text/template`` lexer: template text to a list of tokens.

Follows ``text/template/parse/lex.go``: text outside ``{{ }}``, trim markers ``{{-`` and ``-}}``
(a dash next to the delimiter with a space on its other side), comments ``{{/* */}}``, and inside
an action the words, literals and punctuation of Go's template language. It never recurses and
looks at every character a bounded number of times.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from tether.gotemplate.errors import TemplateError
from tether.gotemplate.literals import LiteralError, parse_number

LEFT = "{{"
RIGHT = "}}"
_SPACES = " \t\r\n"
_SPACE_SET = frozenset(_SPACES)
_KEYWORDS = {
    "block",
    "break",
    "continue",
    "define",
    "else",
    "end",
    "if",
    "range",
    "nil",
    "template",
    "with",
}


class Kind(Enum):
    TEXT = "text"
    LEFT = "{{"
    RIGHT = "}}"
    SPACE = "space"
    IDENT = "identifier"
    KEYWORD = "keyword"
    FIELD = "field"
    VARIABLE = "variable"
    DOT = "."
    BOOL = "bool"
    NUMBER = "number"
    CHAR = "character constant"
    STRING = "string"
    RAW_STRING = "raw string"
    PIPE = "|"
    DECLARE = ":="
    ASSIGN = "="
    COMMA = ","
    LPAREN = "("
    RPAREN = ")"
    EOF = "EOF"


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    value: str
    pos: int
    line: int

    def describe(self) -> str:
        """How Go's parser names a token in "unexpected ..." messages."""
        if self.kind is Kind.EOF:
            return "EOF"
        if self.kind is Kind.KEYWORD:
            return f"<{self.value}>"
        if self.kind in (Kind.LEFT, Kind.RIGHT, Kind.PIPE, Kind.LPAREN, Kind.RPAREN):
            return repr_go(self.value)
        if self.kind is Kind.SPACE:
            return "space"
        if len(self.value) > 10:
            return f"{self.value[:10]!r}..."
        return repr_go(self.value)


def repr_go(text: str) -> str:
    """Go's %q of a short string, enough for error messages."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


class _Lexer:
    def __init__(self, text: str, name: str) -> None:
        self.text = text
        self.name = name
        self.pos = 0
        self.start = 0
        self.line = 1
        self.start_line = 1
        self.tokens: list[Token] = []
        self.paren_depth = 0

    def fail(self, message: str) -> TemplateError:
        return TemplateError(
            f"template: {self.name}:{self.start_line}: {message}",
            name=self.name,
            line=self.start_line,
            column=column_of(self.text, self.start),
        )

    def emit(self, kind: Kind) -> None:
        value = self.text[self.start : self.pos]
        self.tokens.append(Token(kind, value, self.start, self.start_line))
        self.line += value.count("\n")
        self.start = self.pos
        self.start_line = self.line

    def ignore(self) -> None:
        self.line += self.text.count("\n", self.start, self.pos)
        self.start = self.pos
        self.start_line = self.line

    def peek(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.text[index] if index < len(self.text) else ""

    def run(self) -> list[Token]:
        while self.pos < len(self.text):
            self.lex_text()
        self.tokens.append(Token(Kind.EOF, "", len(self.text), self.line))
        return self.tokens

    def lex_text(self) -> None:
        found = self.text.find(LEFT, self.pos)
        if found < 0:
            self.pos = len(self.text)
            if self.pos > self.start:
                self.emit(Kind.TEXT)
            return
        self.pos = found
        trim = self.text.startswith("-", found + 2) and self.peek(3) in _SPACE_SET
        if trim:
            end = found
            while end > self.start and self.text[end - 1] in _SPACES:
                end -= 1
            self.pos = end
        if self.pos > self.start:
            self.emit(Kind.TEXT)
        self.pos = found
        self.ignore()
        self.lex_left_delim(trim)

    def lex_left_delim(self, trim: bool) -> None:
        self.pos += len(LEFT) + (2 if trim else 0)
        if self.text.startswith("/*", self.pos):
            self.pos = self.start  # a comment: the whole action is skipped
            self.lex_comment(trim)
            return
        self.emit(Kind.LEFT)
        if trim:
            self.tokens[-1] = Token(Kind.LEFT, LEFT, self.tokens[-1].pos, self.tokens[-1].line)
        self.paren_depth = 0
        self.lex_inside_action()

    def lex_comment(self, trim: bool) -> None:
        self.pos += len(LEFT) + (2 if trim else 0) + 2
        end = self.text.find("*/", self.pos)
        if end < 0:
            raise self.fail("unclosed comment")
        self.pos = end + 2
        right_trim = self.text.startswith(" -" + RIGHT, self.pos) or (
            self.peek() in _SPACE_SET and self.text.startswith("-" + RIGHT, self.pos + 1)
        )
        if right_trim:
            self.pos += 2
        if not self.text.startswith(RIGHT, self.pos):
            raise self.fail("comment ends before closing delimiter")
        self.pos += len(RIGHT)
        self.ignore()
        if right_trim:
            self.skip_leading_space()

    def skip_leading_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _SPACES:
            self.pos += 1
        self.ignore()

    def at_right_delim(self) -> tuple[bool, bool]:
        """Whether a right delimiter starts here, and whether it trims the text after it."""
        ch = self.text[self.pos : self.pos + 1]
        if ch not in _SPACE_SET and ch != "}":
            return False, False
        if ch in _SPACE_SET and self.text.startswith("-" + RIGHT, self.pos + 1):
            return True, True
        return self.text.startswith(RIGHT, self.pos), False

    def lex_inside_action(self) -> None:
        while True:
            at_delim, trim = self.at_right_delim()
            if at_delim:
                if self.paren_depth:
                    raise self.fail("unclosed left paren")
                if trim:
                    self.pos += 2
                    self.ignore()
                self.pos += len(RIGHT)
                self.emit(Kind.RIGHT)
                if trim:
                    self.skip_leading_space()
                return
            if self.pos >= len(self.text):
                raise self.fail("unclosed action")
            self.lex_action_item()

    def lex_action_item(self) -> None:
        ch = self.text[self.pos]
        if ch in _SPACES:
            while self.peek() in _SPACE_SET and not self.at_right_delim()[1]:
                self.pos += 1
            self.emit(Kind.SPACE)
        elif ch == "=":
            self.pos += 1
            self.emit(Kind.ASSIGN)
        elif ch == ":":
            if self.peek(1) != "=":
                raise self.fail("expected :=")
            self.pos += 2
            self.emit(Kind.DECLARE)
        elif ch == "|":
            self.pos += 1
            self.emit(Kind.PIPE)
        elif ch == ",":
            self.pos += 1
            self.emit(Kind.COMMA)
        elif ch == '"':
            self.lex_quote()
        elif ch == "`":
            self.lex_raw_quote()
        elif ch == "'":
            self.lex_char()
        elif ch == "$":
            self.lex_field_or_variable(Kind.VARIABLE)
        elif ch == ".":
            if self.peek(1).isdigit():
                self.lex_number()
            else:
                self.lex_field_or_variable(Kind.FIELD)
        elif ch in "+-" or ch.isdigit():
            self.lex_number()
        elif ch == "_" or ch.isalpha():
            self.lex_identifier()
        elif ch == "(":
            self.pos += 1
            self.paren_depth += 1
            self.emit(Kind.LPAREN)
        elif ch == ")":
            self.pos += 1
            self.paren_depth -= 1
            if self.paren_depth < 0:
                raise self.fail("unexpected right paren")
            self.emit(Kind.RPAREN)
        else:
            raise self.fail(f"unrecognized character in action: {_rune(ch)}")

    def scan_alnum(self) -> None:
        while self.pos < len(self.text) and _is_alnum(self.text[self.pos]):
            self.pos += 1

    def check_terminator(self) -> None:
        ch = self.peek()
        if ch == "" or ch in _SPACES or ch in ".,|:)(=" or self.at_right_delim()[0]:
            return
        raise self.fail(f"bad character {_rune(ch)}")

    def lex_field_or_variable(self, kind: Kind) -> None:
        self.pos += 1
        if kind is Kind.FIELD and not _is_alnum(self.peek()):
            self.emit(Kind.DOT)
            return
        self.scan_alnum()
        self.check_terminator()
        self.emit(kind)

    def lex_identifier(self) -> None:
        self.scan_alnum()
        self.check_terminator()
        word = self.text[self.start : self.pos]
        if word in _KEYWORDS:
            self.emit(Kind.KEYWORD)
        elif word in ("true", "false"):
            self.emit(Kind.BOOL)
        else:
            self.emit(Kind.IDENT)

    def lex_number(self) -> None:
        if self.peek() in "+-":
            self.pos += 1
        while self.pos < len(self.text) and (
            _is_alnum(self.text[self.pos])
            or self.text[self.pos] == "."
            or (self.text[self.pos] in "+-" and self.text[self.pos - 1] in "eEpP")
        ):
            self.pos += 1
        number = self.text[self.start : self.pos]
        try:
            parse_number(number)
        except LiteralError as exc:
            if "illegal" in str(exc):
                raise self.fail(f"bad number syntax: {repr_go(number)}") from None
        self.emit(Kind.NUMBER)

    def lex_quote(self) -> None:
        self.lex_quoted('"', Kind.STRING, "unterminated quoted string")

    def lex_raw_quote(self) -> None:
        end = self.text.find("`", self.pos + 1)
        if end < 0:
            raise self.fail("unterminated raw quoted string")
        self.pos = end + 1
        self.emit(Kind.RAW_STRING)

    def lex_char(self) -> None:
        self.lex_quoted("'", Kind.CHAR, "unterminated character constant")

    def lex_quoted(self, quote: str, kind: Kind, unterminated: str) -> None:
        self.pos += 1
        while True:
            ch = self.peek()
            if ch == "\\":
                self.pos += 1
                ch = self.peek()
                if ch in ("", "\n"):
                    raise self.fail(unterminated)
            elif ch in ("", "\n"):
                raise self.fail(unterminated)
            elif ch == quote:
                self.pos += 1
                self.emit(kind)
                return
            self.pos += 1


def _is_alnum(ch: str) -> bool:
    return ch == "_" or ch.isalnum()


def _rune(ch: str) -> str:
    return f"U+{ord(ch):04X} {ch!r}"


def column_of(text: str, pos: int) -> int:
    """Go's column: the byte offset of ``pos`` from the start of its line (0-based)."""
    line_start = text.rfind("\n", 0, pos) + 1
    return len(text[line_start:pos].encode())


def lex(text: str, name: str) -> list[Token]:
    """Split a template into tokens; a :class:`TemplateError` names the first bad one."""
    return _Lexer(text, name).run()
