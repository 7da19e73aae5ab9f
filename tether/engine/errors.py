"""Errors of the comparison's `ignoreDifferences` rules and of the jq expressions they hold."""

from __future__ import annotations

from tether.errors import TetherError


class IgnoreRuleError(TetherError):
    """An ignoreDifferences entry that cannot be used (no kind, bad pointer, bad jq)."""


class JqEvaluationError(IgnoreRuleError):
    """A jq path expression could not be evaluated on an object (its worker failed)."""


class JqLimitError(JqEvaluationError):
    """A jq path expression went past its time, memory or output limit."""


class JqCompileError(JqEvaluationError):
    """A jq path expression that does not compile (jq's message, place in the expression)."""
