"""Go's ``text/template`` executor over plain Python data, counting every step.

Follows ``text/template/exec.go``: how a field of a map is looked up (and what a missing key
gives under each ``missingkey`` option), how a pipeline passes its value on, how ``range``
sets its variables, how ``and``/``or`` short-circuit, and the "executing ... at <...>" errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

from tether.gotemplate import nodes as n
from tether.gotemplate.errors import TemplateError, TemplateLimitError
from tether.gotemplate.functions import Func, ParamKind
from tether.gotemplate.lexer import column_of
from tether.gotemplate.options import TemplateOptions
from tether.gotemplate.values import (
    MISSING,
    ValueError_,
    format_value,
    go_type,
    is_list,
    is_true,
    print_result,
    sort_key,
)

_NO_FINAL = object()


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class Executor:
    """One execution of a parsed template over one data value."""

    def __init__(
        self,
        text: str,
        name: str,
        trees: Mapping[str, tuple[n.Node, ...]],
        functions: Mapping[str, Func],
        options: TemplateOptions,
    ) -> None:
        self.text = text
        self.name = name
        self.current = name
        self.trees = trees
        self.functions = functions
        self.options = options
        self.limits = options.limits
        self.out: list[str] = []
        self.size = 0
        self.steps = 0
        self.depth = 0
        self.vars: list[tuple[str, Any]] = []
        self.at: Any = None

    # --- errors and bounds ---------------------------------------------------------------

    def fail(self, message: str, limit: bool = False) -> NoReturn:
        pos = getattr(self.at, "pos", 0)
        line = self.text.count("\n", 0, pos) + 1
        column = column_of(self.text, pos)
        context = str(self.at) if self.at is not None else ""
        cls = TemplateLimitError if limit else TemplateError
        raise cls(
            f"template: {self.name}:{line}:{column}: executing {_q(self.current)} at "
            f"<{context}>: {message}",
            name=self.name,
            line=line,
            column=column,
        )

    def tick(self) -> None:
        self.steps += 1
        if self.steps > self.limits.max_steps:
            self.fail(f"more than {self.limits.max_steps} steps", limit=True)

    def write(self, text: str) -> None:
        self.size += len(text)
        if self.size > self.limits.max_output:
            self.fail(f"output larger than {self.limits.max_output} characters", limit=True)
        self.out.append(text)

    # --- walking the tree ------------------------------------------------------------

    def run(self, data: Any) -> str:
        self.vars = [("$", data)]
        self.walk_list(data, self.trees[self.name])
        return "".join(self.out)

    def walk_list(self, dot: Any, body: tuple[n.Node, ...]) -> None:
        for node in body:
            self.walk(dot, node)

    def walk(self, dot: Any, node: n.Node) -> None:
        self.tick()
        if isinstance(node, n.Text):
            self.write(node.text)
        elif isinstance(node, n.Action):
            value = self.eval_pipeline(dot, node.pipe)
            if not node.pipe.declared:
                try:
                    text = print_result(value)
                except ValueError_ as exc:
                    self.fail(str(exc), limit=True)
                self.write(text)
        elif isinstance(node, n.Branch):
            if node.keyword == "range":
                self.walk_range(dot, node)
            else:
                self.walk_if_or_with(dot, node)
        elif isinstance(node, n.LoopControl):
            raise _Break() if node.keyword == "break" else _Continue()
        else:
            self.walk_template(dot, node)

    def walk_if_or_with(self, dot: Any, node: n.Branch) -> None:
        mark = len(self.vars)
        value = self.eval_pipeline(dot, node.pipe)
        if is_true(value):
            self.walk_list(value if node.keyword == "with" else dot, node.body)
        elif node.otherwise is not None:
            self.walk_list(dot, node.otherwise)
        del self.vars[mark:]

    def walk_range(self, dot: Any, node: n.Branch) -> None:
        mark = len(self.vars)
        value = self.eval_pipeline(dot, node.pipe)
        self.at = node.pipe
        items = self.range_items(value, len(node.pipe.declared))
        ran = False
        for index, element in items:
            ran = True
            self.tick()
            self.set_range_vars(node.pipe, index, element)
            inner = len(self.vars)
            try:
                self.walk_list(element, node.body)
            except _Continue:
                pass
            except _Break:
                break
            finally:
                del self.vars[inner:]
        if not ran and node.otherwise is not None:
            self.walk_list(dot, node.otherwise)
        del self.vars[mark:]

    def range_items(self, value: Any, declared: int) -> list[tuple[Any, Any]]:
        if value is MISSING or value is None:
            return []
        if isinstance(value, Mapping):
            return [(key, value[key]) for key in sorted(value, key=sort_key)]
        if is_list(value):
            return list(enumerate(value))
        if isinstance(value, int) and not isinstance(value, bool):
            if declared > 1:
                self.fail(f"can't use {value} to iterate over more than one variable")
            if value > self.limits.max_steps:
                self.fail(f"range over {value} is more than {self.limits.max_steps} steps", True)
            return [(i, i) for i in range(value)]
        self.fail(f"range can't iterate over {format_value(value)}")

    def set_range_vars(self, pipe: n.Pipeline, index: Any, element: Any) -> None:
        if not pipe.declared:
            return
        if pipe.is_assign:
            self.set_var(pipe.declared[-1], element)
            if len(pipe.declared) > 1:
                self.set_var(pipe.declared[0], index)
            return
        self.vars[-1] = (self.vars[-1][0], element)
        if len(pipe.declared) > 1:
            self.vars[-2] = (self.vars[-2][0], index)

    def walk_template(self, dot: Any, node: n.TemplateCall) -> None:
        self.at = node
        body = self.trees.get(node.name)
        if body is None:
            self.fail(f"template {_q(node.name)} not defined")
        value = self.eval_pipeline(dot, node.pipe) if node.pipe is not None else None
        if self.depth >= self.limits.max_call_depth:
            self.fail(f"exceeded maximum template depth ({self.limits.max_call_depth})", True)
        saved = (self.vars, self.current)
        self.vars, self.current = [("$", value)], node.name
        self.depth += 1
        try:
            self.walk_list(value, body)
        finally:
            self.depth -= 1
            self.vars, self.current = saved

    # --- variables -------------------------------------------------------------------

    def set_var(self, name: str, value: Any) -> None:
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                self.vars[i] = (name, value)
                return
        self.fail(f"undefined variable: {name}")

    def var_value(self, name: str) -> Any:
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                return self.vars[i][1]
        self.fail(f"undefined variable: {name}")

    # --- pipelines and commands ----------------------------------------------------------

    def eval_pipeline(self, dot: Any, pipe: n.Pipeline) -> Any:
        self.at = pipe
        value: Any = _NO_FINAL
        for command in pipe.commands:
            self.tick()
            value = self.eval_command(dot, command, value)
        for name in pipe.declared:
            if pipe.is_assign:
                self.set_var(name, value)
            else:
                self.vars.append((name, value))
        return value

    def eval_command(self, dot: Any, command: n.Command, final: Any) -> Any:
        first = command.args[0]
        if isinstance(first, n.Field):
            return self.eval_fields(dot, first, first.names, command.args, final)
        if isinstance(first, n.Variable):
            value = self.var_value(first.name)
            if not first.names:
                self.not_a_function(first, command.args, final)
                return value
            return self.eval_fields(value, first, first.names, command.args, final)
        if isinstance(first, n.Chain):
            value = self.eval_pipeline(dot, first.node)
            return self.eval_fields(value, first, first.names, command.args, final)
        if isinstance(first, n.Function):
            return self.eval_function(dot, first, command, final)
        self.at = first
        self.not_a_function(first, command.args, final)
        if isinstance(first, n.Pipeline):
            return self.eval_pipeline(dot, first)
        if isinstance(first, n.Dot):
            return dot
        if isinstance(first, n.Nil):
            self.fail("nil is not a command")
        return first.value

    def not_a_function(self, node: Any, args: tuple[n.Operand, ...], final: Any) -> None:
        if len(args) > 1 or final is not _NO_FINAL:
            self.at = node
            self.fail(f"can't give argument to non-function {node}")

    def eval_fields(
        self, receiver: Any, node: Any, names: tuple[str, ...], args: tuple[Any, ...], final: Any
    ) -> Any:
        self.at = node
        has_args = len(args) > 1 or final is not _NO_FINAL
        for i, name in enumerate(names):
            receiver = self.eval_field(name, receiver, has_args and i == len(names) - 1)
        return receiver

    def eval_field(self, name: str, receiver: Any, has_args: bool) -> Any:
        if receiver is MISSING:
            if self.options.missing_key == "error":
                self.fail(f"nil data; no entry for key {_q(name)}")
            return MISSING
        if receiver is None:
            self.fail(f"nil pointer evaluating interface {{}}.{name}")
        if isinstance(receiver, Mapping):
            if has_args:
                self.fail(f"{name} is not a method but has arguments")
            if name in receiver:
                return receiver[name]
            if self.options.missing_key == "error":
                self.fail(f"map has no entry for key {_q(name)}")
            return None if self.options.missing_key == "zero" else MISSING
        self.fail(f"can't evaluate field {name} in type {_static_type(receiver)}")

    def eval_function(self, dot: Any, node: n.Function, command: n.Command, final: Any) -> Any:
        self.at = node
        func = self.functions[node.name]
        args = command.args[1:]
        if func.lazy:
            return self.eval_and_or(dot, node.name, command, args, final)
        values = self.eval_args(dot, node.name, func, args, final)
        self.at = command
        try:
            result = func.call(*values)
        except ValueError_ as exc:
            self.fail(f"error calling {node.name}: {exc}")
        except RecursionError:
            self.fail(f"error calling {node.name}: value nested too deeply", limit=True)
        except Exception as exc:  # Go recovers a panicking function the same way
            self.fail(f"error calling {node.name}: {exc}")
        if isinstance(result, str) and len(result) > self.limits.max_output:
            self.fail(f"{node.name} made a string longer than {self.limits.max_output}", True)
        return result

    def eval_args(
        self, dot: Any, name: str, func: Func, args: tuple[Any, ...], final: Any
    ) -> list[Any]:
        count = len(args) + (final is not _NO_FINAL)
        want = len(func.params)
        if (func.variadic is None and count != want) or count < want:
            qualifier = "at least " if func.variadic is not None else ""
            self.fail(f"wrong number of args for {name}: want {qualifier}{want} got {count}")
        values = []
        for i, arg in enumerate(args):
            kind = func.params[i] if i < want else func.variadic
            assert kind is not None
            values.append(self.eval_arg(dot, arg, kind))
        if final is not _NO_FINAL:
            kind = func.params[-1] if count <= want else func.variadic
            assert kind is not None
            values.append(self.validate(final, kind))
        return values

    def eval_and_or(
        self, dot: Any, name: str, command: n.Command, args: tuple[Any, ...], final: Any
    ) -> Any:
        if not args and final is _NO_FINAL:
            self.fail(f"wrong number of args for {name}: want at least 1 got 0")
        value: Any = MISSING
        for arg in args:
            value = self.eval_arg(dot, arg, "any")
            if is_true(value) == (name == "or"):
                return value
        if final is not _NO_FINAL:
            value = final
        return value

    def eval_arg(self, dot: Any, arg: Any, kind: ParamKind) -> Any:
        self.at = arg
        if isinstance(arg, n.Dot):
            return self.validate(dot, kind)
        if isinstance(arg, n.Nil):
            if kind == "any":
                return None
            self.fail(f"cannot assign nil to {_KIND_NAMES[kind]}")
        if isinstance(arg, n.Literal):
            return self.literal_arg(arg, kind)
        if isinstance(arg, n.Field):
            return self.validate(self.eval_fields(dot, arg, arg.names, (), _NO_FINAL), kind)
        if isinstance(arg, n.Variable):
            value = self.var_value(arg.name)
            value = self.eval_fields(value, arg, arg.names, (), _NO_FINAL)
            return self.validate(value, kind)
        if isinstance(arg, n.Chain):
            value = self.eval_pipeline(dot, arg.node)
            return self.validate(self.eval_fields(value, arg, arg.names, (), _NO_FINAL), kind)
        if isinstance(arg, n.Pipeline):
            return self.validate(self.eval_pipeline(dot, arg), kind)
        command = n.Command(arg.pos, (arg,))
        return self.validate(self.eval_function(dot, arg, command, _NO_FINAL), kind)

    def literal_arg(self, arg: n.Literal, kind: ParamKind) -> Any:
        value = arg.value
        if kind == "any":
            return value
        if kind == "str" and isinstance(value, str):
            return value
        if kind == "bool" and isinstance(value, bool):
            return value
        if kind == "int" and not isinstance(value, bool | str):
            if isinstance(value, int):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
        expected = {"str": "string", "int": "integer", "bool": "bool"}[kind]
        self.fail(f"expected {expected}; found {arg.source}")

    def validate(self, value: Any, kind: ParamKind) -> Any:
        if kind == "any":
            return None if value is MISSING else value
        if value is MISSING:
            self.fail(f"invalid value; expected {_KIND_NAMES[kind]}")
        ok = {
            "str": isinstance(value, str),
            "int": isinstance(value, int) and not isinstance(value, bool),
            "bool": isinstance(value, bool),
        }[kind]
        if not ok:
            got = "interface {}" if value is None else go_type(value)
            self.fail(f"wrong type for value; expected {_KIND_NAMES[kind]}; got {got}")
        return value


_KIND_NAMES = {"any": "interface {}", "str": "string", "int": "int", "bool": "bool"}


def _static_type(value: Any) -> str:
    # Values read from maps and lists have Go's static type interface{}.
    return "interface {}"


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
