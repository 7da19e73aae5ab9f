"""Go's ``text/template`` parser: tokens to frozen trees, one per defined template.

Follows ``text/template/parse/parse.go``: the same grammar, the same scoping of variables (a
variable declared in a control's pipeline or body ends with the control), the same checks at
parse time (unknown functions, undefined variables, ``break`` outside ``range``, literals in a
later pipeline stage) and the same messages. It recurses once per nesting level, bounded.
"""

from __future__ import annotations

from collections.abc import Callable

from tether.gotemplate import nodes as n
from tether.gotemplate.errors import TemplateError, TemplateLimitError
from tether.gotemplate.lexer import Kind, Token, column_of, lex
from tether.gotemplate.literals import LiteralError, parse_number, unquote, unquote_char

_OPERAND_START = {
    Kind.BOOL,
    Kind.CHAR,
    Kind.DOT,
    Kind.FIELD,
    Kind.IDENT,
    Kind.NUMBER,
    Kind.RAW_STRING,
    Kind.STRING,
    Kind.VARIABLE,
    Kind.LPAREN,
}
_EMPTY: tuple[n.Node, ...] = ()

Trees = dict[str, tuple[n.Node, ...]]


class _End:
    """The ``{{end}}`` or ``{{else}}`` that closed a list (not a node of the tree)."""

    def __init__(self, keyword: str, token: Token) -> None:
        self.keyword = keyword
        self.token = token


class _Parser:
    def __init__(
        self,
        text: str,
        name: str,
        check_function: Callable[[str], str | None],
        max_depth: int,
    ) -> None:
        self.text = text
        self.name = name
        self.tokens = lex(text, name)
        self.index = 0
        self.check_function = check_function
        self.max_depth = max_depth
        self.depth = 0
        self.range_depth = 0
        self.vars: list[str] = ["$"]
        self.trees: Trees = {}
        self.current = self.tokens[0]

    # --- tokens -----------------------------------------------------------------------

    def next(self) -> Token:
        token = self.tokens[self.index]
        if token.kind is not Kind.EOF:
            self.index += 1
        self.current = token
        return token

    def backup(self, count: int = 1) -> None:
        self.index -= count

    def peek(self) -> Token:
        return self.tokens[self.index]

    def next_non_space(self) -> Token:
        token = self.next()
        while token.kind is Kind.SPACE:
            token = self.next()
        return token

    def peek_non_space(self) -> Token:
        token = self.next_non_space()
        self.backup()
        return token

    def fail(self, message: str, token: Token | None = None) -> TemplateError:
        token = token or self.current
        return TemplateError(
            f"template: {self.name}:{token.line}: {message}",
            name=self.name,
            line=token.line,
            column=column_of(self.text, token.pos),
        )

    def unexpected(self, token: Token, context: str) -> TemplateError:
        return self.fail(f"unexpected {token.describe()} in {context}", token)

    def expect(self, kind: Kind, context: str) -> Token:
        token = self.next_non_space()
        if token.kind is not kind:
            raise self.unexpected(token, context)
        return token

    def enter(self) -> None:
        self.depth += 1
        if self.depth > self.max_depth:
            raise TemplateLimitError(
                f"template: {self.name}:{self.current.line}: nesting deeper than "
                f"{self.max_depth} levels",
                name=self.name,
                line=self.current.line,
            )

    # --- lists and actions -------------------------------------------------------------

    def parse(self) -> Trees:
        root: list[n.Node] = []
        while self.peek().kind is not Kind.EOF:
            if self.peek().kind is Kind.LEFT:
                saved = self.index
                self.next()
                following = self.next_non_space()
                if following.kind is Kind.KEYWORD and following.value == "define":
                    self.parse_definition()
                    continue
                self.index = saved
            node = self.text_or_action()
            if isinstance(node, _End):
                raise self.fail(f"unexpected {{{{{node.keyword}}}}}", node.token)
            root.append(node)
        self.add_tree(self.name, tuple(root))
        return self.trees

    def add_tree(self, name: str, body: tuple[n.Node, ...]) -> None:
        old = self.trees.get(name)
        if old is None or _is_empty(old):
            self.trees[name] = body
        elif not _is_empty(body):
            raise self.fail(f"template: multiple definition of template {_q(name)}")

    def parse_definition(self) -> None:
        context = "define clause"
        token = self.next_non_space()
        name = self.template_name(token, context)
        self.expect(Kind.RIGHT, context)
        self.definition_body(name, context)

    def definition_body(self, name: str, context: str) -> None:
        """The body of ``define`` or ``block``: a template of its own, with only ``$``."""
        saved_vars, self.vars = self.vars, ["$"]
        body, end = self.item_list()
        self.vars = saved_vars
        if end.keyword != "end":
            raise self.unexpected(end.token, context)
        self.add_tree(name, body)

    def item_list(self) -> tuple[tuple[n.Node, ...], _End]:
        items: list[n.Node] = []
        while self.peek_non_space().kind is not Kind.EOF:
            node = self.text_or_action()
            if isinstance(node, _End):
                return tuple(items), node
            items.append(node)
        raise self.fail("unexpected EOF", self.peek())

    def text_or_action(self) -> n.Node | _End:
        token = self.next_non_space()
        if token.kind is Kind.TEXT:
            return n.Text(token.pos, token.value)
        if token.kind is Kind.LEFT:
            self.enter()
            try:
                return self.action()
            finally:
                self.depth -= 1
        raise self.unexpected(token, "input")

    def action(self) -> n.Node | _End:
        token = self.next_non_space()
        if token.kind is Kind.KEYWORD:
            keyword = token.value
            if keyword in ("end", "else"):
                return self.end_or_else(token)
            if keyword in ("if", "range", "with"):
                return self.control(token)
            if keyword in ("break", "continue"):
                return self.loop_control(token)
            if keyword == "template":
                return self.template_control(token)
            if keyword == "block":
                return self.block_control(token)
        self.backup()
        start = self.peek()
        return n.Action(start.pos, start.line, self.pipeline("command", Kind.RIGHT))

    def end_or_else(self, token: Token) -> _End:
        if token.value == "else":
            following = self.peek_non_space()
            if following.kind is Kind.KEYWORD and following.value in ("if", "with"):
                return _End("else", token)
        self.expect(Kind.RIGHT, token.value)
        return _End(token.value, token)

    def loop_control(self, token: Token) -> n.LoopControl:
        following = self.next_non_space()
        if following.kind is not Kind.RIGHT:
            raise self.unexpected(following, f"{{{{{token.value}}}}}")
        if not self.range_depth:
            raise self.fail(f"{{{{{token.value}}}}} outside {{{{range}}}}", token)
        return n.LoopControl(token.value, token.pos, token.line)

    def control(self, token: Token) -> n.Branch:
        keyword = token.value
        saved_vars = len(self.vars)
        try:
            pipe = self.pipeline(keyword, Kind.RIGHT)
            if keyword == "range":
                self.range_depth += 1
            body, end = self.item_list()
            if keyword == "range":
                self.range_depth -= 1
            otherwise: tuple[n.Node, ...] | None = None
            if end.keyword == "else":
                otherwise = self.else_branch(keyword, end)
            return n.Branch(keyword, token.pos, token.line, pipe, body, otherwise)
        finally:
            del self.vars[saved_vars:]

    def else_branch(self, keyword: str, end: _End) -> tuple[n.Node, ...]:
        following = self.peek_non_space()
        if following.kind is Kind.KEYWORD and following.value == keyword in ("if", "with"):
            # "else if" and "else with" continue the chain: the nested control reads the
            # one {{end}} that closes them all.
            nested = self.next_non_space()
            self.enter()
            try:
                return (self.control(nested),)
            finally:
                self.depth -= 1
        otherwise, final = self.item_list()
        if final.keyword != "end":
            raise self.fail(f"expected end; found {{{{{final.keyword}}}}}", final.token)
        return otherwise

    def template_name(self, token: Token, context: str) -> str:
        if token.kind in (Kind.STRING, Kind.RAW_STRING):
            try:
                return unquote(token.value)
            except LiteralError as exc:
                raise self.fail(str(exc), token) from None
        raise self.unexpected(token, context)

    def template_control(self, token: Token) -> n.TemplateCall:
        context = "template clause"
        name = self.template_name(self.next_non_space(), context)
        pipe = None
        if self.next_non_space().kind is not Kind.RIGHT:
            self.backup()
            pipe = self.pipeline(context, Kind.RIGHT)
        return n.TemplateCall(token.pos, token.line, name, pipe)

    def block_control(self, token: Token) -> n.TemplateCall:
        context = "block clause"
        name = self.template_name(self.next_non_space(), context)
        pipe = self.pipeline(context, Kind.RIGHT)
        self.definition_body(name, context)
        return n.TemplateCall(token.pos, token.line, name, pipe)

    # --- pipelines ------------------------------------------------------------------

    def declarations(self, context: str) -> tuple[list[str], bool]:
        declared: list[str] = []
        while self.peek_non_space().kind is Kind.VARIABLE:
            saved = self.index
            variable = self.next_non_space()
            after = self.peek_non_space()
            if after.kind in (Kind.DECLARE, Kind.ASSIGN):
                self.next_non_space()
                declared.append(variable.value)
                self.vars.append(variable.value)
                return declared, after.kind is Kind.ASSIGN
            if after.kind is Kind.COMMA:
                self.next_non_space()
                declared.append(variable.value)
                self.vars.append(variable.value)
                if context == "range" and len(declared) < 2:
                    if self.peek_non_space().kind in (Kind.VARIABLE, Kind.RIGHT, Kind.RPAREN):
                        continue
                    raise self.fail("range can only initialize variables")
                raise self.fail(f"too many declarations in {context}")
            # not a declaration: the variable is the pipeline's first operand
            self.index = saved
            break
        return declared, False

    def pipeline(self, context: str, end: Kind) -> n.Pipeline:
        start = self.peek_non_space()
        declared, is_assign = self.declarations(context)
        commands: list[n.Command] = []
        while True:
            token = self.next_non_space()
            if token.kind is end:
                break
            if token.kind in _OPERAND_START or (
                token.kind is Kind.KEYWORD and token.value == "nil"
            ):
                self.backup()
                commands.append(self.command())
                continue
            raise self.unexpected(token, context)
        if not commands:
            raise self.fail(f"missing value for {context}")
        for stage, command in enumerate(commands[1:], start=2):
            if isinstance(command.args[0], n.Dot | n.Nil | n.Literal):
                raise self.fail(f"non executable command in pipeline stage {stage}")
        return n.Pipeline(start.pos, start.line, tuple(declared), is_assign, tuple(commands))

    def command(self) -> n.Command:
        start = self.peek_non_space()
        args: list[n.Operand] = []
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                args.append(operand)
            token = self.next()
            if token.kind is Kind.SPACE:
                continue
            if token.kind in (Kind.RIGHT, Kind.RPAREN):
                self.backup()
            elif token.kind is not Kind.PIPE:
                raise self.unexpected(token, "operand")
            break
        if not args:
            raise self.fail("empty command")
        return n.Command(start.pos, tuple(args))

    def operand(self) -> n.Operand | None:
        node = self.term()
        if node is None or self.peek().kind is not Kind.FIELD:
            return node
        names: list[str] = []
        while self.peek().kind is Kind.FIELD:
            names.append(self.next().value[1:])
        if isinstance(node, n.Field):
            return n.Field(node.pos, node.names + tuple(names))
        if isinstance(node, n.Variable):
            return n.Variable(node.pos, node.name, node.names + tuple(names))
        if isinstance(node, n.Pipeline):
            return n.Chain(node.pos, node, tuple(names))
        raise self.fail(f"unexpected . after term {_q(str(node))}")

    def term(self) -> n.Operand | None:
        token = self.next_non_space()
        kind = token.kind
        if kind is Kind.IDENT:
            refusal = self.check_function(token.value)
            if refusal:
                raise self.fail(refusal, token)
            return n.Function(token.pos, token.value)
        if kind is Kind.DOT:
            return n.Dot(token.pos)
        if kind is Kind.KEYWORD and token.value == "nil":
            return n.Nil(token.pos)
        if kind is Kind.VARIABLE:
            if token.value not in self.vars:
                raise self.fail(f"undefined variable {_q(token.value)}", token)
            return n.Variable(token.pos, token.value)
        if kind is Kind.FIELD:
            return n.Field(token.pos, (token.value[1:],))
        if kind is Kind.BOOL:
            return n.Literal(token.pos, token.value == "true", token.value)
        if kind in (Kind.NUMBER, Kind.CHAR, Kind.STRING, Kind.RAW_STRING):
            return self.literal(token)
        if kind is Kind.LPAREN:
            self.enter()
            try:
                return self.pipeline("parenthesized pipeline", Kind.RPAREN)
            finally:
                self.depth -= 1
        self.backup()
        return None

    def literal(self, token: Token) -> n.Literal:
        try:
            value: object
            if token.kind is Kind.NUMBER:
                value = parse_number(token.value)
            elif token.kind is Kind.CHAR:
                value = unquote_char(token.value)
            else:
                value = unquote(token.value)
        except LiteralError as exc:
            raise self.fail(str(exc), token) from None
        return n.Literal(token.pos, value, token.value)


def _is_empty(body: tuple[n.Node, ...]) -> bool:
    return all(isinstance(node, n.Text) and not node.text.strip() for node in body)


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_trees(
    text: str, name: str, check_function: Callable[[str], str | None], max_depth: int
) -> Trees:
    """Parse a template into its trees: ``name`` for the main text, one per ``define``."""
    return _Parser(text, name, check_function, max_depth).parse()
