"""The entry points: ``compile_expr`` checks and parses a text once into an immutable
:class:`Expression`, whose ``evaluate`` and ``truthy`` run it over an environment."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tether.notify.expr.errors import ExprError
from tether.notify.expr.evaluate import Evaluation, NilChain
from tether.notify.expr.limits import MAX_DEPTH, MAX_LENGTH
from tether.notify.expr.nodes import Node
from tether.notify.expr.parser import Parser
from tether.notify.expr.values import type_name


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Expression:
    """A compiled expression: reusable, immutable, safe to share between threads."""

    text: str
    tree: Node

    def evaluate(self, env: Mapping[str, Any], *, now: Callable[[], datetime] | None = None) -> Any:
        """The expression's value over ``env`` (``app`` and the rest); ``now`` is the clock of
        ``time.Now()``. Raises ExprError when evaluation fails (nil member access, mismatched
        types, a budget exceeded)."""
        evaluation = Evaluation(env, now or _utc_now)
        try:
            return evaluation.eval(self.tree)
        except NilChain:  # pragma: no cover - every `?.` sits inside a Chain
            return None
        except RecursionError:
            raise ExprError("the data nests too deeply to compare") from None

    def truthy(self, env: Mapping[str, Any], *, now: Callable[[], datetime] | None = None) -> bool:
        """The expression as a trigger condition: its bool value. A value that is not a bool is
        an ExprError; Argo CD counts such a condition, like one that fails, as not holding
        (and logs it), so a caller that catches ExprError and logs behaves as Argo CD."""
        value = self.evaluate(env, now=now)
        if not isinstance(value, bool):
            raise ExprError(f"the condition gave {type_name(value)}, not a bool")
        return value


def compile_expr(text: str) -> Expression:
    """Parse and check ``text``: raises ExprError naming the construct and its column for
    malformed text, unknown functions and methods, refused constructs and exceeded bounds."""
    if not isinstance(text, str):
        raise ExprError(f"an expression must be a string, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExprError(f"expression longer than {MAX_LENGTH} characters")
    if not text.strip():
        raise ExprError("empty expression")
    try:
        tree = Parser(text).parse()
    except RecursionError:
        raise ExprError(f"expression nests deeper than {MAX_DEPTH}") from None
    return Expression(text, tree)
